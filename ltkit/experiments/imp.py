"""Iterative magnitude pruning (IMP) with rewinding, and the two controls that make a ticket a ticket.

IMP (Frankle & Carbin 2019; rewinding after Frankle et al. 2020):
  0. initialise W0; train the dense network, keeping its weights W_k at iteration k (k=0: W0 itself);
  1. prune a fraction of the smallest-magnitude weights that remain (per layer, or globally);
  2. rewind the survivors to W_k and train again from iteration k;  3. repeat 1-2 for each round.
At every round two controls train with the same budget:
  - random re-initialisation: the ticket's mask on fresh random weights (is the initialisation special?);
  - random pruning: a random mask of the same per-layer sparsity on W_k (is the mask special?).
At round 0 (all weights) the ticket and both controls are the dense network itself.

Every finished round, and every finished arm of a round, goes to the run cache, so the same call again
loads it, and a sweep stopped half-way resumes where it stopped. Which controls a sweep trains is not part
of its cache key: a sweep asked for a control its cached rounds lack trains only that control.
"""

from dataclasses import dataclass, field
from functools import partial

import torch

from ltkit.engine.datasets import Splits
from ltkit.engine.masks import (
    RATES_HELP,
    SCOPE_HELP,
    SCOPES,
    apply_mask,
    check_pruning,
    fraction_remaining,
    full_mask,
    layer_kinds,
    prune_by_magnitude,
    random_mask_like,
)
from ltkit.engine.models import check_network
from ltkit.engine.stacked import Job, train_together
from ltkit.engine.training import TrainConfig, TrainResult
from ltkit.errors import LtkitError
from ltkit.experiments.dense import dense_runs, new_model, rewind_weights
from ltkit.experiments.profiles import LESSON_SEED, pruning, sizes
from ltkit.experiments.registry import Context, register
from ltkit.experiments.seeds import derived_seed
from ltkit.settings import Settings, setting

ARMS = ("ticket", "reinit", "random_mask")
CONTROLS = ARMS[1:]


@dataclass(frozen=True)
class IMPConfig(Settings):
    # A longer sweep extends a shorter one: the rounds they share are the same. The controls never change
    # the ticket, so sweeps with other controls share their tickets.
    NOT_IN_KEY = ("rounds", "controls")

    dataset: str
    model: str
    train: TrainConfig
    rates: object = setting(0.2, RATES_HELP, aliases=("--rate",))
    rounds: int = setting(10, "pruning rounds after the dense run")
    scope: str = setting("layerwise", SCOPE_HELP, choices=SCOPES)
    rewind_iter: int = setting(
        0, "k: rewind to the weights at iteration k (0: the initialisation)", aliases=("--rewind",)
    )
    seed: int = setting(0, "initialisation and data-order seed")
    controls: tuple = setting(
        CONTROLS,
        f"the controls trained at every round, among {', '.join(CONTROLS)}",
        item=str,
        none_flag="--no-controls",
    )

    def __post_init__(self):
        check_network(self)
        check_pruning(self.rates, self.scope)
        if self.rounds < 0:
            raise LtkitError(f"rounds must be 0 or more; got {self.rounds}")
        if not 0 <= self.rewind_iter < self.train.iterations:
            raise LtkitError(
                f"rewind iteration {self.rewind_iter} must be in 0..{self.train.iterations - 1}, "
                f"the run's length; lower it"
            )
        check_controls(self.controls)


def check_controls(controls):
    if isinstance(controls, (bool, str)) or any(arm not in CONTROLS for arm in controls):
        raise LtkitError(
            f"controls must be a tuple of arms among {', '.join(CONTROLS)} (none: () here, --no-controls "
            f"on the command line); got {controls!r}"
        )


@dataclass
class ArmRun:
    """One arm of a round, trained: cached as soon as it finishes."""

    result: TrainResult
    state: dict  # the trained weights


@dataclass
class Round:
    """One round of a sweep: the sparsity, and per arm its mask, what training measured, and its weights."""

    round: int
    weights_remaining: float  # the fraction of prunable weights IMP's mask keeps
    masks: dict  # {arm: the mask it trained with}; the reinitialised control shares the ticket's
    results: dict  # {arm: TrainResult}; only the ticket's when the sweep trains no controls
    states: dict  # {arm: its trained weights}

    @property
    def mask(self):
        """IMP's mask at this round."""
        return self.masks["ticket"]


@dataclass
class IMPResult:
    config: IMPConfig
    rounds: list = field(repr=False)  # of Round, round 0 being the dense network
    rewind_state: dict = field(repr=False)  # W_k, which every ticket starts from
    data: Splits = field(repr=False)

    def nearest_round(self, weights_remaining):
        """The Round whose sparsity is closest to `weights_remaining` (a fraction of the weights)."""
        if not 0 < weights_remaining <= 1:
            raise LtkitError(f"weights remaining must be a fraction in (0, 1]; got {weights_remaining}")
        return min(self.rounds, key=lambda r: abs(r.weights_remaining - weights_remaining))

    def network(self, weights_remaining, arm="ticket", trained=False):
        """An arm of the round nearest `weights_remaining` as a network, pruned weights at zero: as it
        starts training (the ticket: W_k under IMP's mask), or trained."""
        record = self.nearest_round(weights_remaining)
        if arm not in ARMS:
            raise LtkitError(f"unknown arm {arm!r}; the arms are: {', '.join(ARMS)}")
        if arm not in record.results:
            trained_arms = ", ".join(record.results)
            raise LtkitError(f"this sweep has no {arm!r} arm (it trained: {trained_arms}); add it to controls")
        if trained:
            state, mask = record.states[arm], record.masks[arm]
        else:
            state, mask = arm_start(self.config, self.data, record.round, arm, self.rewind_state, record.mask)
        model = new_model(self.config, self.data)
        model.load_state_dict(state)
        apply_mask(model, mask)
        return model

    def ticket(self, weights_remaining):
        """The winning ticket nearest `weights_remaining`, ready to train: the rewound weights W_k with
        IMP's mask applied (at round 0, the dense network as it started: W_0)."""
        return self.network(weights_remaining)

    def table(self):
        """One IMPRow per round: weights remaining, and for each arm its final test accuracy (the measure of
        matching) and its test accuracy at the early-stop iteration (None for an arm not trained)."""
        rows = []
        for r in self.rounds:
            figures = {}
            for arm in ARMS:
                result = r.results.get(arm)
                figures[f"{arm}_final_test_acc"] = result and result.final_test_acc
                figures[f"{arm}_early_stop_test_acc"] = result and result.test_acc
            rows.append(IMPRow(round=r.round, weights_remaining=r.weights_remaining, **figures))
        return rows

    def to_json(self):
        """The figures of the sweep (what `ltkit imp --json` writes): no weights, no learning curves."""
        return dict(
            config=self.config.to_dict(),
            rounds=[
                dict(
                    round=r.round,
                    weights_remaining=r.weights_remaining,
                    **{arm: r.results[arm].summary() if arm in r.results else None for arm in ARMS},
                )
                for r in self.rounds
            ],
        )


def run_imps(configs, data=None, device="cpu", cache=True, progress=True):
    """Several sweeps (one per seed, say) run round by round side by side, so that each round's arms of
    every sweep train together, as one stack (ltkit.engine.stacked). Returns their IMPResults, in order."""
    if not configs:
        raise LtkitError("run_imps needs at least one IMPConfig")
    return imp_sweeps(configs, Context.of(configs[0], data, device, cache, progress))


def imp_sweeps(configs, context):
    """run_imps with its Context."""
    if len({(config.dataset, config.model) for config in configs}) > 1:
        raise LtkitError("run_imps runs sweeps of one model on one dataset; run the others separately")
    data, progress = context.data, context.progress
    runs = [sweep_cache(config, context) for config in configs]
    rewinds = [
        run.cached("rewind", partial(rewind_weights, config, data, config.rewind_iter), data.device)
        for config, run in zip(configs, runs)
    ]
    rounds = [[] for _ in configs]
    for r in range(max(config.rounds for config in configs) + 1):
        step = f"round_{r:02d}"
        active = [i for i, config in enumerate(configs) if r <= config.rounds]
        cached = {i: runs[i].load(step, data.device) for i in active if runs[i].has(step)}
        todo = [i for i in active if i not in cached or missing_arms(configs[i], cached[i])]
        if r == 0:
            trained = dense_rounds([configs[i] for i in todo], context)
        else:
            sweeps = [(configs[i], runs[i], rewinds[i], rounds[i][-1], cached.get(i)) for i in todo]
            trained = pruning_rounds(sweeps, data, r, progress)
        trained = dict(zip(todo, trained))
        for i, record in trained.items():
            runs[i].save(step, record)
            for arm in ARMS:  # the round's file now holds what each arm's file held
                runs[i].forget(f"{step}_{arm}")
        for i in active:
            rounds[i].append(trained.get(i) or cached[i])
    return [
        IMPResult(config=config, rounds=sweep, rewind_state=rewind, data=data)
        for config, sweep, rewind in zip(configs, rounds, rewinds)
    ]


def missing_arms(config, record):
    """The arms `config` asks for that a cached Round lacks (it was trained with other controls)."""
    return [arm for arm in ("ticket", *config.controls) if arm not in record.results]


def sweep_cache(config, context):
    """Where a sweep's rounds are cached."""
    return context.run("imp", config, records=(Round, ArmRun, TrainResult))


def dense_rounds(configs, context):
    """Round 0 of each sweep: the dense network, which is the ticket and both controls alike."""
    rounds = []
    for config, dense in zip(configs, dense_runs(configs, context)):
        mask = full_mask(new_model(config, context.data))
        rounds.append(
            Round(
                round=0,
                weights_remaining=1.0,
                masks={arm: mask for arm in ARMS},
                results={arm: dense.result for arm in ARMS},
                states={arm: dense.state for arm in ARMS},
            )
        )
    return rounds


def pruning_rounds(sweeps, data, r, progress):
    """Round r of each sweep (config, run, W_k, its previous Round, this Round as cached or None): prune the
    previous ticket's trained weights, then train the ticket and its controls, those of every sweep together;
    a cached Round keeps its arms and trains only those it lacks.

    Each arm is cached as soon as it is trained (with its stack), so an interrupted round resumes at its
    unfinished arms.
    """
    records, jobs = [], []
    for config, run, rewind_state, previous, cached in sweeps:
        kinds = layer_kinds(new_model(config, data))
        mask = prune_by_magnitude(previous.states["ticket"], previous.mask, config.rates, kinds, config.scope)
        arms = {}
        if cached is not None:
            arms = {arm: (cached.masks[arm], ArmRun(cached.results[arm], cached.states[arm])) for arm in cached.results}
        for arm in ("ticket", *config.controls):
            if arm in arms:
                continue
            start_iter = training_start(config, arm)
            step = f"round_{r:02d}_{arm}" + ("_full_length" if start_iter != config.rewind_iter else "")
            state, arm_mask = arm_start(config, data, r, arm, rewind_state, mask)
            trained = run.get(step, data.device)
            if trained is not None:
                arms[arm] = (arm_mask, trained)
                continue
            model = new_model(config, data)
            model.load_state_dict(state)
            done = partial(save_arm, run, step, arms, arm)
            jobs.append(Job(model, config.train, arm_mask, config.seed, start_iter, f"round {r} {arm}", done))
        records.append((r, mask, arms))
    train_together(jobs, data, progress)
    return [round_record(r, mask, arms) for r, mask, arms in records]


def save_arm(run, step, arms, arm, job):
    """Cache a trained arm at once (an interrupted round resumes after it), and add it to its round's arms."""
    arms[arm] = (job.mask, ArmRun(result=job.result, state=job.model.state_dict()))
    run.save(step, arms[arm][1])


def round_record(r, mask, arms):
    """A Round from {arm: (mask, ArmRun)}, its arms in the order of ARMS."""
    arms = {arm: arms[arm] for arm in ARMS if arm in arms}
    return Round(
        round=r,
        weights_remaining=fraction_remaining(mask),
        masks={arm: arm_mask for arm, (arm_mask, _) in arms.items()},
        results={arm: trained.result for arm, (_, trained) in arms.items()},
        states={arm: trained.state for arm, (_, trained) in arms.items()},
    )


def training_start(config, arm):
    """The iteration an arm's training starts at. The ticket and the random mask start from W_k, which has
    had k iterations of training, and train on from k. Re-initialised weights have had none, so that control
    trains the whole schedule from 0: as long as the ticket has trained in all, or a late k would handicap it
    (its step is cached under its own name, apart from runs made before it trained so long)."""
    return 0 if arm == "reinit" else config.rewind_iter


def arm_start(config, data, r, arm, rewind_state, mask):
    """Where an arm of round r starts: (weights to load, mask to train with). The ticket: W_k under IMP's
    mask; random re-initialisation: fresh random weights under IMP's mask; random pruning: W_k under a
    random mask keeping as many weights in every layer. At round 0 every arm is the dense network, which
    starts from W_0."""
    if r == 0:
        return new_model(config, data).state_dict(), mask
    if arm == "ticket":
        return rewind_state, mask
    if arm == "reinit":
        return new_model(config, data, seed=derived_seed("reinit", config.seed, 1000 * r)).state_dict(), mask
    generator = torch.Generator().manual_seed(derived_seed("random_mask", config.seed, r))
    return rewind_state, random_mask_like(mask, generator)


@dataclass
class IMPRow:
    round: int
    weights_remaining: float
    ticket_final_test_acc: float
    reinit_final_test_acc: float
    random_mask_final_test_acc: float
    ticket_early_stop_test_acc: float
    reinit_early_stop_test_acc: float
    random_mask_early_stop_test_acc: float


run_imp = register(
    "imp",
    IMPConfig,
    lambda config, context: imp_sweeps([config], context)[0],
    IMPResult,
    "iterative magnitude pruning with rewinding, and its two controls",
    defaults=lambda dataset, model, profile, train: dict(**pruning(model), rounds=sizes(profile, "imp")["rounds"]),
    together=imp_sweeps,
)
imp_config = run_imp.config


def seed_sweeps(data, model, profile=None, seed=LESSON_SEED, **fields):
    """The profile's IMP sweep of `model` on `data` for the profile's number of seeds, from `seed` on."""
    seeds = range(seed, seed + sizes(profile, "imp")["seeds"])
    return run_imps([imp_config(data.name, model, profile, seed=s, **fields) for s in seeds], data=data)
