"""Datasets as tensors held in memory, split into train / validation / test, and a fast batch iterator.

Every dataset is read once into one tensor per split (on the GPU when there is one), so a training step
only indexes a tensor: no per-sample Dataset or DataLoader, which costs more than the small networks'
own step. Inputs are standardised with the training split's mean and standard deviation.
"""

import gzip
import os
import pickle
import tempfile
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path

import numpy as np
import torch

from ltkit import charlm
from ltkit.errors import LtkitError

SYSTEM_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]


def data_dir():
    """Where datasets and cached runs live: $LTKIT_DATA, else the checkout's data/, else ./data."""
    if os.environ.get("LTKIT_DATA"):
        return Path(os.environ["LTKIT_DATA"])
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").exists():
        return checkout / "data"
    return Path.cwd() / "data"


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


# --- reading the files --------------------------------------------------------------------------


def read_idx(path):
    """An IDX file (the MNIST format), gzipped or not, as a numpy array of unsigned bytes."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise LtkitError(f"{path} is not an IDX file of unsigned bytes; delete it and load the dataset again")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise LtkitError(f"{path} is truncated ({data.size} of {int(np.prod(shape))} values); delete it and load again")
    return data.reshape(shape)


def find_idx_folder(folders):
    """The first folder holding all four IDX files (plain or .gz), with their paths; else None."""
    for folder in folders:
        found = {}
        for key, stem in IDX_FILES.items():
            for name in (stem, stem + ".gz"):
                if (folder / name).exists():
                    found[key] = folder / name
                    break
        if len(found) == len(IDX_FILES):
            return found
    return None


def read_idx_dataset(files):
    """Images as uint8 [N, 1, 28, 28] and labels as int64, read from the four IDX files."""
    arrays = {key: read_idx(path) for key, path in files.items()}
    images = {key: torch.from_numpy(arrays[key].copy()).unsqueeze(1) for key in ("x_train", "x_test")}
    labels = {key: torch.from_numpy(arrays[key].astype(np.int64)) for key in ("y_train", "y_test")}
    return images["x_train"], labels["y_train"], images["x_test"], labels["y_test"]


def read_cifar_batches(folder):
    """The python-pickle batches of CIFAR-10 as (x_train, y_train, x_test, y_test), images as uint8."""

    def read(names):
        images, labels = [], []
        for name in names:
            try:
                with open(folder / name, "rb") as f:
                    entry = pickle.load(f, encoding="latin1")
                images.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
                labels.extend(entry["labels"])
            except (OSError, EOFError, KeyError, ValueError, pickle.UnpicklingError) as error:
                raise LtkitError(
                    f"CIFAR-10 file {folder / name} is damaged ({error}); delete {folder} and load again"
                ) from None
        return torch.from_numpy(np.concatenate(images)), torch.tensor(labels)

    return (*read(CIFAR_TRAIN_BATCHES), *read(["test_batch"]))


# --- one loader per dataset ----------------------------------------------------------------------


def load_mnist1d(root, download):
    """MNIST-1D, generated by the mnist1d package (no download), cached as tensors under root."""
    cache = root / "mnist1d" / "mnist1d.pt"
    if cache.exists():
        try:
            saved = torch.load(cache, weights_only=True)
            return saved["x_train"], saved["y_train"], saved["x_test"], saved["y_test"]
        except Exception:
            pass  # a damaged cache of generated data is simply generated again
    from mnist1d.data import get_dataset_args, make_dataset

    generated = make_dataset(get_dataset_args())
    tensors = {
        "x_train": torch.from_numpy(generated["x"]).float(),
        "y_train": torch.from_numpy(generated["y"]).long(),
        "x_test": torch.from_numpy(generated["x_test"]).float(),
        "y_test": torch.from_numpy(generated["y_test"]).long(),
    }
    atomic_torch_save(tensors, cache)
    return tensors["x_train"], tensors["y_train"], tensors["x_test"], tensors["y_test"]


IDX_DATASETS = {  # name: (torchvision's class and folder, other folders to look in, how else to get it)
    "fashion-mnist": (
        "FashionMNIST",
        [SYSTEM_FASHION_MNIST],
        " (on Debian or Ubuntu: apt-get install dataset-fashion-mnist)",
    ),
    "mnist": ("MNIST", [], ""),
}


def idx_folders(name, root):
    torchvision_name, extra_folders, _ = IDX_DATASETS[name]
    return [root / torchvision_name / "raw", root / name, *extra_folders]


def load_idx_dataset(name, root, download):
    """An IDX-format dataset: look in the known folders, else download it with torchvision."""
    folders = idx_folders(name, root)
    files = find_idx_folder(folders)
    if files is None and download:
        try_download(IDX_DATASETS[name][0], root)
        files = find_idx_folder(folders)
    if files is None:
        looked = ", ".join(str(f) for f in folders)
        raise LtkitError(
            f"{name} is not on this machine (looked in {looked}){missing_hint(download)}, or copy the four IDX "
            f"files into {folders[0]}{IDX_DATASETS[name][2]}"
        )
    return read_idx_dataset(files)


def load_cifar10(root, download):
    folder = root / CIFAR_FOLDER
    if not (folder / "test_batch").exists() and download:
        try_download("CIFAR10", root)
    if not (folder / "test_batch").exists():
        raise LtkitError(
            f"CIFAR-10 is not on this machine (looked in {folder}){missing_hint(download)}, or unpack "
            f"cifar-10-python.tar.gz into {root}"
        )
    return read_cifar_batches(folder)


def missing_hint(download_tried):
    if download_tried:
        return " and could not be downloaded; connect to the internet and load it again"
    return "; loading it with a connection to the internet downloads it"


def try_download(torchvision_class, root):
    """Let torchvision fetch the files; a failure (offline, say) only means they stay missing."""
    import torchvision.datasets

    try:
        getattr(torchvision.datasets, torchvision_class)(root=str(root), train=True, download=True)
        getattr(torchvision.datasets, torchvision_class)(root=str(root), train=False, download=True)
    except Exception as error:  # any network or archive failure: the caller explains what to do
        print(f"ltkit: downloading {torchvision_class} failed: {error}")


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


def atomic_torch_save(obj, path):
    """Write to a temporary file beside `path`, then rename: a crash never leaves half a file."""
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def atomic_write(path, write):
    """write(temporary path), then rename it to `path`. The temporary name is unique, so two kernels or
    threads saving the same result at once cannot trip over each other's file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


# --- batches -------------------------------------------------------------------------------------


def batch_indices(n, batch_size, generator, device="cpu"):
    """Index tensors of shuffled mini-batches on `device`, forever: one fresh permutation per epoch (drawn
    by the CPU `generator` and copied once per epoch: a copy per batch would make a GPU wait every step)."""
    if batch_size > n:
        raise LtkitError(f"batch size {batch_size} is larger than the {n} training examples; lower it")
    while True:
        order = torch.randperm(n, generator=generator).to(device)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[start : start + batch_size]


def augment_images(x, generator):
    """Random 4-pixel-padded crops and horizontal flips of a batch [B, C, H, W], on its own device.

    The standard CIFAR-10 augmentation (as used for ResNet-20), done for the whole batch at once.
    """
    b = len(x)
    shifts = torch.randint(0, 9, (2, b), generator=generator).to(x.device)
    flips = (torch.rand(b, generator=generator) < 0.5).to(x.device)
    return crop_and_flip(x, shifts[0], shifts[1], flips)


def crop_and_flip(x, dy, dx, flip):
    """Each image of x [B, C, H, W] zero-padded by 4 pixels, cropped back to H x W at offset (dy[i], dx[i])
    (4, 4 is the original position), and mirrored left to right where flip[i]."""
    b, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = torch.arange(w, device=x.device).expand(b, w)
    cols = torch.where(flip[:, None], cols.flip(1), cols) + dx[:, None]
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    channel = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, channel, rows, cols[:, None, None, :]]
