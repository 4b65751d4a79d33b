"""Datasets as tensors held in memory, split into train / validation / test.

Every dataset is read once into one tensor per split (on the GPU when there is one), so a training step
only indexes a tensor: no per-sample Dataset or DataLoader, which costs more than the small networks'
own step. Inputs are standardised with the training split's mean and standard deviation.
"""

from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path

import torch

from ltkit.engine import charlm
from ltkit.engine.dataset_files import (
    CIFAR_FOLDER,
    find_idx_folder,
    idx_folders,
    load_cifar10,
    load_idx_dataset,
    load_mnist1d,
)
from ltkit.errors import LtkitError
from ltkit.files import data_dir


@dataclass
class Splits:
    """One dataset as tensors: inputs float32 and standardised (characters, int64, for text), labels int64."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int = 10
    split_id: str = "standard"  # which validation split: part of every cached result's key

    @property
    def input_shape(self):
        return tuple(self.x_train.shape[1:])

    @property
    def device(self):
        return self.x_train.device

    def split(self, part):
        """The (inputs, labels) pair of "train", "val" or "test"."""
        return getattr(self, f"x_{part}"), getattr(self, f"y_{part}")

    def to(self, device):
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        for key, value in moved.items():
            if isinstance(value, torch.Tensor):
                moved[key] = value.to(device)
        return Splits(**moved)

    def __repr__(self):
        sizes = ", ".join(f"{part} {len(self.split(part)[1])}" for part in ("train", "val", "test"))
        return f"Splits({self.name!r}: {sizes}; inputs {self.input_shape}; on {self.device})"


DATASETS = {
    "mnist1d": dict(
        load=load_mnist1d, train_size=4000, val_size=500, about="MNIST-1D, 40-sample 1-D signals (generated)"
    ),
    "fashion-mnist": dict(
        load=partial(load_idx_dataset, "fashion-mnist"),
        train_size=60000,
        val_size=5000,
        about="Fashion-MNIST, 28x28 grey images of clothes",
    ),
    "mnist": dict(
        load=partial(load_idx_dataset, "mnist"),
        train_size=60000,
        val_size=5000,
        about="MNIST, 28x28 handwritten digits",
    ),
    "cifar10": dict(load=load_cifar10, train_size=50000, val_size=5000, about="CIFAR-10, 32x32 colour images"),
    "charlm": dict(
        load=lambda root, download: charlm.load_charlm(),
        train_size=sum(charlm.split_sizes()[:2]),  # as for the others: training and validation windows together
        val_size=charlm.split_sizes()[1],
        about="characters of the Python standard library's source, next-character prediction (no download)",
        text=True,
    ),
}


def check_dataset_name(name):
    if name not in DATASETS:
        raise LtkitError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")


def training_set_size(name):
    """Examples left for training once the validation split is held out (known without loading)."""
    check_dataset_name(name)
    return DATASETS[name]["train_size"] - DATASETS[name]["val_size"]


def load_dataset(name, device="cpu", root=None, download=True, val_size=None, split_seed=0):
    """Load `name` as Splits on `device`.

    The validation split is held out of the training set (the papers do the same), chosen by a fixed
    permutation, so validation data never touches training and the test set is only ever measured.
    """
    check_dataset_name(name)
    spec = DATASETS[name]
    if spec.get("text"):
        return load_text_dataset(name, device, val_size, split_seed)
    root = Path(root) if root is not None else data_dir()
    x_train, y_train, x_test, y_test = spec["load"](root, download)
    val_size = spec["val_size"] if val_size is None else val_size
    if not 0 < val_size < len(y_train):
        raise LtkitError(f"val_size must be between 1 and {len(y_train) - 1} for {name}; got {val_size}")
    order = torch.randperm(len(y_train), generator=torch.Generator().manual_seed(split_seed))
    val_idx, train_idx = order[:val_size], order[val_size:]
    x_train, x_val = x_train[train_idx].float(), x_train[val_idx].float()
    y_train, y_val = y_train[train_idx], y_train[val_idx]
    x_test = x_test.float()
    mean, std = channel_stats(x_train)
    for x in (x_train, x_val, x_test):
        x.sub_(mean).div_(std)  # in place: these are the largest tensors the kit holds
    standard = val_size == spec["val_size"] and split_seed == 0
    split_id = "standard" if standard else f"{val_size} for validation, split seed {split_seed}"
    splits = Splits(name, x_train, y_train, x_val, y_val, x_test, y_test, int(y_train.max()) + 1, split_id)
    return splits.to(device)


def load_text_dataset(name, device, val_size, split_seed):
    """A text dataset (charlm): its splits are fixed by position in the text, and its inputs are characters,
    which are not standardised."""
    if val_size not in (None, DATASETS[name]["val_size"]) or split_seed != 0:
        raise LtkitError(
            f"{name}'s validation text is fixed by its position in the text: val_size and split_seed cannot change"
        )
    x_train, y_train, x_val, y_val, x_test, y_test = DATASETS[name]["load"](None, False)
    splits = Splits(name, x_train, y_train, x_val, y_val, x_test, y_test, len(charlm.VOCABULARY), charlm.split_id())
    return splits.to(device)


def data_for(config, data=None, device="cpu"):
    """The data an experiment runs on: `data`, or else `config.dataset` loaded on `device`. Data of another
    dataset than the config's is refused."""
    if data is None:
        return load_dataset(config.dataset, device=device)
    if data.name != config.dataset:
        raise LtkitError(
            f"the data is {data.name!r} but the experiment is set up for {config.dataset!r}; pass "
            f"load_dataset({config.dataset!r}) or change the config's dataset"
        )
    return data


def channel_stats(x):
    """Mean and std per channel of images [N, C, H, W], or overall for flat inputs [N, D]."""
    if x.dim() == 4:
        return x.mean(dim=(0, 2, 3), keepdim=True), x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-8)
    return x.mean(), x.std().clamp_min(1e-8)


def available_datasets(root=None):
    """For `ltkit datasets`: each dataset's name, whether it is here, and where (or how to get it)."""
    root = Path(root) if root is not None else data_dir()
    rows = []
    for name, spec in DATASETS.items():
        try:
            spec["load"](root, download=False)
            rows.append(dict(name=name, available=True, where=where_is(name, root), about=spec["about"]))
        except LtkitError as error:
            rows.append(dict(name=name, available=False, where=str(error), about=spec["about"]))
    return rows


def where_is(name, root):
    if name == "mnist1d":
        return str(root / "mnist1d")
    if name == "cifar10":
        return str(root / CIFAR_FOLDER)
    if name == "charlm":
        return f"the source of {len(charlm.MODULES)} modules of {charlm.split_id()}"
    return str(find_idx_folder(idx_folders(name, root))["x_train"].parent)
