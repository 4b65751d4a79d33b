"""The lessons for class: each one with the answers to its questions and the solutions to its exercises
removed, every other cell as it is (so it runs as the lesson does).

    python -m ltkit.course.student [--output build/student] [lesson names...]

The lessons mark both in their markdown, collapsed under a summary that says what they are:
<details><summary>Answer</summary> ... </details> and <details><summary>Solution to 2</summary> ...
</details>. Exactly those blocks are removed; a markdown cell left empty by it goes too.
"""

import argparse
import re
import sys
from pathlib import Path

from ltkit.course.runner import copy_companions, lessons
from ltkit.errors import LtkitError

HIDDEN = re.compile(
    r"[ \t]*<details[^>]*>\s*<summary>\s*(?P<kind>Answer|Solution)\b[^<]*</summary>(?P<body>.*?)</details>[ \t]*\n?",
    re.DOTALL,
)
LEFT_BEHIND = re.compile(r"<summary>\s*(Answer|Solution)\b")


def without_answers(markdown):
    """The markdown with its answer and solution blocks removed, and the kinds removed (["Answer", ...])."""
    kinds = []

    def remove(match):
        if "<details" in match["body"]:
            raise LtkitError("an answer holds another <details> block, so where it ends is unclear: un-nest it")
        kinds.append(match["kind"])
        return ""

    text = HIDDEN.sub(remove, markdown)
    if LEFT_BEHIND.search(text):
        raise LtkitError("an answer or solution block has no closing </details>: close it")
    return (re.sub(r"\n{3,}", "\n\n", text).strip() if kinds else text), kinds


def student_version(notebook):
    """A copy of the notebook without its answers and solutions, and the kinds removed."""
    import nbformat

    student = nbformat.from_dict(notebook)  # a deep copy
    cells, removed = [], []
    for index, cell in enumerate(student.cells):
        if cell.cell_type == "markdown":
            try:
                cell.source, kinds = without_answers(cell.source)
            except LtkitError as error:
                raise LtkitError(f"markdown cell {index}: {error}") from None
            removed += kinds
            if kinds and not cell.source:
                continue
        cells.append(cell)
    student.cells = cells
    return student, removed


def write_student_versions(paths, output):
    """Write the student version of each lesson into `output`; returns {lesson name: kinds removed}."""
    import nbformat

    output.mkdir(parents=True, exist_ok=True)
    removed = {}
    for path in paths:
        try:
            student, removed[path.stem] = student_version(nbformat.read(path, as_version=4))
        except LtkitError as error:
            raise LtkitError(f"{path.name}, {error}") from None
        nbformat.write(student, output / path.name)
    copy_companions(output)
    return removed


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m ltkit.course.student", description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("build/student"))
    parser.add_argument("names", nargs="*", help="lessons (default: all), e.g. 03_winning_tickets")
    args = parser.parse_args(argv)
    try:
        removed = write_student_versions(lessons(args.names), args.output)
    except LtkitError as error:
        print(f"ltkit: error: {error}", file=sys.stderr)
        return 2
    for name, kinds in removed.items():
        print(f"{name:<24} {kinds.count('Answer'):2} answers, {kinds.count('Solution'):2} solutions removed")
    print(f"Student versions of {len(removed)} lessons in {args.output}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
