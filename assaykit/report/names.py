"""Safe, unique file names for patient pages. A patient ID comes from a plate map and may hold
``/``, ``..``, spaces, markup or a Windows device name: the page name keeps letters, digits, ``-``
and ``_`` only, and gets a short hash of the full ID whenever it had to change anything or would
clash (case-insensitively, for macOS and Windows file systems) with another patient's name
(the rule: :func:`assaykit._io.names.safe_stems`, shared with the per-tube gate files)."""

from __future__ import annotations

from .._io.names import safe_stems


def page_names(patients: list[str]) -> dict[str, str]:
    """Patient ID -> page stem (no extension), unique across ``patients``; deterministic."""
    return safe_stems(patients, "patient")
