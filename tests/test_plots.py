"""The course's figures draw the numbers they are given: checked on hand-made results."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from ltkit.course import plots
from ltkit.engine.datasets import Splits
from ltkit.engine.masks import full_mask, layer_kinds, prune_by_magnitude
from ltkit.engine.models import build_model
from ltkit.engine.training import TrainConfig
from ltkit.experiments.fge import FGEConfig
from ltkit.experiments.instability import Instability
from ltkit.experiments.paths import PathResult
from ltkit.experiments.plane import PlaneConfig, PlaneResult

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
