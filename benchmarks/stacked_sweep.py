"""Lesson 03's IMP sweeps, stacked and one network at a time, in one run: time, and the figures each gives.

The MNIST-1D MLP in a profile's sizes (class: 3 seeds from the lesson's seed, the dense network and 10
rounds with both controls: 93 networks), each way with an empty run cache of its own. Prints both times,
the speed-up, and per round each arm's final test accuracy over the seeds (mean and standard deviation),
stacked next to one at a time. Single runs are not bit-for-bit the same both ways: batched matrix products
round differently from one network's, and a few thousand Adam steps carry that into different, equally
likely networks, as another thread count would. Their means over seeds are what the lessons show. Run:

    python benchmarks/stacked_sweep.py [--profile class] [--threads 2] [--json FILE]
"""

import argparse
import json
import os
import tempfile
import time

from ltkit.engine.datasets import load_dataset
from ltkit.engine.runtime import set_cpu_threads
from ltkit.experiments.imp import ARMS, imp_config, run_imps
from ltkit.experiments.profiles import LESSON_SEED, sizes
from ltkit.experiments.stats import across_seeds


def timed_sweeps(configs, data, stack):
    os.environ["LTKIT_STACK"] = stack
    with tempfile.TemporaryDirectory() as root:
        os.environ["LTKIT_DATA"] = root
        started = time.perf_counter()
        results = run_imps(configs, data=data, progress=False)
        return time.perf_counter() - started, across_seeds(results)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="class")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    threads = set_cpu_threads(args.threads)
    data = load_dataset("mnist1d")
    seeds = range(LESSON_SEED, LESSON_SEED + sizes(args.profile, "imp")["seeds"])
    configs = [imp_config("mnist1d", "mlp", args.profile, seed=s) for s in seeds]
    alone_s, alone = timed_sweeps(configs, data, "0")
    stacked_s, stacked = timed_sweeps(configs, data, "27")
    print(f"{len(seeds)} seeds, {args.profile} profile, {threads} CPU thread(s)")
    print(f"one at a time {alone_s:.1f} s, stacked {stacked_s:.1f} s: {alone_s / stacked_s:.2f}x faster")
    print("final test accuracy, % (mean +- std over seeds): stacked | one at a time")
    print(f"{'weights':>8}" + "".join(f"{arm:>28}" for arm in ARMS))
    for r, kept in enumerate(stacked["ticket"]["weights_remaining"]):
        cells = [
            f"{100 * s[arm]['mean'][r]:5.1f} +-{100 * s[arm]['std'][r]:4.1f}" for arm in ARMS for s in (stacked, alone)
        ]
        print(f"{100 * kept:7.1f}%" + "".join(f"{a:>15} |{b:>11}" for a, b in zip(cells[::2], cells[1::2])))
    if args.json:
        figures = dict(stacked=stacked, one_at_a_time=alone)
        report = dict(threads=threads, seconds_stacked=stacked_s, seconds_one_at_a_time=alone_s, figures=figures)
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
