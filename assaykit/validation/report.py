"""The validation report (docs/validation.md, "assaykit validate"): validation.html and
validation.pdf with every figure (precision per material, Bland-Altman, Passing-Bablok, the
reference interval's histogram with its limits and their confidence intervals, stability), the
data each figure was computed from as CSV, criteria.csv (pass / fail / not evaluated per
criterion) and manifest.json (the inputs with their hashes), written as one folder through
:func:`assaykit._io.atomic.output_unit`.

The pages are one list of blocks (paragraphs, tables, figures) laid out twice: by the report's
Jinja environment and style (HTML) and by :class:`assaykit.report.pdf.Pages` (PDF), each figure
rasterised once (:func:`assaykit.report.figures.render`) so both show the same pixels.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..report.chart import Raster
from .analysis import Validation
from .criteria import OUTCOME_COLUMNS, design_text
from .data import Tube, material_name

KIND = "assaykit validate"
"""The kind a validation folder's manifest names (a validation replaces only a folder of its own kind)."""

PRECISION_DATA_COLUMNS = ["role", "patient", "timepoint", "condition", "scope", "run_name", "run_key", "run_uid",
                          "day", "replicate", "file", "sha256", "abc"]
PRECISION_COMPONENTS = ("repeatability", "between_run", "between_day", "within_laboratory")
PRECISION_COLUMNS = ["role", "patient", "timepoint", "condition", "scope", "design", "n", "n_runs", "n_days",
                     "replicates_per_run", "design_meets", "mean_abc",
                     *(f"{c}_{k}" for c in PRECISION_COMPONENTS
                       for k in ("sd_abc", "cv_pct", "cv_pct_ci_low", "cv_pct_ci_high", "df")),
                     "balanced", "note"]
COMPARISON_COLUMNS = ["source", "file", "patient", "timepoint", "condition", "reference_abc", "assaykit_abc",
                      "mean_abc", "difference_abc", "difference_pct", "tubes"]
REFERENCE_COLUMNS = ["patient", "abc", "tubes"]
STABILITY_COLUMNS = ["role", "patient", "timepoint", "condition", "run_name", "file", "draw_to_stain_h", "abc"]
SUMMARY_COLUMNS = ["statistic", "value", "ci_low", "ci_high", "unit", "n"]

Block = tuple[Literal["p", "table", "figure"], Any]


@dataclass(frozen=True)
class Section:
    """A part of the report: a heading and its blocks, laid out the same in HTML and PDF.

    Parameters
    ----------
    title : str
        The heading.
    blocks : tuple
        ``("p", text)``, ``("table", (header, rows, align))`` or ``("figure", (raster, caption))``.
    """

    title: str
    blocks: tuple[Block, ...]


# --- the data CSVs -------------------------------------------------------------------------------------


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    import pandas as pd

    from ..scoring.tables import csv_bytes

    return csv_bytes(pd.DataFrame(rows, columns=columns))


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _tube_row(tube: Tube) -> dict[str, Any]:
    return {"role": tube.role, "patient": tube.patient, "timepoint": tube.timepoint, "condition": tube.condition,
            "run_name": tube.run_name, "run_key": tube.run_key, "run_uid": tube.run_uid, "day": tube.acquired_on,
            "replicate": tube.replicate, "file": tube.file, "sha256": tube.sha256, "abc": tube.abc,
            "draw_to_stain_h": tube.draw_to_stain_h}


def precision_rows(validation: Validation) -> list[dict[str, Any]]:
    """precision.csv: one row per material and scope, its EP05 statistics (AB/C and percent).

    Parameters
    ----------
    validation : Validation
        The computed validation.
    """
    rows = []
    for study in validation.precision:
        role, patient, timepoint, condition = study.material
        row: dict[str, Any] = {"role": role, "patient": patient, "timepoint": timepoint, "condition": condition,
                               "scope": study.scope, "n": len(study.tubes), "note": study.why}
        result = study.result
        if result is not None:
            row.update(design=result.design, n_runs=result.n_runs, n_days=result.n_days, mean_abc=result.mean,
                       balanced=result.balanced)
            for name in PRECISION_COMPONENTS:
                component = getattr(result, name)
                if component is None:  # no between-day component: one run a day
                    continue
                row.update({f"{name}_sd_abc": component.sd, f"{name}_cv_pct": component.cv_pct,
                            f"{name}_cv_pct_ci_low": component.cv_pct_ci[0],
                            f"{name}_cv_pct_ci_high": component.cv_pct_ci[1], f"{name}_df": component.df})
        row.update(replicates_per_run=study.design[1], design_meets=study.design_meets(validation.criteria))
        rows.append(row)
    return rows


def _stat(name: str, value: float, ci: tuple[float, float] | None, unit: str, n: int) -> dict[str, Any]:
    low, high = ci if ci is not None else (None, None)
    return {"statistic": name, "value": _finite(value), "ci_low": _finite(low), "ci_high": _finite(high), "unit": unit,
            "n": n}


def summary_rows(validation: Validation) -> list[dict[str, Any]]:
    """summary.csv: the method comparison's, reference interval's and stability's statistics, each
    with its confidence interval (comparison and stability: 95 %; the reference limits: the
    criteria's level, 90 % by default), its unit and the values it is computed from.

    Parameters
    ----------
    validation : Validation
        The computed validation.
    """
    rows = []
    ba, pb = validation.bland_altman, validation.passing_bablok
    if ba is not None:
        rows += [_stat("bland_altman_bias", ba.bias, ba.bias_ci, "AB/C", ba.n),
                 _stat("bland_altman_lower_limit", ba.lower, ba.lower_ci, "AB/C", ba.n),
                 _stat("bland_altman_upper_limit", ba.upper, ba.upper_ci, "AB/C", ba.n),
                 _stat("mean_difference_pct", ba.mean_difference_pct, ba.mean_difference_pct_ci, "%", ba.n)]
    if pb is not None:
        rows += [_stat("passing_bablok_slope", pb.slope, pb.slope_ci, "", pb.n),
                 _stat("passing_bablok_intercept", pb.intercept, pb.intercept_ci, "AB/C", pb.n)]
    ri = validation.reference_interval
    if ri is not None:
        rows += [_stat(f"reference_lower_{ri.method}", ri.lower, ri.lower_ci, "AB/C", ri.n),
                 _stat(f"reference_upper_{ri.method}", ri.upper, ri.upper_ci, "AB/C", ri.n)]
    drift = validation.stability
    if drift is not None:
        rows += [_stat("drift_pct_per_h", drift.drift_pct_per_h, drift.drift_pct_per_h_ci, "%/h", drift.n),
                 _stat(f"drift_at_{drift.window_h:g}h_pct", drift.drift_at_window_pct, drift.drift_at_window_pct_ci,
                       "%", drift.n)]
    return rows


def data_files(validation: Validation) -> dict[str, bytes]:
    """The CSVs of a validation folder: each figure's data (precision_data.csv, comparison_data.csv,
    reference_data.csv, stability_data.csv), the statistics (precision.csv, summary.csv) and
    criteria.csv. Deterministic: the same inputs give the same bytes.

    Parameters
    ----------
    validation : Validation
        The computed validation.
    """
    precision_data = [{**_tube_row(t), "scope": s.scope} for s in validation.precision for t in s.tubes]
    comparison = [{"source": Path(p.source).name, "file": p.file, "patient": p.patient, "timepoint": p.timepoint,
                   "condition": p.condition, "reference_abc": p.reference_abc, "assaykit_abc": p.assaykit_abc,
                   "mean_abc": (p.reference_abc + p.assaykit_abc) / 2,
                   "difference_abc": p.assaykit_abc - p.reference_abc,
                   "difference_pct": 100 * (p.assaykit_abc - p.reference_abc) / p.reference_abc, "tubes": p.tubes}
                  for p in validation.comparison]
    reference = [{"patient": p, "abc": v, "tubes": n} for p, v, n in validation.reference]
    stability = [_tube_row(t) for t in validation.stability_tubes]
    criteria = [o.row() for o in validation.outcomes]
    return {"precision_data.csv": _frame(precision_data, PRECISION_DATA_COLUMNS),
            "precision.csv": _frame(precision_rows(validation), PRECISION_COLUMNS),
            "comparison_data.csv": _frame(comparison, COMPARISON_COLUMNS),
            "reference_data.csv": _frame(reference, REFERENCE_COLUMNS),
            "stability_data.csv": _frame(stability, STABILITY_COLUMNS),
            "summary.csv": _frame(summary_rows(validation), SUMMARY_COLUMNS),
            "criteria.csv": _frame(criteria, list(OUTCOME_COLUMNS))}


# --- the figures ---------------------------------------------------------------------------------------


def _render(draw: Any, width_in: float = 6.0, height_in: float = 3.0) -> Raster:
    from ..report.figures import render, style

    with style():
        return render(draw, width_in, height_in)


def precision_figure(tubes: Sequence[Tube], title: str) -> Raster:
    """One material's values (AB/C) per run, in run order (day, run), replicates side by side, the
    grand mean as a line.

    Parameters
    ----------
    tubes : sequence of Tube
        The material's tubes.
    title : str
        The figure's title.
    """
    runs = sorted({(t.acquired_on, t.run_key, t.run_name) for t in tubes})
    where = {r[1]: i for i, r in enumerate(runs)}

    def draw(fig: Any) -> None:
        from ..report.figures import axes_in

        ax = axes_in(fig, 0.8, 0.75, 0.15, 0.3)
        x = np.array([where[t.run_key] for t in tubes], dtype=float)
        y = np.array([t.abc for t in tubes])
        ax.scatter(x, y, s=14, color="#0173b2", zorder=3)
        ax.axhline(float(y.mean()), color="#444", linewidth=1, linestyle="--")
        ax.set_xticks(range(len(runs)), [f"{r[0]}\n{r[2][:14]}" for r in runs], fontsize=6)
        ax.set_xlim(-0.6, len(runs) - 0.4)
        ax.set_ylabel("HLA-DR (AB/C)")
        ax.set_title(title, fontsize=8)

    return _render(draw)


def bland_altman_figure(validation: Validation) -> Raster | None:
    """Differences (assaykit - reference) against the pair's mean, AB/C, with the bias and the 95 %
    limits of agreement and their confidence intervals (shaded).

    Parameters
    ----------
    validation : Validation
        The computed validation.
    """
    ba = validation.bland_altman
    if ba is None:
        return None
    pairs = validation.comparison
    mean = np.array([(p.reference_abc + p.assaykit_abc) / 2 for p in pairs])
    diff = np.array([p.assaykit_abc - p.reference_abc for p in pairs])

    def draw(fig: Any) -> None:
        from ..report.figures import axes_in

        ax = axes_in(fig, 0.8, 0.55, 0.15, 0.3)
        ax.scatter(mean, diff, s=14, color="#0173b2", zorder=3)
        for value, ci, style in ((ba.bias, ba.bias_ci, "-"), (ba.lower, ba.lower_ci, "--"),
                                 (ba.upper, ba.upper_ci, "--")):
            ax.axhline(value, color="#444", linestyle=style, linewidth=1)
            if all(math.isfinite(c) for c in ci):
                ax.axhspan(ci[0], ci[1], color="#999", alpha=0.2, linewidth=0)
        ax.set_xlabel("mean of both (AB/C)")
        ax.set_ylabel("assaykit - reference (AB/C)")
        ax.set_title(f"Bland-Altman: bias {ba.bias:,.0f}, 95 % limits {ba.lower:,.0f} to {ba.upper:,.0f} AB/C "
                     f"(n = {ba.n})", fontsize=8)

    return _render(draw)


def passing_bablok_figure(validation: Validation) -> Raster | None:
    """assaykit against the reference (AB/C), the identity and the Passing-Bablok line.

    Parameters
    ----------
    validation : Validation
        The computed validation.
    """
    pb = validation.passing_bablok
    if pb is None:
        return None
    x = np.array([p.reference_abc for p in validation.comparison])
    y = np.array([p.assaykit_abc for p in validation.comparison])

    def draw(fig: Any) -> None:
        from ..report.figures import axes_in

        ax = axes_in(fig, 0.8, 0.55, 0.15, 0.3)
        ax.scatter(x, y, s=14, color="#0173b2", zorder=3)
        line = np.array([0.0, float(max(x.max(), y.max())) * 1.05])
        ax.plot(line, line, color="#999", linestyle=":", linewidth=1, label="identity")
        ax.plot(line, pb.intercept + pb.slope * line, color="#d55e00", linewidth=1.2, label="Passing-Bablok")
        ax.set_xlabel("reference (AB/C)")
        ax.set_ylabel("assaykit (AB/C)")
        ax.legend(loc="upper left")
        ax.set_title(f"Passing-Bablok: slope {pb.slope:.3f} ({pb.slope_ci[0]:.3f} to {pb.slope_ci[1]:.3f}), "
                     f"intercept {pb.intercept:,.0f}", fontsize=8)

    return _render(draw)


def reference_figure(validation: Validation) -> Raster | None:
    """The reference values' histogram (AB/C) with the interval's limits (lines) and their
    confidence intervals (shaded).

    Parameters
    ----------
    validation : Validation
        The computed validation.
    """
    interval = validation.reference_interval
    if interval is None:
        return None
    values = np.array([v for _, v, _ in validation.reference])

    def draw(fig: Any) -> None:
        from ..report.figures import axes_in

        ax = axes_in(fig, 0.8, 0.55, 0.15, 0.3)
        ax.hist(values, bins=min(30, max(5, values.size // 4)), color="#56b4e9", edgecolor="white")
        for limit, ci in ((interval.lower, interval.lower_ci), (interval.upper, interval.upper_ci)):
            ax.axvline(limit, color="#d55e00", linewidth=1.2)
            ax.axvspan(ci[0], ci[1], color="#d55e00", alpha=0.15, linewidth=0)
        ax.set_xlabel("HLA-DR (AB/C)")
        ax.set_ylabel("donors")
        ax.set_title(f"{interval.method} {interval.coverage:.0%} interval {interval.lower:,.0f} to "
                     f"{interval.upper:,.0f} AB/C (n = {interval.n}; {interval.ci:.0%} CIs shaded)", fontsize=8)

    return _render(draw)


def stability_figure(validation: Validation) -> Raster | None:
    """ln(AB/C) against hours from draw to stain, each donor's tubes joined, with the pooled
    within-donor slope drawn through each donor's mean.

    Parameters
    ----------
    validation : Validation
        The computed validation.
    """
    drift = validation.stability
    if drift is None:
        return None
    by_donor: dict[tuple[str, ...], list[Tube]] = {}
    for tube in validation.stability_tubes:
        by_donor.setdefault(tube.material, []).append(tube)

    def draw(fig: Any) -> None:
        from ..report.figures import PALETTE, axes_in

        ax = axes_in(fig, 0.8, 0.55, 0.15, 0.3)
        for i, (_, tubes) in enumerate(sorted(by_donor.items())):
            h = np.array([float(t.draw_to_stain_h or 0.0) for t in tubes])
            v = np.log(np.array([t.abc for t in tubes]))
            colour = PALETTE[i % len(PALETTE)]
            ax.scatter(h, v, s=12, color=colour, zorder=3)
            span = np.array([h.min(), h.max()])
            ax.plot(span, v.mean() + drift.slope_per_h * (span - h.mean()), color=colour, linewidth=1)
        ax.set_xlabel("hours from draw to stain")
        ax.set_ylabel("ln HLA-DR (AB/C)")
        ax.set_title(f"drift {drift.drift_pct_per_h:+.2f} % per hour; at {drift.window_h:g} h "
                     f"{drift.drift_at_window_pct:+.1f} % ({drift.drift_at_window_pct_ci[0]:+.1f} to "
                     f"{drift.drift_at_window_pct_ci[1]:+.1f} %)", fontsize=8)

    return _render(draw)


# --- the pages -----------------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:,.{digits}f}"


def _ci(ci: tuple[float, float], digits: int = 1) -> str:
    return f"{_num(ci[0], digits)} to {_num(ci[1], digits)}"


def _inputs_section(validation: Validation) -> Section:
    data = validation.data
    left = ", ".join(f"{n} {why}" for why, n in data.left_out.items()) or "none"
    blocks: list[Block] = [
        ("p", f"{len(data.tubes)} reportable blood tubes (verdict reportable or reportable_with_warnings) from "
              f"{len(data.runs)} runs" + (f" (ledger {data.ledger})" if data.ledger else "") +
              f"; tubes left out: {left}."),
        ("table", (["run", "run_uid", "source", "samples.csv SHA-256"],
                   [[r.run_name, r.run_uid, r.source, r.samples_sha256 or "-"] for r in data.runs],
                   ["left", "left", "left", "left"])),
    ]
    if data.ledger_left_out:
        blocks.append(("p", f"{data.ledger_left_out} ledger rows hold values assaykit does not write and were "
                            "left out."))
    for entry in data.comparisons:
        blocks.append(("p", f"Comparison {entry['path']} ({entry['kind']}, {entry['pairs']} pairs, SHA-256 "
                            f"{entry['sha256']})."))
    if data.comparison_dropped:
        blocks.append(("p", f"{len(data.comparison_dropped)} comparison row(s) left out: "
                            + "; ".join(data.comparison_dropped[:20])
                            + (" ..." if len(data.comparison_dropped) > 20 else "") + "."))
    crit = validation.criteria
    blocks.append(("p", f"Acceptance criteria: {crit.source} (SHA-256 {crit.sha256})."))
    return Section("Data", tuple(blocks))


def _criteria_section(validation: Validation) -> Section:
    counts = validation.counts
    rows = [[o.criterion, o.subject, _num(o.value, 2), o.limit, o.unit, o.result + (f" ({o.why})" if o.why else "")]
            for o in validation.outcomes]
    return Section("Acceptance criteria", (
        ("p", f"{counts['pass']} passed, {counts['fail']} failed, {counts['not_evaluated']} not evaluated."),
        ("table", (["criterion", "subject", "value", "limit", "unit", "result"], rows,
                   ["left", "left", "right", "left", "left", "left"])),
    ))


def _precision_section(validation: Validation) -> Section:
    blocks: list[Block] = [("p", "CLSI EP05 nested ANOVA per material (run = an assaykit run, replicate = the plate "
                                 "map's label, day = the acquisition date when a day holds two runs or more); "
                                 "standard deviations in AB/C, CVs in percent with their 95 % confidence "
                                 "intervals (precision_data.csv, precision.csv).")]
    rows = []
    meets = {"establish": "establishes (EP05-A3)", "verify": "verifies (EP15-A3)", "too_few": "too few: not judged"}
    for study in validation.precision:
        r = study.result
        design = [design_text(study.design), meets[study.design_meets(validation.criteria)]]
        if r is None:
            rows.append([study.name, str(len(study.tubes)), *design, "-", "-", "-", "-", study.why[:60]])
            continue
        rows.append([study.name, str(r.n), *design, _num(r.mean, 0), _num(r.repeatability.cv_pct, 2),
                     _ci(r.repeatability.cv_pct_ci, 2), _num(r.within_laboratory.cv_pct, 2),
                     _ci(r.within_laboratory.cv_pct_ci, 2)])
    if rows:
        blocks.append(("table", (["material", "n", "design", "design meets", "mean AB/C", "repeatability CV %",
                                  "95 % CI", "within-lab CV %", "95 % CI"], rows,
                                 ["left", "right", "left", "left", "right", "right", "right", "right", "right"])))
    else:
        blocks.append(("p", "No material was measured in two runs."))
    for study in validation.precision:
        if study.scope == "all" and study.result is not None:
            blocks.append(("figure", (precision_figure(study.tubes, material_name(study.material)),
                                      f"{study.name}: AB/C per run (dashed: the mean)")))
    return Section("Precision (CLSI EP05)", tuple(blocks))


def _comparison_section(validation: Validation) -> Section:
    ba, pb = validation.bland_altman, validation.passing_bablok
    blocks: list[Block] = []
    if ba is None:
        blocks.append(("p", f"Method comparison: {len(validation.comparison)} samples, fewer than two (give "
                            "--comparison: compare folders or a lab CSV)."))
        return Section("Method comparison", tuple(blocks))
    blocks.append(("p", f"{ba.n} samples ({len(validation.data.pairs)} pairs, a sample's replicate tubes averaged) "
                        f"pooled over runs (comparison_data.csv). Bland-Altman bias {ba.bias:,.0f} AB/C "
                        f"(95 % CI {_ci(ba.bias_ci, 0)}), limits of agreement {ba.lower:,.0f} "
                        f"({_ci(ba.lower_ci, 0)}) to {ba.upper:,.0f} ({_ci(ba.upper_ci, 0)}) AB/C; mean % "
                        f"difference from the reference {_num(ba.mean_difference_pct, 2)} % "
                        f"({_ci(ba.mean_difference_pct_ci, 2)} %)."))
    if pb is not None:
        blocks.append(("p", f"Passing-Bablok: slope {pb.slope:.4f} (95 % CI {_ci(pb.slope_ci, 4)}), intercept "
                            f"{pb.intercept:,.1f} AB/C ({_ci(pb.intercept_ci, 1)}): "
                            + ("the slope's CI contains 1 (no proportional bias shown)"
                               if pb.slope_ci[0] <= 1 <= pb.slope_ci[1] else "a proportional bias: the slope's CI "
                               "excludes 1") + ", " + ("the intercept's contains 0 (no constant bias shown)."
                                                      if pb.intercept_ci[0] <= 0 <= pb.intercept_ci[1] else
                                                      "a constant bias: the intercept's CI excludes 0.")))
    for figure, caption in ((bland_altman_figure(validation), "Bland-Altman"),
                            (passing_bablok_figure(validation), "Passing-Bablok")):
        if figure is not None:
            blocks.append(("figure", (figure, caption)))
    return Section("Method comparison (CLSI EP09)", tuple(blocks))


def _reference_section(validation: Validation) -> Section:
    interval = validation.reference_interval
    group = validation.criteria.reference_interval.donor_group
    if interval is None:
        return Section("Reference interval (CLSI EP28)", (
            ("p", f"{len(validation.reference)} donors of group {group!r} with a reportable {validation.control} "
                  f"value: too few for an interval (at least {validation.criteria.reference_interval.min_n})."),))
    flags = f" Flagged: {', '.join(interval.flags)}." if interval.flags else ""
    if interval.method == "robust" and interval.transform == "log":
        flags += " Computed on the log of the values (AB/C is right-skewed), limits transformed back."
    blocks: list[Block] = [
        ("p", f"{interval.n} donors of group {group!r} ({validation.control}; one value per donor, "
              "reference_data.csv). "
              f"{interval.method.capitalize()} central {interval.coverage:.0%} interval {interval.lower:,.0f} "
              f"({interval.ci:.0%} CI {_ci(interval.lower_ci, 0)}) to {interval.upper:,.0f} "
              f"({_ci(interval.upper_ci, 0)}) AB/C.{flags}"),
    ]
    figure = reference_figure(validation)
    if figure is not None:
        blocks.append(("figure", (figure, "Reference values with the interval's limits")))
    return Section("Reference interval (CLSI EP28)", tuple(blocks))


def _stability_section(validation: Validation) -> Section:
    drift = validation.stability
    if drift is None:
        return Section("Stability", (("p", f"{len(validation.stability_tubes)} tubes of donors measured at two "
                                           "draw-to-stain times or more: too few for a drift."),))
    blocks: list[Block] = [
        ("p", f"{drift.n} tubes of {drift.n_donors} donors (stability_data.csv): ln(AB/C) = donor + slope x hours. "
              f"Drift {drift.drift_pct_per_h:+.3f} % per hour (95 % CI {_ci(drift.drift_pct_per_h_ci, 3)}); at "
              f"{drift.window_h:g} h {drift.drift_at_window_pct:+.2f} % ({_ci(drift.drift_at_window_pct_ci, 2)})."),
    ]
    figure = stability_figure(validation)
    if figure is not None:
        blocks.append(("figure", (figure, "ln AB/C against hours from draw to stain")))
    return Section("Stability (time from draw to stain)", tuple(blocks))


def sections(validation: Validation) -> list[Section]:
    """The report's sections, in order: criteria, data, precision, comparison, reference interval,
    stability, notes.

    Parameters
    ----------
    validation : Validation
        The computed validation.
    """
    parts = [_criteria_section(validation), _inputs_section(validation), _precision_section(validation),
             _comparison_section(validation), _reference_section(validation), _stability_section(validation)]
    if validation.notes:
        parts.append(Section("Notes", tuple(("p", note) for note in validation.notes)))
    return parts


TITLE = "Method validation: monocyte HLA-DR (AB/C)"


def validation_html(parts: Sequence[Section]) -> bytes:
    """The report as one self-contained HTML page (the report's Jinja environment and style).

    Parameters
    ----------
    parts : sequence of Section
        :func:`sections`.
    """
    from ..report.build import _environment

    template = _environment().get_template("validation.html.j2")
    shown = [{"title": s.title, "blocks": [{"kind": kind, "value": value if kind != "figure" else
                                            {"uri": value[0].uri, "caption": value[1]}} for kind, value in s.blocks]}
             for s in parts]
    return template.render(title=TITLE, sections=shown).encode("utf-8")


def validation_pdf(parts: Sequence[Section]) -> bytes:
    """The report as an A4 PDF (:class:`assaykit.report.pdf.Pages`): the same blocks and figures.

    Parameters
    ----------
    parts : sequence of Section
        :func:`sections`.
    """
    from .. import __version__
    from ..report.pdf import Pages, core_fonts_suffice

    texts = [TITLE, *[s.title for s in parts],
             *[v if k == "p" else (v[0], v[1]) if k == "table" else v[1] for s in parts for k, v in s.blocks]]
    pages = Pages(TITLE, f"assaykit {__version__}", core_fonts=core_fonts_suffice(*texts))
    pages.text(TITLE, size=13, bold=True, after=8)
    for section in parts:
        pages.text(section.title, size=10, bold=True, after=4, keep=40)
        for kind, value in section.blocks:
            if kind == "p":
                pages.text(value, size=8)
            elif kind == "table":
                header, rows, align = value
                pages.table(header, rows, align)
            else:
                pages.figure(value[0])
                pages.text(value[1], size=7, colour="#555555")
    return pages.pdf()


def manifest(validation: Validation, files: dict[str, bytes]) -> dict[str, Any]:
    """The folder's manifest: its kind, the inputs (ledger, runs with their run_uid and samples.csv
    SHA-256, comparison files and criteria file with their SHA-256), the tubes left out by why,
    the criteria's results, the software version and the files written.

    Parameters
    ----------
    validation : Validation
        The computed validation.
    files : dict
        The files written (name -> bytes).
    """
    from .. import __version__

    data, crit = validation.data, validation.criteria
    return {"kind": KIND, "software": {"assaykit": __version__},
            "inputs": {"ledger": data.ledger, "ledger_left_out": data.ledger_left_out,
                       "runs": [{"run_key": r.run_key, "run_name": r.run_name, "run_uid": r.run_uid, "source": r.source,
                                 "samples_sha256": r.samples_sha256} for r in data.runs],
                       "comparisons": list(data.comparisons),
                       "criteria": {"source": crit.source, "sha256": crit.sha256}},
            "control": validation.control, "tubes": len(data.tubes), "left_out": data.left_out,
            "results": validation.counts,
            "files": {n: {"size": len(c), "sha256": hashlib.sha256(c).hexdigest()} for n, c in sorted(files.items())}}


def write_validation(validation: Validation, out: str | Path) -> Path:
    """Write the validation folder ``out`` as one unit: validation.html, validation.pdf, the data
    CSVs, criteria.csv and manifest.json (an earlier validation folder there is replaced; any
    other folder that is not empty is refused, :func:`assaykit._io.atomic.output_unit`).

    Parameters
    ----------
    validation : Validation
        The computed validation.
    out : str or Path
        The folder.
    """
    from .._io.atomic import output_unit, write_atomic

    parts = sections(validation)
    files = {**data_files(validation), "validation.html": validation_html(parts),
             "validation.pdf": validation_pdf(parts)}
    with output_unit(Path(out), kind=KIND) as stage:
        for name, content in files.items():
            write_atomic(stage / name, content)
        write_atomic(stage / "manifest.json", (json.dumps(manifest(validation, files), indent=1) + "\n").encode())
    return Path(out)


__all__ = ["KIND", "Section", "bland_altman_figure", "data_files", "manifest", "passing_bablok_figure",
           "precision_figure", "precision_rows", "reference_figure", "sections", "stability_figure", "summary_rows",
           "validation_html", "validation_pdf", "write_validation"]
