"""Bounded reads of the user's input files: a regular file of at most a given size, checked
before a byte is read (never a FIFO, a device or a directory)."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import Any

from ..errors import AssayKitError

CONFIG_LIMIT = 1 << 20  # bytes: run.yaml, strategies, bead lots, QC targets
TABLE_LIMIT = 16 << 20  # bytes: plate maps, clinical tables
WORKSPACE_LIMIT = 256 << 20  # bytes: a FlowJo workspace (its compensation matrices or its gates)
XML_DEPTH = 1024  # elements nested in any XML document read (a FlowJo workspace 256 populations deep: ~520)
_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
         (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
_XML_STARTS = ((b"<\x00?\x00", "utf-16-le"), (b"\x00<\x00?", "utf-16-be"))  # '<?' in UTF-16 without a BOM


OUTPUT_LIMIT = 1 << 30  # bytes: a file assaykit wrote and reads back (a manifest, a table, the figure data)

_KINDS = ((stat.S_ISDIR, "a directory", "a file"), (stat.S_ISFIFO, "a FIFO (named pipe)", "a regular file"),
          (stat.S_ISCHR, "a character device", "a regular file"), (stat.S_ISBLK, "a block device", "a regular file"),
          (stat.S_ISSOCK, "a socket", "a regular file"))


def not_regular(path: str | os.PathLike[str], what: str, links: bool = True) -> str | None:
    """Why the file ``path`` (a ``what``) cannot be read as one, in words (``"run file not found"``,
    ``"run file is a FIFO (named pipe), not a regular file"``, ``"... is a broken symbolic link
    (to '...')"``), or None for a regular file; ``links``: a symbolic link to a regular file is
    read through (False: refused, for the files assaykit wrote itself, which hold none). Named
    what it is, never opened: a FIFO or a device would block or never end."""
    file_path = Path(path)
    try:
        own = file_path.lstat()
    except FileNotFoundError:
        return f"{what} not found"
    except OSError as exc:
        return f"cannot read the {what} ({exc.strerror})"
    linked = stat.S_ISLNK(own.st_mode)
    if linked and not links:
        return f"{what} is a symbolic link (to {_target(file_path)}), which assaykit never writes"
    try:
        info = file_path.stat()
    except FileNotFoundError:
        return f"{what} is a broken symbolic link (to {_target(file_path)}), not a file"
    except OSError as exc:
        return f"cannot read the {what} ({exc.strerror})"
    for test, kind, expected in _KINDS:
        if test(info.st_mode):
            return f"{what} is {kind}{' (through a symbolic link)' if linked else ''}, not {expected}"
    return None


def _target(path: Path) -> str:
    try:
        return repr(os.readlink(path)[:80])
    except OSError:
        return "nothing"


def open_input(path: str | os.PathLike[str], error: type[AssayKitError], what: str,
               links: bool = True) -> io.BufferedReader:
    """The regular file ``path`` opened for reading (binary), refused (``error`` naming the file
    and what it is, :func:`not_regular`) when it is anything else: checked before it is opened,
    opened without blocking (a FIFO swapped in meanwhile is not waited on) and checked again on
    the open file. For inputs read in parts (an FCS file); :func:`read_input` reads whole ones."""
    file_path = Path(path)
    problem = not_regular(file_path, what, links)
    if problem is not None:
        raise error(problem, file_path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | \
        (0 if links else getattr(os, "O_NOFOLLOW", 0))
    try:
        handle: io.BufferedReader = io.BufferedReader(io.FileIO(os.open(file_path, flags), "rb"))
    except OSError as exc:
        raise error(f"cannot read the {what} ({exc.strerror})", file_path) from None
    if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):  # swapped since it was looked at
        handle.close()
        raise error(f"{what} is not a regular file", file_path)
    return handle


def read_input(path: str | os.PathLike[str], error: type[AssayKitError], what: str, limit: int,
               links: bool = True) -> bytes:
    """The bytes of the input file ``path``, refused (``error`` naming the file and what it is,
    :func:`not_regular`) unless it is a regular file of at most ``limit`` bytes, checked before
    reading; ``what`` names the file's kind in messages; ``links``: as for :func:`not_regular`.
    Every input assaykit reads whole, and every output it reads back, is read here."""
    file_path = Path(path)
    with open_input(file_path, error, what, links) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limit:
            raise error(f"{what} is {size:,} bytes, more than the {limit:,} allowed", file_path)
        try:
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
    the file otherwise, its message "not a readable ``shown`` (the parser's reason)". A bare
    document type declaration (``<!DOCTYPE Workspace>``, as FlowJo 9 writes) is read: it declares
    nothing. One with an internal subset (``[...]``: entities, element declarations) or an
    external identifier (``SYSTEM``/``PUBLIC``: a DTD elsewhere) is refused, as every entity
    declaration and external reference is."""
    from defusedxml import ElementTree
    from defusedxml.common import DefusedXmlException, DTDForbidden

    data = read_input(path, error, what, limit)
    try:
        root = _parse_xml(data)
    except DTDForbidden as exc:
        raise error(f"not a readable {shown} (<!DOCTYPE {exc.name[:40]}> with an internal subset or an external "
                    "DTD: declarations and entities are not read)", Path(path)) from None
    except (ElementTree.ParseError, DefusedXmlException, ValueError) as exc:
        raise error(f"not a readable {shown} ({' '.join(str(exc).split())[:80]})", Path(path)) from None
    if not _within_depth(root, XML_DEPTH):
        raise error(f"not a readable {shown} (elements nested more than {XML_DEPTH} deep)", Path(path))
    return root


def _parse_xml(data: bytes) -> Any:
    """``data`` parsed by defusedxml (entities and external references refused), a document type
    declaration accepted only bare: no internal subset, no external identifier."""
    from defusedxml import ElementTree
    from defusedxml.common import DTDForbidden

    parser = ElementTree.DefusedXMLParser(target=ElementTree._TreeBuilder(), forbid_dtd=False,
                                          forbid_entities=True, forbid_external=True)

    def doctype(name: str, sysid: str | None, pubid: str | None, has_internal_subset: bool) -> None:
        if sysid or pubid or has_internal_subset:
            raise DTDForbidden(name, sysid, pubid)

    parser.parser.StartDoctypeDeclHandler = doctype
    parser.feed(data)
    return parser.close()


def _within_depth(root: Any, limit: int) -> bool:
    """Whether no element of the tree under ``root`` lies more than ``limit`` levels deep (walked
    without recursion: the readers after it may recurse)."""
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in element)
    return True


def text_encoding(head: bytes) -> str:
    """The encoding of text beginning with the bytes ``head``: by its byte-order mark (UTF-8,
    UTF-16 or UTF-32), or UTF-16 for XML that begins ``<?`` in UTF-16 without one; else UTF-8.
    The one place a document's encoding is sniffed."""
    for mark, encoding in _BOMS + _XML_STARTS:
        if head.startswith(mark):
            return encoding
    return "utf-8"


def document_kind(path: str | os.PathLike[str]) -> str | None:
    """What the file ``path`` holds, from its first 4 KiB decoded as :func:`text_encoding` says:
    "workspace" (XML with a FlowJo ``<Workspace>``), "gatingml" (XML naming ``Gating-ML``),
    "xml" (other XML) or None (not XML, e.g. YAML, or not a regular file: its reader says why).
    A FIFO or device is never opened."""
    file_path = Path(path)
    try:
        if not stat.S_ISREG(file_path.stat().st_mode):
            return None
        with open(file_path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return None
    encoding = text_encoding(head)
    text = head.decode(encoding, errors="ignore").lstrip("\ufeff \t\r\n")
    if not text.startswith("<"):
        return None
    if "<Workspace" in text:
        return "workspace"
    return "gatingml" if "Gating-ML" in text else "xml"
