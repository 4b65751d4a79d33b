"""The run cache exported to one archive and imported elsewhere, adding runs and overwriting none."""

import io
import tarfile

import pytest

from ltkit.cache import export_runs, import_runs
from ltkit.cli import main
from ltkit.errors import LtkitError
from ltkit.imp import IMPConfig, run_imp
from ltkit.training import TrainConfig

CONFIG = IMPConfig("mnist1d", "mlp", TrainConfig(iterations=30, batch_size=50, eval_every=10), rounds=1, rates=0.5)


def test_a_sweep_exported_and_imported_into_an_empty_cache_loads_without_training(
    mnist1d, data_root, tmp_path, count_training
):
    first = run_imp(CONFIG, data=mnist1d, progress=False)
    archive = tmp_path / "runs.tar.gz"
    count = export_runs(archive)
    assert count == len([p for p in (data_root / "runs").rglob("*") if p.is_file()])
    elsewhere = tmp_path / "elsewhere"
    assert import_runs(archive, root=elsewhere) == (count, 0)
    assert import_runs(archive, root=elsewhere) == (0, count)  # nothing is overwritten
    count_training.clear()
    again = run_imp(CONFIG, data=mnist1d, progress=False, cache=True)  # from this machine's cache
    assert again.to_json() == first.to_json() and count_training == []
    for original in (data_root / "runs").rglob("*.pt"):
        copy = elsewhere / "runs" / original.relative_to(data_root / "runs")
        assert copy.read_bytes() == original.read_bytes()


def test_an_archive_with_anything_but_run_files_is_refused(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("runs/../../escape.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    with pytest.raises(LtkitError, match="not a run file"):
        import_runs(archive, root=tmp_path / "cache")
    assert not (tmp_path / "escape.txt").exists()
    (tmp_path / "plain.txt").write_text("hello")
    with pytest.raises(LtkitError, match="not a tar file"):
        import_runs(tmp_path / "plain.txt", root=tmp_path / "cache")


def test_the_command_exports_and_imports_with_one_line_errors(data_root, tmp_path, capsys, mnist1d):
    assert main(["cache", "export", str(tmp_path / "none.tar.gz")]) == 2
    assert "no cached runs" in capsys.readouterr().err
    run_imp(CONFIG, data=mnist1d, progress=False)
    assert main(["cache", "export", str(tmp_path / "runs.tar.gz")]) == 0
    assert "ltkit cache import runs.tar.gz" in capsys.readouterr().out
    assert main(["cache", "import", str(tmp_path / "runs.tar.gz")]) == 0
    assert "were already here" in capsys.readouterr().out
    assert main(["cache", "import", str(tmp_path / "missing.tar.gz")]) == 2
