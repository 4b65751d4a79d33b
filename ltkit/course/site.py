"""The executed lessons as a static web site, to read without running anything (Sphinx and myst-nb).

    python -m ltkit.course.site [--notebooks build/notebooks] [--output build/site]

Nothing is executed: the pages show the outputs `python -m ltkit.course` saved. A dashboard cannot move
without a kernel, so each one is shown frozen: the runner saved every widget's state in the notebook
(nbclient does), and in it each Output widget's figure; the page shows, in place of the widget, its status
lines and figures as they stood when the lesson ran.
"""

import argparse
import re
import sys
import tempfile
from pathlib import Path

from ltkit.course.runner import NOTEBOOKS, copy_companions
from ltkit.errors import LtkitError

GLOSSARY = NOTEBOOKS / "GLOSSARY.md"  # the course's glossary, beside the lessons that link to it
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
FROZEN = "*A dashboard, as it stood when the lesson ran: run the lesson to move it.*"
SPHINX = dict(
    project="ltkit",
    extensions=["myst_nb"],
    nb_execution_mode="off",
    myst_enable_extensions=["dollarmath"],
    myst_heading_anchors=3,  # the lessons link to glossary entries by their headings: GLOSSARY.md#matching
    html_copy_source=False,
    html_theme="alabaster",
    html_theme_options={"page_width": "1200px"},  # alabaster has 940px: room for figures and code
)
INDEX = """# ltkit: the Lottery Ticket Hypothesis, hands on

The course's lessons as they ran, every figure included. To run them, change them and move their
dashboards, open them in Jupyter, or on Colab from the badge at the top of each lesson.

```{{toctree}}
:caption: The lessons
:maxdepth: 1

{lessons}
```

```{{toctree}}
:maxdepth: 1

GLOSSARY
```
"""


def frame(model, models):
    """The outputs a widget shows: its HTML text, what its Output widgets hold, and its children's."""
    import nbformat

    state = model["state"]
    if model["model_name"] == "HTMLModel" and state.get("value"):
        yield nbformat.v4.new_output("display_data", data={"text/html": state["value"]})
    for output in state.get("outputs", []):  # an Output widget; it may hold another dashboard
        view = output.get("data", {}).get(WIDGET_VIEW)
        if view is None:
            yield nbformat.from_dict(output)
        elif view["model_id"] in models:
            yield from frame(models[view["model_id"]], models)
    for child in state.get("children", []):  # a box
        yield from frame(models[child.removeprefix("IPY_MODEL_")], models)


def frozen(output, models):
    """A cell's output for a page: a widget view becomes the plain outputs it showed, under a caption."""
    import nbformat

    view = output.get("data", {}).get(WIDGET_VIEW)
    if view is None:
        return [output]
    caption = nbformat.v4.new_output("display_data", data={"text/markdown": FROZEN})
    model = models.get(view["model_id"])
    return [caption, *(frame(model, models) if model else [])]


def static_notebook(notebook):
    """A copy of the executed notebook whose dashboards are frozen, and without widget state (no script to
    fetch from the web to draw widgets that cannot answer)."""
    import nbformat

    static = nbformat.from_dict(notebook)
    models = static.metadata.pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in static.cells:
        if cell.cell_type == "code":
            cell.outputs = [plain for output in cell.outputs for plain in frozen(output, models)]
            if cell.metadata.get("jupyter", {}).get("source_hidden"):  # folded in the lesson: folded on its page
                cell.metadata.setdefault("tags", []).append("hide-input")
    return static


def section(notebook, heading):
    """The text of the markdown cell headed `## heading`, or "" if the lesson has none."""
    for cell in notebook.cells:
        first, _, rest = cell.source.partition("\n")
        if cell.cell_type == "markdown" and first.strip() == f"## {heading}":
            return rest.strip()
    return ""


def cited_papers(notebooks):
    """Every paper the lessons cite, once (two lessons may word one entry differently, never its link),
    alphabetically: the items of their References lists, one line each."""
    papers = {}
    for notebook in notebooks:
        for item in re.split(r"\n(?=- )", section(notebook, "References")):
            entry = " ".join(item.split())
            link = re.search(r"\]\((\S+?)\)", entry)
            papers.setdefault(link[1] if link else entry, entry)
    return sorted(filter(None, papers.values()))


def glossary_page(notebooks, glossary=GLOSSARY):
    """The course's glossary (notebooks/GLOSSARY.md), and the papers the lessons cite."""
    if not glossary.is_file():
        raise LtkitError(f"no glossary at {glossary}: build the site from a checkout of the course")
    papers = cited_papers(notebooks)
    return "\n\n".join(
        [
            glossary.read_text().strip(),
            "## References",
            "\n".join(papers) or "No lesson cites a paper yet: the lessons' `## References` cells appear here.",
        ]
    )


def stage(paths, source):
    """Write the Sphinx project into `source`: the lessons frozen, the index, the glossary (under the name the
    lessons link to)."""
    import nbformat

    notebooks = [nbformat.read(path, as_version=4) for path in paths]
    for path, notebook in zip(paths, notebooks):
        nbformat.write(static_notebook(notebook), source / path.name)
    copy_companions(source)
    (source / "index.md").write_text(INDEX.format(lessons="\n".join(path.stem for path in paths)))
    (source / GLOSSARY.name).write_text(glossary_page(notebooks))  # with the lessons' references


def build_site(notebooks, output):
    """Build the site of the executed lessons in `notebooks` into `output` (output/index.html)."""
    from sphinx.application import Sphinx

    paths = sorted(Path(notebooks).glob("*.ipynb"))
    if not paths:
        raise LtkitError(f"no executed lessons in {notebooks}/: run `make run` (python -m ltkit.course) first")
    with tempfile.TemporaryDirectory(prefix="ltkit-site-") as work:
        source, doctrees = Path(work) / "source", Path(work) / "doctrees"
        source.mkdir()
        stage(paths, source)
        Sphinx(source, None, output, doctrees, "html", confoverrides=SPHINX, status=None, freshenv=True).build()
    return Path(output) / "index.html"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m ltkit.course.site", description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", type=Path, default=Path("build/notebooks"), help="the executed lessons")
    parser.add_argument("--output", type=Path, default=Path("build/site"))
    args = parser.parse_args(argv)
    try:
        index = build_site(args.notebooks, args.output)
    except ImportError as error:
        print(f"ltkit: error: the site needs {error.name}; pip install 'ltkit[site]'", file=sys.stderr)
        return 2
    except LtkitError as error:
        print(f"ltkit: error: {error}", file=sys.stderr)
        return 2
    print(f"The site of {len(list(args.notebooks.glob('*.ipynb')))} lessons: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
