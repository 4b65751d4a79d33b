"""Tickets in a pre-trained network: each arm starts where Chen et al. (2020) start it, masks prune what
they prune, the JSON has the shape the command promises, and a finished experiment loads without training."""

import copy
import json
from types import SimpleNamespace

import pytest
import torch

from ltkit.cli import main
from ltkit.engine import datasets
from ltkit.engine.datasets import Splits
from ltkit.engine.masks import layer_kinds
from ltkit.engine.models import build_model
from ltkit.experiments import pretrained, stats
from ltkit.experiments.dense import DenseConfig, dense_runs
from ltkit.experiments.registry import Context

SEED, ROUNDS = 3, 2
EXAMPLES = 300  # of each split of every text dataset: enough to train on for 20 steps, quick to evaluate
load_text_dataset = datasets.load_text_dataset


def small_text_dataset(name, device, val_size, split_seed):
    full = load_text_dataset(name, device, val_size, split_seed)
    parts = [tensor[:EXAMPLES] for part in ("train", "val", "test") for tensor in full.split(part)]
    return Splits(full.name, *parts, full.num_classes, full.split_id)


def shrink(patch):
    """Tiny runs: 20 fine-tuning iterations, and each text dataset cut to its first EXAMPLES of each split."""
    patch.setitem(pretrained.PRETRAINED_TICKETS["finetune"]["iterations"], "ci", 20)
    patch.setattr(datasets, "load_text_dataset", small_text_dataset)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A tiny experiment (30 pre-training and 20 fine-tuning iterations, two rounds) in a cache of its own,
    run once, with every job it trained recorded as it started: {desc: (task, weights, mask)}."""
    started = {}
    original = pretrained.train_together

    def recording(jobs, data, progress=True):
        for job in jobs:
            started[(data.name, job.desc)] = (copy.deepcopy(job.model.state_dict()), job.mask)
        return original(jobs, data, progress)

    data = str(tmp_path_factory.mktemp("data"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LTKIT_DATA", data)
        shrink(patch)
        patch.setattr(pretrained, "train_together", recording)
        config = pretrained.pretrained_config(
            profile="ci", rounds=ROUNDS, pretrain_iterations=30, seed=SEED, pretrain_seed=SEED
        )
        result = pretrained.run_pretrained(config, progress=False)
        context = Context.of(config)
        dense = DenseConfig(config.dataset, config.model, pretrained.pretraining_recipe(config), config.pretrain_seed)
        pretrained_state = dense_runs([dense], context)[0].state
        yield dict(result=result, started=started, pretrained=pretrained_state, config=config, data=data)


def test_the_json_has_both_sweeps_and_the_transfers_of_every_task(small):
    tasks = small["result"].to_json()["tasks"]
    assert set(tasks) == {"heldout-lm", "textkinds"}
    for name, task in tasks.items():
        for sweep in ("pretrained", "random_init"):
            rounds = task[sweep]["rounds"]
            assert [r["round"] for r in rounds] == list(range(ROUNDS + 1))
            assert rounds[0]["weights_remaining"] == 1.0
            assert rounds[1]["weights_remaining"] == pytest.approx(0.64, abs=1e-3)
            assert all(0 < r["ticket"]["final_test_acc"] < 1 for r in rounds)
        assert task["random_init"]["rounds"][1]["reinit"] is None  # the random-init sweep has no controls
        assert task["pretrained"]["rounds"][1]["reinit"]["final_test_acc"] > 0
        sources = {t["source"] for t in task["transfer"]}
        assert sources == ({"stdlib", "heldout-lm"} if name == "textkinds" else {"stdlib"})
        for row in task["transfer"]:
            assert row["weights_remaining"] == task["pretrained"]["rounds"][row["round"]]["weights_remaining"]


def test_the_ticket_starts_from_the_pre_trained_weights_and_a_classifier_from_a_new_head(small):
    pre = small["pretrained"]
    weights, mask = small["started"][("textkinds", "pretrained_01_ticket")]
    reinit, _ = small["started"][("textkinds", "pretrained_01_reinit")]
    scratch, _ = small["started"][("textkinds", "random_init_00_ticket")]
    for name, w in weights.items():
        if name == "head.weight":  # a head of its own (biases start at zero): not the reinit's, not the scratch one's
            assert not torch.equal(w, reinit[name]) and not torch.equal(w, scratch[name]), name
        elif name != "head.bias":
            assert torch.equal(w, pre[name]), name
    lm_weights, _ = small["started"][("heldout-lm", "pretrained_01_ticket")]
    assert all(torch.equal(lm_weights[name], pre[name]) for name in pre)  # the language model keeps its head
    assert set(mask) == {
        n for n, kind in layer_kinds(build_model("window_classifier", (32,), 3)).items() if kind in ("attention", "mlp")
    }


def test_the_controls_start_from_fresh_weights_or_a_random_mask_of_the_same_size(small):
    started = small["started"]
    ticket, mask = started[("textkinds", "pretrained_01_ticket")]
    reinit, reinit_mask = started[("textkinds", "pretrained_01_reinit")]
    shuffled, random_mask = started[("textkinds", "pretrained_01_random_mask")]
    assert all(torch.equal(reinit_mask[n], mask[n]) for n in mask)
    scratch, _ = started[("textkinds", "random_init_00_ticket")]
    for name in mask:  # fresh values: not the pre-trained ones, and not the from-scratch sweep's either
        assert not torch.equal(reinit[name], ticket[name]) and not torch.equal(reinit[name], scratch[name]), name
    assert all(torch.equal(shuffled[n], ticket[n]) for n in ticket)
    for name in mask:
        assert int(random_mask[name].sum()) == int(mask[name].sum()) and not torch.equal(random_mask[name], mask[name])


def test_the_random_init_sweep_rewinds_to_its_own_initialisation(small):
    started = small["started"]
    dense, no_mask = started[("heldout-lm", "random_init_00_ticket")]
    ticket, mask = started[("heldout-lm", "random_init_01_ticket")]
    assert no_mask is None and mask is not None
    assert all(torch.equal(dense[n], ticket[n]) for n in dense)
    assert not torch.equal(dense["token.weight"], small["pretrained"]["token.weight"])


def test_each_round_removes_the_smallest_36_percent_of_the_remaining_pruned_weights_all_layers_together(small):
    """Recomputed here: the magnitudes of the round-1 ticket's trained weights where its mask keeps them,
    ranked in one list; round 2's mask keeps exactly those above the 36% cut."""
    result = small["result"].tasks["heldout-lm"]
    mask1, mask2 = result.masks[("pretrained", 1)], result.masks[("pretrained", 2)]
    state = result.tickets[("pretrained", 1)]
    kept = torch.cat([state[n].abs()[mask1[n]] for n in mask1])
    cut = kept.sort().values[round(0.36 * len(kept)) - 1]
    for name in mask1:
        assert torch.equal(mask2[name], mask1[name] & (state[name].abs() > cut)), name


def test_a_transferred_mask_is_the_one_imp_found_on_its_source(small):
    started, result = small["started"], small["result"].tasks
    _, from_lm = started[("textkinds", "transfer_01_heldout-lm")]
    assert all(torch.equal(from_lm[n], result["heldout-lm"].masks[("pretrained", 1)][n]) for n in from_lm)
    weights, from_stdlib = started[("stdlib", "stdlib round 1")]  # the pre-training task's own IMP, round 1
    _, used = started[("heldout-lm", "transfer_01_stdlib")]
    assert all(torch.equal(from_stdlib[n], used[n]) for n in used)
    assert all(torch.equal(weights[n], small["pretrained"][n]) for n in weights)  # rewound to the pre-trained


def test_the_same_experiment_again_trains_nothing(small, count_training, monkeypatch):
    monkeypatch.setenv("LTKIT_DATA", small["data"])
    shrink(monkeypatch)
    again = pretrained.run_pretrained(small["config"], progress=False)
    assert count_training == [] and again.to_json() == small["result"].to_json()
    for name, task in small["result"].tasks.items():  # the masks too, which the JSON does not show
        for key, mask in task.masks.items():
            assert all(torch.equal(mask[n], again.tasks[name].masks[key][n]) for n in mask), (name, key)


def test_the_command_runs_one_task_and_writes_the_promised_json(small, tmp_path, monkeypatch):
    monkeypatch.setenv("LTKIT_DATA", small["data"])
    shrink(monkeypatch)
    out = tmp_path / "pre.json"
    args = ["pretrained-imp", "--task", "heldout-lm", "--profile", "ci", "--seed", str(SEED), "--rounds", "2"]
    assert main([*args, "--pretrain-iterations", "30", "--pretrain-seed", str(SEED), "--json", str(out)]) == 0
    tasks = json.loads(out.read_text())["tasks"]
    assert list(tasks) == ["heldout-lm"]
    assert tasks["heldout-lm"] == small["result"].to_json()["tasks"]["heldout-lm"]


def test_bad_settings_are_one_line(capsys):
    assert main(["pretrained-imp", "--profile", "ci", "--epochs", "2"]) == 2
    assert "not epochs" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit:
        main(["pretrained-imp", "--task", "sentiment"])
    assert exit.value.code == 2 and "invalid choice: 'sentiment'" in capsys.readouterr().err


def test_across_seeds_gives_every_line_at_every_round_as_the_json_has_it(small):
    """pretrained_across_seeds against the JSON, read independently: each line's mean over two results."""
    results = [small["result"], small["result"]]
    for name, task in small["result"].to_json()["tasks"].items():
        lines = stats.pretrained_across_seeds(results, name)
        pre, scratch = task["pretrained"]["rounds"], task["random_init"]["rounds"]
        for arm in ("ticket", "reinit", "random_mask"):
            assert lines[arm]["mean"] == pytest.approx([r[arm]["final_test_acc"] for r in pre])
        assert lines["random_init"]["mean"] == pytest.approx([r["ticket"]["final_test_acc"] for r in scratch])
        for source in {t["source"] for t in task["transfer"]}:
            rows = [t for t in task["transfer"] if t["source"] == source]
            expected = [pre[0]["ticket"]["final_test_acc"]] + [t["final_test_acc"] for t in rows]  # round 0: dense
            assert lines[f"{source}_mask"]["mean"] == pytest.approx(expected)
            assert lines[f"{source}_mask"]["weights_remaining"] == [r["weights_remaining"] for r in pre]
        assert all(std == 0 for line in lines.values() for std in line["std"])  # the same result twice


def test_matching_is_the_pre_trained_networks_dense_fine_tuning_over_seeds():
    def result(dense_acc):  # all that matching reads of a result: the dense fine-tuning on its task
        dense = [dict(ticket=SimpleNamespace(final_test_acc=dense_acc))]
        return SimpleNamespace(tasks=dict(textkinds=SimpleNamespace(sweeps=dict(pretrained=dense))))

    matching = stats.pretrained_matching([result(0.8), result(0.7)], "textkinds")
    assert matching.dense_final_accs == [0.8, 0.7]
    assert matching.threshold == pytest.approx(0.75 - 0.1 / 2**0.5)  # the mean less the sample std of two
    assert matching(0.71) and not matching(0.67)


def test_the_lessons_seeds_fine_tune_one_pre_trained_network(small, monkeypatch):
    monkeypatch.setenv("LTKIT_DATA", small["data"])
    shrink(monkeypatch)
    monkeypatch.setitem(pretrained.PRETRAINED_TICKETS["pretrain_iterations"], "ci", 30)
    monkeypatch.setitem(pretrained.PRETRAINED_TICKETS["rounds"], "ci", ROUNDS)
    monkeypatch.setitem(pretrained.PRETRAINED_TICKETS["matching_seeds"], "ci", 2)
    sweeps, dense = pretrained.pretrained_seeds("ci", seed=SEED)
    assert [r.config.seed for r in sweeps] == [SEED] and [r.config.seed for r in dense] == [SEED, SEED + 1]
    assert {r.config.pretrain_seed for r in sweeps + dense} == {SEED}
    assert sweeps[0].to_json() == small["result"].to_json()  # the cached experiment, loaded
    assert [len(r.tasks["heldout-lm"].sweeps["pretrained"]) for r in dense] == [ROUNDS + 1, 1]  # the extra: dense


def test_the_explorer_opens_on_the_dense_networks_and_answers_each_round(small):
    from ltkit.course.dashboards import pretrained_explorer

    results = [small["result"]]
    explorer = pretrained_explorer(results, results * 2)
    assert explorer.state["round"] == 0 and not explorer.state["revealed"]
    assert set(explorer.state) >= {"ticket", "random_init"} and "reinit" not in explorer.state  # dense only
    lines = stats.pretrained_across_seeds(results, "textkinds")
    explorer.inputs["task"].value = "textkinds"
    explorer.inputs["round"].value = ROUNDS
    for name in ("ticket", "reinit", "random_mask", "random_init", "stdlib_mask", "heldout-lm_mask"):
        assert explorer.state[name] == pytest.approx(lines[name]["mean"][ROUNDS])
    assert "Reveal" in explorer.ui.children[2].value  # the answer waits for a guess
