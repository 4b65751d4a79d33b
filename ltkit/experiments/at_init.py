"""Pruning at initialisation: can a ticket be found before training, and what do such methods really find?

Lottery tickets need the network trained (IMP trains it once per round). Methods that prune at
initialisation score every weight of W_0 and keep the best-scoring fraction, globally, in one go:
- SNIP (Lee et al. 2019, https://arxiv.org/abs/1810.02340): |w * dL/dw| on training data, the loss's
  sensitivity to removing each weight;
- GraSP (Wang et al. 2020, https://arxiv.org/abs/2002.07376): -w * (H g), keeping the weights whose removal
  least reduces the gradient's flow (it keeps the *lowest* scores);
- SynFlow (Tanaka et al. 2020, https://arxiv.org/abs/2006.05467): |w * dR/dw| with R the output of the
  network with every weight made positive on an input of ones: no data at all, and iterative (100 rounds,
  the kept fraction shrinking exponentially), so that no layer is cut off;
- magnitude at initialisation (|w| of W_0) and random pruning (each layer keeps the same fraction), the
  baselines.
Frankle et al. 2021 ("Pruning Neural Networks at Initialization: Why Are We Missing the Mark?",
https://arxiv.org/abs/2009.08576) check what such a mask knows: shuffle it within each layer, re-initialise
the kept weights, or invert the scores (keep the worst). At-init methods keep their accuracy when shuffled
or re-initialised, as if only each layer's fraction mattered; IMP's tickets do not.

`run_prune_at_init(config)` trains every method's subnetwork at IMP's sparsities, with its checks, each
from W_0 by the same recipe, all as stacks (ltkit.engine.stacked), cached one by one. IMP's checks are the
controls its sweep trains anyway: random pruning on W_k is its mask shuffled within layers. GraSP is scored
on the plain loss, without the temperature (logits divided by 200) of Wang et al.'s code.
"""

import math
from dataclasses import dataclass, field
from functools import partial

import torch
import torch.nn.functional as F

from ltkit.engine.datasets import data_for
from ltkit.engine.masks import layer_kinds, random_mask_like
from ltkit.engine.models import check_network
from ltkit.engine.stacked import Job, save_result, train_together
from ltkit.engine.training import TrainConfig, TrainResult
from ltkit.errors import LtkitError
from ltkit.experiments.dense import new_model
from ltkit.experiments.imp import IMPConfig, run_imp
from ltkit.experiments.profiles import pruning, sizes, training_recipe, with_overrides
from ltkit.experiments.stats import spread
from ltkit.settings import Settings
from ltkit.store.runs import Run

SCORED = ("snip", "grasp", "synflow", "magnitude")  # methods that rank weights (and can be inverted)
METHODS = (*SCORED, "random", "imp")
CHECKS = ("shuffled", "reinit", "inverted")
TRAINED = [("random", ""), *((method, check) for method in SCORED for check in ("", *CHECKS))]  # per round


@dataclass(frozen=True)
class PruneAtInitConfig(Settings):
    NOT_IN_KEY = ("rounds",)  # each sparsity's networks are cached by their round: more rounds extend fewer

    dataset: str
    model: str
    train: TrainConfig
    rounds: tuple = (2, 5, 8, 10)  # IMP rounds whose sparsities every method is compared at
    seed: int = 0
    rewind_iter: int = 0  # IMP's k
    score_examples: int = 1000  # training examples SNIP and GraSP score on
    synflow_iterations: int = 100

    def __post_init__(self):
        check_network(self)
        if not self.rounds or min(self.rounds) < 1:
            raise LtkitError(f"rounds must be IMP rounds of 1 or more; got {self.rounds}")


def prune_at_init_config(dataset, model, profile=None, epochs=None, **fields):
    """The PruneAtInitConfig of `model` on `dataset` in a profile (`epochs` resizes its runs); other keyword
    arguments replace its fields. By default it compares at IMP rounds 2, 5, 8 and 10 (64%, 33%, 17% and
    11% of the weights pruned like LeNet), fewer if the profile's sweeps are shorter."""
    train = training_recipe(dataset, model, profile, epochs)
    rounds = sizes(profile, "imp")["rounds"]
    defaults = dict(rounds=tuple(r for r in (2, 5, 8, 10, 13, 16, 20) if r <= rounds))
    fields = with_overrides(defaults, fields, PruneAtInitConfig, "prune_at_init_config")
    return PruneAtInitConfig(dataset, model, train, **fields)


# --- scores ------------------------------------------------------------------------------------------------


def prunable(model):
    params = dict(model.named_parameters())
    return {name: params[name] for name in layer_kinds(model)}


def snip_scores(model, x, y):
    """|w * dL/dw| (Lee et al. 2019)."""
    weights = prunable(model)
    loss = F.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, list(weights.values()))
    return {name: (w * g).abs().detach() for (name, w), g in zip(weights.items(), grads)}


def grasp_scores(model, x, y):
    """-w * (H g) (Wang et al. 2020): g the loss's gradient, H its Hessian; the lowest scores are kept."""
    weights = prunable(model)
    g = [t.detach() for t in torch.autograd.grad(F.cross_entropy(model(x), y), list(weights.values()))]
    grads = torch.autograd.grad(F.cross_entropy(model(x), y), list(weights.values()), create_graph=True)
    hg = torch.autograd.grad(sum((a * b).sum() for a, b in zip(grads, g)), list(weights.values()))
    return {name: -(w * h).detach() for (name, w), h in zip(weights.items(), hg)}


def synflow_scores(model, input_shape):
    """|w * dR/dw| (Tanaka et al. 2020), R the sum of the outputs of the network with |w| on all ones."""
    weights = prunable(model)
    signs = {name: torch.sign(p.detach()) for name, p in model.state_dict().items() if p.is_floating_point()}
    with torch.no_grad():
        for p in model.state_dict().values():
            if p.is_floating_point():
                p.abs_()
    model.eval()
    output = model(torch.ones(1, *input_shape, device=next(model.parameters()).device, dtype=torch.float64))
    grads = torch.autograd.grad(output.sum(), list(weights.values()))
    scores = {name: (w * g).abs().detach() for (name, w), g in zip(weights.items(), grads)}
    with torch.no_grad():
        for name, p in model.state_dict().items():
            if p.is_floating_point():
                p.mul_(signs[name])
    model.train()
    return scores


def top_fraction_mask(scores, weights_remaining, keep_lowest=False):
    """The mask keeping the best-scoring `weights_remaining` of all the weights scored together (the
    highest scores, or the lowest): exactly that many, ties broken by position. Each layer keeps at least
    its best weight, so none is cut off."""
    signed = {name: -s if keep_lowest else s for name, s in scores.items()}
    flat = torch.cat([s.flatten() for s in signed.values()])
    chosen = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    chosen[torch.topk(flat, max(1, round(weights_remaining * flat.numel()))).indices] = True
    pieces = chosen.split([s.numel() for s in signed.values()])
    mask = {name: piece.view_as(s) for (name, s), piece in zip(signed.items(), pieces)}
    for name, s in signed.items():
        if not mask[name].any():
            mask[name].view(-1)[torch.argmax(s)] = True
    return mask


def score_mask(method, config, data, weights_remaining, invert=False):
    """The mask `method` keeps at `weights_remaining` of W_0 (inverted: the worst-scoring weights)."""
    model = new_model(config, data)
    if method == "magnitude":
        scores = {name: w.detach().abs() for name, w in prunable(model).items()}
    elif method == "synflow":
        return synflow_mask(config, data, weights_remaining, invert)
    else:
        generator = torch.Generator().manual_seed(config.seed)
        idx = torch.randperm(len(data.y_train), generator=generator)[: config.score_examples].to(data.device)
        score = snip_scores if method == "snip" else grasp_scores
        scores = score(model, data.x_train[idx], data.y_train[idx])
    keep_lowest = (method == "grasp") != invert
    return top_fraction_mask(scores, weights_remaining, keep_lowest)


def synflow_mask(config, data, weights_remaining, invert=False):
    """SynFlow's iterative pruning: scores recomputed on the masked network as the kept fraction shrinks
    exponentially from 1 to `weights_remaining` over config.synflow_iterations; inverted, each step keeps
    the lowest scores instead. Scored on the CPU in float64 (R is a product of many weights; some GPUs
    have no float64)."""
    model = new_model(config, data).to("cpu").double()
    mask = {name: torch.ones_like(w, dtype=torch.bool) for name, w in prunable(model).items()}
    pruned_score = math.inf if invert else -math.inf  # never chosen again
    for i in range(1, config.synflow_iterations + 1):
        with torch.no_grad():
            for name, w in prunable(model).items():
                w.mul_(mask[name])
        scores = synflow_scores(model, data.input_shape)
        scores = {name: torch.where(mask[name], s, pruned_score) for name, s in scores.items()}
        mask = top_fraction_mask(scores, weights_remaining ** (i / config.synflow_iterations), invert)
    return {name: keep.to(data.device) for name, keep in mask.items()}


def check_seed(config, method, r):
    """The seed of a random choice for `method` at round r: apart for every experiment seed, method and
    round (so no two checks share a permutation, and no seed's checks repeat another seed's)."""
    return 7_000_000 + 10_000 * config.seed + 100 * METHODS.index(method) + r


def shuffled(mask, seed):
    """The mask's kept positions shuffled within each layer: the same per-layer fractions, nothing else."""
    return random_mask_like(mask, torch.Generator().manual_seed(seed))


# --- the experiment ----------------------------------------------------------------------------------------


@dataclass
class PruneAtInitResult:
    config: PruneAtInitConfig
    weights_remaining: list  # per compared round
    results: dict = field(repr=False)  # {(method, check or "", round): TrainResult}

    def to_json(self):
        """{"methods": {method: [one row per sparsity: weights_remaining, final_test_acc, and each check's]}}."""
        methods = {}
        for method in METHODS:
            rows = []
            for r, kept in zip(self.config.rounds, self.weights_remaining):
                row = dict(weights_remaining=kept, final_test_acc=self.results[(method, "", r)].final_test_acc)
                for check in CHECKS:
                    if (method, check, r) in self.results:
                        row[f"{check}_final_test_acc"] = self.results[(method, check, r)].final_test_acc
                rows.append(row)
            methods[method] = rows
        return dict(config=self.config.to_dict(), methods=methods)


def across_seeds(results, check=""):
    """Each method's final test accuracy (or that of its `check`: "shuffled", "reinit", "inverted") over
    several seeds' PruneAtInitResults, per compared sparsity: {method: {"weights_remaining", "mean", "std",
    "values"}}, the shape ltkit.course.plots.against_sparsity draws. Methods without that check are left out."""
    summary = {}
    for method in METHODS:
        keys = [(method, check, r) for r in results[0].config.rounds]
        if not all(key in result.results for key in keys for result in results):
            continue
        values = [[result.results[key].final_test_acc for result in results] for key in keys]
        summary[method] = spread(values, results[0].weights_remaining)
    return summary


def run_prune_at_init(config, data=None, device="cpu", cache=True, progress=True):
    """Every method at IMP's sparsities (config.rounds), with the checks, trained and cached."""
    data = data_for(config, data, device)
    imp = run_imp(imp_sweep(config), data=data, cache=cache, progress=progress)
    run = Run("prune_at_init", {**config.cache_key(), "split": data.split_id}, records=(TrainResult,), enabled=cache)
    results, jobs = {}, []
    for r in config.rounds:
        record = imp.rounds[r]
        results[("imp", "", r)] = record.results["ticket"]
        results[("imp", "shuffled", r)] = record.results["random_mask"]
        results[("imp", "reinit", r)] = record.results["reinit"]
        steps = {(method, check, r): f"{method}_{check or 'plain'}_round{r:02d}" for method, check in TRAINED}
        results.update({key: run.load(step, data.device) for key, step in steps.items() if run.has(step)})
        if all(key in results for key in steps):
            continue  # the whole round is cached: no scoring either
        for method, check, state, mask, start in starts(config, data, record):
            key = (method, check, r)
            if key in results:
                continue
            model = new_model(config, data)
            model.load_state_dict(state)
            done = partial(save_result, run, steps[key], results, key)
            jobs.append(Job(model, config.train, mask, config.seed, start, f"{method} {check} {r}".strip(), done))
    train_together(jobs, data, progress)
    kept = [imp.rounds[r].weights_remaining for r in config.rounds]
    return PruneAtInitResult(config=config, weights_remaining=kept, results=results)


def imp_sweep(config):
    """The IMP sweep (with both controls) whose rounds set the sparsities: lesson 03's, for k=0."""
    paper = pruning(config.model)
    return IMPConfig(
        config.dataset,
        config.model,
        config.train,
        rates=paper["rates"],
        scope=paper["scope"],
        rounds=max(config.rounds),
        rewind_iter=config.rewind_iter,
        seed=config.seed,
    )


def random_uniform(mask, weights_remaining, seed):
    """Random pruning: every layer keeps the same fraction `weights_remaining` of its weights, at random."""
    generator = torch.Generator().manual_seed(seed)
    counts = {name: max(1, round(weights_remaining * keep.numel())) for name, keep in mask.items()}
    return random_mask_like({name: full_count(keep, counts[name]) for name, keep in mask.items()}, generator)


def full_count(keep, count):
    """A mask of `keep`'s shape keeping its first `count` positions (random_mask_like then scatters them)."""
    flat = torch.zeros(keep.numel(), dtype=torch.bool, device=keep.device)
    flat[:count] = True
    return flat.view_as(keep)


def starts(config, data, record):
    """(method, check, weights, mask, start iteration) of every network to train at IMP's round `record`.
    IMP's own checks are its sweep's controls: random pruning (its mask shuffled within layers, on W_k)
    and random re-initialisation."""
    w0 = new_model(config, data).state_dict()
    kept = record.weights_remaining
    yield "random", "", w0, random_uniform(record.mask, kept, check_seed(config, "random", record.round)), 0
    for method in SCORED:
        seed = check_seed(config, method, record.round)
        mask = score_mask(method, config, data, kept)
        yield method, "", w0, mask, 0
        yield method, "shuffled", w0, shuffled(mask, seed), 0
        yield method, "reinit", new_model(config, data, seed=seed).state_dict(), mask, 0
        yield method, "inverted", w0, score_mask(method, config, data, kept, invert=True), 0
