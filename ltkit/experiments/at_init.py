"""Pruning at initialisation: can a ticket be found before training, and what do such methods really find?

Lottery tickets need the network trained (IMP trains it once per round). Methods that prune at
initialisation score every weight of W_0 and keep the best-scoring fraction, globally, in one go:
- SNIP (Lee et al. 2019, https://arxiv.org/abs/1810.02340): |w * dL/dw| on training data, the loss's
  sensitivity to removing each weight;
- GraSP (Wang et al. 2020, https://arxiv.org/abs/2002.07376): -w * (H g), to first order the change in the
  gradient's squared norm if the weight were removed; it keeps the *lowest* scores, the weights whose removal
  would reduce the gradient flow most, on the loss of the logits divided by a temperature (200, as in Wang
  et al.'s code);
- SynFlow (Tanaka et al. 2020, https://arxiv.org/abs/2006.05467): |w * dR/dw| with R the output of the
  network with every weight made positive on an input of ones: no data at all, and iterative (100 rounds,
  the kept fraction shrinking exponentially), so that no layer is cut off;
- magnitude at initialisation (|w| of W_0) and random pruning (each layer keeps the same fraction), the
  baselines.
Frankle et al. 2021 ("Pruning Neural Networks at Initialization: Why Are We Missing the Mark?",
https://arxiv.org/abs/2009.08576) check what such a mask knows: shuffle it within each layer, re-initialise
the kept weights, or invert the scores (keep the worst). At-init methods keep their accuracy when shuffled
or re-initialised, as if only each layer's fraction mattered; IMP's tickets do not.

`ltkit.run_prune_at_init(config)` trains every method's subnetwork at IMP's sparsities, with its checks, each
from W_0 by the same recipe, all as stacks (ltkit.engine.stacked), cached one by one. IMP's checks are the
controls its sweep trains anyway: random pruning on W_k is its mask shuffled within layers.
"""

from dataclasses import asdict, dataclass, field
from functools import partial

import torch
import torch.nn.functional as F

from ltkit.engine.masks import RATES_HELP, SCOPE_HELP, SCOPES, keep_best, layer_kinds, random_mask_like
from ltkit.engine.models import check_network
from ltkit.engine.stacked import Job, save_result, train_together
from ltkit.engine.training import TrainConfig, TrainResult
from ltkit.errors import LtkitError
from ltkit.experiments.dense import new_model
from ltkit.experiments.imp import IMPConfig, imp_sweeps
from ltkit.experiments.profiles import pruning, sizes
from ltkit.experiments.registry import register
from ltkit.experiments.seeds import derived_seed
from ltkit.experiments.stats import spread
from ltkit.settings import Settings, setting

SCORED = ("snip", "grasp", "synflow", "magnitude")  # methods that rank weights (and can be inverted)
METHODS = (*SCORED, "random", "imp")
CHECKS = ("shuffled", "reinit", "inverted")
TRAINED = [("random", ""), *((method, check) for method in SCORED for check in ("", *CHECKS))]  # per round
COMPARED_ROUNDS = (2, 5, 8, 10, 13, 16, 20)  # IMP rounds compared, as far as the profile's sweeps go


@dataclass(frozen=True)
class PruneAtInitConfig(Settings):
    NOT_IN_KEY = ("rounds",)  # each sparsity's networks are cached by their round: more rounds extend fewer

    dataset: str
    model: str
    train: TrainConfig
    rounds: tuple = setting((2, 5, 8, 10), "IMP rounds whose sparsities every method is compared at", item=int)
    seed: int = setting(0, "initialisation and data-order seed")
    rates: object = setting(0.2, f"IMP's sweep: {RATES_HELP}")
    scope: str = setting("layerwise", f"IMP's sweep: {SCOPE_HELP}", choices=SCOPES)
    rewind_iter: int = setting(0, "IMP's k: its tickets rewind to the weights at iteration k")
    score_examples: int = setting(1000, "training examples SNIP and GraSP score on")
    grasp_temperature: float = setting(200.0, "GraSP divides the logits by it before the loss (Wang et al.: 200)")
    synflow_iterations: int = setting(100, "SynFlow's rounds of scoring and pruning")

    def __post_init__(self):
        check_network(self)
        if not self.rounds or min(self.rounds) < 1:
            raise LtkitError(f"rounds must be IMP rounds of 1 or more; got {self.rounds}")
        if self.score_examples < 1:
            raise LtkitError(f"SNIP and GraSP need at least one example to score on; got {self.score_examples}")
        if self.grasp_temperature <= 0:
            raise LtkitError(f"grasp_temperature divides the logits: it must be positive; got {self.grasp_temperature}")
        if self.synflow_iterations < 1:
            raise LtkitError(f"SynFlow needs at least one iteration; got {self.synflow_iterations}")
        imp_sweep(self)  # which checks IMP's settings


def imp_sweep(config):
    """The IMP sweep (with both controls) whose rounds set the sparsities: lesson 03's, for k=0."""
    return IMPConfig(
        config.dataset,
        config.model,
        config.train,
        rates=config.rates,
        scope=config.scope,
        rounds=max(config.rounds),
        rewind_iter=config.rewind_iter,
        seed=config.seed,
    )


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


def grasp_scores(model, x, y, temperature):
    """-w * (H g) (Wang et al. 2020), g the gradient and H the Hessian of the loss on the logits divided by
    `temperature`; the lowest scores are kept. Step for step the reference code (GraSP.score of Tanaka et
    al.'s Synaptic-Flow, after Wang et al.'s): the tempered loss's gradient g without a graph, then again with
    one, and H g as the gradient of their dot product. The reference removes the lowest w * (H g), which keeps
    the same weights, after dividing all the scores by |their sum|, which leaves their ranking as it is."""
    weights = prunable(model)
    params = list(weights.values())

    def tempered_loss():
        return F.cross_entropy(model(x) / temperature, y)

    g = torch.autograd.grad(tempered_loss(), params)  # no graph: a constant of the product below
    grads = torch.autograd.grad(tempered_loss(), params, create_graph=True)
    hg = torch.autograd.grad(sum((a * b).sum() for a, b in zip(grads, g)), params)
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


def top_fraction_mask(scores, weights_remaining, keep_lowest=False, mask=None):
    """The mask keeping the best-scoring `weights_remaining` of all the weights scored together (the
    highest scores, or the lowest; only among those `mask` keeps, if given), and the best weight of any
    layer left without one, so none is cut off: masks.keep_best, the ranking IMP prunes by too."""
    signed = {name: -s if keep_lowest else s for name, s in scores.items()}
    mask = mask or {name: torch.ones_like(s, dtype=torch.bool) for name, s in scores.items()}
    total = sum(s.numel() for s in scores.values())
    return keep_best(signed, mask, keep=max(1, round(weights_remaining * total)))


def score_mask(method, config, data, weights_remaining, invert=False):
    """The mask `method` keeps at `weights_remaining` of W_0 (inverted: the worst-scoring weights)."""
    if method == "synflow":
        return synflow_mask(config, data, weights_remaining, invert)
    model = new_model(config, data)
    if method == "magnitude":
        scores = {name: w.detach().abs() for name, w in prunable(model).items()}
    else:
        generator = torch.Generator().manual_seed(config.seed)
        idx = torch.randperm(len(data.y_train), generator=generator)[: config.score_examples].to(data.device)
        x, y = data.x_train[idx], data.y_train[idx]
        scores = snip_scores(model, x, y) if method == "snip" else grasp_scores(model, x, y, config.grasp_temperature)
    keep_lowest = (method == "grasp") != invert
    return top_fraction_mask(scores, weights_remaining, keep_lowest)


def synflow_mask(config, data, weights_remaining, invert=False):
    """SynFlow's iterative pruning: scores recomputed on the masked network as the kept fraction shrinks
    exponentially from 1 to `weights_remaining` over config.synflow_iterations; inverted, each step keeps
    the lowest scores instead. Scored on the CPU in float64 (R is a product of many weights; some GPUs
    have no float64)."""
    model = new_model(config, data).to("cpu").double()
    mask = {name: torch.ones_like(w, dtype=torch.bool) for name, w in prunable(model).items()}
    for i in range(1, config.synflow_iterations + 1):
        with torch.no_grad():
            for name, w in prunable(model).items():
                w.mul_(mask[name])
        scores = synflow_scores(model, data.input_shape)
        mask = top_fraction_mask(scores, weights_remaining ** (i / config.synflow_iterations), invert, mask)
    return {name: keep.to(data.device) for name, keep in mask.items()}


def check_seed(config, method, r):
    """The seed of a random choice for `method` at round r: apart for every experiment seed, method and
    round (so no two checks share a permutation, and no seed's checks repeat another seed's)."""
    return derived_seed("check", config.seed, 100 * METHODS.index(method) + r)


def shuffled(mask, seed):
    """The mask's kept positions shuffled within each layer: the same per-layer fractions, nothing else."""
    return random_mask_like(mask, torch.Generator().manual_seed(seed))


# --- the experiment ----------------------------------------------------------------------------------------


@dataclass
class PruneAtInitRow:
    method: str
    weights_remaining: float
    final_test_acc: float
    shuffled_final_test_acc: float  # None where the method has no such check
    reinit_final_test_acc: float
    inverted_final_test_acc: float


@dataclass
class PruneAtInitResult:
    config: PruneAtInitConfig
    weights_remaining: list  # per compared round
    results: dict = field(repr=False)  # {(method, check or "", round): TrainResult}

    def table(self):
        """One PruneAtInitRow per method and compared sparsity: the final test accuracy of the method's
        subnetwork, and of each of its checks."""
        return [
            PruneAtInitRow(method, kept, *(self.final_test_acc(method, check, r) for check in ("", *CHECKS)))
            for method in METHODS
            for r, kept in zip(self.config.rounds, self.weights_remaining)
        ]

    def final_test_acc(self, method, check, r):
        """The final test accuracy of `method`'s subnetwork (or of its `check`) at round r; None if not trained."""
        result = self.results.get((method, check, r))
        return result and result.final_test_acc

    def to_json(self):
        """{"methods": {method: [one row per sparsity: weights_remaining, final_test_acc, and each check's]}}."""
        methods = {method: [] for method in METHODS}
        for row in self.table():
            figures = {name: value for name, value in asdict(row).items() if value is not None}
            methods[figures.pop("method")].append(figures)
        return dict(config=self.config.to_dict(), methods=methods)


def methods_across_seeds(results, check=""):
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


def prune_at_init(config, context):
    """Every method at IMP's sparsities (config.rounds), with the checks, trained and cached."""
    imp = imp_sweeps([imp_sweep(config)], context)[0]
    run = context.run("prune_at_init", config, records=(TrainResult,))
    results, jobs = {}, []
    for r in config.rounds:
        jobs += round_jobs(config, context.data, run, imp.rounds[r], results)
    train_together(jobs, context.data, context.progress)
    kept = [imp.rounds[r].weights_remaining for r in config.rounds]
    return PruneAtInitResult(config=config, weights_remaining=kept, results=results)


def round_jobs(config, data, run, record, results):
    """The networks still to train at IMP's round `record`, as Jobs; what is done goes into `results` at
    once. IMP's own checks are the controls its sweep trains anyway: random pruning (its mask shuffled
    within layers, on W_k) and random re-initialisation."""
    r = record.round
    results[("imp", "", r)] = record.results["ticket"]
    results[("imp", "shuffled", r)] = record.results["random_mask"]
    results[("imp", "reinit", r)] = record.results["reinit"]
    steps = {(method, check, r): f"{method}_{check or 'plain'}_round{r:02d}" for method, check in TRAINED}
    results.update({key: run.load(step, data.device) for key, step in steps.items() if run.has(step)})
    if all(key in results for key in steps):
        return []  # the whole round is cached: no scoring either
    jobs = []
    for method, check, state, mask in subnetworks(config, data, record):
        key = (method, check, r)
        if key not in results:
            model = new_model(config, data)
            model.load_state_dict(state)
            done = partial(save_result, run, steps[key], results, key)
            jobs.append(Job(model, config.train, mask, config.seed, 0, f"{method} {check} {r}".strip(), done))
    return jobs


def subnetworks(config, data, record):
    """(method, check, weights, mask) of every network trained at IMP's round `record`, all from iteration
    0: random pruning (each layer keeps IMP's fraction, at random), and each scored method's mask, plain,
    shuffled within layers, on re-initialised weights, and from its inverted scores."""
    w0 = new_model(config, data).state_dict()
    kept = record.weights_remaining
    random_order = torch.Generator().manual_seed(check_seed(config, "random", record.round))
    yield "random", "", w0, random_mask_like(record.mask, random_order, weights_remaining=kept)
    for method in SCORED:
        seed = check_seed(config, method, record.round)
        mask = score_mask(method, config, data, kept)
        yield method, "", w0, mask
        yield method, "shuffled", w0, shuffled(mask, seed)
        yield method, "reinit", new_model(config, data, seed=seed).state_dict(), mask
        yield method, "inverted", w0, score_mask(method, config, data, kept, invert=True)


def at_init_defaults(dataset, model, profile, train):
    """IMP pruned as the paper prunes the network (lesson 03's sweep), compared at rounds 2, 5, 8 and 10
    (64%, 33%, 17% and 11% of the weights left, pruned like LeNet), and 13, 16, 20 where the profile's
    sweeps go that far; fewer where they are shorter."""
    rounds = sizes(profile, "imp")["rounds"]
    return dict(**pruning(model), rounds=tuple(r for r in COMPARED_ROUNDS if r <= rounds))


run_prune_at_init = register(
    "prune-at-init",
    PruneAtInitConfig,
    prune_at_init,
    PruneAtInitResult,
    "SNIP, GraSP, SynFlow, magnitude and random pruning at initialisation against IMP, with their checks",
    defaults=at_init_defaults,
)
prune_at_init_config = run_prune_at_init.config
