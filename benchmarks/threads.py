"""How the CPU thread count changes the speed of one training epoch, on an idle and on a busy machine.

A classroom laptop runs a browser beside the kernel; torch's default (one thread per core) then fights it
for the cores. This measures one LeNet-300-100 epoch on Fashion-MNIST at each thread count, first on an
idle machine, then with half of the cores kept busy by other processes (the "browser"). Run:

    python benchmarks/threads.py [--max-threads N]
"""

import argparse
import multiprocessing
import os

import torch

from ltkit.engine.datasets import load_dataset
from ltkit.engine.models import build_model
from ltkit.engine.training import TrainConfig, iterations_for, train


def spin():
    while True:
        pass


def epoch_seconds(data, threads):
    torch.set_num_threads(threads)
    model = build_model("lenet300_100", data.input_shape)
    train(model, data, TrainConfig(iterations=5, eval_every=10**9), progress=False)  # warm-up
    config = TrainConfig(iterations=iterations_for(0.5, len(data.y_train), 60), eval_every=10**9)
    return 2 * train(model, data, config, progress=False).seconds


def main():
    cores = os.cpu_count()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-threads", type=int, default=cores)
    args = parser.parse_args()
    data = load_dataset("fashion-mnist")
    counts = sorted({1, 2, *range(2, args.max_threads + 1, 2), args.max_threads})
    print(f"LeNet-300-100 epoch on Fashion-MNIST, {cores} cores (seconds):")
    print(f"{'threads':>8}{'idle':>8}{'busy':>8}")
    idle = {t: epoch_seconds(data, t) for t in counts}
    busy_processes = [multiprocessing.Process(target=spin, daemon=True) for _ in range(max(1, cores // 2))]
    for process in busy_processes:
        process.start()
    try:
        busy = {t: epoch_seconds(data, t) for t in counts}
    finally:
        for process in busy_processes:
            process.terminate()
    for t in counts:
        print(f"{t:>8}{idle[t]:>8.2f}{busy[t]:>8.2f}")


if __name__ == "__main__":
    main()
