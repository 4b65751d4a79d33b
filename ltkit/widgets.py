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
from ltkit.plots import ARM_STYLE, along_path, barrier_against_k, input_connections, sparsity_axis

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


def inside(output, compute):
    """compute() with what it displays (progress bars) shown in `output`. In a kernel an Output widget
    swallows exceptions raised inside it (it shows them instead), so they are caught there and raised
    again outside, where the dashboard can turn them into a message."""
    with output:
        output.clear_output(wait=True)
        try:
            return compute()
        except Exception as error:  # re-raised below, outside the widget
            caught = error
    raise caught


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


# --- instability against the iteration k -----------------------------------------------------------------


def stability_explorer(rows, title=""):
    """A slider over the iterations k of a finished instability analysis (from the run cache): the test
    error along the line between the two copies that split at k, and the barrier against k."""
    arms = [arm for arm in ("dense", "ticket") if arm in rows[0]]
    slider = widgets.SelectionSlider(
        options=[(str(row["k"]), i) for i, row in enumerate(rows)],
        value=0,
        description="split at k",
        continuous_update=False,
    )
    status, output = widgets.HTML(), widgets.Output()
    state = {}

    def draw():
        row = rows[state["index"]]
        figure, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8), layout="constrained")
        along_path(
            {("dense network" if arm == "dense" else "IMP ticket"): row[arm]["line"] for arm in arms},
            ax=left,
            xlabel="alpha: (1 - alpha) copy 1 + alpha copy 2",
            title=f"copies split at iteration {row['k']}",
        )
        barrier_against_k(rows, ax=right, title=title)
        right.axvline(row["k"], color="red", lw=1)
        return figure

    def update(_=None):
        busy([slider], True)
        try:
            row = rows[slider.value]
            state.update(index=slider.value, k=row["k"], **{arm: row[arm]["barrier"] for arm in arms})
            parts = [f"{arm}: barrier <b>{100 * row[arm]['barrier']:.1f}</b> points" for arm in arms]
            status.value = f"Copies split at iteration {row['k']}. " + "; ".join(parts)
            redraw(output, draw)
        finally:
            busy([slider], False)

    slider.observe(update, names="value")
    update()
    return Dashboard(ui=widgets.VBox([slider, status, output]), controls=dict(k=slider), state=state)


# --- the playground: any IMP sweep from a form ------------------------------------------------------------


def playground(profile=None, device="cpu"):
    """A form for an IMP sweep of one's own: dataset, model, pruning rate, rounds, rewind iteration, seed.
    "Run" trains it (or loads it from the run cache) and shows its rounds with `imp_explorer`. Mistakes in
    the form (a convolutional model on 1-D data, a rewind point past the end...) show as a message."""
    from ltkit.data import DATASETS, load_dataset
    from ltkit.errors import LtkitError
    from ltkit.lottery import imp_config, run_imp
    from ltkit.models import MODELS

    controls = dict(
        dataset=widgets.Dropdown(options=list(DATASETS), value="mnist1d", description="dataset"),
        model=widgets.Dropdown(options=list(MODELS), value="mlp", description="model"),
        rate=widgets.Dropdown(
            options=[("the paper's, per layer kind", "paper")]
            + [(f"{p}% of every layer", p / 100) for p in (10, 20, 30, 50)],
            value="paper",
            description="prune/round",
        ),
        rounds=widgets.IntSlider(value=10, min=1, max=20, description="rounds", continuous_update=False),
        rewind=widgets.BoundedIntText(value=0, min=0, max=10**6, description="rewind to k"),
        seed=widgets.BoundedIntText(value=0, min=0, max=10**6, description="seed"),
    )
    button = widgets.Button(description="Run IMP", button_style="primary")
    status, output = widgets.HTML(), widgets.Output()
    state = {}

    def run(_=None):
        busy([*controls.values(), button], True)
        status.value = "running (finished rounds are cached: an interrupted run resumes)..."
        try:
            config = imp_config(
                controls["dataset"].value,
                controls["model"].value,
                profile,
                rates=None if controls["rate"].value == "paper" else controls["rate"].value,
                rounds=controls["rounds"].value,
                rewind_iter=controls["rewind"].value,
                seed=controls["seed"].value,
            )
            data = load_dataset(config.dataset, device=device)
            result = inside(output, lambda: run_imp(config, data=data))  # progress bars show in `output`
            shape = (
                data.input_shape[1:] if data.input_shape[0] == 1 and config.model in ("mlp", "lenet300_100") else None
            )
            explorer = imp_explorer(result, image_shape=shape)
            with output:
                display(explorer.ui)
            state.update(config=config, result=result, explorer=explorer, error=None)
            last, dense = result.rounds[-1], result.rounds[0]
            status.value = (
                f"Done: {100 * last['weights_remaining']:.1f}% of weights after {config.rounds} rounds; "
                f"ticket {100 * last['ticket']['test_acc']:.1f}%, dense {100 * dense['ticket']['test_acc']:.1f}%."
            )
        except LtkitError as error:
            state.update(error=str(error))
            status.value = f"<span style='color:#b00'>Cannot run this: {error}</span>"
        finally:
            busy([*controls.values(), button], False)

    button.on_click(run)
    form = widgets.VBox(
        [
            widgets.HBox([controls["dataset"], controls["model"]]),
            widgets.HBox([controls["rate"], controls["rounds"]]),
            widgets.HBox([controls["rewind"], controls["seed"]]),
            button,
        ]
    )
    return Dashboard(ui=widgets.VBox([form, status, output]), controls={**controls, "run": button}, state=state)
