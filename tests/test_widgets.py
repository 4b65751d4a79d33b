"""The dashboards, driven without a browser: set a control's value and read the state it shows."""

import matplotlib
import pytest

from ltkit.lottery import IMPConfig, run_imp
from ltkit.models import build_model
from ltkit.train import TrainConfig, train
from ltkit.widgets import imp_explorer, sparsity_explorer

matplotlib.use("Agg")


@pytest.fixture
def trained(tiny_data):
    model = build_model("mlp", tiny_data.input_shape)
    train(model, tiny_data, TrainConfig(iterations=150, batch_size=50), progress=False)
    return model


def test_the_sparsity_slider_prunes_at_once_and_accuracy_falls_when_almost_nothing_is_left(trained, tiny_data):
    dashboard = sparsity_explorer(trained, tiny_data)
    dense = dashboard.state["test_acc"]
    assert dashboard.state["keep"] == 1.0 and dense > 0.8
    dashboard.controls["keep"].value = 0.01
    assert dashboard.state["keep"] == 0.01 and dashboard.state["test_acc"] < dense - 0.2
    dashboard.controls["scope"].value = "global"
    assert dashboard.state["scope"] == "global"
    assert not dashboard.controls["keep"].disabled  # controls come back after computing


def test_the_round_slider_shows_each_rounds_cached_results(data_root):
    from ltkit.data import load_dataset

    config = IMPConfig(
        dataset="mnist1d",
        model="mlp",
        train=TrainConfig(iterations=40, batch_size=50, eval_every=20),
        rounds=2,
        rates=0.5,
    )
    result = run_imp(config, data=load_dataset("mnist1d"), progress=False)
    dashboard = imp_explorer(result)
    assert dashboard.state["round"] == 0 and dashboard.state["weights_remaining"] == 1.0
    dashboard.controls["round"].value = 2
    assert dashboard.state["round"] == 2
    assert dashboard.state["weights_remaining"] == pytest.approx(result.rounds[2]["weights_remaining"])
    assert dashboard.state["reinit"] == result.rounds[2]["reinit"]["test_acc"]


def test_the_k_slider_shows_the_cached_line_and_barrier_at_each_k(data_root):
    from ltkit.connectivity import ConnectivityConfig, run_instability
    from ltkit.data import load_dataset
    from ltkit.widgets import stability_explorer

    short = TrainConfig(lr=1e-2, batch_size=50, iterations=40, eval_every=20)
    config = ConnectivityConfig(dataset="mnist1d", model="mlp", train=short, points=4, train_examples=500)
    rows = run_instability(config, [0, 10, 30], data=load_dataset("mnist1d"), progress=False)
    dashboard = stability_explorer(rows)
    assert dashboard.state["k"] == 0 and dashboard.state["dense"] == rows[0]["dense"]["barrier"]
    dashboard.controls["k"].value = 2
    assert dashboard.state["k"] == 30 and dashboard.state["dense"] == rows[2]["dense"]["barrier"]


def test_the_playground_runs_the_sweep_it_is_set_to_and_explains_bad_settings(data_root, monkeypatch):
    from ltkit import lottery
    from ltkit.widgets import playground

    real_config = lottery.imp_config
    monkeypatch.setattr(lottery, "imp_config", lambda *args, **kwargs: real_config(*args, **kwargs, epochs=1))
    dashboard = playground(profile="ci")
    dashboard.controls["rounds"].value = 2
    dashboard.controls["rate"].value = 0.5
    dashboard.controls["run"].click()
    assert dashboard.state["error"] is None
    result = dashboard.state["result"]
    assert len(result.rounds) == 3 and result.config.rates == 0.5
    assert dashboard.state["explorer"].state["round"] == 0 and "Done" in dashboard.ui.children[1].value
    dashboard.controls["model"].value = "conv2"
    dashboard.controls["run"].click()
    assert "needs image inputs" in dashboard.state["error"] and "Cannot run" in dashboard.ui.children[1].value
    assert not dashboard.controls["run"].disabled
