"""Where computation runs: the device, the CPU thread count, the seeds."""

import os
import platform
import random
import sys

import numpy as np
import torch

from ltkit.errors import LtkitError

DEFAULT_CPU_THREADS = 1


def pick_device(name=None):
    """`name` ("cpu", "cuda", "mps"), or else the best accelerator present, or else the CPU."""
    name = name or os.environ.get("LTKIT_DEVICE")
    if name:
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise LtkitError(f"device {name!r} was asked for but no CUDA GPU is visible; use device='cpu'")
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def set_cpu_threads(threads=None):
    """Use a fixed, small number of CPU threads (LTKIT_THREADS overrides).

    For networks this small, one thread is as fast as two on an idle laptop and does not collapse
    when a browser or a second kernel competes for the cores (benchmarks/threads.py measures it).
    """
    threads = int(threads or os.environ.get("LTKIT_THREADS") or DEFAULT_CPU_THREADS)
    torch.set_num_threads(threads)
    return threads


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
        cpu_cores=os.cpu_count(),
        on_colab="google.colab" in sys.modules,
    )
