"""File names and spreadsheet cells made from user text: safe, unique file stems (patient pages,
per-tube gate files) and cells that a spreadsheet will not run as formulas."""

from __future__ import annotations

import hashlib
import re

_WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}
MAX_STEM = 48


def safe_stems(names: list[str], fallback: str) -> dict[str, str]:
    """Name -> a file stem (no extension) safe on every file system, unique across ``names``
    (case-insensitively), deterministic: letters, digits, ``-`` and ``_`` only (``fallback`` when
    nothing is left), with a short hash of the full name whenever anything had to change or
    would clash, or the stem is a Windows device name."""
    stems: dict[str, str] = {}
    used: set[str] = set()
    for name in sorted(set(names)):
        stem = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-_")[:MAX_STEM] or fallback
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()
        if stem != name or stem.upper() in _WINDOWS_DEVICES or stem.lower() in used:
            stem = f"{stem}-{digest[:8]}"
        k = 8
        while stem.lower() in used:  # a hash prefix clash: lengthen it
            k += 4
            stem = f"{stem.rsplit('-', 1)[0]}-{digest[:k]}"
        used.add(stem.lower())
        stems[name] = stem
    return stems


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def neutralise(text: str) -> str:
    """``text`` safe in a spreadsheet cell: a leading ``'`` before a text that begins with ``=``,
    ``+``, ``-``, ``@``, tab or carriage return (a formula to LibreOffice and Excel), or with ``'``
    itself (so that :func:`restore` is exact)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def restore(text: str) -> str:
    """The text :func:`neutralise` was given."""
    return text[1:] if text.startswith("'") else text
