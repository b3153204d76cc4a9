"""``assaykit compare``'s outputs: agreement.csv (one row per tube) and agreement.html
(Bland-Altman and Passing-Bablok of AB/C, per-tube thumbnails with both gates' outlines), written
as one folder (docs/validation.md). The numbers come from :mod:`assaykit.scoring.agreement`."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np

THUMBNAIL_EVENTS = 20000  # events drawn per thumbnail (a fixed, deterministic subsample)


def _png(fig: Any) -> str:
    """``fig`` as a base64 PNG (embedded: the page is one file), closed."""
    import matplotlib.pyplot as plt

    from .._mpl import draw_names_shown

    draw_names_shown(fig)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, metadata={"Software": None})
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _pairs(agreement: Any) -> tuple[np.ndarray, np.ndarray]:
    x, y = agreement.pairs()
    return x, y


def _scatter(x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
    """A figure with the points (``x``, ``y``) drawn."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.scatter(x, y, s=14, color="#1f77b4")
    return fig, ax


def bland_altman_figure(agreement: Any) -> str | None:
    """Differences (assaykit - manual) against the pair's mean, with bias and 95 % limits."""
    ba = agreement.bland_altman
    if ba is None:
        return None
    x, y = _pairs(agreement)
    fig, ax = _scatter((x + y) / 2, y - x)
    for value, style in ((ba.bias, "-"), (ba.lower, "--"), (ba.upper, "--")):
        ax.axhline(value, color="#444", linestyle=style, linewidth=1)
    ax.set_xlabel(f"mean of both ({agreement.unit})")
    ax.set_ylabel(f"assaykit - manual ({agreement.unit})")
    ax.set_title(f"Bland-Altman: bias {ba.bias:,.0f}, limits {ba.lower:,.0f} to {ba.upper:,.0f}", fontsize=9)
    return _png(fig)


def passing_bablok_figure(agreement: Any) -> str | None:
    """assaykit against manual AB/C with the identity and the Passing-Bablok line."""
    pb = agreement.passing_bablok
    if pb is None:
        return None
    x, y = _pairs(agreement)
    fig, ax = _scatter(x, y)
    line = np.array([0.0, max(x.max(), y.max()) * 1.05])
    ax.plot(line, line, color="#999", linestyle=":", linewidth=1, label="identity")
    ax.plot(line, pb.intercept + pb.slope * line, color="#d62728", linewidth=1.2, label="Passing-Bablok")
    ax.set_xlabel(f"manual gate ({agreement.unit})")
    ax.set_ylabel(f"assaykit gate ({agreement.unit})")
    ax.legend(fontsize=8, loc="upper left")
    return _png(fig)


def thumbnail(tube: Any) -> str | None:
    """The tube's events on the readout gate's axes with assaykit's outline (red) and the hull of
    the manual gate's events (blue)."""
    import matplotlib.pyplot as plt

    from .._geometry import hull_outline
    from .._mpl import density_plot

    if tube.display is None:
        return None
    points = tube.display
    finite = np.isfinite(points).all(axis=1)
    shown = np.flatnonzero(finite)
    if shown.size > THUMBNAIL_EVENTS:
        shown = shown[np.linspace(0, shown.size - 1, THUMBNAIL_EVENTS).astype(int)]
    fig, ax = plt.subplots(figsize=(2.6, 2.4))
    density_plot(ax, points[shown, 0], points[shown, 1], bins=120)
    for outline in tube.outline:
        ax.plot(outline[:, 0], outline[:, 1], color="#d62728", linewidth=1.1)
    manual = hull_outline(points[tube.theirs & finite])
    if manual is not None:
        ax.plot(manual[:, 0], manual[:, 1], color="#1f77b4", linewidth=1.1, linestyle="--")
    ax.set_xlabel(tube.axes[0], fontsize=7)
    ax.set_ylabel(tube.axes[1], fontsize=7)
    ax.tick_params(labelsize=6)
    ax.set_title(tube.row["file"][:40], fontsize=7)
    return _png(fig)


def agreement_html(agreement: Any) -> bytes:
    """The agreement page (one self-contained HTML file)."""
    from .build import _environment

    template = _environment().get_template("agreement.html.j2")
    rows = [{**t.row, "thumbnail": thumbnail(t)} for t in agreement.tubes]
    text = template.render(out_dir=agreement.out_dir.name, lab=agreement.lab.name, source=agreement.source,
                           population=agreement.population, unit=agreement.unit, rows=rows, measure=agreement.measure,
                           ba=agreement.bland_altman, pb=agreement.passing_bablok, notes=agreement.notes,
                           ba_figure=bland_altman_figure(agreement), pb_figure=passing_bablok_figure(agreement))
    return text.encode("utf-8")


KIND = "assaykit compare"
"""The kind its manifest names: a compare replaces only an agreement folder."""
EARLIER = ("agreement.csv", "agreement.html")
"""What an agreement folder held before it had a manifest (a later compare replaces it)."""


def _run_id(scored: Path) -> str:
    """The run_id of the scored folder compared ("" when its manifest names none): what
    ``assaykit validate`` checks the comparison is still of the run as scored now."""
    from ..scoring.tables import read_manifest

    return str(read_manifest(scored).get("run_id") or "")


def write_agreement(agreement: Any, out: str | Path) -> Path:
    """Write agreement.csv, agreement.html and manifest.json (what the folder holds: a later
    compare may replace it; the scored folder as given and resolved, ``scored_dir``, and its
    ``run_id``) into the folder ``out``, replaced as one unit."""
    import json

    from .._io.atomic import file_listing, output_unit, write_atomic
    from ..scoring.tables import csv_bytes

    with output_unit(Path(out), earlier=EARLIER, kind=KIND) as stage:
        write_atomic(stage / "agreement.csv", csv_bytes(agreement.frame()))
        write_atomic(stage / "agreement.html", agreement_html(agreement))
        manifest = {"kind": KIND, "scored": str(agreement.out_dir),
                    "scored_dir": str(Path(agreement.out_dir).resolve()),
                    "run_id": _run_id(Path(agreement.out_dir)), "source": agreement.source,
                    "files": file_listing(stage)}
        write_atomic(stage / "manifest.json", (json.dumps(manifest, indent=1) + "\n").encode())
    return Path(out)
