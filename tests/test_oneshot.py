"""One-shot pruning of a trained network, with and without retraining (experiments.oneshot)."""

import copy
from dataclasses import replace

import pytest
import torch
from torch.nn.utils import prune

from ltkit.engine.masks import layer_kinds
from ltkit.engine.models import build_model
from ltkit.engine.training import TrainConfig, evaluate, resize, train
from ltkit.errors import LtkitError
from ltkit.experiments import dense
from ltkit.experiments.dense import dense_run, new_model, train_dense
from ltkit.experiments.oneshot import (
    OneShotConfig,
    OneShotRow,
    oneshot_config,
    prune_once,
    pruned_accuracy,
    pruned_copy,
    run_oneshot,
)
from ltkit.experiments.profiles import training_recipe
from ltkit.experiments.registry import Context

SHORT = TrainConfig(lr=1e-2, iterations=60, batch_size=50, eval_every=20)


@pytest.fixture
def trained(tiny_data):
    model = build_model("mlp", tiny_data.input_shape, seed=1)
    train(model, tiny_data, SHORT, progress=False)
    return model


def torch_pruned(model, keep, scope):
    """`model` pruned by torch.nn.utils.prune to keep a fraction `keep` (per layer, or of all weights)."""
    reference = copy.deepcopy(model)
    modules = dict(reference.named_modules())
    targets = [(modules[name.removesuffix(".weight")], "weight") for name in layer_kinds(reference)]
    if scope == "layerwise":
        for module, name in targets:
            prune.l1_unstructured(module, name, amount=1 - keep)
    else:
        prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=1 - keep)
    for module, name in targets:
        prune.remove(module, name)
    return reference


@pytest.mark.parametrize("scope", ["layerwise", "global"])
def test_one_shot_pruning_keeps_the_largest_trained_weights_as_torch_would(trained, scope):
    mask = prune_once(trained, 0.3, scope)
    expected = torch_pruned(trained, 0.3, scope).state_dict()
    for name, keep in mask.items():
        assert torch.equal(keep, expected[name] != 0), name
    kept = sum(int(keep.sum()) for keep in mask.values())
    assert kept == pytest.approx(0.3 * sum(keep.numel() for keep in mask.values()), abs=3)


def test_a_pruned_copy_zeroes_the_pruned_weights_and_leaves_the_network_alone(trained):
    before = copy.deepcopy(trained.state_dict())
    mask = prune_once(trained, 0.2)
    pruned = pruned_copy(trained, mask)
    assert all(torch.equal(value, before[name]) for name, value in trained.state_dict().items())
    for name, value in pruned.state_dict().items():
        expected = before[name] * mask[name] if name in mask else before[name]
        assert torch.equal(value, expected), name


@pytest.mark.parametrize("keep, scope", [(1.0, "layerwise"), (0.3, "global"), (0.05, "layerwise")])
def test_pruned_accuracy_is_the_test_accuracy_of_the_network_pruned_without_retraining(trained, tiny_data, keep, scope):
    accuracy, mask = pruned_accuracy(trained, tiny_data, keep, scope)
    reference = torch_pruned(trained, keep, scope)
    assert accuracy == evaluate(reference, tiny_data.x_test, tiny_data.y_test)[1]
    assert all(torch.equal(mask[name], reference.state_dict()[name] != 0) for name in mask)
    if keep == 1.0:
        assert accuracy == evaluate(trained, tiny_data.x_test, tiny_data.y_test)[1]


SHORT_DENSE = TrainConfig(lr=1e-2, iterations=60, batch_size=100, eval_every=20)
CONFIG = OneShotConfig("mnist1d", "mlp", SHORT_DENSE, seed=1, weights_remaining=0.1, retrain_iterations=30)


def dense_network(config, data):
    network = new_model(config, data)
    network.load_state_dict(dense_run(config, Context(data, progress=False)).state)
    return network


def test_retraining_starts_from_the_pruned_dense_network_and_is_cached(mnist1d, count_training):
    result = run_oneshot(CONFIG, data=mnist1d, progress=False)
    assert count_training == ["dense", "retraining 10%"]
    assert [row["iteration"] for row in result.retrained.history][-1] == 30
    trained = dense_network(CONFIG, mnist1d)
    mask = prune_once(trained, 0.1)
    start = pruned_copy(trained, mask)
    assert result.retrained.history[0]["val_loss"] == evaluate(start, mnist1d.x_val, mnist1d.y_val)[0]
    again = train(start, mnist1d, resize(SHORT_DENSE, 30), mask=mask, data_seed=1, progress=False)
    assert result.retrained.final_test == again.final_test  # the same run: survivors trained on from their values
    assert result.pruned_test_acc == pruned_accuracy(trained, mnist1d, 0.1)[0]
    assert result.weights_remaining == pytest.approx(0.1, abs=0.01)
    assert result.table() == [
        OneShotRow(
            result.weights_remaining,
            result.dense_final_test_acc,
            result.pruned_test_acc,
            result.retrained.final_test_acc,
        )
    ]
    cached = run_oneshot(CONFIG, data=mnist1d, progress=False)
    assert cached.to_json() == result.to_json() and count_training == ["dense", "retraining 10%"]
    run_oneshot(replace(CONFIG, seed=2), data=mnist1d, progress=False)
    assert count_training[-2:] == ["dense", "retraining 10%"]  # another dense network: computed, not served


def test_retraining_on_another_split_of_the_data_is_not_served_from_the_cache(mnist1d):
    config = replace(CONFIG, weights_remaining=0.5, retrain_iterations=20)
    first = run_oneshot(config, data=mnist1d, progress=False)
    other_split = replace(mnist1d, x_val=mnist1d.x_test, y_val=mnist1d.y_test, split_id="test as validation")
    second = run_oneshot(config, data=other_split, progress=False)
    start = pruned_copy(dense_network(config, other_split), prune_once(dense_network(config, other_split), 0.5))
    assert second.retrained.history[0]["val_loss"] == evaluate(start, other_split.x_val, other_split.y_val)[0]
    assert str(second.retrained.history) != str(first.retrained.history)


def test_lesson_02s_retraining_prunes_the_very_network_train_dense_gave_it(mnist1d, monkeypatch, count_training):
    config = oneshot_config("fashion-mnist", "lenet300_100", "ci", seed=10, weights_remaining=0.05)
    assert config.train == training_recipe("fashion-mnist", "lenet300_100", "ci")  # what train_dense trains by
    assert config.retrain_iterations == config.train.iterations // 2 and config.scope == "layerwise"
    monkeypatch.setattr(dense, "training_recipe", lambda dataset, model, profile: SHORT_DENSE)
    network, _ = train_dense(mnist1d, "mlp", "ci", seed=4, progress=False)
    result = run_oneshot(oneshot_config("mnist1d", "mlp", train=SHORT_DENSE, seed=4), data=mnist1d, progress=False)
    assert count_training == ["dense", "retraining 10%"]  # the dense network once, by train_dense
    assert result.pruned_test_acc == pruned_accuracy(network, mnist1d, 0.1)[0]


def test_bad_settings_are_explained():
    with pytest.raises(LtkitError, match=r"fraction of weights to keep must be in \(0, 1\]"):
        OneShotConfig("mnist1d", "mlp", SHORT, weights_remaining=0)
    with pytest.raises(LtkitError, match="retrain_iterations must be 1 or more"):
        OneShotConfig("mnist1d", "mlp", SHORT, retrain_iterations=0)
    with pytest.raises(LtkitError, match=r"oneshot_config\(\) has no setting iterations"):
        oneshot_config("mnist1d", "mlp", "ci", iterations=30)


def test_a_fraction_outside_zero_to_one_is_explained(trained):
    for bad in (0, 1.2):
        with pytest.raises(LtkitError, match=r"fraction of weights to keep must be in \(0, 1\]"):
            prune_once(trained, bad)
