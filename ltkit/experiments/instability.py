"""Instability analysis (Frankle et al. 2020): when does SGD's noise stop deciding where training ends?

Train a network to iteration k, copy it, train both copies to the end with different data orders, and
measure the error barrier on the straight line between the two results (ltkit.experiments.paths). A network is
*stable* at k when the barrier is near zero (under 2 points, the paper's convention). Frankle et al. find
that IMP's subnetworks match the dense network exactly when they are stable, which is why rewinding to an
early iteration k, rather than to 0, finds tickets in larger networks.

Besides the dense network, each k can measure the IMP ticket at a given sparsity (IMP rewinding to k) and
its two controls, the random mask and the random re-initialisation: is it sparsity that makes a network
stable, or IMP's mask? Every (arm, k, pair of copies) is cached on its own, so more pairs or more k extend
a result, and the dense network's copies are shared by analyses at every sparsity.
"""

import statistics
from dataclasses import dataclass, replace
from functools import partial

from ltkit.engine.masks import RATES_HELP, SCOPE_HELP, SCOPES, as_rates, check_pruning, layer_kinds
from ltkit.engine.models import check_network
from ltkit.engine.stacked import Job, train_together
from ltkit.engine.training import TrainConfig, train
from ltkit.errors import LtkitError
from ltkit.experiments.dense import independent_networks, new_model, rewind_weights
from ltkit.experiments.imp import CONTROLS, IMPConfig, arm_start, imp_sweeps
from ltkit.experiments.paths import PathResult, check_measures, evaluate_line
from ltkit.experiments.profiles import COURSE_EXPERIMENTS, pruning, sizes
from ltkit.experiments.registry import Context, register
from ltkit.experiments.seeds import derived_seed
from ltkit.settings import Settings, setting

MEASURED = ("dense", "ticket", "random_mask", "reinit")  # the networks whose copies can be compared
STABLE_BELOW = 0.02  # a barrier under 2 points of test error: stable (Frankle et al.'s convention)


@dataclass(frozen=True)
class InstabilityConfig(Settings):
    NOT_IN_KEY = ("pairs", "rewind_iters", "arms")  # each (arm, k, pair) is cached on its own: more extend a result

    dataset: str
    model: str
    train: TrainConfig  # how the network and its copies train
    seed: int = setting(0, "initialisation and data-order seed")
    rates: object = setting(0.2, RATES_HELP)
    scope: str = setting("layerwise", SCOPE_HELP, choices=SCOPES)
    points: int = setting(30, "values of alpha on the line, both ends included (Frankle et al.: 30)")
    train_examples: int = setting(10_000, "training examples for the training loss/error and BatchNorm statistics")
    pairs: int = setting(1, "pairs of copies per k, whose barriers are averaged")
    rewind_iters: tuple = setting((0,), "iterations k at which the copies split", aliases=("--rewind",), item=int)
    weights_remaining: float = setting(
        None,
        "also the IMP ticket keeping about this fraction of the weights, and its two controls",
        aliases=("--sparsity",),
    )
    arms: tuple = setting(
        (),
        f"the networks measured, among {', '.join(MEASURED)} (default: dense, and all four with weights_remaining)",
        item=str,
    )

    def __post_init__(self):
        check_network(self)
        check_pruning(self.rates, self.scope)
        check_measures(self)
        if self.pairs < 1:
            raise LtkitError(f"instability needs at least one pair of copies; got pairs={self.pairs}")
        check_rewind_iters(self.rewind_iters, self.train)
        if self.weights_remaining is not None and not 0 < self.weights_remaining < 1:
            raise LtkitError(f"weights_remaining must be a fraction in (0, 1); got {self.weights_remaining}")
        unknown = [arm for arm in self.arms if arm not in MEASURED]
        if unknown:
            raise LtkitError(f"arms must be among {', '.join(MEASURED)}; got {', '.join(map(str, unknown))}")
        if self.weights_remaining is None and set(self.arms) - {"dense"}:
            raise LtkitError("every arm but dense needs weights_remaining: give it, or measure arms=('dense',)")

    @property
    def measured_arms(self):
        """The arms measured: `arms`, or by default the dense network, and with a sparsity all four."""
        return self.arms or (MEASURED if self.weights_remaining is not None else ("dense",))


def check_rewind_iters(rewind_iters, train):
    if not rewind_iters:
        raise LtkitError("rewind_iters needs at least one iteration k, like rewind_iters=(0, 100)")
    for k in rewind_iters:
        if not 0 <= k < train.iterations:
            raise LtkitError(f"rewind iteration {k} must be in 0..{train.iterations - 1}, the run's length; lower it")


@dataclass
class Instability:
    """One arm at one k: the barrier of each pair of copies, their final test accuracies and lines."""

    barriers: list  # one per pair of copies
    final_test_accs: list  # each copy's test accuracy at the end of training, two per pair
    lines: list  # a PathResult per pair
    weights_remaining: float

    @property
    def barrier(self):
        """The mean barrier over pairs."""
        return sum(self.barriers) / len(self.barriers)

    @property
    def barrier_std(self):
        return statistics.stdev(self.barriers) if len(self.barriers) > 1 else 0.0

    @property
    def final_test_acc(self):
        return sum(self.final_test_accs) / len(self.final_test_accs)

    def summary(self):
        """The figures, without the lines."""
        return dict(
            barrier=self.barrier,
            barrier_std=self.barrier_std,
            pairs=len(self.barriers),
            barriers=self.barriers,
            final_test_acc=self.final_test_acc,
            weights_remaining=self.weights_remaining,
        )

    def to_json(self):
        """The figures, the test errors of the first pair's ends, and every pair's line point by point."""
        lines = [line.points() for line in self.lines]
        return {**self.summary(), "test_err_ends": self.lines[0].ends_test_err, "line": lines[0], "lines": lines}


@dataclass
class InstabilityRow:
    k: int
    arm: str
    weights_remaining: float
    barrier: float  # mean over pairs
    barrier_std: float
    pairs: int
    final_test_acc: float  # mean over the copies


@dataclass
class InstabilityResult:
    config: InstabilityConfig
    rows: list  # per k: {"k": k, arm: Instability, ...}, the arms in the order measured

    def table(self):
        """One InstabilityRow per k and arm."""
        return [
            InstabilityRow(
                row["k"],
                arm,
                record.weights_remaining,
                record.barrier,
                record.barrier_std,
                len(record.barriers),
                record.final_test_acc,
            )
            for row in self.rows
            for arm, record in arms_of(row).items()
        ]

    def to_json(self):
        """What `ltkit instability --json` writes: per k, each arm's figures and lines."""
        arms = lambda row: {arm: record.to_json() for arm, record in arms_of(row).items()}
        return dict(config=self.config.to_dict(), rewind=[dict(k=row["k"], **arms(row)) for row in self.rows])


def arms_of(row):
    """{arm: Instability} of a row of InstabilityResult.rows."""
    return {arm: record for arm, record in row.items() if arm != "k"}


@dataclass
class CopiesPair:
    """One pair of copies, trained from k and measured: cached on its own."""

    barrier: float
    final_test_accs: list
    line: PathResult
    weights_remaining: float


def measure_instability(config, context):
    """The barrier between copies of a network at iteration k trained on with different data orders.

    For each k of config.rewind_iters, each of config.measured_arms: "dense", and, at config.weights_remaining,
    "ticket" (the IMP subnetwork nearest that sparsity, IMP rewinding to k), "random_mask" and "reinit" (its
    controls). Copies restart the optimizer at k, as IMP's rewound runs do; the learning-rate schedule
    continues from k.
    """
    rows = [
        dict(k=k, **{arm: arm_instability(config, context, k, arm) for arm in config.measured_arms})
        for k in config.rewind_iters
    ]
    return InstabilityResult(config, rows)


def copies_cache(config, context, arm):
    """Where an arm's pairs of copies are cached: by its settings, the dense network's without a sparsity
    (it has none), so that its copies are shared by the analyses at every weights_remaining."""
    keyed = replace(config, weights_remaining=None, arms=("dense",)) if arm == "dense" else config
    return context.run("instability", keyed, records=(CopiesPair, PathResult))


def arm_instability(config, context, k, arm):
    """One arm at one k: its pairs from the cache, the missing ones trained now (all together)."""
    run, device = copies_cache(config, context, arm), context.device
    name = "reinit_trained_to" if arm == "reinit" and k > 0 else arm  # apart from runs cached before it was
    steps = [f"{name}_k{k:06d}_pair{pair}" for pair in range(config.pairs)]
    pairs = {step: run.load(step, device) for step in steps if run.has(step)}
    missing = [pair for pair, step in enumerate(steps) if step not in pairs]
    if missing:

        def save(pair, trained):
            pairs[steps[pair]] = trained
            run.save(steps[pair], trained)

        train_copies(config, context, k, start_of(config, context, k, arm), missing, save)
    pairs = [pairs[step] for step in steps]
    return Instability(
        barriers=[p.barrier for p in pairs],
        final_test_accs=[acc for p in pairs for acc in p.final_test_accs],
        lines=[p.line for p in pairs],
        weights_remaining=pairs[0].weights_remaining,
    )


def start_of(config, context, k, arm):
    """Where the copies of `arm` start at k: (weights, mask or None, fraction of weights kept)."""
    if arm == "dense":
        return rewind_weights(config, context.data, k), None, 1.0
    sweep = ticket_sweep(config, context, k)
    record = sweep.nearest_round(config.weights_remaining)
    state, mask = arm_start(sweep.config, context.data, record.round, arm, sweep.rewind_state, record.mask)
    if arm == "reinit" and k > 0:  # fresh weights have had no training: train them under the mask to k first,
        model = new_model(config, context.data)  # so that the copies end as long trained as the ticket's
        model.load_state_dict(state)
        to_k = replace(config.train, iterations=k)
        train(model, context.data, to_k, mask=mask, data_seed=config.seed, progress=False)
        state = model.state_dict()
    return state, mask, record.weights_remaining


def train_copies(config, context, k, start, pairs, save):
    """For each pair, two copies of the network `start` describes, trained from iteration k to the end with
    different data orders (every copy of every pair together, as one stack), and the straight line between
    the two: save(pair, CopiesPair) is called as soon as both copies of a pair are trained."""
    data, (start_state, mask, kept) = context.data, start
    jobs, trained = [], {}

    def finished(pair, job):
        trained.setdefault(pair, []).append(job)
        if len(trained[pair]) == 2:
            first, second = sorted(trained[pair], key=lambda j: j.data_seed)
            ends = [first.model.state_dict(), second.model.state_dict()]
            line = evaluate_line(new_model(config, data), *ends, data, config.points, config.train_examples)
            accuracies = [first.result.final_test_acc, second.result.final_test_acc]
            save(pair, CopiesPair(barrier=line.barrier, final_test_accs=accuracies, line=line, weights_remaining=kept))

    for pair in pairs:
        for copy_number in (1, 2):
            model = new_model(config, data)
            model.load_state_dict(start_state)
            data_seed = derived_seed("copies", config.seed, 2 * pair + copy_number)
            jobs.append(Job(model, config.train, mask, data_seed, k, f"k={k}", partial(finished, pair)))
    train_together(jobs, data, context.progress)


def ticket_sweep(config, context, k):
    """The IMP sweep (rewinding to k, by `config`'s recipe and pruning) that reaches config.weights_remaining,
    as an IMPResult. Only the ticket's mask and W_k are needed; see sweep_controls for when the sweep's
    controls train too."""
    imp = IMPConfig(
        config.dataset,
        config.model,
        config.train,
        rates=config.rates,
        rounds=rounds_to_reach(config.weights_remaining, config, context.data),
        scope=config.scope,
        rewind_iter=k,
        seed=config.seed,
        controls=sweep_controls(config, k),
    )
    return imp_sweeps([imp], context)[0]


def sweep_controls(config, k):
    """The controls the sweep trains beside its tickets: both at k=0 for the course's IMP networks, where it
    is the sweep lessons 03 and 04 run (with their controls), trained as they train it. The controls of the
    instability analysis are trained from the ticket's mask apart, so elsewhere (the 1-D CNN of late
    rewinding, your own networks) they would be work no one reads."""
    return CONTROLS if k == 0 and config.model in {model for _, model in COURSE_EXPERIMENTS} else ()


def rounds_to_reach(weights_remaining, config, data, max_rounds=100):
    """The first IMP round expected to keep at most `weights_remaining` of the prunable weights, to within
    rounding (a thousandth of it): 0.262 is six rounds at 20% (0.8^6 = 0.26214), not seven."""
    model = new_model(config, data)
    kinds, rates = layer_kinds(model), as_rates(config.rates)
    sizes_ = {name: p.numel() for name, p in model.named_parameters() if name in kinds}
    for rounds in range(max_rounds + 1):
        kept = sum(n * (1 - rates[kinds[name]]) ** rounds for name, n in sizes_.items()) / sum(sizes_.values())
        if kept <= weights_remaining * 1.001:
            return rounds
    raise LtkitError(f"pruning at rates {config.rates} does not reach {weights_remaining} of the weights")


def independent_line(config, data, cache=True, progress=True):
    """The straight line between two networks trained from different initialisations
    (dense.independent_networks): the barrier that instability is measured against."""
    _, ends = independent_networks(config, Context(data, cache, progress))
    return evaluate_line(new_model(config, data), *ends, data, config.points, config.train_examples)


run_instability = register(
    "instability",
    InstabilityConfig,
    measure_instability,
    InstabilityResult,
    "the error barrier between copies of a network trained on from iteration k",
    defaults=lambda dataset, model, profile, train: {**pruning(model), **sizes(profile, "instability")},
    parts=lambda config: [replace(config, rewind_iters=(k,)) for k in config.rewind_iters],  # each k apart
)
instability_config = run_instability.config
