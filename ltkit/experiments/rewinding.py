"""Late rewinding (Frankle et al. 2020): rewinding to an early iteration k finds tickets that k=0 cannot.

In large networks trained at high learning rates, IMP rewound to the initialisation (k=0) finds no
matching subnetworks, and those subnetworks are unstable: two copies trained with different data orders
end in different valleys. Rewinding instead to the weights of an early iteration k > 0 (a few percent of
training) gives subnetworks that are stable and match the dense network. The experiment here puts the
two measurements side by side, for each k: the final test accuracy of IMP's subnetwork at a given
sparsity against the dense network's (matching, as ltkit.experiments.stats defines it), and its instability.
"""

from dataclasses import dataclass

from ltkit.engine.datasets import data_for
from ltkit.experiments.instability import STABLE_BELOW, InstabilityConfig, run_instability, ticket_sweep
from ltkit.experiments.profiles import REWINDING, pruning, sizes, training_recipe, with_overrides
from ltkit.experiments.stats import Matching, matching


def rewinding_config(profile=None, epochs=None, lr=None, **fields):
    """The lesson's late-rewinding experiment (profiles.REWINDING: the network, its recipe, the sparsity
    and the iterations k) as an InstabilityConfig; keyword arguments replace fields."""
    dataset, model = REWINDING["dataset"], REWINDING["model"]
    train_config = training_recipe(dataset, model, profile, epochs, lr)
    defaults = {**pruning(model), **sizes(profile, "instability"), "pairs": REWINDING["pairs"]}
    fields = with_overrides(defaults, fields, InstabilityConfig, "rewinding_config")
    return InstabilityConfig(dataset, model, train_config, **fields)


@dataclass
class RewindingResult:
    weights_remaining: float  # of the subnetworks compared (the IMP round nearest the target)
    matching: Matching  # the dense network's final test accuracy on several seeds
    rows: list  # per k: {"k", "ticket_final_acc", "barrier", "barrier_std", "pairs", "matching", "stable"}

    def to_json(self):
        """What `ltkit rewinding --json` writes (besides the config)."""
        return dict(
            weights_remaining=self.weights_remaining,
            dense_final_acc=self.matching.dense_final_acc,
            dense_final_accs=self.matching.dense_final_accs,
            matching_threshold=self.matching.threshold,
            rewind=self.rows,
        )


def run_rewinding(
    config, rewind_iters=None, weights_remaining=None, dense_seeds=5, data=None, device="cpu", cache=True, progress=True
):
    """For each k in `rewind_iters` (default: the lesson's): IMP rewinding to k down to about
    `weights_remaining` (default: the lesson's); the final test accuracy of its subnetwork there, whether
    that matches the dense network (over `dense_seeds` seeds from config.seed), and the subnetwork's
    instability (barrier between copies trained from k, stable below 2 points)."""
    rewind_iters = rewind_iters or REWINDING["rewind_iters"]
    weights_remaining = weights_remaining or REWINDING["weights_remaining"]
    data = data_for(config, data, device)
    reference = matching(config, data, dense_seeds, cache, progress)
    instability = run_instability(
        config, rewind_iters, weights_remaining, arms=("ticket",), data=data, cache=cache, progress=progress
    )
    rows = []
    for row in instability:
        ticket = row["ticket"]
        sweep = ticket_sweep(config, data, row["k"], weights_remaining, cache, progress)
        accuracy = sweep.nearest_round(weights_remaining).results["ticket"].final_test_acc
        rows.append(
            dict(
                k=row["k"],
                ticket_final_acc=accuracy,
                barrier=ticket.barrier,
                barrier_std=ticket.barrier_std,
                pairs=len(ticket.barriers),
                matching=reference(accuracy),
                stable=ticket.barrier < STABLE_BELOW,
            )
        )
    kept = instability[0]["ticket"].weights_remaining
    return RewindingResult(weights_remaining=kept, matching=reference, rows=rows)
