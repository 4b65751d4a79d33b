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
from ltkit.settings import Settings
from ltkit.store.runs import Run


@dataclass(frozen=True)
class DenseConfig(Settings):
    dataset: str
    model: str
    train: TrainConfig
    seed: int = 0


@dataclass
class DenseRun:
    """A trained dense network: what its training measured, and its final weights."""

    result: TrainResult
    state: dict


def new_model(config, data, seed=None):
    """A freshly initialised network of `config.model` for `data` (seed: config.seed unless given)."""
    seed = config.seed if seed is None else seed
    return build_model(config.model, data.input_shape, data.num_classes, seed=seed, device=data.device)


def dense_run(config, data, cache=True, progress=True):
    """The dense network of `config` (any settings with dataset, model, train and seed), trained now or
    loaded from the cache: a DenseRun."""
    return dense_runs([config], data, cache, progress)[0]


def dense_runs(configs, data, cache=True, progress=True):
    """The dense networks of several settings (seeds, say): each loaded from the cache, or else trained now,
    all the missing ones together (ltkit.engine.stacked). A list of DenseRun, in order."""
    denses = [DenseConfig(c.dataset, c.model, c.train, c.seed) for c in configs]
    runs = [dense_cache(dense, data, cache) for dense in denses]
    found = {run.path: run.load("result", data.device) for run in runs if run.has("result")}
    missing = {run.path: (run, dense) for run, dense in zip(runs, denses) if run.path not in found}
    jobs = []
    for path, (run, dense) in missing.items():
        done = partial(save_dense, run, found, path)
        jobs.append(Job(new_model(dense, data), dense.train, data_seed=dense.seed, desc="dense", finished=done))
    train_together(jobs, data, progress)
    return [found[run.path] for run in runs]


def save_dense(run, found, path, job):
    found[path] = DenseRun(result=job.result, state=job.model.state_dict())
    run.save("result", found[path])


def dense_cache(dense, data, cache=True):
    key = {**dense.cache_key(), "split": data.split_id}
    return Run("dense", key, records=(DenseRun, TrainResult), enabled=cache)


def dense_weights(config, data, seed, iterations=None, cache=True, progress=True):
    """The final weights of the dense network of `config` with another `seed` (and, if given, trained for
    `iterations` instead: the recipe resized)."""
    return dense_states(config, data, [seed], iterations, cache, progress)[0]


def dense_states(config, data, seeds, iterations=None, cache=True, progress=True):
    """dense_weights for each of `seeds`: the missing ones trained together."""
    train_config = config.train if iterations in (None, config.train.iterations) else resize(config.train, iterations)
    configs = [DenseConfig(config.dataset, config.model, train_config, seed) for seed in seeds]
    return [run.state for run in dense_runs(configs, data, cache, progress)]


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
    dense = dense_run(config, data, progress=progress)
    network = new_model(config, data)
    network.load_state_dict(dense.state)
    return network, dense.result


def two_initialisations(seed):
    """The seeds of the two independently initialised networks of experiment seed `seed`: from 20,000 on,
    so that neither is an experiment seed's own dense network, and no two experiment seeds share one."""
    return 20_000 + 2 * seed, 20_001 + 2 * seed


def independent_networks(config, data, cache=True, progress=True):
    """Two networks trained by `config`'s recipe from different initialisations (two_initialisations of
    config.seed): their seeds, and their final weights."""
    seeds = two_initialisations(config.seed)
    return seeds, dense_states(config, data, seeds, cache=cache, progress=progress)
