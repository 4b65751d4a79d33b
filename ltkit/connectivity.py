"""Linear mode connectivity, instability, mode-connecting curves and fast geometric ensembling.

Two trained networks are *linearly connected* when the error stays low all along the straight line
between their weights. Frankle et al. (2020) measure this with the error barrier: the highest test error
on the line minus the mean of the two ends' errors. Their instability analysis trains a network to
iteration k, copies it, trains both copies to the end with different data orders and measures the barrier
between the two results. A network is *stable* at k when the barrier is near zero (under 2 points): SGD
noise no longer decides where training ends. IMP finds matching subnetworks (tickets) when rewinding to
an iteration k where they are stable.

Garipov et al. (2018) show that two independently trained networks, separated by a barrier on the straight
line, are still joined by a simple curve of low error: a quadratic Bezier curve or a polygonal chain with
one trained bend. Fast geometric ensembling (FGE) uses the same geometry: a cyclic learning rate moves one
trained network along a low-error region, and the weights at each learning-rate minimum make an ensemble
at almost no extra cost.

1. the straight line, and BatchNorm statistics   2. evaluating a path, the error barrier
3. instability analysis   4. curves   5. fast geometric ensembling
The experiments (`run_instability`, `run_curve`, `run_fge`) keep their results in the run cache.
"""

import copy
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ltkit.data import check_dataset_name, training_set_size
from ltkit.errors import LtkitError
from ltkit.lottery import IMPConfig, check_fields, checked_data, dense_run, new_model, rewind_weights, run_imp
from ltkit.masks import as_rates, check_scope, layer_kinds
from ltkit.models import check_model_name
from ltkit.profiles import connectivity_settings
from ltkit.runs import Run
from ltkit.train import (
    TrainConfig,
    evaluate,
    iterations_for,
    learning_rate,
    make_optimizer,
    progress_bar,
    resize,
    set_learning_rate,
    train,
    train_step,
    training_batches,
)

# --- 1. the straight line between two networks, and BatchNorm statistics ----------------------------


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


# --- 2. evaluating a path of networks; the error barrier ---------------------------------------------


def error_barrier(test_err):
    """Frankle et al.'s barrier: the highest error along the path minus the mean of the two ends' errors."""
    return max(test_err) - (test_err[0] + test_err[-1]) / 2


def path_points(points):
    """`points` evenly spaced values in [0, 1], both ends included (and exactly 0 and 1)."""
    if points < 2:
        raise LtkitError(f"a path needs at least 2 points (its two ends); got {points}")
    return [i / (points - 1) for i in range(points)]


def evaluate_path(model, state_at, data, points=30, train_examples=10_000, progress=False):
    """Load `state_at(t)` into `model` at `points` values of t in [0, 1] and measure each network.

    Returns {"t", "train_loss", "train_err", "test_loss", "test_err"} (lists, errors as fractions) and
    "barrier". The training figures, and BatchNorm statistics (recomputed at every t where the network
    has BatchNorm), use the first `train_examples` examples of the training split, un-augmented: a fixed
    random subset, since the split is shuffled when loaded, that keeps 30 evaluations fast.
    """
    x_train, y_train = data.x_train[:train_examples], data.y_train[:train_examples]
    curve = dict(t=[], train_loss=[], train_err=[], test_loss=[], test_err=[])
    for t in progress_bar(progress, "evaluating the path", iterable=path_points(points)):
        with torch.no_grad():
            model.load_state_dict(state_at(t))
        recompute_batchnorm(model, x_train)
        train_loss, train_acc = evaluate(model, x_train, y_train)
        test_loss, test_acc = evaluate(model, data.x_test, data.y_test)
        for key, value in zip(curve, (t, train_loss, 1 - train_acc, test_loss, 1 - test_acc)):
            curve[key].append(value)
    curve["barrier"] = error_barrier(curve["test_err"])
    return curve


def evaluate_line(model, state1, state2, data, points=30, train_examples=10_000, progress=False):
    """The straight line between two networks (t is alpha), measured as `evaluate_path` does."""
    return evaluate_path(
        model, lambda alpha: interpolate(state1, state2, alpha), data, points, train_examples, progress
    )


def as_points(curve):
    """A measured path as one dict per point (t, train_loss, train_err, test_loss, test_err): for tables."""
    keys = ("t", "train_loss", "train_err", "test_loss", "test_err")
    return [dict(zip(keys, values)) for values in zip(*(curve[key] for key in keys))]


# --- the experiments' settings and their trained networks ---------------------------------------------


@dataclass(frozen=True)
class ConnectivityConfig:
    """Everything the three experiments depend on. Build one with `connectivity_config` (profile sizes)."""

    dataset: str
    model: str
    train: TrainConfig  # how every network trains: endpoints, copies, curves, ensemble members
    seed: int = 0
    rates: object = 0.2  # IMP's pruning rates and scope, for the instability of tickets
    scope: str = "layerwise"
    points: int = 30  # values of alpha (or t) at which a path is evaluated, both ends included
    train_examples: int = 10_000  # training examples for training loss/error and BatchNorm statistics
    curve_weight_decay: float = 0.0  # L2 penalty on w(t) while a curve trains
    fge_cycles: int = 8
    fge_cycle: int = 200  # iterations per learning-rate cycle (even: its minimum is the middle)
    fge_lr_high: float = 1e-3
    fge_lr_low: float = 1e-5
    independent: int = 2  # networks in the independently trained ensemble FGE is compared with
    plane_resolution: int = 21  # grid points per side of the loss-surface picture

    def __post_init__(self):
        check_dataset_name(self.dataset)
        check_model_name(self.model)
        as_rates(self.rates)
        check_scope(self.scope)
        path_points(self.points)
        if self.fge_cycle < 2 or self.fge_cycle % 2:
            raise LtkitError(f"an FGE cycle needs an even number of iterations (2 or more); got {self.fge_cycle}")
        if not 0 < self.fge_lr_low < self.fge_lr_high:
            raise LtkitError(f"FGE needs 0 < lr_low < lr_high; got {self.fge_lr_low} and {self.fge_lr_high}")
        if self.fge_cycles < 1 or self.independent < 1:
            raise LtkitError("FGE needs at least one cycle and one independently trained network")

    def key(self, data, *names):
        """A cache key: what every experiment depends on (the data's split too), and the named fields."""
        common = dict(
            dataset=self.dataset, split=data.split_id, model=self.model, train=self.train.to_dict(), seed=self.seed
        )
        return {**common, **{name: getattr(self, name) for name in names}}

    def to_dict(self):
        return {**asdict(self), "train": self.train.to_dict()}


def connectivity_config(dataset, model, profile=None, epochs=None, **fields):
    """The ConnectivityConfig of `model` on `dataset` in a profile (default: $LTKIT_PROFILE or "class").

    Networks train by the profile's recipe (profiles.connectivity_settings; `epochs` resizes the runs),
    curves with the recipe's weight decay as their L2 penalty; the other sizes are the profile's.
    Keyword arguments replace any field (None keeps the profile's).
    """
    check_dataset_name(dataset)
    preset = connectivity_settings(model, profile, training_set_size(dataset))
    train_config = preset["train"]
    if epochs is not None:
        train_config = resize(train_config, iterations_for(epochs, training_set_size(dataset), train_config.batch_size))
    chosen = dict(
        rates=preset["rates"],
        scope=preset["scope"],
        points=preset["points"],
        train_examples=preset["train_examples"],
        curve_weight_decay=train_config.weight_decay,
        fge_cycles=preset["fge_cycles"],
        fge_cycle=max(2, 2 * round(preset["fge_cycle"] * train_config.iterations / 2)),
        fge_lr_high=preset["fge_lr_high"] * train_config.lr,
        fge_lr_low=preset["fge_lr_low"] * train_config.lr,
        independent=preset["independent"],
        plane_resolution=preset["plane_resolution"],
    )
    check_fields(fields, ConnectivityConfig, "connectivity_config")
    chosen.update({key: value for key, value in fields.items() if value is not None})
    return ConnectivityConfig(dataset=dataset, model=model, train=train_config, **chosen)


def trained_network(config, data, seed, iterations=None, cache=True, progress=True):
    """The state dict of the dense network of `seed` after training (the recipe resized to `iterations`).

    It is lottery.dense_run's network: a lesson or a sweep that trained the same recipe already shares it.
    """
    train_config = config.train if iterations in (None, config.train.iterations) else resize(config.train, iterations)
    return dense_run(replace(config, train=train_config, seed=seed), data, cache, progress)["state"]


# --- 3. instability analysis (Frankle et al. 2020) ---------------------------------------------------


def run_instability(config, rewind_iters, weights_remaining=None, data=None, device="cpu", cache=True, progress=True):
    """The barrier between two copies of the network at iteration k trained on with different data orders.

    For each k in `rewind_iters`: the dense network, and with `weights_remaining` (a fraction) also the
    IMP ticket closest to that sparsity (IMP rewinding to k). Both copies restart the optimizer at k,
    as IMP's rewound runs do; the learning-rate schedule continues from k.
    Returns one dict per k: {"k", "dense": arm, "ticket": arm (if asked)}, each arm holding "barrier",
    "test_err_ends" (the two copies' test errors) and "line" (the whole curve from `evaluate_line`);
    a ticket also holds its "weights_remaining". Every (k, arm) is cached on its own.
    """
    for k in rewind_iters:
        if not 0 <= k < config.train.iterations:
            raise LtkitError(f"rewind iteration {k} must be in 0..{config.train.iterations - 1}, the run's length")
    data = checked_data(config, data, device)
    rows = []
    for k in rewind_iters:
        row = dict(k=k, dense=dense_instability(config, data, k, cache, progress))
        if weights_remaining is not None:
            row["ticket"] = ticket_instability(config, data, k, weights_remaining, cache, progress)
        rows.append(row)
    return rows


def dense_instability(config, data, k, cache, progress):
    run = Run("instability", {**config.key(data, "points", "train_examples"), "arm": "dense"}, enabled=cache)
    compute = lambda: copies_barrier(config, data, rewind_weights(config, data, k), k, None, progress)
    return run.cached(f"k{k:06d}", compute, device=data.device)


def ticket_instability(config, data, k, weights_remaining, cache, progress):
    key = {**config.key(data, "points", "train_examples", "rates", "scope"), "arm": "ticket"}
    run = Run("instability", {**key, "weights_remaining": weights_remaining}, enabled=cache)

    def compute():
        rewind_state, mask, kept = imp_ticket(config, data, k, weights_remaining, cache, progress)
        return {**copies_barrier(config, data, rewind_state, k, mask, progress), "weights_remaining": kept}

    return run.cached(f"k{k:06d}", compute, device=data.device)


def copies_barrier(config, data, start_state, k, mask=None, progress=True):
    """Train two copies of `start_state` from iteration k to the end with different data orders, and
    measure the straight line between the two results."""
    ends = []
    for copy_number in (1, 2):
        model = new_model(config, data, config.seed)
        model.load_state_dict(start_state)
        data_seed = 1000 * config.seed + copy_number
        train(model, data, config.train, mask=mask, data_seed=data_seed, start_iter=k, progress=progress, desc=f"k={k}")
        ends.append(model.state_dict())
    line = evaluate_line(new_model(config, data, config.seed), *ends, data, config.points, config.train_examples)
    return dict(barrier=line["barrier"], test_err_ends=[line["test_err"][0], line["test_err"][-1]], line=line)


def imp_ticket(config, data, k, weights_remaining, cache, progress):
    """IMP with rewinding to k down to about `weights_remaining`: (the rewind weights W_k, the mask of the
    round nearest that sparsity, the fraction that round keeps)."""
    result = ticket_sweep(config, k, weights_remaining, data, cache, progress)
    nearest = result.nearest_round(weights_remaining)
    return result.rounds[0]["rewind_state"], nearest["mask"], nearest["weights_remaining"]


def ticket_sweep(config, k, weights_remaining, data, cache=True, progress=True):
    """The IMP sweep (rewinding to k, by `config`'s recipe) that the instability of tickets uses, as an
    IMPResult: enough rounds to reach `weights_remaining`; controls skipped to save time."""
    imp = IMPConfig(
        config.dataset,
        config.model,
        config.train,
        rates=config.rates,
        rounds=rounds_to_reach(weights_remaining, config, data),
        scope=config.scope,
        rewind_iter=k,
        seed=config.seed,
        controls=False,
    )
    return run_imp(imp, data=data, cache=cache, progress=progress)


def rounds_to_reach(weights_remaining, config, data, max_rounds=100):
    """The first IMP round expected to keep at most `weights_remaining` of the prunable weights."""
    model = new_model(config, data, config.seed)
    kinds, rates = layer_kinds(model), as_rates(config.rates)
    sizes = {name: p.numel() for name, p in model.named_parameters() if name in kinds}
    for rounds in range(max_rounds + 1):
        kept = sum(n * (1 - rates[kinds[name]]) ** rounds for name, n in sizes.items()) / sum(sizes.values())
        if kept <= weights_remaining:
            return rounds
    raise LtkitError(f"pruning at rates {config.rates} does not reach {weights_remaining} of the weights")


def rewinding_table(config, ticket_rows, weights_remaining, data):
    """For each k of an instability analysis of tickets: the ticket IMP finds when rewinding to k (its
    sparsity and test accuracy), the dense network's accuracy, and the ticket's barrier."""
    rows = []
    for row in ticket_rows:
        sweep = ticket_sweep(config, row["k"], weights_remaining, data)
        ticket = sweep.nearest_round(weights_remaining)
        rows.append(
            dict(
                rewind_to=row["k"],
                weights_remaining=ticket["weights_remaining"],
                ticket_test_acc=ticket["ticket"]["test_acc"],
                dense_test_acc=sweep.rounds[0]["ticket"]["test_acc"],
                ticket_barrier=row["ticket"]["barrier"],
            )
        )
    return rows


# --- 4. curves between two networks (Garipov et al. 2018) -------------------------------------------


def bezier(w1, theta, w2, t):
    """The quadratic Bezier curve with control points w1, theta, w2."""
    return (1 - t) ** 2 * w1 + 2 * t * (1 - t) * theta + t**2 * w2


def polychain(w1, theta, w2, t):
    """Two straight segments, w1 -> theta for t <= 1/2, then theta -> w2."""
    return lerp(w1, theta, 2 * t) if t <= 0.5 else lerp(theta, w2, 2 * t - 1)


CURVES = {"bezier": bezier, "polychain": polychain}


class Curve(nn.Module):
    """A path of weights w(t), t in [0, 1], from one trained network to another, bent by one point theta.

    The ends are two state dicts of the same architecture, fixed; the bend theta (one tensor per
    parameter of `model`) is the module's only parameters, so an optimizer of curve.parameters() trains
    nothing else. theta starts at the midpoint of the straight line, where both kinds of curve *are* the
    straight line: training bends the line away from the barrier.
    """

    def __init__(self, model, start, end, kind="bezier"):
        super().__init__()
        if kind not in CURVES:
            raise LtkitError(f"unknown curve {kind!r}; choose one of: {', '.join(CURVES)}")
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
        """theta as {parameter name: tensor}, to save, or to load again with `load_bend`."""
        return {name: theta.detach().clone() for name, theta in zip(self.names, self.bend)}

    @torch.no_grad()
    def load_bend(self, bend):
        for name, theta in zip(self.names, self.bend):
            theta.copy_(bend[name])


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
    t_generator = torch.Generator().manual_seed(seed)
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


def endpoint_seeds(seed):
    """The two independently initialised networks of experiment seed `seed` (no two seeds share one)."""
    return 2 * seed, 2 * seed + 1


def run_curve(config, kind="bezier", data=None, device="cpu", cache=True, progress=True):
    """Two independently trained networks, the straight line between them and a fitted curve.

    Returns {"kind", "line", "curve" (both as `evaluate_path` gives them), "bend" (theta, to rebuild
    the Curve with `load_bend`), "losses" (the curve's training loss at each step), "seeds" (of the ends)}.
    The curve trains for as many iterations, with the same optimizer and schedule, as one network.
    """
    if kind not in CURVES:
        raise LtkitError(f"unknown curve {kind!r}; choose one of: {', '.join(CURVES)}")
    data = checked_data(config, data, device)
    run = Run(
        "curve", {**config.key(data, "points", "train_examples", "curve_weight_decay"), "kind": kind}, enabled=cache
    )
    return run.cached("result", lambda: fit_curve(config, kind, data, cache, progress), device=data.device)


def fit_curve(config, kind, data, cache, progress):
    seeds = endpoint_seeds(config.seed)
    start, end = (trained_network(config, data, seed, cache=cache, progress=progress) for seed in seeds)
    model = new_model(config, data, config.seed)
    curve = Curve(model, start, end, kind)
    losses = train_curve(curve, model, data, config.train, config.curve_weight_decay, config.seed, progress)
    measure = dict(data=data, points=config.points, train_examples=config.train_examples)
    return dict(
        kind=kind,
        line=evaluate_line(model, start, end, **measure),
        curve=evaluate_path(model, curve.state_at, **measure),
        bend=curve.bend_state(),
        losses=losses,
        seeds=list(seeds),
    )


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
    """Test error on a grid over the plane through two networks and a curve's bend (Garipov et al., Fig. 1).

    The grid covers the three points with `margin` (a fraction of the end-to-end distance) around them.
    Buffers (BatchNorm statistics) are recomputed at every grid point, as along a path.
    Returns {"x", "y" (grid coordinates), "test_err" (rows along y, columns along x), "points"}.
    """
    names = [name for name, _ in model.named_parameters()]
    (origin, u, v), points = plane_coordinates(start, end, bend, names)
    span = points["end"][0]
    xs = torch.linspace(-margin * span, (1 + margin) * span, resolution).tolist()
    top = max(points["bend"][1], 0.0) + margin * span
    ys = torch.linspace(min(points["bend"][1], 0.0) - margin * span, top, resolution).tolist()
    x_train = data.x_train[:train_examples]
    sizes = [start[name].numel() for name in names]
    errors = []
    for y in progress_bar(progress, "evaluating the plane", iterable=ys):
        row = []
        for x in xs:
            flat = origin + x * u + y * v
            weights = {name: piece.view_as(start[name]) for name, piece in zip(names, flat.split(sizes))}
            with torch.no_grad():
                model.load_state_dict({**start, **weights})
            recompute_batchnorm(model, x_train)
            row.append(1 - evaluate(model, data.x_test, data.y_test)[1])
        errors.append(row)
    return dict(x=xs, y=ys, test_err=errors, points=points)


def run_plane(config, kind="bezier", data=None, device="cpu", cache=True, progress=True):
    """The test-error surface on the plane through `run_curve`'s two networks and its bend; cached."""
    data = checked_data(config, data, device)
    key = {**config.key(data, "points", "train_examples", "curve_weight_decay", "plane_resolution"), "kind": kind}
    run = Run("plane", key, enabled=cache)

    def compute():
        curve = run_curve(config, kind, data=data, cache=cache, progress=progress)
        start, end = (trained_network(config, data, seed, cache=cache, progress=progress) for seed in curve["seeds"])
        model = new_model(config, data, config.seed)
        return evaluate_plane(
            model,
            start,
            end,
            curve["bend"],
            data,
            config.plane_resolution,
            train_examples=config.train_examples,
            progress=progress,
        )

    return run.cached("result", compute, device=data.device)


def curve_summary(result):
    """The figures of a fitted curve (run_curve's result): both barriers, the curve's worst test error and
    the mean of the two ends' test errors."""
    ends = result["curve"]["test_err"][0], result["curve"]["test_err"][-1]
    return dict(
        line_barrier=result["line"]["barrier"],
        curve_barrier=result["curve"]["barrier"],
        worst_curve_test_err=max(result["curve"]["test_err"]),
        ends_test_err=sum(ends) / 2,
    )


# --- 5. fast geometric ensembling (Garipov et al. 2018) ----------------------------------------------


def cyclic_learning_rate(iteration, cycle, lr_high, lr_low):
    """Triangular cycles of `cycle` iterations: from lr_high down to lr_low at mid-cycle and back up."""
    position = (iteration % cycle + 1) / cycle  # in (0, 1]; 1/2 is the minimum
    return lr_low + (lr_high - lr_low) * abs(2 * position - 1)


def fge_snapshots(model, data, config, cycles, cycle, lr_high, lr_low, data_seed=0, progress=True):
    """Train the trained `model` on with a cyclic learning rate; a snapshot at each learning-rate minimum.

    Returns one dict per cycle: "iteration" (steps taken since the start of FGE), "lr" (that of the last
    step) and "state" (a copy of the weights). `config` gives the optimizer and batch size.
    """
    optimizer = make_optimizer(model, config)
    batches = training_batches(data, config, data_seed)
    model.train()
    snapshots = []
    for iteration in progress_bar(progress, "FGE cycles", iterable=range(cycles * cycle)):
        lr = cyclic_learning_rate(iteration, cycle, lr_high, lr_low)
        set_learning_rate(optimizer, lr)
        train_step(model, optimizer, *next(batches))
        if iteration % cycle == cycle // 2 - 1:  # this step used lr_low
            snapshots.append(dict(iteration=iteration + 1, lr=lr, state=copy.deepcopy(model.state_dict())))
    return snapshots


@torch.no_grad()
def ensemble_accuracy(model, states, x, y, batch_size=2000):
    """Accuracy of the ensemble of `states` (loaded in turn into `model`): the mean of their softmax outputs."""
    probabilities = 0
    for state in states:
        model.load_state_dict(state)
        model.eval()
        probabilities = probabilities + torch.cat(
            [model(x[i : i + batch_size]).softmax(1) for i in range(0, len(y), batch_size)]
        )
    return (probabilities / len(states)).argmax(1).eq(y).float().mean().item()


def fge_budget(config):
    """FGE's training iterations in all: one network trained by the recipe, then every cycle."""
    return config.train.iterations + config.fge_cycles * config.fge_cycle


def run_fge(config, data=None, device="cpu", cache=True, progress=True):
    """FGE from one trained network, against a single network and an independent ensemble at the same budget.

    The budget is counted in training iterations (mini-batch steps), and it is FGE's:
    B = the recipe's T iterations for the network FGE starts from + fge_cycles * fge_cycle.
      - single: one network trained for all B iterations (the recipe resized to B);
      - independent: `independent` networks from different seeds, each trained for B // independent
        iterations (the recipe resized), their softmax outputs averaged.
    (Garipov et al. fix B at one ordinary run instead, and start FGE from a network trained for 80% of it.)
    Returns the test accuracies ("start_acc": the network FGE starts from, "single_acc", "fge_acc",
    "independent_acc"), "budget", and "snapshots" (iteration, lr and test_acc of each snapshot).
    """
    data = checked_data(config, data, device)
    fields = ("rates", "scope", "fge_cycles", "fge_cycle", "fge_lr_high", "fge_lr_low", "independent")
    run = Run("fge", config.key(data, *fields), enabled=cache)
    return run.cached("result", lambda: compare_fge(config, data, cache, progress), device=data.device)


def compare_fge(config, data, cache, progress):
    budget = fge_budget(config)
    model = new_model(config, data, config.seed)
    model.load_state_dict(trained_network(config, data, config.seed, cache=cache, progress=progress))
    start_acc = evaluate(model, data.x_test, data.y_test)[1]
    args = (config.train, config.fge_cycles, config.fge_cycle, config.fge_lr_high, config.fge_lr_low)
    snapshots = fge_snapshots(model, data, *args, data_seed=config.seed, progress=progress)
    single = trained_network(config, data, config.seed, budget, cache, progress)
    members = [
        trained_network(
            config, data, config.independent * config.seed + i, budget // config.independent, cache, progress
        )
        for i in range(config.independent)
    ]
    accuracy = lambda states: ensemble_accuracy(model, states, data.x_test, data.y_test)
    return dict(
        budget=budget,
        start_acc=start_acc,
        single_acc=accuracy([single]),
        fge_acc=accuracy([s["state"] for s in snapshots]),
        independent_acc=accuracy(members),
        snapshots=[dict(iteration=s["iteration"], lr=s["lr"], test_acc=accuracy([s["state"]])) for s in snapshots],
    )
