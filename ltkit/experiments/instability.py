"""Instability analysis (Frankle et al. 2020): when does SGD's noise stop deciding where training ends?

Train a network to iteration k, copy it, train both copies to the end with different data orders, and
measure the error barrier on the straight line between the two results (ltkit.experiments.paths). A network is
*stable* at k when the barrier is near zero (under 2 points, the paper's convention). Frankle et al. find
that IMP's subnetworks match the dense network exactly when they are stable, which is why rewinding to an
early iteration k, rather than to 0, finds tickets in larger networks.

Besides the dense network, each k can measure the IMP ticket at a given sparsity (IMP rewinding to k) and
its two controls, the random mask and the random re-initialisation: is it sparsity that makes a network
stable, or IMP's mask? Every (k, arm, pair of copies) is cached on its own, so more pairs extend a result.
"""

import functools
import statistics
from dataclasses import dataclass
from functools import partial

from ltkit.engine.datasets import data_for
from ltkit.engine.masks import as_rates, check_pruning, layer_kinds
from ltkit.engine.models import check_network
from ltkit.engine.stacked import Job, train_together
from ltkit.engine.training import TrainConfig
from ltkit.errors import LtkitError
from ltkit.experiments.dense import independent_networks, new_model, rewind_weights
from ltkit.experiments.imp import IMPConfig, arm_start, run_imp
from ltkit.experiments.paths import PathResult, evaluate_line, path_points
from ltkit.experiments.profiles import pruning, sizes, training_recipe, with_overrides
from ltkit.settings import Settings
from ltkit.store.runs import Run

MEASURED = ("dense", "ticket", "random_mask", "reinit")  # the networks whose copies can be compared
STABLE_BELOW = 0.02  # a barrier under 2 points of test error: stable (Frankle et al.'s convention)


@dataclass(frozen=True)
class InstabilityConfig(Settings):
    NOT_IN_KEY = ("pairs",)  # every pair is cached on its own: more pairs extend a result

    dataset: str
    model: str
    train: TrainConfig  # how the network and its copies train
    seed: int = 0
    rates: object = 0.2  # IMP's pruning rates and scope, for the ticket and its controls
    scope: str = "layerwise"
    points: int = 30  # values of alpha on the line, both ends included (Frankle et al.: 30)
    train_examples: int = 10_000  # training examples for the training loss/error and BatchNorm statistics
    pairs: int = 1  # pairs of copies whose barriers are averaged

    def __post_init__(self):
        check_network(self)
        check_pruning(self.rates, self.scope)
        path_points(self.points)
        if self.pairs < 1:
            raise LtkitError(f"instability needs at least one pair of copies; got pairs={self.pairs}")


def instability_config(dataset, model, profile=None, epochs=None, lr=None, **fields):
    """The InstabilityConfig of `model` on `dataset` in a profile: the training recipe
    (profiles.training_recipe), the paper's pruning, the profile's sizes. Keyword arguments replace fields."""
    train_config = training_recipe(dataset, model, profile, epochs, lr)
    defaults = {**pruning(model), **sizes(profile, "instability")}
    fields = with_overrides(defaults, fields, InstabilityConfig, "instability_config")
    return InstabilityConfig(dataset, model, train_config, **fields)


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
        """The figures of the command line's JSON (no lines)."""
        return dict(
            barrier=self.barrier,
            barrier_std=self.barrier_std,
            pairs=len(self.barriers),
            barriers=self.barriers,
            final_test_acc=self.final_test_acc,
            weights_remaining=self.weights_remaining,
        )


@dataclass
class CopiesPair:
    """One pair of copies, trained from k and measured: cached on its own."""

    barrier: float
    final_test_accs: list
    line: PathResult
    weights_remaining: float


def run_instability(
    config, rewind_iters, weights_remaining=None, arms=None, data=None, device="cpu", cache=True, progress=True
):
    """The barrier between copies of a network at iteration k trained on with different data orders.

    For each k in `rewind_iters`, each arm in `arms`: "dense", and, at `weights_remaining` (a fraction),
    "ticket" (the IMP subnetwork nearest that sparsity, IMP rewinding to k), "random_mask" and "reinit" (its
    controls; all three by default when weights_remaining is given). Copies restart the optimizer at k,
    as IMP's rewound runs do; the learning-rate schedule continues from k.
    Returns one dict per k: {"k": k, arm: Instability, ...}.
    """
    for k in rewind_iters:
        if not 0 <= k < config.train.iterations:
            raise LtkitError(f"rewind iteration {k} must be in 0..{config.train.iterations - 1}, the run's length")
    arms = arms or (MEASURED if weights_remaining is not None else ("dense",))
    unknown = set(arms) - set(MEASURED)
    if unknown or (weights_remaining is None and set(arms) != {"dense"}):
        raise LtkitError(f"arms must be among {', '.join(MEASURED)}; every arm but dense needs weights_remaining")
    data = data_for(config, data, device)
    return [
        dict(k=k, **{arm: arm_instability(config, data, k, arm, weights_remaining, cache, progress) for arm in arms})
        for k in rewind_iters
    ]


def arm_instability(config, data, k, arm, weights_remaining, cache, progress):
    key = {**config.cache_key(), "split": data.split_id, "arm": arm}
    if arm != "dense":
        key["weights_remaining"] = weights_remaining
    run = Run("instability", key, records=(CopiesPair, PathResult), enabled=cache)
    start = functools.cache(partial(start_of, config, data, k, arm, weights_remaining, cache, progress))
    steps = [f"k{k:06d}_pair{pair}" for pair in range(config.pairs)]
    pairs = {step: run.load(step, data.device) for step in steps if run.has(step)}
    missing = [pair for pair, step in enumerate(steps) if step not in pairs]
    if missing:

        def save(pair, trained):
            pairs[steps[pair]] = trained
            run.save(steps[pair], trained)

        train_copies(config, data, k, start, missing, progress, save)
    pairs = [pairs[step] for step in steps]
    return Instability(
        barriers=[p.barrier for p in pairs],
        final_test_accs=[acc for p in pairs for acc in p.final_test_accs],
        lines=[p.line for p in pairs],
        weights_remaining=pairs[0].weights_remaining,
    )


def start_of(config, data, k, arm, weights_remaining, cache, progress):
    """Where the copies of `arm` start at k: (weights, mask or None, fraction of weights kept)."""
    if arm == "dense":
        return rewind_weights(config, data, k), None, 1.0
    sweep = ticket_sweep(config, data, k, weights_remaining, cache, progress)
    record = sweep.nearest_round(weights_remaining)
    state, mask = arm_start(sweep.config, data, record.round, arm, sweep.rewind_state, record.mask)
    return state, mask, record.weights_remaining


def train_copies(config, data, k, start, pairs, progress, save):
    """For each pair, two copies of the network start() gives, trained from iteration k to the end with
    different data orders (every copy of every pair together, as one stack), and the straight line between
    the two: save(pair, CopiesPair) is called as soon as both copies of a pair are trained."""
    start_state, mask, kept = start()
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
            data_seed = 1000 * config.seed + 2 * pair + copy_number
            jobs.append(Job(model, config.train, mask, data_seed, k, f"k={k}", partial(finished, pair)))
    train_together(jobs, data, progress)


def ticket_sweep(config, data, k, weights_remaining, cache=True, progress=True):
    """The IMP sweep (rewinding to k, by `config`'s recipe and pruning) that reaches `weights_remaining`,
    as an IMPResult. Its controls are trained only for k=0, where the sweep is the one lesson 03 already
    ran (the cache shares it); elsewhere only the ticket's mask and W_k are needed."""
    imp = IMPConfig(
        config.dataset,
        config.model,
        config.train,
        rates=config.rates,
        rounds=rounds_to_reach(weights_remaining, config, data),
        scope=config.scope,
        rewind_iter=k,
        seed=config.seed,
        controls=k == 0,
    )
    return run_imp(imp, data=data, cache=cache, progress=progress)


def rounds_to_reach(weights_remaining, config, data, max_rounds=100):
    """The first IMP round expected to keep at most `weights_remaining` of the prunable weights."""
    model = new_model(config, data)
    kinds, rates = layer_kinds(model), as_rates(config.rates)
    sizes_ = {name: p.numel() for name, p in model.named_parameters() if name in kinds}
    for rounds in range(max_rounds + 1):
        kept = sum(n * (1 - rates[kinds[name]]) ** rounds for name, n in sizes_.items()) / sum(sizes_.values())
        if kept <= weights_remaining:
            return rounds
    raise LtkitError(f"pruning at rates {config.rates} does not reach {weights_remaining} of the weights")


def independent_line(config, data, cache=True, progress=True):
    """The straight line between two networks trained from different initialisations
    (dense.independent_networks): the barrier that instability is measured against."""
    _, ends = independent_networks(config, data, cache, progress)
    return evaluate_line(new_model(config, data), *ends, data, config.points, config.train_examples)
