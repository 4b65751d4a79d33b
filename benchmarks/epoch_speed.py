"""Epoch time and peak memory: ltkit's trainer against a plain torchvision Dataset + DataLoader loop.

Both train LeNet-300-100 on Fashion-MNIST for one epoch (Adam, batch 60) with the same optimizer and
thread count, each in its own process so that their peak memories do not mix. Run:

    python benchmarks/epoch_speed.py [--epochs 1] [--threads 1]

It prints both epoch times and peak resident memories, and their ratios.
"""

import argparse
import gzip
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from ltkit.engine.dataset_files import find_idx_folder, idx_folders
from ltkit.engine.datasets import load_dataset
from ltkit.engine.models import build_model
from ltkit.engine.runtime import set_cpu_threads
from ltkit.engine.training import TrainConfig, iterations_for, make_optimizer, train
from ltkit.files import data_dir


def ltkit_epochs(epochs):
    data = load_dataset("fashion-mnist")
    model = build_model("lenet300_100", data.input_shape)
    config = TrainConfig(iterations=iterations_for(epochs, len(data.y_train), 60), eval_every=10**9)
    train(model, data, TrainConfig(iterations=5, eval_every=10**9), progress=False)  # warm-up: lazy imports
    return train(model, data, config, progress=False).seconds / epochs


def dataloader_epochs(epochs):
    """The loop most tutorials write: a per-sample Dataset with transforms, batched by a DataLoader."""
    import torchvision
    from torchvision import transforms

    root = Path(tempfile.mkdtemp())
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for path in find_idx_folder(idx_folders("fashion-mnist", data_dir())).values():
        target = raw / path.name.removesuffix(".gz")
        with gzip.open(path) if path.suffix == ".gz" else open(path, "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.2860,), (0.3530,))])
    dataset = torchvision.datasets.FashionMNIST(str(root), train=True, transform=transform)
    loader = torch.utils.data.DataLoader(dataset, batch_size=60, shuffle=True, drop_last=True)
    model = build_model("lenet300_100", (1, 28, 28))
    optimizer = make_optimizer(model, TrainConfig())
    started = time.perf_counter()
    for _ in range(epochs):
        for x, y in loader:
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    shutil.rmtree(root)
    return (time.perf_counter() - started) / epochs


def measure(which, epochs, threads):
    """Run one side in a fresh process; returns its epoch time and peak memory."""
    command = [sys.executable, __file__, "--side", which, "--epochs", str(epochs), "--threads", str(threads)]
    return json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--side", choices=["ltkit", "dataloader"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    threads = set_cpu_threads(args.threads)
    if args.side:
        seconds = (ltkit_epochs if args.side == "ltkit" else dataloader_epochs)(args.epochs)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(dict(epoch_seconds=seconds, peak_mb=peak_mb)))
        return
    ours, theirs = measure("ltkit", args.epochs, threads), measure("dataloader", args.epochs, threads)
    print(f"LeNet-300-100, Fashion-MNIST, Adam, batch 60, {threads} thread(s), mean of {args.epochs} epoch(s):")
    print(f"  ltkit (tensors in memory):   {ours['epoch_seconds']:6.2f} s/epoch   peak {ours['peak_mb']:6.0f} MB")
    print(f"  torchvision DataLoader:      {theirs['epoch_seconds']:6.2f} s/epoch   peak {theirs['peak_mb']:6.0f} MB")
    print(
        f"  ltkit's epoch is {theirs['epoch_seconds'] / ours['epoch_seconds']:.1f}x faster; its peak memory is "
        f"{ours['peak_mb'] / theirs['peak_mb']:.2f}x the DataLoader loop's (it holds the whole dataset as tensors)"
    )


if __name__ == "__main__":
    main()
