"""Your own network on your own data: registered by name, then taken by every experiment as the built-in ones."""

import pytest
import torch
from torch import nn

import ltkit
from ltkit.engine.datasets import REGISTERED_DATASETS, training_set_size
from ltkit.engine.masks import layer_kinds
from ltkit.engine.models import REGISTERED_MODELS, build_model
from ltkit.errors import LtkitError
from ltkit.experiments.profiles import REGISTERED_RATES
from ltkit.experiments.registry import Context

TINY = ltkit.TrainConfig(optimizer="adam", lr=1e-2, batch_size=16, iterations=20, eval_every=10)


class SmallConvNet(nn.Module):
    """One 3x3 convolution, 2x2 max-pooling, then two linear layers."""

    def __init__(self, input_shape, num_classes, channels=4):
        super().__init__()
        self.conv = nn.Conv2d(input_shape[0], channels, 3, padding=1)
        self.hidden = nn.Linear(channels * (input_shape[1] // 2) * (input_shape[2] // 2), 16)
        self.out = nn.Linear(16, num_classes)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv(x)), 2).flatten(1)
        return self.out(torch.relu(self.hidden(x)))


def quadrant_images(seed=0, n_train=200, n_test=80):
    """(x_train, y_train, x_test, y_test): noisy 1x8x8 images of 4 classes, each brightening its own quadrant."""
    generator = torch.Generator().manual_seed(seed)

    def sample(n):
        y = torch.randint(0, 4, (n,), generator=generator)
        x = torch.randn(n, 1, 8, 8, generator=generator) / 2
        for i, label in enumerate(y.tolist()):
            row, column = divmod(label, 2)
            x[i, 0, 4 * row : 4 * row + 4, 4 * column : 4 * column + 4] += 2
        return x, y

    return (*sample(n_train), *sample(n_test))


@pytest.fixture(autouse=True)
def forget_registrations():
    """Registrations are global: whatever a test registers is forgotten after it."""
    before = [(registry, dict(registry)) for registry in (REGISTERED_DATASETS, REGISTERED_MODELS)]
    yield
    for registry, kept in before:
        registry.clear()
        registry.update(kept)


@pytest.fixture
def my_data(data_root):
    """my-data loaded, once registered (the quadrant images), and my-net registered (SmallConvNet, no recipe)."""
    tensors = quadrant_images()
    ltkit.register_dataset("my-data", lambda: ltkit.Splits.from_tensors(*tensors), about="quadrants")
    ltkit.register_model("my-net", SmallConvNet)
    return ltkit.load_dataset("my-data")


def test_a_registered_dataset_loads_by_name(my_data):
    assert my_data.name == "my-data" and my_data.input_shape == (1, 8, 8) and my_data.num_classes == 4
    assert (len(my_data.y_train), len(my_data.y_val), len(my_data.y_test)) == (180, 20, 80)
    assert training_set_size("my-data") == 180
    assert "my-data" in [row["name"] for row in ltkit.available_datasets()]


def test_imp_with_both_controls_runs_and_caches(my_data, data_root, count_training):
    config = ltkit.imp_config("my-data", "my-net", "ci", train=TINY, rounds=2)
    assert config.rates == REGISTERED_RATES and config.scope == "layerwise"
    result = ltkit.run_imp(config, data=my_data)
    assert [row.round for row in result.table()] == [0, 1, 2]
    last = result.table()[-1]
    assert None not in (last.ticket_final_test_acc, last.reinit_final_test_acc, last.random_mask_final_test_acc)
    assert 0.6 < last.weights_remaining < 0.75  # two rounds of 10% (conv, output) and 20% (fc)
    trained = len(count_training)
    assert trained == 1 + 2 * 3  # the dense network, then three arms a round
    assert sorted(folder.name.split("-")[0] for folder in (data_root / "runs").iterdir()) == ["dense", "imp"]
    ltkit.run_imp(config, data=my_data)
    assert len(count_training) == trained  # all of it from the cache


def test_every_linear_and_conv_weight_is_pruned_by_kind(my_data):
    kinds = layer_kinds(build_model("my-net", my_data.input_shape, my_data.num_classes))
    assert kinds == {"conv.weight": "conv", "hidden.weight": "fc", "out.weight": "output"}


def test_a_model_without_a_recipe_needs_training_settings_and_one_with_a_recipe_keeps_it(my_data):
    with pytest.raises(LtkitError, match="registered without a recipe.*train=ltkit.TrainConfig") as caught:
        ltkit.imp_config("my-data", "my-net", "ci")
    assert "\n" not in str(caught.value)
    ltkit.register_model("my-net-with-recipe", SmallConvNet, recipe=TINY, rates=0.3)
    for profile in ("ci", "class", "paper"):
        assert ltkit.imp_config("my-data", "my-net-with-recipe", profile).train == TINY
    assert ltkit.imp_config("my-data", "my-net-with-recipe", "ci").rates == 0.3
    assert ltkit.imp_config("my-data", "my-net-with-recipe", "ci", rates=0.5).rates == 0.5


def imp_folder(model="my-net"):
    """Where IMP's run of `model` on my-data, as registered now, is cached."""
    config = ltkit.imp_config("my-data", model, "ci", train=TINY, rounds=2)
    return Context(ltkit.load_dataset("my-data")).run("imp", config).path


def test_a_changed_network_or_dataset_under_the_same_name_gets_another_cache_folder(my_data):
    first = imp_folder()
    assert imp_folder() == first
    ltkit.unregister_model("my-net")
    ltkit.register_model("my-net", lambda shape, classes: SmallConvNet(shape, classes, channels=8))
    wider = imp_folder()
    ltkit.unregister_model("my-net")
    ltkit.register_model("my-net", SmallConvNet)
    assert imp_folder() == first and wider != first
    ltkit.unregister_dataset("my-data")
    other_images = quadrant_images(seed=1)
    ltkit.register_dataset("my-data", lambda: ltkit.Splits.from_tensors(*other_images))
    assert imp_folder() not in (first, wider)


def test_the_built_in_models_cache_keys_hold_no_architecture(my_data):
    config = ltkit.imp_config("my-data", "mlp", "ci", rounds=2)
    assert "architecture" not in Context(my_data).run("imp", config).config
    assert "architecture" in Context(my_data).run("imp", ltkit.imp_config("my-data", "my-net", train=TINY)).config


def test_instability_at_k0_of_the_dense_network_and_the_ticket(my_data):
    config = ltkit.instability_config(
        "my-data",
        "my-net",
        train=TINY,
        rewind_iters=(0,),
        weights_remaining=0.5,
        pairs=1,
        arms=("dense", "ticket"),
        points=5,
        train_examples=100,
    )
    rows = ltkit.run_instability(config, data=my_data).table()
    assert [(row.k, row.arm) for row in rows] == [(0, "dense"), (0, "ticket")]
    assert rows[0].weights_remaining == 1.0 and rows[1].weights_remaining < 0.55
    assert all(-1 <= row.barrier <= 1 for row in rows)


def batchnorm_first(shape, classes):
    return nn.Sequential(nn.BatchNorm2d(shape[0]), SmallConvNet(shape, classes))


def test_a_registered_network_is_seeded_and_its_probe_leaves_batchnorm_alone(my_data):
    ltkit.register_model("normed", batchnorm_first)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build_model("normed", (1, 8, 8), 4, seed=7)
    after = torch.rand(1)
    b = build_model("normed", (1, 8, 8), 4, seed=7)
    assert torch.equal(before, after)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert a.training and int(a[0].num_batches_tracked) == 0 and torch.equal(a[0].running_mean, torch.zeros(1))


def chain_of_linear_layers(shape, classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, classes))


def test_a_chain_of_linear_layers_is_aligned(my_data):
    ltkit.register_model("my-mlp", chain_of_linear_layers, recipe=TINY)
    result = ltkit.run_alignment(ltkit.align_config("my-data", "my-mlp", points=3, train_examples=100), data=my_data)
    assert len(result.table()) == 3  # one row per point of the line


def register_broken_dataset(load):
    ltkit.register_dataset("broken", load)
    return ltkit.load_dataset("broken")


def register_broken_model(build, shape=(1, 8, 8)):
    ltkit.register_model("broken", build)
    return build_model("broken", shape, 4)


x_train, y_train, x_test, y_test = quadrant_images(n_train=20, n_test=10)
BAD_REGISTRATIONS = {
    "a built-in dataset's name": (
        lambda: ltkit.register_dataset("mnist1d", quadrant_images),
        "dataset name 'mnist1d' is taken \\(a built-in dataset\\); choose another",
    ),
    "a registered dataset's name": (
        lambda: ltkit.register_dataset("my-data", quadrant_images),
        "dataset name 'my-data' is taken \\(registered already\\).*unregister_dataset\\('my-data'\\)",
    ),
    "a built-in model's name": (
        lambda: ltkit.register_model("conv2", SmallConvNet),
        "model name 'conv2' is taken \\(a built-in model\\)",
    ),
    "a registered model's name": (
        lambda: ltkit.register_model("my-net", SmallConvNet),
        "model name 'my-net' is taken \\(registered already\\)",
    ),
    "a build that raises": (
        lambda: register_broken_model(lambda shape, classes: 1 / 0),
        "build of model 'broken' failed for inputs of shape \\(1, 8, 8\\) and 4 classes: ZeroDivisionError",
    ),
    "a build that returns no network": (
        lambda: register_broken_model(lambda shape, classes: "a network"),
        "build of model 'broken' returned a str; return an nn.Module",
    ),
    "a network with nothing to prune": (
        lambda: register_broken_model(lambda shape, classes: nn.Sequential(nn.Flatten(), nn.ReLU())),
        "model 'broken' has no Linear layer.*end the network with an nn.Linear",
    ),
    "inputs the network cannot read": (
        lambda: register_broken_model(lambda shape, classes: SmallConvNet((1, 8, 8), classes), shape=(40,)),
        "model 'broken' cannot read inputs of shape \\(40,\\): RuntimeError",
    ),
    "a network that gives no class scores": (
        lambda: register_broken_model(lambda shape, classes: nn.Sequential(nn.Flatten(), nn.Linear(64, 3))),
        "maps a batch of 2 inputs to \\(2, 3\\); it must give class scores of shape \\(2, 4\\)",
    ),
    "a recipe that is no TrainConfig": (
        lambda: ltkit.register_model("broken", SmallConvNet, recipe=dict(lr=0.1)),
        "recipe must be an ltkit.TrainConfig",
    ),
    "pruning rates that are no fractions": (
        lambda: ltkit.register_model("broken", SmallConvNet, rates=dict(conv=2)),
        "pruning rate for conv layers must be a fraction",
    ),
    "more examples than labels": (
        lambda: ltkit.Splits.from_tensors(x_train, y_train[:-1], x_test, y_test),
        "x_train has 20 examples but y_train 19 labels; give one label per example",
    ),
    "labels outside the classes": (
        lambda: ltkit.Splits.from_tensors(x_train, y_train, x_test, y_test, num_classes=3),
        "labels must be class indices 0..2 \\(num_classes=3\\).*pass num_classes=4",
    ),
    "negative labels": (
        lambda: ltkit.Splits.from_tensors(x_train, y_train - 1, x_test, y_test),
        "labels must be class indices 0..3.*run from -1",
    ),
    "labels that are not class indices": (
        lambda: ltkit.Splits.from_tensors(x_train, y_train.float(), x_test, y_test),
        "y_train must hold one integer class index per example.*y_train.long\\(\\)",
    ),
    "non-finite inputs": (
        lambda: ltkit.Splits.from_tensors(x_train, y_train, x_test / (x_test > 0), y_test),
        "x_test holds NaN or infinite values",
    ),
    "a load that returns no Splits": (
        lambda: register_broken_dataset(quadrant_images),
        "load\\(\\) of dataset 'broken' returned a tuple, not Splits; return ltkit.Splits.from_tensors",
    ),
    "a load that raises": (
        lambda: register_broken_dataset(lambda: open("/nowhere/my-data.pt")),
        "load\\(\\) of dataset 'broken' failed: FileNotFoundError",
    ),
}


@pytest.mark.parametrize("problem", BAD_REGISTRATIONS)
def test_each_bad_registration_is_refused_in_one_line_that_says_what_to_do(my_data, problem):
    call, message = BAD_REGISTRATIONS[problem]
    with pytest.raises(LtkitError, match=message) as caught:
        call()
    assert "\n" not in str(caught.value)


PLUGIN = '''
"""A user's plugin: a small convolutional network and its data, registered on import."""

import torch
from torch import nn

import ltkit


class TinyConv(nn.Module):
    def __init__(self, input_shape, num_classes):
        super().__init__()
        self.conv = nn.Conv2d(input_shape[0], 4, 3, padding=1)
        self.out = nn.Linear(4 * input_shape[1] * input_shape[2], num_classes)

    def forward(self, x):
        return self.out(torch.relu(self.conv(x)).flatten(1))


def load():
    generator = torch.Generator().manual_seed(0)
    x, xt = torch.randn(120, 1, 6, 6, generator=generator), torch.randn(40, 1, 6, 6, generator=generator)
    label = lambda images: (images[:, 0, :3].mean((1, 2)) > images[:, 0, 3:].mean((1, 2))).long()
    return ltkit.Splits.from_tensors(x, label(x), xt, label(xt))


ltkit.register_dataset("plugin-data", load, about="which half of the image is brighter")
ltkit.register_model("plugin-net", TinyConv, recipe=ltkit.TrainConfig(batch_size=20, iterations=20, eval_every=10))
'''


def test_the_command_line_loads_a_plugins_network_and_data(tmp_path, run_ltkit):
    plugin = tmp_path / "my_plugin.py"
    plugin.write_text(PLUGIN)
    common = ["--plugin", str(plugin), "--dataset", "plugin-data", "--model", "plugin-net", "--profile", "ci"]
    listed = run_ltkit("--plugin", str(plugin), "imp", "--help")
    assert listed.returncode == 0 and "plugin-data" in listed.stdout and "plugin-net" in listed.stdout
    imp = run_ltkit(*common[:2], "imp", *common[2:], "--rounds", "1", "--json", str(tmp_path / "imp.json"))
    assert imp.returncode == 0, imp.stderr
    rounds = __import__("json").loads((tmp_path / "imp.json").read_text())["rounds"]
    assert [entry["round"] for entry in rounds] == [0, 1] and rounds[1]["reinit"] and rounds[1]["random_mask"]
    stable = run_ltkit(*common[:2], "instability", *common[2:], "--rewind-iters", "0", "--weights-remaining", "0.9")
    assert stable.returncode == 0, stable.stderr
    assert "barrier" in stable.stdout and "ticket" in stable.stdout
    wrong = run_ltkit(*common[:2], "imp", "--dataset", "plugin-data", "--model", "no-such-net")
    assert wrong.returncode == 2 and len(wrong.stderr.strip().splitlines()) == 1
