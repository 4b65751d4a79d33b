"""Fast geometric ensembling (Garipov et al. 2018), against the baselines that tell what it adds.

From one trained network, a cyclic learning rate moves the weights along a low-error region, and the
weights at each learning-rate minimum (the snapshots) make an ensemble at almost no extra cost. Part of
what the ensemble gains over the network it started from is only the low learning rate at the snapshots,
so FGE is compared, at the same training budget B (iterations in all), with:
  - single: one network trained for all B iterations by the recipe (its schedule stretched to B: a
    constant learning rate for the Adam recipes, the step drops of the SGD ones moved along);
  - annealed single: FGE's start network trained on for FGE's extra iterations with a learning rate
    falling linearly from FGE's high to its low rate, one network, no ensemble;
  - the best snapshot alone (the highest test accuracy of any one snapshot: selected on the test set, so
    an upper bound for a single member, and beating it is a conservative test of the ensemble);
  - independent: `independent` networks from seeds that FGE's network does not use, each trained for
    B / independent iterations, their softmax outputs averaged.
"""

import copy
from dataclasses import dataclass

import torch

from ltkit.engine.models import check_network
from ltkit.engine.progress import progress_bar
from ltkit.engine.training import (
    TrainConfig,
    evaluate,
    make_optimizer,
    set_learning_rate,
    train_step,
    training_batches,
)
from ltkit.errors import LtkitError
from ltkit.experiments.dense import dense_states, dense_weights, new_model
from ltkit.experiments.profiles import sizes
from ltkit.experiments.registry import register
from ltkit.experiments.seeds import derived_seed
from ltkit.settings import Settings, setting


@dataclass(frozen=True)
class FGEConfig(Settings):
    dataset: str
    model: str
    train: TrainConfig  # how the start network and the independent members train; FGE's optimizer
    seed: int = setting(0, "the start network's initialisation and data-order seed")
    cycles: int = setting(8, "learning-rate cycles, one snapshot each")
    cycle: int = setting(200, "iterations per learning-rate cycle (even: its minimum is the middle)")
    lr_high: float = setting(1e-3, "the cyclic learning rate's highest value")
    lr_low: float = setting(1e-5, "its lowest, where each snapshot is taken")
    independent: int = setting(2, "networks in the independently trained ensemble FGE is compared with")

    def __post_init__(self):
        check_network(self)
        if self.cycle < 2 or self.cycle % 2:
            raise LtkitError(f"an FGE cycle needs an even number of iterations (2 or more); got {self.cycle}")
        if not 0 < self.lr_low < self.lr_high:
            raise LtkitError(f"FGE needs 0 < lr_low < lr_high; got {self.lr_low} and {self.lr_high}")
        if self.cycles < 1 or self.independent < 1:
            raise LtkitError("FGE needs at least one cycle and one independently trained network")

    @property
    def budget(self):
        """FGE's training iterations in all: the network it starts from, then every cycle."""
        return self.train.iterations + self.cycles * self.cycle

    @property
    def independent_seeds(self):
        """Seeds of the independent members: none is FGE's own seed, nor another experiment seed's."""
        return [derived_seed("ensemble", self.independent * self.seed, i) for i in range(self.independent)]


def fge_defaults(dataset, model, profile, train):
    """FGE's settings in a profile: its cycles (a cycle's length is a fraction of one run, rounded to an
    even number of iterations; the learning rates multiples of the recipe's)."""
    preset = sizes(profile, "fge")
    return dict(
        cycles=preset["cycles"],
        cycle=max(2, 2 * round(preset["cycle"] * train.iterations / 2)),
        lr_high=preset["lr_high"] * train.lr,
        lr_low=preset["lr_low"] * train.lr,
        independent=preset["independent"],
    )


def cyclic_learning_rate(iteration, cycle, lr_high, lr_low):
    """Triangular cycles of `cycle` iterations: from lr_high down to lr_low at mid-cycle and back up."""
    position = (iteration % cycle + 1) / cycle  # in (0, 1]; 1/2 is the minimum
    return lr_low + (lr_high - lr_low) * abs(2 * position - 1)


def annealed_learning_rate(iteration, total, lr_high, lr_low):
    """A straight fall from lr_high at the first step to lr_low at the last of `total` steps."""
    return lr_high + (lr_low - lr_high) * iteration / max(1, total - 1)


def train_on(model, data, config, iterations, lr_at, data_seed=0, after_step=None, progress=True, desc="training"):
    """Train `model` on for `iterations` steps with a fresh optimizer of `config` and the learning rate
    lr_at(step); after_step(step, lr) is called after each step."""
    optimizer = make_optimizer(model, config)
    batches = training_batches(data, config, data_seed)
    model.train()
    for step in progress_bar(progress, desc, iterable=range(iterations)):
        lr = lr_at(step)
        set_learning_rate(optimizer, lr)
        train_step(model, optimizer, *next(batches))
        if after_step:
            after_step(step, lr)


def fge_snapshots(model, data, config, cycles, cycle, lr_high, lr_low, data_seed=0, progress=True):
    """Train the trained `model` on with a cyclic learning rate; a snapshot at each learning-rate minimum.

    Returns one dict per cycle: "iteration" (steps taken since the start of FGE), "lr" (that of the last
    step) and "state" (a copy of the weights).
    """
    snapshots = []

    def keep_minimum(step, lr):
        if step % cycle == cycle // 2 - 1:  # this step used lr_low
            snapshots.append(dict(iteration=step + 1, lr=lr, state=copy.deepcopy(model.state_dict())))

    schedule = lambda step: cyclic_learning_rate(step, cycle, lr_high, lr_low)
    train_on(model, data, config, cycles * cycle, schedule, data_seed, keep_minimum, progress, "FGE cycles")
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


@dataclass
class FGEResult:
    """Test accuracies at one budget (config.budget iterations): FGE's ensemble and its baselines."""

    config: FGEConfig
    start_acc: float  # the trained network FGE starts from (the recipe's iterations, fewer than B)
    fge_acc: float
    single_acc: float
    annealed_single_acc: float
    independent_acc: float
    snapshots: list  # per snapshot: iteration, lr, test_acc
    ensemble_accs: list  # the accuracy of the ensemble of the first n snapshots, n = 1, 2, ...

    @property
    def budget(self):
        return self.config.budget

    @property
    def independent_seeds(self):
        return self.config.independent_seeds

    @property
    def best_snapshot_acc(self):
        return max(s["test_acc"] for s in self.snapshots)

    def summary(self):
        """Every figure: the budget, each accuracy, the independent members' seeds, the snapshots."""
        figures = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "config"}
        extra = ("budget", "independent_seeds", "best_snapshot_acc")
        return {**figures, **{name: getattr(self, name) for name in extra}}

    def table(self):
        """One FGERow per network or ensemble compared, all at the same budget but the start network."""
        config, members = self.config, self.config.independent
        return [
            FGERow("start network", 1, config.train.iterations, self.start_acc),
            FGERow("FGE ensemble", len(self.snapshots), self.budget, self.fge_acc),
            FGERow("best FGE snapshot (chosen on the test set)", 1, self.budget, self.best_snapshot_acc),
            FGERow("single network, whole budget", 1, self.budget, self.single_acc),
            FGERow("start network trained on, learning rate annealed", 1, self.budget, self.annealed_single_acc),
            FGERow("independent ensemble", members, members * (self.budget // members), self.independent_acc),
        ]

    def to_json(self):
        """The settings and every figure (what `ltkit fge --json` writes)."""
        return dict(config=self.config.to_dict(), **self.summary())


@dataclass
class FGERow:
    compared: str
    networks: int  # whose softmax outputs are averaged
    iterations: int  # of training in all, for all of them together
    test_acc: float


def fge_run(config, context):
    """FGE from one trained network against its baselines at the same budget, compared now or loaded from
    the cache."""
    run = context.run("fge", config, records=(FGEResult, FGEConfig, TrainConfig))
    return run.cached("result", lambda: compare_fge(config, context), device=context.device)


def compare_fge(config, context):
    data, progress = context.data, context.progress
    model = new_model(config, data)
    start_state = dense_weights(config, context, config.seed)
    accuracy = lambda states: ensemble_accuracy(model, states, data.x_test, data.y_test)
    start_acc = accuracy([start_state])

    model.load_state_dict(start_state)
    snapshot_args = (config.cycles, config.cycle, config.lr_high, config.lr_low)
    snapshots = fge_snapshots(model, data, config.train, *snapshot_args, data_seed=config.seed, progress=progress)

    extra = config.cycles * config.cycle
    annealed = new_model(config, data)
    annealed.load_state_dict(start_state)
    schedule = lambda step: annealed_learning_rate(step, extra, config.lr_high, config.lr_low)
    train_on(annealed, data, config.train, extra, schedule, config.seed, progress=progress, desc="annealed single")

    single = dense_weights(config, context, config.seed, config.budget)
    members = dense_states(config, context, config.independent_seeds, config.budget // config.independent)
    return FGEResult(
        config=config,
        start_acc=start_acc,
        fge_acc=accuracy([s["state"] for s in snapshots]),  # the last of ensemble_accs
        single_acc=accuracy([single]),
        annealed_single_acc=evaluate(annealed, data.x_test, data.y_test)[1],
        independent_acc=accuracy(members),
        snapshots=[dict(iteration=s["iteration"], lr=s["lr"], test_acc=accuracy([s["state"]])) for s in snapshots],
        ensemble_accs=[accuracy([s["state"] for s in snapshots[:n]]) for n in range(1, len(snapshots) + 1)],
    )


run_fge = register(
    "fge",
    FGEConfig,
    fge_run,
    FGEResult,
    "fast geometric ensembling against one network and an independent ensemble at the same budget",
    defaults=fge_defaults,
)
fge_config = run_fge.config
