"""The networks of the papers, built by name, with the papers' initialisations.

- `mlp`: 40-100-100-10 for MNIST-1D, the CPU-sized stand-in for LeNet.
- `lenet300_100`: fully connected 300-100-10 (Frankle & Carbin, MNIST).
- `conv2`, `conv4`, `conv6`: VGG-like 3x3 convolutions in pairs, each pair followed by 2x2 max-pooling,
  then fully connected 256-256-10 (Frankle & Carbin, CIFAR-10).
- `resnet20`: the CIFAR ResNet of He et al. with 16/32/64 channels (Frankle et al. 2020).
- `cnn1d`: three 1-D convolutions of 25 channels with BatchNorm, then one linear layer, for MNIST-1D
  (the shape of the MNIST-1D paper's small CNN): this kit's CPU-sized network for late rewinding.
- `transformer`: a small decoder-only transformer (ltkit.engine.transformer) reading characters (charlm), with
  GPT-2's initialisation; `window_classifier`: the same network with one guess per window (textkinds).
The fully connected and VGG-like networks start from Glorot (Xavier) normal weights, as in Frankle &
Carbin; the residual and 1-D convolutional networks from He (Kaiming) normal weights. Biases start at zero.

Your own network joins them by name: `register_model(name, build)`, where build(input_shape, num_classes)
returns an nn.Module. Every experiment then takes the name as it takes "conv2".
"""

import hashlib
import inspect
import math
import threading
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import nn

from ltkit.engine.charlm import VOCABULARY
from ltkit.engine.datasets import (
    check_dataset_name,
    check_known,
    check_new_name,
    forget,
    is_text,
    labels_windows,
    one_line,
)
from ltkit.engine.masks import check_pruning
from ltkit.engine.training import TrainConfig
from ltkit.engine.transformer import Transformer, WindowClassifier
from ltkit.errors import LtkitError


class MLP(nn.Module):
    def __init__(self, input_shape, hidden, num_classes):
        super().__init__()
        widths = [math.prod(input_shape), *hidden]
        layers = [nn.Flatten()]
        for width_in, width_out in zip(widths, widths[1:]):
            layers += [nn.Linear(width_in, width_out), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], num_classes))
        self.layers = nn.Sequential(*layers)
        glorot_init(self)

    def forward(self, x):
        return self.layers(x)


class ConvNet(nn.Module):
    """Conv-2/4/6: pairs of 3x3 convolutions, 2x2 max-pooling after each pair, then 256-256-classes."""

    def __init__(self, input_shape, conv_widths, num_classes, fc_widths=(256, 256)):
        super().__init__()
        channels, height, width = input_shape
        layers = []
        for i, out_channels in enumerate(conv_widths):
            layers += [nn.Conv2d(channels, out_channels, 3, padding=1), nn.ReLU()]
            channels = out_channels
            if i % 2 == 1:
                layers.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
        self.features = nn.Sequential(*layers)
        self.classifier = MLP((channels, height, width), fc_widths, num_classes)
        glorot_init(self)

    def forward(self, x):
        return self.classifier(self.features(x))


class ResidualBlock(nn.Module):
    def __init__(self, channels_in, channels_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels_out)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or channels_in != channels_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(channels_in, channels_out, 1, stride=stride, bias=False), nn.BatchNorm2d(channels_out)
            )

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR ResNet-(6n+2): three stages of n blocks with 16, 32 and 64 channels."""

    def __init__(self, input_shape, blocks_per_stage, num_classes, widths=(16, 32, 64)):
        super().__init__()
        self.conv = nn.Conv2d(input_shape[0], widths[0], 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(widths[0])
        blocks, channels = [], widths[0]
        for stage, width in enumerate(widths):
            for i in range(blocks_per_stage):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(ResidualBlock(channels, width, stride))
                channels = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(channels, num_classes)
        he_init(self)

    def forward(self, x):
        out = torch.relu(self.bn(self.conv(x)))
        out = self.blocks(out)
        return self.fc(out.mean(dim=(2, 3)))


class CNN1D(nn.Module):
    """Convolutions of kernel 5, 3, 3, each with stride 2, BatchNorm and ReLU, then a linear classifier."""

    def __init__(self, input_shape, num_classes, width=25):
        super().__init__()
        length, channels, layers = input_shape[-1], 1, []
        for kernel in (5, 3, 3):
            layers += [nn.Conv1d(channels, width, kernel, stride=2, padding=1, bias=False), nn.BatchNorm1d(width)]
            layers.append(nn.ReLU())
            channels, length = width, (length + 2 - kernel) // 2 + 1
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(width * length, num_classes)
        he_init(self)

    def forward(self, x):
        return self.fc(self.features(x.view(len(x), 1, -1)).flatten(1))


def he_init(model):
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def glorot_init(model):
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_normal_(module.weight)
            nn.init.zeros_(module.bias)


def check_inputs(name, inputs, input_shape):
    """Refuse data a network cannot read: images for the convolutional networks, 1-D signals for cnn1d,
    windows of characters for the transformer."""
    if inputs == "images" and len(input_shape) != 3:
        raise LtkitError(
            f"model {name!r} needs image inputs (channels, height, width) but the data has shape "
            f"{tuple(input_shape)}; use 'mlp', 'lenet300_100' or 'cnn1d' for 1-D data"
        )
    if inputs == "signals" and len(input_shape) != 1:
        raise LtkitError(
            f"model {name!r} needs 1-D signals (MNIST-1D) but the data has shape {tuple(input_shape)}; "
            f"use 'mlp', 'lenet300_100' or a convolutional network for images"
        )
    if inputs == "characters" and len(input_shape) != 1:
        raise LtkitError(
            f"model {name!r} reads windows of characters (the charlm dataset) but the data has shape "
            f"{tuple(input_shape)}; use it with load_dataset('charlm')"
        )


def build_mlp(input_shape, num_classes):
    return MLP(input_shape, (100, 100), num_classes)


def build_lenet(input_shape, num_classes):
    return MLP(input_shape, (300, 100), num_classes)


def build_conv(conv_widths):
    def build(input_shape, num_classes):
        return ConvNet(input_shape, conv_widths, num_classes)

    return build


def build_resnet20(input_shape, num_classes):
    return ResNet(input_shape, 3, num_classes)


def build_transformer(input_shape, num_classes):
    """Windows of input_shape[0] characters in, a guess at the next of num_classes characters out."""
    return Transformer(vocabulary=num_classes, context=input_shape[0])


def build_window_classifier(input_shape, num_classes):
    """Windows of input_shape[0] characters in, one of num_classes classes out (for the whole window)."""
    return WindowClassifier(vocabulary=len(VOCABULARY), context=input_shape[0], classes=num_classes)


MODELS = {
    "mlp": (build_mlp, "any", "fully connected 100-100 (MNIST-1D)"),
    "lenet300_100": (build_lenet, "any", "LeNet-300-100, fully connected 300-100 (MNIST, Fashion-MNIST)"),
    "conv2": (build_conv([64, 64]), "images", "Conv-2: 2 conv layers + 256-256 (CIFAR-10)"),
    "conv4": (build_conv([64, 64, 128, 128]), "images", "Conv-4: 4 conv layers + 256-256 (CIFAR-10)"),
    "conv6": (build_conv([64, 64, 128, 128, 256, 256]), "images", "Conv-6: 6 conv layers + 256-256 (CIFAR-10)"),
    "resnet20": (build_resnet20, "images", "ResNet-20 with BatchNorm (CIFAR-10)"),
    "cnn1d": (CNN1D, "signals", "1-D CNN, 3 convolutions of 25 channels with BatchNorm (MNIST-1D)"),
    "transformer": (build_transformer, "characters", "decoder-only transformer, 2 layers of width 32 (charlm)"),
    "window_classifier": (
        build_window_classifier,
        "characters",
        "the transformer with one guess per window, read at its last character (textkinds)",
    ),
}


@dataclass(frozen=True)
class UserModel:
    """A network registered by register_model."""

    build: object  # build(input_shape, num_classes) -> nn.Module
    recipe: TrainConfig = None  # how it trains, in every profile; None: each experiment is given train=
    rates: object = None  # pruning rates per round (a fraction, or {kind: fraction}); None: the kit's default
    about: str = ""
    probed: set = field(default_factory=set, repr=False)  # the (input_shape, num_classes) it was checked for


REGISTERED_MODELS = {}  # name: UserModel, in the order they were registered


def register_model(name, build, recipe=None, rates=None, about=""):
    """Make your own network a model the kit knows by `name`. build(input_shape, num_classes) returns an
    nn.Module that maps a batch of inputs to [batch, num_classes] scores. Its Linear and Conv weights are
    pruned by kind (engine.masks: conv, fc, and the last Linear layer, "output") at `rates` (default: those
    of Frankle & Carbin's Conv networks, conv 10%, fc 20%, output 10% a round, layerwise), which a
    config's rates override. `recipe`, a TrainConfig, is how it trains in every profile; without one, each
    experiment's config is given train=ltkit.TrainConfig(...).

        ltkit.register_model("my-net", MyNet, recipe=ltkit.TrainConfig(lr=1e-3, batch_size=32, iterations=500))
    """
    check_new_name("model", name, MODELS, REGISTERED_MODELS)
    if not callable(build):
        raise LtkitError(f"build must be a function of (input_shape, num_classes); got a {type(build).__name__}")
    if recipe is not None and not isinstance(recipe, TrainConfig):
        raise LtkitError(f"recipe must be an ltkit.TrainConfig; got {type(recipe).__name__}")
    if rates is not None:
        check_pruning(rates, "layerwise")
    REGISTERED_MODELS[name] = UserModel(build, recipe, rates, about)


def unregister_model(name):
    """Forget a network registered by register_model (to register a changed one under its name, say)."""
    forget("model", name, REGISTERED_MODELS)


def build_registered(name, input_shape, num_classes):
    """A registered network, refused with the fix where the kit could not train or prune it (checked on
    the first network built for an input shape)."""
    user = REGISTERED_MODELS[name]
    try:
        model = user.build(input_shape, num_classes)
    except Exception as error:
        raise LtkitError(
            f"the build of model {name!r} failed for inputs of shape {input_shape} and {num_classes} classes: "
            f"{one_line(error)}; fix build, which is called as build(input_shape, num_classes)"
        ) from error
    if not isinstance(model, nn.Module):
        raise LtkitError(f"the build of model {name!r} returned a {type(model).__name__}; return an nn.Module")
    if (input_shape, num_classes) not in user.probed:
        probe(name, model, input_shape, num_classes)
        user.probed.add((input_shape, num_classes))
    return model


def probe(name, model, input_shape, num_classes):
    """Refuse a network that has nothing to prune, or cannot read the data's inputs, or gives no class scores
    for them (a probe batch of zeros, read in evaluation mode so that no BatchNorm statistic moves)."""
    if not any(isinstance(module, nn.Linear) for module in model.modules()):
        raise LtkitError(
            f"model {name!r} has no Linear layer: the kit prunes Linear and Conv weights and reads the last "
            f"Linear layer's outputs as the class scores; end the network with an nn.Linear"
        )
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            scores = model(torch.zeros(2, *input_shape))
    except Exception as error:
        raise LtkitError(f"model {name!r} cannot read inputs of shape {input_shape}: {one_line(error)}") from error
    finally:
        model.train(was_training)
    if not isinstance(scores, torch.Tensor) or scores.shape != (2, num_classes):
        shape = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise LtkitError(
            f"model {name!r} maps a batch of 2 inputs to {shape}; it must give class scores of shape (2, {num_classes})"
        )


def architecture_fingerprint(model, build):
    """A short hash of a network's layers (its repr), the names, shapes and types of its weights and buffers,
    and the source of build and of its own module classes where Python can read it: a changed network under
    an old name gets another fingerprint, so the run cache never serves the old one's results."""
    parts = [repr(model), *(f"{name} {tuple(t.shape)} {t.dtype}" for name, t in model.state_dict().items())]
    own_classes = {type(module) for module in model.modules() if not type(module).__module__.startswith("torch.")}
    parts += [source_of(code) for code in (build, *sorted(own_classes, key=lambda c: c.__qualname__))]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def source_of(code):
    try:
        return inspect.getsource(code)
    except (OSError, TypeError):  # defined where Python keeps no source: its layers and weights still count
        return ""


def architecture_key(model, data):
    """What the run cache adds to a run's key for `model` on `data`: a registered network's architecture
    fingerprint, taken from a network built now (so that a class redefined since registering counts too);
    nothing for the built-in ones, whose names say what they are."""
    if model not in REGISTERED_MODELS:
        return {}
    network = build_model(model, data.input_shape, data.num_classes)
    return {"architecture": architecture_fingerprint(network, REGISTERED_MODELS[model].build)}


def model_names():
    """Every model's name: the built-in ones, then those registered."""
    return [*MODELS, *REGISTERED_MODELS]


def check_model_name(name):
    check_known("model", name, model_names())


def build_model(name, input_shape, num_classes=10, seed=0, device="cpu"):
    """A freshly initialised network; the same `seed` gives the same weights, without touching the global RNG.

    Initialisation draws from torch's one CPU generator, so it is seeded and restored under a lock: a
    network built in a background thread (the playground's) and one built in a cell at the same moment
    would otherwise each get some of the other's random numbers.
    """
    check_model_name(name)
    input_shape = tuple(input_shape)
    if name in MODELS:
        build, inputs, _ = MODELS[name]
        check_inputs(name, inputs, input_shape)
    else:
        build = partial(build_registered, name)
    with SEEDED, torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)  # the CPU generator only: CUDA's is left alone
        model = build(input_shape, num_classes)
    return model.to(device)


SEEDED = threading.Lock()


def check_network(config):
    """Refuse a config whose dataset or model does not exist, naming the ones that do."""
    check_pair(config.dataset, config.model)


def check_pair(dataset, model):
    """Refuse an unknown dataset or model, and text (charlm) for any network but the transformer, or the
    transformer for anything but text: characters are indices, not numbers to multiply."""
    check_dataset_name(dataset)
    check_model_name(model)
    text, reads_text = is_text(dataset), model in MODELS and MODELS[model][1] == "characters"
    fitting = "window_classifier" if labels_windows(dataset) else "transformer"
    if text and not reads_text:
        raise LtkitError(f"{dataset} holds characters, which only the transformers read; use --model {fitting}")
    if reads_text and not text:
        raise LtkitError(f"the {model} reads characters; use it with a text dataset ('charlm'), not {dataset}")
    if text and model != fitting:
        what = "one label per window" if fitting == "window_classifier" else "the next character at every position"
        raise LtkitError(f"{dataset} gives {what}, which the {model} does not guess; use --model {fitting}")
