"""The figures of lessons 05-08: paths between networks, instability, late rewinding, the plane of a
curve, fast geometric ensembling. Part of ltkit.course.plots, which re-exports them."""

import numpy as np

from ltkit.course.style import ARM_STYLE, from_zero, new_axes, row, two_lines, values_above, values_inside
from ltkit.experiments.curves import CURVES
from ltkit.experiments.fge import cyclic_learning_rate
from ltkit.experiments.instability import STABLE_BELOW
from ltkit.experiments.paths import lerp

INSTABILITY_LABELS = {
    "dense": "dense network",
    "ticket": "IMP ticket",
    "random_mask": "random mask",
    "reinit": "random reinit",
}
ARM_PATHS = {label: ARM_STYLE[arm]["color"] for arm, label in INSTABILITY_LABELS.items()}
SHAPE_PATHS = {  # the diagrams' colours for a line and a curve (no arm's), and one more for weight matching
    "weight matching": "tab:brown",
    "curve": "tab:purple",
    "straight line": "tab:red",
}
OTHER_PATHS = ("black", "tab:gray", "tab:cyan", "tab:olive")  # paths of any other label, in turn
BARRIER_SPAN = 10  # points: a barrier axis is at least this tall, so that a barrier of 0.5 looks small
STABLE_LABEL = f"stable below {100 * STABLE_BELOW:.0f} points"


def path_colour(label, others):
    """An arm's path in the arm's colour; a straight line, a curve, a line after weight matching in
    SHAPE_PATHS' colours; any other path in the next colour of `others` (an iterator over OTHER_PATHS)."""
    if label in ARM_PATHS:
        return ARM_PATHS[label]
    shape = next((words for words in SHAPE_PATHS if words in label.lower()), None)
    return SHAPE_PATHS[shape] if shape else next(others)


def along_path(paths, key="test_err", ax=None, title="", xlabel="position on the path (alpha or t)"):
    """A measured path's error (or loss) against t, one line per label: {label: PathResult}; the y axis
    starts at 0, where error and loss do."""
    ax = new_axes(ax)
    percent = key.endswith("err")
    others = iter(OTHER_PATHS * len(paths))
    for label, path in paths.items():
        values = np.asarray(getattr(path, key)) * (100 if percent else 1)
        label_with_barrier = f"{label} (barrier {100 * path.barrier:.1f} points)"
        ax.plot(path.t, values, marker="o", ms=3, color=path_colour(label, others), label=label_with_barrier)
    ax.set_ylim(0, None)
    ax.set_xlabel(xlabel)
    ax.set_ylabel({"test_err": "test error (%)", "train_err": "training error (%)"}.get(key, key.replace("_", " ")))
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title)
    return ax


def barrier_against_k(rows, ax=None, title=""):
    """Instability: the error barrier between copies against the iteration k at which they split, per arm
    (mean over pairs of copies, with their standard deviation as error bars). rows: an InstabilityResult's."""
    ax = new_axes(ax)
    ks = [row["k"] for row in rows]
    tops = []
    for arm, label in INSTABILITY_LABELS.items():
        measured = [row for row in rows if arm in row]
        if not measured:
            continue
        if arm != "dense":
            label += f" ({100 * measured[0][arm].weights_remaining:.0f}%)"
        ax.errorbar(
            [row["k"] for row in measured],
            [100 * row[arm].barrier for row in measured],
            yerr=[100 * row[arm].barrier_std for row in measured],
            marker="o",
            capsize=3,
            color=ARM_STYLE[arm]["color"],
            label=label,
        )
        tops += [100 * (row[arm].barrier + row[arm].barrier_std) for row in measured]
    ax.axhline(100 * STABLE_BELOW, color="grey", ls=":", lw=1.5, label=STABLE_LABEL)
    from_zero(ax, max(tops, default=0), least=BARRIER_SPAN)
    linthresh = min([k for k in ks if k > 0] or [1])
    ax.set_xscale("symlog", linthresh=linthresh)
    ax.set_xlim(-0.3 * linthresh, 1.5 * max(ks + [1]))
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.minorticks_off()
    ax.set_xlabel("iteration k at which the copies split")
    ax.set_ylabel("error barrier (points)")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title)
    return ax


def barriers_by_arm(row, ax=None, title=""):
    """The barrier of each arm at one k (a row of an InstabilityResult), mean over pairs with its std, and each
    arm's final test accuracy above its bar. The axis starts at 0 and is at least BARRIER_SPAN tall (panels
    that share it, drawn one after the other, all fit)."""
    ax = new_axes(ax)
    arms = [arm for arm in INSTABILITY_LABELS if arm in row]
    records = [row[arm] for arm in arms]
    bars = ax.bar(
        range(len(arms)),
        [100 * r.barrier for r in records],
        yerr=[100 * r.barrier_std for r in records],
        capsize=4,
        color=[ARM_STYLE[arm]["color"] for arm in arms],
    )
    tops = [100 * (r.barrier + r.barrier_std) for r in records]
    values_above(ax, bars, tops, [f"acc. {100 * r.final_test_acc:.1f}%" for r in records])
    ax.set_xticks(range(len(arms)), [two_lines(INSTABILITY_LABELS[arm]) for arm in arms])
    ax.axhline(100 * STABLE_BELOW, color="grey", ls=":", lw=1.5, label=STABLE_LABEL)
    from_zero(ax, max(tops, default=0), least=BARRIER_SPAN)
    ax.set_ylabel("error barrier (points)")
    ax.set_xlabel("above each bar: the arm's final test accuracy")
    ax.legend()
    ax.set_title(title or f"copies split at iteration {row['k']}")
    return ax


def rewinding_figure(result, title=""):
    """Late rewinding: for each k, the final test accuracy of IMP's subnetwork against the dense network
    (with the matching threshold), and its instability."""
    figure, (left, right) = row(2, 4.4)
    ks = [str(row.k) for row in result.rows]
    ticket = ARM_STYLE["ticket"]["color"]
    accuracies = [100 * row.ticket_final_acc for row in result.rows]
    bars = left.bar(ks, accuracies, color=ticket)
    values_inside(left, bars, [f"{a:.1f}%" for a in accuracies])
    dense, threshold = 100 * result.matching.dense_final_acc, 100 * result.matching.threshold
    left.axhline(dense, color="black", ls="--", lw=1.5, label=f"dense network: {dense:.1f}%")
    left.axhline(threshold, color="black", ls=":", lw=1.5, label=f"matching from {threshold:.1f}%")
    left.set_ylim(0, 100)
    left.set_xlabel("IMP rewinds to iteration k")
    left.set_ylabel(f"final test accuracy (%) at {100 * result.weights_remaining:.1f}% of weights")
    left.set_title(title)
    tops = [100 * (row.barrier + row.barrier_std) for row in result.rows]
    right.bar(
        ks,
        [100 * row.barrier for row in result.rows],
        yerr=[100 * row.barrier_std for row in result.rows],
        capsize=4,
        color=ticket,
    )
    right.axhline(100 * STABLE_BELOW, color="grey", ls=":", lw=1.5, label=STABLE_LABEL)
    from_zero(right, max(tops, default=0), least=BARRIER_SPAN)
    right.set_xlabel("IMP rewinds to iteration k")
    right.set_ylabel("error barrier between copies (points)")
    handles = [h for ax in (left, right) for h in ax.get_legend_handles_labels()[0]]
    figure.legend(handles=handles, loc="outside lower center", ncols=3)
    return figure


def point_in_plane(plane, t, kind="straight line"):
    """The (x, y) of the point at t on the straight line, or on a curve ("bezier" or "polychain"), in the
    coordinates of the plane picture."""
    start, end, bend = (np.asarray(plane.points[name]) for name in ("start", "end", "bend"))
    return CURVES[kind](start, bend, end, t) if kind in CURVES else lerp(start, end, t)


def plane_picture(plane, kind="bezier", ax=None, title=""):
    """Test error over the plane through two networks and a curve's bend, with the line and the curve."""
    ax = new_axes(ax, figsize=(6, 4.8))
    error = 100 * np.asarray(plane.test_err)
    top = min(error.max(), error.min() + 40)
    levels = np.linspace(error.min(), max(top, error.min() + 1), 21)  # a flat surface still needs a range
    filled = ax.contourf(plane.x, plane.y, error, levels=levels, cmap="viridis", extend="max")
    ax.figure.colorbar(filled, ax=ax, label="test error (%)", format="%.0f")
    start, end, bend = (np.asarray(plane.points[name]) for name in ("start", "end", "bend"))
    path = np.array([point_in_plane(plane, t, kind) for t in np.linspace(0, 1, 51)])
    ax.plot(*path.T, color="white", lw=2, label=f"{kind} curve")
    ax.plot(*np.vstack([start, end]).T, color="white", lw=1.5, ls="--", label="straight line")
    ax.plot(*np.vstack([start, end]).T, "o", color="white", ms=8)
    ax.plot(*bend, "x", color="white", ms=8, label="bend")
    ax.set_xlabel("along the line (weight-space distance)")
    ax.set_ylabel("towards the bend")
    ax.legend(loc="upper right")
    ax.set_title(title)
    ax.set_aspect("equal")
    return ax


FGE_SIZE = (8, 4.8)  # inches: the FGE figure and its legend of seven networks, two to a row, under it
FGE_STYLE = {  # each network compared in lesson 08: its own colour, and a line style for greyscale
    "snapshots": dict(color="tab:gray", ls="-", marker="o", label="each FGE snapshot alone"),
    "start": dict(color="black", ls=":", label="the network FGE starts from"),
    "single": dict(color="tab:purple", ls="--", label="one network, whole budget"),
    "annealed": dict(color="tab:brown", ls=(0, (5, 1)), label="one network, learning rate annealed"),
    "independent": dict(color="tab:cyan", ls="-.", label="independent ensemble, same budget"),
    "fge": dict(color="tab:red", ls="-", label="FGE ensemble of all snapshots"),
    "growing": dict(color="tab:red", ls="-", marker="s", ms=5, label="ensemble of the first n"),
}


def fge_comparison(result, ax=None, title=""):
    """The test accuracy of each snapshot, and FGE's ensemble against its baselines at the same budget."""
    ax = new_axes(ax, figsize=FGE_SIZE)
    snapshots = result.snapshots
    ax.plot(range(1, len(snapshots) + 1), [100 * s["test_acc"] for s in snapshots], **FGE_STYLE["snapshots"])
    for name, value in (
        ("start", result.start_acc),
        ("single", result.single_acc),
        ("annealed", result.annealed_single_acc),
        ("independent", result.independent_acc),
        ("fge", result.fge_acc),
    ):
        style = FGE_STYLE[name]
        ax.axhline(100 * value, lw=2, **(style | dict(label=f"{style['label']}: {100 * value:.1f}%")))
    ax.set_xticks(range(1, len(snapshots) + 1))
    ax.set_xlabel("snapshot (one per learning-rate cycle)")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    fge_legend(ax)
    ax.set_title(title)
    return ax


def fge_legend(ax):
    """The FGE figure's legend under its axes (over them it would hide the lines), in two columns; drawn
    again, it replaces the one there."""
    if len(ax.figure.axes) > 1:
        ax.legend(loc="best")
        return
    for legend in list(ax.figure.legends):
        legend.remove()
    ax.figure.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=2)


def fge_schedule(config, cycles_shown=3, ax=None):
    """FGE's cyclic learning rate over a few cycles, with the snapshot points marked."""
    ax = new_axes(ax, figsize=(7, 2.5))
    steps = np.arange(cycles_shown * config.cycle)
    lrs = [cyclic_learning_rate(i, config.cycle, config.lr_high, config.lr_low) for i in steps]
    ax.plot(steps, lrs)
    minima = slice(config.cycle // 2 - 1, None, config.cycle)
    ax.plot(steps[minima], lrs[minima], "o", color="tab:red", label="snapshot")
    ax.set_xlabel("iteration after the start of FGE")
    ax.set_ylabel("learning rate")
    ax.legend()
    ax.set_title(f"{cycles_shown} of the FGE cycles")
    return ax
