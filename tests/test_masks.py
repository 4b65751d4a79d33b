import pytest
import torch
from torch.nn.utils import prune

from ltkit.engine.masks import (
    apply_mask,
    fraction_remaining,
    full_mask,
    keep_best,
    layer_kinds,
    prune_by_magnitude,
    random_mask_like,
    sparsity_report,
)
from ltkit.engine.models import build_model
from ltkit.errors import LtkitError


def weights(model):
    return dict(model.named_parameters())


def test_only_conv_and_linear_weights_are_prunable_and_the_last_linear_is_the_output():
    kinds = layer_kinds(build_model("resnet20", (3, 32, 32)))
    assert all(name.endswith(".weight") for name in kinds)
    assert not any("bn" in name or name.startswith("bn") for name in kinds)  # BatchNorm scales are never pruned
    assert kinds["fc.weight"] == "output" and list(kinds.values()).count("output") == 1
    assert kinds["conv.weight"] == "conv"
    lenet = layer_kinds(build_model("lenet300_100", (1, 28, 28)))
    assert list(lenet.values()) == ["fc", "fc", "output"]
    assert list(layer_kinds(build_model("mlp", (40,))).values()) == ["fc", "fc", "output"]


def test_a_transformer_is_pruned_by_kind_and_its_norms_biases_and_positions_never():
    model = build_model("transformer", (32,), 96)
    kinds = layer_kinds(model)
    assert kinds["token.weight"] == "embedding" and kinds["head.weight"] == "output"
    assert kinds["blocks.1.attention.key.weight"] == "attention" and kinds["blocks.0.mlp.down.weight"] == "mlp"
    assert list(kinds.values()).count("attention") == 8 and list(kinds.values()).count("mlp") == 4
    assert not any("norm" in name or "bias" in name or "position" in name for name in kinds)
    rates = dict(embedding=0.1, attention=0.3, mlp=0.2, output=0.05)
    mask = prune_by_magnitude(weights(model), full_mask(model), rates, kinds)
    for row in sparsity_report(mask, kinds)[:-1]:
        assert row["fraction"] == pytest.approx(1 - rates[row["kind"]], abs=2e-3), row["layer"]


def test_the_rate_applies_to_the_weights_that_remain():
    model = build_model("lenet300_100", (1, 28, 28))
    kinds = layer_kinds(model)
    mask = full_mask(model)
    for _ in range(2):
        mask = prune_by_magnitude(weights(model), mask, 0.2, kinds)
        apply_mask(model, mask)
    for name, keep in mask.items():
        assert int(keep.sum()) == pytest.approx(0.64 * keep.numel(), abs=2), name  # 0.8 * 0.8, not 1 - 2 * 0.2


def test_each_kind_is_pruned_at_its_own_rate_and_biases_never():
    model = build_model("lenet300_100", (1, 28, 28))
    kinds = layer_kinds(model)
    mask = prune_by_magnitude(weights(model), full_mask(model), dict(fc=0.2, output=0.1), kinds)
    fractions = {row["layer"]: row["fraction"] for row in sparsity_report(mask, kinds)}
    assert fractions["layers.1.weight"] == pytest.approx(0.8, abs=1e-3)
    assert fractions["layers.5.weight"] == pytest.approx(0.9, abs=1e-3)
    assert set(mask) == set(kinds) and not any("bias" in name for name in mask)


def test_magnitude_means_absolute_value_so_large_negative_weights_survive():
    model = build_model("mlp", (4,))
    layer = model.layers[1]
    with torch.no_grad():
        layer.weight.copy_(torch.linspace(-1, 1, layer.weight.numel()).view_as(layer.weight))
    kinds = layer_kinds(model)
    mask = prune_by_magnitude(weights(model), full_mask(model), 0.5, kinds)["layers.1.weight"]
    kept = layer.weight[mask]
    assert kept.min() < -0.5 and kept.max() > 0.5  # both tails survive
    assert layer.weight[~mask].abs().max() <= kept.abs().min()


def test_pruned_weights_are_not_pruned_again_and_stay_pruned():
    model = build_model("mlp", (40,))
    kinds = layer_kinds(model)
    first = prune_by_magnitude(weights(model), full_mask(model), 0.5, kinds)
    apply_mask(model, first)
    second = prune_by_magnitude(weights(model), first, 0.5, kinds)
    for name in first:
        assert not (second[name] & ~first[name]).any()
        assert int(second[name].sum()) == round(int(first[name].sum()) * 0.5)


def test_global_pruning_shares_one_threshold_across_layers():
    model = build_model("lenet300_100", (1, 28, 28))
    kinds = layer_kinds(model)
    mask = prune_by_magnitude(weights(model), full_mask(model), 0.5, kinds, scope="global")
    assert fraction_remaining(mask) == pytest.approx(0.5, abs=1e-5)
    per_layer = [row["fraction"] for row in sparsity_report(mask, kinds)[:-1]]
    assert max(per_layer) - min(per_layer) > 0.1  # Glorot init: the wide first layer has the smallest weights
    threshold = max(weights(model)[n][~m].abs().max() for n, m in mask.items())
    assert all(weights(model)[n][m].abs().min() >= threshold for n, m in mask.items())


def test_a_zero_rate_prunes_nothing_in_either_scope():
    model = build_model("mlp", (40,))
    for scope in ("layerwise", "global"):
        mask = prune_by_magnitude(weights(model), full_mask(model), 0.0, layer_kinds(model), scope)
        assert fraction_remaining(mask) == 1.0


def test_global_pruning_can_leave_the_output_layer_out():
    model = build_model("lenet300_100", (1, 28, 28))
    kinds = layer_kinds(model)
    mask = prune_by_magnitude(weights(model), full_mask(model), dict(fc=0.2, output=0.0), kinds, scope="global")
    assert mask["layers.5.weight"].all()


def test_bad_rates_and_scopes_are_explained():
    model = build_model("mlp", (40,))
    kinds, mask = layer_kinds(model), full_mask(model)
    with pytest.raises(LtkitError, match=r"fraction in \[0, 1\)"):
        prune_by_magnitude(weights(model), mask, 1.5, kinds)
    with pytest.raises(LtkitError, match="unknown layer kind"):
        prune_by_magnitude(weights(model), mask, dict(dense=0.2), kinds)
    with pytest.raises(LtkitError, match="one shared fraction"):
        prune_by_magnitude(weights(model), mask, dict(fc=0.2, output=0.1), kinds, scope="global")
    with pytest.raises(LtkitError, match="unknown pruning scope"):
        prune_by_magnitude(weights(model), mask, 0.2, kinds, scope="local")


def test_random_masks_keep_the_same_count_in_every_layer_at_other_places():
    model = build_model("lenet300_100", (1, 28, 28))
    kinds = layer_kinds(model)
    mask = prune_by_magnitude(weights(model), full_mask(model), 0.8, kinds)
    random = random_mask_like(mask, torch.Generator().manual_seed(0))
    for name in mask:
        assert int(random[name].sum()) == int(mask[name].sum())
        overlap = int((random[name] & mask[name]).sum()) / int(mask[name].sum())
        assert overlap == pytest.approx(0.2, abs=0.05)  # independent of the magnitudes


def test_apply_mask_zeroes_exactly_the_pruned_weights():
    model = build_model("mlp", (40,))
    kinds = layer_kinds(model)
    mask = prune_by_magnitude(weights(model), full_mask(model), 0.3, kinds)
    apply_mask(model, mask)
    for name, keep in mask.items():
        assert torch.count_nonzero(weights(model)[name][~keep]) == 0
        assert torch.count_nonzero(weights(model)[name][keep]) == int(keep.sum())


def test_no_layer_is_ever_pruned_away_entirely():
    model = build_model("lenet300_100", (1, 28, 28))
    kinds = layer_kinds(model)
    with torch.no_grad():
        model.layers[5].weight.mul_(1e-6)  # the output layer's weights are the smallest of all
    mask = prune_by_magnitude(weights(model), full_mask(model), 0.99, kinds, scope="global")
    assert all(keep.any() for keep in mask.values())
    for _ in range(30):
        mask = prune_by_magnitude(weights(model), mask, 0.9, kinds)
    assert all(int(keep.sum()) == 1 for keep in mask.values())


# --- pinned against torch.nn.utils.prune ------------------------------------------------------------------
# On freshly initialised (random, Gaussian) weights, no two magnitudes tie and every layer keeps far more
# than its largest weight, so ltkit's tie-breaking and its "each layer keeps its largest weight" rule cannot
# make a difference: the masks must be torch's, entry for entry.


def prunable_modules(model):
    modules = dict(model.named_modules())
    return {name: modules[name.removesuffix(".weight")] for name in layer_kinds(model)}


@pytest.mark.parametrize("model_name, shape", [("mlp", (40,)), ("conv2", (3, 8, 8))])
def test_layerwise_rounds_match_torch_l1_unstructured_applied_round_after_round(model_name, shape):
    model = build_model(model_name, shape, seed=3)
    reference = build_model(model_name, shape, seed=3)
    kinds, mask = layer_kinds(model), full_mask(model)
    for _ in range(3):  # torch's PruningContainer takes each new amount as a fraction of what remains
        mask = prune_by_magnitude(weights(model), mask, 0.2, kinds)
        for name, module in prunable_modules(reference).items():
            prune.l1_unstructured(module, "weight", amount=0.2)
            assert torch.equal(mask[name], module.weight_mask.bool()), name
    assert fraction_remaining(mask) == pytest.approx(0.8**3, abs=1e-3)


def test_global_pruning_matches_torch_global_unstructured():
    model = build_model("lenet300_100", (1, 28, 28), seed=5)
    reference = build_model("lenet300_100", (1, 28, 28), seed=5)
    mask = prune_by_magnitude(weights(model), full_mask(model), 0.5, layer_kinds(model), scope="global")
    modules = prunable_modules(reference)
    prune.global_unstructured(
        [(module, "weight") for module in modules.values()], pruning_method=prune.L1Unstructured, amount=0.5
    )
    for name, module in modules.items():
        assert torch.equal(mask[name], module.weight_mask.bool()), name


def test_a_random_mask_can_keep_one_fraction_of_every_layer_instead():
    mask = full_mask(build_model("lenet300_100", (1, 28, 28)))
    random = random_mask_like(mask, torch.Generator().manual_seed(0), weights_remaining=0.001)
    assert [int(keep.sum()) for keep in random.values()] == [235, 30, 1]  # 0.1% of each, at least one


# --- one selector for IMP and for pruning at initialisation, pinned to the code it replaced ----------------
# keep_best took over IMP's drop_smallest and pruning at init's top_fraction_mask; where scores tie, which
# of them stay is torch.topk's choice, so the masks are compared on scores with many ties, entry for entry.


def old_drop_smallest(weights, mask, count):
    scores = [torch.where(mask[n], weights[n].detach().abs(), torch.inf).flatten() for n in mask]
    for score in scores:
        score[torch.argmax(torch.where(score.isinf(), -1.0, score))] = torch.inf
    scores = torch.cat(scores)
    keep = torch.cat([mask[n].flatten() for n in mask]).clone()
    count = min(count, int(scores.isfinite().sum()))
    if count > 0:
        keep[torch.topk(scores, count, largest=False).indices] = False
    pieces = keep.split([mask[n].numel() for n in mask])
    return {n: piece.view_as(mask[n]) for n, piece in zip(mask, pieces)}


def old_random_uniform(mask, weights_remaining, seed):
    generator = torch.Generator().manual_seed(seed)
    full = {}
    for name, keep in mask.items():
        flat = torch.zeros(keep.numel(), dtype=torch.bool)
        flat[: max(1, round(weights_remaining * keep.numel()))] = True
        full[name] = flat.view_as(keep)
    return random_mask_like(full, generator)


def tied_scores(seed, shapes=((30, 40), (7,), (300, 60), (10, 3))):
    """Scores of a few values only (most of them tie), signed; the second layer's are all below the others'."""
    generator = torch.Generator().manual_seed(seed)
    scores = {f"layer{i}": torch.randint(-3, 4, shape, generator=generator).float() for i, shape in enumerate(shapes)}
    scores["layer1"] -= 10
    return scores, generator


@pytest.mark.parametrize("seed", range(6))
def test_dropping_the_worst_gives_imps_old_masks_ties_included(seed):
    weights, generator = tied_scores(seed)
    mask = {name: torch.rand(w.shape, generator=generator) < 0.7 for name, w in weights.items()}
    mask["layer3"][:] = False  # a layer with nothing left
    kept = sum(int(keep.sum()) for keep in mask.values())
    for count in (0, 1, 50, kept // 3, kept // 2, kept - 3, kept + 10):  # both of topk's algorithms
        new = keep_best({name: w.abs() for name, w in weights.items()}, mask, drop=count)
        old = old_drop_smallest(weights, mask, count)
        assert all(torch.equal(new[name], old[name]) for name in mask), count
        layer = {"layer0": mask["layer0"]}
        alone = keep_best({"layer0": weights["layer0"].abs()}, layer, drop=count)  # as layerwise pruning calls it
        assert torch.equal(alone["layer0"], old_drop_smallest(weights, layer, count)["layer0"]), count


def test_the_random_mask_of_one_fraction_per_layer_is_pruning_at_inits_old_one():
    mask = full_mask(build_model("mlp", (40,)))
    for kept, seed in ((0.5, 0), (0.11, 7_000_402), (0.001, 3)):
        new = random_mask_like(mask, torch.Generator().manual_seed(seed), weights_remaining=kept)
        old = old_random_uniform(mask, kept, seed)
        assert all(torch.equal(new[name], old[name]) for name in mask)


def test_keep_best_keeps_each_layers_best_and_takes_one_count():
    scores = {"a": torch.arange(10.0), "b": torch.full((4,), -5.0)}
    mask = {"a": torch.ones(10, dtype=torch.bool), "b": torch.tensor([False, True, True, False])}
    kept = keep_best(scores, mask, keep=3)
    assert kept["a"].tolist() == [False] * 7 + [True] * 3 and kept["b"].tolist() == [False, True, False, False]
    dropped = keep_best(scores, mask, drop=11)  # all but each layer's best
    assert int(dropped["a"].sum()) == 1 and dropped["a"][-1] and int(dropped["b"].sum()) == 1
    with pytest.raises(LtkitError, match="keep= .* or drop="):
        keep_best(scores, mask, keep=3, drop=1)
