"""A sweep cut into units of work that workers anywhere can take, and what the run cache knows of them.

A sweep over seeds (`ltkit imp --seeds 0-4`) is a list of Units. A unit is a group of the sweep's
configurations that train as one stack (ltkit.engine.stacked): one seed by default, with all its arms of a
round together; `--seeds-together K` puts K seeds in a unit, for a GPU that stacks more. The grouping is
the sweep's, not the executor's: a stack's floating-point arithmetic depends a little on which networks
are in it, so a seed's numbers are the same run alone, in any sweep, locally or on a cluster, exactly
when it is grouped the same way.

Beside the runs, data/runs/.units/ holds per unit a lease while a worker computes it
(ltkit.store.leases) and, once it is done, a record of its results; and per sweep a list of its units,
which `ltkit cache status` reads. None of it is exported with the cache: it describes work, not results.
"""

import json
import pickle
import time
from dataclasses import dataclass
from pathlib import Path

from ltkit.errors import LtkitError
from ltkit.experiments.registry import EXPERIMENTS
from ltkit.files import atomic_write, data_dir
from ltkit.store.leases import Lease, holder_of, is_stale
from ltkit.store.runs import config_hash


def units_folder():
    return data_dir() / "runs" / ".units"


@dataclass(frozen=True)
class Unit:
    """Configurations of one registered experiment that a worker trains together."""

    experiment: str  # its name in ltkit.experiments.registry
    configs: tuple  # its settings, one per seed

    @property
    def name(self):
        return f"{self.experiment}-{config_hash([config.to_dict() for config in self.configs])}"

    @property
    def seeds(self):
        return [getattr(config, "seed", None) for config in self.configs]

    def record_file(self):
        return units_folder() / f"{self.name}.json"

    def lease(self):
        return Lease(units_folder() / f"{self.name}.lease")

    def is_done(self):
        return self.record_file().exists()

    def run(self, device="cpu", progress=False):
        """Train (or load from the cache) this unit's configurations, then record that it is done."""
        started = time.time()
        results = EXPERIMENTS[self.experiment].run_many(self.configs, device=device, progress=progress)
        record = dict(
            experiment=self.experiment,
            seeds=self.seeds,
            minutes=round((time.time() - started) / 60, 2),
            results=[result.to_json() for result in results],
        )
        atomic_write(self.record_file(), lambda tmp: Path(tmp).write_text(json.dumps(record)))
        return results


def sweep_units(experiment, configs, together=1):
    """The units of a sweep: `configs` (one per seed), each cut into the parts that can run apart (an
    instability analysis's rewind iterations, say), in groups of `together`, in order."""
    if together < 1:
        raise LtkitError(f"--seeds-together must be 1 or more; got {together}")
    if EXPERIMENTS[experiment].together is None and together > 1:
        raise LtkitError(f"{experiment} trains one seed at a time; leave out --seeds-together")
    parts = EXPERIMENTS[experiment].parts or (lambda config: [config])
    configs = [part for config in configs for part in parts(config)]
    return [Unit(experiment, tuple(configs[i : i + together])) for i in range(0, len(configs), together)]


def parse_seeds(text):
    """'0-4' -> [0, 1, 2, 3, 4]; '0,2,5' and '0-2,10' likewise; each seed once, in the order given."""
    seeds = []
    try:
        for part in text.split(","):
            first, _, last = part.partition("-")
            seeds += range(int(first), int(last or first) + 1)
    except ValueError:
        raise LtkitError(f"--seeds takes seeds like 0-4 or 0,2,5; got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise LtkitError(f"--seeds takes seeds of 0 or more, like 0-4; got {text!r}")
    return list(dict.fromkeys(seeds))


def remember_sweep(units, command):
    """Note the sweep's units, for `ltkit cache status` (one file per sweep, named by its units)."""
    sweep = dict(command=command, units={unit.name: unit.seeds for unit in units})
    path = units_folder() / f"sweep-{config_hash(list(sweep['units']))}.json"
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(sweep, indent=1)))


def unit_state(name):
    """'done', 'running' (a fresh lease: who holds it), 'stalled' (a stale lease) or 'missing'."""
    folder = units_folder()
    if (folder / f"{name}.json").exists():
        return "done"
    holder = holder_of(folder / f"{name}.lease")
    if holder is None:
        return "missing"
    if is_stale(folder / f"{name}.lease", holder):
        return "stalled (its worker stopped; the next worker takes it over)"
    return f"running on {holder['host']} (process {holder['pid']})"


def cache_status():
    """One entry per sweep remembered in the cache, oldest first: its command, and per unit its seeds and
    state."""
    sweeps = sorted(units_folder().glob("sweep-*.json"), key=lambda path: path.stat().st_mtime)
    return [
        dict(
            command=sweep["command"],
            units=[dict(name=name, seeds=seeds, state=unit_state(name)) for name, seeds in sweep["units"].items()],
        )
        for sweep in map(lambda path: json.loads(path.read_text()), sweeps)
    ]


def packed(units):
    """The units as bytes for a worker elsewhere, which imports the plugins first and then unpacks them
    (a plugin's classes exist there only once it is imported)."""
    return pickle.dumps(list(units))


def unpacked(payload):
    return pickle.loads(payload)
