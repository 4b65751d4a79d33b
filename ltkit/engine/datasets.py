"""Datasets as tensors held in memory, split into train / validation / test.

Every dataset is read once into one tensor per split (on the GPU when there is one), so a training step
only indexes a tensor: no per-sample Dataset or DataLoader, which costs more than the small networks'
own step. Inputs are standardised with the training split's mean and standard deviation.

Your own data joins the built-in datasets by name: `register_dataset(name, load)`, where load() returns
`Splits.from_tensors(x_train, y_train, x_test, y_test)`. From then on load_dataset(name) and every
experiment take the name as they take "mnist1d".
"""

import hashlib
from dataclasses import dataclass, fields, replace
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
from ltkit.engine.text_datasets import TEXT_DATASETS
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

    @classmethod
    def from_tensors(cls, x_train, y_train, x_test, y_test, val_fraction=0.1, seed=0, name=None, num_classes=None):
        """Your own data as Splits, prepared as load_dataset prepares the built-in datasets: `val_fraction` of
        the training examples held out for validation by a fixed permutation (`seed`), and the inputs
        standardised with the training split's statistics. Labels are class indices 0..num_classes-1
        (num_classes: the largest label + 1 unless given). The tensors given are not changed.

        Its split_id holds a fingerprint of the data's content, so a cached result is never served for
        other data under the same name. Register it to use it by name: register_dataset(name, load).
        """
        x_train, y_train = checked_examples("train", x_train, y_train)
        x_test, y_test = checked_examples("test", x_test, y_test)
        if x_test.shape[1:] != x_train.shape[1:]:
            raise LtkitError(
                f"the test examples have shape {tuple(x_test.shape[1:])} but the training examples "
                f"{tuple(x_train.shape[1:])}; give both splits examples of one shape"
            )
        num_classes = checked_classes(num_classes, y_train, y_test)
        val_size = round(val_fraction * len(y_train))
        if not 0 < val_size < len(y_train):
            raise LtkitError(
                f"val_fraction={val_fraction} holds out {val_size} of {len(y_train)} training examples; "
                f"choose a fraction that leaves at least one for validation and one for training"
            )
        fingerprint = content_fingerprint(x_train, y_train, x_test, y_test)
        x_train, y_train, x_val, y_val = held_out(x_train, y_train, val_size, seed)
        x_test = x_test.to(torch.float32, copy=True)  # standardised in place below: the caller's stays as it was
        standardise(x_train, x_val, x_test)
        split_id = f"{val_size} of {len(y_train) + val_size} for validation, split seed {seed}, data {fingerprint}"
        return cls(name or "tensors", x_train, y_train, x_val, y_val, x_test, y_test, num_classes, split_id)


def checked_examples(part, x, y):
    """The inputs and labels of one split as tensors, refused with the fix where they cannot be learnt from."""
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    if len(x) != len(y):
        raise LtkitError(f"x_{part} has {len(x)} examples but y_{part} {len(y)} labels; give one label per example")
    if len(y) == 0:
        raise LtkitError(f"the {part} split is empty; give it examples")
    if y.dim() != 1 or y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise LtkitError(
            f"y_{part} must hold one integer class index per example (a 1-D tensor of integers); "
            f"it has shape {tuple(y.shape)} and dtype {y.dtype}: pass y_{part}.long()"
        )
    if x.is_floating_point() and not torch.isfinite(x).all():
        raise LtkitError(f"x_{part} holds NaN or infinite values; replace them (torch.nan_to_num) or drop them")
    return x, y.long()


def checked_classes(num_classes, y_train, y_test):
    """The number of classes: `num_classes`, or else the largest label + 1; labels outside it are refused."""
    largest = max(int(y_train.max()), int(y_test.max()))
    num_classes = largest + 1 if num_classes is None else num_classes
    smallest = min(int(y_train.min()), int(y_test.min()))
    if smallest < 0 or largest >= num_classes:
        raise LtkitError(
            f"labels must be class indices 0..{num_classes - 1} (num_classes={num_classes}) but they run from "
            f"{smallest} to {largest}; number the classes from 0, or pass num_classes={largest + 1}"
        )
    return num_classes


def content_fingerprint(*tensors):
    """A short hash of the tensors' shapes, types and values: the same data gives the same fingerprint."""
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(f"{tuple(tensor.shape)} {tensor.dtype};".encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]


def held_out(x_train, y_train, val_size, split_seed):
    """(x_train, y_train, x_val, y_val), inputs as float32: `val_size` examples held out of the training
    set by a fixed permutation, so validation data never touches training."""
    order = torch.randperm(len(y_train), generator=torch.Generator().manual_seed(split_seed))
    val_idx, train_idx = order[:val_size], order[val_size:]
    return x_train[train_idx].float(), y_train[train_idx], x_train[val_idx].float(), y_train[val_idx]


def standardise(x_train, *others):
    """Standardise every split with the training split's mean and std, in place: these are the largest
    tensors the kit holds."""
    mean, std = channel_stats(x_train)
    for x in (x_train, *others):
        x.sub_(mean).div_(std)


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
    **TEXT_DATASETS,
}


@dataclass(frozen=True)
class UserDataset:
    """A dataset registered by register_dataset: load() returns its Splits."""

    load: object
    about: str = ""


REGISTERED_DATASETS = {}  # name: UserDataset, in the order they were registered


def register_dataset(name, load, about=""):
    """Make your own data a dataset the kit knows by `name`: load() returns its Splits (made with
    Splits.from_tensors), and is called each time the dataset is loaded, so data that changes is read anew
    (its fingerprint, in the split_id, keeps the run cache from serving results of the old data).

        ltkit.register_dataset("my-data", lambda: ltkit.Splits.from_tensors(x_train, y_train, x_test, y_test))
    """
    check_new_name("dataset", name, DATASETS, REGISTERED_DATASETS)
    if not callable(load):
        raise LtkitError(f"load must be a function that returns ltkit.Splits; got {type(load).__name__}")
    REGISTERED_DATASETS[name] = UserDataset(load, about)


def unregister_dataset(name):
    """Forget a dataset registered by register_dataset (to register new data under its name, say)."""
    forget("dataset", name, REGISTERED_DATASETS)


def check_new_name(kind, name, built_in, registered):
    """Refuse a name for a new dataset or model that is not a string, or is taken."""
    if not isinstance(name, str) or not name:
        raise LtkitError(f"a {kind}'s name must be a non-empty string; got {name!r}")
    if name in built_in or name in registered:
        taken = f"a built-in {kind}" if name in built_in else "registered already"
        raise LtkitError(
            f"the {kind} name {name!r} is taken ({taken}); choose another, or unregister_{kind}({name!r}) first"
        )


def forget(kind, name, registered):
    """Remove a registration, or say which there are."""
    if name not in registered:
        raise LtkitError(f"no {kind} {name!r} is registered; the registered ones: {', '.join(registered) or 'none'}")
    del registered[name]


def load_registered(name):
    """The Splits of a registered dataset, named `name` whatever name its load() gave them."""
    try:
        splits = REGISTERED_DATASETS[name].load()
    except LtkitError:
        raise
    except Exception as error:
        raise LtkitError(f"the load() of dataset {name!r} failed: {one_line(error)}; fix load") from error
    if not isinstance(splits, Splits):
        raise LtkitError(
            f"the load() of dataset {name!r} returned a {type(splits).__name__}, not Splits; "
            f"return ltkit.Splits.from_tensors(x_train, y_train, x_test, y_test)"
        )
    return replace(splits, name=name)


def one_line(error):
    """An exception as one line, for an LtkitError's message: its type and the first line of its text."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def dataset_names():
    """Every dataset's name: the built-in ones, then those registered."""
    return [*DATASETS, *REGISTERED_DATASETS]


def check_dataset_name(name):
    check_known("dataset", name, dataset_names())


def check_known(kind, name, names):
    """Refuse a dataset or model name that is neither built in nor registered, naming those that are."""
    if name not in names:
        raise LtkitError(
            f"unknown {kind} {name!r}; choose one of: {', '.join(names)} (or register your own: ltkit.register_{kind})"
        )


def is_text(name):
    """Whether a dataset holds characters (charlm, stdlib, heldout-lm, textkinds), which only the transformers read."""
    return DATASETS.get(name, {}).get("text", False)


def labels_windows(name):
    """Whether a text dataset labels each window as a whole (textkinds) rather than every next character."""
    return DATASETS.get(name, {}).get("labels_windows", False)


def training_set_size(name):
    """Examples left for training once the validation split is held out (known without loading, except for a
    registered dataset, which is loaded to count them)."""
    check_dataset_name(name)
    if name in REGISTERED_DATASETS:
        return len(load_registered(name).y_train)
    if is_text(name):
        return DATASETS[name]["sizes"]()[0]
    return DATASETS[name]["train_size"] - DATASETS[name]["val_size"]


def load_dataset(name, device="cpu", root=None, download=True, val_size=None, split_seed=0):
    """Load `name` as Splits on `device`.

    The validation split is held out of the training set (the papers do the same), chosen by a fixed
    permutation, so validation data never touches training and the test set is only ever measured.
    A registered dataset comes from its load(), which sets its split (root and download do not apply).
    """
    check_dataset_name(name)
    if name in REGISTERED_DATASETS:
        if val_size is not None or split_seed != 0:
            raise LtkitError(
                f"{name}'s validation split is set by its load(): pass val_fraction= and seed= to "
                f"Splits.from_tensors there instead of val_size and split_seed"
            )
        return load_registered(name).to(device)
    spec = DATASETS[name]
    if spec.get("text"):
        return load_text_dataset(name, device, val_size, split_seed)
    root = Path(root) if root is not None else data_dir()
    x_train, y_train, x_test, y_test = spec["load"](root, download)
    val_size = spec["val_size"] if val_size is None else val_size
    if not 0 < val_size < len(y_train):
        raise LtkitError(f"val_size must be between 1 and {len(y_train) - 1} for {name}; got {val_size}")
    x_train, y_train, x_val, y_val = held_out(x_train, y_train, val_size, split_seed)
    x_test = x_test.float()
    standardise(x_train, x_val, x_test)
    standard = val_size == spec["val_size"] and split_seed == 0
    split_id = "standard" if standard else f"{val_size} for validation, split seed {split_seed}"
    splits = Splits(name, x_train, y_train, x_val, y_val, x_test, y_test, int(y_train.max()) + 1, split_id)
    return splits.to(device)


def load_text_dataset(name, device, val_size, split_seed):
    """A text dataset (charlm): its splits are fixed by position in the text, and its inputs are characters,
    which are not standardised."""
    spec = DATASETS[name]
    if val_size not in (None, spec["sizes"]()[1]) or split_seed != 0:
        raise LtkitError(
            f"{name}'s validation text is fixed by its position in the text: val_size and split_seed cannot change"
        )
    x_train, y_train, x_val, y_val, x_test, y_test = spec["load"]()
    splits = Splits(name, x_train, y_train, x_val, y_val, x_test, y_test, spec["classes"], charlm.split_id())
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
            if spec.get("text"):  # readable source is all it needs; loading would read and encode it all
                modules, chars = spec["source"]
                for module in modules:
                    charlm.module_text(module, chars)
            else:
                spec["load"](root, download=False)
            rows.append(dict(name=name, available=True, where=where_is(name, root), about=spec["about"]))
        except LtkitError as error:
            rows.append(dict(name=name, available=False, where=str(error), about=spec["about"]))
    for name, registered in REGISTERED_DATASETS.items():
        rows.append(dict(name=name, available=True, where="registered: ltkit.register_dataset", about=registered.about))
    return rows


def where_is(name, root):
    if name == "mnist1d":
        return str(root / "mnist1d")
    if name == "cifar10":
        return str(root / CIFAR_FOLDER)
    if is_text(name):
        return f"the source of {len(DATASETS[name]['source'][0])} modules of {charlm.split_id()}"
    return str(find_idx_folder(idx_folders(name, root))["x_train"].parent)
