"""After pruning a trained network (experiments.retraining): fine-tuning, weight rewinding, learning-rate rewinding."""

import copy

import pytest
import torch

from ltkit.engine.training import TrainConfig, learning_rate
from ltkit.errors import LtkitError
from ltkit.experiments import retraining
from ltkit.experiments.dense import dense_run, rewind_weights
from ltkit.experiments.registry import Context
from ltkit.experiments.retraining import RETRAININGS, RetrainConfig, RetrainRow, retrain_config, run_retraining

STEPPED = TrainConfig(optimizer="sgd", lr=0.1, batch_size=100, iterations=40, eval_every=10, milestones=(20, 30))
CONFIG = RetrainConfig("mnist1d", "mlp", STEPPED, weights_remaining=(0.5, 0.2), rewind_iter=20)


def same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)


@pytest.fixture
def started(monkeypatch):
    """How every retraining started: {desc: (weights, job)}."""
    seen, real = {}, retraining.train_together

    def spy(jobs, data, progress=True):
        for job in jobs:
            seen[job.desc] = (copy.deepcopy(job.model.state_dict()), job)
        return real(jobs, data, progress)

    monkeypatch.setattr(retraining, "train_together", spy)
    return seen


def test_each_retraining_starts_as_renda_et_al_define_it(mnist1d, data_root, started, count_training):
    result = run_retraining(CONFIG, data=mnist1d, progress=False)
    trained, w_k = dense_run(CONFIG, Context(mnist1d)).state, rewind_weights(CONFIG, mnist1d, 20)
    final_lr = learning_rate(STEPPED, 39)
    assert final_lr == pytest.approx(0.001)
    for kept in CONFIG.weights_remaining:
        state, job = {}, {}
        for name in RETRAININGS:
            state[name], job[name] = started[f"{name} {100 * kept:g}%"]
            assert job[name].start_iter == 20 and job[name].data_seed == CONFIG.seed
        assert same_state(state["fine_tuning"], trained) and same_state(state["lr_rewinding"], trained)
        assert same_state(state["weight_rewinding"], w_k)
        assert job["fine_tuning"].config.lr == final_lr and job["fine_tuning"].config.milestones == ()
        assert job["lr_rewinding"].config == job["weight_rewinding"].config == STEPPED  # the schedule from k
        masks = [job[name].mask for name in RETRAININGS]
        assert all(same_state(masks[0], other) for other in masks[1:])  # one mask, from the trained weights
        kept_fraction = sum(int(m.sum()) for m in masks[0].values()) / sum(m.numel() for m in masks[0].values())
        assert kept_fraction == pytest.approx(kept, abs=0.01)
    rows = result.to_json()["rows"]
    assert [row["weights_remaining"] for row in rows] == [0.5, 0.2] and set(rows[0]) == {
        "weights_remaining",
        *RETRAININGS,
    }
    table = result.table()
    assert table == [RetrainRow(row["weights_remaining"], *(row[name] for name in RETRAININGS)) for row in rows]
    count_training.clear()
    again = run_retraining(CONFIG, data=mnist1d, progress=False)
    assert count_training == [] and again.to_json() == result.to_json()


def test_the_budget_must_fit_the_run():
    with pytest.raises(LtkitError, match="rewind iteration"):
        RetrainConfig("mnist1d", "mlp", STEPPED, rewind_iter=40)
    with pytest.raises(LtkitError, match="fractions"):
        RetrainConfig("mnist1d", "mlp", STEPPED, weights_remaining=(1.0,), rewind_iter=20)


def test_the_lessons_comparison_is_the_default_network_with_k_at_half_the_run():
    config = retrain_config(profile="ci", seed=3)
    assert (config.dataset, config.model, config.scope) == ("mnist1d", "cnn1d", "global")
    assert config.rewind_iter == config.train.iterations // 2 and config.seed == 3
    assert retrain_config("mnist1d", "mlp", "ci", rewind_iter=10).scope == "layerwise"
    with pytest.raises(LtkitError, match=r"retrain_config\(\) has no setting weight_remaining"):
        retrain_config(profile="ci", weight_remaining=(0.5,))
