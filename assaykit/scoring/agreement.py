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
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import AssayKitError
from .platemap import BLOOD_ROLES

Measure = Literal["abc", "mfi"]
"""What a comparison's statistics are of: AB/C (the run has a bead calibration) or the HLA-DR
MFI (it has none: many labs report MFI without QuantiBRITE)."""
PAIRED = {"abc": ("manual_abc", "assaykit_abc"), "mfi": ("manual_hladr", "assaykit_hladr")}
"""The agreement.csv columns (manual, assaykit) each :data:`Measure` pairs."""

Source = Literal["workspace", "manual"]
"""What the lab's side of a comparison is: a FlowJo workspace (its gates evaluated on the events)
or a manual results file (the lab's own numbers)."""

COLUMNS = ["file", "well", "patient", "timepoint", "condition", "workspace_sample", "population", "f1",
           "events_in_both", "assaykit_count", "manual_count", "assaykit_hladr", "manual_hladr", "assaykit_abc",
           "manual_abc", "abc_difference_pct", "hladr_difference_pct", "note"]


# --- statistics ------------------------------------------------------------------------------------


MAX_UNKNOWN_ROWS = 50
"""Rows of a manual file naming no tube of the run listed in agreement.csv/html (the rest counted in a note)."""

def f1_score(ours: np.ndarray, theirs: np.ndarray) -> float | None:
    """F1 (Dice) of two event masks: 2 |A and B| / (|A| + |B|); None when both are empty."""
    total = int(ours.sum()) + int(theirs.sum())
    return 2.0 * int((ours & theirs).sum()) / total if total else None


@dataclass(frozen=True)
class BlandAltman:
    """Differences ``y - x`` (units of the values): mean (``bias``), sample SD and the 95 % limits
    of agreement ``bias +- 1.96 SD``; the same in % of the pair's mean (``*_pct``).

    The confidence intervals (``*_ci``, two-sided, 95 % unless :func:`bland_altman` was given
    another ``confidence``): the bias's by t on n - 1 df; each limit's exact one by the
    noncentral t distribution (Carkeet 2015; Bland & Altman 1999's approximation
    ``limit +- t sqrt(3 SD^2 / n)`` is close from n = 30). ``mean_difference_pct``: the mean of
    ``100 (y - x) / x`` (percent of the reference ``x``: Quadrini 2021's % difference) with its t
    interval ``mean_difference_pct_ci``. The intervals default to (nan, nan) for a value built
    without them.
    """

    n: int
    bias: float
    sd: float
    lower: float
    upper: float
    bias_pct: float
    lower_pct: float
    upper_pct: float
    bias_ci: tuple[float, float] = (math.nan, math.nan)
    lower_ci: tuple[float, float] = (math.nan, math.nan)
    upper_ci: tuple[float, float] = (math.nan, math.nan)
    bias_pct_ci: tuple[float, float] = (math.nan, math.nan)
    lower_pct_ci: tuple[float, float] = (math.nan, math.nan)
    upper_pct_ci: tuple[float, float] = (math.nan, math.nan)
    mean_difference_pct: float = math.nan
    mean_difference_pct_ci: tuple[float, float] = (math.nan, math.nan)


LOA_Z = 1.96
"""The limits of agreement: bias +- 1.96 SD (Bland & Altman 1986)."""


def _mean_ci(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """Two-sided t interval of the mean of ``values`` (nan, nan under two values)."""
    from scipy.stats import t

    n = values.size
    if n < 2:
        return (math.nan, math.nan)
    half = float(t.ppf(0.5 + confidence / 2.0, n - 1)) * float(values.std(ddof=1)) / math.sqrt(n)
    mean = float(values.mean())
    return (mean - half, mean + half)


def loa_ci(mean: float, sd: float, n: int, confidence: float = 0.95, z: float = LOA_Z) -> tuple[tuple[float, float],
                                                                                               tuple[float, float]]:
    """Exact two-sided ``confidence`` intervals (fraction, 0.95) of the lower and upper limits of
    agreement ``mean -+ z sd`` (units of the differences) of ``n`` differences (n >= 2), by the
    noncentral t distribution (Carkeet 2015): the upper limit's bounds are ``mean + sd
    t'(q; n - 1, z sqrt(n)) / sqrt(n)`` at q = (1 -+ confidence) / 2; the lower limit's mirror them."""
    from scipy.stats import nct

    root = math.sqrt(n)
    tail = (1.0 - confidence) / 2.0
    k_low = float(nct.ppf(tail, n - 1, z * root)) / root
    k_high = float(nct.ppf(1.0 - tail, n - 1, z * root)) / root
    return (mean - k_high * sd, mean - k_low * sd), (mean + k_low * sd, mean + k_high * sd)


def bland_altman(x: np.ndarray, y: np.ndarray, confidence: float = 0.95) -> BlandAltman:
    """Bland-Altman of paired measurements ``x`` (reference: manual) and ``y`` (assaykit), same
    units; at least two pairs (ValueError otherwise). ``confidence``: the two-sided level of the
    intervals (fraction, 0.95); the limits themselves stay bias +- 1.96 SD. The mean % difference
    from ``x`` needs every ``x`` non-zero (nan otherwise)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size < 2:
        raise ValueError("Bland-Altman needs at least two pairs")
    n = int(x.size)
    d, pct = y - x, 100.0 * (y - x) / ((x + y) / 2.0)
    out: list[float] = []
    cis: list[tuple[float, float]] = []
    for values in (d, pct):
        bias, sd = float(values.mean()), float(values.std(ddof=1))
        out += [bias, sd, bias - LOA_Z * sd, bias + LOA_Z * sd]
        cis += [_mean_ci(values, confidence), *loa_ci(bias, sd, n, confidence)]
    if np.all(x != 0):
        of_reference = 100.0 * (y - x) / x
        mean_pct, mean_pct_ci = float(of_reference.mean()), _mean_ci(of_reference, confidence)
    else:
        mean_pct, mean_pct_ci = math.nan, (math.nan, math.nan)
    return BlandAltman(n=n, bias=out[0], sd=out[1], lower=out[2], upper=out[3], bias_pct=out[4],
                       lower_pct=out[6], upper_pct=out[7], bias_ci=cis[0], lower_ci=cis[1], upper_ci=cis[2],
                       bias_pct_ci=cis[3], lower_pct_ci=cis[4], upper_pct_ci=cis[5], mean_difference_pct=mean_pct,
                       mean_difference_pct_ci=mean_pct_ci)


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


PASSING_BABLOK_MAX_N = 5000
"""The most pairs Passing-Bablok is computed for: its n (n - 1) / 2 pairwise slopes are held at
once (5,000 pairs: 12.5 million slopes, a few hundred MB); a method comparison (CLSI EP09: 40 to
100 samples) never needs more. More pairs: no Passing-Bablok, said in the notes."""


def passing_bablok(x: np.ndarray, y: np.ndarray, alpha: float = 0.05) -> PassingBablok:
    """Passing-Bablok regression of ``y`` on ``x`` (same units). Slopes of every pair (pairs
    with equal x and y skipped, equal x only as +-inf), slopes of exactly -1 dropped; the slope is
    their median shifted by K (the number below -1); its CI from the rank ``C = z sqrt(n (n-1)
    (2n+5) / 18)``; the intercept is the median of ``y - slope x``, its CI from the slope's.
    ``alpha``: 1 - the confidence level (0.05: 95 % intervals). At least three pairs (ValueError
    otherwise), at most :data:`PASSING_BABLOK_MAX_N` (ValueError: memory bounded)."""
    from scipy.stats import norm

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = x.size
    if n < 3:
        raise ValueError("Passing-Bablok needs at least three pairs")
    if n > PASSING_BABLOK_MAX_N:
        raise ValueError(f"Passing-Bablok is computed for at most {PASSING_BABLOK_MAX_N} pairs, not {n}")
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
    measure : str
        What the statistics are of (:data:`Measure`): ``abc``, or ``mfi`` for a run without a
        bead calibration.
    warnings : tuple of str
        What the user must see on the command line too (a scale factor that looks wrong).
    lab_rows : int
        Rows of the lab's manual results file read (0 for a workspace).
    lab_matched : int
        Of them, those naming a tube of the scored run (0 for a workspace).
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
    measure: Measure = "abc"
    warnings: tuple[str, ...] = ()
    lab_rows: int = 0
    lab_matched: int = 0

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """The (manual, assaykit) values of :attr:`measure` of the tubes that have both (above 0)."""
        return _pairs(self.tubes, self.measure)

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
    from ..interop import read_workspace
    from .tables import recorded_run_dir

    folder, manifest = _scored_folder(out_dir)
    runs = recorded_run_dir(folder, manifest, Path(run_dir) if run_dir is not None else None)
    chosen = _recorded_strategy(folder, manifest, runs, strategy)
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


def _recorded_strategy(folder: Path, manifest: dict[str, Any], runs: Path, strategy: str | Path | None = None) -> Any:
    """The strategy ``strategy`` (a file) or else the one the manifest records, checked unchanged
    (its sha256); AssayKitError when it changed."""
    from ..gating import load_strategy

    recorded = manifest.get("strategy") or {}
    recorded_path = str(recorded.get("path") or "").removeprefix("shipped:") or None  # a shipped name, or a file
    if recorded_path and not str(recorded.get("path")).startswith("shipped:"):
        recorded_path = str(_from_where_scored(recorded_path, manifest, runs))
    chosen = load_strategy(strategy if strategy is not None else recorded_path)
    if strategy is None and recorded.get("sha256") and chosen.sha256 != recorded.get("sha256"):
        raise AssayKitError(f"the strategy {recorded.get('path')} changed since the run was scored; name the one "
                            "used with --strategy", folder)
    return chosen


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
AGREEING = (0.8, 1.25)
"""A median ratio of the lab's MFI to assaykit's within which the two are on one scale."""
POWER_OF_TWO = 0.15
"""How near (in log2) a constant ratio of the lab's MFI to assaykit's must lie to a power of two
(1/4, 1/2, 2, 4 ...) to be named as a scale factor off by that much."""
CONSTANT = 0.15
"""The relative spread within which every tube's ratio counts as one constant ratio."""
KALUZA_RANGE = 1024.0
"""Kaluza's display scale (0-1,024) on which it reports statistics."""


def compare_manual(out_dir: str | Path, manual: str | Path, columns: dict[str, str] | None = None,
                   mfi_scale: float = 1.0, mfi_range: float | None = None,
                   run_dir: str | Path | None = None, gate: str | None = None) -> Agreement:
    """Compare the scored run in ``out_dir`` (checked whole) with the lab's own per-tube results
    in the file ``manual`` (:func:`assaykit.scoring.manual.read_manual`: ``file``,
    ``monocytes``, ``hladr_mfi`` or ``hladr_abc``, or the lab's names for them in ``columns``),
    from any software: the same table and statistics as a workspace gives, without F1 (it
    needs events). The lab's AB/C is its own when given, else its MFI through the run's bead
    calibration; a run without one compares the MFI. A tube the file lacks, and a row naming no
    tube of the run, are rows with a note. Only the FCS files' TEXT is read (each tube's readout
    channel's range). AssayKitError for an unusable folder or file.

    Parameters
    ----------
    out_dir : str or Path
        The ``assaykit score`` output folder.
    manual : str or Path
        The lab's results file (CSV or TSV).
    columns : dict or None
        The lab's column name per key (``{"monocytes": "Monocytes Count"}``).
    mfi_scale : float
        The factor that brings the lab's MFI to the FCS file's scale values; the MFI are shown
        so multiplied. When the tubes' FCS files are at hand, a factor other than 1 that
        disagrees with their readout channel's range on Kaluza's 0-1,024 scale while the
        range's factor fits the values is refused, naming the right one.
    mfi_range : float or None
        The top of the scale the lab's MFI are on (Kaluza: 1,024): each tube's factor is its
        readout channel's top of scale (``$PnR``, over ``$PnG``) divided by it, read from its FCS
        file (found as for :func:`compare_run`); not with ``mfi_scale``.
    run_dir : str or Path or None
        Where the FCS files are (default: the run folder the manifest records).
    gate : str or None
        Read only the rows of this gate (the file's ``gate`` column, or the one ``columns``
        maps): a Kaluza export lists every gate's statistics.

    The median ratio of the lab's MFI to assaykit's over the tubes must lie within
    :data:`SCALE_LIMIT` (else refused); a constant ratio near a power of two is a warning
    (:attr:`Agreement.warnings`) naming the likely factor.
    """
    from .._io.names import escape
    from .._io.validate import quote
    from .manual import match_rows, read_manual

    folder, manifest = _scored_folder(out_dir)
    table = read_manual(manual, columns, gate, mfi_range)
    for option, value in (("MFI scale", mfi_scale), ("MFI range", mfi_range)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise AssayKitError(f"the {option} {value!r} is not a number above 0", table.path)
    if mfi_range is not None and mfi_scale != 1:
        raise AssayKitError("give the MFI's scale as a range (--mfi-range) or a factor (--mfi-scale), not both",
                            table.path)
    calibration = _calibration(manifest)
    every = _sample_rows(folder)
    matched, unknown = match_rows(table, [r["file"] for r in every])
    blood = [r for r in every if r.get("role") in BLOOD_ROLES]
    tops = _readout_tops(folder, manifest, Path(run_dir) if run_dir is not None else None,
                         [r["file"] for r in blood if r["file"] in matched])
    factors = _factors(tops, mfi_scale, mfi_range, table.path)
    known = set(factors.values())
    default = known.pop() if len(known) == 1 else mfi_scale if mfi_range is None else None

    def scaled(row: Any, factor: float | None) -> Any:
        return replace(row, hladr_mfi=row.hladr_mfi * factor if row.hladr_mfi is not None and factor else None)

    matched = {f: scaled(r, factors.get(f, default)) for f, r in matched.items()}
    unknown = [scaled(r, default) for r in unknown]
    warnings = _check_scale(blood, matched, table.path, mfi_scale, mfi_range, tops)
    tubes = [_manual_tube(row, matched.get(row["file"]), calibration) for row in blood]
    notes = list(warnings)
    others = sorted(f"{quote(r['file'])} ({r.get('role', '')})" for r in every
                    if r.get("role") not in BLOOD_ROLES and r["file"] in matched)
    if others:
        notes.append(f"not compared, not blood tubes: {', '.join(others)}")
    for extra in unknown[:MAX_UNKNOWN_ROWS]:  # the rest counted in the note: a file naming no tube stays small
        out: dict[str, Any] = {k: None for k in COLUMNS}
        out.update({k: "" for k in ("well", "patient", "timepoint", "condition", "workspace_sample", "population")},
                   file=extra.file, manual_count=_count(extra.monocytes), manual_hladr=extra.hladr_mfi,
                   manual_abc=(extra.hladr_abc if extra.hladr_abc is not None
                               else _converted(extra.hladr_mfi, calibration)),
                   note=f"row {extra.row} of the manual file: not a tube of the scored run")
        tubes.append(TubeAgreement(out))
    if unknown:
        shown = ", ".join(quote(r.file) for r in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        notes.append(f"{len(unknown)} row(s) of the manual file name no tube of the scored run: {shown}"
                     + (f" (the first {MAX_UNKNOWN_ROWS} listed as rows)" if len(unknown) > MAX_UNKNOWN_ROWS else ""))
    described = ", ".join(f"{k}={escape(v)}" for k, v in table.columns.items() if v)
    if gate is not None:
        described += f"; gate {escape(gate)}"
    if mfi_range is not None:
        described += f"; MFI on a 0-{mfi_range:,g} scale"
    elif mfi_scale != 1:
        described += f"; MFI times {mfi_scale:g}"
    found = _summarise(folder, table.path, described, calibration, tuple(tubes), notes, "manual", warnings)
    return replace(found, lab_rows=len(table.rows), lab_matched=len(matched))


Top = tuple[str, float] | str
"""A tube's readout channel and its top of scale, or why they are unknown."""


def _readout_tops(folder: Path, manifest: dict[str, Any], run_dir: Path | None, files: list[str]) -> dict[str, Top]:
    """Per tube file, its readout marker's channel (the scored strategy's) and that channel's top
    of scale from the file's TEXT (no DATA read), or why they are unknown (no run folder, no file)."""
    from ..fcs import find_channel, read_fcs_text
    from ..fcs.reader import text_scale_tops
    from .tables import recorded_run_dir

    if not files:
        return {}
    try:
        runs = recorded_run_dir(folder, manifest, run_dir)
        strategy = _recorded_strategy(folder, manifest, runs)
    except AssayKitError as error:
        return dict.fromkeys(files, error.message)
    marker = strategy.markers[strategy.readout.marker]
    others = list(strategy.markers.values())
    out: dict[str, Top] = {}
    for name in files:
        try:
            keywords = read_fcs_text(runs / name)
            count = int(keywords.get("$PAR", "0").strip() or 0)
            channels = [keywords.get(f"$P{n}N", f"P{n}").strip() for n in range(1, count + 1)]
            labels = [keywords.get(f"$P{n}S", "").strip() for n in range(1, count + 1)]
            index = find_channel(marker, channels, labels, others=others)
            top = text_scale_tops(keywords, channels)[index]
            out[name] = (channels[index], top) if top > 0 else f"{runs / name}: {channels[index]} has no $PnR"
        except AssayKitError as error:
            out[name] = str(error)
        except ValueError as error:
            out[name] = f"{runs / name}: {error}"
    return out


def _factors(tops: dict[str, Top], mfi_scale: float, mfi_range: float | None, path: Path) -> dict[str, float]:
    """Each tube's factor to the FCS file's scale: from its channel's top with ``mfi_range``
    (AssayKitError naming a tube whose top is unknown), else ``mfi_scale`` for every tube."""
    if mfi_range is None:
        return dict.fromkeys(tops, mfi_scale)
    unknown = [why for why in tops.values() if isinstance(why, str)]
    if unknown:
        raise AssayKitError(f"--mfi-range takes each tube's factor from its FCS file's range, which is unknown for "
                            f"{len(unknown)} tube(s): {unknown[0]}; name the run folder with --run, or give "
                            "--mfi-scale", path)
    return {f: top[1] / mfi_range for f, top in tops.items() if not isinstance(top, str)}


def _check_scale(blood: list[dict[str, str]], matched: dict[str, Any], path: Path, mfi_scale: float,
                 mfi_range: float | None, tops: dict[str, Top]) -> list[str]:
    """Refuse the lab's MFI (scaled) when, converted to AB/C or compared (no ``hladr_abc``), they
    are not on the file's scale: median ratio to assaykit's beyond :data:`SCALE_LIMIT`, or a
    ``mfi_scale`` that disagrees with the tubes' ranges (Kaluza's 0-1,024 scale) while the
    range's factor fits. The warnings: a constant ratio near a power of two, naming the factor."""
    ratios = []
    for row in blood:
        manual, ours = matched.get(row["file"]), _number(row.get("hladr_mfi", ""))
        if manual is not None and manual.hladr_abc is None and manual.hladr_mfi and manual.hladr_mfi > 0 \
                and ours and ours > 0:
            ratios.append(manual.hladr_mfi / ours)
    if not ratios:
        return []
    ratio = float(np.median(ratios))
    known = {t for t in tops.values() if not isinstance(t, str)}
    given = f"--mfi-range {mfi_range:g}" if mfi_range is not None else f"--mfi-scale {mfi_scale:g}"
    kaluza = ""
    if len(known) == 1:
        channel, top = known.pop()
        right = top / KALUZA_RANGE
        kaluza = (f"{channel}'s range {top:,.0f} on Kaluza's 0-1,024 scale: --mfi-range 1024, i.e. --mfi-scale "
                  f"{right:g}")
        fits = AGREEING[0] <= ratio * right / mfi_scale <= AGREEING[1]
        if mfi_range is None and mfi_scale != 1 and abs(mfi_scale / right - 1) > 0.01 and fits:
            raise AssayKitError(f"--mfi-scale {mfi_scale:g} disagrees with the tubes' HLA-DR channel: {channel} runs "
                                f"to {top:,.0f}, so a 0-1,024 export's factor is {right:g}; the MFI so scaled are "
                                f"{ratio:.3g} times assaykit's, with {right:g} {ratio * right / mfi_scale:.3g} times: "
                                f"give --mfi-range 1024 (the factor from each tube's range)", path)
    if not 1.0 / SCALE_LIMIT <= ratio <= SCALE_LIMIT:
        raise AssayKitError(f"the manual MFI{'' if given == '--mfi-scale 1' else ' (' + given + ')'} are "
                            f"{ratio:.4g} times assaykit's (median of {len(ratios)} tubes): not the FCS file's scale. "
                            + (f"Kaluza reports on its 0-1,024 scale ({kaluza}); " if kaluza else
                               "Kaluza reports on its 0-1,024 scale (give --mfi-range 1024, or --mfi-scale with the "
                               "channel's $PnR / 1024); ")
                            + "else check that the column is the HLA-DR median", path)
    power = round(math.log2(ratio))
    constant = all(abs(r / ratio - 1) <= CONSTANT for r in ratios)
    if power == 0 or abs(math.log2(ratio) - power) > POWER_OF_TWO or not constant:
        return []
    better = (f"--mfi-range {mfi_range * 2 ** power:g}" if mfi_range is not None
              else f"--mfi-scale {mfi_scale / 2 ** power:g}")
    return [f"the manual MFI ({given}) are {ratio:.3g} times assaykit's on every tube (a constant "
            f"{100 * (ratio - 1):+.0f} %): a scale off by a factor {2.0 ** abs(power):g}? {better} would make them "
            f"{ratio / 2 ** power:.3g} times" + (f" ({kaluza})" if kaluza else "")]


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
    """The row's AB/C and HLA-DR (MFI) differences, ``100 (assaykit - manual) / manual`` %, when
    both are known."""
    for column, (manual, ours) in (("abc_difference_pct", PAIRED["abc"]), ("hladr_difference_pct", PAIRED["mfi"])):
        if out[manual] and out[ours] and out[manual] > 0 and out[ours] > 0:
            out[column] = 100.0 * (out[ours] - out[manual]) / out[manual]


def _summarise(folder: Path, lab: Path, population: str, calibration: Any, tubes: tuple[TubeAgreement, ...],
               notes: list[str], source: Source, warnings: Sequence[str] = ()) -> Agreement:
    """The run's agreement: Bland-Altman and Passing-Bablok of the tubes with both AB/C (without a
    bead calibration: both HLA-DR MFI, each tube's note saying so), and the notes."""
    measure: Measure = "abc" if calibration is not None else "mfi"
    notes = list(notes)
    if calibration is None:
        notes.append(f"{NO_CALIBRATION}: HLA-DR MFI compared instead (the same channel and statistic on both sides)")
        tubes = tuple(_noted(t, NO_CALIBRATION + ": MFI compared") if _pairs([t], "mfi")[0].size else
                      _noted(t, NO_CALIBRATION + " and the manual file gives AB/C, not MFI: nothing to compare")
                      if t.row["manual_abc"] is not None and t.row["manual_hladr"] is None else t for t in tubes)
    x, y = _pairs(tubes, measure)
    ba = bland_altman(x, y) if x.size >= 2 else None
    pb = passing_bablok(x, y) if 3 <= x.size <= PASSING_BABLOK_MAX_N else None
    what = "AB/C" if measure == "abc" else "HLA-DR MFI"
    if x.size > PASSING_BABLOK_MAX_N:
        notes.append(f"{x.size} tubes with {what} by both gates: more than {PASSING_BABLOK_MAX_N}, no Passing-Bablok")
    if x.size < 3:
        notes.append(f"{x.size} tube(s) with {what} by both gates: too few for Passing-Bablok (3) "
                     + ("" if x.size >= 2 else "or Bland-Altman (2)"))
    unit = calibration.cell_unit if calibration is not None else "MFI"
    return Agreement(out_dir=folder, lab=lab, population=population, unit=unit, tubes=tubes, bland_altman=ba,
                     passing_bablok=pb, notes=tuple(notes), source=source, measure=measure, warnings=tuple(warnings))


NO_CALIBRATION = "the run has no bead calibration"


def _noted(tube: TubeAgreement, note: str) -> TubeAgreement:
    """``tube`` with ``note`` added to its row's note."""
    row = dict(tube.row)
    row["note"] = "; ".join(n for n in (row["note"], note) if n)
    return replace(tube, row=row)


def _outlines(figures: dict[str, Any], population: str) -> dict[str, tuple[np.ndarray, ...]]:
    """Per tube file, the outlines of assaykit's ``population`` gate in its figure data."""
    out = {}
    for name, tube in (figures.get("tubes") or {}).items():
        for panel in tube.get("panels", []):
            if panel.get("population") == population:
                out[name] = tuple(np.asarray(o, dtype=np.float64) for o in panel.get("outlines", []))
    return out


def _pairs(tubes: tuple[TubeAgreement, ...] | list[TubeAgreement], measure: Measure) -> tuple[np.ndarray, np.ndarray]:
    """The (manual, assaykit) values of ``measure`` of the ``tubes`` that have both, above 0."""
    columns = PAIRED[measure]
    both = [[t.row[c] for c in columns] for t in tubes
            if all(t.row[c] is not None and math.isfinite(t.row[c]) and t.row[c] > 0 for c in columns)]
    values = np.array(both, dtype=np.float64).reshape(-1, 2)
    return values[:, 0], values[:, 1]


def _sample_rows(folder: Path) -> list[dict[str, str]]:
    """Every row of the scored folder's samples.csv, names as read."""
    import csv

    from .._io.names import read_cell

    with (folder / "samples.csv").open(newline="", encoding="utf-8") as handle:
        return [{read_cell(k): read_cell(v) for k, v in r.items() if isinstance(k, str) and isinstance(v, str)}
                for r in csv.DictReader(handle)]  # the cells as written (_io.names.cell): names as read


def _blood_rows(folder: Path) -> list[dict[str, str]]:
    return [r for r in _sample_rows(folder) if r.get("role") in BLOOD_ROLES]


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
    from ..gating import GatingFrame, gate_plot_dims, statistics
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
    if row.get("verdict") == "withheld":  # scoring withheld the tube's value: no assaykit AB/C, as samples.csv
        out["assaykit_abc"] = None
        out["note"] = f"withheld by scoring ({row.get('verdict_reasons') or 'no code'}): no assaykit AB/C"
    elif out["manual_abc"] is not None and out["assaykit_hladr"] is not None and out["assaykit_hladr"] > 0:
        out["assaykit_abc"] = _converted(out["assaykit_hladr"], calibration)
    _difference(out)
    gate = next(p.gate for p in strategy.populations if p.name == readout.population)
    dims = gate_plot_dims(gate)  # monocytes: CD14, SSC
    if len(dims) != 2:
        return TubeAgreement(out)
    display = np.column_stack([frame.display(d) for d in dims])
    return TubeAgreement(out, axes=(dims[0], dims[1]), display=display, ours=ours, theirs=theirs,
                         outline=scored.outlines.get(row["file"], ()))
