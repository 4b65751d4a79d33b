"""The figures of lessons 05 and 06: paths between networks, instability, late rewinding, the plane of a
curve, fast geometric ensembling. Part of ltkit.course.plots, which re-exports them."""

import numpy as np

from ltkit.course.style import ARM_STYLE, new_axes, row
from ltkit.experiments.curves import CURVES
from ltkit.experiments.fge import cyclic_learning_rate
from ltkit.experiments.instability import STABLE_BELOW
from ltkit.experiments.paths import lerp


def along_path(paths, key="test_err", ax=None, title="", xlabel="position on the path (alpha or t)"):
    """A measured path's error (or loss) against t, one line per label: {label: PathResult}."""
    ax = new_axes(ax)
    percent = key.endswith("err")
    for label, path in paths.items():
        values = np.asarray(getattr(path, key)) * (100 if percent else 1)
        ax.plot(path.t, values, marker="o", ms=3, label=f"{label} (barrier {100 * path.barrier:.1f} points)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel({"test_err": "test error (%)", "train_err": "training error (%)"}.get(key, key.replace("_", " ")))
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title)
    return ax


INSTABILITY_LABELS = {
    "dense": "dense network",
    "ticket": "IMP ticket",
    "random_mask": "random mask",
    "reinit": "random reinit",
}


def barrier_against_k(rows, ax=None, title=""):
    """Instability: the error barrier between copies against the iteration k at which they split, per arm
    (mean over pairs of copies, with their standard deviation as error bars). rows: an InstabilityResult's."""
    ax = new_axes(ax)
    ks = [row["k"] for row in rows]
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
    ax.axhline(100 * STABLE_BELOW, color="grey", ls=":", lw=1, label="stable below 2 points")
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
    arm's final test accuracy under its bar."""
    ax = new_axes(ax)
    arms = [arm for arm in INSTABILITY_LABELS if arm in row]
    records = [row[arm] for arm in arms]
    ax.bar(
        range(len(arms)),
        [100 * r.barrier for r in records],
        yerr=[100 * r.barrier_std for r in records],
        capsize=4,
        color=[ARM_STYLE[arm]["color"] for arm in arms],
    )
    labels = [f"{INSTABILITY_LABELS[arm]}\n{100 * r.final_test_acc:.1f}% final acc." for arm, r in zip(arms, records)]
    ax.set_xticks(range(len(arms)), labels, fontsize="small")
    ax.axhline(100 * STABLE_BELOW, color="grey", ls=":", lw=1, label="stable below 2 points")
    ax.set_ylabel("error barrier (points)")
    ax.legend()
    ax.set_title(title or f"copies split at iteration {row['k']}")
    return ax


def rewinding_figure(result, title=""):
    """Late rewinding: for each k, the final test accuracy of IMP's subnetwork against the dense network
    (with the matching threshold), and its instability."""
    figure, (left, right) = row(2, 4)
    ks = [str(row.k) for row in result.rows]
    left.bar(ks, [100 * row.ticket_final_acc for row in result.rows], color="tab:blue")
    left.axhline(100 * result.matching.dense_final_acc, color="black", ls="--", lw=1, label="dense network")
    left.axhline(100 * result.matching.threshold, color="black", ls=":", lw=1, label="matching threshold")
    lowest = min([row.ticket_final_acc for row in result.rows] + [result.matching.threshold])
    left.set_ylim(100 * lowest - 3, 100 * result.matching.dense_final_acc + 2)
    left.set_xlabel("IMP rewinds to iteration k")
    left.set_ylabel(f"final test accuracy (%) at {100 * result.weights_remaining:.1f}% of weights")
    left.legend()
    left.set_title(title)
    right.bar(
        ks,
        [100 * row.barrier for row in result.rows],
        yerr=[100 * row.barrier_std for row in result.rows],
        capsize=4,
        color="tab:blue",
    )
    right.axhline(100 * STABLE_BELOW, color="grey", ls=":", lw=1, label="stable below 2 points")
    right.set_xlabel("IMP rewinds to iteration k")
    right.set_ylabel("error barrier between copies (points)")
    right.legend()
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


def fge_comparison(result, ax=None, title=""):
    """The test accuracy of each snapshot, and FGE's ensemble against its baselines at the same budget."""
    ax = new_axes(ax, figsize=(7.5, 4.2))
    snapshots = result.snapshots
    ax.plot(
        range(1, len(snapshots) + 1),
        [100 * s["test_acc"] for s in snapshots],
        "o-",
        color="tab:blue",
        label="each FGE snapshot alone",
    )
    for value, style, label in (
        (result.start_acc, ":", "the network FGE starts from"),
        (result.single_acc, "--", "one network, whole budget"),
        (result.annealed_single_acc, (0, (5, 1)), "one network, learning rate annealed"),
        (result.independent_acc, "-.", "independent ensemble, same budget"),
        (result.fge_acc, "-", "FGE ensemble of all snapshots"),
    ):
        ax.axhline(
            100 * value,
            ls=style,
            color="tab:red" if "FGE ensemble" in label else "black",
            lw=1.5,
            label=f"{label}: {100 * value:.1f}%",
        )
    ax.set_xlabel("snapshot (one per learning-rate cycle)")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(title)
    return ax


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
