"""The run cache itself: folders named by the key, atomic writes, records read back safely, devices."""

import pickle
from dataclasses import dataclass, make_dataclass

import pytest
import torch

from ltkit.errors import LtkitError
from ltkit.store.runs import Run, schema, state_hash


@dataclass
class Measured:
    name: str
    values: list
    weights: dict
    pair: tuple


def test_writes_leave_no_temporary_files_and_a_readable_key(data_root):
    run = Run("demo", {"a": 1})
    run.save("step", {"x": 1.0})
    assert sorted(p.name for p in run.path.iterdir()) == ["config.json", "step.pt"]
    assert run.load("step") == {"x": 1.0}
    assert '"a": 1' in (run.path / "config.json").read_text()


def test_different_keys_use_different_folders_and_disabled_runs_touch_nothing(data_root):
    assert Run("demo", {"a": 1}).path != Run("demo", {"a": 2}).path
    assert Run("demo", {"a": 1}).path == Run("demo", {"a": 1}).path
    assert Run("demo", {"a": 1}).path != Run("other", {"a": 1}).path
    off = Run("demo", {"a": 3}, enabled=False)
    off.save("step", {"x": 1})
    assert not off.path.exists() and not off.has("step")
    assert off.cached("step", lambda: 5) == 5 and not off.path.exists()


def test_a_record_that_gains_a_field_is_never_read_from_an_older_file(data_root):
    old = make_dataclass("Measured", [("name", str)])
    new = make_dataclass("Measured", [("name", str), ("extra", int)])
    # From Python 3.12 make_dataclass names the caller's module: these would then share this module's
    # Measured's full name, which the safe loader (registered with all three) looks classes up by.
    old.__module__, new.__module__ = "an_older_version", "a_newer_version"
    assert schema([old]) == "Measured(name)" and schema([new]) == "Measured(name,extra)"
    assert Run("demo", {"a": 1}, records=(old,)).path != Run("demo", {"a": 1}, records=(new,)).path


def test_records_come_back_equal_through_the_safe_loader(data_root):
    record = Measured("w", [1.5, 2], {"layer": torch.arange(4.0)}, (0.25, 3))
    run = Run("demo", {"a": 5}, records=(Measured,))
    run.save("step", record)
    loaded = Run("demo", {"a": 5}, records=(Measured,)).load("step")
    assert isinstance(loaded, Measured) and loaded.pair == (0.25, 3) and loaded.values == [1.5, 2]
    assert torch.equal(loaded.weights["layer"], torch.arange(4.0))


def test_a_file_holding_code_is_refused_as_damaged(data_root):
    run = Run("demo", {"a": 6})
    run.path.mkdir(parents=True)
    run.step_file("step").write_bytes(pickle.dumps(print, protocol=2))  # not a tensor file: weights_only refuses it
    with pytest.raises(LtkitError, match=r"step.pt is damaged .*rm '.*step.pt'"):
        run.load("step")


def test_cached_computes_once_and_forget_deletes_the_step(data_root):
    run, calls = Run("demo", {"a": 7}), []
    compute = lambda: calls.append(1) or {"x": len(calls)}
    assert run.cached("step", compute) == {"x": 1} and run.cached("step", compute) == {"x": 1}
    run.forget("step")
    assert not run.has("step") and run.cached("step", compute) == {"x": 2}


def test_a_cached_step_comes_back_on_the_device_asked_for(data_root):
    run = Run("demo", {"a": 4}, records=(Measured,))
    run.save("step", {"weights": [torch.ones(2)], "note": "kept"})
    moved = run.load("step", device="meta")
    assert moved["weights"][0].device.type == "meta" and moved["note"] == "kept"
    run.save("record", Measured("w", [torch.ones(1)], {"layer": torch.ones(2)}, (torch.ones(3), 1)))
    record = run.load("record", device="meta")
    assert record.values[0].is_meta and record.weights["layer"].is_meta
    assert isinstance(record.pair, tuple) and record.pair[0].is_meta and record.pair[1] == 1


def test_the_fingerprint_of_weights_depends_on_every_value_and_name():
    state = {"a": torch.zeros(3), "b": torch.ones(2)}
    assert state_hash(state) == state_hash({name: value.clone() for name, value in state.items()})
    assert state_hash(state) != state_hash({"a": torch.tensor([0.0, 0.0, 1e-6]), "b": torch.ones(2)})
    assert state_hash(state) != state_hash({"c": torch.zeros(3), "b": torch.ones(2)})


def test_a_key_cannot_overwrite_what_names_the_run(data_root):
    with pytest.raises(ValueError, match="may not have the fields"):
        Run("curve", {"kind": "bezier"})


def test_two_writers_saving_the_same_step_at_once_both_succeed(data_root):
    import threading

    run, errors = Run("demo", {"a": 5}), []

    def save_many():
        try:
            for _ in range(50):
                run.save("step", {"x": torch.ones(100)})
        except Exception as error:  # noqa: BLE001 (any failure counts)
            errors.append(error)

    threads = [threading.Thread(target=save_many) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and torch.equal(run.load("step")["x"], torch.ones(100))
    assert sorted(p.name for p in run.path.iterdir()) == ["config.json", "step.pt"]


def test_a_step_deleted_between_the_look_and_the_read_is_not_there_rather_than_damaged(tmp_path, monkeypatch):
    run = Run("race", {"a": 1}, root=tmp_path)
    assert run.get("arm") is None
    run.save("arm", {"x": 1})
    assert run.get("arm") == {"x": 1}
    real_load = Run.load

    def deleted_first(self, step, device="cpu"):  # another worker's round now holds the arm: it deletes the file
        self.forget(step)
        return real_load(self, step, device)

    monkeypatch.setattr(Run, "load", deleted_first)
    assert run.get("arm") is None
