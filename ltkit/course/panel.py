"""The parts every dashboard is made of: the Dashboard, the explorer skeleton, a slider, an Output redrawn.

Each dashboard is a function that returns a Dashboard: `ui` (what a notebook shows), `inputs` (its
widgets, by name) and `state` (the numbers on display now). Tests move the inputs by setting `.value`
and read `state`, with no browser. Only widgets that ipywidgets 7 (Colab) and 8 share are used, and
figures are drawn with the inline backend into an Output widget, by the functions of ltkit.course.plots.
"""

from dataclasses import dataclass

import ipywidgets as widgets
from IPython.core.formatters import format_display_data
from IPython.display import display

WIDE = dict(layout=widgets.Layout(width="520px"), style={"description_width": "initial"})


@dataclass
class Dashboard:
    ui: widgets.Widget
    inputs: dict
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


def busy(inputs, flag):
    for widget in inputs:
        widget.disabled = flag


def explorer(inputs, show, draw):
    """The skeleton of every explorer: whenever an input moves, show(values) gives the state to display
    (a dict, with its one-line description under "status"), and draw(state) the figure. Controls are
    disabled while it computes."""
    status, output = widgets.HTML(), widgets.Output()
    state = {}

    def update(_=None):
        busy(inputs.values(), True)
        try:
            state.clear()
            state.update(show({name: widget.value for name, widget in inputs.items()}))
            status.value = state["status"]
            redraw(output, lambda: draw(state))
        finally:
            busy(inputs.values(), False)

    for widget in inputs.values():
        widget.observe(update, names="value")
    update()
    ui = widgets.VBox([widgets.HBox(list(inputs.values())), status, output])
    ui.add_class("ltkit-dashboard")  # how the browser test finds it
    return Dashboard(ui=ui, inputs=inputs, state=state)


def slider(description, options, value=None):
    """A slider over labelled options that answers when released (continuous_update=False)."""
    options = list(options)
    value = options[0][1] if value is None else value
    return widgets.SelectionSlider(
        options=options, value=value, description=description, continuous_update=False, **WIDE
    )


percent = lambda value: f"<b>{100 * value:.1f}%</b>"
