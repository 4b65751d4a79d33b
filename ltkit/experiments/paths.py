"""Paths between networks: the straight line, BatchNorm statistics along it, and the error barrier.

Two trained networks are *linearly connected* when the error stays low all along the straight line
between their weights. Frankle et al. (2020) measure this with the error barrier: the highest test error
on the line minus the mean of the two ends' errors. Any path of networks (a line, or one of Garipov et
al.'s curves) is measured here the same way: at evenly spaced points t in [0, 1], both ends included.
"""

from dataclasses import dataclass

import torch
from torch import nn

from ltkit.engine.models import check_network
from ltkit.engine.progress import progress_bar
from ltkit.engine.training import TrainConfig, evaluate
from ltkit.errors import LtkitError
from ltkit.settings import Settings, setting

MEASURES = ("train_loss", "train_err", "test_loss", "test_err")


def lerp(a, b, s):
    """(1 - s) a + s b: exactly a at s=0 and exactly b at s=1 (a + s (b - a) can miss b by rounding)."""
    return (1 - s) * a + s * b


def is_interpolated(name, value):
    """Floating-point weights and BatchNorm statistics are mixed. Integer counters (num_batches_tracked)
    and masks (the `*_mask` buffers of torch.nn.utils.prune) are not: half a count or half a kept weight
    means nothing."""
    return value.is_floating_point() and not name.endswith("_mask")


def interpolate(state1, state2, alpha):
    """The state dict (1 - alpha) w1 + alpha w2 of two networks of one architecture.

    What is not interpolated is copied from the first network. Two networks trained with the same mask
    are both zero where it prunes, so every point of their line is a subnetwork with that mask.
    """
    return {
        name: lerp(value, state2[name], alpha) if is_interpolated(name, value) else value.clone()
        for name, value in state1.items()
    }


def batchnorm_layers(model):
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def recompute_batchnorm(model, x, batch_size=500):
    """Give `model`'s BatchNorm layers the statistics of its current weights on inputs `x`; then eval mode.

    The running statistics of an interpolated network belong to no network (the mean of two networks'
    statistics is not the statistics of the mean network), so they are reset and measured again: forward
    passes in training mode, with momentum None so that the running values are a plain average over the
    batches rather than an exponential one. `x` must be training inputs *without* augmentation, because
    the statistics are for evaluating clean inputs. A network without BatchNorm is left as it is.
    """
    layers = batchnorm_layers(model)
    if layers:
        momenta = [layer.momentum for layer in layers]
        for layer in layers:
            layer.reset_running_stats()
            layer.momentum = None
        model.train()
        batch_size = min(batch_size, len(x))
        for start in range(0, len(x) - batch_size + 1, batch_size):  # full batches only: each counts equally
            model(x[start : start + batch_size])
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    model.eval()


def error_barrier(test_err):
    """Frankle et al.'s barrier: the highest error along the path minus the mean of the two ends' errors."""
    return max(test_err) - (test_err[0] + test_err[-1]) / 2


@dataclass(frozen=True)
class TwoNetworksConfig(Settings):
    """What the experiments on paths between two networks trained from different initialisations share
    (curves, alignment): the networks' recipe and seed, and how a path is measured."""

    dataset: str
    model: str
    train: TrainConfig  # how the two networks train
    seed: int = setting(0, "the two networks' initialisations derive from it, and the order of what follows")
    points: int = setting(30, "values of t (alpha, on a line) at which a path is evaluated, both ends included")
    train_examples: int = setting(10_000, "training examples for the training loss/error and BatchNorm statistics")

    def __post_init__(self):
        check_network(self)
        check_measures(self)


def check_measures(config):
    """Refuse settings of a path's measurement (a config's points and train_examples) that measure nothing."""
    path_points(config.points)
    if config.train_examples < 1:
        raise LtkitError(f"train_examples must be 1 or more; got {config.train_examples}")


def path_points(points):
    """`points` evenly spaced values in [0, 1], both ends included (and exactly 0 and 1)."""
    if points < 2:
        raise LtkitError(f"a path needs at least 2 points (its two ends); got {points}")
    return [i / (points - 1) for i in range(points)]


@dataclass
class PathResult:
    """A measured path: at each t, the training and test loss and error (errors as fractions)."""

    t: list
    train_loss: list
    train_err: list
    test_loss: list
    test_err: list

    @property
    def barrier(self):
        return error_barrier(self.test_err)

    @property
    def ends_test_err(self):
        """The test errors of the path's two ends."""
        return [self.test_err[0], self.test_err[-1]]

    def points(self):
        """One dict per point (t and the four measures): for tables and JSON."""
        return [dict(t=t, **dict(zip(MEASURES, values))) for t, *values in zip(self.t, *self.measures())]

    def measures(self):
        return [getattr(self, measure) for measure in MEASURES]


def evaluate_path(model, state_at, data, points=30, train_examples=10_000, progress=False):
    """Load `state_at(t)` into `model` at `points` values of t in [0, 1] and measure each network.

    The training figures, and BatchNorm statistics (recomputed at every t where the network has
    BatchNorm), use the first `train_examples` examples of the training split, un-augmented: a fixed
    random subset, since the split is shuffled when loaded, that keeps 30 evaluations fast.
    """
    x_train, y_train = data.x_train[:train_examples], data.y_train[:train_examples]
    path = PathResult(t=[], train_loss=[], train_err=[], test_loss=[], test_err=[])
    for t in progress_bar(progress, "evaluating the path", iterable=path_points(points)):
        with torch.no_grad():
            model.load_state_dict(state_at(t))
        recompute_batchnorm(model, x_train)
        train_loss, train_acc = evaluate(model, x_train, y_train)
        test_loss, test_acc = evaluate(model, data.x_test, data.y_test)
        for values, value in zip([path.t, *path.measures()], (t, train_loss, 1 - train_acc, test_loss, 1 - test_acc)):
            values.append(value)
    return path


def evaluate_line(model, state1, state2, data, points=30, train_examples=10_000, progress=False):
    """The straight line between two networks (t is alpha), measured as `evaluate_path` does."""
    return evaluate_path(
        model, lambda alpha: interpolate(state1, state2, alpha), data, points, train_examples, progress
    )
