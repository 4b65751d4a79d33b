"""The claims the lessons teach, stated so that they can be counted.

Each lesson ends with a check cell that states its claims with `claim(condition, name)`. In a lesson (and
in CI) a false claim stops the run with an AssertionError naming it. When $LTKIT_CLAIMS names a file, a
claim is recorded there instead (one JSON line: name, passed, detail) and the lesson goes on: this is how
benchmarks/claims.py replays every lesson on seeds that no recipe was tuned on and counts, per claim,
on how many of them it held. `observe` records, and never raises, what a lesson reports without
asserting it (it held too rarely to be a claim). `percent`, `points` and `corner_connections` are what
several lessons' checks measure and write the same way.
"""

import json
import os

import torch


def claim(condition, name, detail=""):
    """Assert `condition`, the claim called `name` (a sentence a student can read); `detail` says what was
    measured. Recorded instead of raised when $LTKIT_CLAIMS is set."""
    passed = write_down(condition, name, detail, asserted=True)
    if not passed and not os.environ.get("LTKIT_CLAIMS"):
        raise AssertionError(f"not seen in this run: {name}" + (f" ({detail})" if detail else "") + NOT_SEEN)
    return passed


# A false claim is either a broken lesson or the rare seed where it does not show: a claim is asserted when
# it held on at least 90% of the seeds it was checked on, and another machine, device or torch version
# trains another sample of floating-point rounding.
NOT_SEEN = (
    ". Each claim was checked on held-out seeds (README, 'Measures, matching, and how the claims are checked'), "
    "but one run on another machine or torch version can miss: set another SEED in the first cell and run again."
)


def observe(condition, name, detail=""):
    """A statement a lesson reports but does not assert, because it held on fewer than 90% of the seeds it
    was checked on: never raised, only recorded (under $LTKIT_CLAIMS) so that its rate can be reported."""
    return write_down(condition, name, detail, asserted=False)


def write_down(condition, name, detail, asserted):
    passed = bool(condition)
    record_to = os.environ.get("LTKIT_CLAIMS")
    if record_to:
        with open(record_to, "a") as f:
            f.write(json.dumps(dict(name=name, passed=passed, detail=detail, asserted=asserted)) + "\n")
    return passed


def percent(fraction):
    """An accuracy as a claim's detail writes it: 0.912 -> '91.2%'."""
    return f"{100 * fraction:.1f}%"


def points(fraction):
    """A gap or a barrier (a difference of accuracies or errors) in percentage points: 0.034 -> '3.4 points'."""
    return f"{100 * fraction:.1f} points"


def corner_connections(first_layer_mask, image_shape, size=5):
    """The mean number of surviving connections per input pixel in the four `size` x `size` corners of the
    image, and over every pixel: pruning by magnitude cuts the corners, where the images are blank."""
    counts = first_layer_mask.float().sum(dim=0).view(*image_shape)
    corners = torch.cat([counts[:size, :size], counts[:size, -size:], counts[-size:, :size], counts[-size:, -size:]])
    return corners.mean().item(), counts.mean().item()
