"""ltkit: the Lottery Ticket Hypothesis and the work around it, hands on.

The lessons live in notebooks/; this package holds every piece of logic they use, in four wings whose
imports point one way (each uses only those before it):
- ground: errors, settings (an experiment's settings and their cache keys), files;
- engine: datasets, batches, models, transformer, masks, training, stacked (many networks as one), runtime;
- store: runs (the run cache), archive (its export and import);
- experiments: one module per experiment, registered in experiments.registry, and the profiles;
- course: plots, dashboards, the playground, the lessons' claims, the headless runner; cli beside it.
The names below are what a lesson or a script needs; everything else is reachable through its module.
`import ltkit` loads no widget or plotting library: `ltkit.plots`, `ltkit.dashboards` and
`ltkit.playground` are imported when first used.
"""

import importlib

from ltkit import moved
from ltkit.engine.datasets import available_datasets, load_dataset
from ltkit.engine.models import build_model
from ltkit.engine.runtime import describe_environment, setup
from ltkit.engine.stacked import Job, train_together
from ltkit.engine.training import train
from ltkit.errors import LtkitError
from ltkit.experiments.align import run_alignment
from ltkit.experiments.at_init import prune_at_init_config, run_prune_at_init
from ltkit.experiments.curves import curve_config, run_curve, run_plane
from ltkit.experiments.dense import train_dense
from ltkit.experiments.fge import fge_config, run_fge
from ltkit.experiments.imp import imp_config, run_imp, run_imps, seed_sweeps
from ltkit.experiments.instability import independent_line, instability_config, run_instability
from ltkit.experiments.oneshot import prune_once, pruned_accuracy, retrain_pruned
from ltkit.experiments.profiles import connectivity_images
from ltkit.experiments.retraining import retrain_config, run_retraining
from ltkit.experiments.rewinding import rewinding_config, run_rewinding
from ltkit.experiments.stats import across_seeds, controls_table, matching

moved.install()

__version__ = "0.2.0"
COURSE_NAMES = {
    "plots": "ltkit.course.plots",
    "dashboards": "ltkit.course.dashboards",
    "profiles": "ltkit.experiments.profiles",
}


def __getattr__(name):
    """The course's modules, and the playground, loaded on first use (they import matplotlib and ipywidgets)."""
    if name in COURSE_NAMES:
        return importlib.import_module(COURSE_NAMES[name])
    if name == "playground":
        return importlib.import_module("ltkit.course.playground").playground
    raise AttributeError(f"module 'ltkit' has no attribute {name!r}")


__all__ = [
    # set-up and data
    "setup",
    "describe_environment",
    "available_datasets",
    "load_dataset",
    "build_model",
    "train",
    "Job",
    "train_together",
    "LtkitError",
    # pruning and lottery tickets
    "train_dense",
    "prune_once",
    "pruned_accuracy",
    "retrain_pruned",
    "imp_config",
    "run_imp",
    "run_imps",
    "seed_sweeps",
    "across_seeds",
    "controls_table",
    "matching",
    "prune_at_init_config",
    "run_prune_at_init",
    "retrain_config",
    "run_retraining",
    # stability, curves, ensembles
    "instability_config",
    "run_instability",
    "independent_line",
    "rewinding_config",
    "run_rewinding",
    "curve_config",
    "run_curve",
    "run_plane",
    "run_alignment",
    "fge_config",
    "run_fge",
    "connectivity_images",
    # figures and dashboards (ltkit.course.dashboards: one explorer per lesson)
    "plots",
    "dashboards",
    "playground",
]
