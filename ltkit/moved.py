"""The module names from before the package had wings (0.2): `import ltkit.plots` still gives
`ltkit.course.plots`, so a notebook or a script written for 0.2 keeps working."""

import importlib
import importlib.abc
import importlib.util
import sys

MOVED = {
    "config": "settings",
    "data": "engine.datasets",
    "charlm": "engine.charlm",
    "models": "engine.models",
    "transformer": "engine.transformer",
    "masks": "engine.masks",
    "training": "engine.training",
    "stacked": "engine.stacked",
    "runtime": "engine.runtime",
    "progress": "engine.progress",
    "runs": "store.runs",
    "cache": "store.archive",
    "profiles": "experiments.profiles",
    "dense": "experiments.dense",
    "oneshot": "experiments.oneshot",
    "imp": "experiments.imp",
    "stats": "experiments.stats",
    "at_init": "experiments.at_init",
    "retraining": "experiments.retraining",
    "paths": "experiments.paths",
    "instability": "experiments.instability",
    "rewinding": "experiments.rewinding",
    "curves": "experiments.curves",
    "align": "experiments.align",
    "fge": "experiments.fge",
    "plots": "course.plots",
    "plots_connectivity": "course.connectivity_plots",
    "plots_style": "course.style",
    "dashboards": "course.dashboards",
    "sweep_form": "course.playground",
    "claims": "course.claims",
}


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds `ltkit.<old name>` and answers with the module it became (the same module object)."""

    def find_spec(self, name, path=None, target=None):
        package, _, old = name.rpartition(".")
        if package == "ltkit" and old in MOVED:
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(f"ltkit.{MOVED[spec.name.rpartition('.')[2]]}")

    def exec_module(self, module):
        module.__spec__ = importlib.util.find_spec(module.__name__)  # importing set it to the old name's


def install():
    if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(MovedModules())
