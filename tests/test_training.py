import copy
import importlib
import pkgutil
from dataclasses import replace

import pytest
import torch

import ltkit
from ltkit.engine import training as train_module
from ltkit.engine.masks import apply_mask, full_mask, layer_kinds, prune_by_magnitude
from ltkit.engine.models import build_model
from ltkit.engine.training import TrainConfig, evaluate, learning_rate, make_optimizer, train, train_step
from ltkit.errors import LtkitError


def pruned_mlp(rate=0.7, seed=0):
    model = build_model("mlp", (20,), seed=seed)
    mask = prune_by_magnitude(dict(model.named_parameters()), full_mask(model), rate, layer_kinds(model))
    return model, mask


@pytest.mark.parametrize(
    "config",
    [
        TrainConfig(optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=5e-3, batch_size=32, iterations=60),
        TrainConfig(optimizer="adam", lr=1e-2, weight_decay=5e-3, batch_size=32, iterations=60),
    ],
    ids=["sgd-momentum-decay", "adam-decay"],
)
def test_pruned_weights_stay_exactly_zero_and_so_does_their_optimizer_state(tiny_data, config):
    model, mask = pruned_mlp()
    apply_mask(model, mask)
    optimizer = make_optimizer(model, config)
    params = dict(model.named_parameters())
    for _ in range(30):
        idx = torch.randint(0, 600, (32,))
        train_step(model, optimizer, tiny_data.x_train[idx], tiny_data.y_train[idx], mask)
    for name, keep in mask.items():
        assert torch.count_nonzero(params[name][~keep]) == 0, name
        for value in optimizer.state[params[name]].values():
            if value.shape == keep.shape:
                assert torch.count_nonzero(value[~keep]) == 0, name
    result_model, mask = pruned_mlp()
    train(result_model, tiny_data, config, mask=mask, progress=False)
    for name, keep in mask.items():
        assert torch.count_nonzero(dict(result_model.named_parameters())[name][~keep]) == 0


def test_kept_weights_of_both_signs_keep_learning(tiny_data):
    model, mask = pruned_mlp()
    before = copy.deepcopy(model.state_dict())
    train(model, tiny_data, TrainConfig(iterations=20, batch_size=32), mask=mask, progress=False)
    for name, keep in mask.items():
        start, end = before[name], model.state_dict()[name]
        for sign in (start > 0, start < 0):
            moved = (end != start) & keep & sign
            assert moved.sum() > 0.9 * (keep & sign).sum(), name  # negative weights are not frozen


def test_the_same_seeds_give_the_same_run(tiny_data):
    config = TrainConfig(iterations=50, batch_size=32, eval_every=10)
    runs = [train(build_model("mlp", (20,), seed=1), tiny_data, config, data_seed=3, progress=False) for _ in range(2)]
    assert str(runs[0].history) == str(runs[1].history)  # str: the first row's training loss is nan
    other = train(build_model("mlp", (20,), seed=1), tiny_data, config, data_seed=4, progress=False)
    assert str(other.history) != str(runs[0].history)


def test_training_to_k_repeats_the_first_k_steps_of_a_longer_run_exactly(tiny_data):
    every_step = dict(batch_size=32, eval_every=1)
    full = train(
        build_model("mlp", (20,), seed=2),
        tiny_data,
        TrainConfig(iterations=40, **every_step),
        data_seed=5,
        progress=False,
    )
    short = train(
        build_model("mlp", (20,), seed=2),
        tiny_data,
        TrainConfig(iterations=13, **every_step),
        data_seed=5,
        progress=False,
    )
    assert [h["val_loss"] for h in short.history] == [h["val_loss"] for h in full.history[:14]]


def test_training_learns_and_records_learning_curves(tiny_data):
    result = train(
        build_model("mlp", (20,)), tiny_data, TrainConfig(iterations=200, batch_size=32, eval_every=50), progress=False
    )
    assert [h["iteration"] for h in result.history] == [0, 50, 100, 150, 200]
    assert result.history[0]["val_acc"] < 0.3 < 0.8 < result.final["val_acc"]
    assert result.final["train_loss"] < result.history[1]["train_loss"]


def test_test_accuracy_is_measured_on_the_weights_of_minimum_validation_loss(tiny_data):
    config = TrainConfig(lr=3e-2, iterations=300, batch_size=32, eval_every=20)
    model = build_model("mlp", (20,), seed=4)
    result = train(model, tiny_data, config, data_seed=1, progress=False)
    stop = min(result.history, key=lambda h: h["val_loss"])["iteration"]
    assert result.early_stop_iter == stop < 300 and result.early_stop == result.history[stop // 20]
    replay = build_model("mlp", (20,), seed=4)
    train(replay, tiny_data, replace(config, iterations=stop), data_seed=1, progress=False)
    at_stop = evaluate(replay, tiny_data.x_test, tiny_data.y_test)
    at_end = evaluate(model, tiny_data.x_test, tiny_data.y_test)
    assert result.early_stop_test == at_stop and result.test_acc == at_stop[1]
    assert result.final_test == at_end and result.final_test_acc == at_end[1] != at_stop[1]
    assert result.summary() == dict(
        test_acc=at_stop[1],
        val_acc=result.history[stop // 20]["val_acc"],
        early_stop_iter=stop,
        final_test_acc=at_end[1],
        final_val_acc=evaluate(model, tiny_data.x_val, tiny_data.y_val)[1],
        start_val_acc=evaluate(build_model("mlp", (20,), seed=4), tiny_data.x_val, tiny_data.y_val)[1],
    )


def test_the_test_set_is_evaluated_only_twice_after_training_unless_watched(tiny_data, monkeypatch):
    seen = []
    real_evaluate = train_module.evaluate

    def recording(model, x, y, **kwargs):
        seen.append("test" if x is tiny_data.x_test else "val" if x is tiny_data.x_val else "other")
        return real_evaluate(model, x, y, **kwargs)

    monkeypatch.setattr(train_module, "evaluate", recording)
    config = TrainConfig(iterations=40, batch_size=32, eval_every=20)
    train(build_model("mlp", (20,)), tiny_data, config, progress=False)
    assert seen == ["val"] * 3 + ["test"] * 2  # 3 evaluations (0, 20, 40), then the two test measurements
    seen.clear()
    train(build_model("mlp", (20,)), tiny_data, config, watch_test=True, progress=False)
    assert seen == ["val", "test"] * 3 + ["test"] * 2


def test_watching_the_test_set_measures_it_at_every_row_and_changes_nothing_else(tiny_data):
    config = TrainConfig(iterations=40, batch_size=32, eval_every=20)
    plain = train(build_model("mlp", (20,)), tiny_data, config, progress=False)
    watched = train(build_model("mlp", (20,)), tiny_data, config, watch_test=True, progress=False)
    for row, watched_row in zip(plain.history, watched.history):
        at_row = build_model("mlp", (20,))  # the network at this row's iteration, trained again to there
        if row["iteration"] > 0:
            train(at_row, tiny_data, replace(config, iterations=row["iteration"]), progress=False)
        test_loss, test_acc = evaluate(at_row, tiny_data.x_test, tiny_data.y_test)
        assert watched_row["test_loss"] == test_loss and watched_row["test_acc"] == test_acc
        assert str({k: v for k, v in watched_row.items() if not k.startswith("test")}) == str(row)  # nan != nan
    assert watched.early_stop_test == plain.early_stop_test and watched.final_test == plain.final_test


def test_learning_rate_warms_up_then_steps_down_at_milestones():
    config = TrainConfig(lr=0.1, warmup=10, milestones=(100, 200), gamma=0.1)
    assert learning_rate(config, 0) == pytest.approx(0.01)
    assert learning_rate(config, 9) == pytest.approx(0.1)
    assert learning_rate(config, 99) == pytest.approx(0.1)
    assert learning_rate(config, 100) == pytest.approx(0.01)
    assert learning_rate(config, 250) == pytest.approx(0.001)


def test_training_can_continue_from_iteration_k(tiny_data):
    config = TrainConfig(iterations=30, batch_size=32, eval_every=10)
    result = train(build_model("mlp", (20,)), tiny_data, config, start_iter=12, progress=False)
    assert [h["iteration"] for h in result.history] == [12, 20, 30]
    with pytest.raises(LtkitError, match="start iteration"):
        train(build_model("mlp", (20,)), tiny_data, config, start_iter=31, progress=False)


def test_bad_settings_are_explained():
    from ltkit.engine.training import iterations_for

    with pytest.raises(LtkitError, match="epochs must be positive"):
        iterations_for(0, 1000, 10)
    with pytest.raises(LtkitError, match="unknown optimizer"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(LtkitError, match="lr must be positive"):
        TrainConfig(lr=0)


def test_only_experiment_modules_train_so_the_training_counter_sees_every_training():
    from ltkit.engine.stacked import train_together

    for info in pkgutil.walk_packages(ltkit.__path__, "ltkit."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        trains = getattr(module, "train", None) is train or getattr(module, "train_together", None) is train_together
        where = info.name.rpartition(".")[0]
        assert not trains or where in ("ltkit.engine", "ltkit.experiments"), f"{info.name} trains networks itself"
