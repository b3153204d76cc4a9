"""Agreement of assaykit's gates with a lab's manual gating (``assaykit compare``, docs/validation.md):
per tube the F1 of the two gates, both counts, both HLA-DR statistics and AB/C; over the run a
Bland-Altman analysis and a Passing-Bablok regression of AB/C (CLSI EP09 practice).

Both gates are measured on the same values: the readout channel with the compensation the run
used, the strategy's statistic, the run's bead calibration. A difference is then due to the
gates alone. Without a workspace, the lab's own per-tube numbers from any software
(:func:`compare_manual`, :mod:`assaykit.scoring.manual`) go through the same rows, statistics
and outputs, without F1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import AssayKitError

Source = Literal["workspace", "manual"]
"""What the lab's side of a comparison is: a FlowJo workspace (its gates evaluated on the events)
or a manual results file (the lab's own numbers)."""

COLUMNS = ["file", "well", "patient", "timepoint", "condition", "workspace_sample", "population", "f1",
           "events_in_both", "assaykit_count", "manual_count", "assaykit_hladr", "manual_hladr", "assaykit_abc",
           "manual_abc", "abc_difference_pct", "note"]


# --- statistics ------------------------------------------------------------------------------------


def f1_score(ours: np.ndarray, theirs: np.ndarray) -> float | None:
    """F1 (Dice) of two event masks: 2 |A and B| / (|A| + |B|); None when both are empty."""
    total = int(ours.sum()) + int(theirs.sum())
    return 2.0 * int((ours & theirs).sum()) / total if total else None


@dataclass(frozen=True)
class BlandAltman:
    """Differences ``y - x`` (units of the values): mean (``bias``), sample SD and the 95 % limits
    of agreement ``bias +- 1.96 SD``; the same in % of the pair's mean (``*_pct``)."""

    n: int
    bias: float
    sd: float
    lower: float
    upper: float
    bias_pct: float
    lower_pct: float
    upper_pct: float


def bland_altman(x: np.ndarray, y: np.ndarray) -> BlandAltman:
    """Bland-Altman of paired measurements ``x`` (reference: manual) and ``y`` (assaykit), same
    units; at least two pairs (ValueError otherwise)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size < 2:
        raise ValueError("Bland-Altman needs at least two pairs")
    d, pct = y - x, 100.0 * (y - x) / ((x + y) / 2.0)
    out = []
    for values in (d, pct):
        bias, sd = float(values.mean()), float(values.std(ddof=1))
        out += [bias, sd, bias - 1.96 * sd, bias + 1.96 * sd]
    return BlandAltman(n=int(x.size), bias=out[0], sd=out[1], lower=out[2], upper=out[3], bias_pct=out[4],
                       lower_pct=out[6], upper_pct=out[7])


@dataclass(frozen=True)
class PassingBablok:
    """``y = intercept + slope x`` by Passing and Bablok (1983), with (1 - alpha) confidence
    intervals; ``slope_ci`` containing 1 and ``intercept_ci`` containing 0 means no proportional
    or constant difference."""

    n: int
    slope: float
    intercept: float
    slope_ci: tuple[float, float]
    intercept_ci: tuple[float, float]


def passing_bablok(x: np.ndarray, y: np.ndarray, alpha: float = 0.05) -> PassingBablok:
    """Passing-Bablok regression of ``y`` on ``x`` (same units). Slopes of every pair (pairs
    with equal x and y skipped, equal x only as +-inf), slopes of exactly -1 dropped; the slope is
    their median shifted by K (the number below -1); its CI from the rank ``C = z sqrt(n (n-1)
    (2n+5) / 18)``; the intercept is the median of ``y - slope x``, its CI from the slope's.
    ``alpha``: 1 - the confidence level (0.05: 95 % intervals). At least three pairs (ValueError
    otherwise)."""
    from scipy.stats import norm

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = x.size
    if n < 3:
        raise ValueError("Passing-Bablok needs at least three pairs")
    i, j = np.triu_indices(n, k=1)
    dx, dy = x[j] - x[i], y[j] - y[i]
    keep = ~((dx == 0) & (dy == 0))
    dx, dy = dx[keep], dy[keep]
    with np.errstate(divide="ignore"):
        slopes = np.where(dx != 0, dy / np.where(dx != 0, dx, 1.0), np.copysign(np.inf, dy))
    slopes = np.sort(slopes[slopes != -1.0])
    count, shift = slopes.size, int(np.sum(slopes < -1.0))
    if count == 0:
        raise ValueError("Passing-Bablok needs pairs that differ")

    def ranked(k: int) -> float:  # the k-th (1-based) slope after the shift, clipped to the range
        return float(slopes[min(max(k + shift, 1), count) - 1])

    slope = ranked((count + 1) // 2) if count % 2 else 0.5 * (ranked(count // 2) + ranked(count // 2 + 1))
    c = norm.ppf(1.0 - alpha / 2.0) * math.sqrt(n * (n - 1) * (2 * n + 5) / 18.0)
    m1 = round((count - c) / 2.0)
    m2 = count - m1 + 1
    slope_ci = (ranked(m1), ranked(m2))
    intercept = float(np.median(y - slope * x))
    intercept_ci = (float(np.median(y - slope_ci[1] * x)), float(np.median(y - slope_ci[0] * x)))
    return PassingBablok(n=int(n), slope=slope, intercept=intercept, slope_ci=slope_ci, intercept_ci=intercept_ci)


# --- the run ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TubeAgreement:
    """One tube: the table row, and for the figures the two gates' events on the readout gate's
    display axes (``display``: x, y of every event; masks ``ours``, ``theirs``)."""

    row: dict[str, Any]
    axes: tuple[str, str] | None = None
    display: np.ndarray | None = field(default=None, repr=False)
    ours: np.ndarray | None = field(default=None, repr=False)
    theirs: np.ndarray | None = field(default=None, repr=False)
    outline: tuple[np.ndarray, ...] = field(default=(), repr=False)  # assaykit's gate (figure data)


@dataclass(frozen=True)
class Agreement:
    """``assaykit compare`` of a scored run with a lab's manual gating.

    Parameters
    ----------
    out_dir : Path
        The scored output folder.
    lab : Path
        The lab's FlowJo workspace or manual results file.
    population : str
        The workspace population compared, or the manual file's columns (``source`` "manual").
    unit : str
        The AB/C unit of the run's calibration.
    tubes : tuple of TubeAgreement
        One per tube (and per manual row naming no tube of the run).
    bland_altman : BlandAltman or None
        Of AB/C over the tubes with both values (None under two).
    passing_bablok : PassingBablok or None
        Of AB/C over the tubes with both values (None under three).
    notes : tuple of str
        What the reader must know (no calibration, too few pairs, rows naming no tube).
    source : str
        ``workspace`` (events compared: F1) or ``manual`` (the lab's values: no F1).
    """

    out_dir: Path
    lab: Path
    population: str
    unit: str
    tubes: tuple[TubeAgreement, ...]
    bland_altman: BlandAltman | None
    passing_bablok: PassingBablok | None
    notes: tuple[str, ...]
    source: Source = "workspace"

    def frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame([t.row for t in self.tubes], columns=COLUMNS)


def _calibration(manifest: dict[str, Any]) -> Any:
    from ..beads import Calibration

    doc = manifest.get("calibration")
    if not isinstance(doc, dict):
        return None
    return Calibration(slope=float(doc["slope"]), intercept=float(doc["intercept"]),
                       r_squared=float(doc["r_squared"]), unit=str(doc["unit"]), channel=str(doc["channel"]),
                       peaks=(), missing_values=(), findings=())


def _scored_folder(out_dir: str | Path) -> tuple[Path, dict[str, Any]]:
    """The scored folder ``out_dir``, checked whole, and its manifest."""
    from .tables import read_manifest, verify_outputs

    folder = Path(out_dir)
    problems = verify_outputs(folder)
    if problems:
        raise AssayKitError(f"the output folder is not as scored: {problems[0]}", folder)
    return folder, read_manifest(folder)


def compare_run(out_dir: str | Path, workspace: str | Path, population: str = "Monocytes",
                run_dir: str | Path | None = None, strategy: str | Path | None = None) -> Agreement:
    """Compare the scored run in ``out_dir`` (an ``assaykit score`` output folder, checked whole)
    with the lab's FlowJo ``workspace``: each gated tube's readout population against the
    workspace population ``population`` (a path or a unique name) of the sample made on the same
    file. ``run_dir``: where the FCS files are (default: the run folder the manifest records);
    ``strategy``: the strategy file (default: the manifest's; its sha256 must match). A tube the
    workspace lacks becomes a row with a note. AssayKitError for an unusable folder or workspace."""
    from ..gating import load_strategy
    from ..interop import read_workspace
    from .tables import recorded_run_dir

    folder, manifest = _scored_folder(out_dir)
    runs = recorded_run_dir(folder, manifest, Path(run_dir) if run_dir is not None else None)
    recorded = manifest.get("strategy") or {}
    recorded_path = str(recorded.get("path") or "").removeprefix("shipped:") or None  # a shipped name, or a file
    if recorded_path and not str(recorded.get("path")).startswith("shipped:"):
        recorded_path = str(_from_where_scored(recorded_path, manifest, runs))
    chosen = load_strategy(strategy if strategy is not None else recorded_path)
    if strategy is None and recorded.get("sha256") and chosen.sha256 != recorded.get("sha256"):
        raise AssayKitError(f"the strategy {recorded.get('path')} changed since the run was scored; name the one "
                            "used with --strategy", folder)
    lab = read_workspace(workspace)
    calibration = _calibration(manifest)
    compensation = ((manifest.get("options") or {}).get("compensation") or {}).get("path")
    if compensation:
        compensation = str(_from_where_scored(str(compensation), manifest, runs))
    from .figure_data import read as read_figures

    scored = _Scored(folder=folder, runs=runs, strategy=chosen, calibration=calibration, compensation=compensation,
                     outlines=_outlines(read_figures(folder), chosen.readout.population),
                     gate_files=manifest.get("gate_files"))
    tubes = tuple(_tube(row, scored, lab, population) for row in _blood_rows(folder))
    return _summarise(folder, Path(workspace), population, calibration, tubes, [], "workspace")


def _from_where_scored(path: str, manifest: dict[str, Any], runs: Path) -> Path:
    """A file path the manifest records: absolute since issue 29; an older relative one (relative
    to the folder score ran in) is taken from that folder as the run folder's place tells it
    (the manifest's relative ``run_dir`` below it), else as written."""
    recorded, run = Path(path), Path(str(manifest.get("run_dir") or ""))
    if recorded.is_absolute() or run.is_absolute() or not run.parts or ".." in run.parts:
        return recorded
    base = runs.absolute()
    for _ in run.parts:
        base = base.parent
    return base / recorded if (base / recorded).exists() else recorded


SCALE_LIMIT = 4.0
"""The median ratio of the lab's MFI to assaykit's beyond which (or below its inverse) the two
are refused as different scales (Kaluza's 0-1,024 display scale, a mean for a median column):
no disagreement of gates moves the run's median tube that far."""


def compare_manual(out_dir: str | Path, manual: str | Path, columns: dict[str, str] | None = None,
                   mfi_scale: float = 1.0) -> Agreement:
    """Compare the scored run in ``out_dir`` (checked whole) with the lab's own per-tube results
    in the file ``manual`` (:func:`assaykit.scoring.manual.read_manual`: ``file``,
    ``monocytes``, ``hladr_mfi`` or ``hladr_abc``, or the lab's names for them in ``columns``),
    from any software: the same table and statistics as a workspace gives, without F1 (it
    needs events). The lab's AB/C is its own when given, else its MFI through the run's bead
    calibration. A tube the file lacks, and a row naming no tube of the run, are rows with a
    note. No FCS file is read. AssayKitError for an unusable folder or file.

    Parameters
    ----------
    out_dir : str or Path
        The ``assaykit score`` output folder.
    manual : str or Path
        The lab's results file (CSV or TSV).
    columns : dict or None
        The lab's column name per key (``{"monocytes": "Monocytes Count"}``).
    mfi_scale : float
        The factor that brings the lab's MFI to the FCS file's scale values (Kaluza: the
        channel's ``$PnR`` / 1,024); the MFI are shown so multiplied. The median ratio of the
        lab's MFI to assaykit's over the tubes must lie within :data:`SCALE_LIMIT` (else refused).
    """
    from .._io.names import escape
    from .._io.validate import quote
    from .manual import match_rows, read_manual

    folder, manifest = _scored_folder(out_dir)
    table = read_manual(manual, columns)
    if not (math.isfinite(mfi_scale) and mfi_scale > 0):
        raise AssayKitError(f"the MFI scale {mfi_scale!r} is not a number above 0", table.path)
    table = replace(table, rows=tuple(replace(r, hladr_mfi=r.hladr_mfi * mfi_scale if r.hladr_mfi is not None
                                              else None) for r in table.rows))
    calibration = _calibration(manifest)
    every = _sample_rows(folder)
    matched, unknown = match_rows(table, [r["file"] for r in every])
    blood = [r for r in every if r.get("role") in BLOOD]
    _check_scale(blood, matched, table.path, mfi_scale)
    tubes = [_manual_tube(row, matched.get(row["file"]), calibration) for row in blood]
    notes = []
    others = sorted(f"{quote(r['file'])} ({r.get('role', '')})" for r in every
                    if r.get("role") not in BLOOD and r["file"] in matched)
    if others:
        notes.append(f"not compared, not blood tubes: {', '.join(others)}")
    for extra in unknown:
        out: dict[str, Any] = {k: None for k in COLUMNS}
        out.update({k: "" for k in ("well", "patient", "timepoint", "condition", "workspace_sample", "population")},
                   file=extra.file, manual_count=_count(extra.monocytes), manual_hladr=extra.hladr_mfi,
                   manual_abc=(extra.hladr_abc if extra.hladr_abc is not None
                               else _converted(extra.hladr_mfi, calibration)),
                   note=f"row {extra.row} of the manual file: not a tube of the scored run")
        tubes.append(TubeAgreement(out))
    if unknown:
        shown = ", ".join(quote(r.file) for r in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        notes.append(f"{len(unknown)} row(s) of the manual file name no tube of the scored run: {shown}")
    described = ", ".join(f"{k}={escape(v)}" for k, v in table.columns.items() if v)
    return _summarise(folder, table.path, described, calibration, tuple(tubes), notes, "manual")


def _check_scale(blood: list[dict[str, str]], matched: dict[str, Any], path: Path, mfi_scale: float) -> None:
    """Refuse the lab's MFI when, converted to AB/C (no ``hladr_abc``), they are not on the
    file's scale: median ratio to assaykit's beyond :data:`SCALE_LIMIT`."""
    ratios = []
    for row in blood:
        manual, ours = matched.get(row["file"]), _number(row.get("hladr_mfi", ""))
        if manual is not None and manual.hladr_abc is None and manual.hladr_mfi and manual.hladr_mfi > 0 \
                and ours and ours > 0:
            ratios.append(manual.hladr_mfi / ours)
    if not ratios:
        return
    ratio = float(np.median(ratios))
    if 1.0 / SCALE_LIMIT <= ratio <= SCALE_LIMIT:
        return
    raise AssayKitError(f"the manual MFI{' (times ' + format(mfi_scale, 'g') + ')' if mfi_scale != 1 else ''} are "
                        f"{ratio:.4g} times assaykit's (median of {len(ratios)} tubes): not the FCS file's scale. "
                        "Kaluza reports on its 0-1,024 scale (give --mfi-scale with the channel's $PnR / 1024); "
                        "else check that the column is the HLA-DR median", path)


def _base_row(row: dict[str, str]) -> dict[str, Any]:
    """An agreement row with the scored tube's own values (samples.csv)."""
    out: dict[str, Any] = {k: None for k in COLUMNS}
    out.update({k: row.get(k, "") for k in ("file", "well", "patient", "timepoint", "condition")})
    out.update(population="", workspace_sample="", note="", assaykit_count=_count(_number(row.get("monocytes", ""))),
               assaykit_hladr=_number(row.get("hladr_mfi", "")), assaykit_abc=_number(row.get("hladr_abc", "")))
    return out


def _manual_tube(row: dict[str, str], manual: Any, calibration: Any) -> TubeAgreement:
    """A scored tube against the lab's row ``manual`` (None: the file has none)."""
    out = _base_row(row)
    notes = [f"not gated by assaykit: {row['error']}"] if row.get("error") else []
    if manual is None:
        out["note"] = "; ".join([*notes, "no row in the manual file"])
        return TubeAgreement(out)
    out.update(manual_count=_count(manual.monocytes), manual_hladr=manual.hladr_mfi)
    if manual.hladr_abc is not None:
        if manual.hladr_abc > 0:
            out["manual_abc"] = manual.hladr_abc
        else:
            notes.append("the manual AB/C is not above 0")
    elif manual.hladr_mfi is not None:
        out["manual_abc"] = _converted(manual.hladr_mfi, calibration)
        if out["manual_abc"] is None and calibration is not None:
            notes.append("the manual MFI is not above 0: no AB/C")
    else:
        notes.append("no manual HLA-DR value")
    _difference(out)
    out["note"] = "; ".join(notes)
    return TubeAgreement(out)


def _count(value: float | None) -> int | None:
    """A count read as a number (samples.csv, the manual file) as the whole number it is."""
    return int(value) if value is not None and value.is_integer() else None


def _converted(value: float | None, calibration: Any) -> float | None:
    """``value`` (MFI) in AB/C through the run's bead calibration; None without one or at 0 or below."""
    if calibration is None or value is None or not value > 0:
        return None
    return float(calibration.convert(value))


def _difference(out: dict[str, Any]) -> None:
    """The row's AB/C difference, ``100 (assaykit - manual) / manual`` %, when both are known."""
    if out["manual_abc"] and out["assaykit_abc"]:
        out["abc_difference_pct"] = 100.0 * (out["assaykit_abc"] - out["manual_abc"]) / out["manual_abc"]


def _summarise(folder: Path, lab: Path, population: str, calibration: Any, tubes: tuple[TubeAgreement, ...],
               notes: list[str], source: Source) -> Agreement:
    """The run's agreement: Bland-Altman and Passing-Bablok of the tubes with both AB/C, and the notes."""
    x = np.array([t.row["manual_abc"] for t in tubes if _paired(t)], dtype=np.float64)
    y = np.array([t.row["assaykit_abc"] for t in tubes if _paired(t)], dtype=np.float64)
    notes = list(notes)
    if calibration is None:
        notes.append("the run has no bead calibration: AB/C not compared")
    ba = bland_altman(x, y) if x.size >= 2 else None
    pb = passing_bablok(x, y) if x.size >= 3 else None
    if x.size < 3:
        notes.append(f"{x.size} tube(s) with AB/C by both gates: too few for Passing-Bablok (3) "
                     + ("" if x.size >= 2 else "or Bland-Altman (2)"))
    unit = calibration.cell_unit if calibration is not None else "AB/C"
    return Agreement(out_dir=folder, lab=lab, population=population, unit=unit, tubes=tubes, bland_altman=ba,
                     passing_bablok=pb, notes=tuple(notes), source=source)


def _outlines(figures: dict[str, Any], population: str) -> dict[str, tuple[np.ndarray, ...]]:
    """Per tube file, the outlines of assaykit's ``population`` gate in its figure data."""
    out = {}
    for name, tube in (figures.get("tubes") or {}).items():
        for panel in tube.get("panels", []):
            if panel.get("population") == population:
                out[name] = tuple(np.asarray(o, dtype=np.float64) for o in panel.get("outlines", []))
    return out


def _paired(tube: TubeAgreement) -> bool:
    values = (tube.row["manual_abc"], tube.row["assaykit_abc"])
    return all(v is not None and math.isfinite(v) and v > 0 for v in values)


def _sample_rows(folder: Path) -> list[dict[str, str]]:
    """Every row of the scored folder's samples.csv, names as read."""
    import csv

    from .._io.names import read_cell

    with (folder / "samples.csv").open(newline="", encoding="utf-8") as handle:
        return [{read_cell(k): read_cell(v) for k, v in r.items() if isinstance(k, str) and isinstance(v, str)}
                for r in csv.DictReader(handle)]  # the cells as written (_io.names.cell): names as read


def _blood_rows(folder: Path) -> list[dict[str, str]]:
    return [r for r in _sample_rows(folder) if r.get("role") in BLOOD]


BLOOD = ("sample", "isotype")
"""The roles of the tubes compared (a bead or blank tube has no monocytes)."""


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class _Scored:
    """What compare needs of the scored run: its folders, strategy, calibration, compensation,
    each tube's outline and gate file (manifest ``gate_files``; None for a run scored before it)."""

    folder: Path
    runs: Path
    strategy: Any
    calibration: Any
    compensation: str | None
    outlines: dict[str, tuple[np.ndarray, ...]]
    gate_files: dict[str, str] | None


def _tube(row: dict[str, str], scored: _Scored, lab: Any, population: str) -> TubeAgreement:
    from ..errors import GatingError

    out = _base_row(row)
    if row.get("error"):
        out["note"] = f"not gated by assaykit: {row['error']}"
        return TubeAgreement(out)
    try:
        sample = lab.sample_for(row["file"])
        out["workspace_sample"] = sample.name
        path = sample.population(population)
        out["population"] = path
    except GatingError as error:
        out["note"] = error.message
        return TubeAgreement(out)
    try:
        return _measure(out, row, scored, sample, path)
    except AssayKitError as error:
        out["note"] = error.message
        return TubeAgreement(out)


def _measure(out: dict[str, Any], row: dict[str, str], scored: _Scored, sample: Any, path: str) -> TubeAgreement:
    from ..fcs import read_compensation, read_fcs
    from ..gating import GatingFrame, statistics
    from ..interop import evaluate, read_gatingml
    from .pipeline import gate_file_names

    strategy, calibration, compensation = scored.strategy, scored.calibration, scored.compensation
    fcs = scored.runs / row["file"]
    recorded = (scored.gate_files.get(row["file"]) if scored.gate_files is not None
                else gate_file_names([fcs])[fcs])  # a run scored before the manifest recorded them
    gates = scored.folder / recorded if recorded else None
    if gates is None or not gates.is_file():
        out["note"] = "no assaykit gate file for this tube (a gate set by hand from a workspace, or not exportable)"
        return TubeAgreement(out)
    data = read_fcs(fcs)
    if row.get("sha256") and data.sha256 != row["sha256"]:
        raise AssayKitError("the FCS file changed since the run was scored (sha256 differs)", fcs)
    readout = strategy.readout
    ours = evaluate(read_gatingml(gates), data)[readout.population]
    theirs = evaluate(sample.document, data)[path]
    spill = read_compensation(Path(compensation), fcs.name) if compensation else "file"
    frame = GatingFrame(data, strategy, spill)
    values = frame.scale(readout.marker)
    manual = statistics(values[theirs])[readout.statistic]
    out.update(f1=f1_score(ours, theirs), events_in_both=int((ours & theirs).sum()), assaykit_count=int(ours.sum()),
               manual_count=int(theirs.sum()), assaykit_hladr=statistics(values[ours])[readout.statistic],
               manual_hladr=manual)
    out["manual_abc"] = _converted(manual, calibration)
    if out["manual_abc"] is not None and out["assaykit_hladr"] is not None and out["assaykit_hladr"] > 0:
        out["assaykit_abc"] = _converted(out["assaykit_hladr"], calibration)
    _difference(out)
    gate = next(p.gate for p in strategy.populations if p.name == readout.population)
    dims = tuple(getattr(gate, "dims", ()) or ())
    if len(dims) != 2:
        return TubeAgreement(out)
    display = np.column_stack([frame.display(d) for d in dims])
    return TubeAgreement(out, axes=(dims[0], dims[1]), display=display, ours=ours, theirs=theirs,
                         outline=scored.outlines.get(row["file"], ()))
