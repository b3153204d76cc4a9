"""The audit trail of a review: ``audit.jsonl`` in the output folder, one JSON object per line,
each line chained to the one before by the SHA-256 of that line's bytes (``prev``; 64 zeros on
the first line) and numbered (``seq``, from 1). Appended (``O_APPEND`` + fsync) under the review
lock only; carried across re-scores. :func:`verify_audit` names the first line where the chain
breaks: an edited, removed, reordered or inserted line."""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import AssayKitError

AUDIT = "audit.jsonl"
GENESIS = "0" * 64
Action = Literal["open", "reviewer", "view", "accept", "change", "exclude", "revert", "sign", "supersede",
                 "unfinished", "close"]
ACTIONS: tuple[str, ...] = ("open", "reviewer", "view", "accept", "change", "exclude", "revert", "sign", "supersede",
                            "unfinished", "close")
CHANGES: tuple[str, ...] = ("change", "exclude", "revert")
"""The actions that write a tube's run.yaml entry (a "revert" removes it)."""
MAX_AUDIT_BYTES = 64 * 1024 * 1024


def line_hash(line: bytes) -> str:
    """The SHA-256 (hex) of one audit line's bytes, without its line end."""
    return hashlib.sha256(line).hexdigest()


def os_user() -> str:
    """The operating system's user name ("" when it cannot be told)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return ""


def utc_now() -> str:
    """Now, UTC, ISO 8601 to the second."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class AuditProblem:
    """Where the audit chain breaks: the 1-based ``line`` of audit.jsonl (0: the file as a whole)
    and ``what`` broke, in words."""

    line: int
    what: str

    def __str__(self) -> str:
        return f"{AUDIT} line {self.line}: {self.what}" if self.line else f"{AUDIT}: {self.what}"


def read_lines(path: Path) -> list[bytes]:
    """audit.jsonl's lines (bytes, without line ends; none when the file is absent)."""
    from .._io.read import read_input

    if not os.path.lexists(path):
        return []
    data = read_input(path, AssayKitError, "audit trail", MAX_AUDIT_BYTES, links=False)
    return data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n") if data else []


def torn(path: Path) -> str:
    """Why the audit trail at ``path`` cannot be appended to ("" when it can): its last line has
    no line end (a write cut short), so the next entry would be joined to it.

    Parameters
    ----------
    path : Path
        audit.jsonl.
    """
    if not os.path.lexists(path):
        return ""
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return ""
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return ""
    return ("the audit trail's last line is torn (no line end: a write was cut short); nothing is appended to it: "
            "`assaykit verify` names the line, and the lab decides how to keep the record")


def entries(path: Path) -> list[dict[str, Any]]:
    """audit.jsonl's entries, in order (lines that are not JSON objects left out: see :func:`verify_audit`)."""
    out = []
    for line in read_lines(path):
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict):
            out.append(doc)
    return out


def head(path: Path) -> tuple[int, str]:
    """The last entry's ``seq`` and the SHA-256 of its line ((0, 64 zeros) for no entry)."""
    lines = read_lines(path)
    if not lines:
        return 0, GENESIS
    try:
        seq = int(json.loads(lines[-1])["seq"])
    except (ValueError, KeyError, TypeError):
        seq = len(lines)
    return seq, line_hash(lines[-1])


def _lock_file(handle: int) -> None:
    """An exclusive lock of the open file ``handle`` (waits for another holder), released when it
    is closed."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        os.lseek(handle, 0, os.SEEK_SET)
        msvcrt.locking(handle, msvcrt.LK_LOCK, 1)  # type: ignore[attr-defined]
        os.lseek(handle, 0, os.SEEK_END)
        return
    fcntl.flock(handle, fcntl.LOCK_EX)


def encode(entry: Mapping[str, Any]) -> bytes:
    """One entry as its line: compact JSON, keys sorted, non-ASCII escaped (one line, always)."""
    return json.dumps(dict(entry), sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str).encode()


def append(path: Path, *, action: Action, reviewer: str, **fields: Any) -> dict[str, Any]:
    """Append one entry to ``path`` (made when absent): ``seq`` and ``prev`` from the last line,
    ``at`` (UTC), ``reviewer``, ``os_user``, ``host``, ``action`` and ``fields`` (tube, well,
    before, after, reason, outputs_sha256 ...: None values left out); written with one
    ``O_APPEND`` write and fsync, under an exclusive OS lock of the file (``flock``; ``msvcrt``
    on Windows) held from reading its last line to the write: two processes appending at once
    (two reviews the review lock did not keep apart, a re-score's "supersede") each chain to the
    other's line, never both to the same one. The caller holds the review lock. Returns the entry."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    handle = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        _lock_file(handle)  # head() and the write as one step: two writers never chain to the same line
        problem = torn(path)
        if problem:
            raise AssayKitError(problem, path)
        seq, prev = head(path)
        entry = {"seq": seq + 1, "prev": prev, "at": utc_now(), "reviewer": reviewer, "os_user": os_user(),
                 "host": socket.gethostname(), "action": action,
                 **{k: v for k, v in fields.items() if v is not None}}
        line = encode(entry) + b"\n"
        written = os.write(handle, line)
        os.fsync(handle)
    finally:
        os.close(handle)  # the file lock goes with the descriptor
    if written != len(line):  # a disk that filled up: the line is torn, and said so (never extended)
        raise AssayKitError(f"the audit entry {seq + 1} was written only in part ({written} of {len(line)} bytes); "
                            "the audit trail's last line is torn: free space, then see `assaykit verify`", path)
    entry["line_sha256"] = line_hash(line[:-1])
    return entry


def verify_lines(lines: Sequence[bytes]) -> list[AuditProblem]:
    """What breaks the chain of ``lines`` (empty: whole): a line that is not a JSON object with
    ``seq`` and ``prev``; a ``seq`` that is not its line number (a line removed, inserted or
    moved before it); a ``prev`` that is not the SHA-256 of the line before (that line edited,
    or a line removed, inserted or moved). Each broken line is named once, in file order."""
    problems: list[AuditProblem] = []
    previous = GENESIS
    for number, line in enumerate(lines, start=1):
        try:
            doc = json.loads(line)
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or not isinstance(doc.get("seq"), int) or not isinstance(doc.get("prev"), str):
            problems.append(AuditProblem(number, "not an audit entry (a JSON object with seq and prev): edited"))
        elif doc["seq"] != number:
            what = ("an entry before it was removed" if doc["seq"] > number
                    else "an entry was inserted before it")
            problems.append(AuditProblem(number, f"seq {doc['seq']} where {number} belongs: {what}, or lines "
                                                 "reordered"))
        elif doc["prev"] != previous:
            problems.append(AuditProblem(number, f"prev does not match the SHA-256 of line {number - 1}: "
                                                 f"line {number - 1} was edited, or a line removed or inserted "
                                                 "there" if number > 1 else
                                                 "the first line's prev is not 64 zeros: entries before it removed"))
        previous = line_hash(line)
    return problems


def verify_audit(out_dir: Path, anchors: Mapping[int, str] | None = None) -> list[AuditProblem]:
    """The problems of ``out_dir``'s audit.jsonl (:func:`verify_lines`), and against ``anchors``
    (seq -> the SHA-256 of that entry's line, as the ledger or a signature recorded it): an
    anchored entry that is missing or whose line differs (an edit of the last line, or lines cut
    off the end, which the chain alone cannot show).

    Parameters
    ----------
    out_dir : Path
        The output folder holding audit.jsonl.
    anchors : mapping or None
        Entry number -> the SHA-256 its line had when recorded elsewhere.
    """
    lines = read_lines(out_dir / AUDIT)
    problems = verify_lines(lines)
    for seq, digest in sorted((anchors or {}).items()):
        if seq > len(lines):
            problems.append(AuditProblem(0, f"entry {seq} (recorded elsewhere) is missing: lines removed from the "
                                            "end"))
        elif line_hash(lines[seq - 1]) != digest:
            problems.append(AuditProblem(seq, "differs from the entry recorded elsewhere (the ledger or a signature):"
                                              " edited"))
    return sorted(set(problems), key=lambda p: (p.line, p.what))
