"""Dashboards: sliders over the experiments, for exploring in class.

Each dashboard is a function that returns a Dashboard: `ui` (what a notebook shows), `controls` (the
widgets, by name) and `state` (the numbers on display now). Tests drive the controls by setting `.value`
and read `state`, with no browser. Only widgets that ipywidgets 7 (Colab) and 8 share are used, and
figures are drawn with the inline backend into an Output widget, by the functions of ltkit.plots.
"""

from dataclasses import dataclass

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

from ltkit import plots
from ltkit.data import DATASETS, load_dataset
from ltkit.errors import LtkitError
from ltkit.imp import ARMS, imp_config, run_imp
from ltkit.models import MODELS
from ltkit.oneshot import pruned_accuracy
from ltkit.stats import across_seeds

WEIGHTS_REMAINING = (1.0, 0.8, 0.64, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1, 0.07, 0.05, 0.03, 0.02, 0.01)


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


def explorer(controls, show, draw):
    """The skeleton of every explorer: whenever a control moves, show(values) gives the state to display
    (a dict, with its one-line description under "status"), and draw(state) the figure. Controls are
    disabled while it computes."""
    status, output = widgets.HTML(), widgets.Output()
    state = {}

    def update(_=None):
        busy(controls.values(), True)
        try:
            state.clear()
            state.update(show({name: control.value for name, control in controls.items()}))
            status.value = state["status"]
            redraw(output, lambda: draw(state))
        finally:
            busy(controls.values(), False)

    for control in controls.values():
        control.observe(update, names="value")
    update()
    ui = widgets.VBox([widgets.HBox(list(controls.values())), status, output])
    return Dashboard(ui=ui, controls=controls, state=state)


def side_by_side(panels=2, width=12, height=3.8):
    """A figure of `panels` axes in a row."""
    return plt.subplots(1, panels, figsize=(width, height), layout="constrained")


# --- one-shot pruning of a trained network -------------------------------------------------------------


def sparsity_explorer(model, data, weights_remaining=WEIGHTS_REMAINING):
    """Prune the trained `model` to the slider's fraction of weights at once (no retraining) and show its
    test accuracy, the accuracy at every fraction tried so far, and the mask."""
    controls = dict(
        keep=widgets.SelectionSlider(
            options=[(f"{100 * k:g}%", k) for k in weights_remaining],
            value=weights_remaining[0],
            description="weights kept",
            continuous_update=False,
        ),
        scope=widgets.ToggleButtons(options=["layerwise", "global"], value="layerwise", description="ranking"),
    )
    measured = {}  # (fraction, scope): (test accuracy, mask), each measured once

    def show(values):
        key = (values["keep"], values["scope"])
        if key not in measured:
            measured[key] = pruned_accuracy(model, data, *key)
        accuracy = measured[key][0]
        status = f"<b>{100 * key[0]:g}%</b> of weights kept ({key[1]}): test accuracy <b>{100 * accuracy:.1f}%</b>"
        return dict(keep=key[0], scope=key[1], test_acc=accuracy, status=status)

    def draw(state):
        figure, (left, right) = side_by_side(2, 10, 3.6)
        lines = {}
        for (fraction, scope), (accuracy, _) in sorted(measured.items(), reverse=True):
            line = lines.setdefault(scope, dict(weights_remaining=[], mean=[]))
            line["weights_remaining"].append(fraction)
            line["mean"].append(accuracy)
        plots.against_sparsity(lines, ylabel="test accuracy (%), no retraining", ax=left)
        left.plot([100 * state["keep"]], [100 * state["test_acc"]], "o", ms=12, mfc="none", color="red")
        plots.sparsity_axis(left, [weights_remaining[0], weights_remaining[-1]])
        mask = measured[(state["keep"], state["scope"])][1]
        plots.mask_picture(mask, data, ax=right, title="first layer: connections kept per pixel")
        return figure

    return explorer(controls, show, draw)


# --- the rounds of an IMP sweep -----------------------------------------------------------------------


def imp_explorer(result):
    """A slider over the rounds of a finished IMP sweep (all from the run cache): that round's learning
    curves for the ticket and both controls, its accuracies against all rounds', and its mask."""
    labels = [(f"round {r.round}: {100 * r.weights_remaining:.1f}%", r.round) for r in result.rounds]
    controls = dict(
        round=widgets.SelectionSlider(
            options=labels,
            value=0,
            description="IMP round",
            continuous_update=False,
            layout=widgets.Layout(width="480px"),
        )
    )
    accuracy = across_seeds([result])

    def show(values):
        record = result.rounds[values["round"]]
        accuracies = {arm: record.results[arm].test_acc for arm in ARMS if arm in record.results}
        parts = [f"{plots.ARM_STYLE[arm]['label']}: <b>{100 * acc:.1f}%</b>" for arm, acc in accuracies.items()]
        status = f"{100 * record.weights_remaining:.1f}% of weights remain. " + "; ".join(parts)
        return dict(round=record.round, weights_remaining=record.weights_remaining, **accuracies, status=status)

    def draw(state):
        record = result.rounds[state["round"]]
        figure, axes = side_by_side(3, 14, 3.6)
        plots.arm_learning_curves(record, ax=axes[0])
        plots.against_sparsity(accuracy, ax=axes[1])
        axes[1].axvline(100 * record.weights_remaining, color="red", lw=1)
        plots.mask_picture(record.mask, result.data, ax=axes[2], title="the ticket's first layer")
        return figure

    return explorer(controls, show, draw)


# --- instability against the iteration k -----------------------------------------------------------------


def stability_explorer(rows, title=""):
    """A slider over the iterations k of a finished instability analysis (from the run cache): the test
    error along the line between the first pair of copies that split at k, and the barriers against k."""
    arms = [arm for arm in plots.INSTABILITY_LABELS if arm in rows[0]]
    controls = dict(
        k=widgets.SelectionSlider(
            options=[(str(row["k"]), i) for i, row in enumerate(rows)],
            value=0,
            description="split at k",
            continuous_update=False,
        )
    )

    def show(values):
        row = rows[values["k"]]
        parts = [f"{plots.INSTABILITY_LABELS[arm]}: barrier <b>{100 * row[arm].barrier:.1f}</b> points" for arm in arms]
        status = f"Copies split at iteration {row['k']}. " + "; ".join(parts)
        return dict(index=values["k"], k=row["k"], **{arm: row[arm].barrier for arm in arms}, status=status)

    def draw(state):
        row = rows[state["index"]]
        figure, (left, right) = side_by_side()
        plots.along_path(
            {plots.INSTABILITY_LABELS[arm]: row[arm].lines[0] for arm in arms},
            ax=left,
            xlabel="alpha: (1 - alpha) copy 1 + alpha copy 2",
            title=f"copies split at iteration {row['k']}",
        )
        plots.barrier_against_k(rows, ax=right, title=title)
        right.axvline(row["k"], color="red", lw=1)
        return figure

    return explorer(controls, show, draw)


# --- the playground: any IMP sweep from a form ------------------------------------------------------------


def playground(profile=None, device="cpu"):
    """A form for an IMP sweep of one's own: dataset, model, pruning rate, rounds, rewind iteration, seed.
    "Run" trains it (or loads it from the run cache) and shows its rounds with `imp_explorer`. Mistakes in
    the form (a convolutional model on 1-D data, a rewind point past the end...) show as a message."""
    rounds = imp_config("mnist1d", "mlp", profile).rounds  # the profile's
    controls = dict(
        dataset=widgets.Dropdown(options=list(DATASETS), value="mnist1d", description="dataset"),
        model=widgets.Dropdown(options=list(MODELS), value="mlp", description="model"),
        rate=widgets.Dropdown(
            options=[("the paper's, per layer kind", "paper")]
            + [(f"{p}% of every layer", p / 100) for p in (10, 20, 30, 50)],
            value="paper",
            description="prune/round",
        ),
        rounds=widgets.IntSlider(
            value=rounds, min=1, max=max(20, rounds), description="rounds", continuous_update=False
        ),
        rewind_iter=widgets.BoundedIntText(value=0, min=0, max=10**6, description="rewind to k"),
        seed=widgets.BoundedIntText(value=0, min=0, max=10**6, description="seed"),
    )
    button = widgets.Button(description="Run IMP", button_style="primary")
    status, output = widgets.HTML(), widgets.Output()
    state = {}

    def run(_=None):
        busy([*controls.values(), button], True)
        status.value = "running (finished rounds are cached: an interrupted run resumes)..."
        try:
            values = {name: control.value for name, control in controls.items()}
            result = inside(output, lambda: form_sweep(values, profile, device))  # progress bars show in `output`
            explorer_ = imp_explorer(result)
            with output:
                display(explorer_.ui)
            state.update(config=result.config, result=result, explorer=explorer_, error=None)
            status.value = sweep_summary(result)
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
            widgets.HBox([controls["rewind_iter"], controls["seed"]]),
            button,
        ]
    )
    return Dashboard(ui=widgets.VBox([form, status, output]), controls={**controls, "run": button}, state=state)


def form_sweep(values, profile, device):
    """The IMP sweep the playground's form describes, run or loaded from the cache."""
    rates = None if values["rate"] == "paper" else values["rate"]
    fields = dict(rates=rates, rounds=values["rounds"], rewind_iter=values["rewind_iter"], seed=values["seed"])
    config = imp_config(values["dataset"], values["model"], profile, **fields)
    return run_imp(config, data=load_dataset(config.dataset, device=device))


def sweep_summary(result):
    last, dense = result.rounds[-1], result.rounds[0]
    return (
        f"Done: {100 * last.weights_remaining:.1f}% of weights after {result.config.rounds} rounds; "
        f"ticket {100 * last.results['ticket'].test_acc:.1f}%, dense {100 * dense.results['ticket'].test_acc:.1f}%."
    )
