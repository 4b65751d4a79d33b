"""Replay every claim the lessons assert, on seeds of your choice, and count on how many each one held.

    python benchmarks/claims.py --profile ci --seeds 200,205,210 [--lessons 03,05] [--json FILE]

Each seed S runs every lesson (headless, as `make run` does, progress bars on) with SEED = S; a lesson
that averages over n seeds uses S, S+1, ..., S+n-1 (n: the profile's seed count, and 5 for the dense
baseline of "matching"), so give seeds at least that far apart. Seeds run one after another, each through
every lesson, so that an interrupted benchmark has checked every claim on the seeds it finished. The
lessons' `claim(...)` calls are recorded instead of raised. The result, per claim: on how many runs it
held. Seeds the recipes were calibrated on (ltkit.experiments.profiles.CALIBRATION_SEEDS) are refused: a claim
checked on the seeds it was tuned on says nothing. Finished (lesson, seed) runs are kept under --output
and not rerun.
"""

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

from ltkit.course.runner import CELL_TIMEOUT, execute_lesson, lessons
from ltkit.experiments.profiles import CALIBRATION_SEEDS, PROFILES, sizes
from ltkit.experiments.stats import MATCHING_SEEDS


def seed_list(text):
    return [int(seed) for seed in text.split(",")]


def seeds_per_lesson(profile):
    """How many consecutive seeds one lesson uses from its SEED: the IMP sweeps' count, or the five dense
    networks that define matching (ltkit.matching), whichever is more."""
    return max(sizes(profile, "imp")["seeds"], MATCHING_SEEDS)


def check_seeds(seeds, profile, calibrating=False):
    """Each seed's block S..S+n-1 must miss the calibration seeds (unless calibrating) and every other block.
    Returns the problem in words, or None."""
    n = seeds_per_lesson(profile)
    used = [s + i for s in seeds for i in range(n)]
    calibration = sorted(set(used) & set(CALIBRATION_SEEDS))
    if calibration and not calibrating:
        return f"seeds {calibration} were used to calibrate the recipes; use seeds from 100 on"
    if len(set(used)) < len(used):
        return f"in the {profile} profile a lesson uses {n} seeds from each SEED; space the seeds {n} apart"
    return None


def replay(path, seed, profile, output):
    """Run one lesson with SEED = seed, recording its claims; returns the recorded claims (cached)."""
    record = output / f"{path.stem}-seed{seed}.jsonl"
    done = record.with_suffix(".done")
    if not done.exists():
        record.unlink(missing_ok=True)
        os.environ.update(LTKIT_CLAIMS=str(record), LTKIT_PROFILE=profile)  # progress bars on, as for a student
        try:
            execute_lesson(path, output / f"seed{seed}", timeout=CELL_TIMEOUT[profile], parameters={"SEED": seed})
        except Exception as error:  # a lesson that stops is a claim that failed: "it runs"
            with open(record, "a") as f:
                detail = f"{type(error).__name__}: {str(error)[-300:]}"
                f.write(json.dumps(dict(name="the lesson runs to the end", passed=False, detail=detail)) + "\n")
        finally:
            os.environ.pop("LTKIT_CLAIMS")
        done.touch()
    return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=PROFILES, required=True)
    parser.add_argument("--seeds", type=seed_list, required=True, help="comma-separated, e.g. 200,205,210")
    parser.add_argument("--lessons", type=lambda text: text.split(","), default=(), help="e.g. 03,05 (default: all)")
    parser.add_argument("--output", type=Path, default=Path("build/claims"))
    parser.add_argument("--json", type=Path, metavar="FILE")
    parser.add_argument(
        "--calibration", action="store_true", help="allow seeds 0-9, to tune a recipe (its rates are no evidence)"
    )
    args = parser.parse_args()
    problem = check_seeds(args.seeds, args.profile, args.calibration)
    if problem:
        sys.exit(f"claims: {problem}")
    paths = [p for p in lessons() if not args.lessons or p.name[:2] in args.lessons]
    output = (args.output / args.profile).resolve()  # the lessons' kernels run in notebooks/
    output.mkdir(parents=True, exist_ok=True)
    counts = defaultdict(lambda: [0, 0, True])
    for seed in args.seeds:
        for path in paths:
            for record in replay(path, seed, args.profile, output):
                tally = counts[(path.stem[:2], record["name"])]
                tally[0] += record["passed"]
                tally[1] += 1
                tally[2] = record.get("asserted", True)
                if not record["passed"]:
                    print(f"  {path.stem} seed {seed}: FAILED {record['name']} ({record.get('detail', '')})")
            print(f"{path.stem} seed {seed}: done", flush=True)
    claims = [
        dict(name=name, lesson=lesson, passed=p, total=t, asserted=asserted)
        for (lesson, name), (p, t, asserted) in counts.items()
    ]
    print(f"\nClaims in the {args.profile} profile on seeds {args.seeds} (observed: reported, not asserted):")
    for row in claims:
        kind = "" if row["asserted"] else "  (observed)"
        print(f"  {row['lesson']}  {row['passed']:>3}/{row['total']:<3}  {row['name']}{kind}")
    if args.json:
        args.json.write_text(json.dumps(dict(profile=args.profile, seeds=args.seeds, claims=claims), indent=2))


if __name__ == "__main__":
    main()
