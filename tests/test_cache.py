"""The run cache exported to one archive and imported elsewhere, whole runs at a time, overwriting none."""

import io
import random
import tarfile

import pytest

from ltkit.cli import main
from ltkit.engine.training import TrainConfig
from ltkit.errors import LtkitError
from ltkit.experiments.imp import IMPConfig, run_imp
from ltkit.store.archive import export_runs, import_runs

CONFIG = IMPConfig("mnist1d", "mlp", TrainConfig(iterations=30, batch_size=50, eval_every=10), rounds=1, rates=0.5)


def run_folders(root):
    return sorted(path.name for path in (root / "runs").iterdir())


def test_a_sweep_exported_and_imported_into_an_empty_cache_loads_without_training(
    mnist1d, data_root, tmp_path, monkeypatch, count_training
):
    first = run_imp(CONFIG, data=mnist1d, progress=False)
    archive = tmp_path / "runs.tar.gz"
    assert export_runs(archive) == len([p for p in (data_root / "runs").rglob("*") if p.is_file()])
    elsewhere = tmp_path / "elsewhere"
    runs = len(run_folders(data_root))
    assert import_runs(archive, root=elsewhere) == (runs, 0)
    assert import_runs(archive, root=elsewhere) == (0, runs)  # nothing is overwritten
    monkeypatch.setenv("LTKIT_DATA", str(elsewhere))  # from now on, only the imported cache
    count_training.clear()
    again = run_imp(CONFIG, data=mnist1d, progress=False)
    assert again.to_json() == first.to_json() and count_training == []
    for original in (data_root / "runs").rglob("*.pt"):
        assert (elsewhere / "runs" / original.relative_to(data_root / "runs")).read_bytes() == original.read_bytes()


def test_a_run_already_here_is_left_whole_so_steps_of_two_machines_never_mix(mnist1d, data_root, tmp_path):
    run_imp(CONFIG, data=mnist1d, progress=False)
    archive = tmp_path / "runs.tar.gz"
    export_runs(archive)
    here = tmp_path / "here"
    sweep_folder = next(name for name in run_folders(data_root) if name.startswith("imp-"))
    (here / "runs" / sweep_folder).mkdir(parents=True)
    (here / "runs" / sweep_folder / "round_00.pt").write_bytes(b"this machine's own round 0")
    added, present = import_runs(archive, root=here)
    assert present == 1 and added == len(run_folders(data_root)) - 1
    assert [p.name for p in (here / "runs" / sweep_folder).iterdir()] == ["round_00.pt"]  # not topped up


def test_an_archive_with_anything_but_run_files_or_cut_short_is_refused(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("runs/../../escape.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    with pytest.raises(LtkitError, match="a path outside the run cache"):
        import_runs(archive, root=tmp_path / "cache")
    assert not (tmp_path / "escape.txt").exists()
    (tmp_path / "plain.txt").write_text("hello")
    with pytest.raises(LtkitError, match="not a .tar.gz archive"):
        import_runs(tmp_path / "plain.txt", root=tmp_path / "cache")
    good = tmp_path / "good.tar.gz"
    with tarfile.open(good, "w:gz") as tar:
        info = tarfile.TarInfo("runs/imp-abc/round_00.pt")
        info.size = 10_000
        tar.addfile(info, io.BytesIO(random.randbytes(10_000)))  # does not compress: cutting it loses data
    (tmp_path / "cut.tar.gz").write_bytes(good.read_bytes()[:5_000])
    with pytest.raises(LtkitError, match="not a complete run archive"):
        import_runs(tmp_path / "cut.tar.gz", root=tmp_path / "cache")
    assert not (tmp_path / "cache" / "runs" / "imp-abc").exists()


def test_the_command_exports_and_imports_with_one_line_errors(data_root, tmp_path, capsys, mnist1d):
    assert main(["cache", "export", str(tmp_path / "none.tar.gz")]) == 2
    assert "no cached runs" in capsys.readouterr().err
    run_imp(CONFIG, data=mnist1d, progress=False)
    assert main(["cache", "export", str(tmp_path / "runs.tar.gz")]) == 0
    assert "ltkit cache import runs.tar.gz" in capsys.readouterr().out
    assert main(["cache", "import", str(tmp_path / "runs.tar.gz")]) == 0
    assert "were already here" in capsys.readouterr().out
    assert main(["cache", "import", str(tmp_path / "missing.tar.gz")]) == 2
