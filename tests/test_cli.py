"""The `ltkit` command, made from the registry: a command per experiment, a flag per setting, one line for
every mistake, and tables and JSON that are the results' own."""

import dataclasses
import json
import subprocess
import sys

import pytest

import ltkit
from ltkit.cli import build_parser, main
from ltkit.engine.datasets import load_dataset
from ltkit.experiments import pretrained
from ltkit.experiments.registry import EXPERIMENTS, text_table

IMP = ["imp", "--dataset", "mnist1d", "--model", "mlp"]
INSTABILITY = ["instability", "--dataset", "mnist1d", "--model", "mlp"]
# The smallest run of each experiment (ci profile, one epoch a run); every registered one must be here.
SMALL = {
    "train": ["--dataset", "mnist1d", "--model", "mlp"],
    "imp": ["--dataset", "mnist1d", "--model", "mlp", "--rounds", "1"],
    "oneshot": ["--dataset", "mnist1d", "--model", "mlp"],
    "prune-at-init": ["--dataset", "mnist1d", "--model", "mlp", "--rounds", "1"],
    "retrain": ["--weights-remaining", "0.5"],
    "instability": ["--dataset", "mnist1d", "--model", "mlp", "--rewind-iters", "0,10", "--weights-remaining", "0.85"],
    "rewinding": ["--rewind-iters", "0,10", "--weights-remaining", "0.85", "--pairs", "1", "--dense-seeds", "2"],
    "curve": ["--dataset", "mnist1d", "--model", "mlp", "--kind", "polychain"],
    "plane": ["--dataset", "mnist1d", "--model", "mlp", "--resolution", "3"],
    "align": ["--dataset", "mnist1d", "--model", "mlp"],
    "fge": ["--dataset", "mnist1d", "--model", "mlp", "--cycles", "2"],
    "pretrained-imp": ["--task", "heldout-lm", "--rounds", "1", "--pretrain-iterations", "20"],
}
FINE_TUNED = {"pretrained-imp"}  # sized in iterations (shortened here), not epochs


def smallest(name, monkeypatch):
    """The epochs flag of SMALL[name]'s run (or, for a fine-tuning experiment, its fine-tuning shortened)."""
    if name not in FINE_TUNED:
        return ["--epochs", "1"], 1
    monkeypatch.setitem(pretrained.PRETRAINED_TICKETS["finetune"]["iterations"], "ci", 10)
    return [], None


@pytest.mark.parametrize(
    "args, message",
    [
        (["imp", "--dataset", "mnist3d", "--model", "mlp"], "invalid choice: 'mnist3d'"),
        (["imp", "--dataset", "mnist1d", "--model", "resnet"], "invalid choice: 'resnet'"),
        ([*IMP, "--rate", "1.2"], "must be a fraction in [0, 1)"),
        ([*IMP, "--rates", "fc=0.2,output"], "must be a rate like 0.2, or fc=0.2,output=0.1"),
        ([*IMP, "--rounds", "-1"], "rounds must be 0 or more"),
        ([*IMP, "--rounds", "two"], "must be int; got two"),
        ([*IMP, "--profile", "huge"], "invalid choice: 'huge'"),
        ([*IMP, "--scope", "everywhere"], "invalid choice: 'everywhere'"),
        ([*IMP, "--round", "3", "--unknown"], "unrecognized arguments: --unknown"),
        (["imp", "--dataset", "mnist1d", "--model", "conv2"], "needs image inputs"),
        ([*IMP, "--rewind-iter", "999999"], "rewind iteration 999999"),
        ([*IMP, "--rewind", "999999"], "rewind iteration 999999"),
        ([*IMP, "--epochs", "0"], "epochs must be positive"),
        ([*IMP, "--json", "/"], "is a folder"),
        (["train", "--model", "mlp"], "the following arguments are required: --dataset"),
        (["train", "--dataset", "mnist1d", "--model", "mlp", "--device", "gpu"], "unknown device 'gpu'"),
        ([*INSTABILITY, "--rewind-iters", "0,ten"], "must be ints separated by commas; got 0,ten"),
        ([*INSTABILITY, "--rewind-iters", "0,99999"], "rewind iteration 99999"),
        ([*INSTABILITY, "--rewind-iters", "0", "--weights-remaining", "2"], "fraction"),
        ([*INSTABILITY, "--rewind-iters", "0", "--pairs", "0"], "at least one pair"),
        (["curve", "--dataset", "mnist1d", "--model", "mlp", "--kind", "spline"], "spline"),
        (["fge", "--dataset", "mnist1d", "--model", "conv2"], "needs image inputs"),
        (["--plugin", "nowhere.py", "datasets"], "there is no such file"),
        (["--plugin", "no_such_module_here", "datasets"], "failed on import: ModuleNotFoundError"),
    ],
)
def test_bad_arguments_give_one_clear_line_and_exit_code_2(data_root, capsys, args, message):
    try:
        code = main(args)
    except SystemExit as exit:  # argparse's errors
        code = exit.code
    error = capsys.readouterr().err
    assert code == 2 and message in error
    assert len(error.strip().splitlines()) == 1 and error.startswith("ltkit: error: ")


def test_a_mistake_is_one_line_in_a_fresh_process_too(run_ltkit):
    done = run_ltkit("train", "--dataset", "mnist1d", "--model", "mlp", "--device", "gpu")
    assert done.returncode == 2 and "unknown device 'gpu'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_the_help_lists_every_experiment_and_every_setting_with_its_help():
    done = subprocess.run([sys.executable, "-m", "ltkit.cli", "--help"], capture_output=True, text=True, check=True)
    assert all(name in done.stdout for name in EXPERIMENTS)
    parser = build_parser()
    for name, experiment in EXPERIMENTS.items():
        text = parser._subparsers._group_actions[0].choices[name].format_help()
        for field in dataclasses.fields(experiment.settings)[3:]:
            assert f"--{field.name.replace('_', '-')}" in text, (name, field.name)


def test_every_experiment_has_a_command_and_a_small_run_to_test_it_with():
    assert set(SMALL) == set(EXPERIMENTS), "give a new experiment its smallest run in SMALL"


def test_the_old_option_names_still_work():
    parser = build_parser()
    for option in ("--rewind-iter", "--rewind"):
        assert parser.parse_args([*IMP, option, "7"]).rewind_iter == 7
    assert parser.parse_args([*IMP, "--rate", "0.5"]).rates == 0.5
    assert parser.parse_args([*IMP, "--rates", "fc=0.5,output=0.25"]).rates == dict(fc=0.5, output=0.25)
    args = parser.parse_args([*INSTABILITY, "--rewind-iters", "0,100", "--sparsity", "0.25", "--pairs", "3"])
    assert (args.rewind_iters, args.weights_remaining, args.pairs) == ((0, 100), 0.25, 3)
    assert parser.parse_args([*IMP, "--no-controls"]).controls == ()
    assert parser.parse_args([*IMP, "--controls", "reinit"]).controls == ("reinit",)


@pytest.mark.parametrize("name", list(SMALL))
def test_each_command_prints_its_results_table_and_writes_its_json(name, tmp_path, data_root, capsys, monkeypatch):
    out = tmp_path / f"{name}.json"
    epochs_flag, epochs = smallest(name, monkeypatch)
    assert main([name, *SMALL[name], "--profile", "ci", *epochs_flag, "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    experiment = EXPERIMENTS[name]
    args = build_parser().parse_args([name, *SMALL[name]])
    fields = {f.name: getattr(args, f.name) for f in dataclasses.fields(experiment.settings)[3:]}
    config = experiment.config(args.dataset, args.model, "ci", epochs=epochs, **fields)
    assert report["config"] == json.loads(json.dumps(config.to_dict()))
    result = experiment(config, data=load_dataset(config.dataset), progress=False)  # the same run, cached
    assert report == json.loads(json.dumps(result.to_json()))
    assert text_table(result.table()) in printed


def test_imp_prints_each_rounds_accuracies_in_percent(tmp_path, data_root, capsys):
    assert main([*IMP, "--profile", "ci", "--rounds", "2", "--epochs", "1"]) == 0
    table = capsys.readouterr().out.splitlines()
    sweep = ltkit.run_imp(ltkit.imp_config("mnist1d", "mlp", "ci", epochs=1, rounds=2), progress=False)
    assert table[1].split()[:3] == ["round", "weights_remaining", "ticket_final_test_acc"]
    for record, line in zip(sweep.rounds, table[2:]):
        cells = [f"{100 * record.results[arm].final_test_acc:.1f}%" for arm in ("ticket", "reinit", "random_mask")]
        assert line.split()[:2] == [str(record.round), f"{100 * record.weights_remaining:.1f}%"]
        assert line.split()[2:5] == cells


def test_datasets_lists_what_is_here_and_what_is_missing(data_root, capsys):
    assert main(["datasets"]) == 0
    listing = capsys.readouterr().out
    assert "mnist1d" in listing and "here" in listing
    assert "cifar10" in listing and "missing" in listing and "internet" in listing
