"""Mode-connecting curves (Garipov et al. 2018): a low-error path between two independently trained networks.

Two networks trained from different initialisations are separated by a barrier on the straight line
between them, yet a simple curve with one trained bend joins them at low error: a quadratic Bezier curve
or a polygonal chain. The bend is trained so that the whole curve has a low training loss. The plane
through the two networks and the bend shows the valley the curve follows.
"""

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ltkit.engine.datasets import data_for
from ltkit.engine.models import check_network
from ltkit.engine.progress import progress_bar
from ltkit.engine.training import (
    TrainConfig,
    evaluate,
    learning_rate,
    make_optimizer,
    set_learning_rate,
    training_batches,
)
from ltkit.errors import LtkitError
from ltkit.experiments.dense import independent_networks, new_model
from ltkit.experiments.paths import (
    PathResult,
    evaluate_line,
    evaluate_path,
    interpolate,
    lerp,
    path_points,
    recompute_batchnorm,
)
from ltkit.experiments.profiles import sizes, training_recipe, with_overrides
from ltkit.settings import Settings
from ltkit.store.runs import Run


def bezier(w1, theta, w2, t):
    """The quadratic Bezier curve with control points w1, theta, w2."""
    return (1 - t) ** 2 * w1 + 2 * t * (1 - t) * theta + t**2 * w2


def polychain(w1, theta, w2, t):
    """Two straight segments, w1 -> theta for t <= 1/2, then theta -> w2."""
    return lerp(w1, theta, 2 * t) if t <= 0.5 else lerp(theta, w2, 2 * t - 1)


CURVES = {"bezier": bezier, "polychain": polychain}


def check_curve(kind):
    if kind not in CURVES:
        raise LtkitError(f"unknown curve {kind!r}; choose one of: {', '.join(CURVES)}")


@dataclass(frozen=True)
class CurveConfig(Settings):
    NOT_IN_KEY = ("plane_resolution",)  # the plane's own cache key holds it; the curve does not depend on it

    dataset: str
    model: str
    train: TrainConfig  # how the two networks train, and the curve's optimizer, length and schedule
    seed: int = 0
    points: int = 30  # values of t at which a path is evaluated, both ends included
    train_examples: int = 10_000  # training examples for training loss/error and BatchNorm statistics
    weight_decay: float = 0.0  # L2 penalty on w(t) while the curve trains
    plane_resolution: int = 21  # grid points per side of the loss-surface picture

    def __post_init__(self):
        check_network(self)
        path_points(self.points)


def curve_config(dataset, model, profile=None, epochs=None, lr=None, **fields):
    """The CurveConfig of `model` on `dataset` in a profile: the training recipe, its weight decay as
    the curve's L2 penalty, the profile's sizes. Keyword arguments replace fields."""
    train_config = training_recipe(dataset, model, profile, epochs, lr)
    defaults = dict(weight_decay=train_config.weight_decay, **sizes(profile, "curve"))
    return CurveConfig(dataset, model, train_config, **with_overrides(defaults, fields, CurveConfig, "curve_config"))


class Curve(nn.Module):
    """A path of weights w(t), t in [0, 1], from one trained network to another, bent by one point theta.

    The ends are two state dicts of the same architecture, fixed; the bend theta (one tensor per
    parameter of `model`) is the module's only parameters, so an optimizer of curve.parameters() trains
    nothing else. theta starts at the midpoint of the straight line, where both kinds of curve *are* the
    straight line: training bends the line away from the barrier.
    """

    def __init__(self, model, start, end, kind="bezier"):
        super().__init__()
        check_curve(kind)
        self.kind = kind
        self.names = [name for name, _ in model.named_parameters()]
        self.start = {name: value.detach().clone() for name, value in start.items()}
        self.end = {name: value.detach().clone() for name, value in end.items()}
        self.bend = nn.ParameterList(nn.Parameter(lerp(self.start[n], self.end[n], 0.5)) for n in self.names)

    def weights_at(self, t):
        """{parameter name: w(t)}, differentiable with respect to the bend."""
        shape = CURVES[self.kind]
        return {name: shape(self.start[name], theta, self.end[name], t) for name, theta in zip(self.names, self.bend)}

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
    t_generator = torch.Generator().manual_seed(seed + 1)  # not the batches' stream (seeded with `seed`)
    batches = training_batches(data, config, seed)
    model.train()
    losses = []
    for iteration in progress_bar(progress, f"fitting a {curve.kind} curve", iterable=range(config.iterations)):
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

    kind: str
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


def run_curve(config, kind="bezier", data=None, device="cpu", cache=True, progress=True):
    """Fit a `kind` curve between the two independently trained networks of `config`; a CurveResult.
    The curve trains for as many iterations, with the same optimizer and schedule, as one network."""
    check_curve(kind)
    data = data_for(config, data, device)
    key = {**config.cache_key(), "split": data.split_id, "curve": kind}
    run = Run("curve", key, records=(CurveResult, PathResult), enabled=cache)
    return run.cached("result", lambda: fit_curve(config, kind, data, cache, progress), device=data.device)


def fit_curve(config, kind, data, cache, progress):
    seeds, (start, end) = independent_networks(config, data, cache, progress)
    model = new_model(config, data)
    curve = Curve(model, start, end, kind)
    losses = train_curve(curve, model, data, config.train, config.weight_decay, config.seed, progress)
    measure = dict(data=data, points=config.points, train_examples=config.train_examples)
    return CurveResult(
        kind=kind,
        line=evaluate_line(model, start, end, **measure),
        curve=evaluate_path(model, curve.state_at, **measure),
        bend=curve.bend_state(),
        losses=losses,
        seeds=list(seeds),
    )


# --- the plane through the two networks and the bend ----------------------------------------------------


def plane_coordinates(start, end, bend, names):
    """An orthonormal basis of the plane through the two ends and the bend (weights flattened over `names`):
    the origin at `start`, u along the line to `end`, v towards the bend. Returns (origin, u, v) and the
    (x, y) coordinates of the three points; a quadratic Bezier curve lies in this plane."""
    flat = lambda state: torch.cat([state[name].flatten() for name in names])
    origin, to_end, to_bend = flat(start), flat(end) - flat(start), flat(bend) - flat(start)
    u = to_end / to_end.norm()
    v = to_bend - (to_bend @ u) * u
    v = v / v.norm()
    points = dict(start=(0.0, 0.0), end=(to_end.norm().item(), 0.0), bend=((to_bend @ u).item(), (to_bend @ v).item()))
    return (origin, u, v), points


@dataclass
class PlaneResult:
    x: list  # grid coordinates along the line
    y: list  # and towards the bend
    test_err: list  # rows along y, columns along x
    points: dict  # the (x, y) of "start", "end" and "bend"


def evaluate_plane(model, start, end, bend, data, resolution=21, margin=0.25, train_examples=10_000, progress=False):
    """Test error on a grid over the plane through two networks and a curve's bend (Garipov et al., Fig. 1).

    The grid covers the three points with `margin` (a fraction of the end-to-end distance) around them.
    Buffers (BatchNorm statistics) are recomputed at every grid point, as along a path.
    """
    names = [name for name, _ in model.named_parameters()]
    (origin, u, v), points = plane_coordinates(start, end, bend, names)
    span = points["end"][0]
    xs = torch.linspace(-margin * span, (1 + margin) * span, resolution).tolist()
    top = max(points["bend"][1], 0.0) + margin * span
    ys = torch.linspace(min(points["bend"][1], 0.0) - margin * span, top, resolution).tolist()
    x_train = data.x_train[:train_examples]
    sizes_ = [start[name].numel() for name in names]
    errors = []
    for y in progress_bar(progress, "evaluating the plane", iterable=ys):
        row = []
        for x in xs:
            flat = origin + x * u + y * v
            weights = {name: piece.view_as(start[name]) for name, piece in zip(names, flat.split(sizes_))}
            with torch.no_grad():
                model.load_state_dict({**start, **weights})
            recompute_batchnorm(model, x_train)
            row.append(1 - evaluate(model, data.x_test, data.y_test)[1])
        errors.append(row)
    return PlaneResult(x=xs, y=ys, test_err=errors, points=points)


def run_plane(config, kind="bezier", data=None, device="cpu", cache=True, progress=True):
    """The test-error surface on the plane through `run_curve`'s two networks and its bend; cached."""
    data = data_for(config, data, device)
    key = {**config.to_dict(), "split": data.split_id, "curve": kind}  # every field, plane_resolution too
    run = Run("plane", key, records=(PlaneResult,), enabled=cache)

    def compute():
        curve = run_curve(config, kind, data=data, cache=cache, progress=progress)
        _, (start, end) = independent_networks(config, data, cache, progress)
        model = new_model(config, data)
        resolution, examples = config.plane_resolution, config.train_examples
        return evaluate_plane(
            model, start, end, curve.bend, data, resolution, train_examples=examples, progress=progress
        )

    return run.cached("result", compute, device=data.device)
