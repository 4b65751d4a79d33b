"""Sweeps past one process: leases, units, the submitit executor's local processes, kill -9 and races."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ltkit import cli
from ltkit.cluster.executors import Cluster, slurm_parameters
from ltkit.cluster.units import cache_status, parse_seeds, sweep_units, units_folder
from ltkit.errors import LtkitError
from ltkit.experiments.imp import imp_config
from ltkit.store.leases import Lease

HAS_SUBMITIT = importlib.util.find_spec("submitit") is not None
needs_submitit = pytest.mark.skipif(
    not HAS_SUBMITIT, reason="submitit is the cluster extra: pip install 'ltkit[cluster]'"
)
TINY = ("imp", "--dataset", "mnist1d", "--model", "mlp", "--profile", "ci", "--epochs", "1", "--rounds", "1")


def ltkit_process(data_root, *args, **popen):
    """`ltkit ARGS` in a fresh process on the run cache `data_root`, one CPU thread."""
    env = {**os.environ, "LTKIT_DATA": str(data_root), "TQDM_DISABLE": "1", "LTKIT_THREADS": "1"}
    command = [sys.executable, "-m", "ltkit.cli", *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def finished(process):
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    return out


def units_line(out):
    return next(line for line in out.splitlines() if line.startswith("units:"))


def test_seeds_are_ranges_and_lists_and_a_bad_one_is_named():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("0,2,5") == [0, 2, 5]
    assert parse_seeds("0-2,10,1") == [0, 1, 2, 10]
    for bad in ("a-b", "", "-3"):
        with pytest.raises(LtkitError, match="--seeds takes seeds"):
            parse_seeds(bad)


def test_a_lease_is_one_workers_until_released_or_its_holder_is_gone(tmp_path, monkeypatch):
    path = tmp_path / "unit.lease"
    first, second = Lease(path), Lease(path)
    assert first.take() and not second.take()
    first.release()
    assert second.take()
    second.release()

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    path.write_text(json.dumps(dict(host=first.holder["host"], pid=int(gone.stdout), token="x", since=0)))
    assert Lease(path).take(), "a lease of a process of this machine that has exited is stale"

    monkeypatch.setenv("LTKIT_LEASE_TIMEOUT", "0.6")
    path.write_text(json.dumps(dict(host="another-machine", pid=1, token="y", since=0)))
    assert not Lease(path).take(), "another machine's fresh lease holds"
    os.utime(path, (time.time() - 1, time.time() - 1))
    held = Lease(path)
    assert held.take(), "a lease not touched for lease_timeout() seconds is stale"
    with held:  # its heartbeat keeps it fresh past the timeout
        time.sleep(1.5)
        assert not Lease(path).take()
    assert not path.exists()


def test_two_workers_that_saw_one_stale_lease_never_both_take_it(tmp_path):
    from ltkit.store.leases import holder_of

    path = tmp_path / "unit.lease"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    path.write_text(json.dumps(dict(host=Lease(path).holder["host"], pid=int(gone.stdout), token="dead", since=0)))
    stale = holder_of(path)
    first, second = Lease(path), Lease(path)
    takeover = tmp_path / "unit.lease.takeover"
    takeover.write_text("{}")  # another worker is removing it right now
    assert not first.take() and holder_of(path) == stale
    takeover.unlink()
    assert first.take()
    assert second.remove_stale(stale), "the lease it saw is gone already"
    assert holder_of(path)["token"] == first.holder["token"], "the first worker's new lease stands"
    assert not second.take()


def test_the_units_of_a_sweep_are_its_seeds_in_groups_and_have_names_of_their_own():
    configs = [imp_config("mnist1d", "mlp", "ci", seed=seed) for seed in range(5)]
    units = sweep_units("imp", configs)
    assert [unit.seeds for unit in units] == [[0], [1], [2], [3], [4]]
    assert [unit.seeds for unit in sweep_units("imp", configs, together=2)] == [[0, 1], [2, 3], [4]]
    assert len({unit.name for unit in units}) == 5
    assert sweep_units("imp", configs[:1])[0].name == units[0].name, "a unit's name is its configurations'"
    with pytest.raises(LtkitError, match="--seeds-together must be 1 or more"):
        sweep_units("imp", configs, together=0)


def test_a_sweep_over_seeds_has_one_entry_per_seed_each_a_single_sweeps_json(data_root, tmp_path, monkeypatch):
    output = tmp_path / "sweep.json"
    assert cli.main([*TINY, "--seeds", "0-1", "--json", str(output)]) == 0
    sweeps = json.loads(output.read_text())["sweeps"]
    assert [sweep["config"]["seed"] for sweep in sweeps] == [0, 1]
    alone = tmp_path / "alone"  # seed 1 alone, on a cache of its own: the same numbers
    alone.mkdir()
    (alone / "mnist1d").symlink_to(data_root / "mnist1d")
    monkeypatch.setenv("LTKIT_DATA", str(alone))
    assert cli.main([*TINY, "--seed", "1", "--json", str(tmp_path / "one.json")]) == 0
    assert json.loads((tmp_path / "one.json").read_text()) == sweeps[1]


def test_cache_status_says_which_units_are_done_running_and_missing(data_root, capsys):
    assert cli.main([*TINY, "--seeds", "0"]) == 0
    configs = [imp_config("mnist1d", "mlp", "ci", epochs=1, rounds=1, seed=seed) for seed in (0, 1, 2)]
    units = sweep_units("imp", configs)
    from ltkit.cluster.units import remember_sweep

    remember_sweep(units, "ltkit imp --seeds 0-2")
    lease = units[1].lease()
    assert lease.take()
    with lease:
        states = [unit["state"] for unit in cache_status()[-1]["units"]]
        capsys.readouterr()
        assert cli.main(["cache", "status"]) == 0
    assert states[0] == "done" and states[1].startswith("running on") and states[2] == "missing"
    shown = capsys.readouterr().out
    assert "ltkit imp --seeds 0-2\n  3 units: 1 done, 1 running, 1 missing" in shown


def test_mistakes_in_a_sweeps_flags_are_one_line(data_root, capsys):
    for args, message in (
        (["--seed", "1", "--seeds", "0-1"], "not both"),
        (["--seeds", "0-1", "--workers", "2"], "add --executor submitit"),
        (["--seeds", "0-1", "--no-cache"], "leave out --no-cache"),
        (
            ["--seeds", "0-1", "--executor", "submitit", "--partition", "gpu"],
            "no srun" if HAS_SUBMITIT else "needs submitit",
        ),
    ):
        assert cli.main([*TINY, *args]) == 2
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1


@needs_submitit
def test_a_slurm_job_array_asks_for_what_the_flags_say():
    from submitit.slurm.slurm import _make_sbatch_string

    cluster = Cluster("submitit", workers=5, partition="gpu", gpus_per_job=1, cpus_per_job=8, timeout_min=600)
    script = _make_sbatch_string(command="python -m x", folder="/jobs", map_count=5, **slurm_parameters(cluster, 5))
    for line in ("--array=0-4%5", "--partition=gpu", "--gpus-per-node=1", "--cpus-per-task=8", "--time=600"):
        assert f"#SBATCH {line}" in script


@needs_submitit
def test_the_engines_local_processes_give_the_numbers_of_a_run_here(data_root, tmp_path):
    here, engine = tmp_path / "here", tmp_path / "engine"
    for cache in (here, engine):
        cache.mkdir()
        (cache / "mnist1d").symlink_to(data_root / "mnist1d")
    sweep = [*TINY, "--seeds", "0-2"]
    finished(ltkit_process(here, *sweep, "--json", str(here / "out.json")))
    flags = ("--executor", "submitit", "--workers", "2", "--cpus-per-job", "1", "--json", str(engine / "out.json"))
    out = finished(ltkit_process(engine, *sweep, *flags))
    assert units_line(out) == "units: 3 computed now (seeds 0,1,2)"
    assert json.loads((engine / "out.json").read_text()) == json.loads((here / "out.json").read_text())
    again = finished(ltkit_process(engine, *sweep, *flags))
    assert units_line(again) == "units: 3 from the cache (seeds 0,1,2)"


def test_two_sweeps_racing_on_one_cache_agree_and_compute_each_unit_once(data_root, tmp_path):
    first = ltkit_process(data_root, *TINY, "--seeds", "0-2", "--json", str(tmp_path / "a.json"))
    second = ltkit_process(data_root, *TINY, "--seeds", "1-3", "--json", str(tmp_path / "b.json"))
    outs = [finished(first), finished(second)]
    computed = []
    for out in outs:
        line = units_line(out)
        computed += [int(seed) for seed in line.split("computed now (seeds ")[1].split(")")[0].split(",")] * (
            "computed now" in line
        )
    assert sorted(computed) == [0, 1, 2, 3], f"each seed computed once: {[units_line(out) for out in outs]}"
    a = {s["config"]["seed"]: s for s in json.loads((tmp_path / "a.json").read_text())["sweeps"]}
    b = {s["config"]["seed"]: s for s in json.loads((tmp_path / "b.json").read_text())["sweeps"]}
    assert a[1] == b[1] and a[2] == b[2]


def step_files(root):
    """Every cached step: {path: (inode, modification time)}."""
    return {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in (root / "runs").glob("imp-*/*.pt")}


@needs_submitit
def test_a_worker_killed_mid_sweep_loses_nothing_and_nothing_is_trained_again(data_root, tmp_path):
    sweep = (*TINY[:-3], "40", "--rounds", "3", "--seeds", "0-3", "--executor", "submitit", "--workers", "2")
    process = ltkit_process(data_root, *sweep, "--cpus-per-job", "1", "--json", str(tmp_path / "a.json"))
    deadline = time.time() + 120
    victim = None
    while victim is None and time.time() < deadline:  # a worker holding a unit, after something is cached
        leases = list(units_folder().glob("*.lease")) if units_folder().exists() else []
        if leases and step_files(data_root):
            try:
                victim = json.loads(leases[0].read_text())["pid"]
            except (FileNotFoundError, json.JSONDecodeError):
                pass
        time.sleep(0.05)
    assert victim is not None, "no worker was seen computing"
    os.kill(victim, signal.SIGKILL)
    before = step_files(data_root)
    out = finished(process)  # the other worker takes the killed one's unit over
    after = step_files(data_root)
    for path, identity in before.items():
        rounds_file = path.with_name(path.name[: len("round_00")] + ".pt")  # which holds its arms' files
        assert after.get(path) == identity or (path not in after and rounds_file in after), f"{path} trained again"
    sweeps = json.loads((tmp_path / "a.json").read_text())["sweeps"]
    assert [len(sweep["rounds"]) for sweep in sweeps] == [4, 4, 4, 4]
    assert "job(s) failed" in out and "stopped before it finished" in out
    again = finished(ltkit_process(data_root, *sweep, "--json", str(tmp_path / "b.json")))
    assert units_line(again) == "units: 4 from the cache (seeds 0,1,2,3)" and step_files(data_root) == after
    assert json.loads((tmp_path / "b.json").read_text()) == {"sweeps": sweeps}


def test_an_instability_analysis_is_cut_into_one_unit_per_rewind_iteration(data_root, tmp_path, monkeypatch, capsys):
    from ltkit.experiments.instability import instability_config

    config = instability_config("mnist1d", "mlp", "ci", rewind_iters=(0, 10), pairs=1, arms=("dense",), epochs=1)
    assert [unit.configs[0].rewind_iters for unit in sweep_units("instability", [config])] == [(0,), (10,)]
    flags = ("instability", "--dataset", "mnist1d", "--model", "mlp", "--profile", "ci", "--epochs", "1")
    flags += ("--rewind-iters", "0,10", "--pairs", "1", "--arms", "dense")
    assert cli.main([*flags, "--seeds", "0", "--json", str(tmp_path / "units.json")]) == 0
    assert "units: 2 computed now" in capsys.readouterr().out
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "mnist1d").symlink_to(data_root / "mnist1d")
    monkeypatch.setenv("LTKIT_DATA", str(alone))
    assert cli.main([*flags, "--json", str(tmp_path / "whole.json")]) == 0
    whole = json.loads((tmp_path / "whole.json").read_text())
    assert json.loads((tmp_path / "units.json").read_text()) == {"sweeps": [whole]}
