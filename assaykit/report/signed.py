"""The signatures of a reviewed run (``signatures.json`` in its output folder, written by
``assaykit review``) as the pages show them: the signature block of index.html, the patient
pages and their PDFs (who, what the signature means, when, which outputs it covers; a
superseded signature shown as such; "not signed" when there is none)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SIGNATURES = "signatures.json"
MAX_SIGNATURES_BYTES = 4 * 1024 * 1024


def read_signatures(folder: Path) -> list[dict[str, Any]]:
    """The signatures recorded in ``folder``/signatures.json, oldest first ([] when there is
    none, or it cannot be read: the pages then say "not signed" and ``assaykit verify`` names
    the problem)."""
    from .._io.read import read_input
    from ..errors import AssayKitError

    path = folder / SIGNATURES
    if not os.path.lexists(path):
        return []
    try:
        doc = json.loads(read_input(path, AssayKitError, "signatures", MAX_SIGNATURES_BYTES, links=False))
    except (AssayKitError, ValueError, RecursionError):
        return []
    found = doc.get("signatures") if isinstance(doc, dict) else None
    return [s for s in found if isinstance(s, dict)] if isinstance(found, list) else []


def signature_lines(signatures: list[dict[str, Any]]) -> list[str]:
    """One line per signature for the pages, newest first: ``Approved by NAME, 2026-12-05
    23:59 UTC, outputs SHA-256 0123456789ab...`` (``(superseded: version N kept)`` after a
    superseded one); ``["Not signed"]`` when there is none."""
    if not signatures:
        return ["Not signed"]
    lines = []
    for s in reversed(signatures):
        when = str(s.get("at", "")).replace("T", " ").replace("+00:00", " UTC")
        line = (f"{str(s.get('meaning', '')).capitalize()} by {s.get('name', '')}, {when}, "
                f"outputs SHA-256 {str(s.get('outputs_sha256', ''))[:12]}...")
        if s.get("status") == "superseded":
            line += f" (superseded: version {s.get('version', '?')} kept)"
        lines.append(line)
    return lines
