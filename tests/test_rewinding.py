"""Late rewinding: IMP rewound to each k, matching against the dense network, and the subnetwork's stability."""

import json

import pytest

from ltkit.cli import main
from ltkit.engine.training import TrainConfig
from ltkit.experiments.instability import InstabilityConfig, run_instability, ticket_sweep
from ltkit.experiments.profiles import REWINDING
from ltkit.experiments.rewinding import run_rewinding
from ltkit.experiments.stats import matching

SGD = TrainConfig(optimizer="sgd", lr=0.1, momentum=0.9, batch_size=50, iterations=40, eval_every=20)
CONFIG = InstabilityConfig("mnist1d", "cnn1d", SGD, rates=0.5, scope="global", points=5, train_examples=500, pairs=2)


def test_each_k_gives_its_subnetworks_final_accuracy_matching_and_barrier(mnist1d):
    result = run_rewinding(CONFIG, rewind_iters=[0, 10], weights_remaining=0.3, dense_seeds=3, data=mnist1d)
    reference = matching(CONFIG, mnist1d, seeds=3)
    assert result.matching.dense_final_accs == reference.dense_final_accs
    assert result.weights_remaining == pytest.approx(0.25, abs=0.01)  # 0.5, 0.25: the round nearest 0.3
    instability = run_instability(CONFIG, [0, 10], 0.3, arms=("ticket",), data=mnist1d)
    for row, measured in zip(result.rows, instability):
        sweep = ticket_sweep(CONFIG, mnist1d, row["k"], 0.3)
        accuracy = sweep.nearest_round(0.3).results["ticket"].final_test_acc
        assert row["k"] == measured["k"] and row["ticket_final_acc"] == accuracy
        assert row["matching"] == (accuracy >= reference.threshold)
        assert row["barrier"] == measured["ticket"].barrier and row["pairs"] == 2
        assert row["stable"] == (measured["ticket"].barrier < 0.02)


def test_the_command_prints_a_table_and_writes_the_promised_json(tmp_path, data_root, capsys, monkeypatch):
    from ltkit import cli

    monkeypatch.setattr(cli, "rewinding_config", lambda profile, seed: CONFIG)
    monkeypatch.setitem(REWINDING, "rewind_iters", (0, 30))  # within this short run
    out = tmp_path / "rewinding.json"
    assert main(["rewinding", "--profile", "ci", "--json", str(out)]) == 0
    assert "matching" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert {"config", "weights_remaining", "dense_final_acc", "rewind"} <= set(report)
    assert [row["k"] for row in report["rewind"]] == [0, 30]
    for row in report["rewind"]:
        assert {"k", "ticket_final_acc", "barrier", "barrier_std", "pairs", "matching", "stable"} <= set(row)
