"""After pruning a trained network: fine-tuning, weight rewinding, or learning-rate rewinding?

Renda, Frankle & Carbin (2020, "Comparing Rewinding and Fine-tuning in Neural Network Pruning",
https://arxiv.org/abs/2003.02389) prune a network trained for T iterations once, by magnitude, then give
the survivors a retraining budget of T - k iterations, three ways:
- fine-tuning: keep the trained weights W_T and train on at the schedule's final (small) learning rate;
- weight rewinding: rewind the survivors to W_k and replay the schedule from iteration k (IMP's rewinding);
- learning-rate rewinding: keep the trained weights W_T, but replay the schedule from iteration k.
They found both rewinding methods beat fine-tuning, and learning-rate rewinding matched or beat weight
rewinding. The difference needs a schedule that changes: with a constant learning rate, learning-rate
rewinding *is* fine-tuning. Every retraining here is cached, and the three of a sparsity train together.
"""

from dataclasses import dataclass, field, replace
from functools import partial

from ltkit.engine.datasets import data_for
from ltkit.engine.masks import full_mask, layer_kinds, prune_by_magnitude
from ltkit.engine.models import check_network
from ltkit.engine.stacked import Job, save_result, train_together
from ltkit.engine.training import TrainConfig, TrainResult, learning_rate
from ltkit.errors import LtkitError
from ltkit.experiments.dense import dense_run, new_model, rewind_weights
from ltkit.experiments.profiles import REWINDING, pruning, training_recipe
from ltkit.settings import Settings
from ltkit.store.runs import Run

RETRAININGS = ("fine_tuning", "weight_rewinding", "lr_rewinding")


@dataclass(frozen=True)
class RetrainConfig(Settings):
    NOT_IN_KEY = ("weights_remaining",)  # each sparsity is cached on its own: more extend fewer

    dataset: str
    model: str
    train: TrainConfig
    weights_remaining: tuple = (0.5, 0.2, 0.1)  # one-shot sparsities
    rewind_iter: int = 1500  # k: the retraining budget is the run's length minus k
    seed: int = 0

    def __post_init__(self):
        check_network(self)
        if not 0 <= self.rewind_iter < self.train.iterations:
            raise LtkitError(f"rewind iteration {self.rewind_iter} must be in 0..{self.train.iterations - 1}")
        if not all(0 < w < 1 for w in self.weights_remaining):
            raise LtkitError(f"weights remaining must be fractions in (0, 1); got {self.weights_remaining}")


def retrain_config(profile=None, dataset=REWINDING["dataset"], model=REWINDING["model"], **fields):
    """The comparison for `model` (default: lesson 05's cnn1d, trained with a stepped schedule) in a
    profile; k defaults to half the run, where Renda et al.'s comparisons put much of the budget."""
    train = training_recipe(dataset, model, profile)
    fields = {"rewind_iter": train.iterations // 2, **{k: v for k, v in fields.items() if v is not None}}
    return RetrainConfig(dataset, model, train, **fields)


@dataclass
class RetrainResult:
    config: RetrainConfig
    dense_final_acc: float
    results: dict = field(repr=False)  # {(retraining, weights_remaining): TrainResult}

    def to_json(self):
        rows = [
            dict(weights_remaining=w, **{r: self.results[(r, w)].final_test_acc for r in RETRAININGS})
            for w in self.config.weights_remaining
        ]
        return dict(config=self.config.to_dict(), dense_final_test_acc=self.dense_final_acc, rows=rows)


def run_retraining(config, data=None, device="cpu", cache=True, progress=True):
    """Prune the trained dense network of `config` once at each sparsity, and retrain it the three ways."""
    data = data_for(config, data, device)
    dense = dense_run(config, data, cache, progress)
    run = Run("retrain3", {**config.cache_key(), "split": data.split_id}, records=(TrainResult,), enabled=cache)
    steps = {(r, kept): f"{r}_{kept:.4f}" for kept in config.weights_remaining for r in RETRAININGS}
    results = {key: run.load(step, data.device) for key, step in steps.items() if run.has(step)}
    missing = [key for key in steps if key not in results]
    if missing:
        w_k = rewind_weights(config, data, config.rewind_iter)
        model = new_model(config, data)
        kinds, scope = layer_kinds(model), pruning(config.model)["scope"]
        jobs = []
        for retraining, kept in missing:
            mask = prune_by_magnitude(dense.state, full_mask(model), 1 - kept, kinds, scope)
            state, train = starts(config, dense.state, w_k)[retraining]
            network = new_model(config, data)
            network.load_state_dict(state)
            done = partial(save_result, run, steps[(retraining, kept)], results, (retraining, kept))
            desc = f"{retraining} {100 * kept:g}%"
            jobs.append(Job(network, train, mask, config.seed, config.rewind_iter, desc, done))
        train_together(jobs, data, progress)
    return RetrainResult(config=config, dense_final_acc=dense.result.final_test_acc, results=results)


def starts(config, trained, w_k):
    """Each retraining's (starting weights, recipe), all run from iteration k to the end."""
    final_lr = learning_rate(config.train, config.train.iterations - 1)
    fine_tuning = replace(config.train, lr=final_lr, milestones=(), warmup=0)
    return dict(
        fine_tuning=(trained, fine_tuning),
        weight_rewinding=(w_k, config.train),
        lr_rewinding=(trained, config.train),
    )
