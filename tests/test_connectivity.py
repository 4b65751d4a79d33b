import copy
import json
from dataclasses import replace

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from ltkit import connectivity, lottery
from ltkit.cli import main
from ltkit.connectivity import (
    ConnectivityConfig,
    Curve,
    cyclic_learning_rate,
    ensemble_accuracy,
    error_barrier,
    evaluate_line,
    evaluate_path,
    fge_snapshots,
    interpolate,
    run_curve,
    run_fge,
    run_instability,
    train_curve,
)
from ltkit.data import Splits
from ltkit.errors import LtkitError
from ltkit.masks import fraction_remaining, full_mask, layer_kinds, prune_by_magnitude
from ltkit.models import build_model
from ltkit.train import TrainConfig, evaluate, train

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
    assert line["t"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    for end, net in ((0, nets[0]), (-1, nets[1])):
        test_loss, test_acc = evaluate(net, tiny_data.x_test, tiny_data.y_test)
        assert line["test_loss"][end] == test_loss and line["test_err"][end] == 1 - test_acc
        assert line["train_loss"][end] == evaluate(net, tiny_data.x_train, tiny_data.y_train)[0]


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


def test_a_line_between_two_resnets_runs_with_their_counters_untouched():
    data = image_data(n=64)
    nets = [build_model("resnet20", (3, 8, 8), seed=seed) for seed in (0, 1)]
    nets[0].train()
    nets[0](data.x_train)
    line = evaluate_line(build_model("resnet20", (3, 8, 8)), nets[0].state_dict(), nets[1].state_dict(), data, 3)
    assert len(line["test_err"]) == 3 and line["barrier"] >= 0
    assert interpolate(nets[0].state_dict(), nets[1].state_dict(), 0.5)["bn.num_batches_tracked"] == 1


# --- curves ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["bezier", "polychain"])
def test_a_curve_ends_exactly_at_the_two_networks_and_starts_as_the_straight_line(tiny_data, kind):
    model = build_model("mlp", (20,))
    states = [trained_mlp(tiny_data, seed).state_dict() for seed in (0, 1)]
    curve = Curve(model, *states, kind)
    for t, state in ((0.0, states[0]), (1.0, states[1])):
        assert all(torch.equal(curve.state_at(t)[name], value) for name, value in state.items())
    for t in (0.2, 0.5, 0.9):
        line = interpolate(*states, t)
        assert all(torch.allclose(value, line[name], atol=1e-6) for name, value in curve.state_at(t).items())


def test_fitting_a_curve_moves_only_the_bend(tiny_data):
    model = build_model("mlp", (20,))
    states = [trained_mlp(tiny_data, seed).state_dict() for seed in (0, 1)]
    curve = Curve(model, *states)
    before = dict(
        start=copy.deepcopy(curve.start), end=copy.deepcopy(curve.end), model=copy.deepcopy(model.state_dict())
    )
    bend = curve.bend_state()
    assert list(curve.parameters()) == list(curve.bend)
    losses = train_curve(curve, model, tiny_data, replace(SHORT, iterations=20), weight_decay=1e-3, progress=False)
    assert len(losses) == 20
    for name in before["start"]:
        assert torch.equal(curve.start[name], before["start"][name]) and torch.equal(
            curve.end[name], before["end"][name]
        )
        assert torch.equal(states[0][name], before["start"][name])  # the caller's networks are untouched too
    assert all(torch.equal(value, before["model"][name]) for name, value in model.state_dict().items())
    assert all(not torch.equal(curve.bend_state()[name], bend[name]) for name in bend)


def test_a_fitted_curve_joins_two_networks_that_the_straight_line_does_not(mnist1d):
    config = ConnectivityConfig("mnist1d", "mlp", replace(SHORT, batch_size=100, iterations=600), points=11)
    result = run_curve(config, data=mnist1d, progress=False)
    line, curve = result["line"], result["curve"]
    assert line["test_err"][0] == curve["test_err"][0] and line["test_err"][-1] == curve["test_err"][-1]
    assert line["barrier"] > 0.15 and curve["barrier"] < line["barrier"] / 3


# --- fast geometric ensembling ------------------------------------------------------------------------


def test_the_learning_rate_cycles_between_high_and_low_with_the_minimum_mid_cycle():
    lrs = [cyclic_learning_rate(i, 4, lr_high=1.0, lr_low=0.2) for i in range(8)]
    assert lrs == pytest.approx([0.6, 0.2, 0.6, 1.0, 0.6, 0.2, 0.6, 1.0])


def test_fge_snapshots_are_the_weights_right_after_each_learning_rate_minimum(tiny_data, monkeypatch):
    model = trained_mlp(tiny_data, 0)
    steps = []
    real_step = connectivity.train_step

    def recording_step(model, optimizer, x, y, mask=None):
        result = real_step(model, optimizer, x, y, mask)
        steps.append((optimizer.param_groups[0]["lr"], copy.deepcopy(model.state_dict())))
        return result

    monkeypatch.setattr(connectivity, "train_step", recording_step)
    snapshots = fge_snapshots(model, tiny_data, SHORT, cycles=3, cycle=6, lr_high=1e-2, lr_low=1e-4, progress=False)
    assert len(steps) == 18 and [s["iteration"] for s in snapshots] == [3, 9, 15]
    lowest = min(lr for lr, _ in steps)
    for snapshot in snapshots:
        lr, state = steps[snapshot["iteration"] - 1]
        assert lr == snapshot["lr"] == lowest == pytest.approx(1e-4)
        assert all(torch.equal(snapshot["state"][name], value) for name, value in state.items())


def test_an_ensemble_averages_the_members_softmax_outputs(tiny_data):
    nets = [trained_mlp(tiny_data, seed, iterations=20) for seed in (0, 1, 2)]
    x, y = tiny_data.x_test, tiny_data.y_test
    with torch.no_grad():
        mean = sum(net(x).softmax(1) for net in nets) / 3
    model = build_model("mlp", (20,))
    accuracy = ensemble_accuracy(model, [net.state_dict() for net in nets], x, y, batch_size=64)
    assert accuracy == pytest.approx((mean.argmax(1) == y).float().mean().item())
    assert ensemble_accuracy(model, [nets[0].state_dict()], x, y) == pytest.approx(evaluate(nets[0], x, y)[1])


def test_an_ensemble_of_probabilities_is_not_an_ensemble_of_logits():
    # two members that output constant logits: mean probabilities favour class 0, mean logits class 1
    members = [torch.tensor([20.0, 0.0, 0.0]), torch.tensor([-30.0, 0.1, 0.0])]
    states = [{"weight": torch.zeros(3, 2), "bias": logits} for logits in members]
    x, y = torch.zeros(4, 2), torch.zeros(4, dtype=torch.long)
    assert ensemble_accuracy(nn.Linear(2, 3), states, x, y) == 1.0


def test_fge_compares_at_one_budget_and_a_second_call_trains_nothing(mnist1d, count_training):
    config = ConnectivityConfig(
        "mnist1d", "mlp", SHORT, fge_cycles=3, fge_cycle=4, fge_lr_high=1e-2, fge_lr_low=1e-4, independent=2
    )
    result = run_fge(config, data=mnist1d, progress=False)
    assert result["budget"] == 40 + 3 * 4 and len(result["snapshots"]) == 3
    assert all(0 <= result[key] <= 1 for key in ("start_acc", "single_acc", "fge_acc", "independent_acc"))
    assert len(count_training) == 4  # the start network, the single one of the whole budget, two members
    count_training.clear()
    assert run_fge(config, data=mnist1d, progress=False) == result and count_training == []


# --- instability ------------------------------------------------------------------------------------


def test_both_copies_start_from_the_weights_at_k_and_differ_only_in_data_order(mnist1d, monkeypatch):
    calls = []
    real_train = connectivity.train

    def spy(model, data, config, **kwargs):
        calls.append(dict(kwargs, state=copy.deepcopy(model.state_dict()), iterations=config.iterations))
        return real_train(model, data, config, **kwargs)

    monkeypatch.setattr(connectivity, "train", spy)
    config = ConnectivityConfig("mnist1d", "mlp", SHORT, points=5, seed=3, rates=0.5)
    run_instability(config, [15], weights_remaining=0.5, data=mnist1d, cache=False, progress=False)
    copies = calls
    w_k = lottery.rewind_weights(config, mnist1d, 15)
    dense, ticket = copies[:2], copies[2:]
    for copy_call in copies:  # the ticket's W_k comes from IMP's own run, and must be the same
        assert copy_call["start_iter"] == 15 and copy_call["iterations"] == 40
        assert all(torch.equal(copy_call["state"][name], value) for name, value in w_k.items())
    for pair in (dense, ticket):
        assert pair[0]["data_seed"] != pair[1]["data_seed"]
    assert all(call["mask"] is None for call in dense)
    assert all(fraction_remaining(call["mask"]) == pytest.approx(0.5, abs=0.01) for call in ticket)


def test_instability_reports_each_arm_and_a_second_call_trains_nothing(mnist1d, count_training):
    config = ConnectivityConfig("mnist1d", "mlp", SHORT, points=5, rates=0.5)
    rows = run_instability(config, [0, 10], weights_remaining=0.3, data=mnist1d, progress=False)
    assert [row["k"] for row in rows] == [0, 10]
    for row in rows:
        assert row["ticket"]["weights_remaining"] == pytest.approx(0.25, abs=0.01)  # 0.5, 0.25: nearest 0.3
        for arm in ("dense", "ticket"):
            assert row[arm]["barrier"] == error_barrier(row[arm]["line"]["test_err"])
            assert row[arm]["test_err_ends"] == [row[arm]["line"]["test_err"][0], row[arm]["line"]["test_err"][-1]]
    assert len(count_training) > 0
    count_training.clear()
    again = run_instability(config, [0, 10], weights_remaining=0.3, data=mnist1d, progress=False)
    assert count_training == [] and again == rows


def test_bad_connectivity_settings_are_explained(mnist1d):
    with pytest.raises(LtkitError, match="even number"):
        ConnectivityConfig("mnist1d", "mlp", SHORT, fge_cycle=5)
    with pytest.raises(LtkitError, match="at least 2 points"):
        ConnectivityConfig("mnist1d", "mlp", SHORT, points=1)
    with pytest.raises(LtkitError, match="rewind iteration 40"):
        run_instability(ConnectivityConfig("mnist1d", "mlp", SHORT), [0, 40], data=mnist1d)
    with pytest.raises(LtkitError, match="unknown curve"):
        run_curve(ConnectivityConfig("mnist1d", "mlp", SHORT), kind="spline", data=mnist1d)


# --- the command line ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["instability", "--dataset", "mnist1d", "--model", "mlp"], "required: --rewind"),
        (["instability", "--dataset", "mnist1d", "--model", "mlp", "--rewind", "0,ten"], "separated by commas"),
        (["instability", "--dataset", "mnist1d", "--model", "mlp", "--rewind", "0,-5"], "must be 0 or more"),
        (["instability", "--dataset", "mnist1d", "--model", "mlp", "--rewind", "0,99999"], "rewind iteration 99999"),
        (["instability", "--dataset", "mnist1d", "--model", "mlp", "--rewind", "0", "--sparsity", "2"], "fraction"),
        (["curve", "--dataset", "mnist1d", "--model", "mlp", "--kind", "spline"], "invalid choice: 'spline'"),
        (["fge", "--dataset", "mnist1d", "--model", "conv2"], "needs image inputs"),
    ],
)
def test_bad_connectivity_arguments_give_one_clear_line_and_exit_code_2(run_ltkit, args, message):
    done = run_ltkit(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_the_connectivity_commands_print_tables_and_write_the_documented_json(tmp_path, data_root, capsys):
    common = ["--dataset", "mnist1d", "--model", "mlp", "--profile", "ci", "--epochs", "2"]
    out = tmp_path / "instability.json"
    assert main(["instability", *common, "--rewind", "0,10", "--sparsity", "0.5", "--json", str(out)]) == 0
    assert "ticket" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert [row["k"] for row in report["rewind"]] == [0, 10]
    for arm in ("dense", "ticket"):
        assert set(report["rewind"][0][arm]) >= {"barrier", "test_err_ends", "line"}
        assert set(report["rewind"][0][arm]["line"][0]) >= {"t", "test_err", "train_loss"}

    out = tmp_path / "curve.json"
    assert main(["curve", *common, "--kind", "polychain", "--json", str(out)]) == 0
    assert "barrier" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert set(report) >= {"line", "curve", "barrier_line", "barrier_curve"} and report["kind"] == "polychain"
    assert len(report["curve"]) == 30 and set(report["curve"][0]) >= {"t", "test_err", "train_loss"}

    out = tmp_path / "fge.json"
    assert main(["fge", *common, "--json", str(out)]) == 0
    assert "FGE" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert set(report) >= {"single_acc", "fge_acc", "independent_acc", "snapshots"}
    assert len(report["snapshots"]) == report["config"]["fge_cycles"]
