"""A run archive shared by URL and checked by its SHA-256: every bad download is one line, and changes nothing.

The web server here is a local one (127.0.0.1, a free port), serving the files the test puts in its folder.
"""

import functools
import hashlib
import io
import socket
import tarfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ltkit.errors import LtkitError
from ltkit.store.archive import export_runs, import_runs

RUNS = {"imp-abc/round_00.pt": b"round 0 of a sweep", "imp-abc/round_01.pt": b"round 1", "dense-123/run.pt": b"d"}


class Handler(SimpleHTTPRequestHandler):
    """Serves the site folder without logging; a file named in `cut_short` is announced whole, sent half."""

    cut_short = set()

    def log_message(self, *args):
        pass

    def copyfile(self, source, outputfile):
        if self.path.rsplit("/", 1)[-1] in self.cut_short:
            data = source.read()
            outputfile.write(data[: len(data) // 2])
        else:
            super().copyfile(source, outputfile)


@pytest.fixture
def site(tmp_path):
    """(the folder the server serves, its address); the server is shut down when the test ends."""
    folder = tmp_path / "site"
    folder.mkdir()
    Handler.cut_short = set()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join()


def make_cache(root, runs):
    for name, data in runs.items():
        (root / "runs" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "runs" / name).write_bytes(data)
    return root


def everything_in(root):
    """Every file under root with its bytes: what a failed import must leave exactly as it was."""
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.fixture
def published(site, tmp_path):
    """An instructor's runs.tar.gz and runs.tar.gz.sha256 on the site, as `ltkit cache export` wrote them."""
    folder, address = site
    export_runs(folder / "runs.tar.gz", root=make_cache(tmp_path / "instructor", RUNS))
    return folder, f"{address}/runs.tar.gz"


@pytest.fixture
def student(tmp_path):
    """A student's cache that already holds a run of its own."""
    return make_cache(tmp_path / "student", {"train-own/run.pt": b"the student's own run"})


def test_export_writes_a_sha256_file_in_the_format_of_sha256sum(tmp_path):
    archive = tmp_path / "out" / "runs.tar.gz"
    export_runs(archive, root=make_cache(tmp_path, RUNS))
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert (tmp_path / "out" / "runs.tar.gz.sha256").read_text() == f"{digest}  runs.tar.gz\n"
    with pytest.raises(LtkitError, match="export to a path, then upload it and its .sha256"):
        export_runs("https://example.org/runs.tar.gz", root=tmp_path)


def test_import_from_a_url_adds_the_runs_checked_against_the_published_sha256(published, student, capsys):
    _, url = published
    assert import_runs(url, root=student) == (2, 0)
    assert import_runs(url, root=student) == (0, 2)  # nothing is overwritten
    for name, data in RUNS.items():
        assert (student / "runs" / name).read_bytes() == data
    assert capsys.readouterr().err == ""  # verified: no note
    assert sorted(path.name for path in student.iterdir()) == ["runs"]  # the temporary download is gone


def test_without_a_checksum_the_import_goes_ahead_and_one_line_says_how_to_verify(published, student, capsys):
    folder, url = published
    (folder / "runs.tar.gz.sha256").unlink()
    assert import_runs(url, root=student) == (2, 0)
    note = capsys.readouterr().err
    assert len(note.strip().splitlines()) == 1 and "was not verified" in note and "--sha256" in note


def test_the_sha256_flag_is_checked_instead_of_the_published_file(published, student, tmp_path):
    folder, url = published
    digest = hashlib.sha256((folder / "runs.tar.gz").read_bytes()).hexdigest()
    (folder / "runs.tar.gz.sha256").write_text(f"{'0' * 64}  runs.tar.gz\n")  # wrong, but the flag wins
    before = everything_in(student)
    with pytest.raises(LtkitError, match=f"but --sha256 says {'f' * 64}"):
        import_runs(url, root=student, sha256="f" * 64)
    assert everything_in(student) == before
    assert import_runs(url, root=student, sha256=digest.upper()) == (2, 0)
    assert import_runs(folder / "runs.tar.gz", root=tmp_path / "local", sha256=digest) == (2, 0)


def tar_holding(path, name):
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))


def with_checksum(path):
    path.with_name(path.name + ".sha256").write_text(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  x\n")


def tampered_checksum(folder, address):
    (folder / "runs.tar.gz.sha256").write_text(f"{'0' * 64}  runs.tar.gz\n")
    return f"{address}/runs.tar.gz", {}


def cut_by_the_server(folder, address):
    Handler.cut_short = {"runs.tar.gz"}
    return f"{address}/runs.tar.gz", {}


def cut_with_a_matching_checksum(folder, address):
    whole = (folder / "runs.tar.gz").read_bytes()
    (folder / "cut.tar.gz").write_bytes(whole[: len(whole) - 20])  # the gzip stream's end is missing
    with_checksum(folder / "cut.tar.gz")
    return f"{address}/cut.tar.gz", {}


def escaping(name):
    def make(folder, address):
        tar_holding(folder / "evil.tar.gz", name)
        with_checksum(folder / "evil.tar.gz")
        return f"{address}/evil.tar.gz", {}

    return make


def not_an_archive(folder, address):
    (folder / "notes.txt").write_text("these are my notes, not runs")
    return f"{address}/notes.txt", {}


def nobody_listening(folder, address):
    with socket.socket() as free:  # a port that was free a moment ago: nothing listens there
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    return f"http://127.0.0.1:{port}/runs.tar.gz", {}


def not_there(folder, address):
    return f"{address}/missing.tar.gz", {}


def local_file_with_a_wrong_checksum_beside_it(folder, address):
    (folder / "runs.tar.gz.sha256").write_text(f"{'0' * 64}  runs.tar.gz\n")
    return folder / "runs.tar.gz", {}


def malformed_flag(folder, address):
    return f"{address}/runs.tar.gz", dict(sha256="abc123")


@pytest.mark.parametrize(
    "bad_input, message",
    [
        (tampered_checksum, f"has SHA-256 [0-9a-f]{{64}}, but .*/runs.tar.gz.sha256 says {'0' * 64}; nothing was"),
        (cut_by_the_server, r"was cut short \(\d+ of \d+ bytes\); try again"),
        (cut_with_a_matching_checksum, "is not a complete run archive .*; download or export it again"),
        (escaping("runs/../../escape.txt"), "'runs/../../escape.txt', a path outside the run cache"),
        (escaping("/tmp/escape.txt"), "'/tmp/escape.txt', a path outside the run cache"),
        (not_an_archive, "notes.txt is not a .tar.gz archive; give the file that `ltkit cache export` wrote .its own"),
        (
            nobody_listening,
            r"cannot download .*/runs.tar.gz \(.*refused\); check the address, your connection and the server",
        ),
        (not_there, "missing.tar.gz answered 404 File not found; check the address"),
        (
            local_file_with_a_wrong_checksum_beside_it,
            "site/runs.tar.gz has SHA-256 .*, but .*site/runs.tar.gz.sha256 says",
        ),
        (malformed_flag, "--sha256 is not a SHA-256 checksum .'abc123'.; give --sha256 the 64 hex digits"),
    ],
    ids="checksum cut-short truncated dot-dot absolute not-an-archive refused 404 local flag".split(),
)
def test_each_bad_input_is_one_line_that_names_the_fix_and_changes_nothing(
    published, site, student, bad_input, message
):
    source, options = bad_input(*site)
    before = everything_in(student)
    with pytest.raises(LtkitError, match=message) as error:
        import_runs(source, root=student, **options)
    assert len(str(error.value).splitlines()) == 1
    assert everything_in(student) == before and sorted(path.name for path in student.iterdir()) == ["runs"]


def test_a_bad_checksum_through_the_command_is_one_line_and_no_traceback(published, run_ltkit, tmp_path):
    folder, url = published
    (folder / "runs.tar.gz.sha256").write_text(f"{'0' * 64}  runs.tar.gz\n")
    done = run_ltkit("cache", "import", url)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("ltkit: error: ") and len(done.stderr.strip().splitlines()) == 1
    assert "has SHA-256" in done.stderr and not (tmp_path / "runs").exists()
    assert not list(tmp_path.glob(".download-*"))  # nor the temporary download
