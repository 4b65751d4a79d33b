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
from dataclasses import fields as dataclass_fields
from functools import partial

import torch

from ltkit.data import check_dataset_name, load_dataset, training_set_size
from ltkit.errors import LtkitError
from ltkit.masks import (
    apply_mask,
    as_rates,
    check_scope,
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
        check_scope(self.scope)
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
    check_fields(fields, IMPConfig, "imp_config")
    chosen.update({k: v for k, v in fields.items() if v is not None})
    return IMPConfig(dataset=dataset, model=model, train=train_config, **chosen)


def check_fields(given, config_class, function, fixed=("dataset", "model", "train")):
    """Refuse keyword arguments that are not fields of the config, naming the ones that are."""
    allowed = [f.name for f in dataclass_fields(config_class) if f.name not in fixed]
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise LtkitError(f"{function}() has no setting {', '.join(unknown)}; the settings are: {', '.join(allowed)}")


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
    data = checked_data(config, data, device)
    run = imp_run(config, data, cache)
    rounds = []
    for r in range(config.rounds + 1):
        step = f"round_{r:02d}"
        if run.has(step):
            record = run.load(step, data.device)
        else:
            if r == 0:
                record = dense_round(config, data, cache, progress)
            else:
                record = pruning_round(config, data, r, rounds[0], rounds[-1], run, progress)
            run.save(step, record)
            for arm in ARMS:  # the round's file now holds what each arm's file held
                run.forget(f"{step}_{arm}")
        rounds.append(record)
    return IMPResult(config=config, rounds=rounds)


def imp_run(config, data, cache=True):
    """Where a sweep's rounds are cached: named by its config and the data's validation split."""
    return Run("imp", {**config.cache_key(), "split": data.split_id}, enabled=cache)


def checked_data(config, data, device):
    """`data`, or the config's dataset loaded on `device`; a dataset other than the config's is refused."""
    if data is None:
        return load_dataset(config.dataset, device=device)
    if data.name != config.dataset:
        raise LtkitError(
            f"the data is {data.name!r} but the experiment is set up for {config.dataset!r}; pass "
            f"load_dataset({config.dataset!r}) or change the config's dataset"
        )
    return data


def dense_run(config, data, cache=True, progress=True):
    """The dense network of `config` trained, or loaded from the cache: {"record": its summary and
    learning curve, "state": its final weights}.

    It is cached by what it depends on (dataset and split, model, training recipe, seed), not by any
    pruning setting, so every sweep, lesson and experiment with the same recipe shares one dense network.
    `config` is any config with dataset, model, train and seed fields.
    """
    key = dict(
        dataset=config.dataset, split=data.split_id, model=config.model, train=config.train.to_dict(), seed=config.seed
    )

    def compute():
        model = new_model(config, data, config.seed)
        result = train(model, data, config.train, data_seed=config.seed, progress=progress, desc="dense")
        return dict(record=arm_record(result), state=model.state_dict())

    return Run("dense", key, enabled=cache).cached("result", compute, device=data.device)


def rewind_weights(config, data, k):
    """W_k, the weights IMP rewinds to: the dense run's weights at iteration k (k=0: its initialisation).

    Training the same network with the same seed for k iterations repeats the dense run's first k steps
    exactly (same batches, same learning rates), so the dense run need not have kept them.
    """
    model = new_model(config, data, config.seed)
    if k > 0:
        train(model, data, replace(config.train, iterations=k), data_seed=config.seed, progress=False)
    return model.state_dict()


def dense_round(config, data, cache, progress):
    """Round 0: the dense network (ticket and controls alike), and the weights to rewind to."""
    dense = dense_run(config, data, cache, progress)
    return dict(
        round=0,
        weights_remaining=1.0,
        mask=full_mask(new_model(config, data, config.seed)),
        ticket=dense["record"],
        reinit=dense["record"],
        random_mask=dense["record"],
        ticket_state=dense["state"],
        rewind_state=rewind_weights(config, data, config.rewind_iter),
    )


def pruning_round(config, data, r, dense, previous, run, progress):
    """Round r: prune the previous ticket's trained weights, then train the ticket and both controls.

    Each arm is cached as soon as it finishes, so an interrupted round resumes at its unfinished arm.
    """
    mask, starts = round_starts(config, data, r, dense, previous)
    record = dict(round=r, weights_remaining=fraction_remaining(mask), mask=mask, reinit=None, random_mask=None)
    for arm in ARMS if config.controls else ("ticket",):
        state, arm_mask = starts[arm]
        compute = partial(train_arm, config, data, state, arm_mask, f"round {r} {arm}", progress)
        record[arm] = run.cached(f"round_{r:02d}_{arm}", compute, device=data.device)
        trained_weights = record[arm].pop("state")
        if arm == "ticket":
            record["ticket_state"] = trained_weights  # the next round prunes these
    return record


def train_arm(config, data, state, mask, desc, progress):
    """One arm of a round: `state` with `mask`, trained from the rewind iteration to the end; its record
    and its trained weights."""
    model = new_model(config, data, config.seed)
    model.load_state_dict(state)
    result = train(
        model,
        data,
        config.train,
        mask=mask,
        data_seed=config.seed,
        start_iter=config.rewind_iter,
        progress=progress,
        desc=desc,
    )
    return {**arm_record(result), "state": model.state_dict()}


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


def across_seeds(results, key="test_acc"):
    """The same sweep over several seeds, per arm: weights remaining, and `key`'s mean, std and values.

    Returns {arm: {"weights_remaining": [...], "mean": [...], "std": [...], "values": [[per seed], ...]}}.
    """
    if len({len(result.rounds) for result in results}) > 1:
        raise LtkitError("across_seeds needs sweeps with the same number of rounds; run them with the same rounds=")
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


def seed_sweeps(data, model, profile=None, **fields):
    """The profile's IMP sweep of `model` on `data` for each of the profile's seeds (seeds 0, 1, ...)."""
    seeds = settings(model, profile, len(data.y_train))["seeds"]
    return [run_imp(imp_config(data.name, model, profile, seed=seed, **fields), data=data) for seed in range(seeds)]


def controls_table(results, weights_remaining):
    """At the round nearest `weights_remaining`, per arm: mean and std over seeds (as across_seeds gives
    them), the mean gap to the ticket, and on how many seeds the arm is below the ticket."""
    summary = across_seeds(results)
    r = results[0].nearest_round(weights_remaining)["round"]
    ticket = summary["ticket"]["values"][r]
    rows = []
    for arm, line in summary.items():
        values = line["values"][r]
        gaps = [t - v for t, v in zip(ticket, values)]
        rows.append(
            dict(
                arm=arm,
                weights_remaining=line["weights_remaining"][r],
                mean=line["mean"][r],
                std=line["std"][r],
                gap_to_ticket=sum(gaps) / len(gaps),
                seeds_below_ticket=f"{sum(g > 0 for g in gaps)} of {len(gaps)}",
            )
        )
    return rows


# --- the dense network, and pruning it once --------------------------------------------------------


def train_dense(data, model, profile=None, seed=0, progress=True):
    """The trained dense network of a profile (loaded from the cache when it is there) and its record:
    summary figures and learning curve ("history"). Every IMP sweep with the same recipe starts from it."""
    config = imp_config(data.name, model, profile, seed=seed, rounds=0)
    dense = dense_run(config, data, progress=progress)
    network = new_model(config, data, seed)
    network.load_state_dict(dense["state"])
    return network, dense["record"]


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
