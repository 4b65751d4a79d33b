"""The plane through two networks and a curve's bend (Garipov et al. 2018, Fig. 1): the valley a curve follows.

Any three points of weight space span a plane. Through the two independently trained networks and the bend
of the curve fitted between them (ltkit.experiments.curves), that plane holds the whole straight line and
the whole quadratic Bezier curve; the test error over a grid on it shows the ridge the line crosses and
the valley the curve takes around it.
"""

from dataclasses import dataclass

import torch

from ltkit.engine.progress import progress_bar
from ltkit.engine.training import TrainConfig, evaluate
from ltkit.errors import LtkitError
from ltkit.experiments.curves import CurveConfig, curve_defaults, curve_run
from ltkit.experiments.dense import independent_networks, new_model
from ltkit.experiments.paths import recompute_batchnorm
from ltkit.experiments.profiles import sizes
from ltkit.experiments.registry import register
from ltkit.settings import setting


@dataclass(frozen=True)
class PlaneConfig(CurveConfig):
    """The curve's settings (the plane is drawn through that curve, from its cache), and the picture's."""

    resolution: int = setting(21, "grid points per side of the picture")
    margin: float = setting(0.25, "room around the three points, as a fraction of the distance between the ends")

    def __post_init__(self):
        super().__post_init__()
        if self.resolution < 2:
            raise LtkitError(f"the plane's grid needs at least 2 points per side; got resolution={self.resolution}")
        if self.margin < 0:
            raise LtkitError(f"the plane's margin must be 0 or more; got {self.margin}")


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


def evaluate_plane(model, start, end, bend, data, resolution=21, margin=0.25, train_examples=10_000, progress=False):
    """Test error on a grid over the plane through two networks and a curve's bend: a dict of x (the grid's
    coordinates along the line), y (towards the bend), test_err (rows along y, columns along x) and points
    (the (x, y) of "start", "end" and "bend").

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
    return dict(x=xs, y=ys, test_err=errors, points=points)


@dataclass
class PlaneResult:
    config: PlaneConfig
    x: list  # grid coordinates along the line
    y: list  # and towards the bend
    test_err: list  # rows along y, columns along x
    points: dict  # the (x, y) of "start", "end" and "bend"

    def table(self):
        """One PlaneRow per grid point, row by row."""
        return [PlaneRow(x, y, error) for y, row in zip(self.y, self.test_err) for x, error in zip(self.x, row)]

    def to_json(self):
        return dict(config=self.config.to_dict(), x=self.x, y=self.y, test_err=self.test_err, points=self.points)


@dataclass
class PlaneRow:
    x: float
    y: float
    test_err: float


def plane_run(config, context):
    """The plane of `config`, measured now or loaded from the cache."""
    run = context.run("plane", config, records=(PlaneResult, PlaneConfig, TrainConfig))
    return run.cached("result", lambda: measure_plane(config, context), device=context.device)


def measure_plane(config, context):
    """The test error over the plane through the curve's two networks and its bend (the curve from its cache)."""
    bend = curve_run(config, context).bend
    _, (start, end) = independent_networks(config, context)
    model, data = new_model(config, context.data), context.data
    surface = evaluate_plane(
        model, start, end, bend, data, config.resolution, config.margin, config.train_examples, context.progress
    )
    return PlaneResult(config, **surface)


run_plane = register(
    "plane",
    PlaneConfig,
    plane_run,
    PlaneResult,
    "the test error over the plane through two independently trained networks and a fitted curve's bend",
    defaults=lambda dataset, model, profile, train: {
        **curve_defaults(dataset, model, profile, train),
        **sizes(profile, "plane"),
    },
)
plane_config = run_plane.config
