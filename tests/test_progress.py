"""Progress bars: text in a terminal, an HTML line in a notebook that is emptied when the bar finishes."""

import IPython.display
import pytest
from tqdm.std import tqdm

from ltkit.engine import progress
from ltkit.engine.progress import NotebookBar, progress_bar


class Line:
    """Stands in for a notebook display handle: remembers what it was updated to."""

    def __init__(self):
        self.shown = []

    def update(self, obj):
        self.shown.append(obj.data)


@pytest.fixture
def line(monkeypatch):
    handle = Line()
    monkeypatch.setattr(IPython.display, "display", lambda obj, display_id=False: handle)
    return handle


def test_a_notebook_bar_shows_its_progress_as_html_and_leaves_nothing_when_done(line, monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    for _ in NotebookBar(range(3), desc="training", mininterval=0, leave=False, disable=False):
        pass
    shown = [text for text in line.shown if text]
    assert shown and all(text.startswith("<pre") and "training" in text for text in shown)
    assert "3/3" in shown[-1] and line.shown[-1] == ""  # the last update empties the line


def test_bars_are_html_only_in_a_notebook_and_off_when_asked(monkeypatch, line):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    assert type(progress_bar(True, "x", total=1)) is NotebookBar
    monkeypatch.setattr(progress, "in_notebook", lambda: False)
    bar = progress_bar(True, "x", total=1)
    assert type(bar) is tqdm and not bar.disable
    assert progress_bar(False, "x", total=1).disable
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert progress_bar(True, "x", total=1).disable
