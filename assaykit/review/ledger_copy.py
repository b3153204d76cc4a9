"""Each audit entry copied to the ledger (table ``audit``, migration 0004) beside audit.jsonl:
an independent record of the chain, so an edit of the last line, or lines cut off the end,
which the chain alone cannot show, is found by ``assaykit verify``. A ledger fault never loses
the file's entry: it is said (:attr:`assaykit.review.Review.ledger_problem`) and the review goes on."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .session import Review


def ledger_target(out_dir: Path) -> str | None:
    """The ledger the run in ``out_dir`` was recorded in (its manifest's ``ledger.location``),
    None when none: where the review copies its entries. ``assaykit verify`` never reads it (an
    editable field): it checks against :func:`checked_ledger`.

    Parameters
    ----------
    out_dir : Path
        The output folder.
    """
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


_MISSED: weakref.WeakKeyDictionary[Any, list[dict[str, Any]]] = weakref.WeakKeyDictionary()


def missed_entries(review: Review) -> list[int]:
    """The numbers of ``review``'s audit entries its ledger has not taken yet (a ledger fault
    when each was written); the review records them in its next entry's ``ledger_missed``, so
    ``assaykit verify`` tells an entry written while the ledger was unreachable from one added
    outside a review.

    Parameters
    ----------
    review : Review
        The open review.
    """
    return [int(e["seq"]) for e in _MISSED.get(review, [])]


def copy_entry(review: Review, entry: dict[str, Any]) -> str:
    """Copy one audit ``entry`` (as appended, with its ``line_sha256``) of ``review`` into its
    run's ledger, after the entries of this review a ledger fault kept out before (tried again
    each time); "" when copied or when the run has no ledger, else why not (one line).

    Parameters
    ----------
    review : Review
        The open review.
    entry : dict
        The entry as :func:`.audit.append` returned it.
    """
    pending = [*_MISSED.get(review, []), entry]
    problem = copy_entries(review.out_dir, review.run_dir, pending)
    if problem:
        _MISSED[review] = pending
        return problem
    _MISSED.pop(review, None)
    return ""


def copy_entries(out_dir: Path, run_dir: Path, entries: list[dict[str, Any]]) -> str:
    """Copy audit ``entries`` (as appended, with their ``line_sha256``) of ``out_dir``'s trail
    into the ledger its run was recorded in (:func:`ledger_target`): by a review
    (:func:`copy_entry`) or by ``assaykit score`` superseding signatures. "" when copied or when
    the run has no ledger, else why not (one line).

    Parameters
    ----------
    out_dir : Path
        The output folder.
    run_dir : Path
        The run folder.
    entries : list of dict
        The entries, in order.
    """
    from ..errors import AssayKitError
    from ..ledger import open_ledger

    target = ledger_target(out_dir)
    if target is None or not entries:
        return ""
    try:
        with open_ledger(target) as ledger:
            key = trail_key(out_dir)  # the trail's first line: never the output folder's path
            for item in entries:
                ledger.add_audit(out_dir=key or "", run_key=str(Path(run_dir).resolve()), entry=item)
    except (AssayKitError, OSError) as error:
        return f"the audit entry {entries[-1].get('seq')} was not copied to the ledger ({error}); audit.jsonl holds it"
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
    target = checked_ledger(out_dir)
    if target is None:
        return {}, f"no ledger was checked (--ledger none); {alone}"
    if "://" not in target and not Path(target).exists():
        return {}, f"the ledger {target} is not there; {alone}"
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

    target = checked_ledger(out_dir)
    if target is None or ("://" not in target and not Path(target).exists()):
        return []
    try:
        with open_ledger(target, migrate=False) as ledger:  # read as it is: verify never changes a ledger
            if (ledger.revision() or "") < "0004":
                return []
            return [row for action in actions for row in ledger.audit_lines(action)]
    except (AssayKitError, OSError):
        return []


# --- what verify checks against the ledger (D3-D5): the ledger found without the manifest ---------

_OPTION: ContextVar[str | None] = ContextVar("assaykit_verify_ledger", default=None)

LedgerCode = Literal["unreachable", "not_recorded", "not_in_ledger", "missed_in_fault", "unseen_trail", "lost_trail"]


def checked_ledger(out_dir: Path, option: str | None = None) -> str | None:
    """The ledger ``assaykit verify`` checks ``out_dir`` against, found as ``assaykit score``
    finds it when none is named (:func:`assaykit.scoring.history.ledger_target`): ``option``
    (``--ledger``; else the one :func:`checking_against` set), else ``ASSAYKIT_LEDGER``, else
    ``assaykit-ledger.sqlite`` beside the output folder. Never the manifest's
    ``ledger.location``, which anyone who can write the folder can edit. None: ``none``.

    Parameters
    ----------
    out_dir : Path
        The output folder.
    option : str or None
        ``--ledger`` (a file path or a ``postgresql://`` URL; ``none``: no ledger).
    """
    from ..scoring.history import ledger_target as score_target

    return score_target(option if option is not None else _OPTION.get(), out_dir, True, create=False)


@contextmanager
def checking_against(option: str | None) -> Iterator[None]:
    """Within the block, :func:`checked_ledger` (and every check reading the ledger) uses
    ``option`` (``--ledger``; None: as ``assaykit score`` finds it).

    Parameters
    ----------
    option : str or None
        ``--ledger``.
    """
    token = _OPTION.set(option)
    try:
        yield
    finally:
        _OPTION.reset(token)


@dataclass(frozen=True)
class LedgerProblem:
    """What the ledger (:func:`checked_ledger`) says of the folder's review records: ``code``
    ("unreachable": the ledger cannot be read; "not_recorded": it holds no record of the run;
    "not_in_ledger": audit entries ``seqs`` are not in its copy, added outside a review;
    "missed_in_fault": entries ``seqs`` are not in its copy and the trail records the ledger
    was unreachable when they were written; "unseen_trail": it recorded the run but never saw
    the folder's trail; "lost_trail": it holds a trail of this run, or signatures of these very
    outputs, and the folder has no audit.jsonl), ``target`` (the ledger, as shown), ``seqs``,
    ``detail`` and ``fatal`` (a problem; else a note: the folder makes no claim the ledger must
    bear out)."""

    code: LedgerCode
    target: str
    fatal: bool
    seqs: tuple[int, ...] = ()
    detail: str = ""

    def __str__(self) -> str:
        span = _span(self.seqs)
        if self.code == "unreachable":
            head = "cannot confirm the signatures: " if self.fatal else "audit trail not compared with the ledger: "
            return f"{head}ledger {self.target} unreachable ({self.detail})"
        if self.code == "not_recorded":
            head = "cannot confirm the signatures: " if self.fatal else "audit trail not compared with the ledger: "
            return (f"{head}the ledger {self.target} holds no record of this run (scored with another ledger? "
                    "name it with --ledger)")
        if self.code == "not_in_ledger":
            return f"audit entries {span} are not in the ledger {self.target}: added outside a review"
        if self.code == "missed_in_fault":
            return (f"audit entries {span} are not in the ledger {self.target}; the trail records it was unreachable "
                    f"when they were written ({self.detail}): the ledger cannot confirm them")
        if self.code == "unseen_trail":
            return (f"the ledger {self.target} recorded this run but never saw its audit trail (entries {span}): "
                    "written outside a review")
        return (f"the ledger {self.target} holds {self.detail}, but the folder has no audit.jsonl: its review records "
                "were removed (or this folder is an older scoring of a run reviewed elsewhere)")


def _span(seqs: tuple[int, ...]) -> str:
    """``seqs`` as ranges: (8,) -> "8-8", (3, 4, 5, 9) -> "3-5, 9-9"."""
    out: list[str] = []
    for seq in sorted(seqs):
        if out and int(out[-1].split("-")[1]) == seq - 1:
            out[-1] = f"{out[-1].split('-')[0]}-{seq}"
        else:
            out.append(f"{seq}-{seq}")
    return ", ".join(out)


def _read(target: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """The runs and audit rows ``target`` holds, and why it could not be read ("" when it was);
    opened as it is (verify never changes a ledger, nor makes one)."""
    from ..errors import AssayKitError
    from ..ledger import open_ledger

    if "://" not in target and not Path(target).is_file():
        return [], [], "not there"
    try:
        with open_ledger(target, migrate=False) as ledger:
            if (ledger.revision() or "") < "0004":
                return [], [], "its schema predates the audit copy: `assaykit ledger migrate`"
            return ledger.runs(), ledger.audit_rows(), ""
    except (AssayKitError, OSError) as error:
        return [], [], str(getattr(error, "message", error))[:200]


def ledger_problems(out_dir: Path) -> list[LedgerProblem]:
    """The folder's review records against the ledger :func:`checked_ledger` finds (never the
    manifest's ``ledger.location``), the run found in it by its run folder (the manifest's
    ``run_dir`` and the trail's "open" entries), its run id and what its signatures signed (the
    outputs' digest, which no run id edit changes):

    * the ledger cannot be read, or holds no record of the run: a problem when the folder is
      signed (its signatures cannot be confirmed), else a note;
    * the folder has an audit trail: each entry the ledger's copy lacks is named ("not_in_ledger"),
      unless a later entry's ``ledger_missed`` records the ledger was unreachable when it was
      written (a note); a trail the ledger never saw of a run it recorded is "unseen_trail";
    * the folder has none: a trail the ledger holds of this run folder, or a signature of these
      very outputs, is "lost_trail" -- unless the folder is the run's latest scoring (its run id
      the ledger's) and no signature there names it (the folder deleted and scored again).

    Edited or cut-off entries are :func:`.audit.verify_audit`'s, against :func:`ledger_anchors`.

    Parameters
    ----------
    out_dir : Path
        The output folder.
    """
    from ..errors import AssayKitError
    from ..report.signed import SIGNATURES, outputs_digest
    from ..scoring.tables import read_manifest
    from . import audit as audit_log

    target = checked_ledger(out_dir)
    try:
        manifest = read_manifest(out_dir)
    except AssayKitError:
        return []  # verify_outputs names it
    docs = audit_log.entries(out_dir / audit_log.AUDIT) if (out_dir / audit_log.AUDIT).exists() else []
    signed = (out_dir / SIGNATURES).exists() or any(d.get("action") == "sign" for d in docs)
    shown = target or "none"
    if target is None:
        return [LedgerProblem(code="unreachable", target=shown, fatal=signed, detail="--ledger none")] \
            if docs or signed else []
    from ..ledger.faults import masked

    shown = masked(target)
    runs, rows, why = _read(target)
    if why:
        return [LedgerProblem(code="unreachable", target=shown, fatal=signed, detail=why)] if docs or signed else []
    run_keys = {_resolved(manifest.get("run_dir"))} | {_resolved(d.get("run_dir")) for d in docs
                                                      if d.get("action") == "open"}
    run_keys.discard("")
    run_id = manifest.get("run_id") if isinstance(manifest.get("run_id"), str) else ""
    latest = {str(r.get("run_key")): str(r.get("run_uid")) for r in runs}
    recorded = any(k in latest for k in run_keys) or (bool(run_id) and run_id in latest.values()) or \
        any(r["run_key"] in run_keys for r in rows)
    own = trail_key(out_dir)
    if own is None:
        if signed:  # signatures.json without a trail: verify_review names the missing trail itself
            return []
        digest = outputs_digest(manifest, out_dir)
        trails: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            trails.setdefault(r["trail"], []).append(r)
        lost = []
        for key, trail in trails.items():
            signs = [_doc(r["line"]) for r in trail if r["action"] == "sign"]
            this_run = {r["run_key"] for r in trail} & run_keys
            these = [s for s in signs if s.get("outputs_sha256") == digest or (run_id and s.get("run_id") == run_id)]
            if not this_run and not these:
                continue
            names_us = any(run_id and s.get("run_id") == run_id for s in signs)
            if names_us:
                continue  # signatures of this very run id: ledger_traces names them, each on its line
            if bool(run_id) and any(latest.get(k) == run_id for k in this_run):
                continue  # the run's latest scoring, not reviewed yet; the trail is an earlier scoring's
            who = ", ".join(sorted({f"{s.get('meaning', '')} by {s.get('reviewer', '')}" for s in these or signs}))
            lost.append(f"an audit trail of this run ({len(trail)} entries, {key[len('audit:'):][:12]}"
                        + (f"; signed {who}" if who else "") + ")")
        return [LedgerProblem(code="lost_trail", target=shown, fatal=True, detail="; ".join(lost))] if lost else []
    held = {r["seq"] for r in rows if r["trail"] == own}
    seqs = [d["seq"] for d in docs if isinstance(d.get("seq"), int) and not isinstance(d.get("seq"), bool)]
    if not held:
        if recorded:
            return [LedgerProblem(code="unseen_trail", target=shown, fatal=True, seqs=tuple(seqs))]
        return [LedgerProblem(code="not_recorded", target=shown, fatal=signed)]
    excused: dict[int, int] = {}
    for d in docs:
        missed = d.get("ledger_missed")
        if isinstance(missed, list) and isinstance(d.get("seq"), int):
            excused.update({m: d["seq"] for m in missed if isinstance(m, int) and m < d["seq"]})
    absent = [s for s in seqs if s not in held]
    out = []
    if [s for s in absent if s not in excused]:
        out.append(LedgerProblem(code="not_in_ledger", target=shown, fatal=True,
                                 seqs=tuple(s for s in absent if s not in excused)))
    if [s for s in absent if s in excused]:
        out.append(LedgerProblem(code="missed_in_fault", target=shown, fatal=False,
                                 seqs=tuple(s for s in absent if s in excused),
                                 detail="entries " + ", ".join(str(excused[s]) for s in absent if s in excused)))
    return out


def _resolved(value: object) -> str:
    """A run folder as the ledger keys it (resolved), "" for none."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        return str(Path(value).resolve())
    except (OSError, RuntimeError, ValueError):
        return ""


def _doc(line: str) -> dict[str, Any]:
    """A ledger-held audit line as a mapping ({} when it is not one)."""
    import json

    try:
        doc = json.loads(line)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}
