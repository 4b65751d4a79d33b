"""Where computation runs: the device, the CPU thread count, the seeds."""

import os
import platform
import random
import sys

import numpy as np
import torch

from ltkit.engine.stacked import stack_size
from ltkit.engine.training import on_replayed_graph
from ltkit.errors import LtkitError


def default_cpu_threads():
    """Half the logical cores, at most 4, at least 1.

    Measured with benchmarks/threads.py (one LeNet-300-100 epoch on Fashion-MNIST; the README's "Speed"
    gives the figures): on 2 cores a second thread made an idle epoch about a quarter faster, but with
    another busy process beside it four times slower; on 16 cores, 4 threads were 1.3x (idle) to 1.7x
    (half the cores busy) faster than one, and 8 added little. Leaving half the cores free keeps a
    browser or a second kernel from slowing training down.
    """
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def pick_device(name=None):
    """`name` ("cpu", "cuda", "cuda:1", "mps"), or else $LTKIT_DEVICE, or else a CUDA GPU when there is
    one, else the CPU."""
    name = name or os.environ.get("LTKIT_DEVICE")
    if not name:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise LtkitError(f"unknown device {name!r}; use 'cpu', 'cuda' (or 'cuda:N') or 'mps'") from None
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise LtkitError(f"device {name!r} was asked for but there is no such CUDA GPU here; use 'cpu'")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise LtkitError(f"device {name!r} was asked for but Apple's MPS is not available here; use 'cpu'")
    return device


def set_cpu_threads(threads=None):
    """Use `threads` CPU threads ($LTKIT_THREADS overrides; default: default_cpu_threads())."""
    asked = threads or os.environ.get("LTKIT_THREADS")
    chosen = int(asked) if str(asked).isdigit() else (default_cpu_threads() if asked is None else 0)
    if chosen < 1:
        raise LtkitError(
            f"CPU threads must be a whole number of at least 1 (threads= or $LTKIT_THREADS); got {asked!r}"
        )
    torch.set_num_threads(chosen)
    return chosen


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def setup(device=None, threads=None, seed=0):
    """One call at the top of a notebook or script: device, threads and seeds. Returns the device."""
    set_cpu_threads(threads)
    seed_everything(seed)
    return pick_device(device)


def describe_environment(device):
    """What this kernel runs on, for the welcome lesson's environment check."""
    return dict(
        python=platform.python_version(),
        torch=torch.__version__,
        device=str(device),
        gpu=torch.cuda.get_device_name(device) if device.type == "cuda" else "none",
        cpu_threads_used=torch.get_num_threads(),
        networks_per_stack=stack_size(device),  # trained together (ltkit.engine.stacked); 0: one at a time
        cuda_graphs=on_replayed_graph(device),
        cpu_cores=os.cpu_count(),
        on_colab="google.colab" in sys.modules,
    )
