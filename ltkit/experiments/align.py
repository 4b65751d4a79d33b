"""Permutation symmetry: part of the barrier between two networks is only an ordering of hidden units.

Reorder the hidden units of a layer (their rows in that layer's weights and biases, their columns in the
next layer's weights) and the network computes exactly the same function. Two networks trained from
different initialisations may have learned similar units in different orders; the straight line between
them then mixes unrelated units and crosses a barrier. Weight matching (Ainsworth et al. 2023, "Git
Re-Basin"; the conjecture of Entezari et al. 2022) reorders the second network's units to resemble the
first's: for one layer at a time, it picks the ordering that maximises the summed inner products of
matched units' weights, with the two neighbouring layers' orderings held fixed (a linear assignment
problem, scipy's `linear_sum_assignment`), and sweeps over the layers until no ordering changes.

This module aligns networks of fully connected layers (the MLP and LeNet-300-100).
"""

from dataclasses import dataclass

import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from ltkit.engine.training import TrainConfig
from ltkit.errors import LtkitError
from ltkit.experiments.dense import independent_networks, new_model
from ltkit.experiments.paths import PathResult, TwoNetworksConfig, evaluate_line
from ltkit.experiments.profiles import sizes
from ltkit.experiments.registry import register
from ltkit.settings import setting


@dataclass(frozen=True)
class AlignConfig(TwoNetworksConfig):
    """The two networks (those of the curves), and weight matching between them."""

    max_sweeps: int = setting(100, "weight matching stops after this many sweeps over the layers at most")

    def __post_init__(self):
        super().__post_init__()
        if self.max_sweeps < 1:
            raise LtkitError(f"weight matching needs at least one sweep; got max_sweeps={self.max_sweeps}")


def linear_layers(model):
    """The names of `model`'s fully connected layers, input to output: the layers whose units can be
    reordered. A model with other parameters (convolutions, BatchNorm) is refused."""
    layers = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    covered = {f"{layer}.{kind}" for layer in layers for kind in ("weight", "bias")}
    others = [name for name, _ in model.named_parameters() if name not in covered]
    if others or len(layers) < 2:
        raise LtkitError(
            f"weight matching here aligns networks of fully connected layers only (mlp, lenet300_100); "
            f"{type(model).__name__} has other parameters ({', '.join(others[:3]) or 'no hidden layer'})"
        )
    return layers


def permute_units(state, layers, orders):
    """`state` with the hidden units of layer i put in the order `orders[i]` (a permutation of its
    units: new unit j is old unit orders[i][j]). The network computes the same function."""
    permuted = dict(state)
    for i, layer in enumerate(layers):
        weight, bias = state[f"{layer}.weight"], state[f"{layer}.bias"]
        if i < len(orders):  # the output layer's units (the classes) keep their order
            weight, bias = weight[orders[i]], bias[orders[i]]
        if i > 0:
            weight = weight[:, orders[i - 1]]
        permuted[f"{layer}.weight"], permuted[f"{layer}.bias"] = weight, bias
    return permuted


def match_weights(reference, other, layers, max_sweeps=100, seed=0):
    """Orders of `other`'s hidden units that make its weights most like `reference`'s (weight matching).
    Returns (orders, sweeps over the layers until none changed)."""
    orders = [torch.arange(reference[f"{layer}.bias"].numel()) for layer in layers[:-1]]
    generator = torch.Generator().manual_seed(seed)
    for sweep in range(1, max_sweeps + 1):
        changed = False
        for i in torch.randperm(len(orders), generator=generator).tolist():
            best = torch.as_tensor(best_order(reference, other, layers, orders, i))
            changed |= not torch.equal(best, orders[i])
            orders[i] = best
        if not changed:
            return orders, sweep
    return orders, max_sweeps


def best_order(reference, other, layers, orders, i):
    """The order of layer i's units of `other` that maximises their similarity to `reference`'s: the
    inner products of each pair of units' incoming weights and biases and outgoing weights, with the
    orders of the layers before and after as they are."""
    here, after = layers[i], layers[i + 1]
    incoming = other[f"{here}.weight"] if i == 0 else other[f"{here}.weight"][:, orders[i - 1]]
    outgoing = other[f"{after}.weight"] if i + 1 == len(orders) else other[f"{after}.weight"][orders[i + 1]]
    similarity = (
        reference[f"{here}.weight"] @ incoming.T
        + torch.outer(reference[f"{here}.bias"], other[f"{here}.bias"])
        + reference[f"{after}.weight"].T @ outgoing
    )
    _, columns = linear_sum_assignment(similarity.double().cpu().numpy(), maximize=True)
    return columns


@dataclass
class AlignResult:
    """Two independently trained networks: the straight line between them, before and after the second
    network's hidden units are reordered to match the first's."""

    config: AlignConfig
    seeds: list  # of the two networks
    line: PathResult  # before alignment
    aligned: PathResult  # after
    sweeps: int  # weight matching's sweeps over the layers

    def summary(self):
        return dict(barrier_before=self.line.barrier, barrier_after=self.aligned.barrier)

    def table(self):
        """One AlignRow per alpha: the test error on the line, and on the line after alignment."""
        return [
            AlignRow(before["t"], before["test_err"], after["test_err"])
            for before, after in zip(self.line.points(), self.aligned.points())
        ]

    def to_json(self):
        """Both lines point by point, and their barriers (what `ltkit align --json` writes)."""
        return dict(
            config=self.config.to_dict(),
            seeds=self.seeds,
            **self.summary(),
            line=self.line.points(),
            aligned=self.aligned.points(),
        )


@dataclass
class AlignRow:
    alpha: float
    line_test_err: float  # before alignment
    aligned_test_err: float


def alignment_run(config, context):
    """The alignment of `config`'s two networks, measured now or loaded from the cache."""
    linear_layers(new_model(config, context.data))  # refuse a convolutional network before training anything
    run = context.run("align", config, records=(AlignResult, PathResult, AlignConfig, TrainConfig))
    return run.cached("result", lambda: align(config, context), device=context.device)


def align(config, context):
    """Weight matching between the two independently trained networks (the same two as the curves'), and
    the line between them before and after."""
    data = context.data
    seeds, (first, second) = independent_networks(config, context)
    model = new_model(config, data)
    layers = linear_layers(model)
    orders, sweeps = match_weights(first, second, layers, config.max_sweeps, config.seed)
    measure = dict(data=data, points=config.points, train_examples=config.train_examples)
    return AlignResult(
        config=config,
        seeds=list(seeds),
        line=evaluate_line(model, first, second, **measure),
        aligned=evaluate_line(model, first, permute_units(second, layers, orders), **measure),
        sweeps=sweeps,
    )


run_alignment = register(
    "align",
    AlignConfig,
    alignment_run,
    AlignResult,
    "the line between two independently trained networks, before and after aligning their hidden units",
    defaults=lambda dataset, model, profile, train: sizes(profile, "curve"),  # measured as the curves are
)
align_config = run_alignment.config
