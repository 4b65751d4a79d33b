"""The whole course, headless: execute every lesson into a build folder, as notebooks and as HTML.

    python -m ltkit.course [--profile class] [--output build] [--seed S] [lesson names...]

Instructors run it before class (on a GPU machine with --profile paper, say), so that every cached run
is ready and the executed lessons can be read without running anything. Prints each lesson's time.
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

from ltkit.errors import LtkitError
from ltkit.experiments.profiles import PROFILES, current_profile

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
CELL_TIMEOUT = {"ci": 1800, "class": 3600, "paper": None}  # seconds; a paper-profile sweep takes hours


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
    args = parser.parse_args(argv)
    try:
        os.environ["LTKIT_PROFILE"] = current_profile(args.profile)  # the kernels inherit it
        paths = lessons(args.names)
    except LtkitError as error:
        print(f"ltkit: error: {error}", file=sys.stderr)
        return 2
    print(f"Running {len(paths)} lessons in the {os.environ['LTKIT_PROFILE']!r} profile into {args.output}/")
    for path in paths:
        try:
            parameters = None if args.seed is None else {"SEED": args.seed}
            timeout = CELL_TIMEOUT[os.environ["LTKIT_PROFILE"]]
            seconds = execute_lesson(path, args.output, timeout=timeout, parameters=parameters)
        except Exception as error:  # a failing cell: the partly executed notebook is written for reading
            print(f"{path.stem}: FAILED ({type(error).__name__}); see {args.output / 'html' / path.stem}.html")
            return 1
        print(f"{path.stem:<24} {seconds:7.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
