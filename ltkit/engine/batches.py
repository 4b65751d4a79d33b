"""Mini-batches drawn from tensors held in memory, and the CIFAR-10 augmentation done a batch at a time."""

import torch

from ltkit.errors import LtkitError


def batch_indices(n, batch_size, generator, device="cpu"):
    """Index tensors of shuffled mini-batches on `device`, forever: one fresh permutation per epoch (drawn
    by the CPU `generator` and copied once per epoch: a copy per batch would make a GPU wait every step)."""
    for idx in stacked_batch_indices(n, batch_size, [generator], device):
        yield idx[0]


def stacked_batch_indices(n, batch_size, generators, device="cpu"):
    """The mini-batches of several networks at once, [N, B] a step: row i is what batch_indices gives for
    generators[i]. Each epoch's permutations are stacked and copied once, and a step's batch is a view of
    them, so that a stack's step costs one slice, not one per network."""
    if batch_size > n:
        raise LtkitError(f"batch size {batch_size} is larger than the {n} training examples; lower it")
    while True:
        orders = torch.stack([torch.randperm(n, generator=generator) for generator in generators]).to(device)
        for start in range(0, n - batch_size + 1, batch_size):
            yield orders[:, start : start + batch_size]


def augment_images(x, generator):
    """Random 4-pixel-padded crops and horizontal flips of a batch [B, C, H, W], on its own device.

    The standard CIFAR-10 augmentation (as used for ResNet-20), done for the whole batch at once.
    """
    dy, dx, flip = augmentation_draws(len(x), generator).to(x.device)
    return crop_and_flip(x, dy, dx, flip.bool())


def augmentation_draws(b, generator):
    """A batch's random crop offsets and flips, [3, B] (dy, dx, flip as 0 or 1), drawn by the CPU
    `generator`: the same draws on every device, so a run's batches do not depend on where it trains."""
    shifts = torch.randint(0, 9, (2, b), generator=generator)
    flips = (torch.rand(b, generator=generator) < 0.5).long()
    return torch.cat([shifts, flips[None]])


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
