"""Fast geometric ensembling, and the baselines it is compared with at the same budget."""

import copy
import inspect
from dataclasses import replace

import pytest
import torch
from torch import nn

from ltkit.engine.models import build_model
from ltkit.engine.training import TrainConfig, evaluate, resize, train
from ltkit.errors import LtkitError
from ltkit.experiments import fge
from ltkit.experiments.fge import (
    FGEConfig,
    FGERow,
    annealed_learning_rate,
    cyclic_learning_rate,
    ensemble_accuracy,
    fge_config,
    fge_snapshots,
    run_fge,
    train_on,
)

SHORT = TrainConfig(lr=1e-2, batch_size=50, iterations=40, eval_every=20)
CONFIG = FGEConfig("mnist1d", "mlp", SHORT, cycles=3, cycle=4, lr_high=1e-2, lr_low=1e-4, independent=2)


def trained_mlp(data, seed, config=SHORT):
    model = build_model("mlp", data.input_shape, seed=seed)
    train(model, data, config, data_seed=seed, progress=False)
    return model


def test_the_learning_rate_cycles_between_high_and_low_with_the_minimum_mid_cycle():
    lrs = [cyclic_learning_rate(i, 4, lr_high=1.0, lr_low=0.2) for i in range(8)]
    assert lrs == pytest.approx([0.6, 0.2, 0.6, 1.0, 0.6, 0.2, 0.6, 1.0])


def test_the_annealed_learning_rate_falls_in_a_straight_line_from_high_to_low():
    assert [annealed_learning_rate(i, 5, 1.0, 0.2) for i in range(5)] == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2])
    assert annealed_learning_rate(0, 1, 1.0, 0.2) == 1.0  # a single step: the high rate


def test_fge_snapshots_are_the_weights_right_after_each_learning_rate_minimum(tiny_data, monkeypatch):
    model = trained_mlp(tiny_data, 0)
    steps = []
    real_step = fge.train_step

    def recording_step(model, optimizer, x, y, mask=None):
        result = real_step(model, optimizer, x, y, mask)
        steps.append((optimizer.param_groups[0]["lr"], copy.deepcopy(model.state_dict())))
        return result

    monkeypatch.setattr(fge, "train_step", recording_step)
    snapshots = fge_snapshots(model, tiny_data, SHORT, cycles=3, cycle=6, lr_high=1e-2, lr_low=1e-4, progress=False)
    assert len(steps) == 18 and [s["iteration"] for s in snapshots] == [3, 9, 15]
    lowest = min(lr for lr, _ in steps)
    for snapshot in snapshots:
        lr, state = steps[snapshot["iteration"] - 1]
        assert lr == snapshot["lr"] == lowest == pytest.approx(1e-4)
        assert all(torch.equal(snapshot["state"][name], value) for name, value in state.items())


def test_an_ensemble_averages_the_members_softmax_outputs(tiny_data):
    nets = [trained_mlp(tiny_data, seed, replace(SHORT, iterations=20)) for seed in (0, 1, 2)]
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


@pytest.fixture
def recorded(monkeypatch):
    """What run_fge trains: dense networks (seed, iterations), and each train_on phase's learning rates."""
    calls = dict(dense=[], phases=[])
    real_dense, real_states = fge.dense_weights, fge.dense_states
    real_train_on, real_step = fge.train_on, fge.train_step

    def dense_weights(config, context, seed, iterations=None):
        calls["dense"].append((seed, iterations))
        return real_dense(config, context, seed, iterations)

    def dense_states(config, context, seeds, iterations=None):
        calls["dense"].extend((seed, iterations) for seed in seeds)
        return real_states(config, context, seeds, iterations)

    def phase(*args, **kwargs):
        bound = inspect.signature(real_train_on).bind(*args, **kwargs)
        bound.apply_defaults()
        calls["phases"].append(dict(desc=bound.arguments["desc"], iterations=bound.arguments["iterations"], lrs=[]))
        return real_train_on(*args, **kwargs)

    def step(model, optimizer, *args):
        calls["phases"][-1]["lrs"].append(optimizer.param_groups[0]["lr"])
        return real_step(model, optimizer, *args)

    monkeypatch.setattr(fge, "dense_weights", dense_weights)
    monkeypatch.setattr(fge, "dense_states", dense_states)
    monkeypatch.setattr(fge, "train_on", phase)
    monkeypatch.setattr(fge, "train_step", step)
    return calls


def test_fge_and_its_baselines_spend_the_same_budget(mnist1d, recorded, count_training):
    result = run_fge(CONFIG, data=mnist1d, progress=False)
    budget = 40 + 3 * 4
    assert CONFIG.budget == result.budget == budget
    members = CONFIG.independent_seeds
    assert recorded["dense"] == [(0, None), (0, budget), (members[0], budget // 2), (members[1], budget // 2)]
    assert count_training == ["dense"] * 4 and 0 not in members and result.independent_seeds == members
    fge_phase, annealed = recorded["phases"]
    assert fge_phase["desc"] == "FGE cycles" and annealed["desc"] == "annealed single"
    assert fge_phase["iterations"] == annealed["iterations"] == budget - SHORT.iterations  # on from the start
    assert fge_phase["lrs"] == pytest.approx([cyclic_learning_rate(i, 4, 1e-2, 1e-4) for i in range(12)])
    steps = annealed["lrs"]
    assert steps[0] == 1e-2 and steps[-1] == pytest.approx(1e-4, rel=1e-12) and len(steps) == 12
    assert [b - a for a, b in zip(steps, steps[1:])] == pytest.approx([(1e-4 - 1e-2) / 11] * 11)
    assert [s["iteration"] for s in result.snapshots] == [2, 6, 10] and all(s["lr"] == 1e-4 for s in result.snapshots)

    recorded["dense"].clear()
    assert run_fge(CONFIG, data=mnist1d, progress=False) == result and count_training == ["dense"] * 4
    assert recorded["dense"] == [] and len(recorded["phases"]) == 2  # the second call trained nothing at all


def test_each_baselines_accuracy_is_that_of_the_network_it_names(mnist1d):
    result = run_fge(CONFIG, data=mnist1d, progress=False)
    x, y = mnist1d.x_test, mnist1d.y_test
    start = trained_mlp(mnist1d, 0)
    assert result.start_acc == pytest.approx(evaluate(start, x, y)[1])
    assert result.single_acc == pytest.approx(evaluate(trained_mlp(mnist1d, 0, resize(SHORT, 52)), x, y)[1])
    annealed = copy.deepcopy(start)
    linear = lambda step: 1e-2 - step * (1e-2 - 1e-4) / 11
    train_on(annealed, mnist1d, SHORT, 12, linear, data_seed=0, progress=False)
    assert result.annealed_single_acc == evaluate(annealed, x, y)[1]
    members = [trained_mlp(mnist1d, seed, resize(SHORT, 26)) for seed in CONFIG.independent_seeds]
    with torch.no_grad():
        votes = sum(member(x).softmax(1) for member in members).argmax(1)
    assert result.independent_acc == pytest.approx((votes == y).float().mean().item())
    assert result.best_snapshot_acc == max(s["test_acc"] for s in result.snapshots)
    summary = result.summary()
    assert summary["best_snapshot_acc"] == result.best_snapshot_acc and summary["fge_acc"] == result.fge_acc
    figures = set(result.__dataclass_fields__) - {"config"}
    assert set(summary) == {*figures, "budget", "independent_seeds", "best_snapshot_acc"}
    assert result.to_json() == dict(config=CONFIG.to_dict(), **summary)
    rows = {row.compared: row for row in result.table()}
    assert rows["FGE ensemble"] == FGERow("FGE ensemble", 3, 52, result.fge_acc)
    assert rows["independent ensemble"] == FGERow("independent ensemble", 2, 52, result.independent_acc)
    assert rows["start network"] == FGERow("start network", 1, 40, result.start_acc) and len(rows) == 6


def test_independent_members_seeds_are_those_of_the_ensemble_range():
    members = FGEConfig("mnist1d", "mlp", SHORT, seed=7, independent=3).independent_seeds
    assert members == [10_021, 10_022, 10_023]  # 10_000 + independent x seed + i, the seeds the lessons ran with


def test_independent_members_never_use_fges_seed_nor_another_experiment_seeds():
    for independent in (1, 2, 5):
        seen = set()
        for seed in range(100):
            members = FGEConfig("mnist1d", "mlp", SHORT, seed=seed, independent=independent).independent_seeds
            assert len(set(members)) == independent and not set(members) & set(range(100))
            assert not set(members) & seen, f"experiment seed {seed} shares a member with another"
            seen |= set(members)


def test_the_fge_config_comes_from_the_recipe_and_the_profile():
    config = fge_config("fashion-mnist", "lenet300_100", "ci")
    iterations = config.train.iterations
    assert config.cycle % 2 == 0 and config.cycle == 2 * round(iterations / 15 / 2)
    assert config.lr_high == config.train.lr and config.lr_low == pytest.approx(0.01 * config.train.lr)
    assert (config.cycles, config.independent) == (8, 2) and config.budget == iterations + 8 * config.cycle
    assert fge_config("mnist1d", "mlp", "ci", cycles=2).cycles == 2


def test_bad_fge_settings_are_explained():
    with pytest.raises(LtkitError, match="even number"):
        replace(CONFIG, cycle=5)
    with pytest.raises(LtkitError, match="0 < lr_low < lr_high"):
        replace(CONFIG, lr_low=1e-2)
    with pytest.raises(LtkitError, match="at least one cycle"):
        replace(CONFIG, cycles=0)
    with pytest.raises(LtkitError, match=r"fge_config\(\) has no setting fge_cycles"):
        fge_config("mnist1d", "mlp", "ci", fge_cycles=3)
