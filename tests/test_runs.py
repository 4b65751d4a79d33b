import pytest
import torch

from ltkit import lottery
from ltkit.errors import LtkitError
from ltkit.lottery import IMPConfig, run_imp
from ltkit.runs import Run
from ltkit.train import TrainConfig

CONFIG = IMPConfig(
    dataset="mnist1d", model="mlp", train=TrainConfig(iterations=30, batch_size=50, eval_every=10), rounds=3, rates=0.3
)


def test_the_same_sweep_again_loads_every_round_without_training(mnist1d, count_training):
    first = run_imp(CONFIG, data=mnist1d, progress=False)
    assert len(count_training) == 1 + 3 * 3
    count_training.clear()
    second = run_imp(CONFIG, data=mnist1d, progress=False)
    assert count_training == []
    assert second.to_json() == first.to_json()


def test_an_interrupted_sweep_resumes_at_its_first_unfinished_training(mnist1d, monkeypatch):
    real_train, calls = lottery.train, []

    def interrupted_in_round_2(*args, **kwargs):
        calls.append(kwargs["desc"])
        if kwargs["desc"] == "round 2 reinit":
            raise KeyboardInterrupt  # as if the kernel were interrupted half-way through round 2
        return real_train(*args, **kwargs)

    monkeypatch.setattr(lottery, "train", interrupted_in_round_2)
    with pytest.raises(KeyboardInterrupt):
        run_imp(CONFIG, data=mnist1d, progress=False)
    folder = lottery.imp_run(CONFIG, mnist1d).path
    assert sorted(p.name for p in folder.glob("*.pt")) == ["round_00.pt", "round_01.pt", "round_02_ticket.pt"]

    calls.clear()
    monkeypatch.setattr(
        lottery, "train", lambda *args, **kwargs: (calls.append(kwargs["desc"]), real_train(*args, **kwargs))[1]
    )
    resumed = run_imp(CONFIG, data=mnist1d, progress=False)
    assert calls == ["round 2 reinit", "round 2 random_mask"] + [f"round 3 {arm}" for arm in lottery.ARMS]
    assert sorted(p.name for p in folder.glob("*.pt")) == [f"round_0{r}.pt" for r in range(4)]
    assert resumed.to_json() == run_imp(CONFIG, data=mnist1d, cache=False, progress=False).to_json()


def test_more_rounds_extend_a_finished_sweep(mnist1d, count_training):
    from dataclasses import replace

    run_imp(replace(CONFIG, rounds=1), data=mnist1d, progress=False)
    count_training.clear()
    run_imp(CONFIG, data=mnist1d, progress=False)
    assert all(desc.startswith(("round 2", "round 3")) for desc in count_training)


def test_a_damaged_cache_file_is_named_with_the_fix(mnist1d):
    run_imp(CONFIG, data=mnist1d, progress=False)
    damaged = lottery.imp_run(CONFIG, mnist1d).step_file("round_02")
    damaged.write_bytes(b"\x00" * 10)
    with pytest.raises(LtkitError, match=r"round_02.pt is damaged.*delete that file"):
        run_imp(CONFIG, data=mnist1d, progress=False)


def test_writes_leave_no_temporary_files_and_a_readable_config(data_root):
    run = Run("demo", {"a": 1})
    run.save("step", {"x": 1.0})
    assert sorted(p.name for p in run.path.iterdir()) == ["config.json", "step.pt"]
    assert run.load("step") == {"x": 1.0}
    assert '"a": 1' in (run.path / "config.json").read_text()


def test_different_configs_use_different_folders_and_disabled_runs_touch_nothing(data_root):
    assert Run("demo", {"a": 1}).path != Run("demo", {"a": 2}).path
    off = Run("demo", {"a": 3}, enabled=False)
    off.save("step", {"x": 1})
    assert not off.path.exists() and not off.has("step")


def test_a_cached_step_comes_back_on_the_device_asked_for(data_root):
    run = Run("demo", {"a": 4})
    run.save("step", {"weights": [torch.ones(2)], "note": "kept"})
    moved = run.load("step", device="meta")
    assert moved["weights"][0].device.type == "meta" and moved["note"] == "kept"
