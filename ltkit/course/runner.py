"""The whole course, headless: execute every lesson into a build folder, as notebooks and as HTML.

    python -m ltkit.course [--profile class] [--output build] [--seed S] [lesson names...]
    python -m ltkit.course --profile paper --executor submitit --workers 6 [--partition gpu --gpus-per-job 1]

Instructors run it before class (on a GPU machine with --profile paper, say), so that every cached run
is ready and the executed lessons can be read without running anything. Prints each lesson's time. With
--executor submitit every lesson is a job of its own (a Slurm job, or a local process), all of them
filling one shared run cache; a lesson that reads another's runs (READS_RUNS_OF) starts once that lesson
is done, so that it loads them instead of training them a second time.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from traitlets import Type

from ltkit.cluster.executors import EXECUTORS, POLL, Cluster, job_error, submitit_executor, submitting
from ltkit.errors import LtkitError
from ltkit.experiments.profiles import PROFILES, current_profile

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
CELL_TIMEOUT = {"ci": 1800, "class": 3600, "paper": None}  # seconds; a paper-profile sweep takes hours
READS_RUNS_OF = {  # lessons that load the sweeps of an earlier lesson (the same settings and seeds)
    "04_controls": ("03_winning_tickets",),
    "08_fast_ensembling": ("07_mode_connectivity",),
    "09_pruning_at_init": ("03_winning_tickets", "04_controls"),  # IMP's sweeps (04: LeNet's random pruning)
    "12_playground": ("03_winning_tickets",),
}


class PatientChannel(AsyncZMQSocketChannel):
    """A kernel channel whose wait for a message is a series of short polls.

    Why: nbclient waits for a cell's execute_reply with one long poll of the shell socket. When the cell
    writes into an Output widget, nbclient's Output-widget mimic meanwhile *sends* a comm message on that
    socket, through a blocking shadow of it (jupyter_client's Session.send). A reply that arrives during
    that send is queued, but the send used up the file-descriptor wake-up the long poll was waiting for:
    the poll never returns, and the headless run hangs after the cell with the kernel idle (reproduced
    deterministically by tests/test_course.py). Each new short poll looks at the socket's queue first, so
    a reply that arrived that way is read within POLL_STEP seconds.
    """

    POLL_STEP = 0.5  # seconds

    async def get_msg(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            step = self.POLL_STEP if deadline is None else max(0.0, min(self.POLL_STEP, deadline - time.monotonic()))
            try:
                return await super().get_msg(timeout=step)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise


class PatientKernelClient(AsyncKernelClient):
    """The kernel client of the course runner: its shell and IOPub channels never miss a message."""

    shell_channel_class = Type(PatientChannel)
    iopub_channel_class = Type(PatientChannel)


def execute_lesson(path, output, timeout=None, parameters=None):
    """Run one notebook top to bottom; write it executed and as HTML. Returns the seconds it took.
    `parameters` ({"SEED": 100}, say) replace the values of the lesson's first cell."""
    import nbformat
    from nbclient import NotebookClient
    from traitlets.config import Config

    notebook = nbformat.read(path, as_version=4)
    if parameters:
        set_parameters(notebook, parameters)
    with tempfile.TemporaryDirectory(prefix="ltkit-kernel-") as sockets:
        kernel = dict(
            transport="ipc",  # local socket files in a folder of this run's own, not TCP ports two runs could share
            ip=str(Path(sockets) / "kernel"),
            client_class="ltkit.course.runner.PatientKernelClient",
        )
        client = NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name="python3",
            config=Config(KernelManager=kernel),
            shutdown_kernel="immediate",  # the lesson is done; a graceful shutdown only logs an interrupt
            resources={"metadata": {"path": str(path.parent)}},
        )
        started = time.perf_counter()
        try:
            client.execute()
        finally:
            save_executed(notebook, path, output)
    return time.perf_counter() - started


def save_executed(notebook, path, output):
    """The lesson as it ran, under output/notebooks, and as HTML under output/html."""
    import nbformat
    from nbconvert import HTMLExporter

    (output / "notebooks").mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, output / "notebooks" / path.name)
    html, _ = HTMLExporter().from_notebook_node(notebook)
    (output / "html").mkdir(parents=True, exist_ok=True)
    (output / "html" / path.with_suffix(".html").name).write_text(html)
    for folder in ("notebooks", "html"):
        copy_companions(output / folder)


def copy_companions(folder):
    """What the lessons link to, beside lessons written into `folder` (executed, for students, for the
    site): the diagrams (figures/) and the glossary."""
    shutil.copytree(NOTEBOOKS / "figures", Path(folder) / "figures", dirs_exist_ok=True)
    shutil.copy(NOTEBOOKS / "GLOSSARY.md", folder)


def set_parameters(notebook, parameters):
    """Insert a cell assigning `parameters` right after the cell tagged "parameters", as papermill does:
    the lesson then runs with those values, its own first cell unchanged."""
    import nbformat

    tagged = [i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])]
    if not tagged:
        raise LtkitError("this lesson has no cell tagged 'parameters' to take the values from")
    source = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(tagged[0] + 1, cell)


def lessons(names=()):
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    if names:
        paths = [p for p in paths if p.stem in names or p.name in names]
        if not paths:
            raise LtkitError(f"no lesson named {', '.join(names)} in {NOTEBOOKS}")
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m ltkit.course.runner", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=PROFILES, default=None, help="default: $LTKIT_PROFILE, else class")
    parser.add_argument("--output", type=Path, default=Path("build"))
    parser.add_argument("--seed", type=int, help="the lessons' SEED (default: each lesson's own)")
    parser.add_argument("names", nargs="*", help="lessons to run (default: all), e.g. 03_winning_tickets")
    add_engine_flags(parser)
    args = parser.parse_args(argv)
    try:
        os.environ["LTKIT_PROFILE"] = current_profile(args.profile)  # the kernels inherit it
        paths = lessons(args.names)
        cluster = Cluster(args.executor, args.workers, args.partition, args.gpus_per_job, args.cpus_per_job)
    except LtkitError as error:
        print(f"ltkit: error: {error}", file=sys.stderr)
        return 2
    print(f"Running {len(paths)} lessons in the {os.environ['LTKIT_PROFILE']!r} profile into {args.output}/")
    parameters = None if args.seed is None else {"SEED": args.seed}
    timeout = CELL_TIMEOUT[os.environ["LTKIT_PROFILE"]]
    if cluster.executor != "local":
        try:
            return run_as_jobs(paths, args.output, timeout, parameters, cluster)
        except LtkitError as error:
            print(f"ltkit: error: {error}", file=sys.stderr)
            return 2
    for path in paths:
        try:
            seconds = execute_lesson(path, args.output, timeout=timeout, parameters=parameters)
        except Exception as error:  # a failing cell: the partly executed notebook is written for reading
            return failed(path, args.output, error)
        print(f"{path.stem:<24} {seconds:7.1f} s")
    return 0


def failed(path, output, error):
    print(f"{path.stem}: FAILED ({type(error).__name__}); see {output / 'html' / path.stem}.html")
    return 1


def add_engine_flags(parser):
    parser.add_argument("--executor", choices=EXECUTORS, default="local", help="where lessons run (default: here)")
    parser.add_argument("--workers", type=int, metavar="N", help="lessons at once (default: all that can start)")
    parser.add_argument("--partition", help="submit to this Slurm partition (default: local processes)")
    parser.add_argument("--gpus-per-job", type=int, default=0, metavar="G", help="GPUs each lesson's job asks for")
    parser.add_argument("--cpus-per-job", type=int, metavar="C", help="CPU cores each lesson's job asks for")


def ready(paths, done, running):
    """The lessons that may start now: not started, and every lesson whose runs they read done (or not
    being run at all)."""
    names = {path.stem for path in paths}
    return [
        path
        for path in paths
        if path.stem not in done | running
        and all(first in done or first not in names for first in READS_RUNS_OF.get(path.stem, ()))
    ]


def run_as_jobs(paths, output, timeout, parameters, cluster):
    """Each lesson a job of submitit, at most cluster.workers at once, in the order READS_RUNS_OF allows."""
    executor = submitit_executor(cluster, cluster.workers or len(paths))
    workers = cluster.workers or len(paths)
    executor.update_parameters(**({"cpus_per_task": cluster.cpus_per_job} if cluster.cpus_per_job else {}))
    jobs, done = {}, set()
    while len(done) < len(paths):
        for path in ready(paths, done, set(jobs))[: workers - len(jobs)]:
            with submitting():
                jobs[path.stem] = executor.submit(execute_lesson, path, output.resolve(), timeout, parameters)
        for name, job in list(jobs.items()):
            if job.done():
                del jobs[name]
                error = job_error(job)
                if error is not None:
                    print(f"{name}: FAILED ({error}); see {output / 'html' / name}.html", flush=True)
                    return 1
                print(f"{name:<24} {job.result():7.1f} s", flush=True)
                done.add(name)
        time.sleep(POLL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
