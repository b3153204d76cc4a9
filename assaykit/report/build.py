"""Per-patient restoration reports (HTML + PDF) and the run summary (``index.html``), rendered
from a scored run's tables and figure data alone (docs/reports.md).

Pages are self-contained: CSS inline, figures embedded as PNG data URIs, no network resource;
A4 print rules. Every text from a plate map, clinical file or FCS keyword is escaped by Jinja2's
autoescape; page file names come from :mod:`.names`. Patients are rendered in worker processes
(each figure drawn once: its PNG in the HTML page, its pixels on the PDF's flowing A4 pages,
:mod:`.pdf`); the files are written atomically by the main process, and a rerun on the same
tables gives the same bytes. Every page starts with the run's verdicts (issue 27): a withheld
value shows its MFI and its reason, never an AB/C, fold change, state, responder or class.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .._io.atomic import write_atomic
from .._workers import interrupts_held, map_in_workers
from ..errors import AssayKitError
from . import figures as fg
from .load import RunData, load_run
from .names import page_names

# --- what the pages show ----------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "-" if value is None else f"{value:,.{digits}f}{suffix}"


def _calibration(run: RunData, withheld_too: bool = False) -> dict[str, float] | None:
    """The run's calibration line; None without one, or when its verdict withholds it (unless
    ``withheld_too``: the bead figure still shows what was fitted)."""
    verdict = run.calibration_verdict
    if not withheld_too and verdict is not None and verdict.get("status") == "withheld":
        return None
    first = run.calibration[0] if run.calibration else None
    if first is None or first.get("error") or first.get("slope") is None:
        return None
    return {"slope": first["slope"], "intercept": first["intercept"]}


def _conditions(run: RunData) -> list[str]:
    return [s["condition"] for s in run.samples if s["role"] == "sample"]


def gate_origins(manifest: dict[str, Any]) -> dict[str, str]:
    """File name -> how its monocyte gate was set when not automatically (the manifest's
    ``gate_overrides``; an excluded tube has no gate): "corrected in review by NAME" (a
    ``reviewed:`` entry the review wrote) or "set by hand (SOURCE)".

    Parameters
    ----------
    manifest : dict
        The output folder's manifest.
    """
    out = {}
    for o in manifest.get("gate_overrides") or []:
        if not isinstance(o, dict) or o.get("excluded") or not o.get("file"):
            continue
        reviewed = o.get("reviewed")
        by = reviewed.get("by") if isinstance(reviewed, dict) else None
        out[str(o["file"])] = f"corrected in review by {by}" if by else f"set by hand ({o.get('source') or 'run.yaml'})"
    return out


def _gating_line(origins: dict[str, str], tubes: list[dict[str, Any]]) -> str:
    """"automatic", then each of ``tubes`` (sample rows) whose gate was set otherwise."""
    said = [f"{t.get('condition') or t['file']} ({t.get('well') or t['file']}): {origins[t['file']]}"
            for t in tubes if t.get("file") in origins]
    return "automatic" + (f", except {'; '.join(said)}" if said else "")


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
    verdict = run.calibration_verdict or {}
    if verdict.get("status") == "withheld":
        fit += " - WITHHELD: no AB/C reported"
    elif verdict.get("status") == "released":
        fit += f" - released by a person: {verdict.get('released_reason') or 'no reason recorded'}"
    return {
        "gating": _gating_line(gate_origins(m), [s for s in run.samples if s.get("role") != "beads"]),
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
        "gap": "gap closed = (drug - control) / (normal threshold - control), for a control below normal; above "
               "100 %: the drug brought the patient above the normal threshold",
        "software": f"assaykit {m.get('software', {}).get('assaykit', '')}",
    }


# --- verdicts ---------------------------------------------------------------------------------------

_VERDICT_WORDS = {"reportable": "reportable", "reportable_with_warnings": "reportable, with warnings",
                  "withheld": "withheld"}
NO_VERDICTS = ("No verdicts recorded: this output folder was scored before assaykit gave each value a verdict "
               "(score the run again); read every value with its QC flags.")


def withheld(row: dict[str, Any]) -> bool:
    return row.get("verdict") == "withheld"


def _drug_abc_text(row: dict[str, Any], by_file: dict[str, dict[str, Any]], mfi: dict[str, Any]) -> str:
    """A restoration row's drug AB/C as the pages show it: its own verdict decides
    (restoration.csv ``drug_verdict``, scoring's; a folder scored before it: the drug tube's
    samples.csv verdict), never the comparison's: a drug whose control is withheld still shows its
    value (from samples.csv when the row's own was withheld with the comparison; a mean of
    replicates whose comparison is withheld shows "in the tubes below")."""
    tube = by_file.get(row["file"])
    held = row["drug_verdict"] == "withheld" if row.get("drug_verdict") else tube is None or withheld(tube)
    if held:
        return f"withheld (MFI {_fmt(mfi.get(row['file']), 0)})" if row["file"] in mfi else "withheld"
    if row.get("abc") is not None:
        return fg.abc_text(row["abc"]) + replicates_text(row, "")
    return fg.abc_text(tube["hladr_abc"]) if tube is not None else "in the tubes below (comparison withheld)"


def _control_withheld(patient_row: dict[str, Any] | None, controls: list[dict[str, Any]]) -> bool:
    """Whether a patient time point's unstimulated value is withheld: patients.csv's
    ``control_verdict`` as scoring decided it; a folder scored before that column, by its control
    tubes (replicates: withheld when all are)."""
    if patient_row is not None and patient_row.get("control_verdict"):
        return bool(patient_row["control_verdict"] == "withheld")
    return bool(controls) and all(withheld(s) for s in controls)


def reasons(row: dict[str, Any]) -> str:
    """Why a row is withheld (or reportable with warnings): the messages of its findings whose
    codes are its verdict's reasons (the bare code where the row holds no such finding), and its
    file's error."""
    codes = list(row.get("verdict_reasons") or ())
    flags = row.get("qc_flags") or ()
    said = [f.message for f in flags if f.code in codes]
    said += [c for c in codes if not any(f.code == c for f in flags)]
    if row.get("error"):
        said.append(f"failed: {row['error']}")
    return "; ".join(dict.fromkeys(said))


def _count_line(total: int, reportable: int, held: int, reasons_count: dict[str, int], noun: str) -> str:
    line = f"{reportable} of {total} {noun} reportable; {held} withheld"
    if reasons_count:
        line += ": " + ", ".join(f"{code} ({n})" for code, n in sorted(reasons_count.items(),
                                                                      key=lambda item: (-item[1], item[0])))
    return line


def verdict_summary(run: RunData) -> dict[str, Any]:
    """The top of every page: "N of M values reportable; K withheld: reasons" (the manifest's
    counts), and the bead calibration's banner when it is withheld or was released by a person."""
    counts = run.verdicts
    calibration = run.calibration_verdict
    out: dict[str, Any] = {"recorded": counts is not None, "line": NO_VERDICTS, "banner": "", "banner_kind": "",
                           "calibration_withheld": False}
    if counts is not None:
        out["line"] = _count_line(int(counts.get("values", 0)), int(counts.get("reportable", 0)),
                                  int(counts.get("withheld", 0)), dict(counts.get("reasons") or {}), "values")
    if calibration is not None:
        findings = "; ".join(f"[{f.get('code', '')}] {f.get('message', '')}" for f in calibration.get("findings", []))
        status = calibration.get("status")
        if status == "withheld":
            out.update(banner_kind="withheld", calibration_withheld=True,
                       banner="Bead calibration WITHHELD" + (f": {findings}" if findings else "") +
                              ". No AB/C, fold change, state, responder or ImmunoSep class is reported from this "
                              "run; the MFI of each tube is shown.")
        elif status == "released":
            reason = calibration.get("released_reason") or "no reason recorded"
            out.update(banner_kind="released",
                       banner=f"Bead calibration RELEASED by a person despite its findings: \u201c{reason}\u201d. "
                              + (f"Findings: {findings}. " if findings else "")
                              + "Its AB/C values are reported on that person's responsibility.")
    return out


def _patient_verdict(tubes: list[dict[str, Any]]) -> str:
    """This patient's tubes by verdict, when the tables record verdicts."""
    judged = [t for t in tubes if t.get("verdict")]
    if not judged:
        return ""
    held = [t for t in judged if withheld(t)]
    count: dict[str, int] = {}
    for t in held:
        for code in t.get("verdict_reasons") or ("unstated",):
            count[code] = count.get(code, 0) + 1
    return "This patient: " + _count_line(len(judged), len(judged) - len(held), len(held), count, "tubes")


def _missing(text: str) -> dict[str, str]:
    """patients.csv's ``missing`` ("condition: reason; ...") as condition -> reason."""
    out: dict[str, str] = {}
    for part in (text or "").split("; "):
        if part.strip():
            condition, _, reason = part.partition(": ")
            out[condition.strip()] = reason.strip()
    return out


def drug_summary(rows: list[dict[str, Any]], state: dict[str, Any] | None) -> dict[str, Any]:
    """Responders and the highest fold change over the measured drugs only; each drug without a
    measured fold change named with its reason."""
    measured = [r for r in rows if not withheld(r) and r.get("fold_change") is not None]
    unmeasured = {r["condition"]: (reasons(r) if withheld(r) else
                                   "; ".join(f.message for f in r["qc_flags"] if f.severity == "error")
                                   or "no fold change") for r in rows if r not in measured}
    if state:
        unmeasured.update(_missing(state.get("missing", "")))
    measured_names = {r["condition"] for r in measured}
    unmeasured = {c: why for c, why in unmeasured.items() if c not in measured_names}
    best = max(measured, key=lambda r: r["fold_change"], default=None)
    return {"measured": [r["condition"] for r in measured],
            "responders": [r["condition"] for r in measured if r.get("responder")],
            "highest": f"{best['condition']} ({best['fold_change']:.2f})" if best else "-",
            "unmeasured": unmeasured,
            "unmeasured_text": "; ".join(f"{c}: {why}" for c, why in unmeasured.items())}


def _gap(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{100 * value:,.0f} %" + (" (above normal)" if value > 1 else "")


def patient_context(run: RunData, patient: str, names: dict[str, str]) -> dict[str, Any]:
    """Everything a patient page shows, as plain values (strings formatted for reading)."""
    tubes = [s for s in run.samples if s["patient"] == patient and s["role"] in ("sample", "isotype")]
    mfi = {s["file"]: s["hladr_mfi"] for s in tubes}
    by_file = {s["file"]: s for s in tubes}
    held_files = {s["file"] for s in tubes if withheld(s)}
    timepoints = list(dict.fromkeys(s["timepoint"] for s in tubes))
    sections = []
    for tp in timepoints:
        state = next((p for p in run.patients if p["patient"] == patient and p["timepoint"] == tp), None)
        rows = [r for r in run.restoration if r["patient"] == patient and r["timepoint"] == tp]
        order = {c: i for i, c in enumerate([run.control, *[r["condition"] for r in rows]])}
        members = sorted((s for s in tubes if s["timepoint"] == tp),
                         key=lambda s: (s["role"] != "sample", order.get(s["condition"], len(order)), s["file"]))
        controls = [s for s in members if s["role"] == "sample" and s["condition"] == run.control]
        control = next((s for s in controls if withheld(s)), controls[0] if controls else None)
        control_held = _control_withheld(state, controls)
        if control_held and state is not None:  # never a state or class over a withheld control
            state = {**state, **{k: None for k in ("control_abc", "state", "immunosep_class", "immunosep_rule")}}
        sections.append({
            "timepoint": tp,
            "state": state,
            "control_abc": fg.abc_text(state["control_abc"]) if state else "-",
            "control_withheld": reasons(control) if control_held and control is not None else "",
            "control_mfi": _fmt(control["hladr_mfi"], 0) if control is not None else "-",
            "incomplete": (state.get("missing") or "incomplete") if state and state.get("completeness") == "incomplete"
            else "",
            "ferritin": _fmt(state["ferritin_ng_ml"], 0, " ng/mL") if state and state["ferritin_ng_ml"] is not None
            else "not given",
            "control_replicates": replicates_text(state, ""),
            # the drug's AB/C as its own verdict says (restoration.csv drug_verdict; an older folder: its
            # tube's in samples.csv); the comparison (fold change, state, responder) withheld when either is
            "rows": [{**r, "control_abc": None if r.get("control_file") in held_files else r["control_abc"],
                      "control_abc_text": "withheld" if r.get("control_file") in held_files
                      else fg.abc_text(r["control_abc"]) + replicates_text(r, "control_"),
                      "abc_text": _drug_abc_text(r, by_file, mfi),
                      "state_drug": None if withheld(r) else r["state_drug"],
                      "fold_text": "control withheld" if r.get("control_file") in held_files
                      else _fmt(r["fold_change"]), "delta_text": fg.abc_text(r["delta_abc"]),
                      "gap_text": _gap(r["gap_closed"]), "withheld_text": reasons(r) if withheld(r) else "",
                      "responder_text": {True: "yes", False: "no"}.get(r["responder"], "-")} for r in rows],
            "tubes": [{**s, "abc_text": "withheld" if withheld(s) else fg.abc_text(s["hladr_abc"]),
                       "mfi_text": _fmt(s["hladr_mfi"], 0), "verdict_text": _tube_verdict(s),
                       "events_text": _fmt(s["events"], 0), "monocytes_text": _fmt(s["monocytes"], 0),
                       "pct_text": _fmt(s["monocytes_pct"], 1, " %"),
                       "purity_text": _fmt(s.get("monocyte_purity_pct"), 1, " %")} for s in members],
            "drugs": drug_summary(rows, state),
            "gating": _gating_line(gate_origins(run.manifest), members),
        })
    dates = sorted({s["acquisition_date"] for s in tubes if s.get("acquisition_date")})
    return {"patient": patient, "stem": names[patient], "timepoints": timepoints, "sections": sections,
            "acquired": ", ".join(dates) or "not recorded", "failed": all(s["error"] for s in tubes) if tubes else True,
            "verdict": _patient_verdict(tubes), "trajectory": trajectory_context(run, patient)}


def replicates_text(row: dict[str, Any] | None, prefix: str) -> str:
    """What a value shown from ``row`` rests on when it is the mean of replicate tubes:
    `` (mean of 2 replicates, CV 3.1 %)``; "" for one tube, no row, or a table scored before
    replicates (no ``n_replicates`` column).

    Parameters
    ----------
    row : dict or None
        A restoration.csv or patients.csv row as read back.
    prefix : str
        ``control_`` for a restoration row's control value, "" for its own.
    """
    n = (row or {}).get(f"{prefix}n_replicates")
    if row is None or n is None or n < 2:
        return ""
    cv = row.get(f"{prefix}replicate_cv_pct")
    return f" (mean of {n:.0f} replicates" + (f", CV {cv:.1f} %)" if cv is not None else ")")


def _tube_verdict(row: dict[str, Any]) -> str:
    verdict = row.get("verdict") or ""
    if not verdict:
        return ""
    why = reasons(row) if verdict != "reportable" else ""
    return _VERDICT_WORDS.get(verdict, verdict) + (f": {why}" if why else "")


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
                               "abc": s["hladr_abc"], "mfi": s["hladr_mfi"], "withheld": withheld(s)})
        gating.append((label, [Panel.from_dict(p) for p in doc["panels"]] if doc else []))
    return histograms, gating


def _section_figures(run: RunData, section: dict[str, Any], colours: dict[str, str]) -> dict[str, fg.Raster]:
    """The three figures of one patient time point, each drawn once (PNG for the HTML page, the
    same pixels on the PDF page), straight into pixels (:mod:`.chart`)."""
    thresholds = run.manifest.get("thresholds", {})
    edges = np.asarray(run.figures["hladr_log10_edges"])
    histograms, gating = _tube_figures(run, section["tubes"])
    return {"restoration": fg.restoration_raster(section["rows"], colours, run.control, thresholds),
            "histograms": fg.histograms_raster(histograms, edges, _calibration(run), colours, thresholds),
            "gating": fg.gating_raster(gating)}


# --- rendering --------------------------------------------------------------------------------------


_ENVIRONMENT: Any = None


def _shown(value: Any) -> Any:
    """Every text a template prints, as a name is shown (:func:`assaykit._io.names.escape`: a
    byte that is not UTF-8, a control character or a bidirectional override as a backslash
    escape) before Jinja2's autoescape; markup the templates made themselves is left as it is."""
    from markupsafe import Markup

    from .._io.names import escape

    if isinstance(value, Markup) or hasattr(value, "__html__") or value is None or isinstance(value, int | float):
        return value
    return escape(value if isinstance(value, str) else str(value))  # a finding, a path: its text


def _environment() -> Any:
    """The templates, compiled once per process (before the workers fork, :func:`render_reports`)."""
    global _ENVIRONMENT
    if _ENVIRONMENT is None:
        from jinja2 import Environment, PackageLoader, StrictUndefined

        _ENVIRONMENT = Environment(loader=PackageLoader("assaykit.report", "templates"), autoescape=True,
                                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                                   keep_trailing_newline=True, finalize=_shown)
        for name in ("patient.html.j2", "index.html.j2"):
            _ENVIRONMENT.get_template(name)
    return _ENVIRONMENT


def _common(run: RunData) -> dict[str, Any]:
    from .signed import signature_lines

    m = run.manifest
    qc = run.qc_over_time
    status, reason = str(qc.get("status", "")), str(qc.get("reason", ""))
    return {"run": run.run_name, "software": m.get("software", {}).get("assaykit", ""), "methods": methods(run),
            "scored": m.get("ended", ""), "state_colours": fg.STATE_COLOURS,
            "figure_data_missing": bool(run.figures.get("missing")),
            "qc_banner": f"QC: {status}, {reason}" if status in ("rejected", "warning") else "",
            "qc_rejected": status == "rejected", "verdicts": verdict_summary(run),
            "gap_note": gap_note(run), "signatures": signature_lines(run.signatures, m, run.out_dir)}


def gap_note(run: RunData) -> str:
    normal = run.manifest.get("thresholds", {}).get("normal_abc", 15000)
    return (f"Gap closed: (drug - control) / ({normal:,.0f} - control), the share of the distance from the "
            f"patient's control to the normal limit ({normal:,.0f} AB/C) that the drug closed; above 100 % the "
            f"drug brought the patient above the normal limit. Not computed when the control is already normal.")


def render_patient(run: RunData, patient: str, names: dict[str, str]) -> dict[str, bytes]:
    """``patients/<stem>.html`` and ``.pdf`` of one patient."""
    context = patient_context(run, patient, names)
    colours = fg.condition_colours(_conditions(run), run.control)
    with fg.style():
        course = context["trajectory"]
        if course is not None:
            thresholds = run.manifest.get("thresholds", {})
            course["figure"] = fg.trajectory_raster(course["series"], colours, run.control, thresholds)
            course["png"] = course["figure"].uri
        for section in context["sections"]:
            section["figures"] = drawn = _section_figures(run, section, colours)
            section["restoration_png"] = drawn["restoration"].uri
            section["histogram_png"] = drawn["histograms"].uri
            section["gating_png"] = drawn["gating"].uri
        common = _common(run)
        pdf = patient_pdf(context, common)
    html = _environment().get_template("patient.html.j2").render(p=context, **common)
    stem = names[patient]
    return {f"patients/{stem}.html": html.encode("utf-8"), f"patients/{stem}.pdf": pdf}


def index_patients(run: RunData, names: dict[str, str]) -> list[dict[str, Any]]:
    """The run summary's patient rows: responders and the highest fold change over measured drugs
    only, every drug without a value named with its reason."""
    blood = [s for s in run.samples if s["role"] in ("sample", "isotype")]
    patients = []
    for patient in sorted({s["patient"] for s in blood}):
        rows = [p for p in run.patients if p["patient"] == patient]
        for p in rows:
            controls = [s for s in blood if s["patient"] == patient and s["timepoint"] == p["timepoint"]
                        and s["role"] == "sample" and s["condition"] == run.control]
            control = controls[0] if controls else None
            held = _control_withheld(p, controls)
            drugs = drug_summary([r for r in run.restoration if r["patient"] == patient
                                  and r["timepoint"] == p["timepoint"]], p)
            patients.append({**p, "stem": names[patient], "drugs": drugs,
                             "control_abc_text": (f"withheld (MFI {_fmt(control['hladr_mfi'], 0)})"
                                                  if held and control is not None
                                                  else fg.abc_text(p["control_abc"]) + replicates_text(p, "")),
                             "state": None if held else p["state"],
                             "immunosep_class": None if held else p["immunosep_class"]})
        if not rows:
            patients.append({"patient": patient, "stem": names[patient], "timepoint": "", "state": "",
                             "control_abc_text": "-", "immunosep_class": "", "completeness": "", "missing": "",
                             "drugs": drug_summary([], None), "qc_flags": ()})
    return patients


def render_index(run: RunData, names: dict[str, str]) -> dict[str, bytes]:
    """``index.html``: the run summary."""
    colours = fg.condition_colours(_conditions(run), run.control)
    thresholds = run.manifest.get("thresholds", {})
    blood = [s for s in run.samples if s["role"] in ("sample", "isotype")]
    with fg.style():
        plate = fg.render(lambda f: fg.draw_plate(f, run.samples), 8.0, 5.2).uri
        beads = fg.render(lambda f: fg.draw_beads(f, [c for c in run.calibration if c.get("peak") is not None],
                                                  run.figures.get("beads")), 9.0, 3.4).uri \
            if _calibration(run, withheld_too=True) is not None else None
        cohort = fg.render(lambda f: fg.draw_cohort(f, run.restoration, run.cohort, colours, run.control, thresholds),
                           max(3.2 * len(run.cohort), 4.0), 3.8).uri
    calibration = run.calibration[0] if run.calibration else {}
    context = {
        **_common(run), "patients": index_patients(run, names), "plate_png": plate, "beads_png": beads,
        "cohort_png": cohort, "calibration": calibration,
        "peaks": [c for c in run.calibration if c.get("peak") is not None],
        "cohort": run.cohort, "samples": [{**s, "verdict_text": _tube_verdict(s)} for s in run.samples],
        "failed": [s for s in run.samples if s["error"]],
        "n_files": len(run.samples), "n_patients": len({s["patient"] for s in blood}),
        "bead_flags": calibration.get("qc_flags", ()),
    }
    html = _environment().get_template("index.html.j2").render(**context)
    return {"index.html": html.encode("utf-8")}


# --- the PDF -------------------------------------------------------------------------------------------

_RED, _AMBER = ("#fdecea", "#b03a2e"), ("#fef9e7", "#d4ac0d")


def _pdf_top(pages: Any, context: dict[str, Any], common: dict[str, Any]) -> None:
    """What the top of the HTML page says: title, run, verdicts, banners."""
    v = common["verdicts"]
    pages.text(f"HLA-DR restoration report - patient {context['patient']}", 14, bold=True, after=2)
    pages.text(f"time points {', '.join(context['timepoints'])}  |  run {common['run']}  |  acquired "
               f"{context['acquired']}  |  scored {common['scored']} with assaykit {common['software']}", 7.5,
               colour="#5d6d7e", after=5)
    pages.text("Signatures: " + "; ".join(common["signatures"]), 7.5, colour="#5d6d7e", after=3)
    pages.text(v["line"], 8.5, bold=v["recorded"], box=_AMBER if not v["recorded"] else None)
    if v["banner"]:
        pages.text(v["banner"], 8.5, bold=True, box=_RED if v["banner_kind"] == "withheld" else _AMBER)
    if common["qc_banner"]:
        pages.text(common["qc_banner"] + (": this run is held; its values are not to be reported until the QC "
                                          "failure is resolved." if common["qc_rejected"] else ""), 8.5, box=_RED)
    if context["verdict"]:
        pages.text(context["verdict"], 8)
    if context["failed"]:
        pages.text("Every file of this patient failed: no value could be measured. The reasons are listed below.",
                   8.5, bold=True, box=_RED)
    if common["figure_data_missing"]:
        pages.text("figure_data.json is missing from the output folder: histograms and gating thumbnails cannot be "
                   "drawn (score the run again to keep them).", 8, box=_AMBER)


def _pdf_section(pages: Any, section: dict[str, Any], common: dict[str, Any]) -> None:
    state = section["state"] or {}
    figures = section["figures"]
    pages.need(120)
    pages.text(f"Time point {section['timepoint']}", 12, bold=True, after=3)
    if section["incomplete"]:
        pages.text(f"Incomplete: {section['incomplete']}", 8.5, bold=True, box=_AMBER)
    if section["control_withheld"]:
        pages.text(f"Unstimulated monocyte HLA-DR: WITHHELD (MFI {section['control_mfi']}): "
                   f"{section['control_withheld']}", 10, bold=True, colour="#b03a2e", after=2)
    else:
        pages.text(f"Unstimulated monocyte HLA-DR: {section['control_abc']} AB/C{section['control_replicates']} - "
                   f"state: {state.get('state') or 'no value'}", 10, bold=True, after=2)
    pages.text(f"ImmunoSep class: {state.get('immunosep_class') or 'not classified'} "
               f"({state.get('immunosep_rule') or 'no ferritin given'}); ferritin: {section['ferritin']}", 8)
    pages.items([str(flag) for flag in state.get("qc_flags") or ()], 7.5, colour="#b03a2e")
    pages.space(1)
    pages.text("Restoration per drug", 10, bold=True, keep=50)
    if section["rows"]:
        pages.table(["drug", "control AB/C", "drug AB/C", "fold change", "delta AB/C", "gap closed", "state reached",
                     "responder"],
                    [[r["condition"], r["control_abc_text"], r["abc_text"], r["fold_text"], r["delta_text"],
                      r["gap_text"], r["state_drug"] or "-", r["responder_text"]] for r in section["rows"]],
                    ["left", "right", "right", "right", "right", "right", "left", "left"],
                    colours=["#b03a2e" if withheld(r) else "black" for r in section["rows"]], after=2)
        pages.text(common["gap_note"], 6.5, colour="#5d6d7e")
        notes = [f"{r['condition']}: withheld: {r['withheld_text']}" for r in section["rows"] if r["withheld_text"]]
        notes += [f"{r['condition']}: {f}" for r in section["rows"] for f in r["qc_flags"]]
        if notes:
            pages.text("QC of the rows", 8, bold=True, after=1, keep=20)
            pages.items(list(dict.fromkeys(notes)), colour="#b03a2e")
        pages.space(3)
        pages.figure(figures["restoration"])
    else:
        pages.text("No drug tube for this time point.", 8)
    pages.figure(figures["histograms"])
    pages.text("Tubes", 10, bold=True, keep=50)
    mfi = common["methods"]["mfi_header"]
    pages.table(["well", "file", "condition", "events", "monocytes", "% of parent", "purity (est.)", mfi, "AB/C",
                 "verdict"],
                [[t["well"], t["file"], t["condition"] + ("" if t["role"] == "sample" else f" ({t['role']})")
                  + (f", replicate {t['replicate']}" if t.get("replicate") else ""),
                  t["events_text"], t["monocytes_text"], t["pct_text"], t["purity_text"], t["mfi_text"],
                  t["abc_text"], (t.get("verdict") or "-").replace("_", " ")] for t in section["tubes"]],
                ["left", "left", "left", "right", "right", "right", "right", "right", "right", "left"],
                colours=["#b03a2e" if withheld(t) or t["error"] else "black" for t in section["tubes"]], after=2)
    notes = [f"{t['condition']} ({t['well']}): {t['verdict_text']}" for t in section["tubes"]
             if t["verdict_text"] and t.get("verdict") != "reportable"]
    notes += [f"{t['condition']} ({t['well']}): failed: {t['error']}" for t in section["tubes"] if t["error"]]
    notes += [f"{t['condition']} ({t['well']}): {f}" for t in section["tubes"] for f in t["qc_flags"]]
    pages.items(list(dict.fromkeys(notes)), colour="#b03a2e")
    pages.space(1)
    pages.text(f"Gates (crimson) on each tube, one row per tube, in gating order: {section['gating']}.", 7.5,
               colour="#5d6d7e", after=2, keep=80)
    pages.figure(figures["gating"])


def patient_pdf(context: dict[str, Any], common: dict[str, Any]) -> bytes:
    """The patient's page on A4, flowing: the top (verdicts, banners), the course over time, then
    per time point the state, the restoration table and figure, the histograms, the tubes table
    and the gating thumbnails; the methods and the research-use line end it. ``context``: the
    patient's page context; ``common``: what every page shows (:func:`_common`)."""
    from .pdf import Pages, core_fonts_suffice, glyph_note, missing_glyphs

    pages = Pages(f"HLA-DR restoration: patient {context['patient']}", f"assaykit {common['software']}",
                  core_fonts=core_fonts_suffice(context, common))
    _pdf_top(pages, context, common)
    pages.text(glyph_note(missing_glyphs(context, common)), 7.5, box=_AMBER)
    course = context["trajectory"]
    if course is not None:
        pages.text(f"Over time (runs: {', '.join(course['runs'])})", 12, bold=True, keep=120)
        pages.figure(course["figure"])
        pages.items(course["findings"], 7.5)
        pages.text(course["source"], 6.5, colour="#5d6d7e")
    for section in context["sections"]:
        _pdf_section(pages, section, common)
    m = common["methods"]
    pages.text("Methods", 10, bold=True, after=2, keep=70)
    pages.items([f"Gating: {m['gating']}, strategy {m['strategy']}; readout: {m['statistic']}.",
                 f"Bead calibration: {m['lot']}; {m['fit']}.", f"States and classes: {m['thresholds']}.",
                 f"Responder: {m['responder']}, each drug against the patient's {m['control']} control at the same "
                 f"time point; {m['gap']}.", f"{m['software']}. {RESEARCH_USE}"], colour="#34495e")
    return pages.pdf()


RESEARCH_USE = "Research use; not a diagnostic device."


# --- the whole run ------------------------------------------------------------------------------------

_RUN: RunData | None = None
_NAMES: dict[str, str] = {}


def prepare_reports() -> None:
    """Import the drawing and PDF backends, load the fonts and compile the templates in this
    process, before the page workers fork: each inherits them instead of paying for them (once a
    process; ``assaykit score`` has it done while its tube workers run)."""
    import importlib

    for module in ("matplotlib.backends.backend_agg", "matplotlib.backends.backend_pdf", "PIL.ImageDraw"):
        importlib.import_module(module)

    from .pdf import text_width

    _environment()
    with fg.style():
        text_width("0", 8)  # the PDF's font found and its advances read once, before the workers fork


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
    from .._io.atomic import RUN_KIND, output_unit

    folder = Path(out_dir)
    with output_unit(folder, kind=RUN_KIND) as stage:
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
    with interrupts_held():  # the imports collect garbage (the ledger's): no Ctrl-C lost in its callbacks
        prepare_reports()
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
