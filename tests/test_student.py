"""The student build: answers and solutions removed, and nothing else."""

import nbformat
import pytest

from ltkit.course.runner import lessons
from ltkit.course.student import LEFT_BEHIND, main, student_version, without_answers
from ltkit.errors import LtkitError

QUESTIONS = """## Check your understanding

1. Why?
   <details><summary>Answer</summary>

   Because.
   </details>
2. How?
   <details><summary>Answer</summary>

   Like this.
   </details>"""

HOW_WE_KNOW = """<details><summary>How we know</summary>

| seeds | held |
|---|---|
| 10 | 10/10 |
</details>"""

EXERCISES = f"""## Exercises

1. Do it.

<details><summary>Solution to 1</summary>

```python
print("done")
```
</details>

{HOW_WE_KNOW}"""


def small_lesson():
    cell = nbformat.v4
    notebook = cell.new_notebook()
    notebook.cells = [
        cell.new_markdown_cell("# A lesson"),
        cell.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
        cell.new_markdown_cell(QUESTIONS),
        cell.new_markdown_cell(EXERCISES),
        cell.new_markdown_cell("<details><summary>Solution to 2</summary>\n\nAll of it.\n</details>\n"),
        cell.new_code_cell("print(x)"),
    ]
    return notebook


def test_answers_and_solutions_go_and_everything_else_stays():
    lesson = small_lesson()
    student, removed = student_version(lesson)
    assert removed == ["Answer", "Answer", "Solution", "Solution"]
    assert [cell.source for cell in student.cells] == [
        "# A lesson",
        "x = 1",
        "## Check your understanding\n\n1. Why?\n2. How?",
        f"## Exercises\n\n1. Do it.\n\n{HOW_WE_KNOW}",  # a collapsed block that is no answer stays
        "print(x)",
    ]
    assert student.cells[1].metadata == {"tags": ["parameters"]}
    assert len(lesson.cells) == 6 and "Because." in lesson.cells[2].source  # the lesson itself is untouched
    nbformat.validate(student)


def test_a_cell_without_answers_is_left_exactly_as_it_is():
    text = "Some prose.\n\n\n\nMore, after three blank lines.\n"
    assert without_answers(text) == (text, [])


@pytest.mark.parametrize(
    "markdown, problem",
    [
        ("<details><summary>Answer</summary>\n<details><summary>More</summary>x</details>\n</details>", "un-nest"),
        ("1. Why?\n   <details><summary>Answer</summary>\n\n   Because.\n", "no closing </details>"),
    ],
)
def test_a_block_the_build_cannot_delimit_is_one_clear_error(markdown, problem):
    with pytest.raises(LtkitError, match=problem):
        without_answers(markdown)


@pytest.mark.parametrize("path", lessons(), ids=lambda path: path.stem)
def test_every_lessons_student_version_has_no_answers_and_every_code_cell(path):
    lesson = nbformat.read(path, as_version=4)
    student, removed = student_version(lesson)
    marked = sum(len(LEFT_BEHIND.findall(cell.source)) for cell in lesson.cells if cell.cell_type == "markdown")
    assert removed and len(removed) == marked
    assert not any(LEFT_BEHIND.search(cell.source) for cell in student.cells)
    code = lambda notebook: [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code(student) == code(lesson)
    untouched = [cell for cell in lesson.cells if not LEFT_BEHIND.search(cell.source)]
    assert all(cell in student.cells for cell in untouched)


def test_the_command_writes_each_lesson_named(tmp_path, capsys):
    assert main(["--output", str(tmp_path), "00_welcome"]) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["00_welcome.ipynb", "GLOSSARY.md", "figures"]
    assert (tmp_path / "figures" / "imp_loop.svg").exists()  # where the lessons' markdown finds the diagrams
    nbformat.validate(nbformat.read(tmp_path / "00_welcome.ipynb", as_version=4))
    assert "00_welcome                0 answers,  2 solutions removed" in capsys.readouterr().out
