"""``assaykit verify``'s checks of a reviewed run: the audit chain (against the ledger's copy and
the signatures' anchors too), which signatures hold, and the pages (not signed: drawn again from
the signed tables and signatures.json, and compared byte for byte)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .audit import AUDIT, AuditProblem, verify_audit
from .signatures import SignatureCheck, audit_anchors, check_signatures

PageCode = Literal["edited", "not_drawn", "not_redrawn"]


@dataclass(frozen=True)
class PageProblem:
    """A page of the output folder that is not what its tables and signatures draw: ``page``
    (its path in the folder, "" for all), ``code`` ("edited": its bytes differ from the page
    drawn again; "not_drawn": the tables draw no such page; "not_redrawn": the pages could not be
    drawn again, ``detail`` says why) and ``detail``."""

    page: str
    code: PageCode
    detail: str = ""

    def __str__(self) -> str:
        if self.code == "edited":
            return f"{self.page} is not what the signed tables draw: edited after it was written"
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
        return problems


@dataclass(frozen=True)
class ReviewCheck:
    """What ``assaykit verify`` found of a run's review records: the audit chain's ``problems``,
    each signature's check (``signatures``), whether an audit trail is there (``audited``) and
    why the ledger's copy could not be compared (``ledger_note``, "" when it was or none), and
    the pages that are not what the tables and signatures draw (``pages``, :func:`page_problems`)."""

    audited: bool
    problems: tuple[AuditProblem, ...]
    signatures: tuple[SignatureCheck, ...]
    ledger_note: str = ""
    pages: tuple[PageProblem, ...] = ()

    @property
    def whole(self) -> bool:
        """No audit problem, every signature holds and every page is the one drawn."""
        return not self.problems and not self.pages and all(s.holds for s in self.signatures)


def verify_review(out_dir: Path, jobs: int | None = None) -> ReviewCheck:
    """Check ``out_dir``'s audit.jsonl (its chain, and every entry the ledger or a signature
    recorded), each signature (:func:`.signatures.check_signatures`) and its pages, drawn again
    (:func:`page_problems`; a folder never reviewed too: its pages say "not signed").

    Parameters
    ----------
    out_dir : Path
        The output folder.
    jobs : int or None
        Worker processes drawing the pages again (None: one per core).
    """
    from ..report.signed import SIGNATURES
    from .ledger_copy import ledger_anchors

    pages = tuple(page_problems(out_dir, jobs))
    audited = (out_dir / AUDIT).exists()
    if not audited and not (out_dir / SIGNATURES).exists():
        return ReviewCheck(audited=False, problems=(), signatures=(), pages=pages)  # never reviewed
    ledger, note = ledger_anchors(out_dir) if audited else ({}, "")
    signed = audit_anchors(out_dir)
    # the ledger's and the signatures' records each checked (neither overrides the other)
    problems = sorted(set(verify_audit(out_dir, ledger)) | set(verify_audit(out_dir, signed)),
                      key=lambda p: (p.line, p.what)) if audited or signed else []
    if not audited and signed:
        problems = [AuditProblem(0, "missing: a signature records its entries"), *problems]
    return ReviewCheck(audited=audited, problems=tuple(problems), signatures=tuple(check_signatures(out_dir)),
                       ledger_note=note, pages=pages)
