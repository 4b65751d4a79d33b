"""Every seed an experiment draws besides its own, from one function.

An experiment's seed (0, 1, 2, ...: the lessons use 10 on, benchmarks/claims.py 100 on) initialises its
network and orders its data. The other random choices it makes (a control's fresh weights, a random mask,
the data orders of two copies, independently trained networks) each take a seed of their own, from a
range of their own, so that no two choices share a stream and no experiment seed's choices repeat
another's: purpose p of experiment seed s, number i, is BASE[p] + STRIDE[p] * s + i.
"""

from ltkit.errors import LtkitError

SEED_RANGES = {  # purpose: (base, stride per experiment seed); an index adds to both
    "reinit": (1, 1),  # IMP's re-initialised control at round r: index 1000 r
    "random_mask": (0, 1000),  # IMP's random-pruning control at round r: index r
    "copies": (0, 1000),  # the data orders of instability's copies: index 2 pair + copy (1 or 2)
    "independent": (20_000, 2),  # two networks from different initialisations: index 0 and 1
    "ensemble": (10_000, 1),  # FGE's independently trained members (s = members x the experiment seed)
    "check": (7_000_000, 10_000),  # pruning at initialisation's checks: index 100 method + round
    "curve_times": (1, 1),  # the t ~ U(0, 1) of each step of a curve's training (its batches use the seed)
    "task_head": (40_000, 1),  # a new head on a pre-trained network, for a task of its own
    "random_init": (50_000, 1),  # a task's network from scratch, beside the pre-trained one
    "pretraining_imp": (60_000, 1),  # the batches of IMP on the pre-training text (not pre-training's own)
}


def derived_seed(purpose, seed, index=0):
    """The seed of `purpose` (one of SEED_RANGES) for experiment seed `seed`, number `index`."""
    if purpose not in SEED_RANGES:
        raise LtkitError(f"no seeds are drawn for {purpose!r}; the purposes are: {', '.join(SEED_RANGES)}")
    base, stride = SEED_RANGES[purpose]
    return base + stride * seed + index
