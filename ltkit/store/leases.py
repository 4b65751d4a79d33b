"""Leases: which worker is computing a unit of a sweep right now, so that workers sharing one run cache
(processes on one machine, or jobs on a cluster's shared filesystem) never compute the same unit twice.

A lease is a small file that its holder creates with a hard link, which succeeds for one worker only,
also over NFS, where O_EXCL and file locks are not to be trusted; the holder touches it twelve times per
lease_timeout(). A lease not touched for lease_timeout() seconds, or whose holder is a process of this
machine that no longer exists (killed with kill -9, say), is stale: the next worker removes it and takes
the unit over, resuming from the run cache.

Leases keep work from being done twice; they do not keep the cache whole. Every cached file is written
under a temporary name and renamed (ltkit.files), so even two workers computing the same step at once
(a lease taken over in the instant its holder came back) leave one whole file, not a mixture.
"""

import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path


def lease_timeout():
    """Seconds after its last touch that a lease is stale: $LTKIT_LEASE_TIMEOUT, else 120 (twelve missed
    heartbeats: a busy shared filesystem may delay a touch, never by that much)."""
    return float(os.environ.get("LTKIT_LEASE_TIMEOUT", 120))


class Lease:
    """The lease file `path`. `take()` tries to hold it; `release()` gives it back; `with` holds it while
    a heartbeat thread keeps it fresh."""

    def __init__(self, path):
        self.path = Path(path)
        self.holder = dict(host=socket.gethostname(), pid=os.getpid(), token=uuid.uuid4().hex)
        self.stop = threading.Event()
        self.beat = None

    def take(self):
        """Hold the lease if nobody else does (a stale lease is removed first); returns whether it is ours."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        held = holder_of(self.path)
        if held is not None and is_stale(self.path, held) and not self.remove_stale(held):
            return False
        return self.link(self.path)

    def link(self, path):
        """Create `path` holding our token, by a hard link: it fails if `path` exists, so one worker wins."""
        tmp = self.path.with_name(f".{self.path.name}.{self.holder['token']}")
        tmp.write_text(json.dumps({**self.holder, "since": time.time()}))
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def remove_stale(self, held):
        """Remove the stale lease of `held`, unless another worker is removing it or has taken it already.
        Two workers that both saw it stale must not both remove it: the second would remove the first's new
        lease. So removing it takes a lease of its own, the takeover file, and checks the holder again."""
        takeover = self.path.with_name(f"{self.path.name}.takeover")
        try:
            if time.time() - os.stat(takeover).st_mtime > lease_timeout():  # its taker died mid-takeover
                takeover.unlink(missing_ok=True)
        except FileNotFoundError:
            pass
        if not self.link(takeover):
            return False
        try:
            if (holder_of(self.path) or {}).get("token") == held.get("token"):
                self.path.unlink(missing_ok=True)
            return True
        finally:
            takeover.unlink(missing_ok=True)

    def release(self):
        self.stop.set()
        if self.beat is not None:
            self.beat.join()
        if (holder_of(self.path) or {}).get("token") == self.holder["token"]:
            self.path.unlink(missing_ok=True)

    def __enter__(self):
        self.beat = threading.Thread(target=self.keep_fresh, daemon=True)
        self.beat.start()
        return self

    def __exit__(self, *exc):
        self.release()

    def keep_fresh(self):
        while not self.stop.wait(lease_timeout() / 12):
            if (holder_of(self.path) or {}).get("token") != self.holder["token"]:
                return  # taken over after a long stall: never touch another worker's lease
            try:
                os.utime(self.path)
            except FileNotFoundError:
                return


def holder_of(path):
    """Who holds the lease at `path` ({host, pid, token, since}), or None when nobody does."""
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def is_stale(path, holder):
    """Whether the lease at `path`, held by `holder`, is abandoned: not touched for lease_timeout(), or
    held by a process of this machine that has exited."""
    try:
        age = time.time() - os.stat(path).st_mtime
    except FileNotFoundError:
        return True
    if age > lease_timeout():
        return True
    return holder.get("host") == socket.gethostname() and not process_exists(holder.get("pid", 0))


def process_exists(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True
