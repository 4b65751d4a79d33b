"""The dense network every experiment starts from: built, trained (once, then cached), and rewound.

Every experiment's settings name a dataset, a model, a training recipe and a seed. The dense network of
those four is trained once and cached by exactly them, so a lesson, a sweep and an instability analysis
with the same recipe all share one dense network, whatever else their settings say.
"""

from dataclasses import dataclass, replace
from functools import partial

from ltkit.engine.models import build_model
from ltkit.engine.stacked import Job, train_together
from ltkit.engine.training import TrainConfig, TrainResult, resize, train
from ltkit.experiments.profiles import training_recipe
from ltkit.experiments.registry import Context, register
from ltkit.experiments.seeds import derived_seed
from ltkit.settings import Settings, setting


@dataclass(frozen=True)
class DenseConfig(Settings):
    dataset: str
    model: str
    train: TrainConfig
    seed: int = setting(0, "initialisation and data-order seed")


@dataclass
class DenseRun:
    """A trained dense network: what its training measured, and its final weights."""

    result: TrainResult
    state: dict


def new_model(config, data, seed=None):
    """A freshly initialised network of `config.model` for `data` (seed: config.seed unless given)."""
    seed = config.seed if seed is None else seed
    return build_model(config.model, data.input_shape, data.num_classes, seed=seed, device=data.device)


def dense_run(config, context):
    """The dense network of `config` (any settings with dataset, model, train and seed), trained now or
    loaded from the cache: a DenseRun."""
    return dense_runs([config], context)[0]


def dense_runs(configs, context):
    """The dense networks of several settings (seeds, say): each loaded from the cache, or else trained now,
    all the missing ones together (ltkit.engine.stacked). A list of DenseRun, in order."""
    data = context.data
    denses = [DenseConfig(c.dataset, c.model, c.train, c.seed) for c in configs]
    runs = [context.run("dense", dense, records=(DenseRun, TrainResult)) for dense in denses]
    found = {run.path: run.load("result", data.device) for run in runs if run.has("result")}
    missing = {run.path: (run, dense) for run, dense in zip(runs, denses) if run.path not in found}
    jobs = []
    for path, (run, dense) in missing.items():
        done = partial(save_dense, run, found, path)
        jobs.append(Job(new_model(dense, data), dense.train, data_seed=dense.seed, desc="dense", finished=done))
    train_together(jobs, data, context.progress)
    return [found[run.path] for run in runs]


def save_dense(run, found, path, job):
    found[path] = DenseRun(result=job.result, state=job.model.state_dict())
    run.save("result", found[path])


def dense_weights(config, context, seed, iterations=None):
    """The final weights of the dense network of `config` with another `seed` (and, if given, trained for
    `iterations` instead: the recipe resized)."""
    return dense_states(config, context, [seed], iterations)[0]


def dense_states(config, context, seeds, iterations=None):
    """dense_weights for each of `seeds`: the missing ones trained together."""
    train_config = config.train if iterations in (None, config.train.iterations) else resize(config.train, iterations)
    configs = [DenseConfig(config.dataset, config.model, train_config, seed) for seed in seeds]
    return [run.state for run in dense_runs(configs, context)]


def rewind_weights(config, data, k):
    """W_k, the weights of the dense run at iteration k (k=0: its initialisation).

    Training the same network with the same seed for k iterations repeats the dense run's first k steps
    exactly (same batches, same learning rates), so the dense run need not have kept them.
    """
    model = new_model(config, data)
    if k > 0:
        train(model, data, replace(config.train, iterations=k), data_seed=config.seed, progress=False)
    return model.state_dict()


def train_dense(data, model, profile=None, seed=0, progress=True):
    """The dense `model` on `data` trained by the profile's recipe (from the cache when it is there):
    (the trained network, its TrainResult). Every IMP sweep with the same recipe starts from it."""
    config = DenseConfig(data.name, model, training_recipe(data.name, model, profile), seed)
    dense = dense_run(config, Context(data, progress=progress))
    network = new_model(config, data)
    network.load_state_dict(dense.state)
    return network, dense.result


def two_initialisations(seed):
    """The seeds of the two independently initialised networks of experiment seed `seed` (seeds.py's
    "independent" range: neither is an experiment seed's own dense network, no two experiment seeds share one)."""
    return derived_seed("independent", seed, 0), derived_seed("independent", seed, 1)


def independent_networks(config, context):
    """Two networks trained by `config`'s recipe from different initialisations (two_initialisations of
    config.seed): their seeds, and their final weights."""
    seeds = two_initialisations(config.seed)
    return seeds, dense_states(config, context, seeds)


@dataclass
class DenseRow:
    iterations: int
    early_stop_iter: int
    test_acc: float  # at the early-stop iteration
    final_test_acc: float
    seconds: float


@dataclass
class DenseResult:
    """The `train` experiment's result: one dense network trained by its recipe."""

    config: DenseConfig
    run: DenseRun

    def table(self):
        result = self.run.result
        return [
            DenseRow(
                self.config.train.iterations,
                result.early_stop_iter,
                result.test_acc,
                result.final_test_acc,
                result.seconds,
            )
        ]

    def to_json(self):
        return dict(config=self.config.to_dict(), **self.run.result.summary(), seconds=self.run.result.seconds)


run_dense = register(
    "train",
    DenseConfig,
    lambda config, context: DenseResult(config, dense_run(config, context)),
    DenseResult,
    "train one dense network by its recipe and report its accuracy",
)
