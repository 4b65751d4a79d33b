"""The `ltkit` command: one line for every mistake, and tables and JSON that hold the experiments' figures."""

import json
import statistics

import pytest

from ltkit.cli import build_parser, main
from ltkit.engine.datasets import load_dataset
from ltkit.engine.models import build_model
from ltkit.engine.training import train
from ltkit.experiments.dense import two_initialisations
from ltkit.experiments.imp import imp_config, run_imp
from ltkit.experiments.instability import instability_config, run_instability
from ltkit.experiments.profiles import training_recipe

IMP = ["imp", "--dataset", "mnist1d", "--model", "mlp"]
INSTABILITY = ["instability", "--dataset", "mnist1d", "--model", "mlp"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["imp", "--dataset", "mnist3d", "--model", "mlp"], "invalid choice: 'mnist3d'"),
        (["imp", "--dataset", "mnist1d", "--model", "resnet"], "invalid choice: 'resnet'"),
        ([*IMP, "--rate", "1.2"], "must be a fraction between 0 and 1"),
        ([*IMP, "--rounds", "-1"], "must be 0 or more"),
        ([*IMP, "--profile", "huge"], "invalid choice: 'huge'"),
        (["imp", "--dataset", "mnist1d", "--model", "conv2"], "needs image inputs"),
        ([*IMP, "--rewind-iter", "999999"], "rewind iteration 999999"),
        ([*IMP, "--rewind", "999999"], "rewind iteration 999999"),
        ([*IMP, "--json", "/"], "is a folder"),
        (["train", "--model", "mlp"], "the following arguments are required: --dataset"),
        (["train", "--dataset", "mnist1d", "--model", "mlp", "--device", "gpu"], "unknown device 'gpu'"),
        (INSTABILITY, "required: --rewind-iters"),
        ([*INSTABILITY, "--rewind-iters", "0,ten"], "separated by commas"),
        ([*INSTABILITY, "--rewind", "0,-5"], "must be 0 or more"),
        ([*INSTABILITY, "--rewind-iters", "0,99999"], "rewind iteration 99999"),
        ([*INSTABILITY, "--rewind", "0", "--sparsity", "2"], "fraction"),
        ([*INSTABILITY, "--rewind", "0", "--weights-remaining", "0"], "fraction"),
        ([*INSTABILITY, "--rewind", "0", "--pairs", "0"], "must be 1 or more"),
        (["curve", "--dataset", "mnist1d", "--model", "mlp", "--kind", "spline"], "invalid choice: 'spline'"),
        (["fge", "--dataset", "mnist1d", "--model", "conv2"], "needs image inputs"),
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


def test_the_old_option_names_still_work():
    parser = build_parser()
    for option in ("--rewind-iter", "--rewind"):
        assert parser.parse_args([*IMP, option, "7"]).rewind_iter == 7
    for rewind, remaining in (("--rewind-iters", "--weights-remaining"), ("--rewind", "--sparsity")):
        args = parser.parse_args([*INSTABILITY, rewind, "0,100", remaining, "0.25", "--pairs", "3"])
        assert (args.rewind_iters, args.weights_remaining, args.pairs) == ([0, 100], 0.25, 3)


def test_imp_prints_a_table_and_writes_the_sweeps_figures(tmp_path, data_root, capsys):
    out = tmp_path / "imp.json"
    assert main([*IMP, "--profile", "ci", "--rounds", "2", "--epochs", "1", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    report = json.loads(out.read_text())
    sweep = run_imp(imp_config("mnist1d", "mlp", "ci", epochs=1, rounds=2), data=load_dataset("mnist1d"))
    assert report == json.loads(json.dumps(sweep.to_json()))  # the same sweep, from the cache
    assert len(report["rounds"]) == 3 and report["config"]["rewind_iter"] == 0
    for record, line in zip(sweep.rounds, table.splitlines()[2:]):
        cells = [f"{100 * record.results[arm].test_acc:6.1f}%" for arm in ("ticket", "reinit", "random_mask")]
        assert line.split()[:2] == [str(record.round), f"{100 * record.weights_remaining:.1f}%"]
        assert all(cell.strip() in line for cell in cells)


def test_train_reports_the_runs_accuracy_and_length(tmp_path, data_root, capsys):
    out = tmp_path / "train.json"
    assert main(["train", "--dataset", "mnist1d", "--model", "mlp", "--epochs", "2", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    config = training_recipe("mnist1d", "mlp", epochs=2)
    result = train(build_model("mlp", (40,)), load_dataset("mnist1d"), config, progress=False)
    assert report["iterations"] == config.iterations == 70 and report["epochs"] == pytest.approx(2)
    assert {key: report[key] for key in result.summary()} == result.summary()
    assert f"test accuracy {100 * result.test_acc:.1f}%" in capsys.readouterr().out


def test_instability_writes_every_arms_barriers_and_lines(tmp_path, data_root, capsys):
    out = tmp_path / "instability.json"
    common = ["--profile", "ci", "--epochs", "1", "--rewind-iters", "10", "--pairs", "2"]
    assert main([*INSTABILITY, *common, "--weights-remaining", "0.85", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["config"]["pairs"] == 2 and [row["k"] for row in report["rewind"]] == [10]
    config = instability_config("mnist1d", "mlp", "ci", epochs=1, pairs=2)
    rows = run_instability(config, [10], 0.85, data=load_dataset("mnist1d"))  # from the cache
    for row, entry in zip(rows, report["rewind"]):
        assert set(entry) == {"k", "dense", "ticket", "random_mask", "reinit"}
        for arm in ("dense", "ticket", "random_mask", "reinit"):
            figures, lines = entry[arm], entry[arm]["lines"]
            barriers = [
                max(p["test_err"] for p in line) - (line[0]["test_err"] + line[-1]["test_err"]) / 2 for line in lines
            ]
            assert figures["pairs"] == len(lines) == 2 and figures["barriers"] == barriers
            assert figures["barrier"] == pytest.approx(statistics.mean(barriers), abs=1e-12)
            assert figures["barrier_std"] == pytest.approx(statistics.stdev(barriers), abs=1e-6)
            assert figures["line"] == lines[0] and len(lines[0]) == 30
            assert figures["test_err_ends"] == [lines[0][0]["test_err"], lines[0][-1]["test_err"]]
            assert figures["barriers"] == row[arm].barriers and figures["final_test_acc"] == row[arm].final_test_acc
            assert figures["weights_remaining"] == row[arm].weights_remaining
        assert entry["dense"]["weights_remaining"] == 1.0
        assert entry["ticket"]["weights_remaining"] == pytest.approx((14_000 * 0.8 + 1000 * 0.9) / 15_000, abs=1e-3)
        cells = [
            f"{100 * entry[arm]['barrier']:5.1f} +- {100 * entry[arm]['barrier_std']:4.1f}"
            for arm in entry
            if arm != "k"
        ]
        assert any(line.split()[0] == str(entry["k"]) and all(c in line for c in cells) for line in table.splitlines())


def test_align_prints_the_line_before_and_after_and_writes_both_paths(tmp_path, data_root, capsys):
    out = tmp_path / "align.json"
    args = ["align", "--dataset", "mnist1d", "--model", "mlp", "--profile", "ci", "--epochs", "2", "--json", str(out)]
    assert main(args) == 0
    assert "barrier (points): before" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["seeds"] == list(two_initialisations(0))
    for path, barrier in (("line", "barrier_before"), ("aligned", "barrier_after")):
        errors = [point["test_err"] for point in report[path]]
        assert len(errors) == 30 and report[barrier] == max(errors) - (errors[0] + errors[-1]) / 2
    assert report["barrier_after"] < report["barrier_before"]
    assert main(["align", "--dataset", "mnist1d", "--model", "cnn1d", "--profile", "ci"]) == 2
    assert "fully connected layers only" in capsys.readouterr().err


def test_curve_and_fge_print_tables_and_write_their_figures(tmp_path, data_root, capsys):
    common = ["--dataset", "mnist1d", "--model", "mlp", "--profile", "ci", "--epochs", "2"]
    out = tmp_path / "curve.json"
    assert main(["curve", *common, "--kind", "polychain", "--json", str(out)]) == 0
    assert "barrier (points): straight line" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["kind"] == "polychain" and report["seeds"] == list(two_initialisations(0))
    for path in ("line", "curve"):
        errors = [point["test_err"] for point in report[path]]
        assert len(errors) == 30 and report[f"barrier_{path}"] == max(errors) - (errors[0] + errors[-1]) / 2
    assert report["line"][0]["test_err"] == report["curve"][0]["test_err"]

    out = tmp_path / "fge.json"
    assert main(["fge", *common, "--json", str(out)]) == 0
    assert "annealed" in capsys.readouterr().out
    report = json.loads(out.read_text())
    config = report["config"]
    assert len(report["snapshots"]) == config["cycles"] == 8
    assert report["budget"] == config["train"]["iterations"] + config["cycles"] * config["cycle"]
    assert report["best_snapshot_acc"] == max(s["test_acc"] for s in report["snapshots"])
    assert report["independent_seeds"] == [10_000, 10_001] and 0 < report["annealed_single_acc"] <= 1


def test_datasets_lists_what_is_here_and_what_is_missing(data_root, capsys):
    assert main(["datasets"]) == 0
    listing = capsys.readouterr().out
    assert "mnist1d" in listing and "here" in listing
    assert "cifar10" in listing and "missing" in listing and "internet" in listing
