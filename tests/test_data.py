import gzip
import pickle

import numpy as np
import pytest
import torch

from ltkit.engine import dataset_files
from ltkit.engine.batches import augment_images, batch_indices, crop_and_flip
from ltkit.engine.dataset_files import read_idx
from ltkit.engine.datasets import Splits, channel_stats, load_dataset
from ltkit.errors import LtkitError


def write_idx(path, array, compress=False):
    """Write `array` (uint8) in the IDX format MNIST is distributed in."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def write_fake_mnist(folder, n_train=60, n_test=20, compress=False):
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(n_test) % 10,
    }
    for name, array in arrays.items():
        write_idx(folder / name, array, compress)
    return arrays


def write_fake_cifar(folder, per_batch=10, n_test=10):
    """CIFAR-10's python version: pickled dicts with 'data' (N x 3072 uint8) and 'labels'."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for name, n in [*[(f"data_batch_{i}", per_batch) for i in range(1, 6)], ("test_batch", n_test)]:
        batch = {"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8), "labels": list(np.arange(n) % 10)}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_is_read_from_torchvisions_layout(tmp_path, compress):
    arrays = write_fake_mnist(tmp_path / "MNIST" / "raw", compress=compress)
    splits = load_dataset("mnist", root=tmp_path, download=False, val_size=10)
    assert splits.x_train.shape == (50, 1, 28, 28) and splits.x_val.shape == (10, 1, 28, 28)
    assert splits.x_test.shape == (20, 1, 28, 28) and splits.y_test.tolist() == list(arrays["t10k-labels-idx1-ubyte"])
    assert splits.x_train.dtype == torch.float32 and splits.y_train.dtype == torch.int64
    assert abs(splits.x_train.mean().item()) < 1e-4 and abs(splits.x_train.std().item() - 1) < 1e-3


def test_validation_is_held_out_of_the_training_set(tmp_path):
    write_fake_mnist(tmp_path / "MNIST" / "raw")
    splits = load_dataset("mnist", root=tmp_path, download=False, val_size=10)
    train_rows = {tuple(x.flatten().tolist()) for x in splits.x_train}
    assert not any(tuple(x.flatten().tolist()) in train_rows for x in splits.x_val)
    assert len(splits.y_train) + len(splits.y_val) == 60


def test_cifar10_is_read_from_its_pickled_batches(tmp_path):
    write_fake_cifar(tmp_path / "cifar-10-batches-py")
    splits = load_dataset("cifar10", root=tmp_path, download=False, val_size=5)
    assert splits.x_train.shape == (45, 3, 32, 32) and splits.x_test.shape == (10, 3, 32, 32)
    per_channel_mean = splits.x_train.mean(dim=(0, 2, 3))
    assert per_channel_mean.abs().max() < 1e-4


def test_a_damaged_cifar_batch_names_the_file_and_the_fix(tmp_path):
    write_fake_cifar(tmp_path / "cifar-10-batches-py")
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(LtkitError, match="data_batch_3.*delete"):
        load_dataset("cifar10", root=tmp_path, download=False, val_size=5)


def test_a_truncated_idx_file_is_reported(tmp_path):
    write_fake_mnist(tmp_path / "MNIST" / "raw")
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(LtkitError, match="truncated"):
        read_idx(path)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_a_missing_dataset_says_where_it_looked_and_how_to_get_it(tmp_path, monkeypatch, name):
    monkeypatch.setattr(dataset_files, "SYSTEM_FASHION_MNIST", tmp_path / "nowhere")
    monkeypatch.setitem(dataset_files.IDX_DATASETS, "fashion-mnist", ("FashionMNIST", [tmp_path / "nowhere"], ""))

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr("torchvision.datasets.utils.urlopen", offline, raising=False)
    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(LtkitError, match=r"not on this machine \(looked in .*internet"):
        load_dataset(name, root=tmp_path, download=True)


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(LtkitError, match="unknown dataset 'mnist2'.*fashion-mnist"):
        load_dataset("mnist2")


def test_mnist1d_is_generated_offline_and_cached(tmp_path):
    splits = load_dataset("mnist1d", root=tmp_path)
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (3500, 500, 1000)
    assert splits.input_shape == (40,) and splits.num_classes == 10
    assert (tmp_path / "mnist1d" / "mnist1d.pt").exists()
    again = load_dataset("mnist1d", root=tmp_path)
    assert torch.equal(again.x_test, splits.x_test)


@pytest.mark.skipif(
    not dataset_files.SYSTEM_FASHION_MNIST.exists(), reason="Debian's dataset-fashion-mnist is not installed"
)
def test_fashion_mnist_comes_from_the_system_package(tmp_path):
    splits = load_dataset("fashion-mnist", root=tmp_path, download=False)
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (55000, 5000, 10000)
    assert splits.input_shape == (1, 28, 28)


def test_batches_visit_every_example_once_per_epoch():
    generator = torch.Generator().manual_seed(0)
    batches = batch_indices(100, 10, generator)
    first_epoch = torch.cat([next(batches) for _ in range(10)])
    assert sorted(first_epoch.tolist()) == list(range(100))
    assert not torch.equal(first_epoch, torch.cat([next(batches) for _ in range(10)]))


def test_a_batch_larger_than_the_data_is_refused():
    with pytest.raises(LtkitError, match="batch size"):
        next(batch_indices(5, 10, torch.Generator()))


def test_crops_shift_with_zero_padding_and_flips_mirror():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8) + 1
    centred = torch.tensor([4, 4])
    assert torch.equal(crop_and_flip(x, centred, centred, torch.tensor([False, False])), x)
    assert torch.equal(crop_and_flip(x, centred, centred, torch.tensor([True, True])), x.flip(-1))
    down = crop_and_flip(x, torch.tensor([0, 0]), centred, torch.tensor([False, False]))
    assert torch.equal(down[:, :, 4:], x[:, :, :4]) and torch.count_nonzero(down[:, :, :4]) == 0
    right = crop_and_flip(x, centred, torch.tensor([8, 8]), torch.tensor([False, False]))
    assert torch.equal(right[..., :4], x[..., 4:]) and torch.count_nonzero(right[..., 4:]) == 0


def test_random_augmentation_changes_most_images_and_is_reproducible():
    x = torch.randn(64, 3, 8, 8)
    out = augment_images(x, torch.Generator().manual_seed(1))
    assert out.shape == x.shape
    assert sum(not torch.equal(a, b) for a, b in zip(out, x)) > 48
    assert torch.equal(out, augment_images(x, torch.Generator().manual_seed(1)))


def own_tensors(n_train=50, n_test=10):
    generator = torch.Generator().manual_seed(0)
    x_train, x_test = torch.rand(n_train, 3, 4, 4, generator=generator) * 255, torch.rand(n_test, 3, 4, 4) * 255
    return x_train, torch.arange(n_train) % 5, x_test, torch.arange(n_test) % 5


def test_own_tensors_are_split_and_standardised_as_the_built_in_datasets_are():
    x_train, y_train, x_test, y_test = own_tensors()
    originals = [t.clone() for t in (x_train, y_train, x_test, y_test)]
    splits = Splits.from_tensors(x_train, y_train, x_test, y_test, val_fraction=0.2, seed=3, name="mine")
    order = torch.randperm(50, generator=torch.Generator().manual_seed(3))  # load_dataset's permutation
    assert torch.equal(splits.y_val, y_train[order[:10]]) and torch.equal(splits.y_train, y_train[order[10:]])
    assert splits.x_train.mean(dim=(0, 2, 3)).abs().max() < 1e-4
    assert (splits.x_train.std(dim=(0, 2, 3)) - 1).abs().max() < 1e-4
    mean, std = channel_stats(x_train[order[10:]])
    assert torch.allclose(splits.x_test, (x_test - mean) / std, atol=1e-5)
    assert all(torch.equal(a, b) for a, b in zip(originals, (x_train, y_train, x_test, y_test)))  # left as given
    assert (splits.name, splits.num_classes, splits.input_shape) == ("mine", 5, (3, 4, 4))


def test_own_tensors_split_id_changes_with_their_content_and_split():
    x_train, y_train, x_test, y_test = own_tensors()
    split_id = Splits.from_tensors(x_train, y_train, x_test, y_test).split_id
    assert Splits.from_tensors(x_train.clone(), y_train, x_test, y_test).split_id == split_id
    assert Splits.from_tensors(x_train, y_train, x_test, y_test, seed=1).split_id != split_id  # another split
    changed = x_test.clone()
    changed[0, 0, 0, 0] += 1
    assert Splits.from_tensors(x_train, y_train, changed, y_test).split_id != split_id


def test_own_arrays_are_taken_too_and_num_classes_can_be_more_than_the_labels_show():
    x_train, y_train, x_test, y_test = (t.numpy() for t in own_tensors())
    splits = Splits.from_tensors(x_train.astype(np.uint8), y_train, x_test.astype(np.uint8), y_test, num_classes=7)
    assert splits.x_train.dtype == torch.float32 and splits.y_train.dtype == torch.int64 and splits.num_classes == 7
