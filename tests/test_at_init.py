"""Pruning at initialisation (ltkit.experiments.at_init): the scores, the masks, the checks, and the experiment."""

import json
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from ltkit.cli import main
from ltkit.engine.masks import fraction_remaining, random_mask_like
from ltkit.engine.models import build_model
from ltkit.engine.training import TrainConfig
from ltkit.errors import LtkitError
from ltkit.experiments.at_init import (
    CHECKS,
    METHODS,
    PruneAtInitConfig,
    PruneAtInitRow,
    check_seed,
    grasp_scores,
    imp_sweep,
    methods_across_seeds,
    prune_at_init_config,
    run_prune_at_init,
    score_mask,
    shuffled,
    snip_scores,
    synflow_scores,
    top_fraction_mask,
)
from ltkit.experiments.imp import run_imp
from ltkit.experiments.profiles import pruning
from tests.test_masks import tied_scores

SHORT = TrainConfig(optimizer="adam", lr=1e-2, batch_size=100, iterations=40, eval_every=20)
CONFIG = PruneAtInitConfig("mnist1d", "mlp", SHORT, rounds=(2, 5), seed=1, score_examples=200, synflow_iterations=10)


def batch(data, n=200):
    return data.x_train[:n], data.y_train[:n]


def test_snip_scores_are_weight_times_gradient(mnist1d):
    model = build_model("mlp", (40,), seed=0)
    x, y = batch(mnist1d)
    scores = snip_scores(model, x, y)
    F.cross_entropy(model(x), y).backward()
    first = model.layers[1].weight
    assert torch.allclose(scores["layers.1.weight"], (first * first.grad).abs())
    assert set(scores) == {"layers.1.weight", "layers.3.weight", "layers.5.weight"}  # weights only, no biases


def tiny_network_and_batch():
    """A 5-4-3 network in float64 (32 weights: a Hessian small enough to write out) and 16 examples."""
    generator = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=torch.float64))
    x = torch.randn(16, 5, generator=generator, dtype=torch.float64)
    return model, x, torch.randint(3, (16,), generator=generator)


@pytest.mark.parametrize("temperature", [200.0, 3.0])
def test_grasp_scores_are_minus_weight_times_the_explicit_hessian_times_the_gradient(temperature):
    """g and H written out over the flattened weights (biases held), of the loss on the logits / temperature."""
    model, x, y = tiny_network_and_batch()
    scores = grasp_scores(model, x, y, temperature)
    params = dict(model.named_parameters())
    names = list(scores)
    assert names == ["0.weight", "2.weight"]  # weights only, no biases

    def tempered_loss(flat):
        weights = [w.view_as(params[n]) for n, w in zip(names, flat.split([params[n].numel() for n in names]))]
        logits = torch.func.functional_call(model, {**params, **dict(zip(names, weights))}, (x,))
        return F.cross_entropy(logits / temperature, y)

    flat = torch.cat([params[n].detach().flatten() for n in names])
    g = torch.autograd.functional.jacobian(tempered_loss, flat)
    hessian = torch.autograd.functional.hessian(tempered_loss, flat)
    expected = -flat * (hessian @ g)
    assert torch.allclose(torch.cat([scores[n].flatten() for n in names]), expected, rtol=1e-9, atol=0)


def test_grasp_is_scored_at_the_configs_temperature(mnist1d):
    """Wang et al.'s temperature of 200 is the default, and it changes which weights GraSP keeps."""
    assert CONFIG.grasp_temperature == 200
    tempered = score_mask("grasp", CONFIG, mnist1d, 0.1)
    plain = score_mask("grasp", replace(CONFIG, grasp_temperature=1.0), mnist1d, 0.1)
    common = sum(int((tempered[n] & plain[n]).sum()) for n in tempered)
    assert common < 0.8 * sum(int(keep.sum()) for keep in tempered.values())


def test_synflow_conserves_flow_layer_by_layer_and_needs_no_data():
    """Tanaka et al.'s conservation: in a network without biases, every layer's scores sum to the same R."""
    model = build_model("mlp", (40,), seed=0).double()  # biases start at zero, so they carry no flow
    scores = synflow_scores(model, (40,))
    totals = [s.sum().item() for s in scores.values()]
    assert totals == pytest.approx([totals[0]] * 3, rel=1e-9)
    original = build_model("mlp", (40,), seed=0).double().state_dict()
    assert all(torch.equal(w, original[n]) for n, w in model.state_dict().items())  # the weights are restored


def test_the_top_fraction_mask_keeps_exactly_the_fraction_and_every_layer():
    scores = {"a": torch.arange(100.0).view(10, 10), "b": torch.full((5, 5), -1.0)}
    mask = top_fraction_mask(scores, 0.2)
    assert int(mask["a"].sum()) == 25 and int(mask["b"].sum()) == 1  # the best 25 are a's; b keeps one
    assert mask["a"].view(-1)[-25:].all()
    lowest = top_fraction_mask(scores, 0.2, keep_lowest=True)
    assert lowest["b"].all() and int(lowest["a"].sum()) == 1
    tied = {"a": torch.cat([torch.zeros(30), torch.arange(1.0, 71.0)])}  # 30% of the scores tie at zero
    assert int(top_fraction_mask(tied, 0.1, keep_lowest=True)["a"].sum()) == 10


def old_top_fraction_mask(scores, weights_remaining, keep_lowest=False):
    """top_fraction_mask as it was before masks.keep_best did its ranking."""
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


@pytest.mark.parametrize("seed", range(6))
def test_the_top_fraction_mask_is_the_old_one_ties_included(seed):
    """keep_best, IMP's selector, makes the masks pruning at init made before, entry for entry, on scores
    that tie all over: on all the weights (SNIP, GraSP, magnitude) and on those SynFlow left (as SynFlow
    marked the pruned ones: never chosen, whichever end is kept)."""
    scores, generator = tied_scores(seed)
    alive = {name: torch.rand(s.shape, generator=generator) < 0.6 for name, s in scores.items()}
    for kept in (0.0001, 0.003, 0.05, 0.3, 0.59, 1.0):
        for lowest in (False, True):
            new, old = top_fraction_mask(scores, kept, lowest), old_top_fraction_mask(scores, kept, lowest)
            assert all(torch.equal(new[name], old[name]) for name in scores), (kept, lowest)
            if kept < 0.59:  # SynFlow never asks for more than it left
                pruned = torch.inf if lowest else -torch.inf
                marked = {name: torch.where(alive[name], s, pruned) for name, s in scores.items()}
                new, old = top_fraction_mask(scores, kept, lowest, alive), old_top_fraction_mask(marked, kept, lowest)
                assert all(torch.equal(new[name], old[name]) for name in scores), (kept, lowest)


def test_checks_keep_each_layers_fraction(mnist1d):
    mask = score_mask("snip", CONFIG, mnist1d, 0.2)
    assert fraction_remaining(mask) == pytest.approx(0.2, abs=0.002)
    moved = shuffled(mask, 0)
    assert fraction_remaining(score_mask("synflow", CONFIG, mnist1d, 0.2, invert=True)) == pytest.approx(0.2, abs=0.002)
    for name, keep in mask.items():
        assert int(moved[name].sum()) == int(keep.sum()) and not torch.equal(moved[name], keep)
    inverted = score_mask("snip", CONFIG, mnist1d, 0.2, invert=True)
    assert fraction_remaining(inverted) == pytest.approx(0.2, abs=0.002)
    assert sum(int((inverted[n] & mask[n]).sum()) for n in mask) == 0  # the worst fifth, not the best
    uniform = random_mask_like(mask, torch.Generator().manual_seed(0), weights_remaining=0.2)
    assert all(int(keep.sum()) == round(0.2 * keep.numel()) for keep in uniform.values())


def test_synflow_prunes_iteratively_to_the_fraction(mnist1d):
    mask = score_mask("synflow", CONFIG, mnist1d, 0.05)
    assert fraction_remaining(mask) == pytest.approx(0.05, abs=0.002)
    assert all(keep.any() for keep in mask.values())


def test_every_method_is_trained_with_its_checks_and_cached(mnist1d, data_root, count_training):
    result = run_prune_at_init(CONFIG, data=mnist1d, progress=False)
    report = result.to_json()
    assert list(report["methods"]) == list(METHODS)
    for method, rows in report["methods"].items():
        assert [row["weights_remaining"] for row in rows] == result.weights_remaining
        checks = {key for row in rows for key in row if key.endswith("_final_test_acc") and key != "final_test_acc"}
        expected = {f"{c}_final_test_acc" for c in CHECKS} if method not in ("random", "imp") else set()
        expected |= {"shuffled_final_test_acc", "reinit_final_test_acc"} if method == "imp" else set()
        assert checks == expected, method
    trained = [desc for desc in count_training if not desc.startswith(("dense", "round"))]
    assert len(trained) == 2 * (1 + 4 * 4)  # per sparsity: random, 4 methods x (plain + 3 checks)
    sweep = run_imp(imp_sweep(CONFIG), data=mnist1d)
    for r in CONFIG.rounds:  # IMP's checks are its sweep's controls: random pruning is its mask shuffled
        assert str(result.results[("imp", "shuffled", r)]) == str(sweep.rounds[r].results["random_mask"])
        assert str(result.results[("imp", "reinit", r)]) == str(sweep.rounds[r].results["reinit"])
    count_training.clear()
    again = run_prune_at_init(CONFIG, data=mnist1d, progress=False)
    assert count_training == [] and again.to_json() == report
    rows = result.table()
    assert all(isinstance(row, PruneAtInitRow) for row in rows) and len(rows) == len(METHODS) * len(CONFIG.rounds)
    snip = [row for row in rows if row.method == "snip"]
    assert [row.final_test_acc for row in snip] == [row["final_test_acc"] for row in report["methods"]["snip"]]
    assert [row.inverted_final_test_acc for row in rows if row.method == "imp"] == [None, None]
    assert methods_across_seeds([result])["snip"]["mean"] == [row.final_test_acc for row in snip]


def test_the_command_writes_the_methods_json(tmp_path, data_root, monkeypatch):
    out = tmp_path / "at_init.json"
    argv = ["prune-at-init", "--dataset", "mnist1d", "--model", "mlp", "--profile", "ci", "--epochs", "0.5"]
    assert main([*argv, "--json", str(out)]) == 0
    methods = json.loads(out.read_text())["methods"]
    assert set(methods) == set(METHODS) and len(methods["snip"]) == 4
    assert all(0 <= row["final_test_acc"] <= 1 for rows in methods.values() for row in rows)


def test_bad_settings_are_refused_in_one_line():
    with pytest.raises(LtkitError, match="rounds"):
        PruneAtInitConfig("mnist1d", "mlp", SHORT, rounds=(0, 2))
    with pytest.raises(LtkitError, match="rewind iteration 40"):
        PruneAtInitConfig("mnist1d", "mlp", SHORT, rewind_iter=40)
    with pytest.raises(LtkitError, match="at least one example"):
        PruneAtInitConfig("mnist1d", "mlp", SHORT, score_examples=0)
    with pytest.raises(LtkitError, match="grasp_temperature divides the logits: it must be positive; got 0"):
        PruneAtInitConfig("mnist1d", "mlp", SHORT, grasp_temperature=0)
    with pytest.raises(LtkitError, match="no setting round;"):
        prune_at_init_config("mnist1d", "mlp", "ci", round=3)


def test_the_profile_sets_the_rounds_and_the_paper_imps_pruning():
    config = prune_at_init_config("mnist1d", "mlp", "ci", seed=2)
    assert config.rounds == (2, 5, 8, 10) and (config.rates, config.scope) == tuple(pruning("mlp").values())
    assert imp_sweep(config).rates == pruning("mlp")["rates"] and imp_sweep(config).rounds == 10
    assert prune_at_init_config("mnist1d", "mlp", "paper").rounds == (2, 5, 8, 10, 13, 16, 20)
    assert check_seed(config, "snip", 5) == 7_000_000 + 10_000 * 2 + 5  # the seeds the lesson was checked on
    assert check_seed(config, "random", 8) == 7_020_408
