"""The command line's sweeps: `ltkit EXPERIMENT --seeds 0-4 [--executor submitit --workers N ...]`.

The sweep's configurations (one per seed) are cut into units (ltkit.cluster.units), run by the executor
(ltkit.cluster.executors), then read back from the run cache here, so that the tables printed and the JSON
written are those of a run on this machine.
"""

import shlex
import sys

from ltkit.cluster.executors import EXECUTORS, Cluster, run_units
from ltkit.cluster.units import parse_seeds, remember_sweep, sweep_units
from ltkit.engine.runtime import setup
from ltkit.errors import LtkitError
from ltkit.experiments.registry import text_table


def add_cluster_flags(parser, seeded):
    """The flags of a sweep over seeds, and of the engine that runs its units (ltkit.cluster)."""
    group = parser.add_argument_group("several seeds, on several workers (ltkit.cluster)")
    if seeded:
        group.add_argument("--seeds", type=parse_seeds, help="a sweep over these seeds, like 0-4 or 0,2,5")
        group.add_argument(
            "--seeds-together",
            type=int,
            default=1,
            metavar="K",
            help="seeds trained as one stack (default 1); the cache keeps a seed as first computed, in any K",
        )
    group.add_argument("--executor", choices=EXECUTORS, default="local", help="where the units run (default: here)")
    group.add_argument("--workers", type=int, metavar="N", help="jobs at once (default: one per unit)")
    group.add_argument("--partition", help="submit to this Slurm partition (default: local processes)")
    group.add_argument("--gpus-per-job", type=int, default=0, metavar="G", help="GPUs each job asks for")
    group.add_argument("--cpus-per-job", type=int, metavar="C", help="CPU cores each job asks for (and threads)")
    group.add_argument("--timeout-min", type=int, default=24 * 60, metavar="M", help="a job's time limit, minutes")


def run_sweep(experiment, args, fields):
    """The sweep the flags describe, run by their executor; prints each seed's table and returns the JSON:
    one entry per seed under "sweeps", each as a single run's."""
    seeds = getattr(args, "seeds", None)
    if seeds is not None and fields.get("seed") is not None:
        raise LtkitError("give --seed for one run or --seeds for a sweep, not both")
    if args.no_cache:
        raise LtkitError("a sweep's workers meet in the run cache; leave out --no-cache")
    configs = [
        experiment.config(args.dataset, args.model, args.profile, args.epochs, args.lr, **{**fields, "seed": seed})
        for seed in seeds or [fields.get("seed")]
    ]
    cluster = Cluster(
        args.executor, args.workers, args.partition, args.gpus_per_job, args.cpus_per_job, args.timeout_min
    )
    device = setup(args.device, seed=getattr(configs[0], "seed", 0))
    units = sweep_units(experiment.name, configs, getattr(args, "seeds_together", 1))
    remember_sweep(units, command=shlex.join(["ltkit", *sys.argv[1:]]))
    computed = set(run_units(units, cluster, plugins=args.plugin, device=args.device))
    print(units_line(units, computed))
    results = experiment.run_many(configs, device=device)  # from the cache, where the workers left them
    print(experiment.heading(configs[0]))
    for config, result in zip(configs, results):
        print(f"seed {config.seed}:" if seeds is not None else "", text_table(result.table()), sep="\n")
    if seeds is None:
        return results[0].to_json()
    return dict(sweeps=[result.to_json() for result in results])


def units_line(units, computed):
    """Which units this sweep computed and which it found done: 'units: 3 computed (seeds 0,1,2), 1 ...'."""
    seeds = lambda group: ",".join(str(seed) for unit in group for seed in unit.seeds if seed is not None)
    parts = []
    for word, group in (
        ("computed now", [u for u in units if u.name in computed]),
        ("from the cache", [u for u in units if u.name not in computed]),
    ):
        if group:
            parts.append(f"{len(group)} {word}" + (f" (seeds {seeds(group)})" if seeds(group) else ""))
    return "units: " + ", ".join(parts)


def print_status(sweeps):
    """Each sweep's command, then each of its units' state."""
    if not sweeps:
        print("no sweeps have run on this cache yet (a run with --seeds or --executor is a sweep)")
    for sweep in sweeps:
        counts = [unit["state"].split()[0] for unit in sweep["units"]]
        summary = ", ".join(f"{counts.count(word)} {word}" for word in dict.fromkeys(counts))
        print(f"{sweep['command']}\n  {len(counts)} units: {summary}")
        for unit in sweep["units"]:
            seeds = "seed " + ",".join(map(str, unit["seeds"])) if unit["seeds"] != [None] else ""
            print(f"    {seeds:<12} {unit['name']:<20} {unit['state']}")
    return sweeps
