"""The run cache in one file: export it where the runs were computed, import it where a class learns.

An instructor runs the course once (on a GPU, say, or the night before), exports data/runs to one
archive (and its SHA-256 beside it), publishes the two, and students import the archive by path or URL:
every lesson and dashboard then loads instead of training. Importing adds runs and never overwrites one
that is already there; the archive may hold only run files.
"""

import shutil
import tarfile
import zlib
from pathlib import Path

from ltkit.errors import LtkitError
from ltkit.files import data_dir
from ltkit.store.download import is_url, verified_archive, write_checksum


def runs_folder(root=None):
    return (Path(root) if root is not None else data_dir()) / "runs"


def export_runs(archive, root=None):
    """Write every cached run to `archive` (a .tar.gz), and its SHA-256 to archive.sha256; returns how
    many files the archive holds."""
    if is_url(archive):
        raise LtkitError(
            f"export writes a file here, not to {archive}: export to a path, then upload it and its .sha256"
        )
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
    write_checksum(archive)
    return len(files)


def import_runs(archive, root=None, sha256=None):
    """Add the runs in `archive` (a path, or an http:// or https:// URL) to the cache; returns (runs added,
    runs already here). The archive is checked against `sha256` (its hex digest), else against the
    .sha256 file beside it, before anything is unpacked.

    A run is imported whole or not at all: a run folder that already exists here is left as it is, even
    if the archive holds more of its steps, because steps from two machines' runs must not mix (an IMP
    round prunes the previous round's ticket: a later round from elsewhere would not fit an earlier one
    from here)."""
    folder = runs_folder(root)
    added = present = 0
    with verified_archive(archive, folder.parent, sha256) as path, open_archive(path, archive) as tar:
        try:
            for name, members in runs_in(tar, archive).items():  # every member is checked before any unpacks
                if (folder / name).exists():
                    present += 1
                    continue
                unpack_run(tar, members, folder, name)
                added += 1
        except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
            raise LtkitError(
                f"{archive} is not a complete run archive ({error}); download or export it again"
            ) from None
    return added, present


def open_archive(path, archive):
    try:
        return tarfile.open(path, "r:*")
    except tarfile.ReadError:
        page = " (its own address, not that of a web page about it)" if is_url(archive) else ""
        raise LtkitError(
            f"{archive} is not a .tar.gz archive; give the file that `ltkit cache export` wrote{page}"
        ) from None
    except OSError as error:  # a local file that cannot be read: no permission, say
        raise LtkitError(f"cannot read {archive} ({error.strerror}); check that it is readable") from None


def runs_in(tar, archive):
    """{run folder name: its file members}; anything that is not a file under runs/<folder>/ is refused."""
    runs = {}
    for member in tar.getmembers():
        if member.isdir():
            continue
        parts = Path(member.name).parts
        if ".." in parts or Path(member.name).is_absolute():
            raise LtkitError(
                f"{archive} holds {member.name!r}, a path outside the run cache; nothing was imported: import "
                f"only archives that `ltkit cache export` wrote"
            )
        if not (member.isfile() and len(parts) == 3 and parts[0] == "runs"):
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
