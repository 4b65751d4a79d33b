"""Dashboards: sliders over finished experiments, for exploring in class.

Every dashboard reads results that are already computed (from the run cache), so an input answers at
once; ltkit.course.panel has the parts they are made of. Lessons 05-08's are in connectivity_dashboards.
"""

import statistics

import ipywidgets as widgets
from matplotlib.figure import Figure

from ltkit.course import plots
from ltkit.course.connectivity_dashboards import (  # noqa: F401 (lessons 05-08's, part of ltkit.course.dashboards)
    alignment_explorer,
    curve_explorer,
    fge_explorer,
    stability_explorer,
)
from ltkit.course.panel import explorer, percent, slider, so_far
from ltkit.experiments.at_init import CHECKS, methods_across_seeds
from ltkit.experiments.imp import ARMS
from ltkit.experiments.oneshot import pruned_accuracy
from ltkit.experiments.stats import across_seeds, pretrained_across_seeds, pretrained_matching

WEIGHTS_REMAINING = (1.0, 0.8, 0.64, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1, 0.07, 0.05, 0.03, 0.02, 0.01)


# --- lesson 01: a training run, evaluation by evaluation --------------------------------------------------


def training_explorer(result, title=""):
    """A slider over the evaluations of a training run: its learning curves up to that iteration, and where
    early stopping would stop if training ended there (the lowest validation loss so far)."""
    history = result.history
    options = [(str(row["iteration"]), i) for i, row in enumerate(history)]
    inputs = dict(until=slider("trained until iteration", options))

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
        plots.learning_curves(history[: inputs["until"].value + 1], title=title, axes=axes)
        for ax in axes:
            ax.set_xlim(0, history[-1]["iteration"])
        return figure

    return explorer(inputs, show, draw)


# --- lesson 02: one-shot pruning of a trained network -------------------------------------------------------


def sparsity_explorer(model, data, weights_remaining=WEIGHTS_REMAINING):
    """Prune the trained `model` to the slider's fraction of weights at once (no retraining) and show its
    test accuracy, the accuracy at every fraction tried so far, and the mask."""
    inputs = dict(
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

    return explorer(inputs, show, draw)


# --- lessons 03 and 04: the rounds of IMP sweeps --------------------------------------------------------------


def sweep_so_far(lines, rounds, state, ylabel, ax):
    """Every round's accuracy (lines: across_seeds') against sparsity, the current round marked: the rounds
    up to it while the answer is hidden, on the whole sweep's axis, and all of them once revealed."""
    r = state["round"]
    shown = {label: {key: so_far(values, r, state) for key, values in line.items()} for label, line in lines.items()}
    plots.against_sparsity(shown, ylabel=ylabel, ax=ax)
    plots.sparsity_axis(ax, [rounds[0].weights_remaining, rounds[-1].weights_remaining])
    ax.axvline(100 * rounds[r].weights_remaining, color="red", lw=1)


def imp_explorer(results, measure="final_test_acc"):
    """A slider over the rounds of finished IMP sweeps (one, or one per seed): that round's learning curves
    for the ticket and both controls, every round's accuracy (`measure`; mean and spread over the seeds
    chosen), and the ticket's mask."""
    results = list(results) if isinstance(results, (list, tuple)) else [results]
    rounds = results[0].rounds
    inputs = dict(
        round=slider("IMP round", [(f"{r.round}: {100 * r.weights_remaining:.1f}%", r.round) for r in rounds])
    )
    if len(results) > 1:
        seeds = [(f"seed {result.config.seed}", i) for i, result in enumerate(results)]
        inputs["seeds"] = widgets.Dropdown(
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
        sweeps = chosen({name: widget.value for name, widget in inputs.items()})
        record = sweeps[0].rounds[state["round"]]
        figure = Figure(figsize=(plots.WIDTH, 7.5), layout="constrained")
        axes = figure.subplot_mosaic([["curves", "accuracy"], ["mask", "mask"]])
        top_left, top_right, bottom = axes["curves"], axes["accuracy"], axes["mask"]
        plots.arm_learning_curves(record, ax=top_left)
        top_left.set_title(f"seed {sweeps[0].config.seed}, round {record.round}")
        label = "final test accuracy (%)" if measure == "final_test_acc" else "test accuracy (%) at early stop"
        sweep_so_far(across_seeds(sweeps, measure), rounds, state, ylabel=label, ax=top_right)
        plots.mask_picture(record.mask, sweeps[0].data, ax=bottom, title="the ticket's mask")
        return figure

    return explorer(inputs, show, draw)


def controls_explorer(results, measure="final_test_acc"):
    """A slider over sparsity for sweeps over seeds: the ticket and both controls at that round (mean and
    spread over seeds), the gaps between them, and where the round sits on the whole curve."""
    rounds = results[0].rounds
    summary = across_seeds(results, measure)
    inputs = dict(
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
        means = [100 * summary[arm]["mean"][r] for arm in arms]
        spread = [100 * summary[arm]["std"][r] for arm in arms]
        bars = left.bar(
            range(len(arms)), means, yerr=spread, capsize=4, color=[plots.ARM_STYLE[arm]["color"] for arm in arms]
        )
        plots.values_inside(left, bars, [f"{mean:.1f}%" for mean in means], spread)
        left.set_xticks(
            range(len(arms)), [plots.two_lines(plots.ARM_STYLE[arm]["label"].split(" (")[0]) for arm in arms]
        )
        left.set_ylim(0, 100)  # bars from 0: their lengths compare; the numbers in them give the gaps
        left.set_ylabel("final test accuracy (%)" if measure == "final_test_acc" else "test accuracy (%) at early stop")
        left.set_title(f"at {100 * rounds[r].weights_remaining:.1f}% of the weights")
        sweep_so_far(summary, rounds, state, ylabel=left.get_ylabel(), ax=right)
        return figure

    return explorer(inputs, show, draw)


def at_init_explorer(results):
    """A slider over the sparsities lesson 09 compares: every method's accuracy there (mean over seeds),
    next to what its mask shuffled within layers, its kept weights re-initialised and its inverted scores
    reach. results: PruneAtInitResults of several seeds."""
    summaries = {check: methods_across_seeds(results, check) for check in ("", *CHECKS)}
    kept = results[0].weights_remaining
    inputs = dict(sparsity=slider("weights remaining", [(f"{100 * w:.1f}%", i) for i, w in enumerate(kept)]))

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
        figure = Figure(
            figsize=(plots.WIDTH, 4.4), layout="constrained"
        )  # full width: six groups of bars, and the legend
        ax = figure.subplots()
        plots.checks_bars(
            summaries, kept.index(state["sparsity"]), ax=ax, title=f"{100 * state['sparsity']:.1f}% of weights"
        )
        return figure

    return explorer(inputs, show, draw)


# --- lesson 11: tickets in a pre-trained network -------------------------------------------------------------


def pretrained_explorer(results, dense):
    """A choice of task and a slider over the rounds of pretrained-imp results over seeds: every line's
    final test accuracy at that round (mean and spread of the seeds), against the pre-trained network's
    dense fine-tuning and its matching threshold (over `dense`, results with the matching seeds), and where
    the round sits on the whole curve."""
    tasks = list(results[0].tasks)
    lines = {task: pretrained_across_seeds(results, task) for task in tasks}
    matching = {task: pretrained_matching(dense, task) for task in tasks}
    kept = {task: lines[task]["ticket"]["weights_remaining"] for task in tasks}
    inputs = dict(
        task=widgets.Dropdown(options=tasks, value=tasks[0], description="task"),
        round=slider("IMP round", [(f"{r}: {100 * w:.1f}%", r) for r, w in enumerate(kept[tasks[0]])]),
    )

    def shown(task, r):  # at round 0 only the two dense networks: every other line is the pre-trained one there
        return [name for name in lines[task] if r or name in ("ticket", "random_init")]

    def show(values):
        task, r = values["task"], values["round"]
        means = {name: lines[task][name]["mean"][r] for name in shown(task, r)}
        parts = [f"{plots.STYLES[name]['label']}: {percent(value)}" for name, value in means.items()]
        seeds = f"{len(results)} seed{'s' * (len(results) > 1)}"
        status = (
            f"{task}, {100 * kept[task][r]:.1f}% of the weights, mean of {seeds}: "
            + "; ".join(parts)
            + f". Matching from {percent(matching[task].threshold)}."
        )
        return dict(task=task, round=r, **means, threshold=matching[task].threshold, status=status)

    def draw(state):
        task, r = state["task"], state["round"]
        figure, (left, right) = plots.row(2, 4.2, detached=True)
        names = shown(task, r)
        means = [100 * lines[task][name]["mean"][r] for name in names]
        spread = [100 * lines[task][name]["std"][r] for name in names]
        colours = [plots.STYLES[name]["color"] for name in names]
        left.barh(range(len(names)), means, xerr=spread, capsize=4, color=colours)
        for y, mean in enumerate(means):
            left.text(mean - 2, y, f"{mean:.1f}%", ha="right", va="center", color="white", fontweight="bold")
        left.set_yticks(range(len(names)), [plots.two_lines(plots.STYLES[name]["label"]) for name in names])
        left.invert_yaxis()  # the ticket on top
        left.axvline(100 * matching[task].threshold, color="black", lw=1, ls=":")
        left.set_xlim(0, 100)  # bars from 0: their lengths compare; the numbers in them give the gaps
        left.set_xlabel("final test accuracy (%)")
        left.set_title(f"{task}, {100 * kept[task][r]:.1f}% of the weights")
        curves = {
            name: {key: so_far(values, r, state) for key, values in line.items()} for name, line in lines[task].items()
        }
        plots.against_sparsity(curves, ylabel=left.get_xlabel(), ax=right, matching=matching[task])
        plots.rounds_axis(right, kept[task])
        right.axvline(100 * kept[task][r], color="red", lw=1)
        right.get_legend().remove()  # the bars name every colour
        return figure

    return explorer(inputs, show, draw)
