"""ltkit: the Lottery Ticket Hypothesis and the work around it, hands on.

The lessons live in notebooks/; this package holds every piece of logic they use, in wings whose
imports point one way (each uses only those before it):
- ground: errors, settings (an experiment's settings and their cache keys), files (data folder, atomic
  writes), plugins (your own dataset, network or experiment, from a file), moved (the module names of 0.2);
- engine: datasets (yours too), dataset_files, batches, charlm (text for a language model), pretraining_text
  (text to pre-train on, and two tasks held out of it), text_datasets, models (yours too), transformer,
  masks, training, stacked (many networks trained as one), runtime, progress;
- store: runs (the run cache), archive (its export and import), download (an archive by path or URL,
  checked against its SHA-256), leases (which worker computes what, among workers sharing the cache);
- experiments: registry (every experiment registered once: settings, run, result), seeds, profiles, dense,
  oneshot, imp, stats, at_init, retraining, paths, instability, rewinding, curves, plane, align, fge,
  pretrained;
- cluster: units (a sweep cut into units of work), executors (here, or as submitit's jobs: Slurm or local
  processes), command (the command line's sweeps);
- course: plots, connectivity_plots, diagrams, style, panel, dashboards, connectivity_dashboards, playground,
  claims, runner (the headless course), student (the lessons for class), site (the executed lessons as a
  web site); cli (the command line) beside it.
The names below are what a lesson or a script needs; everything else is reachable through its module.
`import ltkit` loads no widget or plotting library: `ltkit.plots`, `ltkit.dashboards` and
`ltkit.playground` are imported when first used.
"""

import importlib

from ltkit import moved
from ltkit.engine.datasets import Splits, available_datasets, load_dataset, register_dataset, unregister_dataset
from ltkit.engine.models import build_model, register_model, unregister_model
from ltkit.engine.runtime import describe_environment, setup
from ltkit.engine.stacked import Job, train_together
from ltkit.engine.training import TrainConfig, train
from ltkit.errors import LtkitError
from ltkit.experiments.align import align_config, run_alignment
from ltkit.experiments.at_init import methods_across_seeds, prune_at_init_config, run_prune_at_init
from ltkit.experiments.curves import curve_config, run_curve
from ltkit.experiments.dense import train_dense
from ltkit.experiments.fge import fge_config, run_fge
from ltkit.experiments.imp import imp_config, run_imp, run_imps, seed_sweeps
from ltkit.experiments.instability import independent_line, instability_config, run_instability
from ltkit.experiments.oneshot import oneshot_config, prune_once, pruned_accuracy, run_oneshot
from ltkit.experiments.plane import plane_config, run_plane
from ltkit.experiments.pretrained import pretrained_config, pretrained_seeds, run_pretrained
from ltkit.experiments.profiles import connectivity_images
from ltkit.experiments.retraining import retrain_config, run_retraining
from ltkit.experiments.rewinding import rewinding_config, run_rewinding
from ltkit.experiments.stats import (
    across_seeds,
    controls_table,
    matching,
    pretrained_across_seeds,
    pretrained_matching,
)

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
    "TrainConfig",
    # your own data and networks
    "Splits",
    "register_dataset",
    "unregister_dataset",
    "register_model",
    "unregister_model",
    "Job",
    "train_together",
    "LtkitError",
    # pruning and lottery tickets
    "train_dense",
    "prune_once",
    "pruned_accuracy",
    "oneshot_config",
    "run_oneshot",
    "imp_config",
    "run_imp",
    "run_imps",
    "seed_sweeps",
    "across_seeds",
    "controls_table",
    "matching",
    "prune_at_init_config",
    "run_prune_at_init",
    "methods_across_seeds",
    "retrain_config",
    "run_retraining",
    "pretrained_config",
    "run_pretrained",
    "pretrained_seeds",
    "pretrained_across_seeds",
    "pretrained_matching",
    # stability, curves, ensembles
    "instability_config",
    "run_instability",
    "independent_line",
    "rewinding_config",
    "run_rewinding",
    "curve_config",
    "run_curve",
    "plane_config",
    "run_plane",
    "align_config",
    "run_alignment",
    "fge_config",
    "run_fge",
    "connectivity_images",
    # figures and dashboards (ltkit.course.dashboards: one explorer per lesson)
    "plots",
    "dashboards",
    "playground",
]
