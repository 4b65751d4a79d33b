"""One-shot magnitude pruning of a trained network, with and without retraining (Han et al. 2015).

The pruning before lottery tickets: remove the smallest weights of a *trained* network at once, and
optionally train the survivors on from their trained values (fine-tuning).
"""

from copy import deepcopy

from ltkit.engine.masks import apply_mask, full_mask, layer_kinds, prune_by_magnitude
from ltkit.engine.training import TrainResult, evaluate, resize, train
from ltkit.errors import LtkitError
from ltkit.store.runs import Run, state_hash


def prune_once(model, weights_remaining, scope="layerwise"):
    """The mask keeping a fraction `weights_remaining` of every layer's weights (layerwise) or of all of
    them together (global), chosen by magnitude from `model`'s current weights."""
    if not 0 < weights_remaining <= 1:
        raise LtkitError(f"the fraction of weights to keep must be in (0, 1]; got {weights_remaining}")
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


def retrain_pruned(
    model, data, weights_remaining, train_config, iterations=None, scope="layerwise", seed=0, progress=True
):
    """Prune the trained `model` once, then train the survivors on from their trained values, by
    `train_config` (resized to `iterations` if given). Returns the TrainResult; cached by the weights'
    content and the settings."""
    if iterations is not None:
        train_config = resize(train_config, iterations)
    key = dict(
        dataset=data.name,
        split=data.split_id,
        weights=state_hash(model.state_dict()),
        weights_remaining=weights_remaining,
        scope=scope,
        train=train_config.to_dict(),
        seed=seed,
    )

    def compute():
        mask = prune_once(model, weights_remaining, scope)
        desc = f"retraining {100 * weights_remaining:g}%"
        return train(
            pruned_copy(model, mask), data, train_config, mask=mask, data_seed=seed, progress=progress, desc=desc
        )

    return Run("retrain", key, records=(TrainResult,)).cached("result", compute, data.device)
