"""Sweeps over seeds summarised: checked against hand-made sweeps whose figures are known."""

import statistics
from dataclasses import replace

import pytest

from ltkit.engine.training import TrainConfig, TrainResult
from ltkit.errors import LtkitError
from ltkit.experiments.dense import dense_run
from ltkit.experiments.imp import IMPConfig, IMPResult, Round, imp_config
from ltkit.experiments.registry import Context
from ltkit.experiments.stats import Matching, across_seeds, controls_table, matching, rounds_table

CONFIG = imp_config("mnist1d", "mlp", "ci")
REMAINING = [1.0, 0.5, 0.25]


def result_with(test_acc, stop):
    history = [dict(iteration=stop, val_loss=0.5, val_acc=0.8), dict(iteration=stop + 10, val_loss=0.9, val_acc=0.7)]
    return TrainResult(history=history, early_stop_test=(0.3, test_acc / 2), final_test=(0.4, test_acc), seconds=1)


def sweep(accuracies, controls=True):
    """A finished sweep with final test accuracies {arm: [per round]} (at early stop: half of that; early-stop
    iteration 100 * accuracy)."""
    rounds = []
    for r, remaining in enumerate(REMAINING):
        arms = accuracies if controls else {"ticket": accuracies["ticket"]}
        results = {arm: result_with(values[r], round(100 * values[r])) for arm, values in arms.items()}
        rounds.append(Round(round=r, weights_remaining=remaining, masks={}, results=results, states={}))
    return IMPResult(config=CONFIG, rounds=rounds, rewind_state={}, data=None)


SEEDS = [
    sweep(dict(ticket=[0.90, 0.92, 0.85], reinit=[0.90, 0.88, 0.70], random_mask=[0.90, 0.86, 0.72])),
    sweep(dict(ticket=[0.80, 0.84, 0.83], reinit=[0.80, 0.85, 0.75], random_mask=[0.80, 0.80, 0.74])),
    sweep(dict(ticket=[0.85, 0.89, 0.81], reinit=[0.85, 0.83, 0.83], random_mask=[0.85, 0.82, 0.76])),
]


def test_across_seeds_gives_each_rounds_values_mean_and_sample_std():
    summary = across_seeds(SEEDS)
    assert set(summary) == {"ticket", "reinit", "random_mask"}
    for arm, line in summary.items():
        per_round = [[s.rounds[r].results[arm].final_test[1] for s in SEEDS] for r in range(3)]
        assert line["weights_remaining"] == REMAINING
        assert all(row == pytest.approx(expected) for row, expected in zip(line["values"], per_round))
        assert line["mean"] == pytest.approx([statistics.mean(v) for v in per_round])
        assert line["std"] == pytest.approx([statistics.stdev(v) for v in per_round])


def test_any_figure_of_a_run_can_be_summarised():
    stops = across_seeds(SEEDS, "early_stop_iter")["ticket"]["values"]
    assert stops == [[90, 80, 85], [92, 84, 89], [85, 83, 81]]
    early = across_seeds(SEEDS, "test_acc")["reinit"]["mean"]
    finals = [[0.90, 0.80, 0.85], [0.88, 0.85, 0.83], [0.70, 0.75, 0.83]]  # early-stop accuracy: half the final
    assert early == pytest.approx([statistics.mean(values) / 2 for values in finals])


def test_one_seed_has_zero_spread_and_arms_not_trained_are_left_out():
    one = across_seeds([SEEDS[0]])
    assert one["ticket"]["std"] == [0.0, 0.0, 0.0] and one["ticket"]["mean"] == pytest.approx([0.90, 0.92, 0.85])
    without = sweep(dict(ticket=[0.9, 0.9, 0.9]), controls=False)
    assert set(across_seeds([without, SEEDS[1]])) == {"ticket"}


def test_seeds_are_combined_only_for_sweeps_of_the_same_length():
    shorter = IMPResult(config=CONFIG, rounds=SEEDS[0].rounds[:2], rewind_state={}, data=None)
    with pytest.raises(LtkitError, match="same number of rounds"):
        across_seeds([shorter, SEEDS[1]])


def test_the_controls_table_gives_gaps_to_the_ticket_at_the_nearest_round():
    rows = {row["arm"]: row for row in controls_table(SEEDS, weights_remaining=0.3)}  # nearest: round 2, 25%
    ticket = [0.85, 0.83, 0.81]
    for arm, values, below in (
        ("ticket", ticket, "0 of 3"),
        ("reinit", [0.70, 0.75, 0.83], "2 of 3"),
        ("random_mask", [0.72, 0.74, 0.76], "3 of 3"),
    ):
        row = rows[arm]
        assert row["weights_remaining"] == 0.25 and row["seeds_below_ticket"] == below
        assert row["mean"] == pytest.approx(statistics.mean(values))
        assert row["std"] == pytest.approx(statistics.stdev(values))
        assert row["gap_to_ticket"] == pytest.approx(statistics.mean(t - v for t, v in zip(ticket, values)))
    assert controls_table(SEEDS, 0.6)[0]["weights_remaining"] == 0.5


def test_the_rounds_table_gives_each_arms_mean_and_spread_in_percent_per_round():
    rows = rounds_table(SEEDS)
    assert [row["weights_remaining"] for row in rows] == ["100.0%", "50.0%", "25.0%"]
    reinit = [0.70, 0.75, 0.83]
    expected = f"{100 * statistics.mean(reinit):.1f} ± {100 * statistics.stdev(reinit):.1f}"
    assert rows[2]["reinit"] == expected == "76.0 ± 6.6"
    assert rows[0]["ticket"] == rows[0]["reinit"] == rows[0]["random_mask"] == "85.0 ± 5.0"


def test_matching_is_the_dense_mean_minus_one_standard_deviation_over_seeds():
    reference = Matching([0.80, 0.84, 0.82])
    assert reference.dense_final_acc == pytest.approx(0.82)
    assert reference.threshold == pytest.approx(0.82 - 0.02)  # the sample std of 0.80, 0.82, 0.84
    assert reference(0.80) and reference(0.85) and not reference(0.7999)


def test_matching_trains_the_dense_network_on_consecutive_seeds_from_the_configs(mnist1d, count_training):
    config = IMPConfig("mnist1d", "mlp", TrainConfig(iterations=30, batch_size=50, eval_every=10), seed=4)
    reference = matching(config, mnist1d, seeds=3, progress=False)
    runs = [dense_run(replace(config, seed=seed), Context(mnist1d, progress=False)) for seed in (4, 5, 6)]
    assert reference.dense_final_accs == [run.result.final_test_acc for run in runs]
    assert count_training == ["dense"] * 3  # the second time, all three come from the cache


def test_matching_with_one_dense_seed_is_explained(mnist1d):
    config = IMPConfig("mnist1d", "mlp", TrainConfig(iterations=30, batch_size=50, eval_every=10))
    with pytest.raises(LtkitError, match="at least 2 seeds"):
        matching(config, mnist1d, seeds=1)
