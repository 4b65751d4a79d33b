"""The course's figures, each a function that draws on an axis (or makes its own figure) and returns it.

Sparsity axes follow the papers: percent of weights remaining on a log scale, decreasing to the right,
so reading left to right is pruning more and more. Figures are at most 10 inches (1,000 pixels) wide and
their text is large enough to read on a projector at 1024x768: at most two panels side by side.
"""

import math

import matplotlib.pyplot as plt
import numpy as np

from ltkit.fge import cyclic_learning_rate
from ltkit.instability import STABLE_BELOW
from ltkit.masks import layer_kinds, sparsity_report
from ltkit.profiles import profile_table

ARM_STYLE = {
    "ticket": dict(color="tab:blue", label="winning ticket (rewound)"),
    "reinit": dict(color="tab:orange", label="random re-initialisation"),
    "random_mask": dict(color="tab:green", label="random pruning"),
    "dense": dict(color="black", label="dense network"),
}
IMP_ARMS = ("ticket", "reinit", "random_mask")
WIDTH = 10  # inches: a notebook's output column at 1024x768 shows about 1,000 pixels without shrinking

plt.rcParams.update(
    {
        "figure.dpi": 100,
        "font.size": 11,
        "axes.titlesize": 12,
        "axes.labelsize": 11,
        "legend.fontsize": 9.5,
        "xtick.labelsize": 10,
        "ytick.labelsize": 10,
    }
)


def row(panels=2, height=4.0):
    """A figure of `panels` axes side by side, as wide as a notebook's output (one panel: 70% of it)."""
    width = WIDTH if panels > 1 else 0.7 * WIDTH
    return plt.subplots(1, panels, figsize=(width, height), layout="constrained")


def new_axes(ax=None, figsize=(6, 4)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def learning_curves(history, title="", axes=None):
    """Loss and accuracy against iteration (training, validation, and test if it was watched), with the
    early-stop iteration marked."""
    if axes is None:
        _, axes = row(2, 3.8)
    iterations = [h["iteration"] for h in history]
    stop = min(history, key=lambda h: h["val_loss"])["iteration"]
    for ax, metric in zip(axes, ("loss", "acc")):
        for split, style in (("train", ":"), ("val", "-"), ("test", "--")):
            if f"{split}_{metric}" in history[0]:
                ax.plot(iterations, [h[f"{split}_{metric}"] for h in history], style, label=split)
        ax.axvline(stop, color="grey", lw=1)
        ax.annotate(
            "early stop",
            (stop, 0.97),
            xycoords=("data", "axes fraction"),
            ha="left",
            fontsize="small",
            color="grey",
            xytext=(3, 0),
            textcoords="offset points",
        )
        ax.set_xlabel("training iteration")
        ax.set_ylabel("cross-entropy loss" if metric == "loss" else "accuracy")
        ax.grid(alpha=0.3)
    axes[0].legend(title=title or None)
    return axes


def sparsity_axis(ax, fractions):
    """Log-scaled percent of weights remaining, 100% on the left."""
    percents = 100 * np.asarray(fractions)
    ax.set_xscale("log")
    ax.set_xlim(percents.max() * 1.15, percents.min() / 1.15)
    ticks = [p for p in (100, 50, 30, 20, 15, 10, 5, 3, 2, 1, 0.5) if percents.min() / 1.2 <= p <= percents.max() * 1.2]
    ax.set_xticks(ticks, [f"{p:g}" for p in ticks])
    ax.minorticks_off()
    ax.set_xlabel("weights remaining (%)")
    ax.grid(alpha=0.3)


def against_sparsity(
    lines, ylabel="test accuracy (%) at early stop", dense=None, ax=None, title="", percent=True, matching=None
):
    """Accuracy (or any other figure) against weights remaining, one line per label, with error bars when
    there is a "std". lines: {label: {"weights_remaining": [...], "mean": [...], "std": [...]}}, as
    ltkit.across_seeds() returns; labels that are arms get the arms' colours and names. percent: the
    values are fractions, shown as percentages. dense: the dense network's value (a dashed line);
    matching: a ltkit.matching() reference, drawn as the dense mean (dashed) and the threshold (dotted)."""
    ax = new_axes(ax)
    scale = 100 if percent else 1
    for label, line in lines.items():
        x = 100 * np.asarray(line["weights_remaining"])
        std = scale * np.asarray(line["std"]) if "std" in line else None
        style = ARM_STYLE.get(label, dict(label=label))
        ax.errorbar(x, scale * np.asarray(line["mean"]), yerr=std, marker="o", ms=4, capsize=3, **style)
    if dense is not None:
        ax.axhline(scale * dense, color="black", lw=1, ls="--", label="dense network")
    if matching is not None:
        ax.axhline(scale * matching.dense_final_acc, color="black", lw=1, ls="--", label="dense network (mean)")
        ax.axhline(scale * matching.threshold, color="black", lw=1, ls=":", label="matching: dense minus one std")
    sparsity_axis(ax, [f for line in lines.values() for f in line["weights_remaining"]])
    ax.set_ylabel(ylabel)
    ax.legend()
    ax.set_title(title)
    return ax


def weight_histogram(weights, mask=None, ax=None, title="", bins=80):
    """The distribution of one layer's weights; with a mask, the pruned and the kept ones stacked."""
    ax = new_axes(ax)
    values = weights.detach().flatten().cpu()
    if mask is None:
        ax.hist(values.numpy(), bins=bins, color="tab:blue")
    else:
        keep = mask.flatten().cpu()
        ax.hist(
            [values[keep].numpy(), values[~keep].numpy()],
            bins=bins,
            stacked=True,
            color=["tab:blue", "lightgrey"],
            label=["kept", "pruned"],
        )
        ax.legend()
    ax.set_xlabel("weight value")
    ax.set_ylabel("count")
    ax.set_title(title)
    return ax


def input_connections(first_layer_mask, image_shape, ax=None, title=""):
    """For each input pixel, how many of its connections into the first layer survive, as an image."""
    ax = new_axes(ax, figsize=(3.6, 3.2))
    counts = first_layer_mask.float().sum(dim=0).view(*image_shape).cpu()
    shown = ax.imshow(counts.numpy(), cmap="magma")
    ax.figure.colorbar(shown, ax=ax, fraction=0.046, label="surviving connections")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    return ax


def examples(data, per_class=3, class_names=None):
    """A few training examples of each class: images as pictures, 1-D signals as lines."""
    classes = range(data.num_classes)
    if len(data.input_shape) == 1:
        fig, axes = plt.subplots(2, 5, figsize=(WIDTH, 4), layout="constrained", sharex=True, sharey=True)
        for c, ax in zip(classes, axes.flat):
            for x in data.x_train[data.y_train == c][:per_class].cpu():
                ax.plot(x.numpy(), lw=1)
            ax.set_title(class_names[c] if class_names else f"class {c}")
        fig.supxlabel("position in the signal")
        fig.supylabel("value (standardised)")
        return fig
    fig, axes = plt.subplots(
        per_class, data.num_classes, figsize=(data.num_classes * 1.1, per_class * 1.2), layout="constrained"
    )
    for c in classes:
        for row, x in enumerate(data.x_train[data.y_train == c][:per_class].cpu()):
            ax = axes[row, c]
            ax.imshow(x.permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0, c].set_title(class_names[c] if class_names else str(c), fontsize="small")
    return fig


def grid_of_masks(masks, image_shape, titles):
    """First-layer masks side by side (for example one per IMP round). Each pixel shows how many of its
    connections survive relative to the average pixel of that mask, on one shared scale, so the pattern
    is comparable between masks of very different sparsity."""
    n = len(masks)
    cols = min(n, 6)
    rows = math.ceil(n / cols)
    side = (WIDTH - 1) / cols
    fig, axes = plt.subplots(rows, cols, figsize=(WIDTH, side * rows), layout="constrained", squeeze=False)
    for ax, mask, title in zip(axes.flat, masks, titles):
        counts = mask.float().sum(0).view(*image_shape).cpu()
        shown = ax.imshow((counts / counts.mean()).numpy(), cmap="magma", vmin=0, vmax=2)
        ax.set_title(title, fontsize="medium")
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.colorbar(shown, ax=axes, fraction=0.02, label="connections kept / average pixel")
    return fig


def table(rows, percent=()):
    """A list of dicts as an HTML table for a notebook; the columns named in `percent` shown as %."""
    from IPython.display import HTML

    def cell(key, value):
        if key in percent and isinstance(value, float):
            return f"{100 * value:.1f}%"
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    head = "".join(f"<th>{key}</th>" for key in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{cell(k, v)}</td>" for k, v in row.items()) + "</tr>" for row in rows)
    return HTML(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def profiles_table():
    """How long each profile's runs are, per experiment (profiles.profile_table), as a table."""
    return table(profile_table())


def mask_report(mask, model):
    """How many weights a mask keeps in each layer of `model`, and in all, as a table."""
    return table(sparsity_report(mask, layer_kinds(model)), percent=("fraction",))


def layer_fractions(mask, ax=None):
    """A bar per layer: the percent of its weights the mask keeps."""
    ax = new_axes(ax)
    names = list(mask)[::-1]
    ax.barh(names, [100 * mask[n].float().mean().item() for n in names], color="tab:blue")
    ax.set_xlim(0, 100)
    ax.set_xlabel("weights kept (%)")
    ax.tick_params(axis="y", labelsize=8)
    return ax


def input_image_shape(data):
    """(height, width) when `data` holds one-channel images, whose first-layer masks can be drawn as
    pictures of the input; else None."""
    shape = data.input_shape
    return tuple(shape[1:]) if len(shape) == 3 and shape[0] == 1 else None


def mask_picture(mask, data, ax=None, title=""):
    """A mask as a picture: connections kept per input pixel for a fully connected network on one-channel
    images, else the fraction kept per layer."""
    first = next(iter(mask))
    image_shape = input_image_shape(data)
    if image_shape and mask[first].dim() == 2 and mask[first].shape[1] == math.prod(image_shape):
        return input_connections(mask[first], image_shape, ax=ax, title=title)
    ax = layer_fractions(mask, ax)
    ax.set_title(title)
    return ax


def arm_learning_curves(record, ax=None, measure="val_acc"):
    """Validation accuracy while training, for each arm of an IMP round."""
    ax = new_axes(ax)
    for arm in IMP_ARMS:
        if arm in record.results and (arm == "ticket" or record.round > 0):
            history = record.results[arm].history
            ax.plot([h["iteration"] for h in history], [100 * h[measure] for h in history], **ARM_STYLE[arm])
    ax.set_xlabel("training iteration")
    ax.set_ylabel("validation accuracy (%)")
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


# --- connectivity: lines, curves, the plane, instability, FGE ---------------------------------------------


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
    (mean over pairs of copies, with their standard deviation as error bars)."""
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
    """The barrier of each arm at one k (a row of run_instability), mean over pairs with its std, and each
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
    ks = [str(row["k"]) for row in result.rows]
    left.bar(ks, [100 * row["ticket_final_acc"] for row in result.rows], color="tab:blue")
    left.axhline(100 * result.matching.dense_final_acc, color="black", ls="--", lw=1, label="dense network")
    left.axhline(100 * result.matching.threshold, color="black", ls=":", lw=1, label="matching threshold")
    lowest = min([row["ticket_final_acc"] for row in result.rows] + [result.matching.threshold])
    left.set_ylim(100 * lowest - 3, 100 * result.matching.dense_final_acc + 2)
    left.set_xlabel("IMP rewinds to iteration k")
    left.set_ylabel(f"final test accuracy (%) at {100 * result.weights_remaining:.1f}% of weights")
    left.legend()
    left.set_title(title)
    right.bar(
        ks,
        [100 * row["barrier"] for row in result.rows],
        yerr=[100 * row["barrier_std"] for row in result.rows],
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
    if kind == "bezier":
        return (1 - t) ** 2 * start + 2 * t * (1 - t) * bend + t**2 * end
    if kind == "polychain":
        return start + 2 * t * (bend - start) if t <= 0.5 else bend + (2 * t - 1) * (end - bend)
    return (1 - t) * start + t * end


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
