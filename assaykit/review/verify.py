"""``assaykit verify``'s checks of a reviewed run: the audit chain (against the ledger's copy and
the signatures' anchors too) and which signatures hold."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .audit import AUDIT, AuditProblem, verify_audit
from .signatures import SignatureCheck, audit_anchors, check_signatures


@dataclass(frozen=True)
class ReviewCheck:
    """What ``assaykit verify`` found of a run's review records: the audit chain's ``problems``,
    each signature's check (``signatures``), whether an audit trail is there (``audited``) and
    why the ledger's copy could not be compared (``ledger_note``, "" when it was or none)."""

    audited: bool
    problems: tuple[AuditProblem, ...]
    signatures: tuple[SignatureCheck, ...]
    ledger_note: str = ""

    @property
    def whole(self) -> bool:
        """No audit problem and every signature holds."""
        return not self.problems and all(s.holds for s in self.signatures)


def verify_review(out_dir: Path) -> ReviewCheck:
    """Check ``out_dir``'s audit.jsonl (its chain, and every entry the ledger or a signature
    recorded) and each signature (:func:`.signatures.check_signatures`).

    Parameters
    ----------
    out_dir : Path
        The output folder.
    """
    from ..report.signed import SIGNATURES
    from .ledger_copy import ledger_anchors

    audited = (out_dir / AUDIT).exists()
    if not audited and not (out_dir / SIGNATURES).exists():
        return ReviewCheck(audited=False, problems=(), signatures=())  # never reviewed: nothing to check
    ledger, note = ledger_anchors(out_dir) if audited else ({}, "")
    signed = audit_anchors(out_dir)
    # the ledger's and the signatures' records each checked (neither overrides the other)
    problems = sorted(set(verify_audit(out_dir, ledger)) | set(verify_audit(out_dir, signed)),
                      key=lambda p: (p.line, p.what)) if audited or signed else []
    if not audited and signed:
        problems = [AuditProblem(0, "missing: a signature records its entries"), *problems]
    return ReviewCheck(audited=audited, problems=tuple(problems), signatures=tuple(check_signatures(out_dir)),
                       ledger_note=note)
