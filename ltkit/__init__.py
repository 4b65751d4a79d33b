"""ltkit: the Lottery Ticket Hypothesis and the work around it, hands on.

The lessons live in notebooks/; this package holds every piece of logic they use, one concept per module:
- the machine and the data: runtime, data, charlm (text for a language model), profiles, errors;
- networks and training: models, transformer, masks, training, stacked (many networks trained as one), dense;
- pruning and tickets: oneshot, imp, stats (over seeds, matching), at_init (pruning at initialisation),
  retraining (fine-tuning against weight and learning-rate rewinding);
- stability and connectivity: paths, instability, rewinding, curves, align, fge;
- results kept: config (settings and their cache keys), runs (the run cache), cache (export and import);
- what students see: plots, plots_connectivity, plots_style, progress, dashboards, sweep_form;
- running the course: claims, course, cli.
The names below are what a lesson or a script needs; everything else is reachable through its module.
"""

from ltkit import dashboards, plots
from ltkit.align import run_alignment
from ltkit.at_init import prune_at_init_config, run_prune_at_init
from ltkit.curves import curve_config, run_curve, run_plane
from ltkit.data import available_datasets, load_dataset
from ltkit.dense import train_dense
from ltkit.errors import LtkitError
from ltkit.fge import fge_config, run_fge
from ltkit.imp import imp_config, run_imp, run_imps, seed_sweeps
from ltkit.instability import independent_line, instability_config, run_instability
from ltkit.models import build_model
from ltkit.oneshot import prune_once, pruned_accuracy, retrain_pruned
from ltkit.profiles import connectivity_images
from ltkit.retraining import retrain_config, run_retraining
from ltkit.rewinding import rewinding_config, run_rewinding
from ltkit.runtime import describe_environment, setup
from ltkit.stacked import Job, train_together
from ltkit.stats import across_seeds, controls_table, matching
from ltkit.sweep_form import playground
from ltkit.training import train

__version__ = "0.2.0"
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
    # figures and dashboards (ltkit.dashboards: one explorer per lesson)
    "plots",
    "dashboards",
    "playground",
]
