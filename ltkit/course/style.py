"""The course's figure style: one colour per arm (and per pruning method) in every figure, widths that fit
a notebook on a 1280x720 projector, and text of 11 pt or more, readable from the back of a room."""

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

ARM_STYLE = {
    "ticket": dict(color="tab:blue", label="winning ticket (rewound)"),
    "reinit": dict(color="tab:orange", label="random re-initialisation"),
    "random_mask": dict(color="tab:green", label="random pruning"),
    "dense": dict(color="black", label="dense network"),
}
METHOD_STYLE = {  # lesson 09's pruning methods: IMP's ticket and random pruning keep their arms' colours
    "snip": dict(color="tab:purple", label="SNIP"),
    "grasp": dict(color="tab:brown", label="GraSP"),
    "synflow": dict(color="tab:pink", label="SynFlow"),
    "magnitude": dict(color="tab:olive", label="magnitude at init"),
    "random": dict(color=ARM_STYLE["random_mask"]["color"], label="random pruning"),
    "imp": dict(color=ARM_STYLE["ticket"]["color"], label="IMP ticket"),
}
PRETRAINED_STYLE = {  # lesson 11's arms beside the ticket and its controls: colours no arm has (lesson 09's
    # methods share two of them, but never a figure with these)
    "random_init": dict(color="tab:purple", label="IMP from a random init"),
    "stdlib_mask": dict(color="tab:brown", label="the stdlib mask"),
    "heldout-lm_mask": dict(color="tab:cyan", label="heldout-lm's mask"),
}
SPLIT_STYLE = {  # learning curves: greys and a dark red, so that no split wears an arm's colour
    "train": dict(color="0.55", linestyle=":", label="train"),
    "val": dict(color="black", linestyle="-", label="validation"),
    "test": dict(color="tab:red", linestyle="--", label="test"),
}
WIDTH = 10  # inches: a notebook's output column on a 1280x720 screen shows about 1,000 pixels unshrunk
TEXT_PT = 11  # the smallest text a figure has: legends, ticks, notes

plt.rcParams.update(
    {
        "figure.dpi": 100,
        "font.size": TEXT_PT,
        "axes.titlesize": 12,
        "axes.labelsize": TEXT_PT,
        "legend.fontsize": TEXT_PT,
        "legend.title_fontsize": TEXT_PT,
        "xtick.labelsize": TEXT_PT,
        "ytick.labelsize": TEXT_PT,
    }
)


def row(panels=2, height=4.0, detached=False):
    """A figure of `panels` axes side by side, as wide as a notebook's output (one panel: 70% of it).

    detached: a Figure that pyplot does not know about, so that drawing it is safe from any thread and a
    notebook shows it only where it is displayed (the dashboards' figures).
    """
    width = WIDTH if panels > 1 else 0.7 * WIDTH
    if detached:
        figure = Figure(figsize=(width, height), layout="constrained")
        return figure, figure.subplots(1, panels)
    return plt.subplots(1, panels, figsize=(width, height), layout="constrained")


def new_axes(ax=None, figsize=(6, 4)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def two_lines(label):
    """A bar's label broken at its first space, so that neighbouring labels at 11 pt do not run together."""
    return label.replace(" ", "\n", 1)


def values_above(ax, bars, tops, texts):
    """Each text just above its bar's top (`tops`: the bar's height plus its error bar, in data units)."""
    for bar, top, text in zip(bars, tops, texts):
        ax.annotate(
            text,
            (bar.get_x() + bar.get_width() / 2, top),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            bbox=dict(facecolor="white", edgecolor="none", alpha=0.8, pad=1),  # over the 2-point line, readable
        )


def from_zero(ax, top, least=None):
    """The y axis from 0 to `top` (the data's highest point, error bars included) plus room for the texts
    above the bars, and to at least `least`; where ax shares its y axis, no lower than it already reaches,
    so that panels drawn one after the other all fit."""
    top = max(1.15 * top, least or 0)
    if len(ax.get_shared_y_axes().get_siblings(ax)) > 1:
        top = max(top, ax.get_ylim()[1])
    ax.set_ylim(0, top if top > 0 else 1)


def values_inside(ax, bars, texts, errors=None):
    """Each text inside its bar, at the top (under the bar's error bar, `errors` in data units): white on a
    dark bar, black on a light one."""
    for bar, text, error in zip(bars, texts, errors or [0] * len(bars)):
        red, green, blue, _ = bar.get_facecolor()
        dark = 0.2126 * red + 0.7152 * green + 0.0722 * blue < 0.5
        ax.annotate(
            text,
            (bar.get_x() + bar.get_width() / 2, bar.get_height() - error),
            xytext=(0, -4),
            textcoords="offset points",
            ha="center",
            va="top",
            color="white" if dark else "black",
            fontweight="bold",
        )
