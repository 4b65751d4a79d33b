"""The course's diagrams: each committed SVG is what the code draws now, and each reads on a projector."""

import re
import subprocess
import sys

import matplotlib
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from ltkit.course import diagrams
from ltkit.course.style import ARM_STYLE
from ltkit.experiments.profiles import RECIPES

REGENERATE = "python -m ltkit.course.diagrams"
NAMES = list(diagrams.DIAGRAMS)


def writer(svg):
    """Which matplotlib wrote an SVG: its bytes change with the version that draws it."""
    found = re.search(r"Matplotlib v[\w.]+", svg)
    return found.group(0) if found else "an unknown writer"


@pytest.mark.parametrize("name", NAMES)
def test_the_committed_svg_is_what_the_code_draws(name):
    committed = diagrams.FIGURES / f"{name}.svg"
    assert committed.exists(), f"{committed} is missing: run `{REGENERATE}` and commit notebooks/figures/"
    drawn, kept = diagrams.svg(name), committed.read_text()
    if writer(kept) != f"Matplotlib v{matplotlib.__version__}":  # another version writes other bytes
        pytest.skip(f"{committed.name} was drawn by {writer(kept)}: run `{REGENERATE}` with this one to compare")
    assert drawn == kept, (
        f"{committed.name} is not what ltkit.course.diagrams.{name} draws now (committed by {writer(kept)}, "
        f"drawn by Matplotlib v{matplotlib.__version__}): run `{REGENERATE}` and commit notebooks/figures/"
    )


def test_the_command_writes_every_diagram(tmp_path):
    subprocess.run([sys.executable, "-m", "ltkit.course.diagrams", str(tmp_path)], check=True, capture_output=True)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(f"{name}.svg" for name in NAMES)
    assert (tmp_path / "imp_loop.svg").read_text() == diagrams.svg("imp_loop")


def drawn_texts(name, monkeypatch):
    """The texts a diagram's drawing really shows (not hidden axes' tick labels), each with its box in pixels."""
    shown, draw = [], Text.draw

    def recorded(text, renderer):
        draw(text, renderer)
        if text.get_visible() and text.get_text().strip():
            shown.append(text)

    monkeypatch.setattr(Text, "draw", recorded)
    figure = diagrams.DIAGRAMS[name]()
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    return figure, [(text, extent(text, renderer)) for text in shown]


def extent(text, renderer):
    """A text's box in pixels, its frame included when it has one."""
    boxes = [text.get_window_extent(renderer)]
    if text.get_bbox_patch() is not None:
        boxes.append(text.get_bbox_patch().get_window_extent(renderer))
    return Bbox.union(boxes)


@pytest.mark.parametrize("name", NAMES)
def test_every_text_is_11_pt_or_more_inside_the_figure_and_apart_from_the_others(name, monkeypatch):
    figure, texts = drawn_texts(name, monkeypatch)
    assert len(texts) >= 5
    small = [(text.get_text(), text.get_fontsize()) for text, _ in texts if text.get_fontsize() < 11]
    assert not small, f"{name}: texts under 11 pt: {small}"
    page = figure.bbox
    cut = [text.get_text() for text, box in texts if box.x0 < page.x0 or box.y0 < page.y0 or box.x1 > page.x1 + 0.5]
    cut += [text.get_text() for text, box in texts if box.y1 > page.y1 + 0.5]
    assert not cut, f"{name}: texts cut off at the figure's edge: {cut}"
    overlapping = [
        (a.get_text(), b.get_text())
        for i, (a, box_a) in enumerate(texts)
        for b, box_b in texts[i + 1 :]
        if (common := Bbox.intersection(box_a, box_b)) is not None and common.width * common.height > 1
    ]
    assert not overlapping, f"{name}: texts that overlap: {overlapping}"


def test_the_transformer_shows_the_rates_of_lesson_10s_recipe(monkeypatch):
    rates = dict(embedding=0.1, attention=0.3, mlp=0.4, output=0.2)
    monkeypatch.setitem(RECIPES["transformer"], "rates", rates)
    _, texts = drawn_texts("gpt_block", monkeypatch)
    shown = " ".join(text.get_text() for text, _ in texts)
    assert all(f"{100 * rate:.0f}% a round" in shown for rate in rates.values()), shown
    assert "position embedding\nnever pruned" in [text.get_text() for text, _ in texts]


def test_the_imp_loop_draws_each_arm_in_its_course_colour(monkeypatch):
    _, texts = drawn_texts("imp_loop", monkeypatch)
    edges = {tuple(text.get_bbox_patch().get_edgecolor()) for text, _ in texts if text.get_bbox_patch()}
    assert {to_rgba(ARM_STYLE[arm]["color"]) for arm in ("ticket", "reinit", "random_mask")} <= edges


def test_every_figure_a_lesson_shows_is_a_diagram_the_code_draws():
    lessons = sorted((diagrams.FIGURES.parent).glob("*.ipynb"))
    shown = {name for path in lessons for name in re.findall(r"figures/([\w-]+)\.svg", path.read_text())}
    assert shown <= set(NAMES), f"lessons show figures no diagram draws: {sorted(shown - set(NAMES))}"
