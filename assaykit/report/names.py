"""Safe, unique file names for patient pages. A patient ID comes from a plate map and may hold
``/``, ``..``, spaces, markup or a Windows device name: the page name keeps letters, digits, ``-``
and ``_`` only, and gets a short hash of the full ID whenever it had to change anything or would
clash (case-insensitively, for macOS and Windows file systems) with another patient's name."""

from __future__ import annotations

import hashlib
import re

_WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}
MAX_LENGTH = 48


def page_names(patients: list[str]) -> dict[str, str]:
    """Patient ID -> page stem (no extension), unique across ``patients``; deterministic."""
    names: dict[str, str] = {}
    used: set[str] = set()
    for patient in sorted(set(patients)):
        stem = re.sub(r"[^A-Za-z0-9_-]+", "-", patient).strip("-_")[:MAX_LENGTH] or "patient"
        digest = hashlib.sha256(patient.encode("utf-8")).hexdigest()
        if stem != patient or stem.upper() in _WINDOWS_DEVICES or stem.lower() in used:
            stem = f"{stem}-{digest[:8]}"
        k = 8
        while stem.lower() in used:  # a hash prefix clash: lengthen it
            k += 4
            stem = f"{stem.rsplit('-', 1)[0]}-{digest[:k]}"
        used.add(stem.lower())
        names[patient] = stem
    return names
