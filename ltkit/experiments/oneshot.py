"""One-shot magnitude pruning of a trained network, with and without retraining (Han et al. 2015).

The pruning before lottery tickets: remove the smallest weights of a *trained* network at once, and
optionally train the survivors on from their trained values (fine-tuning). `prune_once`, `pruned_copy` and
`pruned_accuracy` work on any trained network; the `oneshot` experiment prunes the dense network of its
settings (the one lesson 01 trains, from the cache) and retrains it, cached.
"""

from copy import deepcopy
from dataclasses import dataclass, field

from ltkit.engine.masks import (
    SCOPE_HELP,
    SCOPES,
    apply_mask,
    check_scope,
    fraction_remaining,
    full_mask,
    layer_kinds,
    prune_by_magnitude,
)
from ltkit.engine.models import check_network
from ltkit.engine.training import TrainConfig, TrainResult, evaluate, resize, train
from ltkit.errors import LtkitError
from ltkit.experiments.dense import dense_run, new_model
from ltkit.experiments.registry import register
from ltkit.settings import Settings, setting


def check_kept(weights_remaining):
    if not 0 < weights_remaining <= 1:
        raise LtkitError(f"the fraction of weights to keep must be in (0, 1]; got {weights_remaining}")


def prune_once(model, weights_remaining, scope="layerwise"):
    """The mask keeping a fraction `weights_remaining` of every layer's weights (layerwise) or of all of
    them together (global), chosen by magnitude from `model`'s current weights."""
    check_kept(weights_remaining)
    params = dict(model.named_parameters())
    return prune_by_magnitude(params, full_mask(model), 1 - weights_remaining, layer_kinds(model), scope)


def pruned_copy(model, mask):
    """A copy of `model` with the pruned weights set to zero; `model` itself is left as it was."""
    copy = deepcopy(model)
    apply_mask(copy, mask)
    return copy


def pruned_accuracy(model, data, weights_remaining, scope="layerwise"):
    """Test accuracy of the trained `model` pruned once to `weights_remaining`, not retrained; and the mask."""
    mask = prune_once(model, weights_remaining, scope)
    return evaluate(pruned_copy(model, mask), data.x_test, data.y_test)[1], mask


@dataclass(frozen=True)
class OneShotConfig(Settings):
    dataset: str
    model: str
    train: TrainConfig  # how the dense network trains; the retraining follows it, resized
    seed: int = setting(0, "the dense network's initialisation and data-order seed, and the retraining's data order")
    weights_remaining: float = setting(0.1, "the fraction of the weights kept")
    scope: str = setting("layerwise", SCOPE_HELP, choices=SCOPES)
    retrain_iterations: int = setting(
        None, "iterations the survivors retrain for (the profile's: half the dense run; None: as long as it)"
    )

    def __post_init__(self):
        check_network(self)
        check_kept(self.weights_remaining)
        check_scope(self.scope)
        if self.retrain_iterations is not None and self.retrain_iterations < 1:
            raise LtkitError(f"retrain_iterations must be 1 or more; got {self.retrain_iterations}")

    def retraining(self):
        """The retraining's recipe: the dense network's, resized to retrain_iterations."""
        return self.train if self.retrain_iterations is None else resize(self.train, self.retrain_iterations)


@dataclass
class OneShotRow:
    weights_remaining: float
    dense_final_test_acc: float
    pruned_test_acc: float  # pruned, not retrained
    retrained_final_test_acc: float


@dataclass
class OneShotResult:
    config: OneShotConfig
    weights_remaining: float  # the fraction of the prunable weights the mask keeps
    dense_final_test_acc: float
    pruned_test_acc: float  # the dense network pruned, before retraining
    retrained: TrainResult = field(repr=False)

    def table(self):
        return [
            OneShotRow(
                self.weights_remaining, self.dense_final_test_acc, self.pruned_test_acc, self.retrained.final_test_acc
            )
        ]

    def to_json(self):
        return dict(
            config=self.config.to_dict(),
            weights_remaining=self.weights_remaining,
            dense_final_test_acc=self.dense_final_test_acc,
            pruned_test_acc=self.pruned_test_acc,
            retrained=self.retrained.summary(),
        )


def prune_and_retrain(config, context):
    """The trained dense network of `config` (from the cache when it is there), pruned once by magnitude,
    measured, and its survivors trained on from their trained values by config.retraining()."""
    data = context.data
    dense = dense_run(config, context)
    model = new_model(config, data)
    model.load_state_dict(dense.state)
    pruned_acc, mask = pruned_accuracy(model, data, config.weights_remaining, config.scope)

    def retrain():
        desc = f"retraining {100 * config.weights_remaining:g}%"
        recipe, seed, progress = config.retraining(), config.seed, context.progress
        return train(pruned_copy(model, mask), data, recipe, mask=mask, data_seed=seed, progress=progress, desc=desc)

    retrained = context.run("oneshot", config, records=(TrainResult,)).cached("retrained", retrain, data.device)
    return OneShotResult(config, fraction_remaining(mask), dense.result.final_test_acc, pruned_acc, retrained)


run_oneshot = register(
    "oneshot",
    OneShotConfig,
    prune_and_retrain,
    OneShotResult,
    "a trained network pruned once by magnitude, before and after retraining the survivors",
    defaults=lambda dataset, model, profile, train: dict(retrain_iterations=train.iterations // 2),
)
oneshot_config = run_oneshot.config
