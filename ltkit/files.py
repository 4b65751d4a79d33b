"""Where datasets and cached runs live, and files written so that a crash never leaves half of one."""

import os
import tempfile
from pathlib import Path

import torch


def data_dir():
    """Where datasets and cached runs live: $LTKIT_DATA, else the checkout's data/, else ./data."""
    if os.environ.get("LTKIT_DATA"):
        return Path(os.environ["LTKIT_DATA"])
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").exists():
        return checkout / "data"
    return Path.cwd() / "data"


def atomic_torch_save(obj, path):
    """Write to a temporary file beside `path`, then rename: a crash never leaves half a file."""
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def atomic_write(path, write):
    """write(temporary path), then rename it to `path`. The temporary name is unique, so two kernels or
    threads saving the same result at once cannot trip over each other's file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
