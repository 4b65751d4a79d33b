"""The run cache in one file: export it where the runs were computed, import it where a class learns.

An instructor runs the course once (on a GPU, say, or the night before), exports data/runs to one
archive, and students import it: every lesson and dashboard then loads instead of training. Importing
adds runs and never overwrites one that is already there; the archive may hold only run files.
"""

import tarfile
from pathlib import Path

from ltkit.data import data_dir
from ltkit.errors import LtkitError


def runs_folder(root=None):
    return (Path(root) if root is not None else data_dir()) / "runs"


def export_runs(archive, root=None):
    """Write every cached run to `archive` (a .tar.gz); returns how many files it holds."""
    folder = runs_folder(root)
    files = sorted(path for path in folder.rglob("*") if path.is_file() and not path.name.startswith("."))
    if not files:
        raise LtkitError(f"there are no cached runs in {folder} to export; run the lessons (make run) first")
    archive = Path(archive)
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for path in files:
            tar.add(path, arcname=str(Path("runs") / path.relative_to(folder)))
    return len(files)


def import_runs(archive, root=None):
    """Add the runs in `archive` to the cache; returns (files added, files already there)."""
    archive = Path(archive)
    if not archive.is_file():
        raise LtkitError(f"{archive} does not exist; give the file that `ltkit cache export` wrote")
    try:
        tar = tarfile.open(archive, "r:*")
    except tarfile.TarError:
        raise LtkitError(f"{archive} is not a tar file; make a run archive with `ltkit cache export`") from None
    added = present = 0
    folder = runs_folder(root)
    with tar:
        for member in tar.getmembers():
            target = checked_member(member, archive, folder)
            if target is None:
                continue
            if target.exists():
                present += 1
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.import")
            tmp.write_bytes(tar.extractfile(member).read())
            tmp.replace(target)  # a half-imported file never looks like a finished run
            added += 1
    return added, present


def checked_member(member, archive, folder):
    """Where an archive member goes under `folder`, or None for a directory; anything that is not a plain
    file under runs/ is refused."""
    if member.isdir():
        return None
    parts = Path(member.name).parts
    inside = len(parts) >= 2 and parts[0] == "runs" and ".." not in parts and not Path(member.name).is_absolute()
    if not (member.isfile() and inside):
        raise LtkitError(f"{archive} holds {member.name!r}, which is not a run file; import only run archives")
    return folder.joinpath(*parts[1:])
