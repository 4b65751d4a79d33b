"""Sweeps over seeds, summarised: means, spreads, gaps between the ticket and its controls, and matching.

A claim about tickets is a claim about a distribution over initialisations and data orders: these
functions turn several seeds' sweeps into the mean and standard deviation a figure or a check uses, and
define once what "matching the dense network" means.
"""

from dataclasses import replace

import torch

from ltkit.dense import dense_run
from ltkit.errors import LtkitError
from ltkit.imp import ARMS


def across_seeds(results, measure="test_acc"):
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
        per_round = torch.tensor(values, dtype=torch.float64).T
        summary[arm] = dict(
            weights_remaining=[r.weights_remaining for r in results[0].rounds],
            mean=per_round.mean(1).tolist(),
            std=(per_round.std(1) if per_round.shape[1] > 1 else torch.zeros(len(per_round))).tolist(),
            values=per_round.tolist(),
        )
    return summary


def controls_table(results, weights_remaining, measure="test_acc"):
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


def dense_spread(config, data, seeds=5, cache=True, progress=True):
    """Final test accuracies of the dense network of `config`'s recipe on `seeds` seeds (config.seed and
    the ones after it), trained or loaded from the cache: the reference a subnetwork is matched against."""
    runs = [dense_run(replace(config, seed=config.seed + i), data, cache, progress) for i in range(seeds)]
    return [run.result.final_test_acc for run in runs]


def matching_threshold(dense_accuracies):
    """The accuracy a subnetwork must reach to be *matching* (Frankle et al. 2020): the dense network's
    mean final test accuracy minus one standard deviation over seeds."""
    values = torch.tensor(dense_accuracies, dtype=torch.float64)
    return (values.mean() - values.std()).item()


def is_matching(final_test_acc, dense_accuracies):
    """Whether a subnetwork, trained for as many iterations as the dense network, matches it: its final
    test accuracy is at least `matching_threshold(dense_accuracies)`."""
    return final_test_acc >= matching_threshold(dense_accuracies)
