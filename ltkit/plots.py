"""The course's figures, each a function that draws on an axis (or makes its own figure) and returns it.

Sparsity axes follow the papers: percent of weights remaining on a log scale, decreasing to the right,
so reading left to right is pruning more and more.
"""

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

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
    ticks = [p for p in (100, 50, 30, 20, 10, 5, 3, 2, 1, 0.5) if percents.min() / 1.2 <= p <= percents.max() * 1.2]
    ax.set_xticks(ticks, [f"{p:g}" for p in ticks])
    ax.minorticks_off()
    ax.set_xlabel("weights remaining (%)")
    ax.grid(alpha=0.3)


def against_sparsity(summary, key_label="test accuracy (%) at early stop", percent=True, ax=None, title=""):
    """One line per arm with error bars over seeds, from lottery.across_seeds()."""
    ax = new_axes(ax)
    scale = 100 if percent else 1
    fractions = []
    for arm, line in summary.items():
        fractions = line["weights_remaining"]
        x = 100 * np.asarray(fractions)
        mean, std = scale * np.asarray(line["mean"]), scale * np.asarray(line["std"])
        ax.errorbar(x, mean, yerr=std, marker="o", ms=4, capsize=3, **ARM_STYLE.get(arm, dict(label=arm)))
    dense = summary[next(iter(summary))]["mean"][0] * scale
    ax.axhline(dense, color="black", lw=1, ls="--", label="dense network")
    sparsity_axis(ax, fractions)
    ax.set_ylabel(key_label)
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
    """Several first-layer masks side by side (for example one per IMP round)."""
    n = len(masks)
    cols = min(n, 5)
    fig, axes = plt.subplots(
        math.ceil(n / cols), cols, figsize=(3 * cols, 2.8 * math.ceil(n / cols)), layout="constrained", squeeze=False
    )
    for ax, mask, title in zip(axes.flat, masks, titles):
        ax.imshow(mask.float().sum(0).view(*image_shape).cpu().numpy(), cmap="magma")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return fig


def to_numpy(tensor):
    return tensor.detach().cpu().numpy() if isinstance(tensor, torch.Tensor) else np.asarray(tensor)
