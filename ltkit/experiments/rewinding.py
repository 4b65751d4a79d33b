"""Late rewinding (Frankle et al. 2020): rewinding to an early iteration k finds tickets that k=0 cannot.

In large networks trained at high learning rates, IMP rewound to the initialisation (k=0) finds no
matching subnetworks, and those subnetworks are unstable: two copies trained with different data orders
end in different valleys. Rewinding instead to the weights of an early iteration k > 0 (a few percent of
training) gives subnetworks that are stable and match the dense network. The experiment here puts the
two measurements side by side, for each k: the final test accuracy of IMP's subnetwork at a given
sparsity against the dense network's (matching, as ltkit.experiments.stats defines it), and its instability.
"""

from dataclasses import asdict, dataclass, fields

from ltkit.engine.masks import RATES_HELP, SCOPE_HELP, SCOPES
from ltkit.engine.training import TrainConfig
from ltkit.errors import LtkitError
from ltkit.experiments.instability import STABLE_BELOW, InstabilityConfig, measure_instability, ticket_sweep
from ltkit.experiments.profiles import REWINDING, pruning, sizes
from ltkit.experiments.registry import register
from ltkit.experiments.stats import MATCHING_SEEDS, Matching, matching
from ltkit.settings import Settings, setting


@dataclass(frozen=True)
class RewindingConfig(Settings):
    NOT_IN_KEY = ("pairs", "rewind_iters")  # as instability's: each k and pair is cached on its own

    dataset: str
    model: str
    train: TrainConfig  # how the dense network, IMP's sweeps and the copies train
    seed: int = setting(0, "initialisation and data-order seed")
    rates: object = setting(0.2, RATES_HELP)
    scope: str = setting("layerwise", SCOPE_HELP, choices=SCOPES)
    points: int = setting(30, "values of alpha on the line between copies, both ends included")
    train_examples: int = setting(10_000, "training examples for the training loss/error and BatchNorm statistics")
    pairs: int = setting(REWINDING["pairs"], "pairs of copies per k, whose barriers are averaged")
    rewind_iters: tuple = setting(REWINDING["rewind_iters"], "iterations k that IMP rewinds to", item=int)
    weights_remaining: float = setting(
        REWINDING["weights_remaining"], "the sparsity at which IMP's subnetworks are compared (a fraction)"
    )
    dense_seeds: int = setting(MATCHING_SEEDS, "seeds of the dense network whose spread defines matching")

    def __post_init__(self):
        if self.weights_remaining is None:
            raise LtkitError("late rewinding compares subnetworks: give weights_remaining, like 0.262")
        if self.dense_seeds < 2:
            raise LtkitError(f"matching needs at least 2 dense seeds (for its spread); got {self.dense_seeds}")
        self.instability()  # which checks every other setting

    def instability(self):
        """The instability analysis of IMP's subnetworks that this experiment makes (the ticket's arm)."""
        shared = {f.name: getattr(self, f.name) for f in fields(InstabilityConfig) if f.name != "arms"}
        return InstabilityConfig(**shared, arms=("ticket",))


@dataclass
class RewindingRow:
    k: int
    ticket_final_acc: float  # of IMP's subnetwork rewound to k, at the end of training
    matching: bool  # whether that matches the dense network
    barrier: float  # the subnetwork's instability: mean over pairs of copies trained from k
    barrier_std: float
    pairs: int
    stable: bool  # barrier below 2 points


@dataclass
class RewindingResult:
    config: RewindingConfig
    weights_remaining: float  # of the subnetworks compared (the IMP round nearest the target)
    matching: Matching  # the dense network's final test accuracy on several seeds
    rows: list  # a RewindingRow per k

    def table(self):
        return self.rows

    def to_json(self):
        """What `ltkit rewinding --json` writes."""
        return dict(
            config=self.config.to_dict(),
            weights_remaining=self.weights_remaining,
            dense_final_acc=self.matching.dense_final_acc,
            dense_final_accs=self.matching.dense_final_accs,
            matching_threshold=self.matching.threshold,
            rewind=[asdict(row) for row in self.rows],
        )


def late_rewinding(config, context):
    """For each k of config.rewind_iters: IMP rewinding to k down to about config.weights_remaining; the
    final test accuracy of its subnetwork there, whether that matches the dense network (over
    config.dense_seeds seeds from config.seed), and the subnetwork's instability (barrier between copies
    trained from k, stable below 2 points)."""
    reference = matching(config, context.data, config.dense_seeds, context.cache, context.progress)
    instability = measure_instability(config.instability(), context)
    rows = [rewinding_row(config, context, row["k"], row["ticket"], reference) for row in instability.rows]
    kept = instability.rows[0]["ticket"].weights_remaining
    return RewindingResult(config, kept, reference, rows)


def rewinding_row(config, context, k, ticket, reference):
    """The figures at k: the subnetwork's final accuracy (from IMP's sweep, cached) and its instability."""
    sweep = ticket_sweep(config, context, k)
    accuracy = sweep.nearest_round(config.weights_remaining).results["ticket"].final_test_acc
    return RewindingRow(
        k=k,
        ticket_final_acc=accuracy,
        matching=reference(accuracy),
        barrier=ticket.barrier,
        barrier_std=ticket.barrier_std,
        pairs=len(ticket.barriers),
        stable=ticket.barrier < STABLE_BELOW,
    )


def rewinding_defaults(dataset, model, profile, train):
    """The paper's pruning of the network, the profile's sizes of a line, and the lesson's pairs of copies."""
    return {**pruning(model), **sizes(profile, "instability"), "pairs": REWINDING["pairs"]}


run_rewinding = register(
    "rewinding",
    RewindingConfig,
    late_rewinding,
    RewindingResult,
    "late rewinding: IMP rewound to k=0 against an early k, matching and stability",
    defaults=rewinding_defaults,
    network=REWINDING["network"],
)
rewinding_config = run_rewinding.config
