"""The headless course runner: which lessons it runs, and the parameters it gives them."""

import nbformat
import pytest

from ltkit.course import NOTEBOOKS, lessons, set_parameters
from ltkit.errors import LtkitError


def test_lessons_are_all_notebooks_in_order_or_the_ones_named():
    assert [p.name for p in lessons()] == sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    chosen = lessons(["03_winning_tickets", "05_stability.ipynb"])
    assert [p.stem for p in chosen] == ["03_winning_tickets", "05_stability"]
    with pytest.raises(LtkitError, match="no lesson named 99_missing"):
        lessons(["99_missing"])


def test_parameters_are_set_in_a_cell_right_after_the_tagged_one():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Lesson"),
        nbformat.v4.new_code_cell("SEED = 10\nPROFILE = 'class'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print(SEED)"),
    ]
    set_parameters(notebook, {"SEED": 100, "PROFILE": "ci"})
    assert [cell.source for cell in notebook.cells] == [
        "# Lesson",
        "SEED = 10\nPROFILE = 'class'",
        "SEED = 100\nPROFILE = 'ci'",
        "print(SEED)",
    ]
    namespace = {}
    for cell in notebook.cells[1:3]:
        exec(cell.source, namespace)
    assert (namespace["SEED"], namespace["PROFILE"]) == (100, "ci")
    with pytest.raises(LtkitError, match="no cell tagged 'parameters'"):
        set_parameters(nbformat.v4.new_notebook(), {"SEED": 1})
