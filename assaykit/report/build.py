"""Per-patient restoration reports (HTML + PDF) and the run summary (``index.html``), rendered
from a scored run's tables and figure data alone (docs/reports.md).

Pages are self-contained: CSS inline, figures embedded as PNG data URIs, no network resource;
A4 print rules. Every text from a plate map, clinical file or FCS keyword is escaped by Jinja2's
autoescape; page file names come from :mod:`.names`. Patients are rendered in worker processes
(each draws its own figures); the files are written atomically by the main process, and a
rerun on the same tables gives the same bytes.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .._io.atomic import write_atomic
from .._workers import map_in_workers
from ..errors import AssayKitError
from . import figures as fg
from .load import RunData, load_run
from .names import page_names

A4_IN = (8.27, 11.69)


# --- what the pages show ----------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "-" if value is None else f"{value:,.{digits}f}{suffix}"


def _calibration(run: RunData) -> dict[str, float] | None:
    first = run.calibration[0] if run.calibration else None
    if first is None or first.get("error") or first.get("slope") is None:
        return None
    return {"slope": first["slope"], "intercept": first["intercept"]}


def _conditions(run: RunData) -> list[str]:
    return [s["condition"] for s in run.samples if s["role"] == "sample"]


def methods(run: RunData) -> dict[str, Any]:
    """The methods footnote: strategy, lot, statistic, thresholds, responder rule, software."""
    m = run.manifest
    lot = m.get("lot", {})
    thresholds = m.get("thresholds", {})
    first = run.calibration[0] if run.calibration else {}
    fit = (f"log10 AB/C = {first['slope']:.4f} x log10 MFI + {first['intercept']:.4f} "
           f"(r\u00b2 {first['r_squared']:.4f}, "
           f"{first['n_peaks_used']:.0f} peaks, {first['channel']})") if first.get("slope") is not None \
        else f"no calibration: {first.get('error', 'bead tube missing')}"
    return {
        "strategy": f"{m.get('strategy', {}).get('name', '')} (sha256 {m.get('strategy', {}).get('sha256', '')[:12]})",
        "lot": f"{lot.get('kit', '')} lot {lot.get('lot', '')}" + (" - EXAMPLE values, not a real lot"
                                                                   if lot.get("example") else ""),
        "fit": fit,
        "statistic": f"{m.get('options', {}).get('statistic', 'median')} of HLA-DR on gated monocytes; compensation: "
                     + (", ".join(sorted({s["compensation"] for s in run.samples if s.get("compensation")})) or "-")
                     + "; specimen declared: " + (m.get("options", {}).get("specimen") or "not declared"),
        "mfi_header": f"MFI ({m.get('options', {}).get('statistic', 'median').replace('_', ' ')})",
        "control": run.control,
        "thresholds": (f"immunoparalysis < {thresholds.get('immunoparalysis_abc', 0):,.0f} AB/C; immunosuppressed < "
                       f"{thresholds.get('immunosuppressed_abc', 0):,.0f}; intermediate < "
                       f"{thresholds.get('normal_abc', 0):,.0f}; normal >= {thresholds.get('normal_abc', 0):,.0f}; "
                       f"ImmunoSep: ferritin > {thresholds.get('ferritin_ng_ml', 0):,.0f} ng/mL is "
                       "hyper-inflammation, else AB/C < "
                       f"{thresholds.get('immunoparalysis_abc', 0):,.0f} is immunoparalysis"),
        "responder": m.get("responder_rule", {}).get("rule", ""),
        "gap": "gap closed = (drug - control) / (normal threshold - control), for a control below normal",
        "software": f"assaykit {m.get('software', {}).get('assaykit', '')}",
    }


def patient_context(run: RunData, patient: str, names: dict[str, str]) -> dict[str, Any]:
    """Everything a patient page shows, as plain values (strings formatted for reading)."""
    tubes = [s for s in run.samples if s["patient"] == patient and s["role"] in ("sample", "isotype")]
    timepoints = list(dict.fromkeys(s["timepoint"] for s in tubes))
    sections = []
    for tp in timepoints:
        state = next((p for p in run.patients if p["patient"] == patient and p["timepoint"] == tp), None)
        rows = [r for r in run.restoration if r["patient"] == patient and r["timepoint"] == tp]
        order = {c: i for i, c in enumerate([run.control, *[r["condition"] for r in rows]])}
        members = sorted((s for s in tubes if s["timepoint"] == tp),
                         key=lambda s: (s["role"] != "sample", order.get(s["condition"], len(order)), s["file"]))
        sections.append({
            "timepoint": tp,
            "state": state,
            "control_abc": fg.abc_text(state["control_abc"]) if state else "-",
            "ferritin": _fmt(state["ferritin_ng_ml"], 0, " ng/mL") if state and state["ferritin_ng_ml"] is not None
            else "not given",
            "rows": [{**r, "control_abc_text": fg.abc_text(r["control_abc"]), "abc_text": fg.abc_text(r["abc"]),
                      "fold_text": _fmt(r["fold_change"]), "delta_text": fg.abc_text(r["delta_abc"]),
                      "gap_text": _fmt(None if r["gap_closed"] is None else 100 * r["gap_closed"], 0, " %"),
                      "responder_text": {True: "yes", False: "no"}.get(r["responder"], "-")} for r in rows],
            "tubes": [{**s, "abc_text": fg.abc_text(s["hladr_abc"]), "mfi_text": _fmt(s["hladr_mfi"], 0),
                       "events_text": _fmt(s["events"], 0), "monocytes_text": _fmt(s["monocytes"], 0),
                       "pct_text": _fmt(s["monocytes_pct"], 1, " %"),
                       "purity_text": _fmt(s.get("monocyte_purity_pct"), 1, " %")} for s in members],
        })
    dates = sorted({s["acquisition_date"] for s in tubes if s.get("acquisition_date")})
    return {"patient": patient, "stem": names[patient], "timepoints": timepoints, "sections": sections,
            "acquired": ", ".join(dates) or "not recorded", "failed": all(s["error"] for s in tubes) if tubes else True,
            "trajectory": trajectory_context(run, patient)}


def trajectory_context(run: RunData, patient: str) -> dict[str, Any] | None:
    """The patient's course over days (trajectories.csv: this run and the ledger's earlier runs),
    when it holds more than one day: the figure data and the findings; else None."""
    from .._io.validate import build, checking
    from ..ledger import TrajectoryRule
    from ..ledger.trajectory import patient_trajectory

    rows = [r for r in run.trajectories if r["patient"] == patient]
    series = fg.trajectory_data(rows, run.control)
    days = {d for points in series.values() for d, _ in points}
    if len(days) < 2:
        return None
    doc = run.manifest.get("trajectory_rule")
    with checking(AssayKitError, run.out_dir):
        rule = build(TrajectoryRule, {k: v for k, v in doc.items() if k != "source"},
                     "trajectory_rule") if isinstance(doc, dict) else TrajectoryRule()
    course = patient_trajectory(rows, run.control, rule)
    runs = sorted({r["run"] for r in rows if r["run"]})
    return {"series": series, "findings": course.findings(), "runs": runs,
            "source": doc.get("source", "") if isinstance(doc, dict) else ""}


def _tube_figures(run: RunData, tubes: list[dict[str, Any]]) -> tuple[list[dict], list[tuple[str, list]]]:
    from ..gating.panels import Panel

    histograms, gating = [], []
    for s in tubes:
        doc = run.figures["tubes"].get(s["file"])
        label = f"{s['condition']} ({s['well']})"
        if s["role"] == "sample":
            histograms.append({"condition": s["condition"], "hist": doc["hladr"] if doc else None,
                               "abc": s["hladr_abc"], "mfi": s["hladr_mfi"]})
        gating.append((label, [Panel.from_dict(p) for p in doc["panels"]] if doc else []))
    return histograms, gating


def _draw_section(run: RunData, section: dict[str, Any], colours: dict[str, str]) -> dict[str, Any]:
    """The three figures of one patient time point, drawn onto callables (for PNG and PDF)."""
    thresholds = run.manifest.get("thresholds", {})
    edges = np.asarray(run.figures["hladr_log10_edges"])
    histograms, gating = _tube_figures(run, section["tubes"])
    calibration = _calibration(run)
    return {
        "restoration": lambda ax: fg.draw_restoration(ax, section["rows"], colours, run.control, thresholds),
        "histograms": lambda ax: fg.draw_histograms(ax, histograms, edges, calibration, colours, thresholds),
        "gating": lambda fig, rect=(0.07, 0.02, 0.99, 0.96): fg.draw_gating(fig, gating, rect),
        "n_tubes": len(gating),
        "n_panels": max([len(p) for _, p in gating] + [1]),
    }


def _png(draw: Callable[[Any], None], size: tuple[float, float], axes: bool = True,
         layout: fg.Layout = "constrained") -> str:
    fig = fg.new_figure(*size, layout=layout)
    draw(fig.subplots() if axes else fig)
    return fg.png_uri(fig)


# --- rendering --------------------------------------------------------------------------------------


def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(loader=PackageLoader("assaykit.report", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def _common(run: RunData) -> dict[str, Any]:
    m = run.manifest
    qc = run.qc_over_time
    status, reason = str(qc.get("status", "")), str(qc.get("reason", ""))
    return {"run": run.run_name, "software": m.get("software", {}).get("assaykit", ""), "methods": methods(run),
            "scored": m.get("ended", ""), "state_colours": fg.STATE_COLOURS,
            "figure_data_missing": bool(run.figures.get("missing")),
            "qc_banner": f"QC: {status}, {reason}" if status in ("rejected", "warning") else "",
            "qc_rejected": status == "rejected"}


def render_patient(run: RunData, patient: str, names: dict[str, str]) -> dict[str, bytes]:
    """``patients/<stem>.html`` and ``.pdf`` of one patient."""
    context = patient_context(run, patient, names)
    colours = fg.condition_colours(_conditions(run), run.control)
    with fg.style():
        drawn = [_draw_section(run, s, colours) for s in context["sections"]]
        course = context["trajectory"]
        if course is not None:
            thresholds = run.manifest.get("thresholds", {})
            course["draw"] = lambda ax: fg.draw_trajectory(ax, course["series"], colours, run.control, thresholds)
            course["png"] = _png(course["draw"], (6.8, 3.0))
        for section, d in zip(context["sections"], drawn, strict=True):
            section["restoration_png"] = _png(d["restoration"], (6.8, 3.2))
            section["histogram_png"] = _png(d["histograms"], (6.8, 3.0))
            section["gating_png"] = _png(d["gating"], (1.4 * d["n_panels"] + 0.5, 1.3 * d["n_tubes"] + 0.2), False,
                                         layout=None)
        pdf = patient_pdf(run, context, drawn)
    html = _environment().get_template("patient.html.j2").render(p=context, **_common(run))
    stem = names[patient]
    return {f"patients/{stem}.html": html.encode("utf-8"), f"patients/{stem}.pdf": pdf}


def render_index(run: RunData, names: dict[str, str]) -> dict[str, bytes]:
    """``index.html``: the run summary."""
    colours = fg.condition_colours(_conditions(run), run.control)
    thresholds = run.manifest.get("thresholds", {})
    blood = [s for s in run.samples if s["role"] in ("sample", "isotype")]
    with fg.style():
        plate = _png(lambda f: fg.draw_plate(f, run.samples), (8.0, 5.2), False)
        beads = _png(lambda f: fg.draw_beads(f, [c for c in run.calibration if c.get("peak") is not None],
                                             run.figures.get("beads")), (9.0, 3.4), False) \
            if _calibration(run) is not None else None
        cohort = _png(lambda f: fg.draw_cohort(f, run.restoration, run.cohort, colours, run.control, thresholds),
                      (max(3.2 * len(run.cohort), 4.0), 3.8), False)
    patients = []
    for patient in sorted({s["patient"] for s in blood}):
        rows = [p for p in run.patients if p["patient"] == patient]
        for p in rows:
            patients.append({**p, "stem": names[patient], "control_abc_text": fg.abc_text(p["control_abc"]),
                             "best_text": _fmt(p["best_fold_change"])})
        if not rows:
            patients.append({"patient": patient, "stem": names[patient], "timepoint": "", "state": "",
                             "control_abc_text": "-", "immunosep_class": "", "responders": "", "best_condition": "",
                             "best_text": "-", "qc_flags": ()})
    calibration = run.calibration[0] if run.calibration else {}
    context = {
        **_common(run), "patients": patients, "plate_png": plate, "beads_png": beads, "cohort_png": cohort,
        "calibration": calibration, "peaks": [c for c in run.calibration if c.get("peak") is not None],
        "cohort": run.cohort, "samples": run.samples,
        "failed": [s for s in run.samples if s["error"]],
        "n_files": len(run.samples), "n_patients": len({s["patient"] for s in blood}),
        "bead_flags": calibration.get("qc_flags", ()),
    }
    html = _environment().get_template("index.html.j2").render(**context)
    return {"index.html": html.encode("utf-8")}


# --- the PDF -------------------------------------------------------------------------------------------


def _text_block(fig: Any, lines: list[tuple[str, float]], top: float = 0.98, width: int = 118) -> float:
    """Lines of (text, font size) from the top of a (sub)figure; returns where they ended."""
    y = top
    height_pt = fig.bbox.height / fig.dpi * 72
    for text, size in lines:
        wrapped = textwrap.fill(text, width=int(width * 8 / size)) if text else ""
        fig.text(0.02, y, wrapped, fontsize=size, va="top", ha="left")
        y -= (wrapped.count("\n") + 1) * size * 1.45 / height_pt
    return y


def patient_pdf(run: RunData, context: dict[str, Any], drawn: list[dict[str, Any]]) -> bytes:
    """A4 pages per time point: header, state, restoration table, figure and QC flags; then
    histograms and gating thumbnails; the methods footnote ends the last page."""
    import io

    from matplotlib.backends.backend_pdf import PdfPages

    common = _common(run)
    buffer = io.BytesIO()
    with PdfPages(buffer, metadata={"CreationDate": None, "Creator": f"assaykit {common['software']}",
                                    "Title": f"HLA-DR restoration: patient {context['patient']}"}) as pdf:
        for section, d in zip(context["sections"], drawn, strict=True):
            fig = fg.new_figure(*A4_IN, layout=None)
            state = section["state"] or {}
            _text_block(fig, [
                (f"HLA-DR restoration report - patient {context['patient']}", 14),
                (f"time point {section['timepoint']}  |  run {common['run']}  |  acquired {context['acquired']}  |  "
                 f"assaykit {common['software']}", 8),
                (common["qc_banner"], 9) if common["qc_banner"] else ("", 6),
                (f"Unstimulated monocyte HLA-DR: {section['control_abc']} AB/C - state: {state.get('state') or '-'}",
                 11),
                (f"ImmunoSep class: {state.get('immunosep_class') or 'not classified'}"
                 f" ({state.get('immunosep_rule') or 'no ferritin given'}); ferritin {section['ferritin']}", 9),
            ], top=0.965)
            ax = fig.add_axes((0.05, 0.66, 0.9, 0.16))
            ax.set_axis_off()
            header = ["drug", "control AB/C", "drug AB/C", "fold change", "delta AB/C", "gap closed", "state reached",
                      "responder"]
            cells = [[r["condition"], r["control_abc_text"], r["abc_text"], r["fold_text"], r["delta_text"],
                      r["gap_text"], r["state_drug"] or "-", r["responder_text"]] for r in section["rows"]]
            if cells:
                t = ax.table(cellText=cells, colLabels=header, loc="upper center", cellLoc="center")
                t.auto_set_font_size(False)
                t.set_fontsize(7.5)
                t.auto_set_column_width(list(range(len(header))))
                t.scale(1, 1.25)
            else:
                ax.text(0.5, 0.8, "no drug tube for this time point", ha="center")
            d["restoration"](fig.add_axes((0.12, 0.33, 0.66, 0.29)))
            notes = [(f"{r['condition']}: {f}", 7) for r in section["rows"] for f in r["qc_flags"]]
            notes += [(f"{t['condition']} ({t['file']}): {t['error']}", 7) for t in section["tubes"] if t["error"]]
            _text_block(fig, [("QC flags", 9), *(notes or [("none", 7)])], top=0.27, width=130)
            pdf.savefig(fig)
            fig = fg.new_figure(*A4_IN, layout=None)
            d["histograms"](fig.add_axes((0.1, 0.72, 0.86, 0.24)))
            d["gating"](fig, (0.1, 0.17, 0.96, 0.66))
            m = common["methods"]
            _text_block(fig, [("Methods", 9), (f"Gating strategy: {m['strategy']}; readout: {m['statistic']}.", 7),
                              (f"Beads: {m['lot']}; {m['fit']}.", 7), (f"States: {m['thresholds']}.", 7),
                              (f"Responder: {m['responder']} against the {m['control']} control; {m['gap']}.", 7)],
                        top=0.13, width=130)
            pdf.savefig(fig)
        course = context["trajectory"]
        if course is not None:
            fig = fg.new_figure(*A4_IN, layout=None)
            _text_block(fig, [(f"Patient {context['patient']} over time (runs: {', '.join(course['runs'])})", 12),
                              (common["qc_banner"], 9) if common["qc_banner"] else ("", 6)], top=0.965)
            course["draw"](fig.add_axes((0.12, 0.55, 0.7, 0.35)))
            _text_block(fig, [("Findings", 9), *[(f, 8) for f in course["findings"]], ("", 6),
                              (course["source"], 6)], top=0.48, width=130)
            pdf.savefig(fig)
    return buffer.getvalue()


# --- the whole run ------------------------------------------------------------------------------------

_RUN: RunData | None = None
_NAMES: dict[str, str] = {}


def _init(run: RunData, names: dict[str, str]) -> None:
    global _RUN, _NAMES
    _RUN, _NAMES = run, names


def _task(name: str | None) -> dict[str, bytes]:
    assert _RUN is not None
    return render_index(_RUN, _NAMES) if name is None else render_patient(_RUN, name, _NAMES)


def build_reports(out_dir: str | os.PathLike[str], jobs: int | None = None,
                  progress: Callable[[int, int, str], None] | None = None) -> list[Path]:
    """Render ``index.html`` and ``patients/<patient>.html|.pdf`` of the scored run in ``out_dir``
    from its tables (figures drawn in ``jobs`` worker processes; ``progress(done, total, name)``
    after each page); the folder is replaced as one unit (its data files, the new pages and a new
    manifest). Returns the files written."""
    from .._io.atomic import output_unit

    folder = Path(out_dir)
    with output_unit(folder) as stage:
        return [folder / p.relative_to(stage) for p in render_reports(folder, stage, jobs, progress)]


def render_reports(folder: Path, stage: Path, jobs: int | None = None,
                   progress: Callable[[int, int, str], None] | None = None) -> list[Path]:
    """Render the pages of the scored run in ``folder`` into ``stage`` (the same folder, or a
    staging folder that receives the run's data files too) and seal ``stage``'s manifest;
    ``jobs`` and ``progress`` as for :func:`build_reports`. Returns the pages written."""
    from ..scoring.tables import seal

    run = load_run(folder)
    patients = sorted({s["patient"] for s in run.samples if s["role"] in ("sample", "isotype")})
    names = page_names(patients)
    tasks: list[str | None] = [None, *patients]
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(tasks)))
    if stage != folder:
        for name, data in run.data_files.items():  # the run's data, never its old pages
            write_atomic(stage / name, data)
    written: list[Path] = []
    for patient, files in zip(tasks, map_in_workers(_task, tasks, jobs, _init, (run, names)), strict=True):
        for relative, content in files.items():  # written here, in the main process
            write_atomic(stage / relative, content)
            written.append(stage / relative)
        if progress is not None:
            progress(len(written), 2 * len(patients) + 1, "index" if patient is None else patient)
    seal(stage, run.manifest)
    return written
