"""Where a sweep's units run: here, one after another (`local`), or as jobs of submitit (`submitit`).

submitit (facebookincubator/submitit) submits Python functions as Slurm jobs, a job array at once, and
runs the same jobs as local processes when there is no cluster: the convention of research codebases,
with no scheduler of ours. Every job runs `work`: it takes the sweep's units in turn, each under a lease
in the shared run cache (ltkit.store.leases), skipping units other workers hold and taking over those
whose worker died, then waits for the rest. So jobs balance themselves, a resubmitted sweep resumes
where it stopped, and two sweeps sharing units on one cache compute each unit once.

    ltkit imp --seeds 0-3 --executor submitit --workers 2            # two local processes
    ltkit imp --seeds 0-4 --executor submitit --partition gpu --gpus-per-job 1 --workers 5   # Slurm
"""

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from ltkit.cluster.units import packed, unpacked
from ltkit.engine.progress import progress_bar
from ltkit.errors import LtkitError
from ltkit.files import data_dir
from ltkit.plugins import load_plugin

EXECUTORS = ("local", "submitit")
POLL = 1.0  # seconds between looks at the cache, for a unit another worker holds and for progress


@dataclass(frozen=True)
class Cluster:
    """How to run a sweep's units: the executor, and for submitit its jobs."""

    executor: str = "local"
    workers: int = None  # jobs at once (default: one per unit)
    partition: str = None  # a Slurm partition; None: submitit's local processes
    gpus_per_job: int = 0
    cpus_per_job: int = None  # default: the cores here shared among the workers (locally), else 1
    timeout_min: int = 24 * 60
    folder: Path = None  # submitit's job files and logs (default: data/jobs)

    def __post_init__(self):
        if self.executor not in EXECUTORS:
            raise LtkitError(f"unknown executor {self.executor!r}; use one of: {', '.join(EXECUTORS)}")
        if self.executor == "local" and (self.workers or self.partition or self.gpus_per_job):
            raise LtkitError("--workers, --partition and --gpus-per-job are for an engine; add --executor submitit")
        if self.workers is not None and self.workers < 1:
            raise LtkitError(f"--workers must be 1 or more; got {self.workers}")


def work(payload, first=0, plugins=(), threads=None, device=None):
    """A worker's job: every unit of `payload` (ltkit.cluster.units.packed), starting at number `first`,
    each computed here unless another worker holds or has done it; returns the names of those computed
    here. It returns once every unit is done, wherever it was done."""
    from ltkit.engine.runtime import setup

    for plugin in plugins:  # it registers its dataset, network or experiment in this process too
        load_plugin(plugin)
    units = unpacked(payload)
    device = setup(device, threads)
    pending = units[first:] + units[:first]
    computed = []
    while pending:
        for unit in list(pending):
            if unit.is_done():
                pending.remove(unit)
                continue
            lease = unit.lease()
            if not lease.take():
                continue
            with lease:
                if not unit.is_done():  # done between our look and our lease
                    unit.run(device)
                    computed.append(unit.name)
            pending.remove(unit)
        if pending:
            time.sleep(POLL)
    return computed


def run_units(units, cluster, plugins=(), device=None, progress=True):
    """Compute every unit (skipping those done), on `cluster` (a Cluster)."""
    if cluster.executor == "local":  # in this process, whose plugins are imported already
        return work(packed(units), device=device)
    return run_with_submitit(units, cluster, plugins, device, progress)


def submitit_executor(cluster, jobs):
    """A submitit executor for `jobs` jobs of this sweep: Slurm when a partition is given, else local
    processes, each job with its share of this machine's cores."""
    try:
        import submitit
    except ImportError:
        raise LtkitError("--executor submitit needs submitit: pip install 'ltkit[cluster]'") from None
    folder = cluster.folder or data_dir() / "jobs"
    if not cluster.partition:
        # submitit shows a local job only the GPUs it asks for (CUDA_VISIBLE_DEVICES); unless told otherwise
        # every job sees this machine's GPUs, as a plain local run would
        gpus = cluster.gpus_per_job or torch.cuda.device_count()
        executor = submitit.LocalExecutor(folder=folder)
        executor.update_parameters(timeout_min=cluster.timeout_min, gpus_per_node=gpus)
        return executor
    try:
        executor = submitit.SlurmExecutor(folder=folder)
    except RuntimeError:  # no srun here
        raise LtkitError(
            "--partition submits to Slurm, which this machine does not have (no srun): run the command on the "
            "cluster's login node, or leave out --partition to run local processes"
        ) from None
    executor.update_parameters(**slurm_parameters(cluster, jobs))
    return executor


def slurm_parameters(cluster, jobs):
    """The Slurm settings of a sweep's job array (submitit's names for sbatch's options)."""
    return dict(
        partition=cluster.partition,
        gpus_per_node=cluster.gpus_per_job,
        cpus_per_task=cluster.cpus_per_job or 1,
        time=cluster.timeout_min,
        job_name="ltkit",
        array_parallelism=jobs,
    )


def job_threads(cluster, jobs):
    """CPU threads per job: what it was given, else (locally) this machine's cores shared among the jobs."""
    if cluster.cpus_per_job:
        return cluster.cpus_per_job
    return max(1, (os.cpu_count() or 1) // jobs) if not cluster.partition else 1


def run_with_submitit(units, cluster, plugins, device, progress):
    """Submit one job per worker (a job array), follow the units' progress, and report a failed job."""
    jobs = min(cluster.workers or len(units), len(units))
    executor = submitit_executor(cluster, jobs)
    plugins = [str(Path(plugin).resolve()) if plugin.endswith(".py") else plugin for plugin in plugins]
    threads = job_threads(cluster, jobs)
    task = partial(work, packed(units), plugins=plugins, threads=threads, device=device)
    starts = [round(i * len(units) / jobs) for i in range(jobs)]  # each job starts at its own share
    with submitting():
        submitted = executor.map_array(task, starts)
    follow(units, submitted, progress)
    failures = [job for job in submitted if job_error(job) is not None]
    missing = [unit for unit in units if not unit.is_done()]
    if missing:
        why = job_error(failures[0]) if failures else "the jobs ended before finishing them"
        raise LtkitError(
            f"{len(missing)} of {len(units)} units are not done: {why}; what finished is cached, "
            f"so the same command resumes (job logs: {executor.folder})"
        )
    if failures:
        print(f"ltkit: {len(failures)} job(s) failed ({job_error(failures[0])}); the others finished their units")
    return [name for job in submitted if job_error(job) is None for name in job.result()]


@contextmanager
def submitting():
    """Submitting jobs, with sbatch's refusal (a wrong partition, a time limit over the partition's) as one
    line."""
    from submitit.core.utils import FailedJobError

    try:
        yield
    except FailedJobError as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        raise LtkitError(f"Slurm refused the jobs: {lines[-1] if lines else error}") from None


def follow(units, jobs, progress):
    """Wait for the jobs, showing how many units are done."""
    with progress_bar(progress, "units done", total=len(units)) as bar:
        while not all(job.done() for job in jobs):
            bar.update(sum(unit.is_done() for unit in units) - bar.n)
            time.sleep(POLL)
        bar.update(sum(unit.is_done() for unit in units) - bar.n)


def job_error(job):
    """A finished job's error as one line, None if it succeeded."""
    if not job.paths.result_pickle.exists():  # (submitit itself would wait a minute for it, for slow NFS)
        return f"job {job.job_id} stopped before it finished (killed, out of memory or out of time)"
    error = job.exception()
    if error is None:
        return None
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"job {job.job_id}: {lines[-1] if lines else type(error).__name__}"  # a traceback's last line
