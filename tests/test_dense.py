"""The dense network every experiment starts from: trained once, shared, and rewound exactly."""

import copy
import importlib
from dataclasses import replace

import torch

from ltkit.engine.models import build_model
from ltkit.engine.training import TrainConfig, evaluate, resize, train
from ltkit.experiments import dense
from ltkit.experiments.curves import CurveConfig
from ltkit.experiments.dense import (
    DenseConfig,
    dense_run,
    dense_weights,
    new_model,
    rewind_weights,
    train_dense,
    two_initialisations,
)
from ltkit.experiments.fge import FGEConfig
from ltkit.experiments.imp import IMPConfig
from ltkit.experiments.instability import InstabilityConfig
from ltkit.experiments.registry import Context

train_module = importlib.import_module("ltkit.engine.training")
SHORT = TrainConfig(lr=1e-2, iterations=40, batch_size=50, eval_every=20, milestones=(10,), warmup=5)


def same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)


def test_the_dense_run_is_the_network_of_its_seed_trained_with_its_seed_as_data_order(mnist1d, count_training):
    config = DenseConfig("mnist1d", "mlp", SHORT, seed=3)
    run = dense_run(config, Context(mnist1d, progress=False))
    model = build_model("mlp", mnist1d.input_shape, seed=3)
    result = train(model, mnist1d, SHORT, data_seed=3, progress=False)
    assert same_state(run.state, model.state_dict()) and str(run.result.history) == str(result.history)  # nan != nan
    assert count_training == ["dense"]
    again = dense_run(config, Context(mnist1d, progress=False))
    assert count_training == ["dense"] and same_state(again.state, run.state)


def test_every_experiment_with_the_same_recipe_and_seed_shares_one_dense_network(mnist1d, count_training):
    imp = IMPConfig("mnist1d", "mlp", SHORT, rates=0.5, rounds=3, rewind_iter=7, seed=1)
    first = dense_run(imp, Context(mnist1d, progress=False))
    others = [
        replace(imp, rates=0.3, rounds=1, rewind_iter=0, controls=(), scope="global"),
        InstabilityConfig("mnist1d", "mlp", SHORT, seed=1, points=5, pairs=3),
        CurveConfig("mnist1d", "mlp", SHORT, seed=1, points=5),
        FGEConfig("mnist1d", "mlp", SHORT, seed=1, cycles=2),
    ]
    for config in others:
        assert same_state(dense_run(config, Context(mnist1d, progress=False)).state, first.state)
    assert count_training == ["dense"]
    dense_run(replace(imp, seed=2), Context(mnist1d, progress=False))
    dense_run(replace(imp, train=replace(SHORT, lr=2e-2)), Context(mnist1d, progress=False))
    assert count_training == ["dense"] * 3


def test_rewinding_gives_exactly_the_weights_the_dense_run_had_at_iteration_k(mnist1d, monkeypatch):
    config = DenseConfig("mnist1d", "mlp", SHORT, seed=2)
    during, real_step = {}, train_module.train_step

    def recording_step(model, optimizer, x, y, mask=None):
        out = real_step(model, optimizer, x, y, mask)
        during[len(during) + 1] = copy.deepcopy(model.state_dict())
        return out

    monkeypatch.setattr(train_module, "train_step", recording_step)
    dense_run(config, Context(mnist1d, cache=False, progress=False))
    assert len(during) == 40
    monkeypatch.setattr(train_module, "train_step", real_step)
    for k in (1, 5, 15):  # in the warm-up, at its end, past the milestone
        assert same_state(rewind_weights(config, mnist1d, k), during[k]), k
    initial = build_model("mlp", mnist1d.input_shape, seed=2).state_dict()
    assert same_state(rewind_weights(config, mnist1d, 0), initial)
    assert not same_state(rewind_weights(config, mnist1d, 15), during[16])


def test_dense_weights_of_another_seed_and_length_are_that_recipe_resized(mnist1d, count_training):
    config = DenseConfig("mnist1d", "mlp", SHORT, seed=0)
    longer = dense_weights(config, Context(mnist1d, progress=False), seed=5, iterations=60)
    model = build_model("mlp", mnist1d.input_shape, seed=5)
    train(model, mnist1d, resize(SHORT, 60), data_seed=5, progress=False)
    assert same_state(longer, model.state_dict()) and resize(SHORT, 60).milestones == (15,)
    own_length = dense_weights(config, Context(mnist1d, progress=False), seed=5, iterations=40)
    assert same_state(own_length, dense_run(replace(config, seed=5), Context(mnist1d, progress=False)).state)
    assert count_training == ["dense", "dense"]  # the second length is the recipe's own: one run, shared


def test_train_dense_returns_the_cached_network_ready_to_use(mnist1d, monkeypatch, count_training):
    monkeypatch.setattr(dense, "training_recipe", lambda dataset, model, profile: SHORT)
    network, result = train_dense(mnist1d, "mlp", "ci", seed=4, progress=False)
    stored = dense_run(DenseConfig("mnist1d", "mlp", SHORT, 4), Context(mnist1d, progress=False))
    assert same_state(network.state_dict(), stored.state) and str(result.history) == str(stored.result.history)
    assert evaluate(network, mnist1d.x_test, mnist1d.y_test) == result.final_test
    assert count_training == ["dense"]


def test_a_new_model_is_the_configs_model_with_its_seed_unless_another_is_given(mnist1d):
    config = DenseConfig("mnist1d", "mlp", SHORT, seed=6)
    assert same_state(new_model(config, mnist1d).state_dict(), build_model("mlp", (40,), seed=6).state_dict())
    assert same_state(new_model(config, mnist1d, seed=0).state_dict(), build_model("mlp", (40,)).state_dict())


def test_independently_initialised_networks_share_no_seed_with_each_other_or_any_experiment_seed():
    seen = {}
    for seed in range(200):
        first, second = two_initialisations(seed)
        assert first != second and first >= 10_000 and second >= 10_000  # no experiment seed's own network
        for s in (first, second):
            assert seen.setdefault(s, seed) == seed, f"seeds {seen[s]} and {seed} share network seed {s}"
