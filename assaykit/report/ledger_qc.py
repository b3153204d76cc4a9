"""``assaykit ledger qc``'s page: one Levey-Jennings chart per instrument, bead lot and QC series
(every run's value against the series' target and 1, 2, 3 SD, the runs that broke a Westgard rule
marked), and qc.csv with every point; written as one folder (docs/ledger.md)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

STATUS_COLOURS = {"rejected": "#d62728", "warning": "#ff7f0e", "in control": "#1f77b4", "establishing": "#999999"}
POINT_COLUMNS = ["instrument", "lot", "series", "run", "acquired_on", "value", "target", "sd", "z", "rules", "status"]


def qc_series(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ledger's QC checks (:meth:`assaykit.ledger.Ledger.qc_points`) grouped per instrument,
    bead kit and lot, and series, oldest run first; each series with the target and SD of its
    newest check that had them.

    Parameters
    ----------
    points : list of dict
        One row per run and series.
    """
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for p in points:
        instrument = f"{p['instrument']} {p['instrument_serial']}".strip() or "unknown instrument"
        lot = f"{p['kit']} {p['lot']}".strip() or "no lot"
        groups.setdefault((instrument, lot, p["series"]), []).append(
            {"run": p["run_name"], "acquired_on": p["acquired_on"], "value": p["value"], "target": p["target"],
             "sd": p["sd"], "z": p["z"], "rules": p["rules"], "status": p["status"]})
    out = []
    for (instrument, lot, series), rows in sorted(groups.items()):
        limited = [r for r in rows if r["target"] is not None and r["sd"]]
        out.append({"instrument": instrument, "lot": lot, "series": series, "points": rows,
                    "target": limited[-1]["target"] if limited else None, "sd": limited[-1]["sd"] if limited else None,
                    "rejected": sum(r["status"] == "rejected" for r in rows)})
    return out


def levey_jennings(series: dict[str, Any]) -> str:
    """One series' Levey-Jennings chart (base64 PNG): values by run, target and +-1/2/3 SD lines,
    each point coloured by its verdict, the rules written beside the rejected points. Drawn on a
    bare Agg figure with fixed axes (no layout pass: a page holds many charts).

    Parameters
    ----------
    series : dict
        One entry of :func:`qc_series`.
    """
    import base64
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = series["points"]
    x = np.arange(len(rows))
    y = np.array([np.nan if r["value"] is None else r["value"] for r in rows], dtype=np.float64)
    fig = Figure(figsize=(8, 2.4))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.08, 0.16, 0.9, 0.72))
    ax.plot(x, y, color="#bbbbbb", linewidth=0.8, zorder=1)
    size = 3.5 if len(rows) < 200 else 2
    for status, colour in STATUS_COLOURS.items():
        chosen = [i for i, r in enumerate(rows) if r["status"] == status]
        if chosen:
            ax.plot(x[chosen], y[chosen], linestyle="none", marker="o", markersize=size, color=colour, zorder=2)
    target, sd = series["target"], series["sd"]
    if target is not None and sd:
        for k, style in ((0, "-"), (1, ":"), (2, "--"), (3, "-.")):
            for sign in ((1,) if k == 0 else (1, -1)):
                ax.axhline(target + sign * k * sd, color="#555555", linestyle=style, linewidth=0.8)
        ax.set_yticks([target + k * sd for k in (-3, -2, -1, 0, 1, 2, 3)],
                      [f"{k:+d}s" if k else "target" for k in (-3, -2, -1, 0, 1, 2, 3)], fontsize=6)
        ax.set_ylim(target - 4.5 * sd, target + 4.5 * sd)
    for i, r in enumerate(rows):
        if r["rules"] and r["status"] == "rejected" and len(rows) <= 200:
            ax.annotate(r["rules"].replace(" 1-2s", ""), (i, y[i]), fontsize=5, color="#d62728",
                        xytext=(2, 4), textcoords="offset points")
    ticks = x[:: max(1, len(rows) // 10)]
    ax.set_xticks(ticks, [rows[i]["acquired_on"][:10] or rows[i]["run"][:10] for i in ticks], fontsize=6)
    ax.set_title(f"{series['series']} - {series['instrument']} - {series['lot']}", fontsize=8)
    from .._mpl import draw_names_shown

    draw_names_shown(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=72, metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def qc_html(series: list[dict[str, Any]], jobs: int | None = None) -> bytes:
    """The QC page (one self-contained HTML file), its charts drawn in ``jobs`` worker processes.

    Parameters
    ----------
    series : list of dict
        :func:`qc_series`'s groups.
    jobs : int or None
        Worker processes for the charts (default: the number of cores).
    """
    import os

    from .._workers import map_in_workers
    from .build import _environment

    template = _environment().get_template("ledger_qc.html.j2")
    drawn = map_in_workers(levey_jennings, series, jobs or os.cpu_count() or 1)
    charts = [{**s, "chart": chart, "last": s["points"][-1]} for s, chart in zip(series, drawn, strict=True)]
    return template.render(series=charts).encode("utf-8")


def qc_csv(series: list[dict[str, Any]]) -> bytes:
    """Every point of every series as CSV (:data:`POINT_COLUMNS`).

    Parameters
    ----------
    series : list of dict
        :func:`qc_series`'s groups.
    """
    import pandas as pd

    from ..scoring.tables import csv_bytes

    rows = [{"instrument": s["instrument"], "lot": s["lot"], "series": s["series"], **p}
            for s in series for p in s["points"]]
    return csv_bytes(pd.DataFrame(rows, columns=POINT_COLUMNS))


QC_KIND = "assaykit ledger qc"
"""The kind a QC page folder's manifest names (it replaces only its own kind)."""


def write_qc_page(out: str | Path, series: list[dict[str, Any]], jobs: int | None = None) -> Path:
    """Write qc.html, qc.csv and a manifest into the folder ``out``, replaced as one unit.

    Parameters
    ----------
    out : str or Path
        The folder.
    series : list of dict
        :func:`qc_series`'s groups.
    jobs : int or None
        Worker processes for the charts (default: the number of cores).
    """
    from .._io.atomic import output_unit, write_atomic

    files = {"qc.html": qc_html(series, jobs), "qc.csv": qc_csv(series)}
    with output_unit(Path(out), kind=QC_KIND) as stage:
        for name, content in files.items():
            write_atomic(stage / name, content)
        manifest = {"kind": QC_KIND,
                    "files": {n: {"size": len(c), "sha256": hashlib.sha256(c).hexdigest()} for n, c in files.items()}}
        write_atomic(stage / "manifest.json", (json.dumps(manifest, indent=1) + "\n").encode())
    return Path(out)
