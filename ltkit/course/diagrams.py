"""Diagrams of the course's ideas, one function per picture, each returning a matplotlib Figure.

`python -m ltkit.course.diagrams [folder]` writes each as <folder>/<name>.svg (notebooks/figures by
default), the files the lessons' markdown shows, so that GitHub and Jupyter show them without running
anything. The SVGs are deterministic (a fixed hash salt, no date, text drawn as paths in matplotlib's own
DejaVu Sans), so tests/test_diagrams.py can redraw each and compare it with the committed file.
Arms keep their course colours (ltkit.course.style.ARM_STYLE); every text is 11 pt or more.
"""

import inspect
import sys
from functools import wraps
from io import StringIO
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch
from matplotlib.text import Text

from ltkit.course.style import ARM_STYLE, PRETRAINED_STYLE, WIDTH
from ltkit.engine.transformer import Transformer
from ltkit.experiments.profiles import PRETRAINED_TICKETS, RECIPES

FIGURES = Path(__file__).resolve().parents[2] / "notebooks" / "figures"
RC = {
    "svg.hashsalt": "ltkit",
    "svg.fonttype": "path",
    "font.family": "DejaVu Sans",
    "mathtext.fontset": "dejavusans",
    "font.size": 12,
    "axes.labelsize": 12,
    "xtick.labelsize": 11,
    "ytick.labelsize": 11,
    "legend.fontsize": 11,
}
GREY = "0.35"
LINE, CURVE, MARK = "tab:red", "tab:purple", "tab:red"  # no arm's colours: line, curve, what a figure points at
BLOCKS = inspect.signature(Transformer).parameters["layers"].default  # lesson 10 builds the default
DIAGRAMS = {}


def diagram(function):
    """Register a diagram under its function's name, drawn with the course's diagram settings."""

    @wraps(function)
    def drawn():
        with matplotlib.rc_context(RC):
            return function()

    DIAGRAMS[function.__name__] = drawn
    return drawn


def colour(arm):
    return ARM_STYLE[arm]["color"]


def canvas(height, width=WIDTH):
    """A figure with one bare axes whose data units are inches from the bottom left corner."""
    figure = Figure(figsize=(width, height))
    ax = figure.add_axes((0, 0, 1, 1), xlim=(0, width), ylim=(0, height))
    ax.set_axis_off()
    return figure, ax


def box(ax, x, y, text, edge=GREY, fill="white", dashed=False, **style):
    """Text in a rounded box centred at (x, y); arrows drawn to it stop at its edge."""
    frame = dict(boxstyle="round,pad=0.45", fc=fill, ec=edge, lw=1.6, ls="--" if dashed else "-")
    return ax.text(x, y, text, ha="center", va="center", bbox=frame, **style)


def arrow(ax, start, end, color=GREY, bend=0.0, dashed=False):
    """An arrow from `start` to `end`, each a box (the arrow stops at its edge) or a point (x, y)."""
    ends = {}
    for key, point in (("A", start), ("B", end)):
        if isinstance(point, Text):
            ends[f"patch{key}"] = point.get_bbox_patch()
    style = dict(arrowstyle="-|>", mutation_scale=16, color=color, lw=1.6, shrinkA=3, shrinkB=3, **ends)
    style.update(connectionstyle=f"arc3,rad={bend}", ls="--" if dashed else "-")
    return ax.annotate("", xy=position(end), xytext=position(start), arrowprops=style)


def position(point):
    return point.get_position() if isinstance(point, Text) else point


def label(ax, x, y, text, color="black", **style):
    """Text centred at (x, y) unless `style` says otherwise."""
    return ax.text(x, y, text, color=color, **{"ha": "center", "va": "center", **style})


def rewinding_loop(ax, train, prune, ticket, bend, repeat_at, name_at, name):
    """IMP's loop in the ticket's colour: train, prune, rewind the survivors (`ticket`), train again."""
    arrow(ax, train, prune)
    arrow(ax, prune, ticket, color=colour("ticket"))
    arrow(ax, ticket, train, color=colour("ticket"), bend=bend)
    label(ax, *repeat_at, "repeat", colour("ticket"))
    label(ax, *name_at, name, colour("ticket"))


@diagram
def imp_loop():
    """Iterative magnitude pruning with rewinding, and the two controls trained at every round."""
    figure, ax = canvas(4.3)
    start = box(ax, 1.0, 3.75, "initialise\n$W_0$")
    train = box(ax, 3.7, 3.75, "train to iteration $T$\n$W_0 \\to W_k \\to W_T$")
    prune = box(ax, 7.6, 3.75, "prune p% of the remaining\nweights, smallest $|w|$: mask $m$")
    ticket = box(ax, 7.6, 2.1, "rewind the survivors\nto $W_k$: $m \\odot W_k$", edge=colour("ticket"))
    arrow(ax, start, train)
    rewinding_loop(ax, train, prune, ticket, -0.25, (5.0, 2.35), (9.35, 2.1), "winning\nticket")
    controls = {
        "reinit": (4.3, "random re-initialisation:\n$m \\odot W_0'$, new random values"),
        "random_mask": (8.05, "random pruning: $m' \\odot W_k$,\nsame sparsity in every layer"),
    }
    for arm, (x, text) in controls.items():
        arrow(ax, ticket, box(ax, x, 0.5, text, edge=colour(arm)), color=colour(arm), dashed=True)
    label(ax, 6.85, 1.05, "controls, trained\nlike the ticket", GREY)
    rewinding = "$k = 0$: the initialisation\n(Frankle & Carbin 2019)\n$k > 0$: late rewinding\n(Frankle et al. 2020)"
    label(ax, 0.2, 2.1, rewinding, GREY, ha="left", fontsize=11, linespacing=1.4)
    return figure


@diagram
def instability():
    """Instability analysis: copies of one network at iteration k, trained on with different data orders, and
    the error barrier on the straight line between their ends."""
    figure = Figure(figsize=(WIDTH, 4.2), layout="constrained")
    sketch, curve = figure.subplots(1, 2, width_ratios=(1, 1.15))
    sketch.set(xlim=(0, 4.8), ylim=(-0.1, 3.9), aspect="equal")
    sketch.set_axis_off()
    w0, wk, w1, w2 = (0.3, 1.75), (1.6, 1.85), (3.9, 3.1), (4.0, 0.55)
    sketch.plot(*np.transpose([w0, wk]), color=GREY, lw=2.5)
    sketch.plot(*np.transpose([w1, w2]), color=LINE, ls="--", lw=2)
    for copy, (end, bend, y) in enumerate(((w1, -0.3, 3.65), (w2, 0.3, 0.15)), start=1):
        arrow(sketch, wk, end, bend=bend)
        label(sketch, 2.45, y, f"copy {copy}: its own data order", GREY)
    sketch.plot(*np.transpose([w0, wk, w1, w2]), "o", color="black", ms=7)
    for (x, y), name in zip((w0, wk), ("$W_0$", "$W_k$")):
        label(sketch, x, y - 0.35, name)
    for (x, y), name in zip((w1, w2), ("$W_1$", "$W_2$")):
        label(sketch, x + 0.4, y, name)
    label(sketch, 0.95, 2.1, "train to $k$", GREY)
    label(sketch, 3.75, 1.8, "$(1 - \\alpha)\\, W_1$\n$+\\ \\alpha\\, W_2$", LINE, ha="right")
    alpha = np.linspace(0, 1, 101)
    ends = (1 - alpha) * 10 + alpha * 12
    curve.plot(alpha, ends + 30 * np.sin(np.pi * alpha) ** 2, color=LINE, lw=2)
    curve.plot(alpha, ends - 0.5 + 1.0 * np.sin(np.pi * alpha) ** 2, color=LINE, lw=2, ls=":")
    curve.axhline(11, color=GREY, ls="--", lw=1)
    curve.annotate("", xy=(0.5, 41), xytext=(0.5, 11), arrowprops=dict(arrowstyle="<->", color=MARK, lw=1.6))
    curve.text(0.53, 24, "barrier", color=MARK)
    curve.text(0.02, 47, "barrier = highest error on the\nline \u2212 mean of the ends (dashed)", va="top")
    curve.text(0.8, 31, "unstable:\na ridge", color=LINE)
    curve.text(0.5, 4.5, "stable: barrier under 2 points", ha="center", va="center", color=LINE)
    curve.set(xlim=(0, 1), ylim=(0, 48), xticks=[0, 0.5, 1], xticklabels=["0\n$W_1$", "0.5", "1\n$W_2$"])
    curve.set(xlabel="$\\alpha$, position on the line", ylabel="test error (%)")
    curve.spines[["top", "right"]].set_visible(False)
    return figure


def valley_loss(x, y):
    """Two basins, at (-1, 0) and (1, 0), joined by the valley y = 1 - x^2 that bends around a ridge."""
    basins = np.exp(-((x + 1) ** 2 + y**2) / 0.3) + np.exp(-((x - 1) ** 2 + y**2) / 0.3)
    return 1.2 * (1 - np.exp(-((y - 1 + x**2) ** 2) / 0.6)) + 0.25 * (1 - basins) + 0.1 * x**2


def bezier(t, start, bend, end):
    """The quadratic Bezier curve of Garipov et al. (2018) at t: (1 - t)^2 start + 2t(1 - t) bend + t^2 end."""
    t = np.asarray(t)[:, None]
    return (1 - t) ** 2 * start + 2 * t * (1 - t) * bend + t**2 * end


@diagram
def line_vs_curve():
    """A straight line between two minima crosses a ridge; a quadratic Bezier curve through one bend follows
    the valley (mode connectivity)."""
    figure = Figure(figsize=(WIDTH, 4.2), layout="constrained")
    landscape, along = figure.subplots(1, 2, width_ratios=(1.25, 1))
    w1, bend, w2 = np.array([-1.0, 0.0]), np.array([0.0, 2.0]), np.array([1.0, 0.0])
    x, y = np.meshgrid(np.linspace(-1.8, 1.8, 49), np.linspace(-0.8, 2.3, 43))
    loss = valley_loss(x, y)
    levels = np.linspace(0, loss.max(), 10)
    landscape.contourf(x, y, loss, levels=levels, cmap="Greys", vmax=1.8 * loss.max())
    landscape.contour(x, y, loss, levels=levels, colors="white", linewidths=0.6)
    t = np.linspace(0, 1, 101)
    paths = {
        "straight line: $(1 - t)\\, w_1 + t\\, w_2$": (np.outer(1 - t, w1) + np.outer(t, w2), LINE, "--"),
        "Bezier curve:\n$(1 - t)^2 w_1 + 2t(1 - t)\\, \\theta + t^2 w_2$": (bezier(t, w1, bend, w2), CURVE, "-"),
    }
    for name, (points, color, style) in paths.items():
        landscape.plot(*points.T, color=color, ls=style, lw=2.5)
        along.plot(t, valley_loss(*points.T), color=color, ls=style, lw=2.5, label=name)
    landscape.plot(*np.transpose([w1, bend, w2]), color=CURVE, ls=":", lw=1)
    landscape.plot(*bend, "x", color=CURVE, ms=10, mew=2.5)
    landscape.plot(*np.transpose([w1, w2]), "o", color="black", ms=8)
    for (x, y), name in ((w1, "$w_1$"), (w2, "$w_2$"), ((0, 0), "ridge")):
        label(landscape, x, y - 0.3, name, LINE if name == "ridge" else "black")
    label(landscape, 0.15, 2.05, "bend $\\theta$", CURVE, ha="left")
    landscape.set(aspect="equal", xticks=[], yticks=[], title="the loss over two weights (light: low)")
    along.set(xlabel="$t$, position on the path", ylabel="loss", xlim=(0, 1), ylim=(0, 2.3))
    along.set(xticks=[0, 0.5, 1], xticklabels=["0\n$w_1$", "0.5", "1\n$w_2$"], title="the loss along each path")
    along.legend(loc="upper center", frameon=False)
    along.spines[["top", "right"]].set_visible(False)
    return figure


UNITS = {  # two hidden units: (incoming weights: a row of W1, bias: an entry of b1, outgoing weight: a column of W2)
    "A": ((1, -2), 1, 2),
    "B": ((3, 1), 0, -1),
}
UNIT_COLOURS = {"A": "tab:purple", "B": "tab:brown"}


def network(ax, left, order):
    """A 2-2-1 network at x = left (inches), its hidden units from top to bottom in `order`."""
    inputs, hidden, output = [(left, 3.1), (left, 1.5)], [(left + 1.9, 3.1), (left + 1.9, 1.5)], (left + 3.5, 2.3)
    for point, name in ((inputs[0], "$x_1$"), (inputs[1], "$x_2$"), (output, "$y$")):
        label(ax, *point, name, bbox=dict(boxstyle="circle", fc="white", ec=GREY))
    for (x, y), unit in zip(hidden, order):
        incoming, bias, outgoing = UNITS[unit]
        color = UNIT_COLOURS[unit]
        on_edge = dict(bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none"))
        for (xi, yi), w in zip(inputs, incoming):
            ax.plot([xi, x], [yi, y], color=color, lw=1.8, zorder=1)
            label(ax, xi + 0.72 * (x - xi), yi + 0.72 * (y - yi), signed(w), color, **on_edge)
        ax.plot([x, output[0]], [y, output[1]], color=color, lw=1.8, zorder=1)
        label(ax, (x + output[0]) / 2, (y + output[1]) / 2, signed(outgoing), color, **on_edge)
        label(ax, x, y, unit, color, fontweight="bold", bbox=dict(boxstyle="circle", fc="white", ec=color, lw=2))
        label(ax, x, y + (0.5 if y > 2 else -0.5), f"b = {signed(bias)}", color)


def signed(number):
    return f"{number}".replace("-", "\u2212")


@diagram
def permutation():
    """Permutation symmetry: swapping two hidden units (rows of W1 and b1, columns of W2) keeps the function."""
    figure, ax = canvas(4.6)
    network(ax, 0.4, "AB")
    network(ax, 6.0, "BA")
    label(ax, 2.15, 4.3, "a network")
    label(ax, 7.75, 4.3, "its hidden units swapped")
    arrow(ax, (4.45, 2.3), (5.55, 2.3))
    label(ax, 5.0, 2.75, "swap A, B")
    label(ax, 5.0, 1.45, "rows of $W_1$, $b_1$\ncolumns of $W_2$", GREY)
    label(ax, 5.0, 0.6, "the same function: $y = 2\\,\\mathrm{relu}(x_1 - 2x_2 + 1) - \\mathrm{relu}(3x_1 + x_2)$")
    label(ax, 5.0, 0.15, "weight matching (Ainsworth et al. 2023) undoes such swaps between two trained networks", GREY)
    return figure


def pruned(kind):
    return f"{100 * RECIPES['transformer']['rates'][kind]:.0f}% a round"


@diagram
def gpt_block():
    """Lesson 10's transformer, and which of its weights IMP prunes, at which rate per round."""
    figure, ax = canvas(5.4)
    never = dict(edge="0.55", dashed=True)
    x, branch, sublayer = 1.9, 3.9, 6.5  # the residual stream, the LayerNorms, the layers that read them
    label(ax, x, 0.2, "characters")
    token = box(ax, x, 0.9, f"token embedding\n{pruned('embedding')}")
    position = box(ax, 5.0, 0.9, "position embedding\nnever pruned", **never)
    sums = [label(ax, x, y, "+", bbox=dict(boxstyle="circle", fc="white", ec=GREY)) for y in (1.75, 3.05, 4.15)]
    arrow(ax, (x, 0.35), token)
    arrow(ax, token, sums[0])
    arrow(ax, position, sums[0])
    rows = (
        (2.4, f"attention: query, key,\nvalue, output projections\n{pruned('attention')}"),
        (3.6, f"MLP: both linear layers\n{pruned('mlp')}"),
    )
    for (y, name), before, after in zip(rows, sums, sums[1:]):
        norm, layer = box(ax, branch, y, "LayerNorm", **never), box(ax, sublayer, y, name)
        arrow(ax, before, after)
        arrow(ax, before, norm, bend=-0.2)
        arrow(ax, norm, layer)
        arrow(ax, layer, after, bend=0.15)
    ax.add_patch(FancyBboxPatch((x - 0.6, 1.97), 6.9, 2.48, boxstyle="round,pad=0.05", fc="none", ec="0.75"))
    label(ax, 8.5, 3.6, f"block\n\u00d7 {BLOCKS}", GREY, ha="left")
    norm = box(ax, branch, 4.95, "LayerNorm", **never)
    head = box(ax, sublayer, 4.95, f"head (output layer)\n{pruned('output')}")
    arrow(ax, sums[-1], norm, bend=-0.2)
    arrow(ax, norm, head)
    label(ax, 8.4, 4.95, "next-character\nscores", ha="left")
    arrow(ax, head, (8.3, 4.95))
    label(
        ax, 9.8, 0.9, "% a round: of the weights\nthat remain; dashed: never\npruned, nor is any bias", GREY, ha="right"
    )
    return figure


@diagram
def when_to_prune():
    """Where each method picks its mask: at W_0 before any training, or after training (lesson 09)."""
    figure, ax = canvas(4.4)
    t0, tk, tt, end = 3.7, 4.5, 7.5, 9.7  # where iterations 0, k and T and the end of fine-tuning sit
    lanes = {"dense": colour("dense"), "ticket": colour("ticket"), "sparse": "0.6"}
    bar = {name: dict(color=c, lw=7, solid_capstyle="butt") for name, c in lanes.items()}
    methods = (
        ("SNIP, GraSP, SynFlow,\nmagnitude at $W_0$", "Lee et al. 2019; Wang et al. 2020;\nTanaka et al. 2020", 3.05),
        ("IMP with rewinding", "Frankle & Carbin 2019;\nFrankle et al. 2020", 1.8),
        ("one-shot pruning,\nthen fine-tuning", "Han et al. 2015", 0.65),
    )
    for name, papers, y in methods:
        ax.text(0.15, y + 0.05, name, va="bottom")
        ax.text(0.15, y - 0.05, papers, va="top", color=GREY, fontsize=11)
    at_init, imp, oneshot = (y for *_, y in methods)
    ax.plot([t0, tt], [at_init] * 2, **bar["sparse"])
    mask(ax, t0, at_init, "mask from $W_0$, before training")
    ax.plot([t0, tt], [imp + 0.2] * 2, **bar["dense"])
    ax.plot([tk, tt], [imp - 0.2] * 2, **bar["ticket"])
    mask(ax, tt, imp + 0.2, "mask from $W_T$")
    arrow(ax, (tt - 0.1, imp + 0.1), (tk + 0.1, imp - 0.12), color=colour("ticket"))
    ax.text(tt + 0.2, imp - 0.2, "rewind to $W_k$,\ntrain, prune again", va="center", color=colour("ticket"))
    ax.plot([t0, tt], [oneshot] * 2, **bar["dense"])
    ax.plot([tt, end], [oneshot] * 2, **bar["sparse"])
    mask(ax, tt, oneshot, "mask from $W_T$")
    ax.text((tt + end) / 2, oneshot - 0.3, "fine-tune from $W_T$", ha="center", color=GREY)
    for at, name in ((t0, "0"), (tk, "$k$"), (tt, "$T$")):
        ax.plot([at, at], [0.3, 3.75], color="0.85", lw=1, zorder=0)
        ax.text(at, 0.15, name, ha="center", va="center", color=GREY)
    ax.text(t0 - 0.3, 0.15, "training iteration", ha="right", va="center", color=GREY)
    handles = [Line2D([], [], **bar[name]) for name in lanes]
    handles.append(Line2D([], [], ls="", marker="D", color=MARK, ms=9))
    labels = ["dense network", "winning ticket", "other sparse network", "mask chosen"]
    ax.legend(handles, labels, loc="upper center", ncols=4, frameon=False, handlelength=1.6)
    return figure


@diagram
def pretrained_ticket():
    """Lesson 11: pre-train, fine-tune, prune, rewind to the pre-trained weights; the arms beside the ticket."""
    figure, ax = canvas(4.6)
    start = box(ax, 0.9, 4.0, "random\ninit $W_0$")
    pretrain = box(ax, 3.3, 4.0, "pre-train: next\ncharacter on stdlib")
    tune = box(ax, 6.1, 4.0, "fine-tune on a task\n$W_{pre} \\to W_T$")
    rate = 100 * PRETRAINED_TICKETS["rates"]["attention"]
    prune = box(ax, 8.6, 4.0, f"prune {rate:.0f}% of attention\nand MLP left: mask $m$")
    ticket = box(ax, 7.4, 2.45, "rewind the survivors to\n$W_{pre}$: $m \\odot W_{pre}$", edge=colour("ticket"))
    for a, b in ((start, pretrain), (pretrain, tune)):
        arrow(ax, a, b)
    rewinding_loop(ax, tune, prune, ticket, -0.3, (5.75, 2.75), (9.45, 2.45), "pre-trained\nticket")
    others = {
        "reinit": (1.35, "$m \\odot W_0'$:\nfresh values"),
        "random_mask": (3.75, "$m' \\odot W_{pre}$: a\nrandom mask"),
        "stdlib_mask": (6.3, "$m_{stdlib} \\odot W_{pre}$:\nthe mask found on stdlib"),
        "random_init": (8.95, "IMP from a fresh\ninit: no pre-training"),
    }
    for arm, (x, text) in others.items():
        box(ax, x, 0.55, text, edge=(ARM_STYLE.get(arm) or PRETRAINED_STYLE[arm])["color"], dashed=True)
    label(ax, 2.55, 1.55, "beside the ticket, each fine-tuned as long:", GREY)
    return figure


def mask(ax, x, y, text):
    """The point where a method picks its mask, labelled above."""
    ax.plot(x, y, "D", color=MARK, ms=10, zorder=3)
    label(ax, x, y + 0.35, text, MARK)


def write_all(folder=FIGURES):
    """Every diagram as <folder>/<name>.svg; the paths written."""
    paths = {name: Path(folder) / f"{name}.svg" for name in DIAGRAMS}
    Path(folder).mkdir(parents=True, exist_ok=True)
    for name, path in paths.items():
        path.write_text(svg(name))
    return list(paths.values())


def svg(name):
    """Diagram `name` as SVG text, the same on every run and machine with this matplotlib."""
    text = StringIO()
    with matplotlib.rc_context(RC):
        DIAGRAMS[name]().savefig(text, format="svg", metadata={"Date": None})
    return text.getvalue()


if __name__ == "__main__":
    for written in write_all(*sys.argv[1:2]):
        print(written)
