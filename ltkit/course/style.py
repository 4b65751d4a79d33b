"""The course's figure style: arm colours, widths that fit a notebook at 1024x768, text a projector shows."""

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

ARM_STYLE = {
    "ticket": dict(color="tab:blue", label="winning ticket (rewound)"),
    "reinit": dict(color="tab:orange", label="random re-initialisation"),
    "random_mask": dict(color="tab:green", label="random pruning"),
    "dense": dict(color="black", label="dense network"),
}
WIDTH = 10  # inches: a notebook's output column at 1024x768 shows about 1,000 pixels without shrinking

plt.rcParams.update(
    {
        "figure.dpi": 100,
        "font.size": 11,
        "axes.titlesize": 12,
        "axes.labelsize": 11,
        "legend.fontsize": 9.5,
        "xtick.labelsize": 10,
        "ytick.labelsize": 10,
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
