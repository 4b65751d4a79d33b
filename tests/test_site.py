"""The site of the executed lessons: an index that links every lesson, each lesson's figures on its page,
and its dashboards as the pictures they showed."""

import re

import nbformat
import pytest

from ltkit.course.runner import execute_lesson
from ltkit.course.site import build_site, cited_papers, main, static_notebook
from ltkit.errors import LtkitError

DASHBOARD = """\
import matplotlib.pyplot as plt
from ipywidgets import HTML, IntSlider, Output, VBox
from ltkit.course.panel import show_in

figure = plt.Figure(figsize=(2, 1.5))
figure.subplots().plot([0, 1])
drawn = Output()
show_in(drawn, figure)  # as every dashboard shows its figure (ltkit.course.panel.redraw)
inside = Output()  # as the playground shows the round explorer
show_in(inside, VBox([IntSlider(description="k"), HTML("k is <b>1</b>"), drawn]))
inside"""


@pytest.fixture(scope="module")
def lesson(tmp_path_factory):
    """A small lesson, executed by the course runner: a figure, and a dashboard (a slider, a status line and
    a figure in an Output widget) inside an Output widget."""
    folder = tmp_path_factory.mktemp("lesson")
    cell = nbformat.v4
    notebook = cell.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
    notebook.cells = [
        cell.new_markdown_cell("# 00 · A small lesson\n\nOne figure, one dashboard."),
        cell.new_code_cell("%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([3, 1, 2]);"),
        cell.new_code_cell(DASHBOARD),
    ]
    nbformat.write(notebook, folder / "00_small.ipynb")
    execute_lesson(folder / "00_small.ipynb", folder / "build")
    return folder / "build" / "notebooks" / "00_small.ipynb"


def test_a_dashboard_becomes_the_status_and_figure_it_showed(lesson):
    executed = nbformat.read(lesson, as_version=4)
    assert "application/vnd.jupyter.widget-view+json" in executed.cells[2].outputs[0].data
    static = static_notebook(executed)
    outputs = static.cells[2].outputs
    assert [list(output.data) for output in outputs] == [["text/markdown"], ["text/html"], ["image/png", "text/plain"]]
    assert outputs[1].data["text/html"] == "k is <b>1</b>"
    assert "widgets" not in static.metadata and static.cells[1].outputs == executed.cells[1].outputs


def test_the_site_links_the_lesson_and_shows_its_figures(lesson, tmp_path):
    index = build_site(lesson.parent, tmp_path / "site")
    assert index == tmp_path / "site" / "index.html"
    assert 'href="00_small.html">00 · A small lesson</a>' in index.read_text()
    page = (tmp_path / "site" / "00_small.html").read_text()
    images = re.findall(r'<img[^>]* src="(_images/[^"]+\.png)"', page)
    assert len(images) == 2 and all((tmp_path / "site" / image).stat().st_size > 1000 for image in images)
    assert "k is <b>1</b>" in page and "VBox(children" not in page
    assert "No lesson has a glossary yet" in (tmp_path / "site" / "glossary.html").read_text()


def test_every_paper_is_cited_once_by_its_link_in_alphabetical_order():
    lesson = lambda references: nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(references)])
    first = lesson(
        "## References\n\n- Zhou (2019). [arXiv:1](https://a/1)\n- Lee (2019). SNIP,\n  a method. [arXiv:2](https://a/2)"
    )
    second = lesson("## References\n\n- Lee (2019). SNIP. [arXiv:2](https://a/2)\n- Han (2015).")
    assert cited_papers([first, second]) == [
        "- Han (2015).",
        "- Lee (2019). SNIP, a method. [arXiv:2](https://a/2)",
        "- Zhou (2019). [arXiv:1](https://a/1)",
    ]


def test_no_executed_lessons_is_one_clear_error(tmp_path, capsys):
    with pytest.raises(LtkitError, match="no executed lessons in .*make run"):
        build_site(tmp_path, tmp_path / "site")
    assert main(["--notebooks", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("ltkit: error: no executed lessons")
