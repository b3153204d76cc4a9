"""One review of a run's outputs at a time: an exclusive ``flock`` on a lock file beside the
output folder (``.<folder name>.review.lock`` in its parent, where ``assaykit score`` keeps its
own ``.<folder name>.lock``): every user reviewing the same outputs finds the same file, whatever
their temporary folder (per-user TMPDIR on macOS, libpam-tmpdir), and it outlives the folder's
replacement by a re-score (a file inside the folder would be swapped away with it). Never in the
run folder, whose only file assaykit writes is run.yaml. The lock file holds the holder's pid,
host and since when; the kernel releases the ``flock`` when its process ends, so a lock file
left by a process that died is taken over (and said so)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from ..errors import AssayKitError


class ReviewBusy(AssayKitError):  # noqa: N818 -- the name the design and the web app use
    """Another review holds the run folder (the message names its pid, host and since when)."""


@dataclass(frozen=True)
class ReviewLock:
    """A held review lock: the lock file (``path``), its open descriptor (``handle``) and, when
    a stale lock left by a process that ended was taken over, what it said (``taken_over``)."""

    path: Path
    handle: int
    taken_over: str = ""

    def release(self) -> None:
        """Release the lock (the file is removed first, while held: no other holder can lose it)."""
        with contextlib.suppress(OSError):
            self.path.unlink()
        with contextlib.suppress(OSError):
            os.close(self.handle)


def lock_path(out_dir: Path) -> Path:
    """The review lock file of the output folder ``out_dir`` (resolved):
    ``.<folder name>.review.lock`` beside it.

    Parameters
    ----------
    out_dir : Path
        The output folder of ``assaykit score`` under review.
    """
    folder = out_dir.resolve()
    return folder.parent / f".{folder.name}.review.lock"


def _holder(data: bytes) -> str:
    try:
        doc = json.loads(data.decode())
        return f"pid {int(doc['pid'])} on {str(doc['host'])[:80]!s} since {str(doc['since'])[:32]}"
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return "an unknown holder"


def acquire(out_dir: Path) -> ReviewLock:
    """Take the review lock of the output folder ``out_dir`` (:func:`lock_path`); ReviewBusy (one
    line naming the holder) when another review holds it. A lock file whose process ended is
    taken over: ``taken_over`` says whose it was.

    Parameters
    ----------
    out_dir : Path
        The output folder under review.
    """
    import fcntl

    path = lock_path(out_dir)
    try:
        handle = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as exc:  # another user's lock file, a link in its place, a folder not writable
        raise ReviewBusy(f"cannot take the review lock {path} ({exc.strerror or exc}): another user may be "
                         "reviewing this run", out_dir) from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder(os.pread(handle, 4096, 0))
            raise ReviewBusy(f"another review of this run is open ({holder}); close it first", out_dir) from None
        old = os.pread(handle, 4096, 0)
        st_now = os.fstat(handle)
        try:
            same = os.stat(path, follow_symlinks=False).st_ino == st_now.st_ino
        except OSError:
            same = False
        if not same:  # removed by the holder releasing it between our open and flock: take a fresh one
            os.close(handle)
            return acquire(out_dir)
        doc = {"pid": os.getpid(), "host": socket.gethostname(),
               "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "out_dir": str(out_dir.resolve())}
        os.ftruncate(handle, 0)
        os.pwrite(handle, json.dumps(doc).encode(), 0)
        return ReviewLock(path=path, handle=handle, taken_over=_holder(old) if old.strip() else "")
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(handle)
        raise
