import pytest
import torch

from ltkit.engine.models import MODELS, build_model
from ltkit.errors import LtkitError

SHAPES = {"mlp": (40,), "lenet300_100": (1, 28, 28), "cnn1d": (40,)}


@pytest.mark.parametrize("name", [name for name in MODELS if MODELS[name][1] != "characters"])  # test_transformer.py
def test_every_model_maps_a_batch_to_class_scores(name):
    shape = SHAPES.get(name, (3, 32, 32))
    model = build_model(name, shape)
    assert model(torch.randn(4, *shape)).shape == (4, 10)


def test_lenet_has_the_papers_266k_weights():
    model = build_model("lenet300_100", (1, 28, 28))
    weights = sum(p.numel() for n, p in model.named_parameters() if n.endswith("weight"))
    assert weights == 784 * 300 + 300 * 100 + 100 * 10


def test_conv2_matches_the_papers_layer_sizes():
    model = build_model("conv2", (3, 32, 32))
    shapes = [tuple(p.shape) for n, p in model.named_parameters() if n.endswith("weight")]
    assert shapes == [(64, 3, 3, 3), (64, 64, 3, 3), (256, 16 * 16 * 64), (256, 256), (10, 256)]


def test_cnn1d_is_three_convolutions_with_batchnorm_and_a_linear_layer_of_5285_weights_in_all():
    model = build_model("cnn1d", (40,))
    shapes = [tuple(p.shape) for n, p in model.named_parameters() if n.endswith("weight")]
    assert shapes == [(25, 1, 5), (25,), (25, 25, 3), (25,), (25, 25, 3), (25,), (10, 25 * 5)]
    assert sum(p.numel() for p in model.parameters()) == 5285


def test_a_network_refuses_inputs_it_cannot_read():
    with pytest.raises(LtkitError, match="'cnn1d' needs 1-D signals"):
        build_model("cnn1d", (1, 28, 28))
    with pytest.raises(LtkitError, match="'conv2' needs image inputs"):
        build_model("conv2", (40,))


def test_resnet20_has_about_270k_parameters():
    model = build_model("resnet20", (3, 32, 32))
    assert 260_000 < sum(p.numel() for p in model.parameters()) < 280_000


def test_the_same_seed_gives_the_same_network_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build_model("mlp", (40,), seed=7)
    after = torch.rand(1)
    b = build_model("mlp", (40,), seed=7)
    c = build_model("mlp", (40,), seed=8)
    assert torch.equal(before, after)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.layers[1].weight, c.layers[1].weight)


def test_glorot_initialisation_and_zero_biases():
    layer = build_model("lenet300_100", (1, 28, 28)).layers[1]
    expected_std = (2 / (784 + 300)) ** 0.5
    assert abs(layer.weight.std().item() - expected_std) / expected_std < 0.02
    assert torch.count_nonzero(layer.bias) == 0


def test_unknown_model_and_wrong_input_are_explained():
    with pytest.raises(LtkitError, match="unknown model 'lenet'.*lenet300_100"):
        build_model("lenet", (1, 28, 28))
    with pytest.raises(LtkitError, match="needs image inputs.*'mlp'"):
        build_model("conv4", (40,))
    with pytest.raises(LtkitError, match="unknown model 'my-net'.*register your own: ltkit.register_model"):
        build_model("my-net", (40,))


def test_networks_built_in_two_threads_at_once_get_their_own_seeds_weights():
    import threading

    expected = {seed: build_model("mlp", (40,), seed=seed).layers[1].weight.clone() for seed in (1, 2)}
    wrong = []

    def build_many(seed):
        for _ in range(100):
            if not torch.equal(build_model("mlp", (40,), seed=seed).layers[1].weight, expected[seed]):
                wrong.append(seed)

    threads = [threading.Thread(target=build_many, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
