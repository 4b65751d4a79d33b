"""The dashboards, driven without a browser: move a control, then check what the dashboard computed and
drew against figures computed here."""

import copy

import matplotlib
import matplotlib.pyplot as plt
import pytest
from torch.nn.utils import prune

from ltkit import widgets
from ltkit.data import load_dataset
from ltkit.imp import ARMS, IMPConfig, imp_config, run_imp
from ltkit.instability import InstabilityConfig, run_instability
from ltkit.masks import layer_kinds
from ltkit.models import build_model
from ltkit.training import TrainConfig, evaluate, train
from ltkit.widgets import imp_explorer, playground, sparsity_explorer, stability_explorer

matplotlib.use("Agg")
SHORT = TrainConfig(lr=1e-2, batch_size=50, iterations=40, eval_every=20)


@pytest.fixture
def figures(monkeypatch):
    """Every figure a dashboard draws, kept for inspection instead of being displayed."""
    drawn = []
    monkeypatch.setattr(widgets, "redraw", lambda output, draw: drawn.append(draw()))
    yield drawn
    plt.close("all")


@pytest.fixture
def trained(tiny_data):
    model = build_model("mlp", tiny_data.input_shape)
    train(model, tiny_data, TrainConfig(iterations=150, batch_size=50), progress=False)
    return model


def torch_pruned_accuracy(model, data, keep, scope):
    """Test accuracy of `model` pruned by torch.nn.utils.prune to keep a fraction `keep`; and the fraction
    each layer keeps."""
    reference = copy.deepcopy(model)
    modules = dict(reference.named_modules())
    targets = [(modules[name.removesuffix(".weight")], "weight") for name in layer_kinds(reference)]
    if scope == "layerwise":
        for module, name in targets:
            prune.l1_unstructured(module, name, amount=1 - keep)
    else:
        prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=1 - keep)
    fractions = [module.weight_mask.mean().item() for module, _ in targets]
    return evaluate(reference, data.x_test, data.y_test)[1], fractions


def bar_widths(ax):
    """The bars of a per-layer figure, first layer first, as fractions."""
    return [patch.get_width() / 100 for patch in ax.patches][::-1]


def test_the_sparsity_slider_shows_the_accuracy_of_the_network_pruned_at_once(trained, tiny_data, figures):
    dashboard = sparsity_explorer(trained, tiny_data)
    dense = evaluate(trained, tiny_data.x_test, tiny_data.y_test)[1]
    assert dashboard.state["test_acc"] == dense > 0.8
    dashboard.controls["keep"].value = 0.01
    accuracy, fractions = torch_pruned_accuracy(trained, tiny_data, 0.01, "layerwise")
    assert dashboard.state["test_acc"] == accuracy < dense - 0.2
    left, right = figures[-1].axes[:2]
    marker = left.lines[-1]  # the ring around the current measurement
    assert list(marker.get_xdata()) == [1.0] and list(marker.get_ydata()) == [pytest.approx(100 * accuracy)]
    assert bar_widths(right) == pytest.approx(fractions)

    dashboard.controls["keep"].value = 0.3
    dashboard.controls["scope"].value = "global"
    accuracy, fractions = torch_pruned_accuracy(trained, tiny_data, 0.3, "global")
    assert dashboard.state["test_acc"] == accuracy and dashboard.state["scope"] == "global"
    assert bar_widths(figures[-1].axes[1]) == pytest.approx(fractions)
    assert len(figures) == 4 and not dashboard.controls["keep"].disabled  # controls come back after computing


def test_the_round_slider_shows_each_rounds_cached_results(mnist1d, figures, count_training):
    config = IMPConfig(dataset="mnist1d", model="mlp", train=SHORT, rounds=2, rates=0.5)
    result = run_imp(config, data=mnist1d, progress=False)
    count_training.clear()
    dashboard = imp_explorer(result)
    for r in (0, 2):
        dashboard.controls["round"].value = r
        record = result.rounds[r]
        assert dashboard.state["weights_remaining"] == record.weights_remaining
        assert all(dashboard.state[arm] == record.results[arm].test_acc for arm in ARMS)
        curves, against, mask = figures[-1].axes[:3]
        shown = [list(line.get_ydata()) for line in curves.lines]
        histories = [record.results[arm].history for arm in ARMS if arm == "ticket" or r > 0]
        assert shown == [[pytest.approx(100 * row["val_acc"]) for row in history] for history in histories]
        assert list(against.lines[-1].get_xdata()) == [100 * record.weights_remaining] * 2
        assert bar_widths(mask) == pytest.approx([keep.float().mean().item() for keep in record.mask.values()])
    assert count_training == []  # everything from the finished sweep


def test_the_k_slider_shows_the_cached_line_and_barrier_at_each_k(mnist1d, figures):
    config = InstabilityConfig(dataset="mnist1d", model="mlp", train=SHORT, points=4, train_examples=500)
    rows = run_instability(config, [0, 10, 30], data=mnist1d, progress=False)
    dashboard = stability_explorer(rows)
    for index in (2, 1):
        dashboard.controls["k"].value = index
        row = rows[index]
        assert dashboard.state["k"] == row["k"] and dashboard.state["dense"] == row["dense"].barrier
        left, right = figures[-1].axes[:2]
        assert list(left.lines[0].get_ydata()) == pytest.approx([100 * e for e in row["dense"].lines[0].test_err])
        assert list(right.lines[-1].get_xdata()) == [row["k"]] * 2


def test_the_playground_runs_the_sweep_it_is_set_to_and_explains_bad_settings(data_root, monkeypatch):
    real_config = widgets.imp_config
    monkeypatch.setattr(widgets, "imp_config", lambda *args, **kwargs: real_config(*args, **kwargs, epochs=1))
    dashboard = playground(profile="ci")
    dashboard.controls["rounds"].value = 2
    dashboard.controls["rate"].value = 0.5
    dashboard.controls["run"].click()
    assert dashboard.state["error"] is None
    result = dashboard.state["result"]
    same = run_imp(imp_config("mnist1d", "mlp", "ci", epochs=1, rounds=2, rates=0.5), data=load_dataset("mnist1d"))
    assert result.to_json() == same.to_json() and len(result.rounds) == 3
    shown = dashboard.state["explorer"].state
    assert shown["round"] == 0 and shown["ticket"] == result.rounds[0].results["ticket"].test_acc
    assert "Done: 25.0% of weights after 2 rounds" in dashboard.ui.children[1].value
    dashboard.controls["model"].value = "conv2"
    dashboard.controls["run"].click()
    assert "needs image inputs" in dashboard.state["error"] and "Cannot run" in dashboard.ui.children[1].value
    assert not dashboard.controls["run"].disabled
