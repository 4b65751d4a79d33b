"""Weight matching: reordering hidden units keeps the function, a shuffled copy is found again, and aligning
two independently trained networks lowers the barrier on the line between them."""

from dataclasses import replace

import pytest
import torch

from ltkit.engine.models import build_model
from ltkit.engine.training import TrainConfig, train
from ltkit.errors import LtkitError
from ltkit.experiments.align import (
    AlignConfig,
    AlignRow,
    align_config,
    linear_layers,
    match_weights,
    permute_units,
    run_alignment,
)
from ltkit.experiments.curves import curve_config
from ltkit.experiments.dense import two_initialisations
from ltkit.experiments.paths import evaluate_line

SHORT = TrainConfig(lr=1e-2, batch_size=100, iterations=600, eval_every=100)


def shuffled_orders(state, layers, seed):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randperm(state[f"{layer}.bias"].numel(), generator=generator) for layer in layers[:-1]]


@pytest.fixture
def trained(tiny_data):
    model = build_model("lenet300_100", (20,), seed=0)
    train(model, tiny_data, replace(SHORT, iterations=100), progress=False)
    return model


def test_reordering_hidden_units_changes_the_weights_but_not_the_function(trained, tiny_data):
    layers = linear_layers(trained)
    state = trained.state_dict()
    shuffled = permute_units(state, layers, shuffled_orders(state, layers, seed=1))
    assert not torch.equal(shuffled[f"{layers[0]}.weight"], state[f"{layers[0]}.weight"])
    assert torch.equal(shuffled[f"{layers[-1]}.bias"], state[f"{layers[-1]}.bias"])  # the classes keep their order
    before = trained(tiny_data.x_test)
    trained.load_state_dict(shuffled)
    torch.testing.assert_close(trained(tiny_data.x_test), before, rtol=1e-5, atol=1e-5)


def test_weight_matching_finds_a_shuffled_copy_again_and_its_line_has_no_barrier(trained, tiny_data):
    layers = linear_layers(trained)
    state = {name: value.clone() for name, value in trained.state_dict().items()}  # the lines load into trained
    shuffled = permute_units(state, layers, shuffled_orders(state, layers, seed=2))
    orders, sweeps = match_weights(state, shuffled, layers)
    restored = permute_units(shuffled, layers, orders)
    assert all(torch.equal(restored[name], state[name]) for name in state) and sweeps <= 3
    line = evaluate_line(trained, state, shuffled, tiny_data, points=5)
    aligned = evaluate_line(trained, state, restored, tiny_data, points=5)
    assert aligned.barrier == 0 and aligned.test_loss == pytest.approx([aligned.test_loss[0]] * 5)  # one network
    assert line.barrier > 0 and max(line.test_loss) > 100 * line.test_loss[0]  # mixing unrelated units


def test_aligning_two_independent_networks_lowers_their_barrier_and_is_cached(mnist1d, count_training):
    config = AlignConfig("mnist1d", "mlp", SHORT, points=11)
    result = run_alignment(config, data=mnist1d, progress=False)
    assert result.seeds == list(two_initialisations(0)) and count_training == ["dense", "dense"]
    assert result.line.test_err[0] == result.aligned.test_err[0]
    assert result.line.test_err[-1] == pytest.approx(result.aligned.test_err[-1], abs=1e-3)  # the same network
    assert result.line.barrier > 0.15 and result.aligned.barrier < result.line.barrier / 2
    assert result.summary() == dict(barrier_before=result.line.barrier, barrier_after=result.aligned.barrier)
    rows, line, aligned = result.table(), result.line, result.aligned
    assert len(rows) == 11 and rows[3] == AlignRow(line.t[3], line.test_err[3], aligned.test_err[3])
    report = result.to_json()
    assert report["config"] == config.to_dict() and report["seeds"] == result.seeds
    assert report["barrier_after"] == result.aligned.barrier and report["aligned"] == result.aligned.points()
    count_training.clear()
    assert run_alignment(config, data=mnist1d, progress=False) == result and count_training == []


def test_alignment_is_measured_at_the_curves_points_on_the_curves_two_networks():
    config, curve = align_config("mnist1d", "mlp", "ci", seed=3), curve_config("mnist1d", "mlp", "ci", seed=3)
    shared = ("train", "seed", "points", "train_examples")
    assert [getattr(config, name) for name in shared] == [getattr(curve, name) for name in shared]


def test_networks_with_convolutions_are_refused_with_the_models_that_work(mnist1d):
    with pytest.raises(LtkitError, match=r"fully connected layers only \(mlp, lenet300_100\); CNN1D"):
        run_alignment(AlignConfig("mnist1d", "cnn1d", SHORT), data=mnist1d, progress=False)
