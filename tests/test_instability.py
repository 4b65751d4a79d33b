"""Instability analysis: copies of a network at iteration k, trained on with different data orders."""

import copy
import json
import statistics
from dataclasses import replace

import pytest
import torch

from ltkit.engine.masks import layer_kinds
from ltkit.engine.models import build_model
from ltkit.engine.training import TrainConfig, evaluate, train
from ltkit.errors import LtkitError
from ltkit.experiments import instability
from ltkit.experiments.instability import (
    InstabilityConfig,
    independent_line,
    instability_config,
    rounds_to_reach,
    run_instability,
    sweep_controls,
    ticket_sweep,
)
from ltkit.experiments.paths import path_points
from ltkit.experiments.registry import Context

SHORT = TrainConfig(lr=1e-2, batch_size=50, iterations=40, eval_every=20)
CONFIG = InstabilityConfig("mnist1d", "mlp", SHORT, points=5, train_examples=500, rates=0.5)
ARMS_AT_30 = replace(CONFIG, rewind_iters=(0, 10), weights_remaining=0.3)  # every arm, at about 30% of the weights
IMP_TRAININGS = [f"round {r} {arm}" for r in (1, 2) for arm in ("ticket", "reinit", "random_mask")]


def same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)


def same_mask(a, b):
    return a is b is None or (a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a))


def weights_at(k, data, seed=0):
    """W_k of the dense run (tests/test_dense.py checks that this replay is the dense run's)."""
    model = build_model("mlp", data.input_shape, seed=seed)
    if k:
        train(model, data, replace(SHORT, iterations=k), data_seed=seed, progress=False)
    return model.state_dict()


def errors_along_the_line(ends, data, points):
    """The test error at each point of the straight line between two MLPs, computed here."""
    model, errors = build_model("mlp", data.input_shape), []
    for t in path_points(points):
        model.load_state_dict({name: (1 - t) * a + t * ends[1][name] for name, a in ends[0].items()})
        errors.append(1 - evaluate(model, data.x_test, data.y_test)[1])
    return errors


@pytest.fixture
def copies(monkeypatch):
    """Every pair of copies trained: {"desc", "data_seed", "start_iter", "mask", "start" and "end" weights}."""
    calls, real_train_together = [], instability.train_together

    def spy(jobs, data, progress=True):
        starts = [copy.deepcopy(job.model.state_dict()) for job in jobs]
        results = real_train_together(jobs, data, progress)
        for job, start, result in zip(jobs, starts, results):
            settings = dict(desc=job.desc, data_seed=job.data_seed, start_iter=job.start_iter, mask=job.mask)
            end = copy.deepcopy(job.model.state_dict())
            calls.append(dict(settings, start=start, iterations=job.config.iterations, end=end))
            calls[-1]["final_test_acc"] = result.final_test_acc
        return results

    monkeypatch.setattr(instability, "train_together", spy)
    return calls


def test_each_arms_copies_start_as_designed_and_their_barrier_is_the_lines(mnist1d, count_training, copies):
    result = run_instability(ARMS_AT_30, data=mnist1d, progress=False)
    rows, arms = result.rows, ("dense", "ticket", "random_mask", "reinit")
    assert [row["k"] for row in rows] == [0, 10] and all(list(row)[1:] == list(arms) for row in rows)
    expected = ["k=0"] * 2 + ["dense", *IMP_TRAININGS] + ["k=0"] * 6  # the dense network at 0 is W_0
    tickets_only = [name for name in IMP_TRAININGS if name.endswith("ticket")]  # controls are lesson 03's, k=0
    expected += [None] + ["k=10"] * 2 + [None, *tickets_only] + ["k=10"] * 4  # replays to k=10, a sweep
    expected += [None] + ["k=10"] * 2  # the re-initialised subnetwork trained to k=10 under its mask, then copied
    assert count_training == expected
    pairs = iter(zip(copies[::2], copies[1::2]))
    for row in rows:
        k, w_k = row["k"], weights_at(row["k"], mnist1d)
        sweep = ticket_sweep(ARMS_AT_30, Context(mnist1d), k)  # the IMP sweep rewinding to k, from the cache
        record = sweep.nearest_round(0.3)
        assert sweep.config.rewind_iter == k and record.weights_remaining == pytest.approx(0.25, abs=0.01)
        for arm in arms:
            first, second = next(pairs)
            for call in (first, second):
                assert call["start_iter"] == k and call["iterations"] == 40 and call["desc"] == f"k={k}"
            assert first["data_seed"] != second["data_seed"], "the copies differ in their data order"
            assert same_state(first["start"], second["start"]) and same_mask(first["mask"], second["mask"])
            start, mask = first["start"], first["mask"]
            if arm == "dense":
                assert mask is None and same_state(start, w_k) and row[arm].weights_remaining == 1.0
            else:
                assert row[arm].weights_remaining == record.weights_remaining
            if arm in ("ticket", "random_mask"):
                assert same_state(start, w_k) and same_state(start, sweep.rewind_state)
            if arm == "reinit":
                assert all((start[name] != w_k[name]).float().mean() > 0.99 for name in record.mask)
            if arm in ("ticket", "reinit"):
                assert same_mask(mask, record.mask)
            if arm == "random_mask" and k == 0:
                assert same_mask(mask, record.masks["random_mask"])  # lesson 03's control (only k=0 trains it)
                for name, keep in record.mask.items():
                    assert int(mask[name].sum()) == int(keep.sum()) and not torch.equal(mask[name], keep)
            # the barrier, recomputed from the two trained copies
            errors = errors_along_the_line([first["end"], second["end"]], mnist1d, CONFIG.points)
            assert row[arm].lines[0].test_err == errors
            assert row[arm].barrier == max(errors) - (errors[0] + errors[-1]) / 2
            assert row[arm].final_test_accs == [first["final_test_acc"], second["final_test_acc"]]

    count_training.clear()
    again = run_instability(ARMS_AT_30, data=mnist1d, progress=False)
    assert count_training == [] and again == result


def test_pairs_are_cached_one_by_one_so_more_pairs_extend_a_result(mnist1d, count_training, copies):
    at_10 = replace(CONFIG, rewind_iters=(10,))
    two = run_instability(replace(at_10, pairs=2), data=mnist1d, progress=False).rows[0]["dense"]
    assert count_training == [None] + ["k=10"] * 4
    count_training.clear()
    three = run_instability(replace(at_10, pairs=3), data=mnist1d, progress=False).rows[0]["dense"]
    assert count_training == [None] + ["k=10"] * 2  # W_10 again, then the one new pair
    assert three.barriers[:2] == two.barriers and three.lines[:2] == two.lines
    assert len({call["data_seed"] for call in copies}) == 6, "every copy of every pair has its own data order"
    uncached = run_instability(replace(at_10, pairs=3), data=mnist1d, cache=False, progress=False)
    assert uncached.rows[0]["dense"] == three

    barriers = [max(line.test_err) - (line.test_err[0] + line.test_err[-1]) / 2 for line in three.lines]
    assert three.barriers == barriers and len(set(barriers)) > 1
    assert three.barrier == pytest.approx(statistics.mean(barriers), abs=1e-12)
    assert three.barrier_std == pytest.approx(statistics.stdev(barriers), abs=1e-6)
    assert three.final_test_acc == pytest.approx(statistics.mean(three.final_test_accs))
    assert len(three.final_test_accs) == 6 and two.summary()["pairs"] == 2
    assert three.summary() == dict(
        barrier=three.barrier,
        barrier_std=three.barrier_std,
        pairs=3,
        barriers=barriers,
        final_test_acc=three.final_test_acc,
        weights_remaining=1.0,
    )


def test_each_sparsity_has_its_own_subnetworks_while_the_dense_copies_are_shared(mnist1d, count_training):
    at_30 = replace(CONFIG, rewind_iters=(10,), weights_remaining=0.3, arms=("dense", "ticket"))
    first = run_instability(at_30, data=mnist1d, progress=False).rows[0]
    count_training.clear()
    second = run_instability(replace(at_30, weights_remaining=0.6), data=mnist1d, progress=False).rows[0]
    assert count_training == ["k=10"] * 2  # the new ticket's copies; its mask is round 1 of the cached sweep
    assert second["dense"] == first["dense"] and second["ticket"] != first["ticket"]
    assert first["ticket"].weights_remaining == pytest.approx(0.25, abs=0.01)
    assert second["ticket"].weights_remaining == pytest.approx(0.5, abs=0.01)
    dense_only = run_instability(replace(at_30, weights_remaining=None, arms=()), data=mnist1d, progress=False)
    assert count_training == ["k=10"] * 2 and dense_only.rows == [dict(k=10, dense=first["dense"])]


def test_the_table_has_a_row_per_k_and_arm_and_the_json_every_line(mnist1d):
    result = run_instability(replace(CONFIG, rewind_iters=(0, 10)), data=mnist1d, progress=False)
    assert [(row.k, row.arm) for row in result.table()] == [(0, "dense"), (10, "dense")]
    row, record = result.table()[1], result.rows[1]["dense"]
    assert (row.weights_remaining, row.barrier, row.barrier_std, row.pairs) == (1.0, record.barrier, 0.0, 1)
    assert row.final_test_acc == record.final_test_acc
    report = json.loads(json.dumps(result.to_json()))
    assert report["config"] == result.config.to_dict() and [r["k"] for r in report["rewind"]] == [0, 10]
    dense = report["rewind"][1]["dense"]
    assert {key: dense[key] for key in record.summary()} == record.summary()
    assert dense["test_err_ends"] == record.lines[0].ends_test_err
    assert dense["lines"] == [record.lines[0].points()] and dense["line"] == dense["lines"][0]


def test_one_pair_has_no_spread(mnist1d):
    row = run_instability(replace(CONFIG, rewind_iters=(10,), arms=("dense",)), data=mnist1d, progress=False).rows[0]
    assert row["dense"].barrier_std == 0.0 and row["dense"].barrier == row["dense"].barriers[0]


def test_the_sweep_for_a_ticket_prunes_just_far_enough(mnist1d):
    assert [rounds_to_reach(w, CONFIG, mnist1d) for w in (1.0, 0.6, 0.5, 0.3, 0.25, 0.2)] == [0, 1, 1, 2, 2, 3]
    paper = replace(CONFIG, rates=dict(fc=0.2, output=0.1))
    sizes = {name: p.numel() for name, p in build_model("mlp", (40,)).named_parameters() if name.endswith("weight")}
    kinds = layer_kinds(build_model("mlp", (40,)))
    rates = {name: 0.1 if kinds[name] == "output" else 0.2 for name in sizes}
    kept = lambda r: sum(n * (1 - rates[name]) ** r for name, n in sizes.items()) / sum(sizes.values())
    first = next(r for r in range(100) if kept(r) <= 0.1)
    assert rounds_to_reach(0.1, paper, mnist1d) == first and kept(first - 1) > 0.1
    at_20 = replace(CONFIG, rates=0.2, scope="global")
    assert rounds_to_reach(0.262, at_20, mnist1d) == 6  # 0.8^6 = 0.26214: rounding, not a seventh round
    with pytest.raises(LtkitError, match="does not reach 0.1"):
        rounds_to_reach(0.1, replace(CONFIG, rates=0.0), mnist1d)


def test_the_independent_line_joins_the_dense_networks_of_two_other_seeds(mnist1d):
    config = replace(CONFIG, seed=1)
    line = independent_line(config, mnist1d, progress=False)
    ends = []
    for seed in (20_002, 20_003):  # dense.two_initialisations(1)
        model = build_model("mlp", (40,), seed=seed)
        train(model, mnist1d, SHORT, data_seed=seed, progress=False)
        ends.append(model.state_dict())
    assert line.test_err == errors_along_the_line(ends, mnist1d, CONFIG.points)


def test_bad_instability_settings_are_explained():
    with pytest.raises(LtkitError, match="at least 2 points"):
        replace(CONFIG, points=1)
    with pytest.raises(LtkitError, match="at least one pair"):
        replace(CONFIG, pairs=0)
    with pytest.raises(LtkitError, match="rewind iteration 40 must be in 0..39"):
        replace(CONFIG, rewind_iters=(0, 40))
    with pytest.raises(LtkitError, match="at least one iteration k"):
        replace(CONFIG, rewind_iters=())
    for fraction in (0.0, 1.0, 1.5):
        with pytest.raises(LtkitError, match=r"weights_remaining must be a fraction in \(0, 1\)"):
            replace(CONFIG, weights_remaining=fraction)
    with pytest.raises(LtkitError, match="every arm but dense needs weights_remaining"):
        replace(CONFIG, arms=("ticket",))
    with pytest.raises(LtkitError, match="arms must be among dense, ticket, random_mask, reinit; got lucky"):
        replace(CONFIG, weights_remaining=0.5, arms=("lucky",))
    with pytest.raises(LtkitError, match=r"instability_config\(\) has no setting sparsity"):
        instability_config("mnist1d", "mlp", "ci", sparsity=0.5)


def test_the_connectivity_recipe_and_the_profiles_sizes_make_the_config():
    config = instability_config("mnist1d", "mlp", "ci", pairs=3)
    assert config.train.lr == 1e-2 and config.train.iterations == 3000  # the MLP's connectivity change
    assert config.rates == dict(fc=0.2, output=0.1) and config.scope == "layerwise"
    assert (config.points, config.train_examples, config.pairs) == (30, 5_000, 3)
    assert (config.rewind_iters, config.weights_remaining, config.measured_arms) == ((0,), None, ("dense",))
    assert replace(config, weights_remaining=0.2).measured_arms == ("dense", "ticket", "random_mask", "reinit")
    assert config.cache_key() == replace(config, pairs=1, rewind_iters=(0, 10), arms=("dense",)).cache_key()
    assert instability_config("mnist1d", "mlp", "class").train_examples == 10_000
    assert instability_config("cifar10", "resnet20", "paper").scope == "global"


def test_the_sweep_trains_its_controls_only_where_a_lesson_shares_it():
    shared = replace(ARMS_AT_30, model="mlp")
    assert sweep_controls(shared, 0) and not sweep_controls(shared, 10)
    assert not sweep_controls(replace(ARMS_AT_30, model="cnn1d"), 0)  # late rewinding reads the ticket only
