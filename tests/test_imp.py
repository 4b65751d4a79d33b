"""Iterative magnitude pruning with rewinding: the rounds, the ticket and its two controls, the cache."""

import copy
import json
from dataclasses import replace

import pytest
import torch
from torch import nn

from ltkit.engine import stacked
from ltkit.engine.masks import layer_kinds
from ltkit.engine.models import build_model
from ltkit.engine.training import TrainConfig, train
from ltkit.errors import LtkitError
from ltkit.experiments import imp
from ltkit.experiments.imp import ARMS, IMPConfig, imp_config, run_imp, seed_sweeps, sweep_cache
from ltkit.experiments.profiles import LESSON_SEED
from ltkit.experiments.registry import Context

TINY = TrainConfig(iterations=40, batch_size=50, eval_every=20)
RATES = dict(fc=0.5, output=0.2)


def tiny_config(**fields):
    return IMPConfig(**{**dict(dataset="mnist1d", model="mlp", train=TINY, rounds=2, rates=RATES), **fields})


def same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)


def weights_at(k, data, seed=0):
    """W_k: the network of `seed` trained k iterations of the dense run (which repeats the dense run's
    first k steps exactly: tests/test_dense.py checks that against the dense run itself)."""
    model = build_model("mlp", data.input_shape, seed=seed)
    if k:
        train(model, data, replace(TINY, iterations=k), data_seed=seed, progress=False)
    return model.state_dict()


@pytest.fixture(scope="module", params=[0, 7], ids=lambda k: f"rewind_to_{k}")
def sweep(request, mnist1d_once):
    """A 2-round sweep (no cache), and how each arm's training started: {desc: its Job's settings, with a
    copy of the weights it started from}."""
    config = tiny_config(rewind_iter=request.param)
    starts, real_train_together = {}, imp.train_together

    def spy(jobs, data, progress=True):
        for job in jobs:
            settings = dict(mask=job.mask, data_seed=job.data_seed, start_iter=job.start_iter, config=job.config)
            starts[job.desc] = dict(copy.deepcopy(settings), state=copy.deepcopy(job.model.state_dict()))
        return real_train_together(jobs, data, progress)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(imp, "train_together", spy)
        result = run_imp(config, data=mnist1d_once, cache=False, progress=False)
    return result, starts, weights_at(request.param, mnist1d_once)


# --- the rounds -----------------------------------------------------------------------------------------


def test_each_round_prunes_the_given_fraction_of_what_remains(sweep):
    result, _, _ = sweep
    fc, out = 40 * 100 + 100 * 100, 100 * 10
    for r, record in enumerate(result.rounds):
        assert record.round == r
        expected = (fc * 0.5**r + out * 0.8**r) / (fc + out)
        assert record.weights_remaining == pytest.approx(expected, abs=1e-3)
    for earlier, later in zip(result.rounds, result.rounds[1:]):
        for name, keep in later.mask.items():
            assert not (keep & ~earlier.mask[name]).any()  # once pruned, always pruned


def test_each_round_removes_the_smallest_trained_weights_of_the_previous_ticket(sweep, mnist1d_once):
    result, _, _ = sweep
    kinds = layer_kinds(build_model("mlp", (40,)))
    for previous, record in zip(result.rounds, result.rounds[1:]):
        for name, kept in previous.mask.items():
            magnitudes = previous.states["ticket"][name].abs()[kept]  # the previous ticket, trained
            count = round(RATES[kinds[name]] * int(kept.sum()))
            threshold = magnitudes.sort().values[count - 1]
            expected = kept & (previous.states["ticket"][name].abs() > threshold)
            assert torch.equal(record.mask[name], expected), (record.round, name)


def test_round_zero_is_the_dense_network_for_every_arm(sweep, mnist1d_once):
    result, _, w_k = sweep
    dense = build_model("mlp", (40,))
    dense_result = train(dense, mnist1d_once, TINY, progress=False)
    first = result.rounds[0]
    assert first.weights_remaining == 1.0 and all(keep.all() for keep in first.mask.values())
    for arm in ARMS:
        assert same_state(first.states[arm], dense.state_dict())
        assert str(first.results[arm].history) == str(dense_result.history)
    assert same_state(result.rewind_state, w_k)


def test_the_ticket_and_its_controls_start_as_designed(sweep):
    result, starts, w_k = sweep
    k = result.config.rewind_iter
    reinit_starts = []
    for record in result.rounds[1:]:
        ticket, reinit, random = (starts[f"round {record.round} {arm}"] for arm in ARMS)
        for arm, start in zip(ARMS, (ticket, reinit, random)):
            # re-initialised weights have had no training: that control trains the whole schedule
            assert start["start_iter"] == (0 if arm == "reinit" else k)
            assert start["config"] == TINY and start["data_seed"] == 0
            assert start["mask"].keys() == record.masks[arm].keys()
            assert all(torch.equal(start["mask"][n], record.masks[arm][n]) for n in start["mask"])
        # the ticket: W_k, by value, under IMP's mask
        assert same_state(ticket["state"], w_k)
        assert all(torch.equal(ticket["mask"][n], record.mask[n]) for n in record.mask)
        # random re-initialisation: IMP's mask, on weights that differ from W_k (and W_0) in every layer
        assert all(torch.equal(reinit["mask"][n], record.mask[n]) for n in record.mask)
        for name in record.mask:
            assert (reinit["state"][name] != w_k[name]).float().mean() > 0.99, name
        reinit_starts.append(reinit["state"])
        # random pruning: W_k under a mask that keeps as many weights per layer, elsewhere
        assert same_state(random["state"], w_k)
        for name, keep in record.mask.items():
            random_keep = random["mask"][name]
            assert int(random_keep.sum()) == int(keep.sum()) and not torch.equal(random_keep, keep), name
            overlap = int((random_keep & keep).sum()) / int(keep.sum())  # by chance only: the layer's fraction
            assert overlap == pytest.approx(keep.float().mean().item(), abs=0.12), name
    assert not same_state(*reinit_starts)  # a fresh initialisation every round


def test_every_arm_trains_as_a_fresh_run_from_its_start(sweep, mnist1d_once):
    """Training each arm's start again in a fresh train() gives the stored result (to float tolerance: the
    arms trained as one stack): no optimizer state, learning-rate position or data order is carried over
    from the dense run or another arm."""
    result, starts, _ = sweep
    for record in result.rounds[1:]:
        for arm in ARMS:
            start = starts[f"round {record.round} {arm}"]
            model = build_model("mlp", (40,))
            model.load_state_dict(start["state"])
            again = train(model, mnist1d_once, TINY, mask=start["mask"], start_iter=start["start_iter"], progress=False)
            for row, stored in zip(again.history, record.results[arm].history, strict=True):
                assert row == pytest.approx(stored, rel=1e-4, nan_ok=True), (record.round, arm)
            for name, value in model.state_dict().items():
                assert torch.allclose(value, record.states[arm][name], atol=1e-5), (record.round, arm, name)


# --- networks out of a finished sweep -------------------------------------------------------------------


def test_the_ticket_is_w_k_with_imps_mask_applied(sweep, mnist1d_once):
    result, _, w_k = sweep
    record = result.rounds[2]
    ticket = result.ticket(record.weights_remaining + 0.01)
    assert isinstance(ticket, nn.Module)
    state = ticket.state_dict()
    for name, value in state.items():
        keep = record.mask.get(name, torch.ones_like(value, dtype=torch.bool))  # biases are never pruned
        assert torch.count_nonzero(value[~keep]) == 0 and torch.equal(value[keep], w_k[name][keep]), name
    assert same_state(result.ticket(1.0).state_dict(), weights_at(0, mnist1d_once))  # round 0: the dense W_0


def test_an_arms_network_is_its_start_or_its_stored_trained_weights(sweep):
    result, starts, _ = sweep
    record = result.rounds[1]
    for arm in ARMS:
        trained = result.network(record.weights_remaining, arm, trained=True).state_dict()
        assert same_state(trained, record.states[arm]), arm
        untrained = result.network(record.weights_remaining, arm).state_dict()
        start, mask = starts[f"round 1 {arm}"]["state"], record.masks[arm]
        for name, value in untrained.items():
            expected = start[name] * mask[name] if name in mask else start[name]
            assert torch.equal(value, expected), (arm, name)


def test_the_nearest_round_is_the_closest_in_weights_remaining(sweep):
    result, _, _ = sweep
    remaining = [r.weights_remaining for r in result.rounds]  # about 1, 0.52, 0.28
    assert [result.nearest_round(w).round for w in (1.0, 0.77, 0.75, 0.5, 0.3, 0.01)] == [0, 0, 1, 1, 2, 2]
    assert remaining == sorted(remaining, reverse=True)
    for bad in (0, 1.5):
        with pytest.raises(LtkitError, match=r"weights remaining must be a fraction in \(0, 1\]"):
            result.nearest_round(bad)


def test_the_table_and_the_json_hold_each_rounds_figures(sweep):
    result, _, _ = sweep
    report = json.loads(json.dumps(result.to_json()))  # plain JSON
    assert report["config"] == json.loads(json.dumps(result.config.to_dict()))
    for record, row, entry in zip(result.rounds, result.table(), report["rounds"]):
        assert row.round == entry["round"] == record.round
        assert row.weights_remaining == entry["weights_remaining"] == record.weights_remaining
        for arm in ARMS:
            early_stop, final = getattr(row, f"{arm}_early_stop_test_acc"), getattr(row, f"{arm}_final_test_acc")
            assert early_stop == entry[arm]["test_acc"] == record.results[arm].early_stop_test[1]
            assert final == entry[arm]["final_test_acc"] == record.results[arm].final_test[1]
            assert entry[arm] == record.results[arm].summary()


def test_a_sweep_without_controls_trains_only_tickets_and_says_which_arms_it_has(mnist1d, count_training):
    result = run_imp(tiny_config(controls=(), rounds=1), data=mnist1d, progress=False)
    assert count_training == ["dense", "round 1 ticket"] and set(result.rounds[1].results) == {"ticket"}
    assert result.table()[1].reinit_final_test_acc is None and result.to_json()["rounds"][1]["random_mask"] is None
    with pytest.raises(LtkitError, match=r"no 'reinit' arm \(it trained: ticket\); add it to controls"):
        result.network(0.5, "reinit")


def test_a_sweep_asked_for_a_control_its_cache_lacks_trains_that_control_alone(mnist1d, count_training):
    alone = run_imp(tiny_config(controls=("reinit",)), data=mnist1d, progress=False)
    count_training.clear()
    both = run_imp(tiny_config(), data=mnist1d, progress=False)  # the default: both controls
    assert count_training == ["round 1 random_mask", "round 2 random_mask"]
    assert tiny_config().cache_key() == tiny_config(controls=()).cache_key()
    for before, after in zip(alone.rounds, both.rounds):
        assert set(after.results) == {"ticket", "reinit", "random_mask"}
        for arm in before.results:  # what was cached is kept, not trained again
            assert after.results[arm].final_test_acc == before.results[arm].final_test_acc
    fresh = run_imp(tiny_config(), data=mnist1d, cache=False, progress=False)
    for extended, whole in zip(both.rounds, fresh.rounds):  # and as a sweep trained with both at once
        assert same_state(extended.masks["random_mask"], whole.masks["random_mask"])
        trained, at_once = extended.states["random_mask"], whole.states["random_mask"]  # in other stacks
        assert all(torch.allclose(trained[name], at_once[name], atol=1e-5) for name in trained)


@pytest.mark.parametrize("controls", [True, ("reinit", "dense"), "reinit"])
def test_controls_name_arms_or_nothing(controls):
    with pytest.raises(LtkitError, match=r"controls must be a tuple of arms among reinit, random_mask \(none: \(\)"):
        tiny_config(controls=controls)


# --- the cache ------------------------------------------------------------------------------------------

CONFIG = IMPConfig(
    dataset="mnist1d", model="mlp", train=TrainConfig(iterations=30, batch_size=50, eval_every=10), rounds=3, rates=0.3
)


def test_the_same_sweep_again_loads_every_round_without_training(mnist1d, count_training):
    first = run_imp(CONFIG, data=mnist1d, progress=False)
    assert count_training == ["dense"] + [f"round {r} {arm}" for r in (1, 2, 3) for arm in ARMS]
    count_training.clear()
    second = run_imp(CONFIG, data=mnist1d, progress=False)
    assert count_training == []
    assert second.to_json() == first.to_json() and isinstance(second.rounds[2], imp.Round)
    for one, two in zip(first.rounds, second.rounds):
        for arm in ARMS:
            assert same_state(one.states[arm], two.states[arm]) and same_state(one.masks[arm], two.masks[arm])


def test_an_interrupted_sweep_resumes_at_its_first_unfinished_training(mnist1d, monkeypatch):
    """One network at a time ($LTKIT_STACK=0), each arm is cached as it finishes."""
    monkeypatch.setenv("LTKIT_STACK", "0")
    real_train, calls = stacked.train, []

    def interrupted_in_round_2(*args, **kwargs):
        calls.append(kwargs["desc"])
        if kwargs["desc"] == "round 2 reinit":
            raise KeyboardInterrupt  # as if the kernel were interrupted half-way through round 2
        return real_train(*args, **kwargs)

    monkeypatch.setattr(stacked, "train", interrupted_in_round_2)
    with pytest.raises(KeyboardInterrupt):
        run_imp(CONFIG, data=mnist1d, progress=False)
    folder = sweep_cache(CONFIG, Context(mnist1d)).path
    done = ["rewind.pt", "round_00.pt", "round_01.pt", "round_02_ticket.pt"]
    assert sorted(p.name for p in folder.glob("*.pt")) == done

    calls.clear()
    monkeypatch.setattr(
        stacked, "train", lambda *args, **kwargs: (calls.append(kwargs["desc"]), real_train(*args, **kwargs))[1]
    )
    resumed = run_imp(CONFIG, data=mnist1d, progress=False)
    assert calls == ["round 2 reinit", "round 2 random_mask"] + [f"round 3 {arm}" for arm in ARMS]
    assert sorted(p.name for p in folder.glob("*.pt")) == ["rewind.pt"] + [f"round_0{r}.pt" for r in range(4)]
    assert resumed.to_json() == run_imp(CONFIG, data=mnist1d, cache=False, progress=False).to_json()


def test_a_stacked_round_interrupted_resumes_at_that_round(mnist1d, monkeypatch, count_training):
    """Stacked, a round's arms finish together: an interruption loses that round's stack, nothing before."""
    real_train_stack = stacked.train_stack

    def interrupted_in_round_2(jobs, *args):
        if jobs[0].desc.startswith("round 2"):
            raise KeyboardInterrupt
        return real_train_stack(jobs, *args)

    monkeypatch.setattr(stacked, "train_stack", interrupted_in_round_2)
    with pytest.raises(KeyboardInterrupt):
        run_imp(CONFIG, data=mnist1d, progress=False)
    folder = sweep_cache(CONFIG, Context(mnist1d)).path
    assert sorted(p.name for p in folder.glob("*.pt")) == ["rewind.pt", "round_00.pt", "round_01.pt"]
    monkeypatch.setattr(stacked, "train_stack", real_train_stack)
    count_training.clear()
    run_imp(CONFIG, data=mnist1d, progress=False)
    assert count_training == [f"round {r} {arm}" for r in (2, 3) for arm in ARMS]


def test_more_rounds_extend_a_finished_sweep(mnist1d, count_training):
    shorter = run_imp(replace(CONFIG, rounds=1), data=mnist1d, progress=False)
    assert sweep_cache(replace(CONFIG, rounds=1), Context(mnist1d)).path == sweep_cache(CONFIG, Context(mnist1d)).path
    count_training.clear()
    longer = run_imp(CONFIG, data=mnist1d, progress=False)
    assert count_training == [f"round {r} {arm}" for r in (2, 3) for arm in ARMS]
    assert longer.to_json()["rounds"][:2] == shorter.to_json()["rounds"]


def test_a_damaged_cache_file_is_named_with_the_fix(mnist1d):
    run_imp(CONFIG, data=mnist1d, progress=False)
    damaged = sweep_cache(CONFIG, Context(mnist1d)).step_file("round_02")
    damaged.write_bytes(b"\x00" * 10)
    with pytest.raises(LtkitError, match=r"round_02.pt is damaged.*rm '.*round_02.pt'.*only that step"):
        run_imp(CONFIG, data=mnist1d, progress=False)


def test_the_dense_network_is_shared_by_sweeps_that_differ_only_in_pruning(mnist1d, count_training):
    run_imp(tiny_config(), data=mnist1d, progress=False)
    count_training.clear()
    run_imp(tiny_config(rewind_iter=3, controls=(), rates=0.3), data=mnist1d, progress=False)
    assert count_training == [None, "round 1 ticket", "round 2 ticket"]  # replay to k=3, then two tickets


def test_a_sweep_refuses_data_of_another_dataset(tiny_data):
    with pytest.raises(LtkitError, match="the data is 'tiny' but the experiment is set up for 'mnist1d'"):
        run_imp(tiny_config(), data=tiny_data, progress=False)


def test_seed_sweeps_are_the_profiles_seeds_of_one_sweep(mnist1d, count_training):
    sweeps = seed_sweeps(mnist1d, "mlp", "ci", epochs=0.3, rounds=1)
    assert [s.config.seed for s in sweeps] == [LESSON_SEED, LESSON_SEED + 1]  # the ci profile runs two seeds
    assert all(s.config.rounds == 1 and s.config.train.iterations == round(0.3 * 3500 / 100) for s in sweeps)
    count_training.clear()
    again = run_imp(imp_config("mnist1d", "mlp", "ci", epochs=0.3, rounds=1, seed=LESSON_SEED + 1), data=mnist1d)
    assert count_training == [] and again.to_json() == sweeps[1].to_json()
    assert sweeps[0].to_json()["rounds"] != sweeps[1].to_json()["rounds"]
    others = seed_sweeps(mnist1d, "mlp", "ci", seed=100, epochs=0.3, rounds=0)
    assert [s.config.seed for s in others] == [100, 101] and count_training == ["dense", "dense"]


# --- settings -------------------------------------------------------------------------------------------


def test_profiles_and_overrides_build_the_config():
    config = imp_config("fashion-mnist", "lenet300_100", "ci", seed=3, rounds=4)
    assert config.train.optimizer == "adam" and config.train.lr == 1.2e-3 and config.train.batch_size == 60
    assert config.rates == dict(fc=0.2, output=0.1) and config.rounds == 4 and config.seed == 3
    assert imp_config("fashion-mnist", "lenet300_100", "ci", rounds=None).rounds == 10  # None keeps the profile's
    paper = imp_config("fashion-mnist", "lenet300_100", "paper")
    assert paper.train.iterations == 50_000 and paper.rounds == 20
    one_epoch = imp_config("fashion-mnist", "lenet300_100", "ci", epochs=1)
    assert one_epoch.train.iterations == 55_000 // 60
    assert imp_config("cifar10", "resnet20", "ci").scope == "global"


def test_bad_imp_settings_are_explained():
    with pytest.raises(LtkitError, match="rewind iteration 40 must be in 0..39"):
        tiny_config(rewind_iter=40)
    with pytest.raises(LtkitError, match="unknown profile"):
        imp_config("mnist1d", "mlp", "huge")
    with pytest.raises(LtkitError, match="fraction"):
        replace(tiny_config(), rates=1.0)
    with pytest.raises(LtkitError, match="rounds must be 0 or more"):
        tiny_config(rounds=-1)


def test_unknown_settings_and_scopes_are_explained():
    with pytest.raises(LtkitError, match=r"imp_config\(\) has no setting rewind; the settings are: rates, rounds"):
        imp_config("mnist1d", "mlp", "ci", rewind=5)
    with pytest.raises(LtkitError, match="unknown pruning scope 'glob'"):
        tiny_config(scope="glob")
