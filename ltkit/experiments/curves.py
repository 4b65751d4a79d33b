"""Mode-connecting curves (Garipov et al. 2018): a low-error path between two independently trained networks.

Two networks trained from different initialisations are separated by a barrier on the straight line
between them, yet a simple curve with one trained bend joins them at low error: a quadratic Bezier curve
or a polygonal chain. The bend is trained so that the whole curve has a low training loss. The plane
through the two networks and the bend (ltkit.experiments.plane) shows the valley the curve follows.
"""

from dataclasses import dataclass, fields, replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ltkit.engine.progress import progress_bar
from ltkit.engine.training import (
    TrainConfig,
    learning_rate,
    make_optimizer,
    set_learning_rate,
    training_batches,
)
from ltkit.errors import LtkitError
from ltkit.experiments.dense import independent_networks, new_model
from ltkit.experiments.paths import (
    PathResult,
    TwoNetworksConfig,
    evaluate_line,
    evaluate_path,
    interpolate,
    lerp,
)
from ltkit.experiments.profiles import sizes
from ltkit.experiments.registry import register
from ltkit.experiments.seeds import derived_seed
from ltkit.settings import setting


def bezier(w1, theta, w2, t):
    """The quadratic Bezier curve with control points w1, theta, w2."""
    return (1 - t) ** 2 * w1 + 2 * t * (1 - t) * theta + t**2 * w2


def polychain(w1, theta, w2, t):
    """Two straight segments, w1 -> theta for t <= 1/2, then theta -> w2."""
    return lerp(w1, theta, 2 * t) if t <= 0.5 else lerp(theta, w2, 2 * t - 1)


CURVES = {"bezier": bezier, "polychain": polychain}


def check_curve(shape):
    if shape not in CURVES:
        raise LtkitError(f"unknown curve {shape!r}; choose one of: {', '.join(CURVES)}")


@dataclass(frozen=True)
class CurveConfig(TwoNetworksConfig):
    """The two networks, and the curve between them (it trains by their recipe: optimizer, length, schedule)."""

    shape: str = setting("bezier", "the curve's shape", aliases=("--kind",), choices=tuple(CURVES))
    weight_decay: float = setting(0.0, "L2 penalty on w(t) while the curve trains (default: the recipe's)")

    def __post_init__(self):
        super().__post_init__()
        check_curve(self.shape)
        if self.weight_decay < 0:
            raise LtkitError(f"weight_decay must be 0 or more; got {self.weight_decay}")

    def as_curve(self):
        """These settings as a CurveConfig (a PlaneConfig's without the picture's): what the curve is keyed by."""
        return CurveConfig(**{f.name: getattr(self, f.name) for f in fields(CurveConfig)})


def curve_defaults(dataset, model, profile, train):
    """The curve's settings in a profile: the recipe's weight decay as its L2 penalty, the profile's sizes."""
    return dict(weight_decay=train.weight_decay, **sizes(profile, "curve"))


class Curve(nn.Module):
    """A path of weights w(t), t in [0, 1], from one trained network to another, bent by one point theta.

    The ends are two state dicts of the same architecture, fixed; the bend theta (one tensor per
    parameter of `model`) is the module's only parameters, so an optimizer of curve.parameters() trains
    nothing else. theta starts at the midpoint of the straight line, where both kinds of curve *are* the
    straight line: training bends the line away from the barrier.
    """

    def __init__(self, model, start, end, shape="bezier"):
        super().__init__()
        check_curve(shape)
        self.shape = shape
        self.names = [name for name, _ in model.named_parameters()]
        self.start = {name: value.detach().clone() for name, value in start.items()}
        self.end = {name: value.detach().clone() for name, value in end.items()}
        self.bend = nn.ParameterList(nn.Parameter(lerp(self.start[n], self.end[n], 0.5)) for n in self.names)

    def weights_at(self, t):
        """{parameter name: w(t)}, differentiable with respect to the bend."""
        along = CURVES[self.shape]
        return {name: along(self.start[name], theta, self.end[name], t) for name, theta in zip(self.names, self.bend)}

    @torch.no_grad()
    def state_at(self, t):
        """A whole state dict at t: the weights on the curve, the buffers as on the straight line."""
        return {**interpolate(self.start, self.end, t), **self.weights_at(t)}

    def bend_state(self):
        """theta as {parameter name: tensor}."""
        return {name: theta.detach().clone() for name, theta in zip(self.names, self.bend)}


def train_curve(curve, model, data, config, weight_decay=0.0, seed=0, progress=True):
    """Fit the bend of `curve` so that the whole curve has a low training loss; returns each step's loss.

    Each step draws one t ~ U(0, 1) for its mini-batch, builds w(t) from the ends and the bend and runs
    `model` with those weights (torch.func.functional_call, so any network works unchanged). The loss is
    the cross-entropy plus (weight_decay / 2) |w(t)|^2: the L2 penalty acts on the network actually used,
    w(t), not on theta. `config` gives the optimizer, batch size, length and learning-rate schedule.
    `model` only lends its architecture: its own weights are not used (BatchNorm layers do update their
    running statistics, which evaluation recomputes anyway).
    """
    optimizer = make_optimizer(curve, replace(config, weight_decay=0.0))  # the penalty is on w(t), not theta
    t_generator = torch.Generator().manual_seed(derived_seed("curve_times", seed))
    batches = training_batches(data, config, seed)
    model.train()
    losses = []
    for iteration in progress_bar(progress, f"fitting a {curve.shape} curve", iterable=range(config.iterations)):
        set_learning_rate(optimizer, learning_rate(config, iteration))
        x, y = next(batches)
        t = torch.rand((), generator=t_generator).item()
        weights = curve.weights_at(t)
        loss = F.cross_entropy(functional_call(model, weights, (x,)), y)
        loss = loss + weight_decay / 2 * sum((w**2).sum() for w in weights.values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@dataclass
class CurveResult:
    """Two independently trained networks, the straight line between them and a fitted curve."""

    config: CurveConfig
    line: PathResult
    curve: PathResult
    bend: dict  # theta, {parameter name: tensor}
    losses: list  # the curve's training loss at each step
    seeds: list  # of the two networks

    def summary(self):
        """Both barriers, the curve's worst test error and the mean of the two ends' test errors."""
        return dict(
            line_barrier=self.line.barrier,
            curve_barrier=self.curve.barrier,
            worst_curve_test_err=max(self.curve.test_err),
            ends_test_err=sum(self.curve.ends_test_err) / 2,
        )

    def table(self):
        """One CurveRow per t: the test error and training loss on the line and on the curve."""
        return [
            CurveRow(line["t"], line["test_err"], curve["test_err"], line["train_loss"], curve["train_loss"])
            for line, curve in zip(self.line.points(), self.curve.points())
        ]

    def to_json(self):
        """Both paths point by point, and their barriers (what `ltkit curve --json` writes)."""
        return dict(
            config=self.config.to_dict(),
            kind=self.config.shape,
            seeds=self.seeds,
            line=self.line.points(),
            curve=self.curve.points(),
            barrier_line=self.line.barrier,
            barrier_curve=self.curve.barrier,
        )


@dataclass
class CurveRow:
    t: float
    line_test_err: float
    curve_test_err: float
    line_train_loss: float
    curve_train_loss: float


def curve_run(config, context):
    """The curve of `config`, fitted now or loaded from the cache (the plane reuses it)."""
    config = config.as_curve()
    run = context.run("curve", config, records=(CurveResult, PathResult, CurveConfig, TrainConfig))
    return run.cached("result", lambda: fit_curve(config, context), device=context.device)


def fit_curve(config, context):
    """Fit the bend between the two independently trained networks, for as many iterations, with the same
    optimizer and schedule, as one network trains; then measure the line and the curve."""
    data = context.data
    seeds, (start, end) = independent_networks(config, context)
    model = new_model(config, data)
    curve = Curve(model, start, end, config.shape)
    losses = train_curve(curve, model, data, config.train, config.weight_decay, config.seed, context.progress)
    measure = dict(data=data, points=config.points, train_examples=config.train_examples)
    return CurveResult(
        config=config,
        line=evaluate_line(model, start, end, **measure),
        curve=evaluate_path(model, curve.state_at, **measure),
        bend=curve.bend_state(),
        losses=losses,
        seeds=list(seeds),
    )


run_curve = register(
    "curve",
    CurveConfig,
    curve_run,
    CurveResult,
    "a low-error curve between two independently trained networks, against the straight line",
    defaults=curve_defaults,
)
curve_config = run_curve.config
