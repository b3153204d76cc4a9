"""Outputs older than the run they stand for: review changes written after the scoring the
manifest records, or a run.yaml changed since (:func:`stale_outputs`; ``assaykit verify`` names
them, closing a review scores them in)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .audit import AUDIT, CHANGES

REVIEW_CHANGES = CHANGES
"""The audit actions that change what scoring makes of the run (run.yaml's gate_overrides:
written or, by a "revert", removed)."""


@dataclass(frozen=True)
class StaleOutputs:
    """Outputs scored before the run changed: ``changes``, the audit entries (their ``seq``) of
    review changes after the scoring the manifest records, and ``run_yaml``, True when the run
    folder's run.yaml is not the one scored (its SHA-256 differs from the manifest's)."""

    changes: tuple[int, ...]
    run_yaml: bool

    def entries(self) -> str:
        """The changes as "audit entries 5-7" ("audit entry 5"; "run.yaml changed" when none)."""
        if not self.changes:
            return "run.yaml changed"
        first, last = self.changes[0], self.changes[-1]
        return f"audit entry {first}" if first == last else f"audit entries {first}-{last}"

    def __str__(self) -> str:
        if self.changes:
            return f"the outputs were scored before review changes ({self.entries()}): run `assaykit score`"
        return ("the outputs were scored from another run.yaml (its SHA-256 is not the one the manifest records): "
                "run `assaykit score`")


def stale_outputs(out_dir: Path) -> StaleOutputs | None:
    """Whether ``out_dir``'s outputs are older than the run they stand for: audit entries
    "change", "exclude" or "revert" after the scoring (past the number of entries the manifest's
    ``scored_from`` records; a manifest without it: entries written after its ``ended``), or the
    run folder's run.yaml not the one scored (its SHA-256 against ``scored_from``'s). None when
    current (or the manifest records neither, or the run folder is gone).

    Parameters
    ----------
    out_dir : Path
        The output folder of a scored run.
    """
    from ..errors import AssayKitError
    from ..scoring.tables import _sha, read_manifest, recorded_run_dir
    from . import audit as audit_log

    try:
        manifest = read_manifest(out_dir)
    except AssayKitError:
        return None
    if "kind" in manifest or not isinstance(manifest.get("run_dir"), str):
        return None
    recorded_from = manifest.get("scored_from")
    scored: dict[str, Any] = recorded_from if isinstance(recorded_from, dict) else {}
    count = scored.get("audit_entries")
    changes = []
    for doc in audit_log.entries(out_dir / AUDIT):
        seq = doc.get("seq")
        if doc.get("action") not in REVIEW_CHANGES or not isinstance(seq, int):
            continue
        if isinstance(count, int) and not isinstance(count, bool):
            later = seq > count
        else:
            later = str(doc.get("at", "")) > str(manifest.get("ended", ""))
        if later:
            changes.append(seq)
    run_yaml = False
    recorded = scored.get("run_yaml_sha256")
    if isinstance(recorded, str):
        try:
            run_dir = recorded_run_dir(out_dir, manifest)
        except AssayKitError:
            run_dir = None
        if run_dir is not None and run_dir.is_dir():
            run_yaml = _sha(run_dir / "run.yaml") != recorded
    if not changes and not run_yaml:
        return None
    return StaleOutputs(changes=tuple(sorted(changes)), run_yaml=run_yaml)
