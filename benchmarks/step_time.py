"""Time per training iteration of each model, and what that makes the `paper` profile cost.

Uses random data of each dataset's shape (nothing to download), so it runs anywhere; on a GPU it shows
what a Colab session should expect. Run:

    python benchmarks/step_time.py [--device cuda] [--iterations 300]
"""

import argparse
import time

import torch

from ltkit.engine.datasets import Splits
from ltkit.engine.models import build_model
from ltkit.engine.runtime import pick_device, set_cpu_threads
from ltkit.engine.training import TrainConfig, train
from ltkit.experiments.profiles import sizes, training_recipe

EXPERIMENTS = [
    ("mnist1d", "mlp", (40,)),
    ("mnist", "lenet300_100", (1, 28, 28)),
    ("cifar10", "conv2", (3, 32, 32)),
    ("cifar10", "conv6", (3, 32, 32)),
    ("cifar10", "resnet20", (3, 32, 32)),
]


def random_splits(shape, n, device):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n, *shape, generator=generator).to(device)
    y = torch.randint(0, 10, (n,), generator=generator).to(device)
    return Splits("random", x, y, x[:1000], y[:1000], x[:1000], y[:1000])


def seconds_per_iteration(model_name, shape, paper, iterations, device):
    data = random_splits(shape, 10_000, device)
    model = build_model(model_name, shape, device=device)
    config = TrainConfig(
        optimizer=paper.optimizer,
        lr=paper.lr,
        momentum=paper.momentum,
        batch_size=paper.batch_size,
        iterations=iterations,
        eval_every=10**9,
        augment=paper.augment,
    )
    train(model, data, TrainConfig(iterations=10, batch_size=paper.batch_size, eval_every=10**9), progress=False)
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    train(model, data, config, progress=False)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / iterations


def duration(seconds):
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None)
    parser.add_argument("--iterations", type=int, default=300)
    args = parser.parse_args()
    set_cpu_threads()
    device = pick_device(args.device)
    print(f"device: {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'})")
    print(f"{'model':<14}{'ms/iteration':>14}{'one paper run':>16}{'paper IMP sweep (dense + 3 arms x 20 rounds)':>48}")
    for dataset, model_name, shape in EXPERIMENTS:
        recipe = training_recipe(dataset, model_name, "paper")
        seconds = seconds_per_iteration(model_name, shape, recipe, args.iterations, device)
        run = seconds * recipe.iterations
        sweep = run * (1 + 3 * sizes("paper", "imp")["rounds"])
        print(f"{model_name:<14}{1000 * seconds:>14.2f}{duration(run):>16}{duration(sweep):>48}")


if __name__ == "__main__":
    main()
