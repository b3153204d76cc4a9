"""The figure data ``score`` keeps beside its tables (``figure_data.json``) so that ``assaykit
report`` can re-draw every figure without the FCS files: per tube the gating panels (binned) and
the monocyte HLA-DR histogram on a log10 MFI grid; for the bead tube its smoothed histogram.

Everything here is binned counts and outlines, never events, and written with fixed rounding so a
rerun gives the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .._io.atomic import write_atomic
from ..errors import AssayKitError

FILE_NAME = "figure_data.json"
VERSION = 1
THUMBNAIL_BINS = 64
#: log10 MFI grid of the HLA-DR histograms: 10^0 to 10^6.5 in 0.025-decade bins.
HLADR_LOG10_EDGES = np.round(np.arange(0.0, 6.5 + 1e-9, 0.025), 3)


def hladr_histogram(values: np.ndarray) -> dict[str, Any]:
    """Counts of monocyte HLA-DR (scale values, MFI units) per log10 bin; events at or below
    MFI 1 (or above the grid) are counted apart, so every event is accounted for."""
    counts, below, above = _hladr_counts(values)
    return {"counts": counts.tolist(), "below": below, "above": above, "n": int(np.asarray(values).size)}


def _hladr_counts(values: np.ndarray) -> tuple[np.ndarray, int, int]:
    """(counts per bin of HLADR_LOG10_EDGES, events at or below MFI 1, events above the grid):
    ``numpy.histogram`` with these edges (each bin [low, high), the last [low, high]), by one
    search per value instead of a sort."""
    values = np.asarray(values, dtype=np.float64)
    positive = values[values > 1.0]
    logs = np.log10(positive)
    bins = len(HLADR_LOG10_EDGES) - 1
    index = np.searchsorted(HLADR_LOG10_EDGES, logs, side="right") - 1
    index[logs == HLADR_LOG10_EDGES[-1]] = bins - 1  # the top edge closes the last bin
    counts = np.bincount(index[(index >= 0) & (index < bins)], minlength=bins)
    return counts, int(values.size - positive.size), int(positive.size - counts.sum())


def tube_figure_json(result: Any, values: np.ndarray) -> str:
    """The figure data of one gated tube (its gating panels and the readout histogram) as the
    compact JSON text :func:`write` puts in the file: what a worker returns (some 20 kB; the same
    numbers as Python lists take ten times that, for every tube of a plate until it is written).

    Parameters
    ----------
    result : GatingResult
        The gated tube.
    values : ndarray
        Its readout values (scale units): the monocytes' HLA-DR.
    """
    from ..gating.panels import gating_panels

    panels = [panel.to_dict() for panel in gating_panels(result, bins=THUMBNAIL_BINS)]
    return _dumps({"hladr": hladr_histogram(values), "panels": panels})


def _object(members: dict[str, str]) -> str:
    """A JSON object from its members' JSON texts, keys sorted (as :func:`_dumps` writes one)."""
    return "{" + ",".join(f"{_dumps(key)}:{members[key]}" for key in sorted(members)) + "}"


_dumps = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode
"""``json.dumps(value, separators=(",", ":"), sort_keys=True)``, by one encoder made once (json.dumps
makes one per call)."""


def bead_figure(run: Any) -> dict[str, Any]:
    """The bead tube's smoothed histogram on its asinh (u) axis and the offset ``c`` of that axis."""
    search = run.search
    return {"channel": run.channel, "c": float(search.c), "u": np.round(search.grid, 6).tolist(),
            "density": np.round(search.density, 4).tolist(),
            "n_singlets": run.calibration.n_singlets, "n_events": run.calibration.n_events}


def write(out_dir: Path, tubes: dict[str, str], beads: dict[str, Any] | None, run_id: str = "") -> None:
    """Write the figure data of a run (``run_id``: the manifest's) into ``out_dir``: each tube's
    figure data as :func:`tube_figure_json` gave it, by file name. The text is what
    ``json.dumps(document, separators=(",", ":"), sort_keys=True)`` gives for the whole document."""
    doc = {"version": VERSION, "hladr_log10_edges": HLADR_LOG10_EDGES.tolist(), "tubes": None, "beads": beads,
           "run_id": run_id}
    members = {key: _object(tubes) if key == "tubes" else _dumps(value) for key, value in doc.items()}
    write_atomic(out_dir / FILE_NAME, (_object(members) + "\n").encode())


def read(out_dir: Path) -> dict[str, Any]:
    """The figure data of a scored run; an empty one (figures drawn from the tables only) when
    the file is missing, with a note the report shows."""
    import os

    from .._io.read import OUTPUT_LIMIT, read_input

    path = out_dir / FILE_NAME
    if not os.path.lexists(path):
        return {"version": VERSION, "hladr_log10_edges": HLADR_LOG10_EDGES.tolist(), "tubes": {}, "beads": None,
                "missing": True}
    from .._io.validate import InvalidError

    data = read_input(path, AssayKitError, "figure data", OUTPUT_LIMIT, links=False)  # never a FIFO or /dev/zero
    try:
        doc = json.loads(data.decode("utf-8"))
    except (RecursionError, ValueError) as exc:
        raise AssayKitError(f"cannot read the figure data ({type(exc).__name__})", path) from None
    if isinstance(doc, dict) and doc.get("version") != VERSION:
        raise AssayKitError(f"figure data version {doc.get('version')!r:.20} is not {VERSION}: score the run again",
                            path)
    try:
        return check(doc)
    except InvalidError as exc:
        raise AssayKitError(f"damaged figure data ({exc}); score the run again", path) from None


def check(doc: Any) -> dict[str, Any]:
    """``doc`` when it has the shape :func:`write` gives (every number finite, every array its
    length): what the report draws from it needs no further check. Raises
    :class:`assaykit._io.validate.InvalidError` naming the first value that is not so."""
    from .._io import validate as schema
    from ..gating.panels import Panel

    doc = schema.mapping(doc, "document")
    edges = schema.array(schema.field(doc, "hladr_log10_edges", "document"), "hladr_log10_edges", (None,))
    if edges.shape != HLADR_LOG10_EDGES.shape or not np.array_equal(edges, HLADR_LOG10_EDGES):
        raise schema.InvalidError("hladr_log10_edges: not the grid assaykit writes")
    schema.text(schema.field(doc, "run_id", "document"), "run_id")
    for name, tube in schema.mapping(schema.field(doc, "tubes", "document"), "tubes").items():
        where = f"tubes[{name[:40]!r}]"
        tube = schema.mapping(tube, where)
        for i, panel in enumerate(schema.items(schema.field(tube, "panels", where), f"{where}.panels")):
            Panel.from_dict(panel, f"{where}.panels[{i}]")
        _check_histogram(schema.field(tube, "hladr", where), f"{where}.hladr")
    if schema.field(doc, "beads", "document") is not None:
        _check_beads(doc["beads"])
    return doc


def _check_histogram(hist: Any, where: str) -> None:
    from .._io import validate as schema

    hist = schema.mapping(hist, where)
    counts = schema.array(schema.field(hist, "counts", where), f"{where}.counts", (HLADR_LOG10_EDGES.size - 1,),
                          0, schema.MAX_COUNT, integer=True)
    parts = [schema.number(schema.field(hist, k, where), f"{where}.{k}", 0, schema.MAX_COUNT, integer=True)
             for k in ("below", "above", "n")]
    if counts.sum() + parts[0] + parts[1] != parts[2]:
        raise schema.InvalidError(f"{where}: counts, below and above do not add up to n")


def _check_beads(beads: Any) -> None:
    from .._io import validate as schema

    beads = schema.mapping(beads, "beads")
    schema.text(schema.field(beads, "channel", "beads"), "beads.channel")
    schema.number(schema.field(beads, "c", "beads"), "beads.c", 1e-6, 1e9)
    u = schema.array(schema.field(beads, "u", "beads"), "beads.u", (None,))
    schema.array(schema.field(beads, "density", "beads"), "beads.density", u.shape, 0)
    if u.size < 2 or (np.diff(u) <= 0).any():
        raise schema.InvalidError("beads.u: expected an increasing grid of at least two points")
    singlets = schema.number(schema.field(beads, "n_singlets", "beads"), "beads.n_singlets", 0, schema.MAX_COUNT, True)
    schema.number(schema.field(beads, "n_events", "beads"), "beads.n_events", singlets, schema.MAX_COUNT, True)
