import importlib
import os
import pkgutil
import shutil
import subprocess
import sys

import pytest
import torch

import ltkit.experiments
from ltkit.engine import stacked, training
from ltkit.engine.datasets import Splits, load_dataset

os.environ.setdefault("TQDM_DISABLE", "1")
torch.set_num_threads(1)


def experiment_modules():
    """Every module of ltkit.experiments (a new experiment's too)."""
    names = pkgutil.iter_modules(ltkit.experiments.__path__, "ltkit.experiments.")
    return [importlib.import_module(name) for _, name, _ in names]


@pytest.fixture
def tiny_data():
    """A small, learnable 10-class problem as Splits: fast enough for unit tests of the training loop."""
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(10, 20, generator=generator) * 2

    def sample(n):
        y = torch.randint(0, 10, (n,), generator=generator)
        return centres[y] + torch.randn(n, 20, generator=generator), y

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = sample(600), sample(200), sample(200)
    return Splits("tiny", x_train, y_train, x_val, y_val, x_test, y_test)


@pytest.fixture(scope="session")
def mnist1d_files(tmp_path_factory):
    """A data folder holding MNIST-1D, generated once per test session (generating takes over a second)."""
    root = tmp_path_factory.mktemp("mnist1d")
    load_dataset("mnist1d", root=root)
    return root / "mnist1d"


@pytest.fixture
def data_root(tmp_path, monkeypatch, mnist1d_files):
    """An empty run cache, used instead of the real data folder; MNIST-1D is there already, so that code
    which loads it by name (the command line, the playground) does not generate it again."""
    root = tmp_path / "data"
    shutil.copytree(mnist1d_files, root / "mnist1d")
    monkeypatch.setenv("LTKIT_DATA", str(root))
    return root


@pytest.fixture(scope="session")
def mnist1d_once(mnist1d_files):
    return load_dataset("mnist1d", root=mnist1d_files.parent)


@pytest.fixture
def mnist1d(data_root, mnist1d_once):
    """MNIST-1D on the CPU, with an empty run cache for this test."""
    return mnist1d_once


@pytest.fixture
def count_training(monkeypatch):
    """Every network trained by the experiments (dense runs, IMP, instability, one-shot retraining), by its
    description (None for a replay to the rewind iteration), whether alone or in a stack."""
    calls = []

    def counting(*args, **kwargs):
        calls.append(kwargs.get("desc"))
        return training.train(*args, **kwargs)

    def counting_jobs(jobs, *args, **kwargs):
        calls.extend(job.desc for job in jobs)
        return stacked.train_together(jobs, *args, **kwargs)

    for module in experiment_modules():  # each imported the two by name: patched where they are called
        if getattr(module, "train", None) is training.train:
            monkeypatch.setattr(module, "train", counting)
        if getattr(module, "train_together", None) is stacked.train_together:
            monkeypatch.setattr(module, "train_together", counting_jobs)
    return calls


@pytest.fixture
def run_ltkit(tmp_path):
    """Run the `ltkit` command in a fresh process (as a user would), with an empty data folder."""

    def run(*args):
        env = {**os.environ, "LTKIT_DATA": str(tmp_path), "TQDM_DISABLE": "1"}
        return subprocess.run([sys.executable, "-m", "ltkit.cli", *args], capture_output=True, text=True, env=env)

    return run
