"""A small decoder-only transformer (GPT) for character-level language modelling, after nanoGPT.

Characters [B, T] -> token embedding + position embedding -> `layers` blocks -> LayerNorm -> a linear head
-> logits [B, T, vocabulary]: at every position, a guess at the next character. (WindowClassifier: the
same network with a head of its own, read at the last position: one guess per window.)
Each block is pre-LayerNorm: x + attention(norm(x)), then x + mlp(norm(x)).

The attention is written out with matrix products and an explicit causal mask (position t may only look
at positions <= t), not with torch's fused attention: the plain form also runs under
`torch.func.vmap(functional_call)`, which trains several transformers as one stack (ltkit.engine.stacked).
There is no dropout, so a network's training depends only on its weights and its batches.

Weights start from N(0, 0.02) as in GPT-2, the projections back into the residual stream scaled down by
sqrt(2 * layers) so the stream's variance does not grow with depth; biases start at zero, LayerNorm at
scale 1. Which weights are pruned, and at which rates, is ltkit.engine.masks's business (kinds "embedding",
"attention", "mlp", "output").
"""

import math

import torch
from torch import nn

from ltkit.errors import LtkitError


class CausalSelfAttention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)
        self.proj = nn.Linear(width, width)  # the heads' outputs, mixed back into the residual stream

    def split_heads(self, h):
        """[B, T, width] -> [B, heads, T, width / heads]: each head attends with its own slice of the features."""
        b, t, width = h.shape
        return h.view(b, t, self.heads, width // self.heads).transpose(1, 2)

    def forward(self, x):
        b, t, width = x.shape
        q, k, v = self.split_heads(self.query(x)), self.split_heads(self.key(x)), self.split_heads(self.value(x))
        scores = q @ k.transpose(-2, -1) / math.sqrt(width // self.heads)  # [B, heads, T, T]: query t, key s
        future = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)  # s > t: not seen yet
        weights = scores.masked_fill(future, float("-inf")).softmax(-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, t, width))


class FeedForward(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.up = nn.Linear(width, 4 * width)
        self.down = nn.Linear(4 * width, width)

    def forward(self, x):
        return self.down(torch.nn.functional.gelu(self.up(x)))


class Block(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attention = CausalSelfAttention(width, heads)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = FeedForward(width)

    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    def __init__(self, vocabulary, context, width=32, layers=2, heads=4, outputs=None):
        super().__init__()
        self.token = nn.Embedding(vocabulary, width)
        self.position = nn.Parameter(torch.zeros(context, width))  # a plain parameter: never pruned (masks)
        self.blocks = nn.Sequential(*[Block(width, heads) for _ in range(layers)])
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, outputs or vocabulary)  # outputs: a guess among the characters by default
        gpt2_init(self, layers)

    def forward(self, characters):
        return self.head(self.features(characters))

    def features(self, characters):
        """[B, T] characters -> [B, T, width]: what the head reads at every position."""
        if characters.is_floating_point():
            raise LtkitError("the transformer reads characters (int64 indices, as charlm holds them), not numbers")
        x = self.token(characters) + self.position[: characters.shape[-1]]
        return self.norm(self.blocks(x))


class WindowClassifier(Transformer):
    """The same network with a head of its own, read at the last position only: one guess per window, among
    `classes` (what kind of text a window ends in, say). The last position is the only one that has seen the
    whole window. Every weight but the head's has the shape of the language model's, so a pre-trained
    language model's weights load into it (ltkit.experiments.pretrained)."""

    def __init__(self, vocabulary, context, classes, width=32, layers=2, heads=4):
        super().__init__(vocabulary, context, width, layers, heads, outputs=classes)

    def forward(self, characters):
        return self.head(self.features(characters)[:, -1])


def gpt2_init(model, layers):
    nn.init.normal_(model.position, std=0.02)
    for module in model.modules():
        if isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
        elif isinstance(module, nn.Linear):
            into_stream = module in [m for block in model.blocks for m in (block.attention.proj, block.mlp.down)]
            nn.init.normal_(module.weight, std=0.02 / math.sqrt(2 * layers) if into_stream else 0.02)
            nn.init.zeros_(module.bias)
