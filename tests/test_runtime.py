import pytest
import torch

from ltkit.engine.runtime import default_cpu_threads, pick_device, set_cpu_threads
from ltkit.errors import LtkitError


@pytest.mark.parametrize("name, message", [("gpu", "unknown device 'gpu'"), ("cuda:7", "no such CUDA GPU")])
def test_a_device_that_is_not_here_is_explained(name, message):
    with pytest.raises(LtkitError, match=message):
        pick_device(name)


def test_the_cpu_is_always_there():
    assert pick_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("value", ["abc", "0", "-2"])
def test_a_bad_thread_count_is_explained(monkeypatch, value):
    monkeypatch.setenv("LTKIT_THREADS", value)
    with pytest.raises(LtkitError, match="at least 1"):
        set_cpu_threads()


def test_threads_default_to_half_the_cores_at_most_four(monkeypatch):
    monkeypatch.delenv("LTKIT_THREADS", raising=False)
    for cores, expected in ((1, 1), (2, 1), (8, 4), (16, 4)):
        monkeypatch.setattr("os.cpu_count", lambda cores=cores: cores)
        assert default_cpu_threads() == expected
    monkeypatch.setenv("LTKIT_THREADS", "3")
    assert set_cpu_threads() == 3 and torch.get_num_threads() == 3
    torch.set_num_threads(1)
