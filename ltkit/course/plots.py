"""The course's figures, each a function that draws on an axis (or makes its own figure) and returns it.

Sparsity axes follow the papers: percent of weights remaining on a log scale, decreasing to the right,
so reading left to right is pruning more and more. Figures are at most 10 inches (1,000 pixels) wide and
their text (11 pt or more) reads on a projector at 1280x720: at most two panels side by side. Every arm,
and every pruning method of lesson 09, has one colour in all of them (ltkit.course.style).
"""

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.legend_handler import HandlerTuple

from ltkit.course.connectivity_plots import (  # noqa: F401 (the figures of lessons 05-08, part of ltkit.course.plots)
    FGE_SIZE,
    FGE_STYLE,
    INSTABILITY_LABELS,
    along_path,
    barrier_against_k,
    barriers_by_arm,
    fge_comparison,
    fge_legend,
    fge_schedule,
    plane_picture,
    point_in_plane,
    rewinding_figure,
)
from ltkit.course.style import (
    ARM_STYLE,
    METHOD_STYLE,
    PRETRAINED_STYLE,
    SPLIT_STYLE,
    WIDTH,
    new_axes,
    row,
    two_lines,
    values_inside,
)  # noqa: F401
from ltkit.engine.masks import layer_kinds, sparsity_report
from ltkit.experiments.imp import ARMS
from ltkit.experiments.profiles import profile_table
from ltkit.experiments.registry import is_percent, row_dict
from ltkit.experiments.stats import pretrained_across_seeds, pretrained_matching


def learning_curves(history, title="", axes=None):
    """Loss and accuracy against iteration (training, validation, and test if it was watched), with the
    early-stop iteration marked."""
    if axes is None:
        _, axes = row(2, 3.8)
    iterations = [h["iteration"] for h in history]
    stop = min(history, key=lambda h: h["val_loss"])["iteration"]
    for ax, metric in zip(axes, ("loss", "acc")):
        for split, style in SPLIT_STYLE.items():
            if f"{split}_{metric}" in history[0]:
                ax.plot(iterations, [h[f"{split}_{metric}"] for h in history], **style)
        ax.axvline(stop, color="grey", lw=1)
        ax.annotate(
            "early stop",
            (stop, 0.97),
            xycoords=("data", "axes fraction"),
            ha="left",
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


OTHER_LINES = ("tab:purple", "tab:brown", "tab:cyan", "tab:gray")  # lines that are no arm and no method
STYLES = {**METHOD_STYLE, **PRETRAINED_STYLE, **ARM_STYLE}  # every line that has a colour of its own


def against_sparsity(
    lines, ylabel="test accuracy (%) at early stop", dense=None, ax=None, title="", percent=True, matching=None
):
    """Accuracy (or any other figure) against weights remaining, one line per label, with error bars when
    there is a "std". lines: {label: {"weights_remaining": [...], "mean": [...], "std": [...]}}, as
    ltkit.across_seeds() returns; labels that are arms (or lesson 09's methods) get their colours and names,
    other labels colours that no arm has (OTHER_LINES). percent: the values are fractions, shown as
    percentages. dense: the dense network's value (a dashed line);
    matching: a ltkit.matching() reference, drawn as the dense mean (dashed) and the threshold (dotted)."""
    ax = new_axes(ax)
    scale = 100 if percent else 1
    others = iter(OTHER_LINES * len(lines))
    for label, line in lines.items():
        x = 100 * np.asarray(line["weights_remaining"])
        std = scale * np.asarray(line["std"]) if "std" in line else None
        style = STYLES.get(label) or dict(label=label, color=next(others))
        ax.errorbar(x, scale * np.asarray(line["mean"]), yerr=std, marker="o", ms=5, capsize=3, **style)
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
        per_class, data.num_classes, figsize=(WIDTH, WIDTH / data.num_classes * per_class * 1.1), layout="constrained"
    )
    for c in classes:
        for line, x in enumerate(data.x_train[data.y_train == c][:per_class].cpu()):
            ax = axes[line, c]
            ax.imshow(x.permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0, c].set_title(class_names[c] if class_names else str(c), fontsize="medium")
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


def table(rows, percent=None):
    """Rows (dicts, or a result's table() rows) as an HTML table for a notebook; the columns named in
    `percent` shown as % (by default: accuracies, errors, barriers and fractions of weights, by name)."""
    from IPython.display import HTML

    rows = [row_dict(row) for row in rows]
    if percent is None:
        percent = [key for key in rows[0] if is_percent(key)]

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
    """A bar per layer: the percent of its weights the mask keeps. Layers are named without ".weight"; up to
    16 of them at 11 pt (more, as ResNet-20's 22, smaller, to fit)."""
    ax = new_axes(ax)
    names = list(mask)[::-1]
    ax.barh(names, [100 * mask[n].float().mean().item() for n in names], color="tab:blue")
    ax.set_yticks(range(len(names)), [name.removesuffix(".weight") for name in names])
    ax.set_xlim(0, 100)
    ax.set_xlabel("weights kept (%)")
    ax.tick_params(axis="y", labelsize=11 if len(names) <= 16 else 8)
    return ax


def input_image_shape(data):
    """(height, width) when `data` holds one-channel images, whose first-layer masks can be drawn as
    pictures of the input; else None."""
    shape = data.input_shape
    return tuple(shape[1:]) if len(shape) == 3 and shape[0] == 1 else None


def mask_picture(mask, data, ax=None, title=""):
    """A mask as a picture: connections kept per input pixel for a fully connected network on one-channel
    images, else the fraction kept per layer; `title` says whose mask it is."""
    first = next(iter(mask))
    image_shape = input_image_shape(data)
    if image_shape and mask[first].dim() == 2 and mask[first].shape[1] == math.prod(image_shape):
        return input_connections(mask[first], image_shape, ax=ax, title=f"{title}: connections kept per pixel")
    ax = layer_fractions(mask, ax)
    ax.set_title(f"{title}: weights kept per layer")
    return ax


def arm_learning_curves(record, ax=None, measure="val_acc"):
    """Validation accuracy while training, for each arm of an IMP round."""
    ax = new_axes(ax)
    for arm in ARMS:
        if arm in record.results and (arm == "ticket" or record.round > 0):
            history = record.results[arm].history
            ax.plot([h["iteration"] for h in history], [100 * h[measure] for h in history], **ARM_STYLE[arm])
    ax.set_xlabel("training iteration")
    ax.set_ylabel("validation accuracy (%)")
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


CHECK_STYLE = {  # lesson 09's sanity checks (Frankle et al. 2021), as bars next to each method's own
    "": dict(label="as pruned"),  # each method's bar in its METHOD_STYLE colour
    "shuffled": dict(label="mask shuffled\nin each layer", color=ARM_STYLE["random_mask"]["color"]),
    "reinit": dict(label="kept weights\nre-initialised", color=ARM_STYLE["reinit"]["color"]),
    "inverted": dict(label="scores inverted", color="tab:gray"),
}


def checks_bars(summaries, index, ax=None, title=""):
    """Each pruning method's final test accuracy at one compared sparsity (`index`), next to its checks':
    grouped bars from 0 with the spread over seeds, the legend right of the axes. Each method's own bar has
    the method's colour (IMP's ticket blue, random pruning green, as everywhere); a mask shuffled within
    layers is random pruning (green) and re-initialised weights are the re-initialisation arm (orange).
    summaries: {check: ltkit.methods_across_seeds(results, check)}."""
    ax = new_axes(ax)
    methods = list(summaries[""])
    width = 0.8 / len(summaries)
    handles = []
    for i, (check, summary) in enumerate(summaries.items()):
        shown = [m for m in methods if m in summary]
        x = [methods.index(m) + (i - (len(summaries) - 1) / 2) * width for m in shown]
        means = [100 * summary[m]["mean"][index] for m in shown]
        spread = [100 * summary[m]["std"][index] for m in shown]
        colours = [METHOD_STYLE[m]["color"] for m in shown] if check == "" else CHECK_STYLE[check]["color"]
        bars = ax.bar(x, means, width, yerr=spread, capsize=2, color=colours)
        handles.append(tuple(bars.patches) if check == "" else bars.patches[0])
    ax.set_xticks(range(len(methods)), [two_lines(METHOD_STYLE[m]["label"]) for m in methods])
    ax.set_ylim(0, 100)
    ax.set_ylabel("final test accuracy (%)")
    ax.legend(
        handles,
        [CHECK_STYLE[check]["label"] for check in summaries],
        handler_map={tuple: HandlerTuple(ndivide=None, pad=0)},
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
    )
    ax.set_title(title)
    return ax


def pretraining_bars(results):
    """Lesson 11: per task, the dense network fine-tuned from the pre-trained weights and trained from
    scratch alike (final test accuracy, mean and spread over the seeds of pretrained-imp `results`)."""
    figure, axes = row(len(results[0].tasks), 3.4)
    for ax, task in zip(np.atleast_1d(axes), results[0].tasks):
        lines = pretrained_across_seeds(results, task)
        dense = ("ticket", "random_init")  # round 0 of each sweep: the dense networks
        means = [100 * lines[name]["mean"][0] for name in dense]
        spread = [100 * lines[name]["std"][0] for name in dense]
        bars = ax.bar([0, 1], means, yerr=spread, capsize=4, color=[STYLES[name]["color"] for name in dense])
        values_inside(ax, bars, [f"{mean:.1f}%" for mean in means], spread)
        ax.set_xticks([0, 1], ["from the pre-trained\nweights", "from a random\ninitialisation"])
        ax.set_ylim(0, 100)
        ax.set(ylabel="final test accuracy (%)", title=f"{task}: the dense network")
    return axes


def rounds_axis(ax, fractions):
    """Ticks at the sparsities of the rounds themselves (IMP's few coarse rounds fall between round numbers)."""
    percents = 100 * np.asarray(fractions)
    ax.set_xticks(percents, [f"{p:.0f}" for p in percents])
    ax.minorticks_off()


def pretrained_sweeps(results, dense, names=("ticket", "reinit", "random_mask", "random_init")):
    """Lesson 11: per task, final test accuracy against the weights remaining for the lines `names` of
    ltkit.pretrained_across_seeds (mean and spread over the seeds of `results`), with matching over the
    seeds of `dense`, and one legend below both panels."""
    figure, axes = row(len(results[0].tasks), 4.6)
    for ax, task in zip(np.atleast_1d(axes), results[0].tasks):
        lines = pretrained_across_seeds(results, task)
        chosen = {name: lines[name] for name in names if name in lines}
        against_sparsity(chosen, ylabel="final test accuracy (%)", ax=ax, matching=pretrained_matching(dense, task))
        ax.set_title(f"{task}, {len(results)} seed{'s' * (len(results) > 1)}")
        ax.get_legend().remove()
        rounds_axis(ax, lines["ticket"]["weights_remaining"])
    handles = {label: handle for ax in np.atleast_1d(axes) for handle, label in zip(*ax.get_legend_handles_labels())}
    figure.legend(handles.values(), handles.keys(), loc="outside lower center", ncols=3, frameon=False)
    return axes
