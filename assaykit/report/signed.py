"""The signatures of a reviewed run (``signatures.json`` in its output folder, written by
``assaykit review``) as the pages show them: the signature block of index.html, the patient
pages and their PDFs (who, what the signature means, when, which outputs it covers; a
superseded signature shown as such; "not signed" when there is none)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..scoring.tables import MAX_SIGNATURES_BYTES, SIGNATURES, current_signatures, read_signatures

__all__ = ["MAX_SIGNATURES_BYTES", "PAGES", "SIGNATURES", "VOLATILE", "current_signatures", "outputs_digest",
           "read_signatures", "signature_lines", "signed_files"]
PAGES = ("index.html", "patients/", "figures/")
"""The outputs a signature does not cover: the pages, drawn again with the signature block
after signing (they show the signed tables; the tables and figure data are what is signed)."""


def signed_files(listing: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of a manifest's ``files`` listing a signature covers (every file but the
    pages, :data:`PAGES`).

    Parameters
    ----------
    listing : mapping
        The manifest's ``files`` (relative path -> size and sha256).
    """
    return {k: v for k, v in listing.items() if not any(k == p or (p.endswith("/") and k.startswith(p))
                                                         for p in PAGES)}


VOLATILE = {"figure_data.json": ("run_id",)}
"""Signed files holding an id each score draws anew (the run's ``run_id``): signed without it, so a
plain re-score of unchanged inputs makes the same digest and keeps its signatures."""


def outputs_digest(manifest: Mapping[str, Any], folder: Path | None = None) -> str:
    """The SHA-256 a signature records: of the canonical JSON of the signed entries
    (:func:`signed_files`: the tables, figure data, gates and workspace; not the pages, the
    manifest, the audit trail or the signatures) of ``manifest``'s file listing, each as its
    size and SHA-256; a file of :data:`VOLATILE` (figure_data.json) by the SHA-256 of its JSON
    without the run's id, read from ``folder``. The run id and the times are not signed: what is
    signed is the numbers and gates, whenever and however often they were made.

    Parameters
    ----------
    manifest : mapping
        An output folder's manifest.
    folder : Path or None
        The folder holding the files (None: the listing alone, volatile files as listed).
    """
    files = manifest.get("files")
    listing = {k: dict(v) if isinstance(v, Mapping) else v
               for k, v in signed_files(files if isinstance(files, Mapping) else {}).items()}
    for name, keys in VOLATILE.items():
        if folder is not None and isinstance(listing.get(name), dict):
            try:
                doc = json.loads((folder / name).read_bytes())
            except (OSError, ValueError, RecursionError):
                continue
            if isinstance(doc, dict):
                stable = {k: v for k, v in doc.items() if k not in keys}
                listing[name] = {"content_sha256": hashlib.sha256(
                    json.dumps(stable, sort_keys=True, separators=(",", ":")).encode()).hexdigest()}
    return hashlib.sha256(json.dumps({"files": listing}, sort_keys=True, separators=(",", ":")).encode()).hexdigest()




def signature_lines(signatures: list[dict[str, Any]], manifest: Mapping[str, Any] | None = None,
                    folder: Path | None = None) -> list[str]:
    """One line per signature for the pages, newest first: ``Approved by NAME, 2026-12-05
    23:59 UTC, outputs SHA-256 0123456789ab...`` (``(signed in NAME's session)`` when the review
    session was another person's; a "reviewed" one: ``(viewed 47 of 48 tubes)``,
    the tubes its review opened; ``(superseded: version N kept)`` after a
    superseded one; ``(DOES NOT HOLD: ...)`` after one not superseded whose digest is not that of
    the outputs ``manifest`` lists in ``folder``: never a signature shown over tables nobody
    signed); ``["Not signed"]`` when there is none.

    Parameters
    ----------
    signatures : list of dict
        signatures.json's signatures.
    manifest : mapping or None
        The output folder's manifest (None, or one without its file listing: not compared).
    folder : Path or None
        The output folder.
    """
    if not signatures:
        return ["Not signed"]
    digest = outputs_digest(manifest, folder) if manifest and isinstance(manifest.get("files"), Mapping) else None
    lines = []
    for s in reversed(signatures):
        when = str(s.get("at", "")).replace("T", " ").replace("+00:00", " UTC")
        line = (f"{str(s.get('meaning', '')).capitalize()} by {s.get('name', '')}, {when}, "
                f"outputs SHA-256 {str(s.get('outputs_sha256', ''))[:12]}...")
        session = s.get("session_reviewer")
        if isinstance(session, str) and session and session != s.get("name"):  # signed in another's review session
            line += f" (signed in {session}'s session)"
        if isinstance(s.get("tubes_viewed"), int) and isinstance(s.get("tubes_total"), int):  # a "reviewed" one
            line += f" (viewed {s['tubes_viewed']} of {s['tubes_total']} tubes)"
        if s.get("status") == "superseded":
            line += f" (superseded: version {s.get('version', '?')} kept)"
        elif digest is not None and s.get("outputs_sha256") != digest:
            line += " (DOES NOT HOLD: these outputs are not the ones signed)"
        lines.append(line)
    return lines
