"""``assaykit verify``: an output folder checked against its manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import AssayKitError
from ._common import JobsOption, say


def verify(
    out_dir: Annotated[Path, typer.Argument(help="Output folder of `assaykit score` or `report`.",
                                            show_default=False)],
    jobs: JobsOption = None,
    ledger: Annotated[str | None, typer.Option(
        "--ledger", help="The ledger to check a reviewed folder against (file or postgresql:// URL; `none`: none). "
                         "Default: as `assaykit score` finds it (ASSAYKIT_LEDGER, else assaykit-ledger.sqlite beside "
                         "the output folder), never the manifest's.", show_default=False)] = None,
) -> None:
    """Check an output folder against its manifest: every file listed, unchanged, nothing else;
    and a reviewed run's audit trail (its hash chain: an edited, removed, reordered or inserted
    entry is named by its line), which signatures hold, and the pages (index.html, patients/*),
    drawn again from the tables and signatures into a temporary folder and compared byte for
    byte (drawn in --jobs worker processes, as `assaykit report`): a page edited after it was
    written is named; each `reviewed:` gate override against its audit entry; the run's ledger for
    signatures of this scoring in an audit trail the folder lost, and the ledger's copy of the
    audit trail against the folder's: the ledger as `assaykit score` finds it (or --ledger), never
    the manifest's; a signed folder whose ledger cannot be reached is not whole; and outputs scored
    before the review's latest changes (or another run.yaml) (`assaykit docs review`). A run whose
    every signature is superseded is said to be unsigned now (a note).

    Exit 0 when the folder is whole, 1 when not (each problem on its own line), 2 when it is
    not an output folder (`assaykit docs reliability`).

    Example: assaykit verify reports/demo   (written by `assaykit score demo`)
    """
    from ..review import verify_review
    from ..scoring.tables import read_manifest, verify_outputs

    if not out_dir.is_dir():
        raise AssayKitError("output folder not found", out_dir)
    problems = verify_outputs(out_dir)
    manifest = read_manifest(out_dir)
    review = verify_review(out_dir, jobs=jobs, ledger=ledger)
    problems += [str(p) for p in review.problems] + [str(p) for p in review.pages] + \
        [str(p) for p in review.reviewed if p.fatal] + [str(p) for p in review.ledger] + \
        ([str(review.stale)] if review.stale is not None else []) + \
        [str(p) for p in review.ledger_checks if p.fatal]
    for problem in problems:
        say(f"{out_dir}: {problem}")
    for signature in review.signatures:
        say(f"{out_dir}: {signature.line()}")
    if any(s.status == "superseded" for s in review.signatures) and \
            not any(s.status == "current" for s in review.signatures):
        say(f"{out_dir}: the current outputs are not signed (every signature is of an earlier version, kept "
            "under versions/): review and sign them")
    for note in [*(p for p in review.reviewed if not p.fatal), *(p for p in review.ledger_checks if not p.fatal)]:
        say(f"{out_dir}: {note}")
    if review.ledger_note:
        say(f"{out_dir}: audit trail not compared with the ledger: {review.ledger_note}")
    if problems or not review.whole:
        raise typer.Exit(1)
    run_id, kind = manifest.get("run_id"), manifest.get("kind")
    say(f"{out_dir}: whole" + (f" (run {run_id})" if isinstance(run_id, str) and run_id
                               else f" ({kind})" if isinstance(kind, str) and kind else ""))
