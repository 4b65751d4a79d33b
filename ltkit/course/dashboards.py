"""Dashboards: sliders over finished experiments, for exploring in class.

Each dashboard is a function that returns a Dashboard: `ui` (what a notebook shows), `controls` (the
widgets, by name) and `state` (the numbers on display now). Tests drive the controls by setting `.value`
and read `state`, with no browser. Every dashboard reads results that are already computed (from the run
cache), so a control answers at once. Only widgets that ipywidgets 7 (Colab) and 8 share are used, and
figures are drawn with the inline backend into an Output widget, by the functions of ltkit.course.plots.
"""

import statistics
from dataclasses import dataclass

import ipywidgets as widgets
from IPython.core.formatters import format_display_data
from IPython.display import display
from matplotlib.figure import Figure

from ltkit.course import plots
from ltkit.experiments.at_init import CHECKS
from ltkit.experiments.at_init import across_seeds as at_init_summary
from ltkit.experiments.imp import ARMS
from ltkit.experiments.oneshot import pruned_accuracy
from ltkit.experiments.stats import across_seeds

WEIGHTS_REMAINING = (1.0, 0.8, 0.64, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1, 0.07, 0.05, 0.03, 0.02, 0.01)
WIDE = dict(layout=widgets.Layout(width="520px"), style={"description_width": "initial"})


@dataclass
class Dashboard:
    ui: widgets.Widget
    controls: dict
    state: dict

    def _ipython_display_(self):
        display(self.ui)


def redraw(output, draw):
    """Show the figure that draw() returns in `output`, in place of what it showed.

    The output is set in one step, as the widget's `outputs`, rather than captured with `with output:`:
    no flicker, no dependence on which cell or callback is running (so it works from a background
    thread too), and nothing for a headless runner to route.
    """
    show_in(output, draw())  # a detached Figure (plots.row): nothing for pyplot to close


def show_in(output, obj):
    """Make `obj` (a figure, a widget, HTML...) the one thing `output` shows."""
    data, metadata = format_display_data(obj)
    output.outputs = ({"output_type": "display_data", "data": data, "metadata": metadata},)


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
    ui.add_class("ltkit-dashboard")  # how the browser test finds it
    return Dashboard(ui=ui, controls=controls, state=state)


def slider(description, options, value=None):
    """A slider over labelled options that answers when released (continuous_update=False)."""
    options = list(options)
    value = options[0][1] if value is None else value
    return widgets.SelectionSlider(
        options=options, value=value, description=description, continuous_update=False, **WIDE
    )


percent = lambda value: f"<b>{100 * value:.1f}%</b>"


# --- lesson 01: a training run, evaluation by evaluation --------------------------------------------------


def training_explorer(result, title=""):
    """A slider over the evaluations of a training run: its learning curves up to that iteration, and where
    early stopping would stop if training ended there (the lowest validation loss so far)."""
    history = result.history
    options = [(str(row["iteration"]), i) for i, row in enumerate(history)]
    controls = dict(until=slider("trained until iteration", options, len(history) - 1))

    def show(values):
        seen = history[: values["until"] + 1]
        now, stop = seen[-1], min(seen, key=lambda row: row["val_loss"])
        status = (
            f"Iteration {now['iteration']}: validation loss {now['val_loss']:.3f}, accuracy {percent(now['val_acc'])}. "
            f"Stopping by validation loss would keep iteration <b>{stop['iteration']}</b>."
        )
        return dict(
            iteration=now["iteration"], early_stop_iter=stop["iteration"], val_acc=now["val_acc"], status=status
        )

    def draw(state):
        figure, axes = plots.row(2, 3.6, detached=True)
        plots.learning_curves(history[: controls["until"].value + 1], title=title, axes=axes)
        for ax in axes:
            ax.set_xlim(0, history[-1]["iteration"])
        return figure

    return explorer(controls, show, draw)


# --- lesson 02: one-shot pruning of a trained network -------------------------------------------------------


def sparsity_explorer(model, data, weights_remaining=WEIGHTS_REMAINING):
    """Prune the trained `model` to the slider's fraction of weights at once (no retraining) and show its
    test accuracy, the accuracy at every fraction tried so far, and the mask."""
    controls = dict(
        keep=slider("weights kept", [(f"{100 * k:g}%", k) for k in weights_remaining]),
        scope=widgets.ToggleButtons(options=["layerwise", "global"], value="layerwise", description="ranking"),
    )
    measured = {}  # (fraction, scope): (test accuracy, mask), each measured once

    def show(values):
        key = (values["keep"], values["scope"])
        if key not in measured:
            measured[key] = pruned_accuracy(model, data, *key)
        accuracy = measured[key][0]
        status = f"<b>{100 * key[0]:g}%</b> of weights kept ({key[1]}): test accuracy {percent(accuracy)}"
        return dict(keep=key[0], scope=key[1], test_acc=accuracy, status=status)

    def draw(state):
        figure, (left, right) = plots.row(2, 3.8, detached=True)
        lines = {}
        for (fraction, scope), (accuracy, _) in sorted(measured.items(), reverse=True):
            line = lines.setdefault(scope, dict(weights_remaining=[], mean=[]))
            line["weights_remaining"].append(fraction)
            line["mean"].append(accuracy)
        plots.against_sparsity(lines, ylabel="test accuracy (%), no retraining", ax=left)
        left.plot([100 * state["keep"]], [100 * state["test_acc"]], "o", ms=12, mfc="none", color="red")
        plots.sparsity_axis(left, [weights_remaining[0], weights_remaining[-1]])
        left.set_ylim(0, 100)  # a fixed scale: two nearby points would otherwise fill the whole axis
        mask = measured[(state["keep"], state["scope"])][1]
        plots.mask_picture(mask, data, ax=right, title="the pruned network")
        return figure

    return explorer(controls, show, draw)


# --- lessons 03 and 04: the rounds of IMP sweeps --------------------------------------------------------------


def imp_explorer(results, measure="final_test_acc"):
    """A slider over the rounds of finished IMP sweeps (one, or one per seed): that round's learning curves
    for the ticket and both controls, every round's accuracy (`measure`; mean and spread over the seeds
    chosen), and the ticket's mask."""
    results = list(results) if isinstance(results, (list, tuple)) else [results]
    rounds = results[0].rounds
    controls = dict(
        round=slider("IMP round", [(f"{r.round}: {100 * r.weights_remaining:.1f}%", r.round) for r in rounds])
    )
    if len(results) > 1:
        seeds = [(f"seed {result.config.seed}", i) for i, result in enumerate(results)]
        controls["seeds"] = widgets.Dropdown(
            options=[(f"all {len(results)} seeds", -1), *seeds], value=-1, description="show"
        )

    def chosen(values):
        pick = values.get("seeds", 0)
        return results if pick == -1 else [results[pick]]

    def show(values):
        sweeps = chosen(values)
        r = values["round"]
        means = {
            arm: statistics.mean(getattr(s.rounds[r].results[arm], measure) for s in sweeps)
            for arm in ARMS
            if arm in sweeps[0].rounds[r].results
        }
        parts = [f"{plots.ARM_STYLE[arm]['label']}: {percent(value)}" for arm, value in means.items()]
        status = f"{100 * rounds[r].weights_remaining:.1f}% of weights remain. " + "; ".join(parts)
        return dict(round=r, weights_remaining=rounds[r].weights_remaining, seeds=len(sweeps), **means, status=status)

    def draw(state):
        sweeps = chosen({name: control.value for name, control in controls.items()})
        record = sweeps[0].rounds[state["round"]]
        figure = Figure(figsize=(plots.WIDTH, 7.5), layout="constrained")
        axes = figure.subplot_mosaic([["curves", "accuracy"], ["mask", "mask"]])
        top_left, top_right, bottom = axes["curves"], axes["accuracy"], axes["mask"]
        plots.arm_learning_curves(record, ax=top_left)
        top_left.set_title(f"seed {sweeps[0].config.seed}, round {record.round}")
        label = "final test accuracy (%)" if measure == "final_test_acc" else "test accuracy (%) at early stop"
        plots.against_sparsity(across_seeds(sweeps, measure), ylabel=label, ax=top_right)
        top_right.axvline(100 * record.weights_remaining, color="red", lw=1)
        plots.mask_picture(record.mask, sweeps[0].data, ax=bottom, title="the ticket's mask")
        return figure

    return explorer(controls, show, draw)


def controls_explorer(results, measure="final_test_acc"):
    """A slider over sparsity for sweeps over seeds: the ticket and both controls at that round (mean and
    spread over seeds), the gaps between them, and where the round sits on the whole curve."""
    rounds = results[0].rounds
    summary = across_seeds(results, measure)
    controls = dict(
        round=slider("IMP round", [(f"{r.round}: {100 * r.weights_remaining:.1f}%", r.round) for r in rounds])
    )

    def show(values):
        r = values["round"]
        means = {arm: line["mean"][r] for arm, line in summary.items()}
        gaps = {arm: means["ticket"] - value for arm, value in means.items() if arm != "ticket"}
        parts = [f"ticket {percent(means['ticket'])}"] + [
            f"{plots.ARM_STYLE[arm]['label']} {percent(means[arm])} (gap {100 * gap:+.1f} points)"
            for arm, gap in gaps.items()
        ]
        status = f"{100 * rounds[r].weights_remaining:.1f}% of weights, mean of {len(results)} seeds: " + "; ".join(
            parts
        )
        return dict(round=r, **means, **{f"gap_{arm}": gap for arm, gap in gaps.items()}, status=status)

    def draw(state):
        r = state["round"]
        figure, (left, right) = plots.row(2, 3.8, detached=True)
        arms = list(summary)
        left.bar(
            range(len(arms)),
            [100 * summary[arm]["mean"][r] for arm in arms],
            yerr=[100 * summary[arm]["std"][r] for arm in arms],
            capsize=4,
            color=[plots.ARM_STYLE[arm]["color"] for arm in arms],
        )
        left.set_xticks(
            range(len(arms)), [plots.ARM_STYLE[arm]["label"].split(" (")[0] for arm in arms], fontsize="small"
        )
        lowest = min(summary[arm]["mean"][r] - summary[arm]["std"][r] for arm in arms)
        left.set_ylim(100 * lowest - 5, None)
        left.set_ylabel("final test accuracy (%)" if measure == "final_test_acc" else "test accuracy (%) at early stop")
        left.set_title(f"at {100 * rounds[r].weights_remaining:.1f}% of the weights")
        plots.against_sparsity(summary, ylabel=left.get_ylabel(), ax=right)
        right.axvline(100 * rounds[r].weights_remaining, color="red", lw=1)
        return figure

    return explorer(controls, show, draw)


# --- lesson 05: instability against the iteration k --------------------------------------------------------


def stability_explorer(*row_lists, title=""):
    """A slider over the iterations k of finished instability analyses (rows of run_instability, from the
    cache; several lists are merged by k): the test error along the line between the first pair of copies
    of each network measured at k, and every network's barrier against k."""
    merged = {}
    for rows in row_lists:
        for row in rows:
            merged.setdefault(row["k"], {"k": row["k"]}).update(row)
    rows = [merged[k] for k in sorted(merged)]
    controls = dict(k=slider("copies split at k", [(str(row["k"]), i) for i, row in enumerate(rows)]))

    def show(values):
        row = rows[values["k"]]
        arms = [arm for arm in plots.INSTABILITY_LABELS if arm in row]
        parts = [f"{plots.INSTABILITY_LABELS[arm]}: barrier <b>{100 * row[arm].barrier:.1f}</b> points" for arm in arms]
        status = f"Copies split at iteration {row['k']}. " + "; ".join(parts)
        return dict(index=values["k"], k=row["k"], **{arm: row[arm].barrier for arm in arms}, status=status)

    def draw(state):
        row = rows[state["index"]]
        figure, (left, right) = plots.row(2, 4, detached=True)
        lines = {plots.INSTABILITY_LABELS[arm]: row[arm].lines[0] for arm in plots.INSTABILITY_LABELS if arm in row}
        plots.along_path(
            lines, ax=left, xlabel="alpha between two copies", title=f"copies split at iteration {row['k']}"
        )
        plots.barrier_against_k(rows, ax=right, title=title)
        right.axvline(row["k"], color="red", lw=1)
        return figure

    return explorer(controls, show, draw)


# --- lesson 06: along a curve, and an ensemble growing -------------------------------------------------------


def curve_explorer(result, plane):
    """A slider over t: the point at t on the straight line and on the fitted curve, shown on the plane
    picture, and the test error of both along t."""
    controls = dict(t=slider("t", [(f"{t:.2f}", i) for i, t in enumerate(result.curve.t)]))

    def show(values):
        i = values["t"]
        line, curve = result.line.test_err[i], result.curve.test_err[i]
        status = f"t = {result.curve.t[i]:.2f}: test error {percent(line)} on the line, {percent(curve)} on the curve"
        return dict(index=i, t=result.curve.t[i], line_test_err=line, curve_test_err=curve, status=status)

    def draw(state):
        t = state["t"]
        figure, (left, right) = plots.row(2, 4.2, detached=True)
        plots.plane_picture(plane, result.kind, ax=left)
        left.plot(*plots.point_in_plane(plane, t), "o", ms=10, mfc="none", mec="red", mew=2)
        left.plot(*plots.point_in_plane(plane, t, result.kind), "o", ms=10, color="red")
        plots.along_path({"straight line": result.line, f"{result.kind} curve": result.curve}, ax=right, xlabel="t")
        right.axvline(t, color="red", lw=1)
        return figure

    return explorer(controls, show, draw)


def alignment_explorer(results):
    """A slider over alpha, along the straight line between two independently trained networks before and
    after weight matching, for each network of `results` ({name: AlignResult}, one chosen at a time)."""
    names = list(results)
    alphas = results[names[0]].line.t
    controls = dict(
        network=widgets.Dropdown(options=names, value=names[0], description="network"),
        alpha=slider("alpha", [(f"{a:.2f}", i) for i, a in enumerate(alphas)], len(alphas) // 2),
    )

    def show(values):
        result, i = results[values["network"]], values["alpha"]
        before, after = result.line.test_err[i], result.aligned.test_err[i]
        status = (
            f"{values['network']}, alpha = {alphas[i]:.2f}: test error {percent(before)} on the line, "
            f"{percent(after)} once the second network's units are reordered to match the first's"
        )
        return dict(
            network=values["network"], alpha=alphas[i], line_test_err=before, aligned_test_err=after, status=status
        )

    def draw(state):
        result = results[state["network"]]
        figure, ax = plots.row(1, 4.2, detached=True)
        paths = {"straight line": result.line, "after weight matching": result.aligned}
        plots.along_path(paths, ax=ax, title=state["network"], xlabel="alpha")
        ax.axvline(state["alpha"], color="red", lw=1)
        return figure

    return explorer(controls, show, draw)


def at_init_explorer(results):
    """A slider over the sparsities lesson 08 compares: every method's accuracy there (mean over seeds),
    next to what its mask shuffled within layers, its kept weights re-initialised and its inverted scores
    reach. results: PruneAtInitResults of several seeds."""
    summaries = {check: at_init_summary(results, check) for check in ("", *CHECKS)}
    kept = results[0].weights_remaining
    controls = dict(sparsity=slider("weights remaining", [(f"{100 * w:.1f}%", i) for i, w in enumerate(kept)]))

    def show(values):
        i = values["sparsity"]
        accuracy = {method: line["mean"][i] for method, line in summaries[""].items()}
        shuffled = {method: line["mean"][i] for method, line in summaries["shuffled"].items()}
        drops = "; ".join(f"{m} {percent(accuracy[m])} ({100 * (shuffled[m] - accuracy[m]):+.1f})" for m in shuffled)
        status = (
            f"{100 * kept[i]:.1f}% of weights, mean of {len(results)} seeds; final test accuracy, and in brackets "
            f"the change when the mask is shuffled within each layer: {drops}"
        )
        return dict(sparsity=kept[i], accuracy=accuracy, shuffled=shuffled, status=status)

    def draw(state):
        figure, ax = plots.row(1, 4.2, detached=True)
        plots.checks_bars(
            summaries, kept.index(state["sparsity"]), ax=ax, title=f"{100 * state['sparsity']:.1f}% of weights"
        )
        return figure

    return explorer(controls, show, draw)


def fge_explorer(result):
    """A slider over the number of FGE snapshots in the ensemble: its test accuracy as it grows, against
    the baselines at the full budget."""
    count = len(result.ensemble_accs)
    controls = dict(n=slider("snapshots in the ensemble", [(str(n), n) for n in range(1, count + 1)], count))

    def show(values):
        n = values["n"]
        accuracy = result.ensemble_accs[n - 1]
        best = max(s["test_acc"] for s in result.snapshots[:n])
        status = f"{n} snapshot(s): ensemble {percent(accuracy)}, best of them alone {percent(best)}"
        return dict(n=n, ensemble_acc=accuracy, best_member_acc=best, status=status)

    def draw(state):
        figure, ax = plots.row(1, 4.2, detached=True)
        plots.fge_comparison(result, ax=ax)
        ax.plot(
            range(1, count + 1),
            [100 * a for a in result.ensemble_accs],
            "s-",
            color="tab:red",
            ms=4,
            label="ensemble of the first n",
        )
        ax.plot([state["n"]], [100 * state["ensemble_acc"]], "o", ms=12, mfc="none", color="red")
        ax.legend(loc="lower right")
        return figure

    return explorer(controls, show, draw)
