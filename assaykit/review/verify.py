"""``assaykit verify``'s checks of a reviewed run: the audit chain (against the ledger's copy and
the signatures' anchors too), which signatures hold, and the pages (not signed: drawn again from
the signed tables and signatures.json, and compared byte for byte)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from .audit import AUDIT, AuditProblem, verify_audit
from .ledger_copy import LedgerProblem, LedgerTrace
from .signatures import SignatureCheck, audit_anchors, check_signatures
from .stale import StaleOutputs, stale_outputs

PageCode = Literal["edited", "not_signatures", "not_drawn", "not_redrawn"]


@dataclass(frozen=True)
class PageProblem:
    """A page of the output folder that is not what its tables and signatures draw: ``page``
    (its path in the folder, "" for all), ``code`` ("edited": its bytes differ from the page
    drawn again; "not_signatures": every page differs (what they all draw from, signatures.json,
    changed) -- said once for all, ``detail`` the number of pages; "not_drawn": the tables draw
    no such page; "not_redrawn": the pages could not be drawn again, ``detail`` says why) and
    ``detail``."""

    page: str
    code: PageCode
    detail: str = ""

    def __str__(self) -> str:
        if self.code == "edited":
            return f"{self.page} is not what the signed tables draw: edited after it was written"
        if self.code == "not_signatures":
            return (f"the pages ({self.detail}) do not show signatures.json's signatures (signatures.json changed "
                    "after the pages were drawn, or the pages edited)")
        if self.code == "not_drawn":
            return f"{self.page} is not a page the tables draw: written by something else"
        return f"the pages could not be drawn again to be compared ({self.detail})"


def page_problems(out_dir: Path, jobs: int | None = None) -> list[PageProblem]:
    """The pages ``out_dir``'s manifest lists (index.html, patients/*.html and .pdf: not signed,
    :data:`assaykit.report.signed.PAGES`) drawn again into a temporary folder by the report's
    own :func:`assaykit.report.build.render_reports` from the folder's tables, figure data and
    signatures.json (the output folder is never written), and compared byte for byte: a page
    whose manifest entry was updated after an edit (its signature block, a number) is named.
    Empty when every page is the one drawn, or the manifest lists no page (``--no-report``).

    Parameters
    ----------
    out_dir : Path
        The output folder of a scored run.
    jobs : int or None
        Worker processes drawing the figures (None: one per core).
    """
    from .._io.atomic import RUN_KIND
    from ..errors import AssayKitError
    from ..report.build import render_reports
    from ..report.signed import signed_files
    from ..scoring.tables import read_manifest

    try:
        manifest = read_manifest(out_dir)
    except AssayKitError:
        return []  # verify_outputs names it
    listing = manifest.get("files")
    if not isinstance(listing, dict) or manifest.get("kind", RUN_KIND) != RUN_KIND:
        return []
    pages = sorted(set(listing) - set(signed_files(listing)))
    if not pages:
        return []
    with tempfile.TemporaryDirectory(prefix="assaykit-verify-") as tmp:
        stage = Path(tmp) / "pages"
        try:
            drawn = {p.relative_to(stage).as_posix(): p for p in render_reports(out_dir, stage, jobs=jobs)}
        except (AssayKitError, OSError, ValueError) as error:
            return [PageProblem(page="", code="not_redrawn", detail=getattr(error, "message", str(error))[:200])]
        problems = []
        for page in pages:
            if page not in drawn:
                problems.append(PageProblem(page=page, code="not_drawn"))
                continue
            try:
                same = (out_dir / page).read_bytes() == drawn[page].read_bytes()
            except OSError:
                continue  # missing or unreadable: verify_outputs names it
            if not same:
                problems.append(PageProblem(page=page, code="edited"))
        edited = [p for p in problems if p.code == "edited"]
        if len(pages) > 1 and len(edited) == len(pages):
            # every page differs: what they share changed (signatures.json), said once, not page by page
            problems = [PageProblem(page="", code="not_signatures", detail=f"{len(pages)} of {len(pages)}"),
                        *(p for p in problems if p.code != "edited")]
        return problems


ReviewedCode = Literal["no_trail", "no_entry", "not_that_change", "changed_later", "earlier_trail"]


@dataclass(frozen=True)
class ReviewedProblem:
    """A gate override the outputs were scored with (the manifest's ``gate_overrides``) whose
    ``reviewed: {by, at, audit}`` is not borne out by audit.jsonl: ``file`` (the tube), ``seq``
    (the audit entry it names), ``code`` ("no_trail": the folder has no audit trail;
    "no_entry": the trail has no such entry; "not_that_change": the entry is not this change of
    this tube, ``detail`` says what differs; "changed_later": a later entry changed the tube;
    "earlier_trail": not a problem -- the entry is not in the folder's trail but the ledger keeps
    it, as written, in an earlier trail of the run: the folder was deleted and scored again) and
    ``detail``."""

    file: str
    seq: object
    code: ReviewedCode
    detail: str = ""

    @property
    def fatal(self) -> bool:
        """A problem (every code but "earlier_trail", which is said as a note)."""
        return self.code != "earlier_trail"

    def __str__(self) -> str:
        head = f"gate override of {self.file} says it was written by the review (audit entry {self.seq})"
        if self.code == "earlier_trail":
            return (f"{head}: that entry is in an earlier audit trail the ledger keeps ({self.detail}), not in this "
                    f"folder's {AUDIT} (the folder was deleted and scored again)")
        what = {"no_trail": f"but the folder has no {AUDIT} (removed, or written by hand)",
                "no_entry": f"but {AUDIT} has no such entry (written by hand, or entries removed)",
                "not_that_change": f"but that entry is not this change ({self.detail}): written by hand",
                "changed_later": f"but {self.detail}: the override is not the review's last word",
                "earlier_trail": ""}[self.code]
        return f"{head}, {what}"


def reviewed_problems(out_dir: Path) -> list[ReviewedProblem]:
    """Each gate override the manifest records with a ``reviewed:`` mapping (what ``assaykit
    review`` writes into run.yaml) checked against the audit entry it names: the entry is there,
    is a "change" (an "exclude" for an excluded tube) of the same tube (file), by the same name,
    wrote this very ``reviewed:`` mapping and reason, the same gate (the SHA-256 the manifest
    records of it), and no later entry changed or excluded the tube. A hand-written ``reviewed:``
    key, or a run.yaml entry kept after the audit trail was removed, is named.

    Parameters
    ----------
    out_dir : Path
        The output folder.
    """
    from ..errors import AssayKitError
    from ..scoring.tables import read_manifest
    from . import audit as audit_log

    try:
        overrides = read_manifest(out_dir).get("gate_overrides")
    except AssayKitError:
        return []
    claimed = [o for o in overrides if isinstance(o, dict) and isinstance(o.get("reviewed"), dict)] \
        if isinstance(overrides, list) else []
    if not claimed:
        return []
    audited = (out_dir / AUDIT).exists()
    docs = audit_log.entries(out_dir / AUDIT) if audited else []
    by_seq = {d["seq"]: d for d in docs if isinstance(d.get("seq"), int)}
    out = []
    for o in claimed:
        reviewed, file = o["reviewed"], str(o.get("file", ""))
        seq = reviewed.get("audit")
        if not audited:
            out.append(ReviewedProblem(file=file, seq=seq, code="no_trail"))
            continue
        entry = by_seq.get(seq) if isinstance(seq, int) and not isinstance(seq, bool) else None
        differs = ["no such entry"] if entry is None else _differs(o, entry)
        if differs:
            earlier = _in_earlier_trail(out_dir, o)
            if earlier:
                out.append(ReviewedProblem(file=file, seq=seq, code="earlier_trail", detail=earlier))
            elif entry is None:
                out.append(ReviewedProblem(file=file, seq=seq, code="no_entry"))
            else:
                out.append(ReviewedProblem(file=file, seq=seq, code="not_that_change", detail="; ".join(differs)))
            continue
        later = [d["seq"] for d in docs if isinstance(d.get("seq"), int) and d["seq"] > seq
                 and d.get("action") in ("change", "exclude") and d.get("file") == file]
        if later:
            out.append(ReviewedProblem(file=file, seq=seq, code="changed_later",
                                       detail=f"audit entry {later[-1]} changed the tube since"))
    return out


def _differs(override: dict[str, Any], entry: dict[str, Any]) -> list[str]:
    """What the audit ``entry`` says otherwise than the manifest's gate ``override`` claims it
    wrote (empty: that very change of that tube)."""
    import hashlib
    import json

    reviewed = override["reviewed"]
    after: dict[str, Any] = entry["after"] if isinstance(entry.get("after"), dict) else {}
    written: dict[str, Any] = after["entry"] if isinstance(after.get("entry"), dict) else {}
    action = "exclude" if override.get("excluded") else "change"
    differs = []
    if entry.get("action") != action:
        differs.append(f"it is a {str(entry.get('action'))[:20]!r} entry, not {action!r}")
    if entry.get("file") != override.get("file"):
        differs.append("another tube")
    if entry.get("reviewer") != reviewed.get("by"):
        differs.append("another name")
    if written.get("reviewed") != reviewed or written.get("reason") != override.get("reason"):
        differs.append("another reason or review mark")
    if action == "change":
        gate = written.get("gate")
        text = json.dumps(gate, sort_keys=True, separators=(",", ":"), default=str)
        if gate is None or hashlib.sha256(text.encode()).hexdigest() != override.get("sha256"):
            differs.append("another gate")
    return differs


def _in_earlier_trail(out_dir: Path, override: dict[str, Any]) -> str:
    """Where the run's ledger keeps the audit entry ``override`` claims, as written (its trail
    and number), in a trail other than the folder's own; "" when it keeps none (or the folder has
    no audit trail at all: its records removed, which the ledger's copy does not excuse)."""
    import json

    from .ledger_copy import ledger_audit_lines, trail_key

    own = trail_key(out_dir)
    if own is None:
        return ""
    for key, seq, line in ledger_audit_lines(out_dir, ("change", "exclude")):
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if key != own and isinstance(doc, dict) and doc.get("seq") == override["reviewed"].get("audit") and \
                not _differs(override, doc):
            return f"entry {seq} of trail {key[len('audit:'):][:12]}"
    return ""


@dataclass(frozen=True)
class ReviewCheck:
    """What ``assaykit verify`` found of a run's review records: the audit chain's ``problems``,
    each signature's check (``signatures``), whether an audit trail is there (``audited``) and
    why the ledger's copy could not be compared (``ledger_note``, "" when it was or none), and
    the pages that are not what the tables and signatures draw (``pages``, :func:`page_problems`)
    and the gate overrides whose ``reviewed:`` the audit does not bear out (``reviewed``,
    :func:`reviewed_problems`), and the signatures of this scoring the ledger holds in a trail the
    folder has not (``ledger``, :func:`.ledger_copy.ledger_traces`), and whether the outputs were
    scored before the run's latest changes (``stale``, :func:`stale_outputs`)."""

    audited: bool
    problems: tuple[AuditProblem, ...]
    signatures: tuple[SignatureCheck, ...]
    ledger_note: str = ""
    pages: tuple[PageProblem, ...] = ()
    reviewed: tuple[ReviewedProblem, ...] = ()
    ledger: tuple[LedgerTrace, ...] = ()
    stale: StaleOutputs | None = None
    ledger_checks: tuple[LedgerProblem, ...] = ()  # the ledger's record against the folder's

    @property
    def whole(self) -> bool:
        """No audit problem, every signature holds (no approval before its version's review),
        every page is the one drawn, every ``reviewed:`` gate override is the audit's, the ledger
        signed no other trail of it and bears out the folder's records
        (:func:`.ledger_copy.ledger_problems`), and the outputs are not older than the run's changes."""
        return not self.problems and not self.pages and not any(p.fatal for p in self.reviewed) and \
            not self.ledger and not any(p.fatal for p in self.ledger_checks) and self.stale is None and \
            all(s.holds and not s.approved_early for s in self.signatures)


def verify_review(out_dir: Path, jobs: int | None = None, ledger: str | None = None) -> ReviewCheck:
    """Check ``out_dir``'s audit.jsonl (its chain, and every entry the ledger or a signature
    recorded), each signature (:func:`.signatures.check_signatures`) and its pages, drawn again
    (:func:`page_problems`; a folder never reviewed too: its pages say "not signed"), against
    the ledger found as ``assaykit score`` finds it, never by the manifest
    (:func:`.ledger_copy.checked_ledger`).

    Parameters
    ----------
    out_dir : Path
        The output folder.
    jobs : int or None
        Worker processes drawing the pages again (None: one per core).
    ledger : str or None
        The ledger to check against (``--ledger``: a file path or ``postgresql://`` URL;
        ``none``: none, and a signed folder cannot be confirmed); None: ``ASSAYKIT_LEDGER``,
        else ``assaykit-ledger.sqlite`` beside the output folder.
    """
    from .ledger_copy import checking_against, ledger_problems

    with checking_against(ledger):
        check = _verify_review(out_dir, jobs)
        return replace(check, ledger_checks=tuple(ledger_problems(out_dir)),
                       ledger_note="")  # the ledger's notes are ledger_checks now, said once


def _verify_review(out_dir: Path, jobs: int | None) -> ReviewCheck:
    """:func:`verify_review` but the ledger's own record (its caller's)."""
    from ..report.signed import SIGNATURES
    from .ledger_copy import ledger_anchors, ledger_traces

    pages = tuple(page_problems(out_dir, jobs))
    reviewed = tuple(reviewed_problems(out_dir))
    traces = tuple(ledger_traces(out_dir))
    stale = stale_outputs(out_dir)
    audited = (out_dir / AUDIT).exists()
    if not audited and not (out_dir / SIGNATURES).exists():
        return ReviewCheck(audited=False, problems=(), signatures=(), pages=pages, reviewed=reviewed, ledger=traces,
                           stale=stale)
    ledger, note = ledger_anchors(out_dir) if audited else ({}, "")
    signed = audit_anchors(out_dir)
    # the ledger's and the signatures' records each checked (neither overrides the other)
    problems = sorted(set(verify_audit(out_dir, ledger)) | set(verify_audit(out_dir, signed)),
                      key=lambda p: (p.line, p.what)) if audited or signed else []
    if not audited and signed:
        problems = [AuditProblem(0, "missing: a signature records its entries"), *problems]
    return ReviewCheck(audited=audited, problems=tuple(problems), signatures=tuple(check_signatures(out_dir)),
                       ledger_note=note, pages=pages, reviewed=reviewed, ledger=traces, stale=stale)
