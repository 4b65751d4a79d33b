"""The run cache in one file: export it where the runs were computed, import it where a class learns.

An instructor runs the course once (on a GPU, say, or the night before), exports data/runs to one
archive, and students import it: every lesson and dashboard then loads instead of training. Importing
adds runs and never overwrites one that is already there; the archive may hold only run files.
"""

import shutil
import tarfile
from pathlib import Path

from ltkit.errors import LtkitError
from ltkit.files import data_dir


def runs_folder(root=None):
    return (Path(root) if root is not None else data_dir()) / "runs"


def export_runs(archive, root=None):
    """Write every cached run to `archive` (a .tar.gz); returns how many files it holds."""
    folder = runs_folder(root)
    hidden = lambda path: any(part.startswith(".") for part in path.relative_to(folder).parts)  # half-written
    files = sorted(path for path in folder.rglob("*") if path.is_file() and not hidden(path))
    if not files:
        raise LtkitError(f"there are no cached runs in {folder} to export; run the lessons (make run) first")
    archive = Path(archive)
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for path in files:
            tar.add(path, arcname=str(Path("runs") / path.relative_to(folder)))
    return len(files)


def import_runs(archive, root=None):
    """Add the runs in `archive` to the cache; returns (runs added, runs already here).

    A run is imported whole or not at all: a run folder that already exists here is left as it is, even
    if the archive holds more of its steps, because steps from two machines' runs must not mix (an IMP
    round prunes the previous round's ticket: a later round from elsewhere would not fit an earlier one
    from here)."""
    archive = Path(archive)
    if not archive.is_file():
        raise LtkitError(f"{archive} does not exist; give the file that `ltkit cache export` wrote")
    folder = runs_folder(root)
    added = present = 0
    try:
        with tarfile.open(archive, "r:*") as tar:
            for name, members in runs_in(tar, archive).items():
                if (folder / name).exists():
                    present += 1
                    continue
                unpack_run(tar, members, folder, name)
                added += 1
    except (tarfile.TarError, EOFError, OSError) as error:
        raise LtkitError(f"{archive} is not a complete run archive ({error}); export it again") from None
    return added, present


def runs_in(tar, archive):
    """{run folder name: its file members}; anything that is not a file under runs/<folder>/ is refused."""
    runs = {}
    for member in tar.getmembers():
        if member.isdir():
            continue
        parts = Path(member.name).parts
        inside = len(parts) == 3 and parts[0] == "runs" and ".." not in parts and not Path(member.name).is_absolute()
        if not (member.isfile() and inside):
            raise LtkitError(f"{archive} holds {member.name!r}, which is not a run file; import only run archives")
        runs.setdefault(parts[1], []).append(member)
    return runs


def unpack_run(tar, members, folder, name):
    """Write one run's files into a hidden folder, then rename it: a half-imported run is never seen."""
    partial = folder / f".{name}.import"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for member in members:
        (partial / Path(member.name).name).write_bytes(tar.extractfile(member).read())
    partial.rename(folder / name)
