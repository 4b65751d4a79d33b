"""The lessons as files: committed clean, one repository URL everywhere, a check cell and exercises in each.

Executing them is the other half: `make test` runs every notebook with nbval in the ci profile.
"""

import ast
import importlib
import json
import re
from pathlib import Path

import pytest
from IPython.core.inputtransformer2 import TransformerManager

import ltkit

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
REPOSITORY = re.search(r'^Repository = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.M).group(1)


def cells(path, kind=None):
    notebook = json.loads(path.read_text())
    return [c for c in notebook["cells"] if kind is None or c["cell_type"] == kind]


def source(cell):
    return "".join(cell["source"])


def parsed(code):
    """The syntax tree of a code cell, its IPython magics (%matplotlib, !pip) turned into Python first."""
    return ast.parse(TransformerManager().transform_cell(code))


def is_check_heading(markdown):
    """The "## Check: what this lesson claims" heading (not "## Check your understanding", the questions)."""
    text = markdown.lstrip()
    return text.startswith("## Check") and not text.startswith("## Check your understanding")


def check_cell(path):
    """The code cell that follows the "## Check" heading."""
    after = False
    for cell in cells(path):
        if cell["cell_type"] == "markdown" and is_check_heading(source(cell)):
            after = True
        elif after and cell["cell_type"] == "code":
            return cell
    return None


def called(call):
    """The name a call calls: `claim` for claim(...) and for claims.claim(...)."""
    return getattr(call.func, "id", getattr(call.func, "attr", None))


def real_checks(tree):
    """The statements that can fail: `assert condition` and `claim(condition, name)` (ltkit.course.claims, which
    raises an AssertionError), where the condition is not a constant such as True, 1 or a string."""
    checks = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            checks.append(node.test)
        elif isinstance(node, ast.Call) and called(node) == "claim":
            checks.append(node.args[0] if node.args else ast.Constant(True))
    return [check for check in checks if not isinstance(check, ast.Constant)]


def hidden(cell):
    """Whether the cell's source is collapsed, as JupyterLab and Colab show it: a bar, and its output."""
    return cell["metadata"].get("jupyter", {}).get("source_hidden", False)


def code_lines(cell):
    return sum(1 for line in source(cell).splitlines() if line.strip())


def checks_claims(cell):
    """Whether a code cell checks something: it has an `assert`, or calls claim or observe (a check cell, and a
    probe that moves a dashboard and asserts on its state). Found by parsing, so comments and strings don't count."""
    return any(
        isinstance(node, ast.Assert) or isinstance(node, ast.Call) and called(node) in ("claim", "observe")
        for node in ast.walk(parsed(source(cell)))
    )


def python_blocks(markdown):
    return re.findall(r"```python\n(.*?)```", markdown, re.S)


def ltkit_names_used(tree):
    """(module, name) for every `from ltkit... import name`, `import ltkit.x` and `ltkit.name` in the code."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "ltkit":
            yield from ((node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            yield from ((alias.name, None) for alias in node.names if alias.name.split(".")[0] == "ltkit")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ltkit":
            yield "ltkit", node.attr


def test_there_are_lessons():
    assert [p.name[:3] for p in NOTEBOOKS] == [f"{i:02d}_" for i in range(13)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    for cell in cells(path, "code"):
        assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name}: strip the outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_badge_and_install_cell_name_the_one_repository(path):
    github = REPOSITORY.removeprefix("https://github.com/")
    badge = f"https://colab.research.google.com/github/{github}/blob/main/notebooks/{path.name}"
    assert badge in source(cells(path, "markdown")[0]), f"{path.name}: the Colab badge must point at {badge}"
    setup = source(cells(path, "code")[0])
    release = f'RELEASE = "git+{REPOSITORY}@v{ltkit.__version__}"'
    assert release in setup, f"{path.name}: the install cell must install this release: {release}"
    urls = set(re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", path.read_text()))
    assert urls <= {REPOSITORY}, f"{path.name} names another repository: {urls - {REPOSITORY}}"


def test_the_version_is_kept_in_one_place():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and 'version = { attr = "ltkit.__version__" }' in pyproject


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_code_cell_is_the_tagged_setup_reading_the_profile(path):
    setup = cells(path, "code")[0]
    assert "parameters" in setup["metadata"].get("tags", [])
    assert 'os.environ.get("LTKIT_PROFILE", "class")' in source(setup)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_lesson_checks_its_claim_in_the_cell_after_its_check_heading(path):
    cell = check_cell(path)
    assert cell is not None, f"{path.name}: a '## Check' heading followed by a code cell"
    checks = real_checks(parsed(source(cell)))
    assert checks, f"{path.name}: the check cell must assert its claim (a comment or a string is not a check)"
    if not path.stem.startswith("00"):
        assert any("<details><summary>Solution" in source(c) for c in cells(path, "markdown"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_code_of_each_lesson_and_its_solutions_names_only_what_ltkit_has(path):
    trees = [parsed(source(cell)) for cell in cells(path, "code")]
    for markdown in cells(path, "markdown"):
        for block in python_blocks(source(markdown)):
            try:
                trees.append(ast.parse(block))
            except SyntaxError:  # a fragment for reading, not for running
                continue
    for tree in trees:
        for module, name in ltkit_names_used(tree):
            try:
                found = importlib.import_module(module)
            except ImportError:
                pytest.fail(f"{path.name}: there is no module {module}")
            if name is not None and name != "*":
                assert hasattr(found, name), f"{path.name}: {module} has no {name}"
                if module == "ltkit":
                    assert name in ltkit.__all__ or name == "__version__", f"{path.name}: ltkit.{name} is not exported"


def section(path, heading):
    """The lesson's markdown from the line `heading` up to the next heading of its level or above (headings
    inside fenced code are code, not headings); empty when there is no such heading."""
    level = len(heading) - len(heading.lstrip("#"))
    lines, inside, fenced = [], False, False
    for line in "\n".join(source(cell) for cell in cells(path, "markdown")).splitlines():
        fenced = fenced != line.startswith("```")
        marks = len(line) - len(line.lstrip("#"))
        if not fenced and 0 < marks <= level and line[marks : marks + 1] == " ":
            if inside:
                break
            inside = line.startswith(heading)
        if inside:
            lines.append(line)
    return "\n".join(lines)


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if not p.stem.startswith("00")], ids=lambda p: p.stem)
def test_each_lesson_asks_three_to_five_questions_with_hidden_answers(path):
    questions = section(path, "## Check your understanding")
    assert questions, f"{path.name}: a '## Check your understanding' section"
    answers = questions.count("<details><summary>Answer</summary>")
    assert 3 <= answers <= 5 and answers == questions.count("</details>"), f"{path.name}: 3-5 hidden answers"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_lesson_ends_with_linked_references(path):
    references = section(path, "## References")
    assert re.search(r"\]\(https://(arxiv\.org/abs|proceedings\.mlr\.press)/", references), f"{path.name}: references"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_has_a_solution(path):
    exercises = section(path, "## Exercises")
    numbers = re.findall(r"^(\d+)\. ", exercises.split("<details>")[0], re.M)
    assert numbers, f"{path.name}: an '## Exercises' section with numbered exercises"
    for number in numbers:
        assert f"<details><summary>Solution to {number}</summary>" in exercises, f"{path.name}: solve exercise {number}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_dashboard_follows_a_question_and_figures_fit_the_page(path):
    notebook = cells(path)
    for previous, cell in zip([None, *notebook], notebook):
        if cell["cell_type"] != "code":
            continue
        text = source(cell)
        in_check = previous is not None and source(previous).lstrip().startswith("## Check:")
        if re.search(r"^\w+ = ltkit\.dashboards\.\w+\(", text, re.M) and not in_check:  # probes in checks
            asked = previous is not None and previous["cell_type"] == "markdown"
            assert asked and "*Predict, then slide:*" in source(previous), (
                f"{path.name}: a '*Predict, then slide:*' question in the markdown right before {text.splitlines()[0]}"
            )
        for width in re.findall(r"figsize=\((\d+(?:\.\d+)?)", text):
            assert float(width) <= 10, f"{path.name}: a figure {width} inches wide (at most 10; ltkit.course.plots.row)"


def test_comments_strings_and_constants_are_not_checks():
    assert len(real_checks(ast.parse("x = 1\nassert x == 1, 'one'\nclaim(x > 0, 'positive')"))) == 2
    not_checks = "# assert x == 1\nprint('assert ')\nassert True\nclaim(1, 'always')\n'assert x'"
    assert real_checks(ast.parse(not_checks)) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_checks_take_at_most_a_fifth_of_the_code_a_student_sees(path):
    visible = [cell for cell in cells(path, "code") if not hidden(cell)]
    seen = sum(code_lines(cell) for cell in visible)
    checking = sum(code_lines(cell) for cell in visible if checks_claims(cell))
    assert 5 * checking <= seen, (
        f"{path.name}: {checking} of the {seen} code lines a student sees check claims (at most a fifth): fold "
        'the check cell (metadata "jupyter": {"source_hidden": true}) or make it one call into a helper'
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_folded_cell_follows_a_line_saying_what_it_does(path):
    notebook = cells(path)
    for previous, cell in zip(notebook, notebook[1:]):
        if cell["cell_type"] == "code" and hidden(cell):
            last_line = source(previous).strip().splitlines()[-1] if previous["cell_type"] == "markdown" else ""
            assert last_line and not last_line.startswith("#"), (
                f"{path.name}: a line of markdown right above the folded cell {source(cell).splitlines()[0]!r}, "
                "saying what it does (a folded cell shows only its output)"
            )


def test_asserts_and_claims_are_checks_and_comments_are_not():
    def code(text, folded=False):
        return dict(cell_type="code", source=text, metadata={"jupyter": {"source_hidden": True}} if folded else {})

    assert checks_claims(code("x = 1\nassert x")) and checks_claims(code("observe(x > 0, 'positive')"))
    assert checks_claims(code("claims.claim(x, 'x')")) and not checks_claims(code("# claim(x)\nprint('assert')"))
    assert hidden(code("claim(x, 'x')", folded=True)) and not hidden(code("claim(x, 'x')"))


def dashboards_shown(path):
    """The dashboards a student sees: `name = ltkit.dashboards.something(...)` outside the check cell."""
    notebook = cells(path)
    return [
        cell
        for previous, cell in zip([None, *notebook], notebook)
        if cell["cell_type"] == "code"
        and re.search(r"^\w+ = ltkit\.dashboards\.\w+\(", source(cell), re.M)
        and not (previous is not None and source(previous).lstrip().startswith("## Check:"))
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_story_a_lesson_with_at_most_two_dashboards(path):
    assert len(dashboards_shown(path)) <= 2, f"{path.name}: {len(dashboards_shown(path))} dashboards (at most two)"


def test_late_rewinding_and_fast_ensembling_each_have_a_lesson():
    titles = {path.stem: source(cells(path, "markdown")[0]).splitlines()[0] for path in NOTEBOOKS}
    assert "Late rewinding" in titles["06_late_rewinding"] and "Late rewinding" not in titles["05_stability"]
    assert "Fast geometric ensembling" in titles["08_fast_ensembling"]
    assert "ensembling" not in titles["07_mode_connectivity"].lower()
