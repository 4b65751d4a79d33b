"""A run archive by path or URL, checked against its SHA-256 before any of it reaches the run cache.

An instructor publishes runs.tar.gz and runs.tar.gz.sha256 (both written by `ltkit cache export`) side by
side; a student imports the URL. The archive is downloaded to a temporary folder beside the cache and
checked there: a download that is cut short, or that does not match its checksum, changes nothing.
"""

import contextlib
import hashlib
import http.client
import re
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from ltkit.engine.progress import progress_bar
from ltkit.errors import LtkitError

CHUNK = 1 << 20
TIMEOUT = 30  # seconds to wait for the server, at the start and between chunks
ABSENT = (403, 404, 410)  # what web servers answer for a file that is not there (403: S3-style hosts)
HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


def is_url(source):
    return str(source).startswith(("http://", "https://"))


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_file(archive):
    return Path(f"{archive}.sha256")


def write_checksum(archive):
    """Write archive.sha256 as `sha256sum` does ("<hex>  <name>"), so `sha256sum -c` can check it too."""
    checksum_file(archive).write_text(f"{sha256_of(archive)}  {Path(archive).name}\n")


def parse_checksum(text, where):
    """The hex digest at the start of `text` (a --sha256 value, or a line that `sha256sum` wrote)."""
    digest = text.split()[0].lower() if text.split() else ""
    if not HEX_DIGEST.fullmatch(digest):
        raise LtkitError(
            f"{where} is not a SHA-256 checksum ({digest[:20]!r}); give --sha256 the 64 hex digits that "
            f"`sha256sum FILE` prints"
        )
    return digest


@contextlib.contextmanager
def verified_archive(source, folder, sha256=None):
    """The archive at `source` (a path, or an http:// or https:// URL) as a local file, checked against
    `sha256`, else against the .sha256 file beside it; with neither, a note says it went unchecked.
    A URL is downloaded into a temporary folder in `folder`, removed afterwards whatever happens."""
    if sha256:
        sha256 = parse_checksum(sha256, "--sha256")  # a typo is caught before a long download, not after
    if not is_url(source):
        if not Path(source).is_file():
            raise LtkitError(f"{source} does not exist; give the file that `ltkit cache export` wrote")
        yield checked(Path(source), source, sha256, checksum_file(source), checksum_file(source))
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as temporary:
        archive, published = Path(temporary) / "archive", Path(temporary) / "archive.sha256"
        download(source, archive)
        if not sha256:
            download(f"{source}.sha256", published, missing_ok=True)
        yield checked(archive, source, sha256, published, f"{source}.sha256")


def checked(archive, source, sha256, published, published_name):
    """`archive`, once its SHA-256 is `sha256`, or when that is None, the one in the file `published`."""
    if sha256:
        expected, where = sha256, "--sha256"
    elif published.is_file():
        expected, where = parse_checksum(published.read_text(errors="replace"), published_name), published_name
    else:
        print(
            f"ltkit: note: {source} was not verified: there is no {published_name} beside it; to verify it, "
            f"give the checksum its publisher printed: ltkit cache import {source} --sha256 HEX",
            file=sys.stderr,
        )
        return archive
    if (actual := sha256_of(archive)) != expected:
        raise LtkitError(
            f"{source} has SHA-256 {actual}, but {where} says {expected}; nothing was imported: download it "
            f"again, or ask its publisher for the right checksum"
        )
    return archive


def download(url, path, missing_ok=False):
    """Write what `url` serves to `path` with a progress bar; False when it is not there and missing_ok.
    Every way a download fails is one line that names the fix."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response, open(path, "wb") as file:
            copy_with_bar(response, file, url)
    except urllib.error.HTTPError as error:
        error.close()  # an HTTP error is also the server's response, whose connection it holds open
        if missing_ok and error.code in ABSENT:
            return False
        raise LtkitError(f"{url} answered {error.code} {error.reason}; check the address you were given") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        reason = getattr(error, "reason", None) or repr(error)
        raise LtkitError(
            f"cannot download {url} ({reason}); check the address, your connection and the server"
        ) from None
    return True


def copy_with_bar(response, file, url):
    size = int(response.headers.get("Content-Length") or 0) or None
    name = url.rsplit("/", 1)[-1]
    with progress_bar(True, name, total=size, unit="B", unit_scale=True, unit_divisor=1024) as bar:
        while chunk := response.read(CHUNK):
            file.write(chunk)
            bar.update(len(chunk))
    if size is not None and file.tell() < size:  # the server closed the connection before the end
        raise LtkitError(f"the download of {url} was cut short ({file.tell()} of {size} bytes); try again")
