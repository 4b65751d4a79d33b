"""The dense network every experiment starts from: built, trained (once, then cached), and rewound.

Every experiment's settings name a dataset, a model, a training recipe and a seed. The dense network of
those four is trained once and cached by exactly them, so a lesson, a sweep and an instability analysis
with the same recipe all share one dense network, whatever else their settings say.
"""

from dataclasses import dataclass, replace

from ltkit.config import Settings
from ltkit.models import build_model
from ltkit.profiles import training_recipe
from ltkit.runs import Run
from ltkit.training import TrainConfig, TrainResult, resize, train


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
    dense = DenseConfig(config.dataset, config.model, config.train, config.seed)

    def compute():
        model = new_model(dense, data)
        result = train(model, data, dense.train, data_seed=dense.seed, progress=progress, desc="dense")
        return DenseRun(result=result, state=model.state_dict())

    key = {**dense.cache_key(), "split": data.split_id}
    return Run("dense", key, records=(DenseRun, TrainResult), enabled=cache).cached("result", compute, data.device)


def dense_weights(config, data, seed, iterations=None, cache=True, progress=True):
    """The final weights of the dense network of `config` with another `seed` (and, if given, trained for
    `iterations` instead: the recipe resized)."""
    train_config = config.train if iterations in (None, config.train.iterations) else resize(config.train, iterations)
    return dense_run(DenseConfig(config.dataset, config.model, train_config, seed), data, cache, progress).state


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
    return seeds, [dense_weights(config, data, seed, cache=cache, progress=progress) for seed in seeds]
