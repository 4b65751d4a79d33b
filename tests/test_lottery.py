from dataclasses import replace

import pytest
import torch

from ltkit import lottery
from ltkit.errors import LtkitError
from ltkit.lottery import IMPConfig, imp_config, round_starts, run_imp
from ltkit.train import TrainConfig

TINY = TrainConfig(iterations=40, batch_size=50, eval_every=20)


def tiny_config(**fields):
    return IMPConfig(
        **{**dict(dataset="mnist1d", model="mlp", train=TINY, rounds=2, rates=dict(fc=0.5, output=0.2)), **fields}
    )


def test_each_round_prunes_the_given_fraction_of_what_remains(mnist1d):
    result = run_imp(tiny_config(), data=mnist1d, progress=False)
    fc, out = 40 * 100 + 100 * 100, 100 * 10
    for r, record in enumerate(result.rounds):
        expected = (fc * 0.5**r + out * 0.8**r) / (fc + out)
        assert record["weights_remaining"] == pytest.approx(expected, abs=1e-3)
    for earlier, later in zip(result.rounds, result.rounds[1:]):
        for name, keep in later["mask"].items():
            assert not (keep & ~earlier["mask"][name]).any()  # once pruned, always pruned


@pytest.mark.parametrize("rewind_iter", [0, 7])
def test_the_ticket_restarts_from_exactly_the_rewind_weights_and_the_controls_differ_as_designed(mnist1d, rewind_iter):
    config = tiny_config(rewind_iter=rewind_iter)
    result = run_imp(config, data=mnist1d, progress=False)
    dense = result.rounds[0]
    mask, starts = round_starts(config, mnist1d, 1, dense, dense)
    assert all(torch.equal(mask[n], result.rounds[1]["mask"][n]) for n in mask)

    ticket_state, ticket_mask = starts["ticket"]
    reinit_state, reinit_mask = starts["reinit"]
    random_state, random_mask = starts["random_mask"]
    assert ticket_state is dense["rewind_state"] and random_state is dense["rewind_state"]
    assert ticket_mask is mask and reinit_mask is mask
    assert not torch.equal(reinit_state["layers.1.weight"], ticket_state["layers.1.weight"])
    for name in mask:
        assert int(random_mask[name].sum()) == int(mask[name].sum())
        assert not torch.equal(random_mask[name], mask[name])
    init = lottery.new_model(config, mnist1d, config.seed).state_dict()
    rewound_to_init = all(torch.equal(init[k], v) for k, v in dense["rewind_state"].items())
    assert rewound_to_init == (rewind_iter == 0)


def test_every_arm_of_a_round_trains_with_a_fresh_optimizer_from_the_rewind_iteration(mnist1d, monkeypatch):
    calls = []
    real_train = lottery.train

    def spy(model, data, config, **kwargs):
        calls.append(dict(kwargs, iterations=config.iterations))
        return real_train(model, data, config, **kwargs)

    monkeypatch.setattr(lottery, "train", spy)
    run_imp(tiny_config(rewind_iter=5), data=mnist1d, cache=False, progress=False)
    dense, to_k, *arms = calls
    assert dense["iterations"] == 40 and "mask" not in dense and dense.get("start_iter", 0) == 0
    assert to_k["iterations"] == 5 and to_k["data_seed"] == dense["data_seed"]  # replays the dense run up to k
    assert [c["start_iter"] for c in arms] == [5] * 6 and all(c["iterations"] == 40 for c in arms)
    assert all("optimizer" not in c for c in calls)  # train() makes its own, so no state crosses rounds


def test_the_dense_network_is_shared_by_sweeps_that_differ_only_in_pruning(mnist1d, count_training):
    run_imp(tiny_config(), data=mnist1d, progress=False)
    count_training.clear()
    run_imp(tiny_config(rewind_iter=3, controls=False, rates=0.3), data=mnist1d, progress=False)
    assert "dense" not in count_training and len(count_training) == 1 + 2  # replay to k=3, then two tickets


def test_a_sweep_refuses_data_of_another_dataset(tiny_data):
    with pytest.raises(LtkitError, match="the data is 'tiny' but the experiment is set up for 'mnist1d'"):
        run_imp(tiny_config(), data=tiny_data, progress=False)


def test_the_json_has_the_documented_fields(mnist1d):
    report = run_imp(tiny_config(), data=mnist1d, progress=False).to_json()
    assert report["config"]["model"] == "mlp" and report["config"]["rounds"] == 2
    for row in report["rounds"]:
        assert 0 < row["weights_remaining"] <= 1
        for arm in ("ticket", "reinit", "random_mask"):
            assert {"test_acc", "val_acc", "early_stop_iter"} <= set(row[arm])
            assert 0 <= row[arm]["test_acc"] <= 1


def test_profiles_and_overrides_build_the_config():
    config = imp_config("fashion-mnist", "lenet300_100", "ci", seed=3, rounds=4)
    assert config.train.optimizer == "adam" and config.train.lr == 1.2e-3 and config.train.batch_size == 60
    assert config.rates == dict(fc=0.2, output=0.1) and config.rounds == 4 and config.seed == 3
    paper = imp_config("fashion-mnist", "lenet300_100", "paper")
    assert paper.train.iterations == 50_000
    one_epoch = imp_config("fashion-mnist", "lenet300_100", "ci", epochs=1)
    assert one_epoch.train.iterations == 55_000 // 60


def test_bad_imp_settings_are_explained():
    with pytest.raises(LtkitError, match="rewind iteration"):
        tiny_config(rewind_iter=40)
    with pytest.raises(LtkitError, match="unknown profile"):
        imp_config("mnist1d", "mlp", "huge")
    with pytest.raises(LtkitError, match="fraction"):
        replace(tiny_config(), rates=1.0)


def test_unknown_settings_and_scopes_are_explained():
    with pytest.raises(LtkitError, match=r"imp_config\(\) has no setting rewind; the settings are: rates, rounds"):
        imp_config("mnist1d", "mlp", "ci", rewind=5)
    with pytest.raises(LtkitError, match="unknown pruning scope 'glob'"):
        tiny_config(scope="glob")


def test_seeds_are_combined_only_for_sweeps_of_the_same_length(mnist1d):
    from ltkit.lottery import across_seeds

    short, longer = (run_imp(tiny_config(rounds=n), data=mnist1d, progress=False) for n in (1, 2))
    with pytest.raises(LtkitError, match="same number of rounds"):
        across_seeds([short, longer])
    summary = across_seeds([longer, longer])
    assert summary["ticket"]["std"] == [0.0] * 3 and len(summary["reinit"]["mean"]) == 3
