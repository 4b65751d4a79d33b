"""The dashboards of lessons 05-08 (ltkit.course.dashboards shows them too): instability against k,
a curve between two networks, alignment, and an ensemble growing snapshot by snapshot."""

from dataclasses import fields, replace

import ipywidgets as widgets
from matplotlib.figure import Figure

from ltkit.course import plots
from ltkit.course.panel import explorer, percent, slider, so_far

# --- lessons 05-06: instability against the iteration k-------------------------------------------------------


def stability_explorer(*results, title=""):
    """A slider over the iterations k of finished instability analyses (InstabilityResults, from the cache;
    several are merged by k): the test error along the line between the first pair of copies of each
    network measured at k, and every network's barrier against k."""
    merged = {}
    for result in results:
        for row in result.rows:
            merged.setdefault(row["k"], {"k": row["k"]}).update(row)
    rows = [merged[k] for k in sorted(merged)]
    inputs = dict(k=slider("copies split at k", [(str(row["k"]), i) for i, row in enumerate(rows)]))

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
        seen = so_far(rows, state["index"], state)
        later = [{"k": row["k"]} for row in rows[len(seen) :]]  # measured later: only their place on the axis
        plots.barrier_against_k(seen + later, ax=right, title=title)
        right.axvline(row["k"], color="red", lw=1)
        return figure

    return explorer(inputs, show, draw)


# --- lessons 07-08: along a curve, and an ensemble growing------------------------------------------------------


def paths_so_far(paths, index, state, ax, **labels):
    """along_path of `paths` ({label: PathResult}): while the answer is hidden, up to the current point
    `index`, on the whole path's axis and without the barriers in the legend (they would give it away);
    the whole paths once revealed."""

    def cut(path):
        return replace(path, **{field.name: so_far(getattr(path, field.name), index, state) for field in fields(path)})

    plots.along_path({label: cut(path) for label, path in paths.items()}, ax=ax, **labels)
    if not state["revealed"]:
        ax.legend(ax.lines, list(paths))
        ax.set_xlim(-0.05, 1.05)  # t (alpha) from 0 to 1, with matplotlib's usual margins


def curve_explorer(result, plane):
    """A slider over t: the point at t on the straight line and on the fitted curve, shown on the plane
    picture, and the test error of both along t."""
    inputs = dict(t=slider("t", [(f"{t:.2f}", i) for i, t in enumerate(result.curve.t)]))

    def show(values):
        i = values["t"]
        line, curve = result.line.test_err[i], result.curve.test_err[i]
        status = f"t = {result.curve.t[i]:.2f}: test error {percent(line)} on the line, {percent(curve)} on the curve"
        return dict(index=i, t=result.curve.t[i], line_test_err=line, curve_test_err=curve, status=status)

    def draw(state):
        t, kind = state["t"], result.config.shape
        figure, (left, right) = plots.row(2, 4.2, detached=True)
        plots.plane_picture(plane, kind, ax=left)
        left.plot(*plots.point_in_plane(plane, t), "o", ms=10, mfc="none", mec="red", mew=2)
        left.plot(*plots.point_in_plane(plane, t, kind), "o", ms=10, color="red")
        paths = {"straight line": result.line, f"{kind} curve": result.curve}
        paths_so_far(paths, state["index"], state, ax=right, xlabel="t")
        right.axvline(t, color="red", lw=1)
        return figure

    return explorer(inputs, show, draw)


def alignment_explorer(results):
    """A slider over alpha, along the straight line between two independently trained networks before and
    after weight matching, for each network of `results` ({name: AlignResult}, one chosen at a time)."""
    names = list(results)
    alphas = results[names[0]].line.t
    inputs = dict(
        network=widgets.Dropdown(options=names, value=names[0], description="network"),
        alpha=slider("alpha", [(f"{a:.2f}", i) for i, a in enumerate(alphas)]),
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
        paths_so_far(paths, inputs["alpha"].value, state, ax=ax, title=state["network"], xlabel="alpha")
        ax.axvline(state["alpha"], color="red", lw=1)
        return figure

    return explorer(inputs, show, draw)


def fge_explorer(result):
    """A slider over the number of FGE snapshots in the ensemble: its test accuracy as it grows, against
    the baselines at the full budget."""
    count = len(result.ensemble_accs)
    inputs = dict(n=slider("snapshots in the ensemble", [(str(n), n) for n in range(1, count + 1)]))

    def show(values):
        n = values["n"]
        accuracy = result.ensemble_accs[n - 1]
        best = max(s["test_acc"] for s in result.snapshots[:n])
        status = f"{n} snapshot(s): ensemble {percent(accuracy)}, best of them alone {percent(best)}"
        return dict(n=n, ensemble_acc=accuracy, best_member_acc=best, status=status)

    def draw(state):
        figure = Figure(figsize=plots.FGE_SIZE, layout="constrained")  # room for the legend under the axes
        ax = figure.subplots()
        plots.fge_comparison(result, ax=ax)
        shown = so_far(result.ensemble_accs, state["n"] - 1, state)
        ax.plot(range(1, len(shown) + 1), [100 * a for a in shown], **plots.FGE_STYLE["growing"])
        ax.plot([state["n"]], [100 * state["ensemble_acc"]], "o", ms=12, mfc="none", color="red")
        plots.fge_legend(ax)
        return figure

    return explorer(inputs, show, draw)
