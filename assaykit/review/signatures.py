"""Signatures of a reviewed run: "reviewed" and "approved" (name, OS user, meaning, UTC time,
the SHA-256 of the outputs signed, the audit entry), kept in ``signatures.json`` beside the
audit trail. Before signing, the run is re-scored through :func:`assaykit.scoring.score_run`,
so the signed tables are exactly what ``score`` makes of the reviewed run.yaml. A change after a
signature makes a new version: the signed tables are kept under ``versions/<n>/`` and the
signature is marked superseded (kept, still verifiable there)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._io.atomic import write_atomic
from ..errors import AssayKitError
from ..report.signed import SIGNATURES, current_signatures, outputs_digest, read_signatures, signed_files
from . import audit as audit_log

if TYPE_CHECKING:
    from .session import Review

MEANINGS = ("reviewed", "approved")
VERSIONS = "versions"
def _write(out_dir: Path, signatures: list[dict[str, Any]]) -> None:
    write_atomic(out_dir / SIGNATURES, (json.dumps({"signatures": signatures}, indent=1) + "\n").encode())


def current_version(out_dir: Path) -> int:
    """The number of the outputs' current version: 1, plus one for each version kept.

    Parameters
    ----------
    out_dir : Path
        The output folder.
    """
    folder = out_dir / VERSIONS
    kept = [p for p in folder.iterdir() if p.is_dir() and p.name.isdigit()] if folder.is_dir() else []
    return 1 + max((int(p.name) for p in kept), default=0)


def supersede_if_signed(review: Review, name: str) -> int | None:
    """Before a change to a signed run: keep its signed outputs (manifest, tables, figure data,
    gates) under ``versions/<n>/``, mark its signatures superseded (kept) and record "supersede"
    in the audit. Returns the version kept (None when nothing was signed).

    Parameters
    ----------
    review : Review
        The open review.
    name : str
        Who makes the change.
    """
    out_dir = review.out_dir
    signatures = read_signatures(out_dir)
    current = [s for s in signatures if s.get("status") != "superseded"]
    if not current:
        return None
    version = current_version(out_dir)
    _keep_version(out_dir, version)
    entry = review._audit("supersede", name, version=version, kept_in=f"{VERSIONS}/{version}",
                          signatures=[s.get("n") for s in current])
    try:
        _mark_superseded(out_dir, signatures, current, version, entry)
    except BaseException:
        _failed(out_dir, lambda **f: review._audit("unfinished", name, **f))
        raise
    return version


def _failed(out_dir: Path, append: Callable[..., Mapping[str, Any]]) -> None:
    """After a failure writing signatures.json: the step left half done recorded (never hiding
    the failure itself)."""
    with contextlib.suppress(Exception):
        record_unfinished(out_dir, append, f"{SIGNATURES} could not be written")


def _keep_version(out_dir: Path, version: int) -> Path:
    """The signed files (and manifest) of ``out_dir`` copied to ``versions/<version>/``."""
    from ..scoring.tables import MANIFEST, read_manifest

    manifest = read_manifest(out_dir)
    kept = out_dir / VERSIONS / str(version)
    if kept.exists():
        shutil.rmtree(kept)  # a version left half-copied by a killed review (its signatures not yet marked)
    for rel in sorted(signed_files(manifest.get("files") or {})):
        write_atomic(kept / rel, (out_dir / rel).read_bytes())
    write_atomic(kept / MANIFEST, (out_dir / MANIFEST).read_bytes())
    return kept


def _mark_superseded(out_dir: Path, signatures: list[dict[str, Any]], current: list[dict[str, Any]], version: int,
                     entry: Mapping[str, Any]) -> None:
    for s in current:
        s.update(status="superseded", superseded_at=entry["at"], superseded_by=entry["seq"],
                 kept_in=f"{VERSIONS}/{version}")
    _write(out_dir, signatures)
    from ..report import build_reports

    build_reports(out_dir)  # the pages say at once that their signatures are superseded


@contextlib.contextmanager
def rescoring_signed(out_dir: Path, run_dir: Path, *, said: Callable[[str], Any] | None = None,
                     held: bool = False) -> Iterator[bool]:
    """Around ``assaykit score`` replacing the output folder ``out_dir`` of ``run_dir``: when it
    holds signatures not superseded, the run's review lock is taken (ReviewBusy, nothing scored,
    while a review holds it), the signed files kept under ``versions/<n>/`` first; after the
    re-score, outputs whose digest is the one signed keep their signatures (the kept copy
    removed), other outputs supersede them (audit entry "supersede" naming the re-score, the
    pages drawn again saying so). A score that fails leaves the signed outputs as they were.
    Yields True when it keeps a signed version (the score inside then passes
    ``replace_signed=True`` to :func:`assaykit.scoring.score_run`, which refuses a signed folder
    otherwise), False when the folder holds no current signature.

    Parameters
    ----------
    out_dir : Path
        The output folder score replaces.
    run_dir : Path
        The run folder scored.
    said : callable or None
        Called with one line when the signatures are superseded ("signatures 1, 2 superseded
        (version 1 kept under versions/1): review and sign again"); None: not said.
    held : bool
        The caller holds the run's review lock already (a review closing: :meth:`Review.close`).
    """
    from .lock import acquire

    signatures = read_signatures(out_dir) if out_dir.is_dir() else []
    current = [s for s in signatures if s.get("status") != "superseded"]
    if not current:
        yield False
        return
    lock = None if held else acquire(out_dir)
    try:
        version = current_version(out_dir)
        kept = _keep_version(out_dir, version)
        try:
            yield True
        except BaseException:
            shutil.rmtree(kept, ignore_errors=True)
            raise
        from ..scoring.tables import read_manifest

        digest = outputs_digest(read_manifest(out_dir), out_dir)
        if all(s.get("outputs_sha256") == digest for s in current):
            shutil.rmtree(kept)  # the same numbers and gates: the signatures hold as they are
            from ..report import build_reports

            build_reports(out_dir)  # the pages drawn by score again with the signature block
            return
        entry = audit_log.append(out_dir / audit_log.AUDIT, action="supersede", reviewer="",
                                 version=version, kept_in=f"{VERSIONS}/{version}",
                                 signatures=[s.get("n") for s in current],
                                 reason="re-scored by `assaykit score`: the outputs are not the ones signed")
        from .ledger_copy import copy_entries

        problem = copy_entries(out_dir, run_dir, [entry])  # the ledger's copy of the trail kept whole
        if problem:  # said, never fatal: audit.jsonl holds it, and verify names it until the ledger does
            print(f"{out_dir}: {problem}", file=sys.stderr)
        try:
            _mark_superseded(out_dir, signatures, current, version, entry)
        except BaseException:
            _failed(out_dir, lambda **f: audit_log.append(out_dir / audit_log.AUDIT, action="unfinished",
                                                          reviewer="", **f))
            raise
        if said is not None:
            said(superseded_line([s.get("n") for s in current], version))
    finally:
        if lock is not None:
            lock.release()


def superseded_line(numbers: Sequence[Any], version: int) -> str:
    """The one line saying signatures were superseded by a re-score: "signatures 1, 2
    superseded (version 1 kept under versions/1): review and sign again".

    Parameters
    ----------
    numbers : sequence of int
        The signatures' numbers (``n``).
    version : int
        The version kept.
    """
    listed = ", ".join(str(n) for n in numbers)
    return (f"signature{'s' if len(numbers) != 1 else ''} {listed} superseded (version {version} kept under "
            f"{VERSIONS}/{version}): review and sign again")


def rescore_reviewed(review: Review) -> str:
    """The output folder of ``review`` scored again from its run folder exactly as signing does
    (:func:`assaykit.scoring.score_run` with the ledger the run was recorded in; through
    :func:`rescoring_signed` when it holds current signatures) and its pages drawn again, when
    the review changed the run since its outputs were scored
    (:func:`assaykit.review.stale.stale_outputs`). Returns the one line saying so ("" when the
    outputs were current; a score that fails is said, the outputs left as they were).

    Parameters
    ----------
    review : Review
        The open review (its lock held).
    """
    from ..report import build_reports
    from ..scoring import score_run
    from .ledger_copy import ledger_target
    from .stale import stale_outputs

    out_dir = review.out_dir
    stale = stale_outputs(out_dir)
    if stale is None or not stale.changes:  # run.yaml edited by hand alone: verify says so, score re-scores it
        return ""
    lines: list[str] = []
    try:
        recorded = ledger_target(out_dir)
        with rescoring_signed(out_dir, review.run_dir, said=lines.append, held=True) as keeping:
            score_run(review.run_dir, out=out_dir, use_default_ledger=True, ledger=recorded or "none",
                      replace_signed=keeping)
            build_reports(out_dir)
    except AssayKitError as error:
        return (f"the review's changes ({stale.entries()}) are NOT in the outputs: scoring again failed "
                f"({error.message}); run `assaykit score`")
    return "; ".join([f"the review's changes ({stale.entries()}) scored into {out_dir}: tables and pages updated",
                      *lines])


@dataclass(frozen=True)
class SignatureCheck:
    """Whether one signature holds: its number ``n``, ``meaning``, ``name``, ``status``
    ("current", "superseded", or "missing": the audit records a signature signatures.json has
    not), ``holds``, ``why`` (what was compared, or what broke), ``audit_seq`` (the audit
    entry that records it; 0 when unknown) and ``approved_early`` (an approval signed before any
    "reviewed" signature of its version: a problem of the records, not of the outputs)."""

    n: int
    meaning: str
    name: str
    status: str
    holds: bool
    why: str
    audit_seq: int = 0
    approved_early: bool = False

    def line(self) -> str:
        """One line for people: ``signature 2 (approved by B, current): holds: ...``; a missing
        one named by its audit entry: ``the signature of audit entry 7 (approved by B, missing)``;
        a signature begun and not finished (status "unfinished", a note): ``unfinished signature
        (approved by B): ...``; an unreadable signatures.json (status "unreadable"): what is wrong."""
        if self.status == "unreadable":
            return self.why
        if self.status == "unfinished":
            return f"unfinished signature ({self.meaning} by {self.name}): {self.why}"
        head = f"the signature of audit entry {self.audit_seq}" if self.status == "missing" else f"signature {self.n}"
        early = "; but it was signed before any \"reviewed\" signature of its version" if self.approved_early else ""
        return (f"{head} ({self.meaning} by {self.name}, {self.status}): "
                f"{'holds' if self.holds else 'BROKEN'}: {self.why}{early}")


def check_signatures(out_dir: Path) -> list[SignatureCheck]:
    """Each signature of ``out_dir`` checked: a current one against the outputs (its digest
    matches the manifest's, and every signed file is the one listed), a superseded one against
    its kept version (``versions/<n>/``); and its audit entry is the "sign" entry it names.

    Parameters
    ----------
    out_dir : Path
        The output folder.
    """
    from ..scoring.tables import read_manifest, signatures_problem

    lines = audit_log.read_lines(out_dir / audit_log.AUDIT)
    docs = [_doc(line) for line in lines]
    unreadable = signatures_problem(out_dir)
    if unreadable:  # its entries cannot be told apart from removed ones: said once, nothing accused
        return [SignatureCheck(n=0, meaning="", name="", status="unreadable", holds=False,
                               why=f"{SIGNATURES} cannot be read ({unreadable})")]
    out = []
    claimed: set[Any] = set()
    signatures = read_signatures(out_dir)
    for s in signatures:
        status = "superseded" if s.get("status") == "superseded" else "current"
        problems = _entry_problems(s, docs, claimed)
        kept = str(s.get("kept_in", ""))
        if status == "superseded" and not KEPT_IN.fullmatch(kept):
            problems.append(f"its kept version {kept[:80]!r} is not a {VERSIONS}/<n> folder of this output folder")
            out.append(SignatureCheck(n=_int(s.get("n")), meaning=str(s.get("meaning", "")),
                                      name=str(s.get("name", "")), status=status, holds=False,
                                      why="; ".join(problems)))
            continue
        where = out_dir / kept if status == "superseded" else out_dir
        try:
            manifest = read_manifest(where)
            if outputs_digest(manifest, where) != s.get("outputs_sha256"):
                problems.append("the outputs' SHA-256 is not the one signed ("
                                f"{kept if status == 'superseded' else 'the current outputs'})")
            for rel, entry in signed_files(manifest.get("files") or {}).items():
                path = where / rel
                if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != entry.get("sha256"):
                    problems.append(f"{rel} is not the file signed")
                    break
        except (AssayKitError, OSError, ValueError) as error:  # an unreadable kept version breaks it, named
            problems.append(f"its outputs cannot be read ({getattr(error, 'message', type(error).__name__)})")
        seq = s.get("audit_seq")
        if not isinstance(seq, int) or not 1 <= seq <= len(lines) or \
                audit_log.line_hash(lines[seq - 1]) != s.get("audit_line_sha256"):
            problems.append(f"its audit entry ({seq}) is missing or changed")
        held = "the outputs are" if status == "current" else f"the kept {s.get('kept_in')} is"
        why = "; ".join(problems) if problems else f"{held} the one signed"
        out.append(SignatureCheck(n=_int(s.get("n")), meaning=str(s.get("meaning", "")),
                                  name=str(s.get("name", "")), status=status, holds=not problems, why=why,
                                  approved_early=s.get("meaning") == "approved"
                                  and not _reviewed_before(s, signatures)))
    ended = recorded_unfinished(docs)
    for seq, doc in enumerate(docs, start=1):  # a sign entry of the audit with no signature: one was removed
        if doc.get("action") == "sign" and seq not in claimed and ("sign", seq) in ended:
            out.append(SignatureCheck(n=0, meaning=str(doc.get("meaning", "")), name=str(doc.get("reviewer", "")),
                                      status="unfinished", holds=True,
                                      why=f"audit entry {seq} began it; the process ended before it was written "
                                          f"(recorded at audit entry {ended[('sign', seq)]}): not signed"))
        elif doc.get("action") == "sign" and seq not in claimed:
            out.append(SignatureCheck(n=0, meaning=str(doc.get("meaning", "")), name=str(doc.get("reviewer", "")),
                                      status="missing", holds=False, audit_seq=seq,
                                      why=f"audit entry {seq} records this signature; {SIGNATURES} has none for it "
                                          "(removed)"))
    return out


def _reviewed_before(approval: Mapping[str, Any], signatures: list[dict[str, Any]]) -> bool:
    """Whether a "reviewed" signature of the same version as ``approval`` was signed before it
    (an earlier audit entry)."""
    seq = approval.get("audit_seq")
    return any(s.get("meaning") == "reviewed" and s.get("version") == approval.get("version") and
               isinstance(s.get("audit_seq"), int) and isinstance(seq, int) and s["audit_seq"] < seq
               for s in signatures)


UNFINISHED = "the process ended"
"""The reason of an "unfinished" audit entry (:func:`unfinished_steps`)."""


def recorded_unfinished(docs: list[dict[str, Any]]) -> dict[tuple[str, int], int]:
    """(action, seq) of each "sign" or "supersede" audit entry an "unfinished" entry records as
    not completed -> the number of that "unfinished" entry (``docs``: the audit's entries by line).

    Parameters
    ----------
    docs : list of mapping
        The audit entries, in file order (line n at index n - 1).
    """
    out: dict[tuple[str, int], int] = {}
    for number, doc in enumerate(docs, start=1):
        if doc.get("action") == "unfinished" and isinstance(doc.get("entry"), int) and \
                doc.get("of") in ("sign", "supersede") and doc["entry"] < number:
            out[(str(doc["of"]), int(doc["entry"]))] = number
    return out


def unfinished_steps(out_dir: Path, why: str = UNFINISHED) -> list[dict[str, Any]]:
    """What a process that ended left half done, found when a review opens: the audit trail's
    last entry is a "sign" no signature names (killed between the entry and signatures.json),
    or a "supersede" whose signatures are not marked (killed before signatures.json was
    written; its ``versions/<n>`` copy is then orphaned). Each as the fields of the
    "unfinished" audit entry that records it (``of``, ``entry``, ``reason``, ``removed``: the
    orphaned copy, removed). Only the last entry: one left behind by anything else (a signature
    removed from signatures.json later) stays a problem for ``assaykit verify``.

    Parameters
    ----------
    out_dir : Path
        The output folder (its review lock held).
    why : str
        Why it was not completed (default: the process ended).
    """
    docs = audit_log.entries(out_dir / audit_log.AUDIT)
    if not docs or not isinstance(docs[-1].get("seq"), int):
        return []
    last, seq = docs[-1], int(docs[-1]["seq"])
    signatures = read_signatures(out_dir)
    if last.get("action") == "sign" and not any(s.get("audit_seq") == seq for s in signatures):
        return [{"of": "sign", "entry": seq, "reason": f"sign not completed: {why}",
                 "meaning": last.get("meaning"), "name": last.get("reviewer")}]
    if last.get("action") == "supersede" and not any(s.get("superseded_by") == seq for s in signatures):
        version = last.get("version")
        removed = None
        if isinstance(version, int) and not any(s.get("kept_in") == f"{VERSIONS}/{version}" for s in signatures):
            orphan = out_dir / VERSIONS / str(version)
            if orphan.is_dir() and not orphan.is_symlink():
                shutil.rmtree(orphan)  # a copy the ended process made; the signatures still name the outputs
                removed = f"{VERSIONS}/{version}"
        return [{"of": "supersede", "entry": seq, "reason": f"supersede not completed: {why}",
                 "removed": removed}]
    return []


def record_unfinished(out_dir: Path, append: Callable[..., Mapping[str, Any]], why: str = UNFINISHED) -> list[str]:
    """Record each step :func:`unfinished_steps` finds as an "unfinished" audit entry (through
    ``append``, which takes the entry's fields) and return a line for each, for the reviewer:
    when a review opens (a process killed mid-step), and when writing signatures.json fails.

    Parameters
    ----------
    out_dir : Path
        The output folder (its review lock held).
    append : callable
        Appends an "unfinished" audit entry with the fields given; returns the entry.
    why : str
        Why the step was not completed.
    """
    said = []
    for step in unfinished_steps(out_dir, why):
        done = append(**step)
        said.append(f"audit entry {step['entry']}: {step['reason']} (recorded as audit entry {done['seq']})")
    return said


KEPT_IN = re.compile(rf"{VERSIONS}/[1-9][0-9]{{0,8}}")
"""Where a superseded signature's version is kept: ``versions/<n>`` inside the output folder, nothing else."""

_SIGNED_FIELDS = (("name", "reviewer"), ("meaning", "meaning"), ("outputs_sha256", "outputs_sha256"),
                  ("run_id", "run_id"), ("version", "version"), ("at", "at"))
"""A signature's fields and the same fields of its audit "sign" entry, which must agree."""


def _doc(line: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(line)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _entry_problems(s: Mapping[str, Any], docs: list[dict[str, Any]], claimed: set[Any]) -> list[str]:
    """What disagrees between the signature ``s`` and its audit "sign" entry (``docs``: the
    audit's entries by line; ``claimed``: the entries earlier signatures named, updated)."""
    seq = s.get("audit_seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq <= len(docs):
        return [f"its audit entry ({seq}) is missing"]
    problems = []
    if seq in claimed:
        problems.append(f"another signature names the same audit entry {seq} (a copy)")
    claimed.add(seq)
    doc = docs[seq - 1]
    if doc.get("action") != "sign":
        return [*problems, f"audit entry {seq} is not a signature ({str(doc.get('action'))[:20]})"]
    for field, recorded in _SIGNED_FIELDS:
        if s.get(field) != doc.get(recorded):
            problems.append(f"its {field} is not the one audit entry {seq} records")
    if s.get("status") == "superseded":
        by = s.get("superseded_by")
        entry = docs[by - 1] if isinstance(by, int) and 1 <= by <= len(docs) else {}
        if entry.get("action") != "supersede" or s.get("n") not in (entry.get("signatures") or []) or \
                f"{VERSIONS}/{entry.get('version')}" != s.get("kept_in"):
            problems.append(f"no audit entry supersedes it as it says ({by})")
    return problems


def audit_anchors(out_dir: Path) -> dict[int, str]:
    """Audit entry number -> its line's SHA-256, as the signatures recorded them.

    Parameters
    ----------
    out_dir : Path
        The output folder.
    """
    return {s["audit_seq"]: s["audit_line_sha256"] for s in read_signatures(out_dir)
            if isinstance(s.get("audit_seq"), int) and isinstance(s.get("audit_line_sha256"), str)}


def _version_entries(out_dir: Path) -> list[dict[str, Any]]:
    """The audit entries of the current version: those after the last "supersede" that was
    completed (one an "unfinished" entry records as not completed left the signatures current:
    no new version), and the change or exclusion the review wrote just before it (the change that
    made the version)."""
    docs = audit_log.entries(out_dir / audit_log.AUDIT)
    ended = recorded_unfinished(docs)
    last = max((i for i, d in enumerate(docs) if d.get("action") == "supersede" and ("supersede", i + 1) not in ended),
               default=-1)
    if last > 0 and docs[last - 1].get("action") in audit_log.CHANGES:
        return docs[last - 1:]
    return docs[last + 1:]


def signing_problem(review: Review, meaning: str, name: str) -> str:
    """Why ``name`` may not sign the current version as ``meaning`` ("" when they may): one
    signature per name and meaning per version; no approval before the version has a current
    "reviewed" signature; names compared by
    :func:`assaykit.review.names.name_key` (NFKC, format characters removed, accents and case
    folded); unless run.yaml has ``review: {approver_may_review: true}``, no approval by whoever
    signed this version as reviewer or changed, excluded or accepted a tube in it, and no
    "reviewed" by whoever approved it. Whoever is both the typed ``name`` and the session's
    reviewer (:attr:`Review.reviewer`, who opened the review or named themselves in the app):
    a session that signed one meaning (as any name) cannot sign the other as another name.

    Parameters
    ----------
    review : Review
        The open review.
    meaning : str
        "reviewed" or "approved".
    name : str
        Who signs.
    """
    from .names import name_key, name_problem

    problem = name_problem(name)
    if problem:
        return problem
    key = name_key(name)
    session = name_key(review.reviewer) if getattr(review, "reviewer", "") else ""
    who = {key, session} - {""}  # the typed name and the session's reviewer: one person for the role check

    def signer(s: dict[str, Any]) -> bool:
        return bool(who & {name_key(str(s.get("name", ""))), name_key(str(s.get("session_reviewer") or ""))})

    current = current_signatures(review.out_dir)
    if any(name_key(str(s.get("name", ""))) == key and s.get("meaning") == meaning for s in current):
        return f"{name} has signed this version as {meaning} already"
    unreviewed = 'this version has no current "reviewed" signature: it is signed "reviewed" before it is approved' \
        if meaning == "approved" and not any(s.get("meaning") == "reviewed" for s in current) else ""
    if getattr(review._state.inputs.options, "approver_may_review", False):
        return unreviewed
    allow = " (or the lab's run.yaml allows one person both: review: {approver_may_review: true})"
    by = f"{name} (in {review.reviewer}'s session)" if session and session != key else name
    if meaning == "approved":
        if any(signer(s) and s.get("meaning") == "reviewed" for s in current):
            return f"{by} signed this version as reviewer; the approver must be another person{allow}"
        acted = {name_key(str(d.get("reviewer", ""))) for d in _version_entries(review.out_dir)
                 if d.get("action") in (*audit_log.CHANGES, "accept")}
        if who & acted:
            return f"{by} changed or accepted gates in this version; the approver must be another person{allow}"
    if meaning == "reviewed" and any(signer(s) and s.get("meaning") == "approved" for s in current):
        return f"{by} approved this version; the reviewer must be another person{allow}"
    return unreviewed


def sign(review: Review, meaning: str, name: str) -> dict[str, Any]:
    """Sign the reviewed run: re-scored by :func:`assaykit.scoring.score_run` into the output
    folder (the signed tables are what ``score`` makes of the reviewed run.yaml; a version
    already signed is signed as it is, refused when its outputs are not the ones signed), then the
    signature (name, OS user, host, meaning, UTC time, :func:`outputs_digest`, the audit entry
    "sign" and the version) appended to signatures.json, and the pages drawn again with the
    signature block. Returns the signature.

    Parameters
    ----------
    review : Review
        The open review.
    meaning : str
        "reviewed" or "approved" (the approver must not be a reviewer who signed this version,
        unless run.yaml has ``review: {approver_may_review: true}``).
    name : str
        Who signs.
    """
    from ..report import build_reports
    from ..scoring import score_run
    from ..scoring.tables import read_manifest
    from .errors import ReviewError

    name = " ".join(name.split())
    if meaning not in MEANINGS:
        raise ReviewError(f"a signature means one of {', '.join(MEANINGS)}, not {meaning[:40]!r}", review.out_dir)
    if not name:
        raise ReviewError("a signature needs the signer's name", review.out_dir)
    problem = signing_problem(review, meaning, name)
    if problem:
        raise ReviewError(problem, review.out_dir)
    review.check_inputs()  # run.yaml and every input as the review read them, or refused
    from ..scoring.tables import signatures_problem

    unreadable = signatures_problem(review.out_dir)
    if unreadable:
        raise ReviewError(f"{SIGNATURES} cannot be read ({unreadable}); signing would lose the signatures it "
                          "holds: see `assaykit verify`", review.out_dir / SIGNATURES)
    stale = review.stale()  # run.yaml's gate overrides are not the ones the outputs were scored with
    if stale and current_signatures(review.out_dir):
        supersede_if_signed(review, name)  # the signed (stale) tables kept as a version, then scored anew
        problem = signing_problem(review, meaning, name)  # the new version's rule
        if problem:
            raise ReviewError(problem, review.out_dir)
    current = [c for c in check_signatures(review.out_dir) if c.status == "current"]
    if any(not c.holds for c in current):
        broken = next(c for c in current if not c.holds)
        raise ReviewError(f"the outputs are not the ones signed ({broken.why}): close the review, run `assaykit "
                          "score` on the run folder again (the signed version is kept under versions/ and its "
                          "signatures marked superseded), then review and sign anew; `assaykit verify` says more",
                          review.out_dir)
    if not current or stale:  # the first signature of this version: the tables made again by score from run.yaml
        from .ledger_copy import ledger_target

        recorded = ledger_target(review.out_dir)  # the ledger the run was recorded in (none: none again)
        score_run(review.run_dir, out=review.out_dir, use_default_ledger=True, ledger=recorded or "none")
    manifest = read_manifest(review.out_dir)
    digest = outputs_digest(manifest, review.out_dir)
    version = current_version(review.out_dir)
    viewed = review.viewed() if meaning == "reviewed" else {}  # which tubes the review opened (Review.view)
    entry = review._audit("sign", name, meaning=meaning, outputs_sha256=digest, version=version,
                          run_id=manifest.get("run_id"), session_reviewer=review.reviewer or None, **viewed)
    signatures = read_signatures(review.out_dir)
    signature = {"n": len(signatures) + 1, "meaning": meaning, "name": name,
                 "session_reviewer": review.reviewer or None, "os_user": entry["os_user"],
                 "host": entry["host"], "at": entry["at"], "outputs_sha256": digest, "run_id": manifest.get("run_id"),
                 "version": version, "audit_seq": entry["seq"], "audit_line_sha256": entry["line_sha256"],
                 **viewed, "status": "current"}
    try:
        _write(review.out_dir, [*signatures, signature])
    except BaseException:
        _failed(review.out_dir, lambda **f: review._audit("unfinished", name, **f))
        raise
    build_reports(review.out_dir)  # the pages again, with the signature block (the signed files unchanged)
    return signature
