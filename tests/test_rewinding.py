"""Late rewinding: IMP rewound to each k, matching against the dense network, and the subnetwork's stability."""

import json
from dataclasses import replace

import pytest

from ltkit.cli import main
from ltkit.engine.training import TrainConfig
from ltkit.errors import LtkitError
from ltkit.experiments.instability import InstabilityConfig, run_instability, ticket_sweep
from ltkit.experiments.profiles import REWINDING
from ltkit.experiments.registry import Context
from ltkit.experiments.rewinding import RewindingConfig, rewinding_config, run_rewinding
from ltkit.experiments.stats import matching

SGD = TrainConfig(optimizer="sgd", lr=0.1, momentum=0.9, batch_size=50, iterations=40, eval_every=20)
CONFIG = RewindingConfig(
    "mnist1d",
    "cnn1d",
    SGD,
    rates=0.5,
    scope="global",
    points=5,
    train_examples=500,
    pairs=2,
    rewind_iters=(0, 10),
    weights_remaining=0.3,
    dense_seeds=3,
)


def test_each_k_gives_its_subnetworks_final_accuracy_matching_and_barrier(mnist1d, count_training):
    result = run_rewinding(CONFIG, data=mnist1d)
    reference = matching(CONFIG, mnist1d, seeds=3)
    assert result.matching.dense_final_accs == reference.dense_final_accs
    assert result.weights_remaining == pytest.approx(0.25, abs=0.01)  # 0.5, 0.25: the round nearest 0.3
    count_training.clear()
    same = dict(rates=0.5, scope="global", points=5, train_examples=500, pairs=2, rewind_iters=(0, 10))
    tickets = InstabilityConfig("mnist1d", "cnn1d", SGD, **same, weights_remaining=0.3, arms=("ticket",))
    assert CONFIG.instability() == tickets
    instability = run_instability(tickets, data=mnist1d)
    assert count_training == []  # the same trainings: from the cache
    for row, measured in zip(result.table(), instability.rows):
        sweep = ticket_sweep(tickets, Context(mnist1d), row.k)
        accuracy = sweep.nearest_round(0.3).results["ticket"].final_test_acc
        assert row.k == measured["k"] and row.ticket_final_acc == accuracy
        assert row.matching == (accuracy >= reference.threshold)
        assert row.barrier == measured["ticket"].barrier and row.pairs == 2
        assert row.barrier_std == measured["ticket"].barrier_std
        assert row.stable == (measured["ticket"].barrier < 0.02)
    assert count_training == []


def test_the_lessons_experiment_and_bad_settings(mnist1d):
    config = rewinding_config(profile="ci", seed=3)
    lesson = {name: REWINDING[name] for name in ("rewind_iters", "weights_remaining", "pairs")}
    assert {name: getattr(config, name) for name in lesson} == lesson
    assert (config.dataset, config.model) == REWINDING["network"]
    assert config.dense_seeds == 5 and config.seed == 3 and config.scope == "global"
    with pytest.raises(LtkitError, match="at least 2 dense seeds"):
        replace(CONFIG, dense_seeds=1)
    with pytest.raises(LtkitError, match="give weights_remaining"):
        replace(CONFIG, weights_remaining=None)
    with pytest.raises(LtkitError, match="rewind iteration 40 must be in 0..39"):
        replace(CONFIG, rewind_iters=(0, 40))
    with pytest.raises(LtkitError, match=r"rewinding_config\(\) has no setting arms"):
        rewinding_config(profile="ci", arms=("dense",))


def test_the_command_prints_a_table_and_writes_the_promised_json(tmp_path, data_root, capsys):
    out = tmp_path / "rewinding.json"
    small = "--epochs 1 --rates 0.5 --points 5 --train-examples 500 --pairs 2 --dense-seeds 3 --rewind-iters 0,30"
    assert main(["rewinding", "--profile", "ci", *small.split(), "--weights-remaining", "0.3", "--json", str(out)]) == 0
    assert "matching" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert {"config", "weights_remaining", "dense_final_acc", "dense_final_accs", "matching_threshold"} <= set(report)
    assert report["config"]["model"] == "cnn1d" and report["config"]["train"]["iterations"] == 35  # one epoch
    assert [row["k"] for row in report["rewind"]] == [0, 30]
    for row in report["rewind"]:
        assert set(row) == {"k", "ticket_final_acc", "barrier", "barrier_std", "pairs", "matching", "stable"}
