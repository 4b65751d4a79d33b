"""Sweeps over seeds, summarised: means, spreads, gaps between the ticket and its controls, and matching.

A claim about tickets is a claim about a distribution over initialisations and data orders: these
functions turn several seeds' sweeps into the mean and standard deviation a figure or a check uses, and
define once what "matching the dense network" means.
"""

import statistics
from dataclasses import dataclass, replace

import torch

from ltkit.errors import LtkitError
from ltkit.experiments.dense import dense_runs
from ltkit.experiments.imp import ARMS
from ltkit.experiments.registry import Context


def across_seeds(results, measure="final_test_acc"):
    """The same sweep over several seeds, per arm: weights remaining, and `measure`'s mean, std and values
    (measure: any figure of a TrainResult, such as "test_acc", "final_test_acc" or "early_stop_iter").

    Returns {arm: {"weights_remaining": [...], "mean": [...], "std": [...], "values": [[per seed], ...]}}.
    """
    if len({len(result.rounds) for result in results}) > 1:
        raise LtkitError("across_seeds needs sweeps with the same number of rounds; run them with the same rounds=")
    summary = {}
    for arm in ARMS:
        if not all(arm in result.rounds[-1].results for result in results):
            continue
        values = [[getattr(r.results[arm], measure) for r in result.rounds] for result in results]
        summary[arm] = spread(list(zip(*values)), [r.weights_remaining for r in results[0].rounds])
    return summary


def spread(values, weights_remaining):
    """Per sparsity, the mean and standard deviation of one figure over seeds. values: one list per
    sparsity of one value per seed. Returns {"weights_remaining", "mean", "std", "values"}."""
    per_round = torch.tensor(values, dtype=torch.float64)
    return dict(
        weights_remaining=list(weights_remaining),
        mean=per_round.mean(1).tolist(),
        std=(per_round.std(1) if per_round.shape[1] > 1 else torch.zeros(len(per_round))).tolist(),
        values=per_round.tolist(),
    )


def rounds_table(results, measure="final_test_acc"):
    """One row per round of sweeps over seeds: the weights remaining, and each arm's `measure` as
    "mean ± std" in percent (round 0, the dense network, is every arm alike)."""
    summary = across_seeds(results, measure)
    rows = []
    for r, kept in enumerate(summary["ticket"]["weights_remaining"]):
        row = dict(round=r, weights_remaining=f"{100 * kept:.1f}%")
        for arm, line in summary.items():
            row[arm] = f"{100 * line['mean'][r]:.1f} ± {100 * line['std'][r]:.1f}"
        rows.append(row)
    return rows


def controls_table(results, weights_remaining, measure="final_test_acc"):
    """At the round nearest `weights_remaining`, per arm: mean and std of `measure` over seeds, the mean
    gap to the ticket, and on how many seeds the arm is below the ticket."""
    summary = across_seeds(results, measure)
    r = results[0].nearest_round(weights_remaining).round
    ticket = summary["ticket"]["values"][r]
    rows = []
    for arm, line in summary.items():
        values = line["values"][r]
        gaps = [t - v for t, v in zip(ticket, values)]
        rows.append(
            dict(
                arm=arm,
                weights_remaining=line["weights_remaining"][r],
                mean=line["mean"][r],
                std=line["std"][r],
                gap_to_ticket=sum(gaps) / len(gaps),
                seeds_below_ticket=f"{sum(g > 0 for g in gaps)} of {len(gaps)}",
            )
        )
    return rows


# --- matching, as Frankle et al. (2020) define it ----------------------------------------------------------


@dataclass
class Matching:
    """The reference a subnetwork is matched against: the dense network's final test accuracy on several
    seeds. A subnetwork trained for as many iterations *matches* (Frankle et al. 2020) when its final test
    accuracy is at least the dense mean minus one standard deviation over those seeds."""

    dense_final_accs: list

    @property
    def dense_final_acc(self):
        return statistics.mean(self.dense_final_accs)

    @property
    def threshold(self):
        return self.dense_final_acc - statistics.stdev(self.dense_final_accs)

    def __call__(self, final_test_acc):
        """Whether a subnetwork with this final test accuracy matches the dense network."""
        return final_test_acc >= self.threshold


MATCHING_SEEDS = 5  # dense networks whose spread defines matching: config.seed and the ones after it


def matching(config, data, seeds=MATCHING_SEEDS, cache=True, progress=True):
    """Matching for `config`'s recipe: its dense network trained (or loaded from the cache) on `seeds` seeds,
    config.seed and the ones after it."""
    if seeds < 2:
        raise LtkitError(f"matching needs the dense network on at least 2 seeds, for its spread; got seeds={seeds}")
    configs = [replace(config, seed=config.seed + i) for i in range(seeds)]
    runs = dense_runs(configs, Context(data, cache, progress))
    return Matching([run.result.final_test_acc for run in runs])


# --- tickets in a pre-trained network (lesson 11) ------------------------------------------------------------


def pretrained_across_seeds(results, task):
    """One task of pretrained-imp results over seeds, per line: the pre-trained ticket and its controls
    (ARMS), IMP from a random initialisation ("random_init") and each transferred mask ("<source>_mask"):
    {line: {"weights_remaining", "mean", "std", "values"}}, final test accuracy, as across_seeds gives IMP
    sweeps. Every line has every round: at round 0 its dense network (a transferred mask's: the pre-trained
    network's, which no mask prunes yet)."""

    def lines(result):
        runs = result.tasks[task]
        points = lambda rows, arm: [(row["weights_remaining"], row[arm].final_test_acc) for row in rows]
        found = {arm: points(runs.sweeps["pretrained"], arm) for arm in ARMS}
        found["random_init"] = points(runs.sweeps["random_init"], "ticket")
        for row in runs.transfer:
            line = found.setdefault(f"{row['source']}_mask", found["ticket"][:1])  # round 0: no mask yet
            line.append((row["weights_remaining"], row["result"].final_test_acc))
        return found

    per_seed = [lines(result) for result in results]
    if len({len(seed["ticket"]) for seed in per_seed}) > 1:
        raise LtkitError("pretrained_across_seeds needs results with the same number of rounds")
    return {
        name: spread([[seed[name][i][1] for seed in per_seed] for i in range(len(points))], [w for w, _ in points])
        for name, points in per_seed[0].items()
    }


def pretrained_matching(results, task):
    """Matching on `task`: the pre-trained network fine-tuned dense, over the seeds of `results`."""
    return Matching([result.tasks[task].sweeps["pretrained"][0]["ticket"].final_test_acc for result in results])
