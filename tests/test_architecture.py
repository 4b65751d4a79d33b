"""The package's shape: four wings whose imports point one way, short modules, and a light `import ltkit`."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import ltkit

PACKAGE = Path(ltkit.__file__).parent
# Each floor may import only from its own floor and the floors before it.
FLOORS = ["ground", "engine", "store", "experiments", "cluster", "course"]
MAX_LINES = 400


def floor_of(module):
    """The floor of a module name: 'ltkit.engine.masks' -> engine; ltkit.errors, settings, files -> ground;
    the command line stands beside the course."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in FLOORS:
        return parts[1]
    if len(parts) > 1 and parts[1] == "cli":
        return "course"
    return "ground"


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def imports_of(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ltkit"):
            yield node.module
            for alias in node.names:
                yield f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.startswith("ltkit"))


def test_no_import_runs_back_up_a_floor():
    wrong = []
    for module, path in modules():
        if module in ("ltkit", "ltkit.moved"):  # the front door and the old names see every floor
            continue
        here = FLOORS.index(floor_of(module))
        for target in imports_of(path):
            if target.split(".")[1:2] in (["moved"],):
                continue
            if FLOORS.index(floor_of(target)) > here:
                wrong.append(f"{module} imports {target}")
    assert not wrong, "imports that run back up:\n" + "\n".join(sorted(set(wrong)))


def test_no_module_is_over_400_lines():
    long = {module: n for module, path in modules() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these modules: {long}"


def test_the_command_line_is_made_from_the_registry_in_at_most_200_lines():
    source = (PACKAGE / "cli.py").read_text()
    assert len(source.splitlines()) <= 200 and "for experiment in EXPERIMENTS.values()" in source
    assert (
        "import ltkit.experiments." not in source and "from ltkit.experiments.imp" not in source
    )  # no per-experiment code


def test_the_package_docstring_names_every_module_of_every_wing():
    listed = set(re.findall(r"\w+", ltkit.__doc__.split("only those before it):")[1]))
    names = {module.split(".")[-1] for module, _ in modules() if module.count(".") >= 1}
    assert names - listed - {"__main__"} == set(), "add the new module to ltkit/__init__.py's list"


def test_importing_ltkit_loads_no_widgets_plots_or_notebook_machinery():
    code = (
        "import sys, ltkit, ltkit.cli; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'ipywidgets', 'jupyter_client'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_old_module_names_are_the_new_modules():
    import ltkit.plots

    import ltkit.course.plots

    assert ltkit.plots is ltkit.course.plots
    from ltkit.imp import run_imp  # noqa: F401  (a 0.2 import)
