"""Dashboards: sliders over the experiments, for exploring in class.

Each dashboard is a function that returns a Dashboard: `ui` (what a notebook shows), `controls` (the
widgets, by name) and `state` (the numbers on display now). Tests drive the controls by setting `.value`
and read `state`, with no browser. Only widgets that ipywidgets 7 (Colab) and 8 share are used, and
figures are drawn with the inline backend into an Output widget.
"""

from dataclasses import dataclass

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

from ltkit.lottery import ARMS, pruned_accuracy
from ltkit.plots import ARM_STYLE, input_connections, sparsity_axis

KEEP_FRACTIONS = (1.0, 0.8, 0.64, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1, 0.07, 0.05, 0.03, 0.02, 0.01)


@dataclass
class Dashboard:
    ui: widgets.Widget
    controls: dict
    state: dict

    def _ipython_display_(self):
        display(self.ui)


def redraw(output, draw):
    """Replace what `output` shows by the figure that draw() returns."""
    with output:
        output.clear_output(wait=True)
        figure = draw()
        display(figure)
        plt.close(figure)


def busy(controls, flag):
    for control in controls:
        control.disabled = flag


def layer_fractions(mask, ax):
    """A bar per layer: the percent of its weights the mask keeps."""
    names = list(mask)[::-1]
    ax.barh(names, [100 * mask[n].float().mean().item() for n in names], color="tab:blue")
    ax.set_xlim(0, 100)
    ax.set_xlabel("weights kept (%)")
    ax.tick_params(axis="y", labelsize=8)


# --- one-shot pruning of a trained network -------------------------------------------------------------


def sparsity_explorer(model, data, image_shape=None, keep_fractions=KEEP_FRACTIONS):
    """Prune the trained `model` to the slider's fraction of weights at once (no retraining) and show its
    test accuracy, the accuracy at every fraction tried so far, and the mask (for images: how many
    connections of each input pixel survive)."""
    keep = widgets.SelectionSlider(
        options=[(f"{100 * k:g}%", k) for k in keep_fractions],
        value=keep_fractions[0],
        description="weights kept",
        continuous_update=False,
    )
    scope = widgets.ToggleButtons(options=["layerwise", "global"], value="layerwise", description="ranking")
    status, output = widgets.HTML(), widgets.Output()
    measured, state = {}, {}

    def measure(fraction, how):
        if (fraction, how) not in measured:
            accuracy, mask = pruned_accuracy(model, data, fraction, how)
            measured[(fraction, how)] = dict(test_acc=accuracy, mask=mask)
        return measured[(fraction, how)]

    def draw():
        figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
        for how, style in (("layerwise", "o-"), ("global", "s--")):
            points = sorted((k, m["test_acc"]) for (k, h), m in measured.items() if h == how)
            if points:
                left.plot([100 * k for k, _ in points], [100 * a for _, a in points], style, label=how)
        left.plot([100 * state["keep"]], [100 * state["test_acc"]], "o", ms=12, mfc="none", color="red")
        sparsity_axis(left, [keep_fractions[0], keep_fractions[-1]])
        left.set_ylabel("test accuracy (%), no retraining")
        left.legend(fontsize=8)
        mask = measured[(state["keep"], state["scope"])]["mask"]
        first = next(iter(mask))
        if image_shape:
            input_connections(mask[first], image_shape, ax=right, title="first layer: connections kept per pixel")
        else:
            layer_fractions(mask, right)
        return figure

    def update(_=None):
        busy([keep, scope], True)
        try:
            result = measure(keep.value, scope.value)
            state.update(keep=keep.value, scope=scope.value, test_acc=result["test_acc"])
            status.value = (
                f"<b>{100 * keep.value:g}%</b> of weights kept ({scope.value}): "
                f"test accuracy <b>{100 * result['test_acc']:.1f}%</b>"
            )
            redraw(output, draw)
        finally:
            busy([keep, scope], False)

    keep.observe(update, names="value")
    scope.observe(update, names="value")
    update()
    ui = widgets.VBox([widgets.HBox([keep, scope]), status, output])
    return Dashboard(ui=ui, controls=dict(keep=keep, scope=scope), state=state)


# --- the rounds of an IMP sweep -----------------------------------------------------------------------


def imp_explorer(result, image_shape=None):
    """A slider over the rounds of a finished IMP sweep (all from the run cache): that round's learning
    curves for the ticket and both controls, its accuracies against all rounds', and its mask."""
    rounds = result.rounds
    labels = [(f"round {r['round']}: {100 * r['weights_remaining']:.1f}%", r["round"]) for r in rounds]
    slider = widgets.SelectionSlider(
        options=labels, value=0, description="IMP round", continuous_update=False, layout=widgets.Layout(width="480px")
    )
    status, output = widgets.HTML(), widgets.Output()
    state = {}

    def draw():
        record = rounds[state["round"]]
        figure, axes = plt.subplots(1, 3, figsize=(14, 3.6), layout="constrained")
        for arm in ARMS:
            if record[arm] and (arm == "ticket" or state["round"] > 0):
                history = record[arm]["history"]
                axes[0].plot([h["iteration"] for h in history], [100 * h["val_acc"] for h in history], **ARM_STYLE[arm])
        axes[0].set_xlabel("training iteration")
        axes[0].set_ylabel("validation accuracy (%)")
        axes[0].legend(fontsize=8)
        axes[0].grid(alpha=0.3)
        fractions = [r["weights_remaining"] for r in rounds]
        for arm in ARMS:
            if rounds[-1][arm]:
                axes[1].plot(
                    [100 * f for f in fractions],
                    [100 * r[arm]["test_acc"] for r in rounds],
                    "o-",
                    ms=3,
                    **ARM_STYLE[arm],
                )
        axes[1].axvline(100 * record["weights_remaining"], color="red", lw=1)
        sparsity_axis(axes[1], fractions)
        axes[1].set_ylabel("test accuracy (%) at early stop")
        first = next(iter(record["mask"]))
        if image_shape:
            input_connections(record["mask"][first], image_shape, ax=axes[2], title="ticket's first layer")
        else:
            layer_fractions(record["mask"], axes[2])
        return figure

    def update(_=None):
        busy([slider], True)
        try:
            record = rounds[slider.value]
            state.update(
                round=slider.value,
                weights_remaining=record["weights_remaining"],
                **{arm: record[arm]["test_acc"] for arm in ARMS if record[arm]},
            )
            parts = [
                f"{ARM_STYLE[arm]['label']}: <b>{100 * record[arm]['test_acc']:.1f}%</b>" for arm in ARMS if record[arm]
            ]
            status.value = f"{100 * record['weights_remaining']:.1f}% of weights remain. " + "; ".join(parts)
            redraw(output, draw)
        finally:
            busy([slider], False)

    slider.observe(update, names="value")
    update()
    return Dashboard(ui=widgets.VBox([slider, status, output]), controls=dict(round=slider), state=state)
