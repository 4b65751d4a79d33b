import pytest
import torch
from torch import nn

from ltkit.engine.models import build_model
from ltkit.engine.stacked import StackedNetwork
from ltkit.errors import LtkitError

VOCABULARY, CONTEXT = 96, 32


def characters(seed, batch=3):
    return torch.randint(0, VOCABULARY, (batch, CONTEXT), generator=torch.Generator().manual_seed(seed))


def transformer(seed=0):
    return build_model("transformer", (CONTEXT,), VOCABULARY, seed=seed)


def test_logits_for_every_position_and_every_character():
    model = transformer()
    assert model(characters(0)).shape == (3, CONTEXT, VOCABULARY)
    assert model(characters(0)[:, :5]).shape == (3, 5, VOCABULARY)  # shorter windows work too


def test_a_later_character_never_changes_the_logits_of_earlier_positions():
    model = transformer()
    x = characters(1)
    changed = x.clone()
    changed[:, 20] = (x[:, 20] + 1) % VOCABULARY
    before, after = model(x), model(changed)
    torch.testing.assert_close(before[:, :20], after[:, :20])
    assert not torch.allclose(before[:, 20:], after[:, 20:])  # and the change is seen from its position on


def test_two_transformers_stacked_under_vmap_give_each_ones_own_logits():
    models = [transformer(seed) for seed in (0, 1)]
    x = torch.stack([characters(2), characters(3)])
    stacked = StackedNetwork(models)(x)
    for i, model in enumerate(models):
        torch.testing.assert_close(stacked[i], model(x[i]), atol=1e-5, rtol=1e-5)
    shared = StackedNetwork(models)(x[0], shared=True)
    torch.testing.assert_close(shared[1], models[1](x[0]), atol=1e-5, rtol=1e-5)


def test_pre_layernorm_blocks_gpt2_initialisation_and_no_dropout():
    model = transformer()
    assert not any(isinstance(m, nn.Dropout) for m in model.modules())
    block = model.blocks[0]
    assert isinstance(block.norm1, nn.LayerNorm) and torch.all(block.norm1.weight == 1)
    assert block.attention.query.weight.std().item() == pytest.approx(0.02, rel=0.1)
    assert block.attention.proj.weight.std().item() == pytest.approx(0.01, rel=0.1)  # 0.02 / sqrt(2 * 2 layers)
    assert all(torch.all(p == 0) for n, p in model.named_parameters() if n.endswith("bias") and "norm" not in n)


def test_numbers_and_images_are_refused():
    with pytest.raises(LtkitError, match="reads characters"):
        transformer()(torch.randn(2, CONTEXT))
    with pytest.raises(LtkitError, match="windows of characters"):
        build_model("transformer", (1, 28, 28))
