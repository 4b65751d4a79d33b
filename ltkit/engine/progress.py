"""Progress bars that leave nothing broken behind.

In a terminal, tqdm's text bar. In a notebook, the same line of text shown as HTML that is updated in
place and emptied when the bar finishes. tqdm's own notebook bars are widgets: a lesson that is saved and
reopened, or a tab that is reloaded, shows every finished one as "Error displaying widget: model not
found". A display that is only HTML needs no widget model, so nothing breaks.
"""

import html
import io
import os
import sys

from tqdm.std import tqdm


def in_notebook():
    """Whether this code runs in a Jupyter kernel (JupyterLab, Notebook, Colab, a headless run)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython else None
    return type(shell).__name__ in ("ZMQInteractiveShell", "Shell")  # Shell: Colab's


class NotebookBar(tqdm):
    """tqdm's text bar, drawn into an HTML line of the notebook instead of a stream."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, file=io.StringIO(), ncols=100, **kwargs)  # the text goes to the HTML line

    def status_printer(self, file):
        """The function tqdm calls with each new line of text (and "" to clear it, when a bar closes)."""
        from IPython.display import HTML, display

        line = display(HTML(""), display_id=True)

        def show(text):
            line.update(HTML(f"<pre style='margin:0'>{html.escape(text)}</pre>" if text.strip() else ""))

        return show


def progress_bar(progress, desc, **tqdm_arguments):
    """A progress bar that disappears when done, unless progress is False or $TQDM_DISABLE is set (an
    explicit disable= would override tqdm's own reading of that variable)."""
    hidden = not progress or bool(os.environ.get("TQDM_DISABLE"))
    bar = NotebookBar if in_notebook() and not hidden else tqdm
    return bar(desc=desc, disable=hidden, leave=False, **tqdm_arguments)
