import json

import pytest

from ltkit.cli import main


@pytest.mark.parametrize(
    "args, message",
    [
        (["imp", "--dataset", "mnist3d", "--model", "mlp"], "invalid choice: 'mnist3d'"),
        (["imp", "--dataset", "mnist1d", "--model", "resnet"], "invalid choice: 'resnet'"),
        (["imp", "--dataset", "mnist1d", "--model", "mlp", "--rate", "1.2"], "must be a fraction between 0 and 1"),
        (["imp", "--dataset", "mnist1d", "--model", "mlp", "--rounds", "-1"], "must be 0 or more"),
        (["imp", "--dataset", "mnist1d", "--model", "mlp", "--profile", "huge"], "invalid choice: 'huge'"),
        (["imp", "--dataset", "mnist1d", "--model", "conv2"], "needs image inputs"),
        (["imp", "--dataset", "mnist1d", "--model", "mlp", "--rewind", "999999"], "rewind iteration"),
        (["train", "--model", "mlp"], "the following arguments are required: --dataset"),
        (["train", "--dataset", "mnist1d", "--model", "mlp", "--device", "gpu"], "unknown device 'gpu'"),
        (["imp", "--dataset", "mnist1d", "--model", "mlp", "--json", "/"], "is a folder"),
    ],
)
def test_bad_arguments_give_one_clear_line_and_exit_code_2(run_ltkit, args, message):
    done = run_ltkit(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_imp_prints_a_table_and_writes_the_documented_json(tmp_path, data_root, capsys):
    out = tmp_path / "imp.json"
    args = [
        "imp",
        "--dataset",
        "mnist1d",
        "--model",
        "mlp",
        "--profile",
        "ci",
        "--rounds",
        "2",
        "--epochs",
        "1",
        "--json",
        str(out),
    ]
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "ticket" in table and "random_mask" in table and "100.0%" in table
    report = json.loads(out.read_text())
    assert report["config"]["dataset"] == "mnist1d" and len(report["rounds"]) == 3
    for row in report["rounds"]:
        assert set(row) >= {"weights_remaining", "ticket", "reinit", "random_mask"}
        for arm in ("ticket", "reinit", "random_mask"):
            assert set(row[arm]) >= {"test_acc", "val_acc", "early_stop_iter"}


def test_train_reports_accuracy_and_time(tmp_path, data_root, capsys):
    out = tmp_path / "train.json"
    assert main(["train", "--dataset", "mnist1d", "--model", "mlp", "--epochs", "2", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report) >= {"test_acc", "val_acc", "train_seconds", "epochs"}
    assert report["epochs"] == pytest.approx(2, rel=0.05) and report["test_acc"] > 0.2


def test_datasets_lists_what_is_here_and_what_is_missing(data_root, capsys):
    assert main(["datasets"]) == 0
    listing = capsys.readouterr().out
    assert "mnist1d" in listing and "here" in listing
    assert "cifar10" in listing and "missing" in listing and "internet" in listing
