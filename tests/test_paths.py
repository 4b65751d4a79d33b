"""Paths between networks: the straight line, BatchNorm statistics along it, and the error barrier."""

import copy
from dataclasses import replace

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from ltkit.engine.datasets import Splits
from ltkit.engine.masks import full_mask, layer_kinds, prune_by_magnitude
from ltkit.engine.models import build_model
from ltkit.engine.training import TrainConfig, evaluate, train
from ltkit.errors import LtkitError
from ltkit.experiments.paths import (
    PathResult,
    error_barrier,
    evaluate_line,
    evaluate_path,
    interpolate,
    path_points,
    recompute_batchnorm,
)

SHORT = TrainConfig(lr=1e-2, batch_size=50, iterations=40, eval_every=20)


def trained_mlp(data, seed, iterations=60, mask=None):
    model = build_model("mlp", data.input_shape, seed=seed)
    train(model, data, replace(SHORT, iterations=iterations), mask=mask, data_seed=seed, progress=False)
    return model


def batchnorm_net(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(20, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10))


def image_data(n=256, shift=2.0):
    """Small colour images whose mean is far from zero, so zero-padded augmentation would change it."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(3 * n, 3, 8, 8, generator=generator) + shift
    y = torch.randint(0, 10, (3 * n,), generator=generator)
    return Splits("images", x[:n], y[:n], x[n : 2 * n], y[n : 2 * n], x[2 * n :], y[2 * n :])


def measured(model, data, train_examples=10_000):
    """A network's own figures, measured here: (train loss, train error, test loss, test error), BatchNorm
    statistics first recomputed on the training examples."""
    model = copy.deepcopy(model)
    x_train, y_train = data.x_train[:train_examples], data.y_train[:train_examples]
    recompute_batchnorm(model, x_train)
    train_loss, train_acc = evaluate(model, x_train, y_train)
    test_loss, test_acc = evaluate(model, data.x_test, data.y_test)
    return train_loss, 1 - train_acc, test_loss, 1 - test_acc


def midpoint(state1, state2):
    """The network halfway between two others, computed here: floats averaged, counters of the first."""
    return {name: (a + state2[name]) / 2 if a.is_floating_point() else a for name, a in state1.items()}


def figures_at(line, i):
    return line.train_loss[i], line.train_err[i], line.test_loss[i], line.test_err[i]


# --- the straight line -------------------------------------------------------------------------------


def test_interpolation_mixes_weights_and_batchnorm_statistics_but_not_counters_or_masks(tiny_data):
    nets = [batchnorm_net(seed) for seed in (0, 1)]
    for net, passes in zip(nets, (1, 3)):  # different statistics and counters
        net.train()
        for _ in range(passes):
            net(tiny_data.x_train[:100] * (passes + 1))
    for net, seed in zip(nets, (0, 1)):
        torch.manual_seed(seed)
        prune.random_unstructured(net[0], "weight", amount=0.5)  # adds a float buffer "0.weight_mask"
    state1, state2 = (net.state_dict() for net in nets)
    assert not torch.equal(state1["0.weight_mask"], state2["0.weight_mask"])

    mixed = interpolate(state1, state2, 0.25)
    for name in ("0.weight_orig", "0.bias", "1.weight", "1.running_mean", "1.running_var", "3.weight"):
        assert torch.allclose(mixed[name], 0.75 * state1[name] + 0.25 * state2[name]), name
    assert torch.equal(mixed["0.weight_mask"], state1["0.weight_mask"])
    assert mixed["1.num_batches_tracked"].dtype == torch.int64
    assert mixed["1.num_batches_tracked"] == state1["1.num_batches_tracked"] == 1


def test_the_ends_of_the_line_are_exactly_the_two_networks(tiny_data):
    nets = [trained_mlp(tiny_data, seed) for seed in (0, 1)]
    states = [net.state_dict() for net in nets]
    for alpha, state in ((0.0, states[0]), (1.0, states[1])):
        assert all(torch.equal(interpolate(*states, alpha)[name], value) for name, value in state.items())
    line = evaluate_line(build_model("mlp", (20,)), *states, tiny_data, points=5)
    assert line.t == [0.0, 0.25, 0.5, 0.75, 1.0]
    for end, net in ((0, nets[0]), (-1, nets[1])):
        assert figures_at(line, end) == measured(net, tiny_data)
    assert line.ends_test_err == [measured(nets[0], tiny_data)[3], measured(nets[1], tiny_data)[3]]


def test_the_middle_of_the_line_is_the_average_network(tiny_data):
    nets = [trained_mlp(tiny_data, seed) for seed in (0, 1)]
    line = evaluate_line(build_model("mlp", (20,)), nets[0].state_dict(), nets[1].state_dict(), tiny_data, 3, 100)
    middle = build_model("mlp", (20,))
    middle.load_state_dict(midpoint(nets[0].state_dict(), nets[1].state_dict()))
    errors = [measured(net, tiny_data, 100)[3] for net in (nets[0], middle, nets[1])]
    assert figures_at(line, 1) == measured(middle, tiny_data, train_examples=100)
    assert line.barrier == max(errors) - (errors[0] + errors[2]) / 2
    assert line.barrier > 0.02  # two networks from different initialisations: a real barrier to measure


def test_networks_sharing_a_mask_stay_pruned_all_along_the_line(tiny_data):
    model = build_model("mlp", (20,))
    mask = prune_by_magnitude(dict(model.named_parameters()), full_mask(model), 0.7, layer_kinds(model))
    states = [trained_mlp(tiny_data, seed, mask=mask).state_dict() for seed in (0, 1)]
    mixed = interpolate(*states, 0.4)
    for name, keep in mask.items():
        assert torch.count_nonzero(mixed[name][~keep]) == 0 and torch.count_nonzero(mixed[name][keep]) > 0


def test_the_barrier_is_the_highest_error_minus_the_mean_of_the_two_ends():
    assert error_barrier([0.10, 0.30, 0.50, 0.20, 0.14]) == pytest.approx(0.50 - 0.12)
    assert error_barrier([0.10, 0.20, 0.30]) == pytest.approx(0.30 - 0.20)  # the worst point may be an end
    assert error_barrier([0.20, 0.05, 0.20]) == pytest.approx(0.0)  # a dip is no barrier
    path = PathResult(
        t=[0.0, 0.5, 1.0],
        train_loss=[1, 2, 3],
        train_err=[0.1, 0.2, 0.3],
        test_loss=[4, 5, 6],
        test_err=[0.1, 0.4, 0.2],
    )
    assert path.barrier == pytest.approx(0.25) and path.ends_test_err == [0.1, 0.2]
    assert path.points()[1] == dict(t=0.5, train_loss=2, train_err=0.2, test_loss=5, test_err=0.4)


def test_a_path_has_evenly_spaced_points_from_exactly_0_to_exactly_1():
    assert path_points(2) == [0.0, 1.0] and path_points(5) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert path_points(30)[-1] == 1.0 and len(path_points(30)) == 30
    with pytest.raises(LtkitError, match="at least 2 points"):
        path_points(1)


# --- BatchNorm ----------------------------------------------------------------------------------------


def test_batchnorm_statistics_are_recomputed_on_clean_training_data_at_every_point():
    data = image_data()
    nets = [nn.Sequential(nn.BatchNorm2d(3), nn.Flatten(), nn.Linear(192, 10)) for _ in range(2)]
    for net, stale in zip(nets, (5.0, -3.0)):  # statistics of some other data: wrong for these inputs
        net[0].running_mean.fill_(stale)
        net[0].running_var.fill_(9.0)
    scratch, states, seen = copy.deepcopy(nets[0]), [net.state_dict() for net in nets], []

    def state_at(t):
        if t > 0:  # what the previous point was evaluated with
            seen.append((scratch[0].running_mean.clone(), scratch[0].running_var.clone(), scratch.training))
        return interpolate(*states, t)

    evaluate_path(scratch, state_at, data, points=3)
    seen.append((scratch[0].running_mean, scratch[0].running_var, scratch.training))
    clean_mean = data.x_train.mean(dim=(0, 2, 3))
    clean_var = data.x_train.var(dim=(0, 2, 3))  # one batch of 256: its unbiased variance
    assert len(seen) == 3
    for mean, var, training in seen:
        assert torch.allclose(mean, clean_mean, atol=1e-5) and torch.allclose(var, clean_var, atol=1e-4)
        assert not training
    assert scratch[0].momentum == 0.1  # restored after the plain average


def test_batchnorm_statistics_are_a_plain_average_over_full_batches():
    net = nn.Sequential(nn.BatchNorm1d(4))
    x = torch.randn(1100, 4, generator=torch.Generator().manual_seed(1)) * 3 + 1
    recompute_batchnorm(net, x, batch_size=500)  # two full batches of 500; the last 100 are left out
    batches = [x[:500], x[500:1000]]
    assert torch.allclose(net[0].running_mean, sum(b.mean(0) for b in batches) / 2, atol=1e-6)
    assert torch.allclose(net[0].running_var, sum(b.var(0) for b in batches) / 2, atol=1e-5)
    assert not net.training and net[0].num_batches_tracked == 2


def test_a_line_between_two_resnets_measures_each_point_as_that_network_on_its_own():
    data = image_data(n=64)
    nets = [build_model("resnet20", (3, 8, 8), seed=seed) for seed in (0, 1)]
    nets[0].train()
    nets[0](data.x_train)  # now its counters and statistics differ from the other's
    states = [net.state_dict() for net in nets]
    scratch = build_model("resnet20", (3, 8, 8))
    line = evaluate_line(scratch, *states, data, points=3)
    middle = build_model("resnet20", (3, 8, 8))
    middle.load_state_dict(midpoint(*states))
    own = [measured(net, data) for net in (nets[0], middle, nets[1])]
    assert [figures_at(line, i) for i in range(3)] == own
    assert line.barrier == max(e[3] for e in own) - (own[0][3] + own[2][3]) / 2
    assert interpolate(*states, 0.5)["bn.num_batches_tracked"] == 1  # the counter is copied, not mixed
    assert torch.equal(nets[0].state_dict()["bn.num_batches_tracked"], states[0]["bn.num_batches_tracked"])

    to_itself = evaluate_line(scratch, states[1], states[1], data, points=3)
    assert to_itself.test_err == [own[2][3]] * 3 and to_itself.barrier == 0.0
