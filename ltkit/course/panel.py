"""The parts every dashboard is made of: the Dashboard, the explorer skeleton, a slider, an Output redrawn.

Each dashboard is a function that returns a Dashboard: `ui` (what a notebook shows), `inputs` (its
widgets, by name, with the student's "guess" and the "reveal" toggle last) and `state` (the numbers on
display now, computed whether or not the answer is revealed). Tests move the inputs by setting `.value`
and read `state`, with no browser. Only widgets that ipywidgets 7 (Colab) and 8 share are used, and
figures are drawn with the inline backend into an Output widget, by the functions of ltkit.course.plots.
"""

import html
from dataclasses import dataclass

import ipywidgets as widgets
from IPython.core.formatters import format_display_data
from IPython.display import display

WIDE = dict(layout=widgets.Layout(width="520px"), style={"description_width": "initial"})
NARROW = dict(layout=widgets.Layout(width="360px"), style={"description_width": "initial"})


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
    (a dict, with its one-line answer under "status"), and draw(state) the figure. Controls are disabled
    while it computes.

    A dashboard is a prediction: it opens on its inputs' first values with its answer hidden, the status
    line and whatever the figure would show beyond the current frame (draw keeps to so_far() while
    state["revealed"] is false), until the student types a guess and presses Reveal; then the guess is
    shown beside the answer. The state is computed the same either way, so tests and a lesson's probe
    cells read it without revealing."""
    guess = widgets.Text(description="your guess", placeholder="type it, then press Reveal", **NARROW)
    reveal = widgets.ToggleButton(description="Reveal", value=False)
    reveal.add_class("ltkit-reveal")  # how the browser test tells it from a dashboard's own toggles
    status, output = widgets.HTML(), widgets.Output()
    status.add_class("ltkit-answer")  # and reads the answer
    state = {}

    def update(_=None):
        busy([*inputs.values(), reveal], True)
        try:
            state.clear()
            state.update(show({name: widget.value for name, widget in inputs.items()}))
            state.update(revealed=reveal.value, guess=guess.value.strip())
            status.value = answer_line(state)
            redraw(output, lambda: draw(state))
        finally:
            busy([*inputs.values(), reveal], False)
        guess.disabled = reveal.value  # committed: the guess stays as it was when the answer appeared
        reveal.description = "Hide the answer" if reveal.value else "Reveal"

    for widget in (*inputs.values(), reveal):
        widget.observe(update, names="value")
    update()
    ui = widgets.VBox([widgets.HBox(list(inputs.values())), widgets.HBox([guess, reveal]), status, output])
    ui.add_class("ltkit-dashboard")  # how the browser test finds it
    return Dashboard(ui=ui, inputs=dict(inputs, guess=guess, reveal=reveal), state=state)


def answer_line(state):
    """The status line: a call to guess while the answer is hidden; the answer and the guess once revealed."""
    if not state["revealed"]:
        return "<i>What do you expect? Type your guess, then press <b>Reveal</b> to see the answer.</i>"
    guessed = f"<br>Your guess: <b>{html.escape(state['guess'])}</b>" if state["guess"] else ""
    return state["status"] + guessed


def so_far(values, index, state):
    """What a figure may show of `values` (one per frame): the frames up to the current one, `index`,
    while the answer is hidden; all of them once it is revealed."""
    return values if state["revealed"] else values[: index + 1]


def slider(description, options):
    """A slider over labelled options, on the first (every explorer opens on its first frame), that
    answers when released (continuous_update=False)."""
    options = list(options)
    return widgets.SelectionSlider(
        options=options, value=options[0][1], description=description, continuous_update=False, **WIDE
    )


percent = lambda value: f"<b>{100 * value:.1f}%</b>"
