"""Each audit entry copied to the ledger (table ``audit``, migration 0004) beside audit.jsonl:
an independent record of the chain, so an edit of the last line, or lines cut off the end,
which the chain alone cannot show, is found by ``assaykit verify``. A ledger fault never loses
the file's entry: it is said (:attr:`assaykit.review.Review.ledger_problem`) and the review goes on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

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


def trail_key(out_dir: Path) -> str | None:
    """What the ledger keys ``out_dir``'s audit trail by: ``audit:`` and the SHA-256 of its first
    line (the trail's own, carried across re-scores and moves; a new trail in a reused output
    folder has another), None when the folder has no audit trail.

    Parameters
    ----------
    out_dir : Path
        The output folder.
    """
    from . import audit as audit_log

    lines = audit_log.read_lines(out_dir / audit_log.AUDIT)
    return f"audit:{audit_log.line_hash(lines[0])}" if lines else None


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
            key = trail_key(review.out_dir)  # the trail's first line: never the output folder's path
            ledger.add_audit(out_dir=key or "", run_key=str(review.run_dir.resolve()), entry=entry)
    except (AssayKitError, OSError) as error:
        return f"the audit entry {entry.get('seq')} was not copied to the ledger ({error}); audit.jsonl holds it"
    return ""


def ledger_anchors(out_dir: Path) -> tuple[dict[int, str], str]:
    """Audit entry number -> its line's SHA-256 as the ledger holds them for ``out_dir``'s audit
    trail (:func:`trail_key`), and why the ledger could not be consulted ("" when it was): the run
    records no ledger, the ledger is not there, it cannot be read, or it holds no copy of this
    trail (then the chain alone was checked: lines cut off its end cannot be told).

    Parameters
    ----------
    out_dir : Path
        The output folder.
    """
    from ..errors import AssayKitError
    from ..ledger import open_ledger

    alone = "the audit trail was checked by its chain alone (an edit of its last line or lines cut off its end " \
            "cannot be told)"
    target = ledger_target(out_dir)
    if target is None:
        return {}, f"the run records no ledger; {alone}"
    if "://" not in target and not Path(target).exists():
        return {}, f"the ledger {target} the run was recorded in is not there; {alone}"
    key = trail_key(out_dir)
    if key is None:
        return {}, ""
    try:
        with open_ledger(target, migrate=False) as ledger:  # read as it is: verify never changes a ledger
            held = ledger.audit_hashes(key) if (ledger.revision() or "") >= "0004" else {}
    except (AssayKitError, OSError) as error:
        return {}, f"the ledger could not be read ({error}); {alone}"
    if not held:
        return {}, f"the ledger {target} holds no copy of this audit trail; {alone}"
    return held, ""


@dataclass(frozen=True)
class LedgerTrace:
    """A signature of this very scoring (the manifest's ``run_id``) that the run's ledger holds
    in an audit trail the output folder does not have: ``seq`` (its entry number there),
    ``meaning``, ``reviewer``, and ``code`` ("no_trail": the folder has no audit.jsonl;
    "other_trail": its audit.jsonl is another trail than the one that signed)."""

    seq: int
    meaning: str
    reviewer: str
    code: Literal["no_trail", "other_trail"]

    def __str__(self) -> str:
        what = ("the folder has no audit.jsonl (removed, or a copy made before the review)" if self.code == "no_trail"
                else "the folder's audit.jsonl is another trail (replaced)")
        return (f"the ledger records this run's outputs {self.meaning} by {self.reviewer} (audit entry {self.seq} "
                f"of its copy of the audit trail), but {what}")


def ledger_traces(out_dir: Path) -> list[LedgerTrace]:
    """The signatures the run's ledger holds of the scoring in ``out_dir`` (its "sign" audit
    entries naming the manifest's ``run_id``, which each score draws anew: a folder deleted and
    scored again has another and is never matched) that are not in the folder's own audit trail
    (:func:`trail_key`): its review records were removed or replaced. Empty when the run records
    no ledger, the ledger cannot be read (:func:`ledger_anchors` says so) or holds none.

    Parameters
    ----------
    out_dir : Path
        The output folder.
    """
    import json

    from ..errors import AssayKitError
    from ..scoring.tables import read_manifest

    try:
        run_id = read_manifest(out_dir).get("run_id")
    except AssayKitError:
        return []
    if not isinstance(run_id, str) or not run_id:
        return []
    signs = ledger_audit_lines(out_dir, ("sign",))
    own = trail_key(out_dir)
    out = []
    for key, seq, line in signs:
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get("run_id") == run_id and key != own:
            out.append(LedgerTrace(seq=seq, meaning=str(doc.get("meaning", "")), reviewer=str(doc.get("reviewer", "")),
                                   code="no_trail" if own is None else "other_trail"))
    return out


def ledger_audit_lines(out_dir: Path, actions: tuple[str, ...]) -> list[tuple[str, int, str]]:
    """(trail key, entry number, line) of the audit entries of ``actions`` the ledger the run in
    ``out_dir`` was recorded in holds, every trail's ([] when it records none, or it cannot be read).

    Parameters
    ----------
    out_dir : Path
        The output folder.
    actions : tuple of str
        The entries' actions ("change", "exclude", "sign" ...).
    """
    from ..errors import AssayKitError
    from ..ledger import open_ledger

    target = ledger_target(out_dir)
    if target is None or ("://" not in target and not Path(target).exists()):
        return []
    try:
        with open_ledger(target, migrate=False) as ledger:  # read as it is: verify never changes a ledger
            if (ledger.revision() or "") < "0004":
                return []
            return [row for action in actions for row in ledger.audit_lines(action)]
    except (AssayKitError, OSError):
        return []
