"""The course's figures draw the numbers they are given: checked on hand-made results."""

from types import SimpleNamespace

import matplotlib
import matplotlib.pyplot as plt
import matplotlib.text
import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgba
from matplotlib.container import BarContainer
from matplotlib.font_manager import FontProperties
from matplotlib.transforms import Bbox

from ltkit.course import plots
from ltkit.engine.datasets import Splits
from ltkit.engine.masks import full_mask, layer_kinds, prune_by_magnitude
from ltkit.engine.models import build_model
from ltkit.engine.training import TrainConfig
from ltkit.experiments.at_init import METHODS
from ltkit.experiments.fge import FGEConfig
from ltkit.experiments.instability import Instability
from ltkit.experiments.paths import PathResult
from ltkit.experiments.plane import PlaneConfig, PlaneResult
from ltkit.experiments.stats import Matching

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def path(test_err):
    n = len(test_err)
    t = [i / (n - 1) for i in range(n)]
    return PathResult(t=t, train_loss=[0.0] * n, train_err=[0.0] * n, test_loss=[0.0] * n, test_err=test_err)


def errorbars(ax, index):
    """(x, y, error) of the index-th errorbar line of `ax`."""
    data_line, _, (bars, *_) = ax.containers[index]
    segments = bars.get_segments()
    return list(data_line.get_xdata()), list(data_line.get_ydata()), [(s[1][1] - s[0][1]) / 2 for s in segments]


def test_a_path_is_drawn_in_percent_and_labelled_with_its_barrier():
    ax = plots.along_path({"copies": path([0.10, 0.30, 0.12])})
    line = ax.lines[0]
    assert list(line.get_ydata()) == pytest.approx([10, 30, 12]) and list(line.get_xdata()) == [0, 0.5, 1]
    assert line.get_label() == "copies (barrier 19.0 points)"


def test_barriers_against_k_are_the_mean_over_pairs_with_their_spread():
    def arm(barriers, remaining=1.0):
        return Instability(barriers, [0.9] * 2 * len(barriers), [path([0.1, 0.2])] * len(barriers), remaining)

    rows = [
        dict(k=0, dense=arm([0.10, 0.14]), ticket=arm([0.01, 0.03], 0.2)),
        dict(k=100, dense=arm([0.02, 0.02]), ticket=arm([0.00, 0.02], 0.2)),
    ]
    ax = plots.barrier_against_k(rows)
    x, y, error = errorbars(ax, 0)
    assert x == [0, 100] and y == pytest.approx([12, 2]) and error == pytest.approx([100 * 0.04 / 2**0.5, 0])
    x, y, error = errorbars(ax, 1)
    assert y == pytest.approx([2, 1]) and error == pytest.approx([100 * 0.02 / 2**0.5] * 2)
    assert {"dense network", "IMP ticket (20%)", "stable below 2 points"} == set(ax.get_legend_handles_labels()[1])


def test_accuracy_against_sparsity_is_drawn_in_percent_of_weights_remaining():
    lines = {"ticket": dict(weights_remaining=[1.0, 0.5, 0.2], mean=[0.9, 0.92, 0.85], std=[0.01, 0.0, 0.02])}
    ax = plots.against_sparsity(lines, dense=0.9)
    x, y, error = errorbars(ax, 0)
    assert x == pytest.approx([100, 50, 20]) and y == pytest.approx([90, 92, 85]) and error == pytest.approx([1, 0, 2])
    assert ax.get_xlim()[0] > ax.get_xlim()[1]  # 100% on the left: pruning more to the right


def test_the_fge_schedule_marks_a_snapshot_at_each_learning_rate_minimum():
    config = FGEConfig("mnist1d", "mlp", TrainConfig(), cycles=4, cycle=10, lr_high=1e-2, lr_low=1e-4)
    ax = plots.fge_schedule(config, cycles_shown=3)
    schedule, marks = ax.lines[:2]
    assert len(schedule.get_xdata()) == 30 and max(schedule.get_ydata()) == pytest.approx(1e-2)
    assert list(marks.get_xdata()) == [4, 14, 24] and list(marks.get_ydata()) == pytest.approx([1e-4] * 3)


def test_a_mask_on_images_is_drawn_as_connections_kept_per_pixel_else_per_layer():
    model = build_model("lenet300_100", (1, 28, 28))
    mask = prune_by_magnitude(dict(model.named_parameters()), full_mask(model), 0.8, layer_kinds(model))
    images = torch.zeros(4, 1, 28, 28)
    data = Splits("pictures", images, torch.zeros(4, dtype=torch.long), images, torch.zeros(4), images, torch.zeros(4))
    ax = plots.mask_picture(mask, data)
    shown = np.asarray(ax.images[0].get_array())
    assert shown.shape == (28, 28) and np.array_equal(shown, mask["layers.1.weight"].sum(0).view(28, 28).numpy())
    flat = Splits("signals", torch.zeros(4, 784), torch.zeros(4), torch.zeros(4, 784), torch.zeros(4), images, images)
    bars = plots.mask_picture(mask, flat).patches
    assert [bar.get_width() for bar in bars][::-1] == pytest.approx([20, 20, 20], abs=0.1)


def test_a_flat_error_surface_can_be_drawn():
    flat = PlaneResult(
        PlaneConfig("mnist1d", "mlp", TrainConfig()),
        x=[0, 1, 2],
        y=[0, 1, 2],
        test_err=[[0.9] * 3] * 3,
        points=dict(start=(0, 0), end=(2, 0), bend=(1, 1)),
    )
    plots.plane_picture(flat)


# --- readable on a projector, and comparable between figures ------------------------------------------------


def instability_row(k, barriers, accuracy=0.9):
    """A row of an InstabilityResult at k: each arm's barriers (two pairs of copies) and final accuracy."""
    return dict(
        k=k,
        **{
            arm: Instability(
                pair, [accuracy] * 4, [path([0.1, 0.1 + max(pair), 0.1])] * 2, 0.2 if arm != "dense" else 1
            )
            for arm, pair in barriers.items()
        },
    )


SMALL = dict(dense=[0.004, 0.006], ticket=[0.003, 0.005], random_mask=[0.004, 0.004], reinit=[0.005, 0.007])
LARGE = dict(dense=[0.30, 0.34], ticket=[0.01, 0.02], random_mask=[0.40, 0.46], reinit=[0.42, 0.44])


def texts_of(figure):
    """Every text a drawn figure shows: (text, box in pixels)."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    shown = [t for t in figure.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text().strip()]
    return [(t, t.get_window_extent(renderer)) for t in shown]


def overlapping(boxes, gap=0):
    """The pairs of (text, box) that overlap, or are closer than `gap` pixels."""
    boxes = [(text, box.expanded(1, 1).padded(gap / 2)) for text, box in boxes]
    return [
        (a, b)
        for i, (a, box_a) in enumerate(boxes)
        for b, box_b in boxes[i + 1 :]
        if (common := Bbox.intersection(box_a, box_b)) is not None and common.width * common.height > 1
    ]


def rewinding_result(accuracies=(0.905, 0.93), barriers=(0.05, 0.004)):
    rows = [
        SimpleNamespace(k=k, ticket_final_acc=a, barrier=b, barrier_std=0.002)
        for k, a, b in zip((0, 500), accuracies, barriers)
    ]
    return SimpleNamespace(rows=rows, matching=Matching([0.935, 0.925, 0.94]), weights_remaining=0.134)


def fge_result():
    return SimpleNamespace(
        snapshots=[dict(test_acc=a) for a in (0.80, 0.81, 0.805)],
        start_acc=0.79,
        single_acc=0.80,
        annealed_single_acc=0.805,
        independent_acc=0.83,
        fge_acc=0.825,
        ensemble_accs=[0.80, 0.815, 0.825],
    )


def at_init_summary(methods=METHODS):
    return {m: dict(weights_remaining=[0.3, 0.1], mean=[0.8, 0.7], std=[0.01, 0.02]) for m in methods}


@pytest.mark.parametrize(
    "key", ["font.size", "axes.labelsize", "legend.fontsize", "xtick.labelsize", "ytick.labelsize"]
)
def test_the_course_style_sets_text_of_11_pt_or_more(key):
    assert FontProperties(size=plt.rcParams[key]).get_size_in_points() >= 11


def test_the_figures_text_is_11_pt_or_more():
    figures = [
        plots.rewinding_figure(rewinding_result()),
        plots.fge_comparison(fge_result()).figure,
        plots.barriers_by_arm(instability_row(0, LARGE)).figure,
        plots.checks_bars({"": at_init_summary(), "shuffled": at_init_summary(("snip", "imp"))}, 1).figure,
        plots.learning_curves([dict(iteration=i, train_loss=1, val_loss=1, train_acc=1, val_acc=1) for i in (0, 1)])[
            0
        ].figure,
    ]
    small = [
        (t.get_text(), t.get_fontsize()) for figure in figures for t, _ in texts_of(figure) if t.get_fontsize() < 11
    ]
    assert not small


def test_imps_ticket_and_random_pruning_keep_their_arms_colours_among_the_pruning_methods():
    ax = plots.against_sparsity(at_init_summary())
    colours = {method: to_rgba(container.lines[0].get_color()) for method, container in zip(METHODS, ax.containers)}
    assert colours["imp"] == to_rgba(plots.ARM_STYLE["ticket"]["color"])
    assert colours["random"] == to_rgba(plots.ARM_STYLE["random_mask"]["color"])
    at_init = [colours[m] for m in ("snip", "grasp", "synflow", "magnitude")]
    arms = {to_rgba(style["color"]) for style in plots.ARM_STYLE.values()}
    assert len(set(at_init)) == 4 and not set(at_init) & arms  # no at-init method looks like an arm


def test_the_checks_bars_colour_each_method_and_each_check_as_the_arms_it_is():
    checks = {"": at_init_summary(), "shuffled": at_init_summary(("snip", "imp")), "reinit": at_init_summary(("imp",))}
    ax = plots.checks_bars(checks, 1)
    own, shuffled, reinit = [container for container in ax.containers if isinstance(container, BarContainer)]
    assert [to_rgba(bar.get_facecolor()) for bar in own.patches] == [
        to_rgba(plots.METHOD_STYLE[m]["color"]) for m in METHODS
    ]
    assert to_rgba(own.patches[METHODS.index("imp")].get_facecolor()) == to_rgba(plots.ARM_STYLE["ticket"]["color"])
    assert to_rgba(shuffled.patches[0].get_facecolor()) == to_rgba(plots.ARM_STYLE["random_mask"]["color"])
    assert to_rgba(reinit.patches[0].get_facecolor()) == to_rgba(plots.ARM_STYLE["reinit"]["color"])
    assert ax.get_ylim()[0] == 0  # accuracy bars from 0


def test_an_arms_path_has_the_arms_colour():
    lines = {plots.INSTABILITY_LABELS[arm]: path([0.1, 0.2, 0.1]) for arm in ("dense", "ticket", "reinit")}
    ax = plots.along_path(lines)
    assert [to_rgba(line.get_color()) for line in ax.lines] == [
        to_rgba(plots.ARM_STYLE[arm]["color"]) for arm in ("dense", "ticket", "reinit")
    ]
    assert ax.get_ylim()[0] == 0  # error from 0


@pytest.mark.parametrize("barriers", [SMALL, LARGE])
def test_barrier_axes_start_at_0_and_are_not_zoomed_onto_small_barriers(barriers):
    highest = 100 * max(max(pair) for pair in barriers.values())
    rows = [instability_row(0, barriers), instability_row(100, barriers)]
    against_k, by_arm = plots.barrier_against_k(rows), plots.barriers_by_arm(rows[0])
    rewinding = plots.rewinding_figure(rewinding_result(barriers=[max(barriers["ticket"])] * 2)).axes[1]
    for ax in (against_k, by_arm, rewinding):
        bottom, top = ax.get_ylim()
        assert bottom == 0 and top >= max(10, highest if ax is not rewinding else 0)
        assert 100 * 0.02 in [line.get_ydata()[0] for line in ax.lines]  # the stability line, at 2 points


def test_barrier_panels_that_share_their_axis_all_fit_whichever_is_drawn_first():
    for first, second in ((SMALL, LARGE), (LARGE, SMALL)):
        figure, axes = plots.row(2)
        axes[1].sharey(axes[0])
        for ax, barriers in zip(axes, (first, second)):
            plots.barriers_by_arm(instability_row(0, barriers), ax=ax)
        assert axes[0].get_ylim() == axes[1].get_ylim() and axes[0].get_ylim()[1] >= 100 * 0.46


def test_accuracy_bars_start_at_0():
    figure = plots.rewinding_figure(rewinding_result())
    assert figure.axes[0].get_ylim()[0] == 0
    assert [t.get_text() for t in figure.axes[0].texts] == ["90.5%", "93.0%"]  # each bar's value, in it


def test_the_barrier_bars_labels_and_accuracies_do_not_overlap():
    figure, axes = plots.row(2)  # as lessons 05 and 06 draw them: two panels sharing their axis
    axes[1].sharey(axes[0])
    for ax, barriers in zip(axes, (SMALL, LARGE)):
        plots.barriers_by_arm(instability_row(0, barriers, accuracy=0.642), ax=ax)
    texts = texts_of(figure)
    labels = [(t.get_text(), box) for t, box in texts if t in axes[0].get_xticklabels() + axes[1].get_xticklabels()]
    assert len(labels) == 8 and not overlapping(labels, gap=10)  # apart, not merely not touching
    assert not overlapping([(t.get_text(), box) for t, box in texts])
    assert [t.get_text() for t in axes[0].texts] == ["acc. 64.2%"] * 4


def test_each_network_the_fge_figure_compares_has_its_own_colour_and_line_style():
    ax = plots.fge_comparison(fge_result())
    assert len(ax.lines) == 6
    assert len({to_rgba(line.get_color()) for line in ax.lines}) == 6
    compared = [style for name, style in plots.FGE_STYLE.items() if name != "growing"]  # the dashboard's own
    assert len({(str(style["ls"]), style.get("marker")) for style in compared}) == 6  # apart in greyscale too
    figure = ax.figure
    legend = figure.legends[0]
    figure.canvas.draw()
    box = legend.get_window_extent(figure.canvas.get_renderer())
    assert figure.bbox.x0 <= box.x0 and box.x1 <= figure.bbox.x1 and len(legend.get_texts()) == 6
