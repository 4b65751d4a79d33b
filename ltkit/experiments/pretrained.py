"""Tickets in a pre-trained network (Chen et al. 2020, "The Lottery Ticket Hypothesis for Pre-trained BERT
Networks"): pre-training plays the part that late rewinding plays in a network trained from scratch.

A language model is pre-trained once (next-character prediction on `stdlib`). Then, on each task:
- `pretrained`: IMP rewinding to the pre-trained weights (round 0: dense fine-tuning from them), with its
  two controls at every round: IMP's mask on fresh random weights (`reinit`), and the pre-trained weights
  under a random mask of the same per-layer sparsity (`random_mask`);
- `random_init`: IMP from a random initialisation, rewinding to it (round 0: dense training from scratch);
- `transfer`: masks found elsewhere, on the pre-trained weights, fine-tuned on the task: the mask IMP
  finds on the pre-training task itself (fine-tuning on `stdlib`), and, on the second task, the first
  task's mask. Each round's transferred mask has the round's sparsity.
Only the attention and MLP weights are pruned, ranked together, as Chen et al. prune BERT's; the embeddings,
the position embedding and a task's head stay whole, and `weights_remaining` counts the pruned kinds only.
Every run on a task trains with one recipe (the config's `train`), from pre-trained weights or not, so the
arms compare like with like. Every arm of every round is cached as soon as it is trained.

Two choices differ from Chen et al.'s code. A classifier's new head is rewound with the rest, to its
initial values, so that every round starts as the ticket is defined (their code keeps the head's fine-tuned
values from round to round). And the random mask keeps IMP's count in every layer, as lesson 04's control
does (their random pruning ranks all layers together, which spreads the sparsity about evenly): it asks
whether IMP chose the right weights, not only the right amount of each layer.
"""

from dataclasses import dataclass, field, replace
from functools import partial

import torch

from ltkit.engine.datasets import load_dataset
from ltkit.engine.masks import (
    RATES_HELP,
    as_rates,
    fraction_remaining,
    full_mask,
    layer_kinds,
    prune_by_magnitude,
    random_mask_like,
)
from ltkit.engine.models import build_model, check_network
from ltkit.engine.stacked import Job, train_together
from ltkit.engine.training import TrainConfig, TrainResult, resize
from ltkit.errors import LtkitError
from ltkit.experiments.dense import DenseConfig, dense_runs
from ltkit.experiments.imp import ArmRun
from ltkit.experiments.profiles import LESSON_SEED, PRETRAINED_TICKETS, current_profile, training_recipe
from ltkit.experiments.registry import Context, register
from ltkit.experiments.seeds import derived_seed
from ltkit.settings import Settings, setting

TASKS = tuple(PRETRAINED_TICKETS["tasks"])
ARMS = ("ticket", "reinit", "random_mask")  # of the pre-trained sweep; the random-init sweep has its ticket only
PRETRAINING_TEXTS = ("stdlib", "charlm")  # language-modelling text with none of the tasks' modules


@dataclass(frozen=True)
class PretrainedIMPConfig(Settings):
    NOT_IN_KEY = ("rounds", "task")  # each task's runs are cached on their own; more rounds extend fewer

    dataset: str  # the pre-training text
    model: str  # the language model pre-trained on it
    train: TrainConfig  # every run on a task: dense fine-tuning, IMP's rounds, the controls, the transfers
    task: str = setting(
        None, "one downstream task (default: both; heldout-lm's mask is tried on textkinds only then)", choices=TASKS
    )
    pretrain_iterations: int = setting(2000, "iterations of pre-training")
    pretrain_seed: int = setting(0, "the pre-trained network's initialisation and data-order seed")
    rates: object = setting(None, RATES_HELP + "; default: attention and MLP", aliases=("--rate",))
    rounds: int = setting(5, "pruning rounds after the dense run")
    seed: int = setting(0, "fine-tuning seed: data order, a new head, the random arms' weights and masks")

    def __post_init__(self):
        check_network(self)
        if self.dataset not in PRETRAINING_TEXTS:
            raise LtkitError(
                f"pretrained-imp pre-trains on {' or '.join(PRETRAINING_TEXTS)}, text that leaves the tasks' "
                f"modules out; got {self.dataset}"
            )
        if self.rounds < 0:
            raise LtkitError(f"rounds must be 0 or more; got {self.rounds}")
        if self.pretrain_iterations < 1:
            raise LtkitError(f"pretrain_iterations must be at least 1; got {self.pretrain_iterations}")
        if self.rates is None:  # a dict cannot be a dataclass default
            object.__setattr__(self, "rates", PRETRAINED_TICKETS["rates"])
        as_rates(self.rates)

    @property
    def tasks(self):
        return (self.task,) if self.task else TASKS


@dataclass(frozen=True)
class TaskSweep(Settings):
    """What one task's runs are cached by: the task, its network, the recipe, the pruning, the seed, and
    the pre-trained network they start from (named by its own cached run)."""

    dataset: str
    model: str
    train: TrainConfig
    rates: object
    seed: int
    pretrained: str  # the pre-trained network's run (data/runs/dense-<hash>)


@dataclass
class TaskResult:
    """One task: per sweep ("pretrained", "random_init") a list of rounds, each {weights_remaining, arm:
    TrainResult}; the transfer rows; and the masks and weights behind them (for the lesson's figures)."""

    task: str
    sweeps: dict
    transfer: list  # of {weights_remaining, source, result}
    masks: dict = field(repr=False)  # {("pretrained" | "random_init", round): the mask its ticket trained under}
    tickets: dict = field(repr=False)  # {("pretrained" | "random_init", round): the ticket's trained weights}


@dataclass
class PretrainedIMPResult:
    config: PretrainedIMPConfig
    pretraining: TrainResult  # the pre-trained network's own training
    tasks: dict  # {task: TaskResult}

    def table(self):
        """One PretrainedRow per task and round: the sparsity, and every arm's final test accuracy."""
        rows = []
        for name, task in self.tasks.items():
            pretraining = self.config.dataset
            from_pretraining = {t["round"]: t["result"] for t in task.transfer if t["source"] == pretraining}
            from_other_task = {t["round"]: t["result"] for t in task.transfer if t["source"] != pretraining}
            final = lambda result: result and result.final_test_acc
            for r, (pre, rand) in enumerate(zip(task.sweeps["pretrained"], task.sweeps["random_init"])):
                rows.append(
                    PretrainedRow(
                        task=name,
                        round=r,
                        weights_remaining=pre["weights_remaining"],
                        **{f"pretrained_{arm}_final_test_acc": final(pre.get(arm)) for arm in ARMS},
                        random_init_ticket_final_test_acc=final(rand["ticket"]),
                        pretraining_mask_final_test_acc=final(from_pretraining.get(r)),
                        other_task_mask_final_test_acc=final(from_other_task.get(r)),
                    )
                )
        return rows

    def to_json(self):
        """{"config", "pretraining", "tasks": {task: {"pretrained": {"rounds"}, "random_init": {"rounds"},
        "transfer": [...]}}}, rounds shaped as `ltkit imp --json` writes them."""
        summary = lambda result: result.summary() if result else None
        tasks = {}
        for name, task in self.tasks.items():
            tasks[name] = {
                sweep: dict(
                    rounds=[
                        dict(
                            round=r,
                            weights_remaining=row["weights_remaining"],
                            **{a: summary(row.get(a)) for a in ARMS},
                        )
                        for r, row in enumerate(rounds)
                    ]
                )
                for sweep, rounds in task.sweeps.items()
            }
            tasks[name]["transfer"] = [
                dict(
                    round=t["round"],
                    weights_remaining=t["weights_remaining"],
                    source=t["source"],
                    **summary(t["result"]),
                )
                for t in task.transfer
            ]
        return dict(config=self.config.to_dict(), pretraining=self.pretraining.summary(), tasks=tasks)


@dataclass
class PretrainedRow:
    task: str
    round: int
    weights_remaining: float
    pretrained_ticket_final_test_acc: float
    pretrained_reinit_final_test_acc: float
    pretrained_random_mask_final_test_acc: float
    random_init_ticket_final_test_acc: float
    pretraining_mask_final_test_acc: float
    other_task_mask_final_test_acc: float


def pretraining_recipe(config):
    """How the language model is pre-trained: its own recipe, for pretrain_iterations."""
    return resize(training_recipe(config.dataset, config.model), config.pretrain_iterations)


def finetuning_recipe(dataset, model, profile=None, epochs=None, lr=None):
    """Every task run's recipe in `profile`, whatever the task and the pre-training network (`dataset` and
    `model`): the window classifier's, at PRETRAINED_TICKETS' rate (or `lr`) and length. Pre-training keeps
    its network's own recipe (pretraining_recipe)."""
    if epochs is not None:
        raise LtkitError("pretrained-imp fine-tunes for a number of iterations, not epochs; leave --epochs out")
    sizes = PRETRAINED_TICKETS["finetune"]
    recipe = training_recipe("textkinds", "window_classifier", profile)
    recipe = resize(recipe, sizes["iterations"][current_profile(profile)], sizes["evaluations"])
    return replace(recipe, lr=sizes["lr"] if lr is None else lr)


def run_pretrained_imp(config, context):
    """The whole experiment: pre-training (cached), the pre-training task's IMP masks, then every task."""
    dense = DenseConfig(config.dataset, config.model, pretraining_recipe(config), config.pretrain_seed)
    pretrained = dense_runs([dense], context)[0]
    pretrained_run = context.run("dense", dense).path.name
    pretraining_masks = pretraining_imp(config, context, pretrained, pretrained_run)
    tasks, masks_of = {}, {config.dataset: pretraining_masks}
    for task in ordered_tasks(config.tasks):
        tasks[task] = task_sweeps(config, context, task, pretrained, pretrained_run, masks_of)
        masks_of[task] = {r: mask for (sweep, r), mask in tasks[task].masks.items() if sweep == "pretrained"}
    return PretrainedIMPResult(config, pretrained.result, {task: tasks[task] for task in config.tasks})


def ordered_tasks(tasks):
    """The tasks in the order they run: a transferred mask's source first."""
    source, target = PRETRAINED_TICKETS["transfer"]
    return sorted(tasks, key=lambda task: task != source) if target in tasks else list(tasks)


def prunable_mask(model, rates):
    """The dense mask of the kinds `rates` prunes (only those: weights_remaining counts them alone)."""
    rates, kinds = as_rates(rates), layer_kinds(model)
    return {name: keep for name, keep in full_mask(model).items() if rates[kinds[name]] > 0}


def pretraining_imp(config, context, pretrained, pretrained_run):
    """IMP on the pre-training task itself, rewinding to the pre-trained weights: {round: mask}, round 1 on.
    Fine-tuned with the task runs' recipe, its batches drawn from the pre-trained network's seed (one mask
    per pre-trained network, whatever the fine-tuning seed)."""
    sweep = TaskSweep(config.dataset, config.model, config.train, config.rates, config.pretrain_seed, pretrained_run)
    run = context.run("pretraining-imp", sweep, records=(ArmRun, TrainResult))
    model = build_model(config.model, context.data.input_shape, context.data.num_classes, device=context.device)
    mask, masks = prunable_mask(model, config.rates), {}
    for r in range(config.rounds):  # round r's trained weights give the mask of round r + 1
        step = f"round_{r:02d}"
        if not run.has(step):
            model.load_state_dict(pretrained.state)
            order = derived_seed("pretraining_imp", config.pretrain_seed)  # not pre-training's own batches again
            job = Job(model, config.train, mask if r else None, order, desc=f"{config.dataset} round {r}")
            train_together([job], context.data, context.progress)
            run.save(step, ArmRun(result=job.result, state=job.model.state_dict()))
        mask = prune_by_magnitude(
            run.load(step, context.device).state, mask, config.rates, layer_kinds(model), "global"
        )
        masks[r + 1] = mask
    return masks


def task_sweeps(config, context, task, pretrained, pretrained_run, masks_of):
    """One task's two IMP sweeps, the pre-trained one's controls, and the transferred masks, round by round."""
    data = load_dataset(task, device=context.device)
    model_name = PRETRAINED_TICKETS["tasks"][task]
    sweep = TaskSweep(task, model_name, config.train, config.rates, config.seed, pretrained_run)
    run = Context(data, context.cache, context.progress).run("pretrained-imp", sweep, records=(ArmRun, TrainResult))
    fresh = partial(build_model, model_name, data.input_shape, data.num_classes, device=data.device)
    kinds, dense_mask = layer_kinds(fresh()), prunable_mask(fresh(), config.rates)
    starts = {"pretrained": task_start(fresh, pretrained.state, config.seed), "random_init": fresh_start(fresh, config)}
    masks, tickets, sweeps, transfer = {}, {}, {name: [] for name in starts}, []
    for r in range(config.rounds + 1):
        runs = RoundOfRuns(run, fresh, config, data.device)
        for name, start in starts.items():
            if r == 0:
                masks[(name, r)] = dense_mask
            else:  # prune the previous round's trained ticket
                masks[(name, r)] = prune_by_magnitude(
                    tickets[(name, r - 1)], masks[(name, r - 1)], config.rates, kinds, "global"
                )
            for arm in arms_of(name, r):
                runs.add(
                    f"{name}_{r:02d}_{arm}", *arm_start(arm, start, masks[(name, r)] if r else None, fresh, config, r)
                )
        sources = transfer_sources(config, task, masks_of) if r else []
        for source in sources:
            runs.add(f"transfer_{r:02d}_{source}", starts["pretrained"], masks_of[source][r])
        runs.train(data, context.progress)
        for name in starts:
            tickets[(name, r)] = runs.trained[f"{name}_{r:02d}_ticket"].state
            results = {arm: runs.trained[f"{name}_{r:02d}_{arm}"].result for arm in arms_of(name, r)}
            if r == 0 and name == "pretrained":  # the dense network is the ticket and both controls alike
                results = {arm: results["ticket"] for arm in ARMS}
            sweeps[name].append(dict(weights_remaining=fraction_remaining(masks[(name, r)]), **results))
        for source in sources:
            result = runs.trained[f"transfer_{r:02d}_{source}"].result
            remaining = fraction_remaining(masks_of[source][r])
            transfer.append(dict(round=r, weights_remaining=remaining, source=source, result=result))
    return TaskResult(task, sweeps, transfer, masks, tickets)


def arms_of(sweep, r):
    """The arms a sweep trains at round r: the pre-trained sweep's ticket and both controls once it prunes;
    else the ticket alone (at round 0, the dense network)."""
    return ARMS if sweep == "pretrained" and r > 0 else ("ticket",)


class RoundOfRuns:
    """One round's runs on a task, by step name: each loaded from the cache, or else queued to train and
    cached as soon as it is trained."""

    def __init__(self, run, fresh, config, device):
        self.run, self.fresh, self.config, self.device = run, fresh, config, device
        self.trained, self.jobs = {}, []  # {step: ArmRun}; the Jobs still to train

    def add(self, step, weights, mask):
        if self.run.has(step):
            self.trained[step] = self.run.load(step, self.device)
            return
        model = self.fresh()
        model.load_state_dict(weights)
        self.jobs.append(Job(model, self.config.train, mask, self.config.seed, desc=step, finished=self.keep))

    def keep(self, job):
        self.trained[job.desc] = ArmRun(result=job.result, state=job.model.state_dict())
        self.run.save(job.desc, self.trained[job.desc])

    def train(self, data, progress):
        train_together(self.jobs, data, progress)


def transfer_sources(config, task, masks_of):
    """Whose masks a task is fine-tuned under: the pre-training task's, and, for the second task of
    PRETRAINED_TICKETS["transfer"], the first's (when it ran)."""
    source, target = PRETRAINED_TICKETS["transfer"]
    return [config.dataset] + ([source] if task == target and source in masks_of else [])


def task_start(fresh, pretrained_state, seed):
    """The pre-trained weights in the task's network: all of them for a language model; all but the head
    for a classifier, whose head has another shape and starts new (from the seed)."""
    state = fresh(seed=derived_seed("task_head", seed)).state_dict()
    state.update({name: w for name, w in pretrained_state.items() if state[name].shape == w.shape})
    return state


def fresh_start(fresh, config):
    return fresh(seed=derived_seed("random_init", config.seed)).state_dict()


def arm_start(arm, start, mask, fresh, config, r):
    """(weights, mask) an arm trains from: the sweep's start under its mask (the ticket; at round 0 the
    dense network), fresh weights under it (reinit), or the start under a random mask (random_mask)."""
    if arm == "ticket":
        return start, mask
    if arm == "reinit":
        return fresh(seed=derived_seed("reinit", config.seed, 1000 * r)).state_dict(), mask
    generator = torch.Generator().manual_seed(derived_seed("random_mask", config.seed, r))
    return start, random_mask_like(mask, generator)


def pretrained_seeds(profile=None, seed=LESSON_SEED):
    """The profile's sweeps (PRETRAINED_TICKETS["seeds"]) from `seed` on, every one fine-tuning the network
    pre-trained from `seed`, and the dense fine-tuning alone on the profile's matching seeds (the first of
    them the sweeps'): (sweeps, dense), lists of PretrainedIMPResults."""
    profile = current_profile(profile)
    n, m = (PRETRAINED_TICKETS[key][profile] for key in ("seeds", "matching_seeds"))
    configs = [pretrained_config(profile=profile, seed=seed + i, pretrain_seed=seed) for i in range(max(n, m))]
    results = [run_pretrained(c if i < n else replace(c, rounds=0)) for i, c in enumerate(configs)]
    return results[:n], results[:m]


run_pretrained = register(
    "pretrained-imp",
    PretrainedIMPConfig,
    run_pretrained_imp,
    PretrainedIMPResult,
    "tickets in a pre-trained transformer: IMP rewound to the pre-trained weights, its controls, transfers",
    defaults=lambda dataset, model, profile, train: dict(
        rounds=PRETRAINED_TICKETS["rounds"][current_profile(profile)],
        pretrain_iterations=PRETRAINED_TICKETS["pretrain_iterations"][current_profile(profile)],
    ),
    network=PRETRAINED_TICKETS["pretraining"],
    recipe=finetuning_recipe,
)
pretrained_config = run_pretrained.config
