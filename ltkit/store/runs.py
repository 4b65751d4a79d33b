"""The run cache: finished work is saved, so a re-run, a widget or an interrupted sweep never redoes it.

A run is named by the hash of its key (an experiment's settings, the data's split, and the shape of the
records it saves): the folder data/runs/<kind>-<hash> holds that key (config.json) and one file per
finished step ("round_03.pt", say). Each file is written to a temporary name and then renamed, so a kernel
interrupted mid-write leaves no half-written result, and a sweep started again resumes at its first
missing step.

Steps hold records: dataclasses of numbers, lists and tensors (a round of IMP, a measured path). The
field names of the record classes are part of the key, so a record that gains or loses a field is never
read from an older file.
"""

import hashlib
import json
from dataclasses import fields, is_dataclass, replace
from pathlib import Path

import torch

from ltkit.errors import LtkitError
from ltkit.files import atomic_torch_save, atomic_write, data_dir


def config_hash(config):
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def state_hash(state_dict):
    """A short fingerprint of a network's weights: the same weights give the same hash on any device."""
    digest = hashlib.sha256()
    for name, tensor in state_dict.items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]


def schema(records):
    """The record classes' names and field names, as one string: part of every run's key."""
    return ";".join(f"{cls.__name__}({','.join(f.name for f in fields(cls))})" for cls in records)


class Run:
    """The cached steps of one run. `records`: the dataclasses its steps hold. With enabled=False nothing
    is read or written."""

    def __init__(self, kind, key, records=(), root=None, enabled=True):
        torch.serialization.add_safe_globals(list(records))  # torch.load(weights_only=True) may build them
        clash = {"kind", "records"} & set(key)
        if clash:
            raise ValueError(f"a run's key may not have the fields {sorted(clash)}: they name what the run holds")
        self.config = {"kind": kind, "records": schema(records), **key}
        root = Path(root) if root is not None else data_dir()
        self.path = root / "runs" / f"{kind}-{config_hash(self.config)}"
        self.enabled = enabled

    def step_file(self, step):
        return self.path / f"{step}.pt"

    def has(self, step):
        return self.enabled and self.step_file(step).exists()

    def load(self, step, device="cpu"):
        """A saved step, with its tensors on `device` (whatever device it was saved from)."""
        path = self.step_file(step)
        try:
            result = torch.load(path, weights_only=True, map_location="cpu")
        except Exception as error:
            raise LtkitError(
                f"the cached result {path} is damaged ({type(error).__name__}); delete that file "
                f"(rm '{path}') and run again: only that step is recomputed"
            ) from None
        return to_device(result, device)

    def get(self, step, device="cpu"):
        """The saved step, or None if it is not saved: also when another worker deletes it between the
        look and the read (a step that a larger step now holds, as IMP's arms are held by their round)."""
        if not self.has(step):
            return None
        try:
            return self.load(step, device)
        except LtkitError:
            if self.step_file(step).exists():
                raise
            return None

    def save(self, step, result):
        if not self.enabled:
            return
        config_file = self.path / "config.json"
        if not config_file.exists():
            text = json.dumps(self.config, indent=2, sort_keys=True, default=str)
            atomic_write(config_file, lambda tmp: Path(tmp).write_text(text))
        atomic_torch_save(result, self.step_file(step))

    def forget(self, step):
        """Delete a saved step (one that a larger step now holds)."""
        if self.enabled:
            self.step_file(step).unlink(missing_ok=True)

    def cached(self, step, compute, device="cpu"):
        """The saved result of `step` (tensors on `device`), or compute() saved now."""
        if self.has(step):
            return self.load(step, device)
        result = compute()
        self.save(step, result)
        return result


def to_device(result, device):
    """The same records, dicts, lists and tuples, with every tensor on `device`."""
    if is_dataclass(result):
        return replace(result, **{f.name: to_device(getattr(result, f.name), device) for f in fields(result)})
    if isinstance(result, dict):
        return {key: to_device(value, device) for key, value in result.items()}
    if isinstance(result, (list, tuple)):
        return type(result)(to_device(value, device) for value in result)
    if isinstance(result, torch.Tensor):
        return result.to(device)
    return result
