"""Iterative magnitude pruning (IMP) with rewinding, and the two controls that make a ticket a ticket.

IMP (Frankle & Carbin 2019; rewinding after Frankle et al. 2020):
  0. initialise W0; train the dense network, keeping its weights Wk at iteration k (k=0: W0 itself);
  1. prune a fraction of the smallest-magnitude weights that remain (per layer, or globally);
  2. rewind the survivors to Wk and train again from iteration k;  3. repeat 1-2 for each round.
At every round two controls train with the same budget:
  - random re-initialisation: the ticket's mask on fresh random weights (is the initialisation special?);
  - random pruning: a random mask of the same per-layer sparsity on Wk (is the mask special?).
At round 0 (all weights) the ticket and both controls are the dense network itself.

Every finished round goes to the run cache, so the same call again loads it, and a sweep stopped
half-way resumes at the first unfinished round.
"""

from copy import deepcopy
from dataclasses import asdict, dataclass, field, replace

import torch

from ltkit.data import check_dataset_name, load_dataset, training_set_size
from ltkit.errors import LtkitError
from ltkit.masks import (
    apply_mask,
    as_rates,
    fraction_remaining,
    full_mask,
    layer_kinds,
    prune_by_magnitude,
    random_mask_like,
)
from ltkit.models import build_model, check_model_name
from ltkit.profiles import settings
from ltkit.runs import Run, state_hash
from ltkit.train import TrainConfig, evaluate, iterations_for, resize, train

ARMS = ("ticket", "reinit", "random_mask")


@dataclass(frozen=True)
class IMPConfig:
    dataset: str
    model: str
    train: TrainConfig
    rates: object = 0.2  # fraction of remaining weights pruned per round: one number or {kind: rate}
    rounds: int = 10  # pruning rounds after the dense run
    scope: str = "layerwise"  # or "global"
    rewind_iter: int = 0  # k: rewind to the weights at this iteration (0: the initialisation)
    seed: int = 0
    controls: bool = True  # also train both controls at every round (three times the work)

    def __post_init__(self):
        check_dataset_name(self.dataset)
        check_model_name(self.model)
        as_rates(self.rates)
        if self.rounds < 0:
            raise LtkitError(f"rounds must be 0 or more; got {self.rounds}")
        if not 0 <= self.rewind_iter < self.train.iterations:
            raise LtkitError(
                f"rewind iteration {self.rewind_iter} must be in 0..{self.train.iterations - 1}, "
                f"the run's length; lower --rewind"
            )

    def cache_key(self):
        """Everything that changes a round's result; not `rounds`, so a longer sweep extends a shorter one."""
        key = asdict(self)
        key["train"] = self.train.to_dict()
        del key["rounds"]
        return key

    def to_dict(self):
        return {**self.cache_key(), "rounds": self.rounds}


def imp_config(dataset, model, profile=None, epochs=None, lr=None, **fields):
    """The IMPConfig for `model` on `dataset` in a profile (default: $LTKIT_PROFILE or "class").

    `epochs` and `lr` change the training run; other keyword arguments (rounds, rates, rewind_iter,
    seed, scope) replace the preset's; None keeps it.
    """
    check_dataset_name(dataset)
    preset = settings(model, profile, training_set_size(dataset))
    train_config = preset["train"]
    if epochs is not None:
        train_config = resize(train_config, iterations_for(epochs, training_set_size(dataset), train_config.batch_size))
    if lr is not None:
        train_config = replace(train_config, lr=lr)
    chosen = dict(rates=preset["rates"], rounds=preset["rounds"], scope=preset["scope"])
    chosen.update({k: v for k, v in fields.items() if v is not None})
    return IMPConfig(dataset=dataset, model=model, train=train_config, **chosen)


@dataclass
class IMPResult:
    config: IMPConfig
    rounds: list = field(repr=False)  # one dict per round: weights_remaining, mask, ticket/reinit/random_mask, ...

    def table(self):
        """One row per round: weights remaining and each arm's test accuracy and early-stop iteration."""
        return [
            dict(
                round=r["round"],
                weights_remaining=r["weights_remaining"],
                **{f"{arm}_{key}": r[arm] and r[arm][key] for arm in ARMS for key in ("test_acc", "early_stop_iter")},
            )
            for r in self.rounds
        ]

    def to_json(self):
        """The figures of the sweep (what `ltkit imp --json` writes): no weights, no learning curves."""
        return dict(
            config=self.config.to_dict(),
            rounds=[
                dict(
                    round=r["round"],
                    weights_remaining=r["weights_remaining"],
                    **{arm: r[arm] and {k: v for k, v in r[arm].items() if k != "history"} for arm in ARMS},
                )
                for r in self.rounds
            ],
        )

    def nearest_round(self, weights_remaining):
        """The round whose sparsity is closest to `weights_remaining` (a fraction)."""
        return min(self.rounds, key=lambda r: abs(r["weights_remaining"] - weights_remaining))


def run_imp(config, data=None, device="cpu", cache=True, progress=True):
    """Run (or load from the cache) every round of `config`; returns an IMPResult."""
    if data is None:
        data = load_dataset(config.dataset, device=device)
    run = Run("imp", config.cache_key(), enabled=cache)
    rounds = []
    for r in range(config.rounds + 1):
        step = f"round_{r:02d}"
        if run.has(step):
            record = to_device(run.load(step), data.device)
        else:
            if r == 0:
                record = dense_round(config, data, progress)
            else:
                record = pruning_round(config, data, r, rounds[0], rounds[-1], progress)
            run.save(step, record)
        rounds.append(record)
    return IMPResult(config=config, rounds=rounds)


def dense_round(config, data, progress):
    model = new_model(config, data, config.seed)
    mask = full_mask(model)
    result = train(
        model, data, config.train, data_seed=config.seed, keep_at=config.rewind_iter, progress=progress, desc="dense"
    )
    dense = arm_record(result)
    return dict(
        round=0,
        weights_remaining=1.0,
        mask=mask,
        ticket=dense,
        reinit=dense,
        random_mask=dense,
        ticket_state=model.state_dict(),
        rewind_state=result.kept_state,
    )


def pruning_round(config, data, r, dense, previous, progress):
    """Round r: prune the previous ticket's trained weights, then train the ticket and both controls."""
    mask, starts = round_starts(config, data, r, dense, previous)
    record = dict(round=r, weights_remaining=fraction_remaining(mask), mask=mask, reinit=None, random_mask=None)
    arms = ARMS if config.controls else ("ticket",)
    for arm in arms:
        state, arm_mask = starts[arm]
        model = new_model(config, data, config.seed)
        model.load_state_dict(state)
        result = train(
            model,
            data,
            config.train,
            mask=arm_mask,
            data_seed=config.seed,
            start_iter=config.rewind_iter,
            progress=progress,
            desc=f"round {r} {arm}",
        )
        record[arm] = arm_record(result)
        if arm == "ticket":
            record["ticket_state"] = model.state_dict()
    return record


def round_starts(config, data, r, dense, previous):
    """Round r's mask, and where each arm starts: {arm: (weights to load, mask to train with)}."""
    kinds = layer_kinds(new_model(config, data, config.seed))
    mask = prune_by_magnitude(previous["ticket_state"], previous["mask"], config.rates, kinds, config.scope)
    generator = torch.Generator().manual_seed(config.seed * 1000 + r)
    fresh_init = new_model(config, data, seed=config.seed + 1000 * r + 1).state_dict()
    return mask, dict(
        ticket=(dense["rewind_state"], mask),
        reinit=(fresh_init, mask),
        random_mask=(dense["rewind_state"], random_mask_like(mask, generator)),
    )


def arm_record(result):
    return {**result.summary(), "history": result.history}


def new_model(config, data, seed):
    return build_model(config.model, data.input_shape, data.num_classes, seed=seed, device=data.device)


def to_device(record, device):
    """Round records hold tensors (masks, weights); put them on the data's device."""
    if isinstance(record, dict):
        return {k: to_device(v, device) for k, v in record.items()}
    if isinstance(record, torch.Tensor):
        return record.to(device)
    return record


def across_seeds(results, key="test_acc"):
    """The same sweep over several seeds, per arm: weights remaining, and `key`'s mean, std and values.

    Returns {arm: {"weights_remaining": [...], "mean": [...], "std": [...], "values": [[per seed], ...]}}.
    """
    summary = {}
    for arm in ARMS:
        values = [[r[arm][key] for r in result.rounds] for result in results if result.rounds[-1][arm]]
        if not values:
            continue
        per_round = torch.tensor(values, dtype=torch.float64).T
        summary[arm] = dict(
            weights_remaining=[r["weights_remaining"] for r in results[0].rounds],
            mean=per_round.mean(1).tolist(),
            std=(per_round.std(1) if per_round.shape[1] > 1 else torch.zeros(len(per_round))).tolist(),
            values=per_round.tolist(),
        )
    return summary


# --- the dense network, and pruning it once --------------------------------------------------------


def train_dense(data, model, profile=None, seed=0, progress=True):
    """The trained dense network of a profile (loaded from the cache when it is there) and its record:
    summary figures and learning curve ("history").

    This is round 0 of the IMP sweep with the same settings, so it shares that sweep's cache: whichever
    lesson trains it first, the others load it.
    """
    config = imp_config(data.name, model, profile, seed=seed, rounds=0)
    dense = run_imp(config, data=data, progress=progress).rounds[0]
    network = new_model(config, data, seed)
    network.load_state_dict(dense["ticket_state"])
    return network, dense["ticket"]


def prune_once(model, keep, scope="layerwise"):
    """The mask keeping a fraction `keep` of every layer's weights (layerwise) or of all of them (global),
    chosen by magnitude from `model`'s current weights: one-shot pruning."""
    if not 0 < keep <= 1:
        raise LtkitError(f"the fraction of weights to keep must be in (0, 1]; got {keep}")
    return prune_by_magnitude(dict(model.named_parameters()), full_mask(model), 1 - keep, layer_kinds(model), scope)


def pruned_copy(model, mask):
    """A copy of `model` with the pruned weights set to zero; `model` itself is left as it was."""
    copy = deepcopy(model)
    apply_mask(copy, mask)
    return copy


def pruned_accuracy(model, data, keep, scope="layerwise"):
    """Test accuracy of the trained `model` pruned once to a fraction `keep` of its weights, with no
    retraining; and the mask."""
    mask = prune_once(model, keep, scope)
    return evaluate(pruned_copy(model, mask), data.x_test, data.y_test)[1], mask


def retrain_pruned(model, data, keep, train_config, scope="layerwise", seed=0, progress=True):
    """Prune the trained `model` once, then train the surviving weights on from their trained values
    (fine-tuning, as Han et al. 2015 do). Returns the run's summary; cached by the weights' content."""
    key = dict(weights=state_hash(model.state_dict()), keep=keep, scope=scope, train=train_config.to_dict(), seed=seed)
    run = Run("retrain", key)
    if run.has("result"):
        return run.load("result")
    mask = prune_once(model, keep, scope)
    result = train(
        pruned_copy(model, mask),
        data,
        train_config,
        mask=mask,
        data_seed=seed,
        progress=progress,
        desc=f"retraining {100 * keep:g}%",
    )
    run.save("result", result.summary())
    return result.summary()
