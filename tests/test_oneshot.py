"""One-shot pruning of a trained network, with and without retraining."""

import copy
from dataclasses import replace

import pytest
import torch
from torch.nn.utils import prune

from ltkit.engine.masks import layer_kinds
from ltkit.engine.models import build_model
from ltkit.engine.training import TrainConfig, evaluate, resize, train
from ltkit.errors import LtkitError
from ltkit.experiments.oneshot import prune_once, pruned_accuracy, pruned_copy, retrain_pruned

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


def test_retraining_starts_from_the_pruned_trained_weights_and_is_cached(trained, tiny_data, data_root, count_training):
    result = retrain_pruned(trained, tiny_data, 0.1, SHORT, iterations=30, progress=False)
    assert [row["iteration"] for row in result.history][-1] == 30 and count_training == ["retraining 10%"]
    start = pruned_copy(trained, prune_once(trained, 0.1))
    assert result.history[0]["val_loss"] == evaluate(start, tiny_data.x_val, tiny_data.y_val)[0]
    again = train(start, tiny_data, resize(SHORT, 30), mask=prune_once(trained, 0.1), progress=False)
    assert result.final_test == again.final_test  # the same run: survivors trained on from their values
    cached = retrain_pruned(trained, tiny_data, 0.1, SHORT, iterations=30, progress=False)
    assert str(cached.history) == str(result.history) and count_training == ["retraining 10%"]
    other = build_model("mlp", tiny_data.input_shape, seed=2)
    retrain_pruned(other, tiny_data, 0.1, SHORT, iterations=30, progress=False)
    assert count_training[-1] == "retraining 10%"  # other weights: computed, not served from the cache


def test_retraining_on_another_split_of_the_data_is_not_served_from_the_cache(trained, tiny_data, data_root):
    first = retrain_pruned(trained, tiny_data, 0.5, SHORT, iterations=20, progress=False)
    other_split = replace(tiny_data, x_val=tiny_data.x_test, y_val=tiny_data.y_test, split_id="test as validation")
    second = retrain_pruned(trained, other_split, 0.5, SHORT, iterations=20, progress=False)
    start = pruned_copy(trained, prune_once(trained, 0.5))
    assert second.history[0]["val_loss"] == evaluate(start, other_split.x_val, other_split.y_val)[0]
    assert str(second.history) != str(first.history)


def test_a_fraction_outside_zero_to_one_is_explained(trained):
    for bad in (0, 1.2):
        with pytest.raises(LtkitError, match=r"fraction of weights to keep must be in \(0, 1\]"):
            prune_once(trained, bad)
