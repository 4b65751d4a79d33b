"""Replay every claim the lessons assert, on seeds of your choice, and count on how many each one held.

    python benchmarks/claims.py --profile ci --seeds 200,205,210 [--lessons 03,05] [--json FILE]

Each seed S runs every lesson (headless, as `make run` does, progress bars on) with SEED = S; a lesson
that averages over n seeds uses S, S+1, ..., S+n-1 (n: the profile's seed count, and 5 for the dense
baseline of "matching"), so give seeds at least that far apart. Seeds run one after another, each through
every lesson, so that an interrupted benchmark has checked every claim on the seeds it finished. The
lessons' `claim(...)` calls are recorded instead of raised. The result, per claim: on how many runs it
held. Seeds the recipes were calibrated on (ltkit.experiments.profiles.CALIBRATION_SEEDS) are refused: a claim
checked on the seeds it was tuned on says nothing.

Each finished (lesson, seed) run leaves one record, benchmarks/claims/<profile>/<lesson>-seed<S>.json, with
the commit it ran on and a hash of the lesson's code cells; records are committed, so that the evidence
grows across sessions and machines, and a record is not rerun while the lesson's code is unchanged
(`--rerun` forces it). `--summary` counts the records there are, running nothing. The executed lessons
go to --output.
"""

import argparse
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
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


RECORDS = Path(__file__).parent / "claims"
STOPPING = threading.Event()  # set by SIGTERM (or Ctrl-C): the lesson that fails then is not a failed claim


def stop(*_):
    STOPPING.set()
    raise KeyboardInterrupt


def code_hash(path):
    """SHA-256 of what decides a lesson's claims: its code cells, of its setup cell only the settings
    (`PROFILE = ...`, `SEED = ...`; not how it installs ltkit on Colab). Its prose does not count."""
    code = []
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        lines = "".join(cell["source"]).splitlines()
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            lines = [line for line in lines if re.match(r"[A-Z_]+ = ", line)]
        code.append("\n".join(lines))
    return hashlib.sha256("\n# --- cell ---\n".join(code).encode()).hexdigest()


def commit():
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "ltkit", "notebooks"], capture_output=True, text=True)
    return (result.stdout.strip() or "unknown") + ("+changes" if dirty.stdout.strip() else "")


def record_path(path, seed, profile, records=RECORDS):
    return records / profile / f"{path.stem}-seed{seed}.json"


def current_record(path, seed, profile, records=RECORDS):
    """The recorded claims of (lesson, seed), or None when there is no record of the lesson's code as it is."""
    record = record_path(path, seed, profile, records)
    if not record.exists():
        return None
    recorded = json.loads(record.read_text())
    return recorded if recorded["code_sha256"] == code_hash(path) else None


def replay(path, seed, profile, output, records=RECORDS, rerun=False):
    """Run one lesson with SEED = seed, recording its claims; returns the recorded claims (kept)."""
    recorded = None if rerun else current_record(path, seed, profile, records)
    if recorded is None:
        claims_file = output / f"{path.stem}-seed{seed}.claims.jsonl"  # as the kernel writes them
        claims_file.parent.mkdir(parents=True, exist_ok=True)
        claims_file.unlink(missing_ok=True)
        os.environ.update(LTKIT_CLAIMS=str(claims_file), LTKIT_PROFILE=profile)  # progress bars on, as for a student
        started, ran_on = time.time(), commit()
        try:
            execute_lesson(path, output / f"seed{seed}", timeout=CELL_TIMEOUT[profile], parameters={"SEED": seed})
        except Exception as error:  # a lesson that stops is a claim that failed: "it runs"
            if STOPPING.is_set():  # unless the benchmark itself was told to stop: then record nothing
                raise SystemExit("claims: stopped; the (lesson, seed) runs finished so far are recorded") from None
            with open(claims_file, "a") as f:
                detail = f"{type(error).__name__}: {str(error)[-300:]}"
                f.write(json.dumps(dict(name="the lesson runs to the end", passed=False, detail=detail)) + "\n")
        finally:
            os.environ.pop("LTKIT_CLAIMS")
        claims = [json.loads(line) for line in claims_file.read_text().splitlines()] if claims_file.exists() else []
        recorded = dict(
            lesson=path.stem,
            seed=seed,
            profile=profile,
            commit=ran_on,
            code_sha256=code_hash(path),
            minutes=round((time.time() - started) / 60, 1),
            claims=claims,
        )
        target = record_path(path, seed, profile, records)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        partial.write_text(json.dumps(recorded, indent=1) + "\n")
        partial.replace(target)  # a killed benchmark leaves no record, never half of one
    return recorded["claims"]


def tally(records):
    """Per (lesson, claim): [held, runs, asserted]."""
    counts = defaultdict(lambda: [0, 0, True])
    for lesson, claims in records:
        for record in claims:
            count = counts[(lesson[:2], record["name"])]
            count[0] += record["passed"]
            count[1] += 1
            count[2] = record.get("asserted", True)
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=PROFILES, required=True)
    parser.add_argument("--seeds", type=seed_list, default=(), help="comma-separated, e.g. 200,205,210")
    parser.add_argument("--lessons", type=lambda text: text.split(","), default=(), help="e.g. 03,05 (default: all)")
    parser.add_argument("--output", type=Path, default=Path("build/claims"))
    parser.add_argument("--json", type=Path, metavar="FILE")
    parser.add_argument(
        "--calibration", action="store_true", help="allow seeds 0-9, to tune a recipe (its rates are no evidence)"
    )
    parser.add_argument("--rerun", action="store_true", help="run again (lesson, seed) pairs already recorded")
    parser.add_argument(
        "--summary", action="store_true", help="count the current records of --seeds (or of every seed); run nothing"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, stop)
    paths = [p for p in lessons() if not args.lessons or p.name[:2] in args.lessons]
    if args.summary:
        summarise(paths, args)
        return
    if not args.seeds:
        sys.exit("claims: give --seeds, e.g. --seeds 200,205,210 (or --summary to count the records)")
    problem = check_seeds(args.seeds, args.profile, args.calibration)
    if problem:
        sys.exit(f"claims: {problem}")
    output = (args.output / args.profile).resolve()  # the lessons' kernels run in notebooks/
    output.mkdir(parents=True, exist_ok=True)
    results = []
    for seed in args.seeds:
        for path in paths:
            claims = replay(path, seed, args.profile, output, rerun=args.rerun)
            results.append((path.stem, claims))
            for record in claims:
                if not record["passed"]:
                    print(f"  {path.stem} seed {seed}: FAILED {record['name']} ({record.get('detail', '')})")
            print(f"{path.stem} seed {seed}: done", flush=True)
    report(tally(results), args)


def summarise(paths, args):
    """Count the records of the lessons' current code (of --seeds, if given)."""
    results, seeds, stale = [], defaultdict(list), 0
    for path in paths:
        for file in sorted((RECORDS / args.profile).glob(f"{path.stem}-seed*.json")):
            seed = int(file.stem.rsplit("seed", 1)[1])
            recorded = current_record(path, seed, args.profile)
            stale += recorded is None
            if recorded and (not args.seeds or seed in args.seeds):
                results.append((path.stem, recorded["claims"]))
                seeds[path.stem[:2]].append(seed)
    for lesson, found in sorted(seeds.items()):
        print(f"lesson {lesson}: {len(found)} seeds ({', '.join(map(str, sorted(found)))})")
    if stale:
        print(f"({stale} records of lessons whose code has changed since are not counted)")
    report(tally(results), args)


def report(counts, args):
    claims = [
        dict(name=name, lesson=lesson, passed=p, total=t, asserted=asserted)
        for (lesson, name), (p, t, asserted) in counts.items()
    ]
    seeds = f"seeds {list(args.seeds)}" if args.seeds else "every recorded seed"
    print(f"\nClaims in the {args.profile} profile on {seeds} (observed: reported, not asserted):")
    for row in claims:
        kind = "" if row["asserted"] else "  (observed)"
        print(f"  {row['lesson']}  {row['passed']:>3}/{row['total']:<3}  {row['name']}{kind}")
    if args.json:
        args.json.write_text(json.dumps(dict(profile=args.profile, seeds=list(args.seeds), claims=claims), indent=2))


if __name__ == "__main__":
    main()
