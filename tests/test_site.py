"""The site of the executed lessons: an index that links every lesson, each lesson's figures on its page,
and its dashboards as the pictures they showed."""

import re

import nbformat
import pytest

from ltkit.course.runner import execute_lesson
from ltkit.course.site import GLOSSARY, build_site, cited_papers, glossary_page, main, static_notebook
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
        cell.new_markdown_cell("# 00 · A small lesson\n\nOne figure, one dashboard, one [term](GLOSSARY.md#matching)."),
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


def test_the_glossary_page_holds_every_entry_of_the_glossary_the_lessons_link_to(lesson, tmp_path):
    build_site(lesson.parent, tmp_path / "site")
    assert 'href="GLOSSARY.html#matching"' in (tmp_path / "site" / "00_small.html").read_text()
    page = (tmp_path / "site" / "GLOSSARY.html").read_text()
    entries = re.findall(r"^### (.+)$", GLOSSARY.read_text(), re.M)
    assert len(entries) > 30 and all(f'id="{anchor(entry)}"' in page for entry in entries)
    assert "mean minus one standard deviation over seeds" in page  # the definition, not only the headings


def test_every_link_of_a_lesson_into_the_glossary_names_one_of_its_entries():
    entries = {anchor(entry) for entry in re.findall(r"^#+ (.+)$", GLOSSARY.read_text(), re.M)}
    links = {
        (path.name, target)
        for path in sorted(GLOSSARY.parent.glob("*.ipynb"))
        for target in re.findall(r"\]\(GLOSSARY\.md#([\w-]+)\)", path.read_text())
    }
    assert len(links) >= 6 and {(name, target) for name, target in links if target not in entries} == set()


def anchor(heading):
    """The anchor GitHub (and the site) give a heading: lower case, punctuation dropped, spaces as dashes."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def test_a_missing_glossary_is_one_clear_error(tmp_path):
    with pytest.raises(LtkitError, match="no glossary at .*checkout of the course"):
        glossary_page([], tmp_path / "GLOSSARY.md")


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


def test_a_cell_folded_in_the_lesson_is_folded_on_its_page():
    folded = nbformat.v4.new_code_cell("claim(True, 'checked')", metadata={"jupyter": {"source_hidden": True}})
    notebook = nbformat.v4.new_notebook(cells=[folded, nbformat.v4.new_code_cell("print(1)")])
    static = static_notebook(notebook)
    assert static.cells[0].metadata["tags"] == ["hide-input"] and "tags" not in static.cells[1].metadata
