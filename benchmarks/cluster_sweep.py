"""One IMP sweep run here and through submitit's local processes: the same numbers, and the time of each.

    python benchmarks/cluster_sweep.py [--seeds 0-3] [--workers 2] [--profile ci]

The sweep is the MNIST-1D MLP with both controls at every round. Each command runs cold, on a run cache of
its own (the dataset copied in, so no run pays for making it), one after the other:
- `ltkit imp --seeds S` here, with one CPU thread and with one per core;
- `ltkit imp --seeds S --executor submitit --workers W`: W processes, the cores shared among them.
Every seed is a unit of its own (the default --seeds-together 1), so each trains the same stack wherever
it runs, and with one thread a process (the workers share the cores) every final and early-stop accuracy
of the engine's run must equal the one-thread run's here: the script checks that, then prints the wall
times side by side (and how many accuracies the run with more threads shares: BLAS may sum in another
order with more threads).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ltkit.files import data_dir


def timed_sweep(name, flags, env, folder, dataset):
    """Run `ltkit imp` with `flags` on a fresh cache in `folder`; returns (seconds, its JSON)."""
    cache = folder / name
    shutil.copytree(dataset, cache / dataset.name)
    output = cache / "sweep.json"
    command = [sys.executable, "-m", "ltkit.cli", "imp", "--dataset", "mnist1d", "--model", "mlp", *flags]
    started = time.perf_counter()
    subprocess.run(
        [*command, "--json", str(output)], env={**env, "LTKIT_DATA": str(cache)}, check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - started, json.loads(output.read_text())


def accuracies(sweeps):
    """Every accuracy the sweep measured: {(seed, round, arm, measure): value}."""
    return {
        (sweep["config"]["seed"], r["round"], arm, measure): r[arm][measure]
        for sweep in sweeps["sweeps"]
        for r in sweep["rounds"]
        for arm in ("ticket", "reinit", "random_mask")
        for measure in ("final_test_acc", "test_acc")
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-3")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profile", default="ci")
    args = parser.parse_args()
    dataset = data_dir() / "mnist1d"
    if not dataset.exists():
        sys.exit(f"make the MNIST-1D dataset first (it lands in {dataset}): python -m ltkit.cli datasets")
    env = {**os.environ, "TQDM_DISABLE": "1"}
    sweep = ["--profile", args.profile, "--seeds", args.seeds]
    cores = os.cpu_count()
    runs = {
        "here, 1 thread": (sweep, {**env, "LTKIT_THREADS": "1"}),
        f"here, {cores} threads": (sweep, {**env, "LTKIT_THREADS": str(cores)}),
        f"submitit, {args.workers} workers": ([*sweep, "--executor", "submitit", "--workers", str(args.workers)], env),
    }
    with tempfile.TemporaryDirectory() as folder:
        measured = {
            name: timed_sweep(f"cache{i}", flags, run_env, Path(folder), dataset)
            for i, (name, (flags, run_env)) in enumerate(runs.items())
        }
    reference = accuracies(measured["here, 1 thread"][1])
    for name, (seconds, sweeps) in measured.items():
        equal = sum(value == reference[key] for key, value in accuracies(sweeps).items())
        print(f"{name:<22} {seconds:7.1f} s   {equal} of {len(reference)} accuracies equal to the 1-thread run's")
    if accuracies(measured[f"submitit, {args.workers} workers"][1]) != reference:
        sys.exit("the engine's accuracies differ from the 1-thread run's here")
    print(f"on {cores} cores; {args.profile} profile, seeds {args.seeds}, both controls at every round")


if __name__ == "__main__":
    main()
