"""The claims the lessons teach, stated so that they can be counted.

Each lesson ends with a check cell that states its claims with `claim(condition, name)`. In a lesson (and
in CI) a false claim stops the run with an AssertionError naming it. When $LTKIT_CLAIMS names a file, a
claim is recorded there instead (one JSON line: name, passed, detail) and the lesson goes on: this is how
benchmarks/claims.py replays every lesson on seeds that no recipe was tuned on and counts, per claim,
on how many of them it held. `observe` records, and never raises, what a lesson reports without
asserting it (it held too rarely to be a claim).
"""

import json
import os


def claim(condition, name, detail=""):
    """Assert `condition`, the claim called `name` (a sentence a student can read); `detail` says what was
    measured. Recorded instead of raised when $LTKIT_CLAIMS is set."""
    passed = write_down(condition, name, detail, asserted=True)
    if not passed and not os.environ.get("LTKIT_CLAIMS"):
        raise AssertionError(f"{name} ({detail})" if detail else name)
    return passed


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
