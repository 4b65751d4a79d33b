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

from ltkit.engine.masks import SCOPE_HELP, SCOPES, check_scope, full_mask, layer_kinds, prune_by_magnitude
from ltkit.engine.models import check_network
from ltkit.engine.stacked import Job, save_result, train_together
from ltkit.engine.training import TrainConfig, TrainResult, learning_rate
from ltkit.errors import LtkitError
from ltkit.experiments.dense import dense_run, new_model, rewind_weights
from ltkit.experiments.profiles import REWINDING, pruning
from ltkit.experiments.registry import register
from ltkit.settings import Settings, setting

RETRAININGS = ("fine_tuning", "weight_rewinding", "lr_rewinding")


@dataclass(frozen=True)
class RetrainConfig(Settings):
    NOT_IN_KEY = ("weights_remaining",)  # each sparsity is cached on its own: more extend fewer

    dataset: str
    model: str
    train: TrainConfig
    weights_remaining: tuple = setting((0.5, 0.2, 0.1), "the sparsities pruned to, once each", item=float)
    rewind_iter: int = setting(1500, "k: rewind to iteration k; the retraining budget is the run's length minus k")
    scope: str = setting("layerwise", SCOPE_HELP, choices=SCOPES)
    seed: int = setting(0, "initialisation and data-order seed")

    def __post_init__(self):
        check_network(self)
        check_scope(self.scope)
        if not 0 <= self.rewind_iter < self.train.iterations:
            raise LtkitError(f"rewind iteration {self.rewind_iter} must be in 0..{self.train.iterations - 1}")
        if not self.weights_remaining or not all(0 < w < 1 for w in self.weights_remaining):
            raise LtkitError(f"weights remaining must be fractions in (0, 1); got {self.weights_remaining}")


@dataclass
class RetrainRow:
    weights_remaining: float
    fine_tuning_final_test_acc: float
    weight_rewinding_final_test_acc: float
    lr_rewinding_final_test_acc: float


@dataclass
class RetrainResult:
    config: RetrainConfig
    dense_final_acc: float
    results: dict = field(repr=False)  # {(retraining, weights_remaining): TrainResult}

    def table(self):
        """One RetrainRow per sparsity: the final test accuracy after each of the three retrainings."""
        return [
            RetrainRow(kept, *(self.results[(retraining, kept)].final_test_acc for retraining in RETRAININGS))
            for kept in self.config.weights_remaining
        ]

    def to_json(self):
        rows = [
            dict(weights_remaining=w, **{r: self.results[(r, w)].final_test_acc for r in RETRAININGS})
            for w in self.config.weights_remaining
        ]
        return dict(config=self.config.to_dict(), dense_final_test_acc=self.dense_final_acc, rows=rows)


def compare_retrainings(config, context):
    """Prune the trained dense network of `config` once at each sparsity, and retrain it the three ways."""
    data = context.data
    dense = dense_run(config, context)
    run = context.run("retrain3", config, records=(TrainResult,))
    steps = {(r, kept): f"{r}_{kept:.4f}" for kept in config.weights_remaining for r in RETRAININGS}
    results = {key: run.load(step, data.device) for key, step in steps.items() if run.has(step)}
    missing = [key for key in steps if key not in results]
    if missing:
        starts = weights_and_recipes(config, dense.state, rewind_weights(config, data, config.rewind_iter))
        model = new_model(config, data)
        kinds, jobs = layer_kinds(model), []
        for retraining, kept in missing:
            mask = prune_by_magnitude(dense.state, full_mask(model), 1 - kept, kinds, config.scope)
            state, train = starts[retraining]
            network = new_model(config, data)
            network.load_state_dict(state)
            done = partial(save_result, run, steps[(retraining, kept)], results, (retraining, kept))
            desc = f"{retraining} {100 * kept:g}%"
            jobs.append(Job(network, train, mask, config.seed, config.rewind_iter, desc, done))
        train_together(jobs, data, context.progress)
    return RetrainResult(config=config, dense_final_acc=dense.result.final_test_acc, results=results)


def weights_and_recipes(config, trained, w_k):
    """Each retraining's (starting weights, recipe), all run from iteration k to the end."""
    final_lr = learning_rate(config.train, config.train.iterations - 1)
    fine_tuning = replace(config.train, lr=final_lr, milestones=(), warmup=0)
    return dict(
        fine_tuning=(trained, fine_tuning),
        weight_rewinding=(w_k, config.train),
        lr_rewinding=(trained, config.train),
    )


def retrain_defaults(dataset, model, profile, train):
    """The paper's scope of pruning for the network, and k at half the run, where Renda et al.'s comparisons
    put much of the budget."""
    return dict(scope=pruning(model)["scope"], rewind_iter=train.iterations // 2)


run_retraining = register(
    "retrain",
    RetrainConfig,
    compare_retrainings,
    RetrainResult,
    "after pruning a trained network once: fine-tuning, weight rewinding and learning-rate rewinding",
    defaults=retrain_defaults,
    network=REWINDING["network"],
)
retrain_config = run_retraining.config
