"""Bounded reads of the user's input files: a regular file of at most a given size, checked
before a byte is read (never a FIFO, a device or a directory)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from ..errors import AssayKitError

CONFIG_LIMIT = 1 << 20  # bytes: run.yaml, strategies, bead lots, QC targets
TABLE_LIMIT = 16 << 20  # bytes: plate maps, clinical tables
WORKSPACE_LIMIT = 256 << 20  # bytes: a FlowJo workspace (its compensation matrices or its gates)


def read_input(path: str | os.PathLike[str], error: type[AssayKitError], what: str, limit: int) -> bytes:
    """The bytes of the input file ``path``, refused (``error`` naming the file) unless it is a
    regular file (not a directory, FIFO or device) of at most ``limit`` bytes, checked before
    reading; ``what`` names the file's kind in messages."""
    file_path = Path(path)
    try:
        info = file_path.stat()
    except FileNotFoundError:
        raise error(f"{what} not found", file_path) from None
    except OSError as exc:
        raise error(f"cannot read the {what} ({exc.strerror})", file_path) from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{what} is a directory, not a file", file_path)
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{what} is not a regular file (a FIFO, socket or device)", file_path)
    if info.st_size > limit:
        raise error(f"{what} is {info.st_size:,} bytes, more than the {limit:,} allowed", file_path)
    try:
        with open(file_path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise error(f"cannot read the {what} ({exc.strerror})", file_path) from None
    if len(data) > limit:  # it grew while being read
        raise error(f"{what} is more than the {limit:,} bytes allowed", file_path)
    return data


def read_xml(path: str | os.PathLike[str], error: type[AssayKitError], what: str, limit: int,
             shown: str = "XML document") -> Any:
    """The root element of the XML file ``path`` (a ``what``, read by :func:`read_input` within
    ``limit`` bytes), parsed without a DTD, entity expansion or network access; ``error`` naming
    the file otherwise, its message "not a readable ``shown`` (the parser's reason)"."""
    from defusedxml import ElementTree
    from defusedxml.common import DefusedXmlException

    data = read_input(path, error, what, limit)
    try:
        return ElementTree.fromstring(data, forbid_dtd=True)
    except (ElementTree.ParseError, DefusedXmlException, ValueError) as exc:
        raise error(f"not a readable {shown} ({str(exc)[:80]})", Path(path)) from None
