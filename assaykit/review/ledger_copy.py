"""Each audit entry copied to the ledger (table ``audit``, migration 0004) beside audit.jsonl:
an independent record of the chain, so an edit of the last line, or lines cut off the end,
which the chain alone cannot show, is found by ``assaykit verify``. A ledger fault never loses
the file's entry: it is said (:attr:`assaykit.review.Review.ledger_problem`) and the review goes on."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .session import Review


def ledger_target(out_dir: Path) -> str | None:
    """The ledger the run in ``out_dir`` was recorded in (its manifest's ``ledger.location``),
    None when none."""
    from ..errors import AssayKitError
    from ..scoring.tables import read_manifest

    try:
        location = (read_manifest(out_dir).get("ledger") or {}).get("location")
    except (AssayKitError, AttributeError):
        return None
    return location if isinstance(location, str) and location and location.lower() != "none" else None


def copy_entry(review: Review, entry: dict[str, Any]) -> str:
    """Copy one audit ``entry`` (as appended, with its ``line_sha256``) of ``review`` into its
    run's ledger; "" when copied or when the run has no ledger, else why not (one line)."""
    from ..errors import AssayKitError
    from ..ledger import open_ledger

    target = ledger_target(review.out_dir)
    if target is None:
        return ""
    try:
        with open_ledger(target) as ledger:
            ledger.add_audit(out_dir=str(review.out_dir.resolve()), run_key=str(review.run_dir.resolve()),
                             entry=entry)
    except (AssayKitError, OSError) as error:
        return f"the audit entry {entry.get('seq')} was not copied to the ledger ({error}); audit.jsonl holds it"
    return ""


def ledger_anchors(out_dir: Path) -> tuple[dict[int, str], str]:
    """Audit entry number -> its line's SHA-256 as the ledger holds them for ``out_dir``, and
    why the ledger could not be read ("" when it was, or the run has none)."""
    from ..errors import AssayKitError
    from ..ledger import open_ledger

    target = ledger_target(out_dir)
    if target is None or ("://" not in target and not Path(target).exists()):
        return {}, ""
    try:
        with open_ledger(target, migrate=False) as ledger:  # read as it is: verify never changes a ledger
            if (ledger.revision() or "") < "0004":
                return {}, ""  # no review was ever copied into it
            return ledger.audit_hashes(str(out_dir.resolve())), ""
    except (AssayKitError, OSError) as error:
        return {}, f"the ledger could not be read ({error})"
