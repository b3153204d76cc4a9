"""``assaykit review``: the day's plate reviewed, corrected and signed in the browser
(:func:`assaykit.review.server.serve`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import say


def review(
    out_dir: Annotated[Path, typer.Argument(help="Output folder of `assaykit score`.", show_default=False)],
    reviewer: Annotated[str | None, typer.Option(
        help="Your name, recorded with every action (default: $ASSAYKIT_REVIEWER; else the page asks).")] = None,
    port: Annotated[int | None, typer.Option(
        help="TCP port on 127.0.0.1 (default: a free one).", min=1, max=65535)] = None,
    no_browser: Annotated[bool, typer.Option(
        "--no-browser", help="Print the address only; do not open a browser.")] = False,
) -> None:
    """Review, correct and sign a scored run in the browser (127.0.0.1 only, behind a random token).

    Each tube's gating steps as density plots; drag the monocyte gate's vertices or draw a new one,
    exclude a tube or accept its automatic gate, with a reason: each change is written to the run
    folder's run.yaml (gate_overrides:) and to the audit trail (OUT_DIR/audit.jsonl), and the run is
    signed "reviewed" and "approved". Ctrl-C ends the review (`assaykit docs review`).

    Example: assaykit review reports/demo --reviewer "A. Lab"
    """
    from ..review.server import serve

    serve(out_dir, reviewer=reviewer, port=port, open_browser=not no_browser, announce=say)
