import os

import pytest
import torch

from ltkit.data import Splits

os.environ.setdefault("TQDM_DISABLE", "1")
torch.set_num_threads(1)


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


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    """An empty data folder, used for datasets and the run cache instead of the real one."""
    monkeypatch.setenv("LTKIT_DATA", str(tmp_path))
    return tmp_path
