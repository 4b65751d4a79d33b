"""The course's figures, each a function that draws on an axis (or makes its own figure) and returns it.

Sparsity axes follow the papers: percent of weights remaining on a log scale, decreasing to the right,
so reading left to right is pruning more and more.
"""

import math

import matplotlib.pyplot as plt
import numpy as np

ARM_STYLE = {
    "ticket": dict(color="tab:blue", label="winning ticket (rewound)"),
    "reinit": dict(color="tab:orange", label="random re-initialisation"),
    "random_mask": dict(color="tab:green", label="random pruning"),
    "dense": dict(color="black", label="dense network"),
}


def new_axes(ax=None, figsize=(6, 4)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def learning_curves(history, title="", axes=None):
    """Loss and accuracy against iteration (training, validation, and test if it was watched), with the
    early-stop iteration marked."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
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
            fontsize=8,
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


def against_sparsity(lines, ylabel="test accuracy (%) at early stop", dense=None, ax=None, title="", percent=True):
    """Accuracy (or any other figure) against weights remaining, one line per label, with error bars when
    there is a "std". lines: {label: {"weights_remaining": [...], "mean": [...], "std": [...]}}, as
    lottery.across_seeds() returns; labels that are arms get the arms' colours and names. percent: the
    values are fractions, shown as percentages."""
    ax = new_axes(ax)
    scale = 100 if percent else 1
    for label, line in lines.items():
        x = 100 * np.asarray(line["weights_remaining"])
        std = scale * np.asarray(line["std"]) if "std" in line else None
        style = ARM_STYLE.get(label, dict(label=label))
        ax.errorbar(x, scale * np.asarray(line["mean"]), yerr=std, marker="o", ms=4, capsize=3, **style)
    if dense is not None:
        ax.axhline(scale * dense, color="black", lw=1, ls="--", label="dense network")
    sparsity_axis(ax, [f for line in lines.values() for f in line["weights_remaining"]])
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
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
        ax.legend(fontsize=8)
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
    ax.set_title(title, fontsize=10)
    return ax


def examples(data, per_class=3, class_names=None):
    """A few training examples of each class: images as pictures, 1-D signals as lines."""
    classes = range(data.num_classes)
    if len(data.input_shape) == 1:
        fig, axes = plt.subplots(2, 5, figsize=(12, 4), layout="constrained", sharex=True, sharey=True)
        for c, ax in zip(classes, axes.flat):
            for x in data.x_train[data.y_train == c][:per_class].cpu():
                ax.plot(x.numpy(), lw=1)
            ax.set_title(class_names[c] if class_names else f"class {c}", fontsize=9)
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
        axes[0, c].set_title(class_names[c] if class_names else str(c), fontsize=8)
    return fig


def grid_of_masks(masks, image_shape, titles):
    """First-layer masks side by side (for example one per IMP round). Each pixel shows how many of its
    connections survive relative to the average pixel of that mask, on one shared scale, so the pattern
    is comparable between masks of very different sparsity."""
    n = len(masks)
    cols = min(n, 6)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols + 1, 2.6 * rows), layout="constrained", squeeze=False)
    for ax, mask, title in zip(axes.flat, masks, titles):
        counts = mask.float().sum(0).view(*image_shape).cpu()
        shown = ax.imshow((counts / counts.mean()).numpy(), cmap="magma", vmin=0, vmax=2)
        ax.set_title(title, fontsize=9)
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
