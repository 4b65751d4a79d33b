"""Masks: which weights a pruned network keeps.

A mask is a plain dict {parameter name: bool tensor of the weight's shape}, True where the weight stays.
Only the weights of convolutional and linear layers and of embeddings are prunable; biases, BatchNorm and
LayerNorm parameters never are. Each prunable weight has a kind, because the papers prune the kinds at
different rates (Frankle & Carbin: fc 20%, output 10% per round for LeNet; conv and fc apart for Conv-2/4/6):
- "conv", "fc", and "output" (the last linear layer, a transformer's head too);
- in a transformer: "embedding" (the character embedding), "attention" (query, key, value and output
  projections) and "mlp" (the block's two linear layers), as Chen et al. (2020) treat BERT's parts apart.
  The position embedding is not pruned: it is small (context x width) and is the network's only sense of
  order, so, like a bias, removing its entries saves little and breaks something specific.

A pruning rate is always a fraction of the weights that *remain*: 20% per round leaves 80%, 64%, 51%...
"""

import torch
from torch import nn

from ltkit.engine.transformer import CausalSelfAttention, FeedForward
from ltkit.errors import LtkitError

KINDS = ("conv", "fc", "output", "embedding", "attention", "mlp")
BLOCK_KINDS = {CausalSelfAttention: "attention", FeedForward: "mlp"}  # the kind of every linear layer inside
SCOPES = ("layerwise", "global")
RATES_HELP = "fraction of the remaining weights pruned a round: one number, or kind=rate,... (default: the paper's)"
SCOPE_HELP = "layerwise: every layer at its kind's rate; global: all pruned layers ranked together"


def check_scope(scope):
    if scope not in SCOPES:
        raise LtkitError(f"unknown pruning scope {scope!r}; use 'layerwise' or 'global'")


def check_pruning(rates, scope):
    """Refuse pruning rates or a scope that make no sense, saying which would."""
    as_rates(rates)
    check_scope(scope)


def layer_kinds(model):
    """{weight name: its kind (one of KINDS)} for every prunable weight of `model`, in order."""
    kinds, blocks = {}, {}
    for name, module in model.named_modules():
        if type(module) in BLOCK_KINDS:
            blocks[f"{name}."] = BLOCK_KINDS[type(module)]
        if isinstance(module, (nn.Conv1d, nn.Conv2d)):
            kinds[f"{name}.weight"] = "conv"
        elif isinstance(module, nn.Embedding):
            kinds[f"{name}.weight"] = "embedding"
        elif isinstance(module, nn.Linear):
            inside = [kind for prefix, kind in blocks.items() if name.startswith(prefix)]
            kinds[f"{name}.weight"] = inside[-1] if inside else "fc"
    last_linear = [name for name, kind in kinds.items() if kind == "fc"][-1]
    kinds[last_linear] = "output"
    return kinds


def full_mask(model):
    """The mask of the dense network: every prunable weight kept."""
    params = dict(model.named_parameters())
    return {name: torch.ones_like(params[name], dtype=torch.bool) for name in layer_kinds(model)}


def as_rates(rates):
    """One number for every kind, or a dict per kind (missing kinds are not pruned), checked."""
    if not isinstance(rates, dict):
        rates = {kind: rates for kind in KINDS}
    unknown = set(rates) - set(KINDS)
    if unknown:
        raise LtkitError(f"unknown layer kind(s) {sorted(unknown)} in pruning rates; use {', '.join(KINDS)}")
    for kind, rate in rates.items():
        if not 0 <= rate < 1:
            raise LtkitError(
                f"pruning rate for {kind} layers must be a fraction in [0, 1) of the remaining weights; got {rate}"
            )
    return {kind: float(rates.get(kind, 0.0)) for kind in KINDS}


def prune_by_magnitude(weights, mask, rates, kinds, scope="layerwise"):
    """A new mask without the smallest-magnitude weights that `mask` still keeps.

    weights: {name: tensor} (a state_dict or dict(model.named_parameters())).
    rates: the fraction of each kind's *remaining* weights to remove (one number, or a dict per kind).
    scope: "layerwise" prunes each layer at its kind's rate; "global" ranks all pruned layers together
    by magnitude and removes one shared fraction of them, so some layers lose more than others.
    """
    rates = as_rates(rates)
    check_scope(scope)
    magnitudes = {name: weights[name].detach().abs() for name in mask}
    if scope == "layerwise":
        new_mask = {}
        for name, keep in mask.items():
            count = round(rates[kinds[name]] * int(keep.sum()))
            new_mask.update(keep_best({name: magnitudes[name]}, {name: keep}, drop=count))
        return new_mask
    pruned_kinds = {kind for kind, rate in rates.items() if rate > 0}
    shared = {rates[kind] for kind in pruned_kinds}
    if len(shared) > 1:
        raise LtkitError(
            f"global pruning removes one shared fraction, but the rates differ ({rates}); "
            f"pass one number, set a kind to 0 to leave it out, or use scope='layerwise'"
        )
    if not pruned_kinds:
        return dict(mask)
    pool = [name for name in mask if kinds[name] in pruned_kinds]
    count = round(shared.pop() * sum(int(mask[n].sum()) for n in pool))
    new_mask = dict(mask)
    new_mask.update(keep_best(magnitudes, {n: mask[n] for n in pool}, drop=count))
    return new_mask


def keep_best(scores, mask, keep=None, drop=None):
    """A new mask from ranking the entries `mask` keeps by `scores` (the higher the better), all the layers
    given together: the best `keep` of them, or all but the worst `drop`. Each layer's best entry stays
    either way, so no layer is ever cut off: when keeping, a layer that got none keeps it on top of the
    `keep`; when dropping, it is never dropped. Ties fall as torch.topk breaks them."""
    if (keep is None) == (drop is None):
        raise LtkitError("keep_best needs keep= (how many entries stay) or drop= (how many go), one of the two")
    ranked = {name: torch.where(kept, scores[name], -torch.inf) for name, kept in mask.items()}
    best = {name: torch.argmax(layer) for name, layer in ranked.items()}
    if keep is not None:
        chosen = highest(ranked, keep)
        for name, kept in chosen.items():
            if not kept.any() and mask[name].any():
                kept.view(-1)[best[name]] = True
        return chosen
    worst_first = {name: torch.where(kept, -scores[name], -torch.inf) for name, kept in mask.items()}
    for name, layer in worst_first.items():
        layer.view(-1)[best[name]] = -torch.inf  # never dropped
    dropped = highest(worst_first, drop)
    return {name: kept & ~dropped[name] for name, kept in mask.items()}


def highest(ranked, count):
    """{name: bool tensor}: the `count` highest entries of all the layers ranked together (fewer if fewer
    are above -inf, which marks the entries not to choose)."""
    flat = torch.cat([layer.flatten() for layer in ranked.values()])
    chosen = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    chosen[torch.topk(flat, min(count, int((flat > -torch.inf).sum()))).indices] = True
    pieces = chosen.split([layer.numel() for layer in ranked.values()])
    return {name: piece.view_as(layer) for (name, layer), piece in zip(ranked.items(), pieces)}


def random_mask_like(mask, generator, weights_remaining=None):
    """A random mask of `mask`'s layers, keeping in each as many weights as `mask` does (the random-pruning
    control), or else the fraction `weights_remaining` of each layer's weights (at least one)."""
    new_mask = {}
    for name, keep in mask.items():
        count = int(keep.sum()) if weights_remaining is None else max(1, round(weights_remaining * keep.numel()))
        order = torch.randperm(keep.numel(), generator=generator).to(keep.device)
        flat = torch.zeros(keep.numel(), dtype=torch.bool, device=keep.device)
        flat[order[:count]] = True
        new_mask[name] = flat.view_as(keep)
    return new_mask


@torch.no_grad()
def apply_mask(model, mask):
    """Set the pruned weights of `model` to zero, in place."""
    params = dict(model.named_parameters())
    for name, keep in mask.items():
        params[name].mul_(keep)


def fraction_remaining(mask):
    """The fraction of prunable weights the mask keeps."""
    return sum(int(m.sum()) for m in mask.values()) / sum(m.numel() for m in mask.values())


def sparsity_report(mask, kinds):
    """One row per layer (name, kind, kept, total, fraction kept), and a last row for the whole network."""
    rows = [
        dict(layer=n, kind=kinds[n], kept=int(m.sum()), total=m.numel(), fraction=int(m.sum()) / m.numel())
        for n, m in mask.items()
    ]
    kept, total = sum(r["kept"] for r in rows), sum(r["total"] for r in rows)
    rows.append(dict(layer="all", kind="", kept=kept, total=total, fraction=kept / total))
    return rows
