"""The dashboards, driven without a browser: move a control, then check what the dashboard computed and
drew against figures computed here."""

import time
from dataclasses import replace

import matplotlib
import matplotlib.pyplot as plt
import pytest

from ltkit.course import panel
from ltkit.course import playground as sweep_form
from ltkit.course.dashboards import (
    alignment_explorer,
    at_init_explorer,
    controls_explorer,
    curve_explorer,
    fge_explorer,
    imp_explorer,
    sparsity_explorer,
    stability_explorer,
    training_explorer,
)
from ltkit.course.playground import playground, steps_done
from ltkit.engine.datasets import load_dataset
from ltkit.engine.masks import layer_kinds
from ltkit.engine.models import build_model
from ltkit.engine.training import TrainConfig, evaluate, train
from ltkit.experiments.align import AlignConfig, AlignResult
from ltkit.experiments.at_init import PruneAtInitConfig, methods_across_seeds, run_prune_at_init
from ltkit.experiments.curves import run_curve
from ltkit.experiments.fge import FGEConfig, run_fge
from ltkit.experiments.imp import ARMS, IMPConfig, imp_config, run_imp
from ltkit.experiments.instability import InstabilityConfig, run_instability
from ltkit.experiments.paths import PathResult
from ltkit.experiments.plane import PlaneConfig, run_plane
from ltkit.experiments.profiles import LESSON_SEED
from tests.test_oneshot import torch_pruned

matplotlib.use("Agg")
SHORT = TrainConfig(lr=1e-2, batch_size=50, iterations=40, eval_every=20)


@pytest.fixture
def figures(monkeypatch):
    """Every figure a dashboard draws, kept for inspection instead of being displayed."""
    drawn = []
    monkeypatch.setattr(panel, "redraw", lambda output, draw: drawn.append(draw()))
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
    reference = torch_pruned(model, keep, scope)
    weights = dict(reference.named_parameters())
    fractions = [(weights[name] != 0).float().mean().item() for name in layer_kinds(reference)]
    return evaluate(reference, data.x_test, data.y_test)[1], fractions


def bar_widths(ax):
    """The bars of a per-layer figure, first layer first, as fractions."""
    return [patch.get_width() / 100 for patch in ax.patches][::-1]


def answer(dashboard):
    """What the status line under a dashboard's inputs says now."""
    return dashboard.ui.children[2].value


def assert_opens_on_its_first_frame_with_the_answer_hidden(dashboard):
    assert all(widget.index == 0 for widget in dashboard.inputs.values() if hasattr(widget, "index"))
    assert not dashboard.state["revealed"] and "Reveal" in answer(dashboard)
    assert dashboard.state["status"] not in answer(dashboard)


def commit(dashboard, guess):
    dashboard.inputs["guess"].value = guess
    dashboard.inputs["reveal"].value = True


def points_drawn(ax):
    """How many points each line of error bars on `ax` has (against_sparsity's and barrier_against_k's)."""
    return {len(container.lines[0].get_xdata()) for container in ax.containers}


def test_an_explorer_shows_its_answer_only_beside_a_committed_guess(figures):
    show = lambda values: dict(x=values["x"], status=f"x is {values['x']}")
    dashboard = panel.explorer(dict(x=panel.slider("x", [("one", 1), ("two", 2)])), show, draw=dict)
    assert dashboard.state == dict(x=1, status="x is 1", revealed=False, guess="")
    assert_opens_on_its_first_frame_with_the_answer_hidden(dashboard)
    dashboard.inputs["x"].value = 2  # computed while hidden, for tests and the lessons' probe cells
    assert dashboard.state["x"] == 2 and "x is 2" not in answer(dashboard) and not figures[-1]["revealed"]
    commit(dashboard, " <2 ")
    assert answer(dashboard) == "x is 2<br>Your guess: <b>&lt;2</b>" and figures[-1]["revealed"]
    assert dashboard.inputs["guess"].disabled  # committed
    dashboard.inputs["x"].value = 1
    assert answer(dashboard) == "x is 1<br>Your guess: <b>&lt;2</b>"
    dashboard.inputs["reveal"].value = False  # hidden again, for the next guess
    assert "x is 1" not in answer(dashboard) and not dashboard.inputs["guess"].disabled
    dashboard.inputs["guess"].value = ""
    dashboard.inputs["reveal"].value = True
    assert answer(dashboard) == "x is 1"  # no guess, no guess line


def test_the_sparsity_slider_shows_the_accuracy_of_the_network_pruned_at_once(trained, tiny_data, figures):
    dashboard = sparsity_explorer(trained, tiny_data)
    assert_opens_on_its_first_frame_with_the_answer_hidden(dashboard)
    dense = evaluate(trained, tiny_data.x_test, tiny_data.y_test)[1]
    assert dashboard.state["test_acc"] == dense > 0.8
    dashboard.inputs["keep"].value = 0.01
    accuracy, fractions = torch_pruned_accuracy(trained, tiny_data, 0.01, "layerwise")
    assert dashboard.state["test_acc"] == accuracy < dense - 0.2
    left, right = figures[-1].axes[:2]
    marker = left.lines[-1]  # the ring around the current measurement
    assert list(marker.get_xdata()) == [1.0] and list(marker.get_ydata()) == [pytest.approx(100 * accuracy)]
    assert bar_widths(right) == pytest.approx(fractions)

    dashboard.inputs["keep"].value = 0.3
    dashboard.inputs["scope"].value = "global"
    accuracy, fractions = torch_pruned_accuracy(trained, tiny_data, 0.3, "global")
    assert dashboard.state["test_acc"] == accuracy and dashboard.state["scope"] == "global"
    assert bar_widths(figures[-1].axes[1]) == pytest.approx(fractions)
    assert len(figures) == 4 and not dashboard.inputs["keep"].disabled  # inputs come back after computing


def test_the_round_slider_shows_each_rounds_cached_results(mnist1d, figures, count_training):
    config = IMPConfig(dataset="mnist1d", model="mlp", train=SHORT, rounds=2, rates=0.5)
    result = run_imp(config, data=mnist1d, progress=False)
    count_training.clear()
    dashboard = imp_explorer(result)
    assert_opens_on_its_first_frame_with_the_answer_hidden(dashboard)
    for r in (0, 2):
        dashboard.inputs["round"].value = r
        record = result.rounds[r]
        assert dashboard.state["weights_remaining"] == record.weights_remaining
        assert all(dashboard.state[arm] == record.results[arm].final_test_acc for arm in ARMS)
        curves, against, mask = figures[-1].axes[:3]
        shown = [list(line.get_ydata()) for line in curves.lines]
        histories = [record.results[arm].history for arm in ARMS if arm == "ticket" or r > 0]
        assert shown == [[pytest.approx(100 * row["val_acc"]) for row in history] for history in histories]
        assert list(against.lines[-1].get_xdata()) == [100 * record.weights_remaining] * 2
        assert points_drawn(against) == {r + 1}  # the rounds so far, until the answer is revealed
        assert bar_widths(mask) == pytest.approx([keep.float().mean().item() for keep in record.mask.values()])
    dashboard.inputs["round"].value = 1
    commit(dashboard, "the ticket stays ahead")
    assert points_drawn(figures[-1].axes[1]) == {3} and dashboard.state["status"] in answer(dashboard)
    assert count_training == []  # everything from the finished sweep


def test_the_k_slider_shows_the_cached_line_and_barrier_at_each_k(mnist1d, figures):
    config = InstabilityConfig("mnist1d", "mlp", SHORT, points=4, train_examples=500, rewind_iters=(0, 10, 30))
    result = run_instability(config, data=mnist1d, progress=False)
    rows, dashboard = result.rows, stability_explorer(result)
    assert_opens_on_its_first_frame_with_the_answer_hidden(dashboard)
    for index in (2, 1):
        dashboard.inputs["k"].value = index
        row = rows[index]
        assert dashboard.state["k"] == row["k"] and dashboard.state["dense"] == row["dense"].barrier
        left, right = figures[-1].axes[:2]
        assert list(left.lines[0].get_ydata()) == pytest.approx([100 * e for e in row["dense"].lines[0].test_err])
        assert list(right.lines[-1].get_xdata()) == [row["k"]] * 2
        assert points_drawn(right) == {index + 1}  # the barriers so far, on the axis of every k
        assert [label.get_text() for label in right.get_xticklabels()] == ["0", "10", "30"]
    commit(dashboard, "stable from k = 10")
    assert points_drawn(figures[-1].axes[1]) == {3} and dashboard.state["status"] in answer(dashboard)


def test_the_round_slider_over_several_seeds_shows_their_mean_or_one_seed(mnist1d, figures):
    sweeps = [run_imp(IMPConfig("mnist1d", "mlp", SHORT, rounds=1, rates=0.5, seed=s), data=mnist1d) for s in (0, 1)]
    dashboard = imp_explorer(sweeps)
    dashboard.inputs["round"].value = 1
    final = [sweep.rounds[1].results["ticket"].final_test_acc for sweep in sweeps]
    assert dashboard.state["ticket"] == pytest.approx(sum(final) / 2) and dashboard.state["seeds"] == 2
    dashboard.inputs["seeds"].value = 1
    assert dashboard.state["ticket"] == final[1] and dashboard.state["seeds"] == 1


def test_the_controls_explorer_shows_each_arms_mean_and_the_gaps_to_the_ticket(mnist1d, figures):
    sweeps = [run_imp(IMPConfig("mnist1d", "mlp", SHORT, rounds=2, rates=0.5, seed=s), data=mnist1d) for s in (0, 1)]
    dashboard = controls_explorer(sweeps)
    assert_opens_on_its_first_frame_with_the_answer_hidden(dashboard)
    assert points_drawn(figures[-1].axes[1]) == {1}  # the whole curve waits for the reveal
    dashboard.inputs["round"].value = 2
    mean = lambda arm: sum(s.rounds[2].results[arm].final_test_acc for s in sweeps) / 2
    assert dashboard.state["ticket"] == pytest.approx(mean("ticket"))
    assert dashboard.state["gap_reinit"] == pytest.approx(mean("ticket") - mean("reinit"))
    bars = figures[-1].axes[0].patches
    assert [bar.get_height() for bar in bars] == pytest.approx([100 * mean(arm) for arm in ARMS])


def test_the_training_slider_shows_where_early_stopping_would_stop_so_far(tiny_data, figures):
    result = train(build_model("mlp", (20,)), tiny_data, TrainConfig(iterations=60, batch_size=50, eval_every=10))
    dashboard = training_explorer(result)
    assert_opens_on_its_first_frame_with_the_answer_hidden(dashboard)
    assert dashboard.state["iteration"] == 0 == dashboard.state["early_stop_iter"]
    dashboard.inputs["until"].value = len(result.history) - 1
    assert dashboard.state["iteration"] == 60 and dashboard.state["early_stop_iter"] == result.early_stop_iter
    dashboard.inputs["until"].value = 2
    seen = result.history[:3]
    assert dashboard.state["iteration"] == 20
    assert dashboard.state["early_stop_iter"] == min(seen, key=lambda row: row["val_loss"])["iteration"]
    assert len(figures[-1].axes[0].lines[0].get_xdata()) == 3  # the curves stop at the slider
    commit(dashboard, "iteration 20")
    assert answer(dashboard) == dashboard.state["status"] + "<br>Your guess: <b>iteration 20</b>"


def test_the_k_slider_merges_the_dense_rows_and_the_subnetworks_by_k(mnist1d, figures):
    config = InstabilityConfig(
        "mnist1d", "mlp", SHORT, points=4, train_examples=500, rates=0.5, rewind_iters=(0, 10, 30)
    )
    dense = run_instability(config, data=mnist1d, progress=False)
    arms = run_instability(replace(config, rewind_iters=(0,), weights_remaining=0.5), data=mnist1d, progress=False)
    dashboard = stability_explorer(dense, arms)
    assert set(dashboard.state) >= {"dense", "ticket", "random_mask", "reinit"} and dashboard.state["k"] == 0
    dashboard.inputs["k"].value = 2
    assert dashboard.state["k"] == 30 and "ticket" not in dashboard.state
    assert dashboard.state["dense"] == dense.rows[2]["dense"].barrier


def test_the_t_slider_moves_a_point_along_the_line_and_the_curve(mnist1d, figures):
    config = PlaneConfig("mnist1d", "mlp", SHORT, points=5, train_examples=500, resolution=3)
    plane = run_plane(config, data=mnist1d, progress=False)
    result = run_curve(config.as_curve(), data=mnist1d, progress=False)  # the plane's curve, from the cache
    dashboard = curve_explorer(result, plane)
    assert_opens_on_its_first_frame_with_the_answer_hidden(dashboard)
    dashboard.inputs["t"].value = 2
    assert dashboard.state["t"] == 0.5
    assert dashboard.state["line_test_err"] == result.line.test_err[2]
    assert dashboard.state["curve_test_err"] == result.curve.test_err[2]
    along = figures[-1].axes[1]  # the paths up to t, their barriers not named
    assert [len(line.get_xdata()) for line in along.lines[:2]] == [3, 3]
    assert [text.get_text() for text in along.get_legend().get_texts()] == ["straight line", "bezier curve"]
    commit(dashboard, "about 10 points")
    along = figures[-1].axes[1]
    assert [len(line.get_xdata()) for line in along.lines[:2]] == [5, 5]
    assert "barrier" in along.get_legend().get_texts()[0].get_text()
    picture = figures[-1].axes[0]
    on_curve = picture.lines[-1]  # the filled dot at t on the curve
    start, end, bend = (plane.points[name] for name in ("start", "end", "bend"))
    expected = [0.25 * a + 0.5 * b + 0.25 * c for a, b, c in zip(start, bend, end)]
    assert [on_curve.get_xdata()[0], on_curve.get_ydata()[0]] == pytest.approx(expected)


def path_with(test_err):
    zeros = [0.0] * len(test_err)
    return PathResult(t=[0.0, 0.5, 1.0], train_loss=zeros, train_err=zeros, test_loss=zeros, test_err=test_err)


def test_the_alpha_slider_reads_both_lines_of_the_chosen_network(figures):
    lenet, mlp = (AlignConfig("fashion-mnist", "lenet300_100", SHORT), AlignConfig("mnist1d", "mlp", SHORT))
    results = {
        "lenet300_100": AlignResult(lenet, [1, 2], path_with([0.1, 0.4, 0.12]), path_with([0.1, 0.11, 0.12]), sweeps=3),
        "mlp": AlignResult(mlp, [1, 2], path_with([0.3, 0.7, 0.32]), path_with([0.3, 0.45, 0.32]), sweeps=5),
    }
    dashboard = alignment_explorer(results)
    assert_opens_on_its_first_frame_with_the_answer_hidden(dashboard)
    assert dashboard.state["alpha"] == 0.0 and dashboard.state["line_test_err"] == 0.1
    dashboard.inputs["alpha"].value = 1
    assert dashboard.state["line_test_err"] == 0.4 and dashboard.state["aligned_test_err"] == 0.11
    dashboard.inputs["network"].value = "mlp"
    assert (dashboard.state["line_test_err"], dashboard.state["aligned_test_err"]) == (0.7, 0.45)
    assert [len(line.get_xdata()) for line in figures[-1].axes[0].lines[:2]] == [2, 2]  # up to alpha
    commit(dashboard, "30 points, then 10")
    assert [len(line.get_xdata()) for line in figures[-1].axes[0].lines[:2]] == [3, 3]
    dashboard.inputs["alpha"].value = 2
    assert dashboard.state["alpha"] == 1.0 and dashboard.state["line_test_err"] == 0.32
    marker = figures[-1].axes[0].lines[-1]  # the red line at alpha
    assert list(marker.get_xdata()) == [1.0, 1.0] and figures[-1].axes[0].get_title() == "mlp"


def test_the_sparsity_slider_shows_each_methods_checks_at_that_sparsity(mnist1d, figures):
    configs = [PruneAtInitConfig("mnist1d", "mlp", SHORT, rounds=(1, 3), seed=s, synflow_iterations=5) for s in (0, 1)]
    results = [run_prune_at_init(config, data=mnist1d, progress=False) for config in configs]
    dashboard = at_init_explorer(results)
    assert_opens_on_its_first_frame_with_the_answer_hidden(dashboard)
    plain, shuffled = methods_across_seeds(results), methods_across_seeds(results, "shuffled")
    assert dashboard.state["sparsity"] == results[0].weights_remaining[0]
    dashboard.inputs["sparsity"].value = 1
    assert dashboard.state["sparsity"] == results[0].weights_remaining[1]
    assert dashboard.state["accuracy"] == {method: line["mean"][1] for method, line in plain.items()}
    assert (
        dashboard.state["shuffled"]["imp"] == shuffled["imp"]["mean"][1] and "random" not in dashboard.state["shuffled"]
    )
    bars = [patch.get_height() for patch in figures[-1].axes[0].patches]
    assert bars[: len(plain)] == pytest.approx([100 * line["mean"][1] for line in plain.values()])


def test_the_snapshot_slider_grows_the_fge_ensemble(mnist1d, figures):
    config = FGEConfig("mnist1d", "mlp", SHORT, cycles=3, cycle=4, lr_high=1e-2, lr_low=1e-4)
    result = run_fge(config, data=mnist1d, progress=False)
    dashboard = fge_explorer(result)
    assert_opens_on_its_first_frame_with_the_answer_hidden(dashboard)
    assert dashboard.state["n"] == 1
    assert dashboard.state["ensemble_acc"] == result.snapshots[0]["test_acc"] == dashboard.state["best_member_acc"]
    dashboard.inputs["n"].value = 2
    ensemble = figures[-1].axes[0].lines[-2]  # the ensemble of the first n, under the ring at n
    assert list(ensemble.get_ydata()) == pytest.approx([100 * a for a in result.ensemble_accs[:2]])
    commit(dashboard, "two")
    dashboard.inputs["n"].value = 3
    assert dashboard.state["ensemble_acc"] == result.fge_acc and len(figures[-1].axes[0].lines[-2].get_xdata()) == 3


def test_the_playground_trains_in_the_background_and_explains_bad_settings(data_root, monkeypatch):
    real_config = sweep_form.imp_config
    monkeypatch.setattr(sweep_form, "imp_config", lambda *a, **kw: real_config(*a, **kw, epochs=1))
    dashboard = playground(profile="ci")
    dashboard.inputs["rounds"].value = 2
    dashboard.inputs["rate"].value = 0.5
    dashboard.inputs["run"].click()
    dashboard.state["job"].join()
    assert dashboard.state["error"] is None
    result = dashboard.state["result"]
    assert result.config.seed == LESSON_SEED  # the form starts on the lessons' seed, not a calibration one
    config = imp_config("mnist1d", "mlp", "ci", epochs=1, rounds=2, rates=0.5, seed=LESSON_SEED)
    same = run_imp(config, data=load_dataset("mnist1d"))
    assert result.to_json() == same.to_json() and len(result.rounds) == 3
    assert steps_done(result.config, load_dataset("mnist1d")) == (7, 7)
    shown = dashboard.state["explorer"].state
    assert shown["round"] == 0 and shown["ticket"] == result.rounds[0].results["ticket"].final_test_acc
    assert "Done (seed 10): 25.0% of weights after 2 rounds" in dashboard.ui.children[1].value
    assert len(dashboard.ui.children[2].outputs) == 1  # the explorer
    dashboard.inputs["model"].value = "conv2"
    dashboard.inputs["run"].click()
    dashboard.state["job"].join()
    assert "needs image inputs" in dashboard.state["error"] and "Cannot run" in dashboard.ui.children[1].value
    assert dashboard.ui.children[2].outputs == () and not dashboard.inputs["run"].disabled


def test_the_playground_prunes_globally_and_without_controls_when_asked(data_root, monkeypatch):
    real_config = sweep_form.imp_config
    monkeypatch.setattr(sweep_form, "imp_config", lambda *a, **kw: real_config(*a, **kw, epochs=1))
    dashboard = playground(profile="ci")
    dashboard.inputs["rounds"].value = 1
    dashboard.inputs["scope"].value = "global"
    dashboard.inputs["controls"].value = False
    dashboard.inputs["run"].click()
    dashboard.state["job"].join()
    config = dashboard.state["result"].config
    assert (config.scope, config.rates, config.controls) == ("global", 0.2, ())
    assert list(dashboard.state["result"].rounds[1].results) == ["ticket"]


def test_a_second_click_while_a_sweep_trains_does_nothing_and_the_bar_ends_full(data_root, monkeypatch):
    real_config = sweep_form.imp_config
    monkeypatch.setattr(sweep_form, "imp_config", lambda *a, **kw: real_config(*a, **kw, epochs=1))
    dashboard = playground(profile="ci")
    dashboard.inputs["rounds"].value = 1
    dashboard.inputs["run"].click()
    first = dashboard.state["job"]
    dashboard.inputs["run"].click()  # while the first trains
    assert dashboard.state["job"] is first
    first.join()
    bar = dashboard.ui.children[0].children[-1].children[1]
    deadline = time.monotonic() + 5
    while bar.value < bar.max and time.monotonic() < deadline:  # the watcher's last look
        time.sleep(0.1)
    assert bar.value == bar.max == 1 + 3
