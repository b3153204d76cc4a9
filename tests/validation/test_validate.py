"""``assaykit validate`` end to end: simulated scored runs (a stabilised control blood measured
five times a run on two runs a day over four days: EP15-A3's least design, 5 runs x 5
replicates, met; 120 healthy donors, stability aliquots stained 1, 4 and 8 h after the draw,
withheld tubes, a lab's comparison CSV) validated, and every figure's statistics checked against
the same numbers computed independently (numpy) from the data CSVs the folder holds and from the
simulated truth; exit codes; bad inputs in one line naming the file; deterministic reruns;
nothing written outside --out."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from assaykit._io.atomic import file_listing
from assaykit.cli import app
from assaykit.scoring.tables import SAMPLE_COLUMNS, csv_bytes
from assaykit.validation import validate
from assaykit.validation.data import Tube, gather, precision_groups, single_run_materials, tube_of

COLUMNS = [*SAMPLE_COLUMNS, "replicate", "donor_group"]
DAYS = ("2026-10-01", "2026-10-02", "2026-10-05", "2026-10-06")
CONTROL_TRUE = {"mean": 20000.0, "day_sd": 600.0, "run_sd": 500.0, "repeat_sd": 700.0}
SLOPE_PER_H = -0.01  # ln AB/C per hour: -3.9 % at 4 h
LAB_BIAS = 0.0  # the lab reads as assaykit (a proportional bias would fail Passing-Bablok's slope: test_criteria)


def _tube(run: int, well: int, role: str, patient: str, timepoint: str, condition: str, abc: float,
          verdict: str = "reportable", replicate: str = "", group: str = "", hours: float | None = None) -> dict:
    return {"file": f"R{run}_{well:03d}.fcs", "sha256": hashlib.sha256(f"{run}-{well}".encode()).hexdigest(),
            "well": f"W{well}", "patient": patient, "timepoint": timepoint, "condition": condition, "role": role,
            "acquisition_date": DAYS[run // 2], "instrument": "FACSCanto II", "instrument_serial": "V1",
            "hladr_abc": abc if verdict != "withheld" else None, "hladr_mfi": abc / 2.0, "verdict": verdict,
            "replicate": replicate, "donor_group": group, "draw_to_stain_h": hours, "events": 100000}


def _write_run(folder: Path, run: int, tubes: list[dict]) -> None:
    folder.mkdir(parents=True)
    (folder / "samples.csv").write_bytes(csv_bytes(pd.DataFrame(tubes, columns=COLUMNS)))
    manifest = {"run_id": f"uid{run:02d}", "ended": f"{DAYS[run // 2]}T12:00:00+00:00",
                "run_dir": str(folder.parent / f"plates-{run}"),
                "lot": {"kit": "BD QuantiBRITE PE", "lot": "L1"}, "files": file_listing(folder)}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def simulate_study(root: Path, seed: int = 7) -> dict[str, Any]:
    """Eight scored runs (two a day over four days) with their truth: the control blood five
    times a run, 15 healthy donors a run (120 in all) with a drug tube each, stability aliquots in run 0,
    two withheld tubes; and a lab's comparison CSV of 40 donors."""
    rng = np.random.default_rng(seed)
    truth: dict[str, Any] = {"runs": [], "donors": {}, "stability": [], "withheld": 0}
    day_effect = rng.normal(0, CONTROL_TRUE["day_sd"], len(DAYS))
    donor = 0
    for run in range(8):
        run_effect = rng.normal(0, CONTROL_TRUE["run_sd"])
        tubes = []
        for rep in ("1", "2", "3", "4", "5"):
            value = CONTROL_TRUE["mean"] + day_effect[run // 2] + run_effect + rng.normal(0, CONTROL_TRUE["repeat_sd"])
            tubes.append(_tube(run, len(tubes), "control", "CTRL-1", "", "unstimulated", round(value, 1),
                               replicate=rep))
        for _ in range(15):
            donor += 1
            name = f"H{donor:03d}"
            value = round(float(np.exp(rng.normal(math.log(25000), 0.25))), 1)
            truth["donors"][name] = value
            tubes.append(_tube(run, len(tubes), "sample", name, "D0", "unstimulated", value, group="healthy"))
            tubes.append(_tube(run, len(tubes), "sample", name, "D0", "IFN-gamma", value * 2, group="healthy"))
        if run == 0:
            for s in range(4):
                base = float(rng.uniform(8000, 30000))
                for hours in (1.0, 4.0, 8.0):
                    value = round(base * math.exp(SLOPE_PER_H * hours) * float(np.exp(rng.normal(0, 0.01))), 1)
                    truth["stability"].append((f"S{s}", hours, value))
                    tubes.append(_tube(run, len(tubes), "sample", f"S{s}", "D1", "unstimulated", value,
                                       replicate=f"h{hours:g}", group="septic", hours=hours))
        if run in (3, 5):
            tubes.append(_tube(run, len(tubes), "sample", f"W{run}", "D1", "unstimulated", 0, verdict="withheld"))
            truth["withheld"] += 1
        folder = root / f"run-{run}"
        _write_run(folder, run, tubes)
        truth["runs"].append(folder)
    lab = [{"patient": p, "timepoint": "D0", "condition": "unstimulated",
            "lab_abc": round(v * (1 + LAB_BIAS) * float(np.exp(rng.normal(0, 0.04))), 1)}
           for p, v in list(truth["donors"].items())[:40]]
    truth["lab"] = lab
    lab_csv = root / "lab.csv"
    lab_csv.write_text(pd.DataFrame(lab).to_csv(index=False))
    truth["lab_csv"] = lab_csv
    return truth


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _snapshot(root: Path, skip: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and skip not in p.parents and p != skip}


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("study")
    truth = simulate_study(root)
    out = root / "validation"
    before = _snapshot(root, out)
    args = ["validate", *[a for f in truth["runs"] for a in ("--run", str(f))], "--comparison",
            str(truth["lab_csv"]), "--out", str(out)]
    result = CliRunner().invoke(app, args, env={"ASSAYKIT_LEDGER": ""})
    truth.update(root=root, out=out, result=result, before=before, args=args)
    return truth


def _nested_anova(values: np.ndarray, day: np.ndarray, run: np.ndarray) -> dict[str, float]:
    """Balanced three-level nested ANOVA (day / run / replicate) written out from its sums of
    squares: an independent computation of EP05's variance components."""
    days = sorted(set(day))
    runs = sorted(set(run))
    n_rep = len(values) // len(runs)
    n_run = len(runs) // len(days)
    grand = values.mean()
    ss_day = sum(n_run * n_rep * (values[day == d].mean() - grand) ** 2 for d in days)
    ss_run = sum(n_rep * (values[run == r].mean() - values[day == day[run == r][0]].mean()) ** 2 for r in runs)
    ss_err = sum(((values[run == r] - values[run == r].mean()) ** 2).sum() for r in runs)
    ms_day = ss_day / (len(days) - 1)
    ms_run = ss_run / (len(days) * (n_run - 1))
    ms_err = ss_err / (len(runs) * (n_rep - 1))
    v_err = ms_err
    v_run = max((ms_run - ms_err) / n_rep, 0.0)
    v_day = max((ms_day - ms_run) / (n_rep * n_run), 0.0)
    return {"mean": grand, "repeat_sd": math.sqrt(v_err), "run_sd": math.sqrt(v_run), "day_sd": math.sqrt(v_day),
            "lab_sd": math.sqrt(v_err + v_run + v_day)}


def test_validation_end_to_end_matches_independent_computations(study: dict[str, Any]) -> None:
    result, out = study["result"], study["out"]
    assert result.exit_code == 0, result.output
    # the tubes: every reportable one, the withheld counted by verdict
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "assaykit validate"
    assert manifest["left_out"] == {"withheld": study["withheld"]}
    assert manifest["tubes"] == 8 * (5 + 30) + 12
    assert [r["run_uid"] for r in manifest["inputs"]["runs"]] == [f"uid{i:02d}" for i in range(8)]
    for entry, folder in zip(manifest["inputs"]["runs"], study["runs"], strict=True):
        assert entry["samples_sha256"] == hashlib.sha256((folder / "samples.csv").read_bytes()).hexdigest()
    assert manifest["inputs"]["comparisons"][0]["sha256"] == hashlib.sha256(study["lab_csv"].read_bytes()).hexdigest()
    assert manifest["inputs"]["criteria"]["source"].startswith("shipped")
    for name, entry in manifest["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == entry["sha256"]
    assert "2 withheld" in result.output

    # precision of the control blood: day / run / replicate, against the ANOVA written out here
    data = [r for r in _read(out / "precision_data.csv") if r["patient"] == "CTRL-1" and r["scope"] == "all"]
    assert len(data) == 40
    values = np.array([float(r["abc"]) for r in data])
    expected = _nested_anova(values, np.array([r["day"] for r in data]), np.array([r["run_key"] for r in data]))
    row = next(r for r in _read(out / "precision.csv") if r["patient"] == "CTRL-1")
    assert row["design"] == "day/run/replicate" and row["n_days"] == "4" and row["n_runs"] == "8"
    assert float(row["mean_abc"]) == pytest.approx(expected["mean"], rel=1e-6)
    assert float(row["repeatability_sd_abc"]) == pytest.approx(expected["repeat_sd"], rel=1e-5)
    assert float(row["between_run_sd_abc"]) == pytest.approx(expected["run_sd"], rel=1e-5, abs=1e-3)
    assert float(row["between_day_sd_abc"]) == pytest.approx(expected["day_sd"], rel=1e-5, abs=1e-3)
    assert float(row["within_laboratory_sd_abc"]) == pytest.approx(expected["lab_sd"], rel=1e-5)
    assert float(row["within_laboratory_cv_pct"]) == pytest.approx(100 * expected["lab_sd"] / expected["mean"],
                                                                    rel=1e-5)
    criteria = _read(out / "criteria.csv")
    cv = next(c for c in criteria if c["criterion"] == "repeatability_cv" and "CTRL-1" in c["subject"])
    assert float(cv["value"]) == pytest.approx(100 * expected["repeat_sd"] / expected["mean"], rel=1e-5)
    assert cv["result"] == "pass" and "8 runs x 5 replicates on 4 days: meets EP15-A3" in cv["detail"]
    assert row["design_meets"] == "verify" and row["replicates_per_run"] == "5"
    for component in ("repeatability", "between_run", "between_day", "within_laboratory"):  # as docs say: CI and df
        assert float(row[f"{component}_cv_pct_ci_low"]) <= float(row[f"{component}_cv_pct"]) <= \
            float(row[f"{component}_cv_pct_ci_high"]) and float(row[f"{component}_df"]) >= 0, component
    assert float(row["repeatability_df"]) == 8 * 4  # 8 runs x (5 - 1)
    assert float(row["between_run_cv_pct"]) == pytest.approx(100 * expected["run_sd"] / expected["mean"], rel=1e-4,
                                                              abs=1e-4)

    # method comparison: the lab's CSV matched by patient/timepoint/condition, pooled
    pairs = _read(out / "comparison_data.csv")
    assert len(pairs) == 40
    for pair, lab in zip(pairs, study["lab"], strict=True):
        assert float(pair["assaykit_abc"]) == pytest.approx(study["donors"][lab["patient"]], rel=1e-6)
        assert float(pair["reference_abc"]) == pytest.approx(lab["lab_abc"], rel=1e-6)
    x = np.array([float(p["reference_abc"]) for p in pairs])
    y = np.array([float(p["assaykit_abc"]) for p in pairs])
    summary = {r["statistic"]: r for r in _read(out / "summary.csv")}
    assert float(summary["mean_difference_pct"]["value"]) == pytest.approx(float(np.mean(100 * (y - x) / x)), rel=1e-5)
    assert float(summary["bland_altman_bias"]["value"]) == pytest.approx(float(np.mean(y - x)), rel=1e-5)
    sd = float(np.std(y - x, ddof=1))
    assert float(summary["bland_altman_upper_limit"]["value"]) == pytest.approx(float(np.mean(y - x)) + 1.96 * sd,
                                                                                 rel=1e-5)
    mean_pct = next(c for c in criteria if c["criterion"] == "method_comparison_mean_difference")
    assert float(mean_pct["value"]) == pytest.approx(-100 * LAB_BIAS, abs=3.0) and mean_pct["result"] == "pass"

    # reference interval: one value per healthy donor (its unstimulated tube), nonparametric at n = 120
    reference = _read(out / "reference_data.csv")
    assert {r["patient"]: float(r["abc"]) for r in reference} == pytest.approx(study["donors"], rel=1e-6)
    ranked = np.sort([float(r["abc"]) for r in reference])
    for name, p in (("reference_lower_nonparametric", 0.025), ("reference_upper_nonparametric", 0.975)):
        rank = p * (ranked.size + 1)  # EP28-A3c: rank p (n + 1), interpolated
        low = math.floor(rank)
        limit = ranked[low - 1] + (rank - low) * (ranked[low] - ranked[low - 1])
        assert float(summary[name]["value"]) == pytest.approx(limit, rel=1e-6)
    # EP28's table at n = 120: the lower limit's 90 % CI between the 1st and 7th values, the upper's 114th-120th
    assert float(summary["reference_lower_nonparametric"]["ci_low"]) == pytest.approx(ranked[0], rel=1e-6)
    assert float(summary["reference_lower_nonparametric"]["ci_high"]) == pytest.approx(ranked[6], rel=1e-6)
    assert float(summary["reference_upper_nonparametric"]["ci_low"]) == pytest.approx(ranked[113], rel=1e-6)
    assert float(summary["reference_upper_nonparametric"]["ci_high"]) == pytest.approx(ranked[119], rel=1e-6)

    # stability: the pooled within-donor slope by centring each donor (not the dummy regression)
    timed = _read(out / "stability_data.csv")
    assert sorted((r["patient"], float(r["draw_to_stain_h"]), float(r["abc"])) for r in timed) == \
        sorted(study["stability"])  # 0.1 AB/C: within the CSV's 7 significant digits
    num = den = 0.0
    for donor in {r["patient"] for r in timed}:
        h = np.array([float(r["draw_to_stain_h"]) for r in timed if r["patient"] == donor])
        v = np.log([float(r["abc"]) for r in timed if r["patient"] == donor])
        num += float(((h - h.mean()) * (v - v.mean())).sum())
        den += float(((h - h.mean()) ** 2).sum())
    slope = num / den
    assert slope == pytest.approx(SLOPE_PER_H, abs=0.003)  # the simulated truth
    assert float(summary["drift_at_4h_pct"]["value"]) == pytest.approx(100 * math.expm1(4 * slope), rel=1e-5)
    drift = next(c for c in criteria if c["criterion"] == "stability_drift")
    assert float(drift["value"]) == pytest.approx(100 * math.expm1(4 * slope), rel=1e-5) and drift["result"] == "pass"

    # every criterion evaluated passed; not evaluated: the transference check (no interval configured); the
    # stability aliquots (replicates of one run) have no between-run precision: counted in a note, not judged
    assert {c["result"] for c in criteria} == {"pass", "not_evaluated"}
    unjudged = [(c["criterion"], c["why"]) for c in criteria if c["result"] == "not_evaluated"]
    assert unjudged == [("reference_interval_transference", "not_configured")]
    assert not [c for c in criteria if c["subject"].startswith("sample S")]
    assert "4 material(s) measured in replicate in one run only" in (out / "validation.html").read_text()

    # the pages: every figure in the HTML, the same in the PDF
    html = (out / "validation.html").read_text()
    for caption in ("control CTRL-1 unstimulated: AB/C per run", "Bland-Altman", "Passing-Bablok",
                    "Reference values with the interval", "ln AB/C against hours"):
        assert f'alt="{caption}' in html
    assert html.count("<img") == 1 + 4  # the control's precision, the four other figures
    pdf = (out / "validation.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Subtype /Image") == html.count("<img")


def test_nothing_is_written_outside_out(study: dict[str, Any]) -> None:
    after = _snapshot(study["root"], study["out"])
    assert after == study["before"]
    assert sorted(p.name for p in study["out"].iterdir()) == sorted(
        ["comparison_data.csv", "criteria.csv", "manifest.json", "precision.csv", "precision_data.csv",
         "reference_data.csv", "stability_data.csv", "summary.csv", "validation.html", "validation.pdf"])
    assert not [p for p in study["out"].parent.iterdir() if p.name.startswith(".validation")]  # no lock, no stage


def test_a_rerun_gives_identical_files(study: dict[str, Any], tmp_path: Path) -> None:
    again = tmp_path / "again"
    args = [a if a != str(study["out"]) else str(again) for a in study["args"]]
    result = CliRunner().invoke(app, list(reversed_runs(args)), env={"ASSAYKIT_LEDGER": ""})
    assert result.exit_code == 0, result.output
    for name in ("precision_data.csv", "precision.csv", "comparison_data.csv", "reference_data.csv",
                 "stability_data.csv", "summary.csv", "criteria.csv", "validation.html", "validation.pdf"):
        assert (again / name).read_bytes() == (study["out"] / name).read_bytes(), name
    # the same folder again: replaced as one unit, the same bytes
    result = CliRunner().invoke(app, args, env={"ASSAYKIT_LEDGER": ""})
    assert result.exit_code == 0 and "replacing the earlier validation" in result.output
    assert (again / "criteria.csv").read_bytes() == (study["out"] / "criteria.csv").read_bytes()


def reversed_runs(args: list[str]) -> list[str]:
    """The same command with the --run folders given in the opposite order (the result must not depend on it)."""
    runs = [args[i + 1] for i, a in enumerate(args) if a == "--run"]
    rest = [a for i, a in enumerate(args) if a != "--run" and (i == 0 or args[i - 1] != "--run")]
    return [rest[0], *[a for r in reversed(runs) for a in ("--run", r)], *rest[1:]]


def test_a_failed_criterion_exits_1_with_the_report_written(study: dict[str, Any], tmp_path: Path) -> None:
    strict = tmp_path / "strict.yaml"
    strict.write_text("precision:\n  repeatability_cv_pct_max: 0.5\n")
    out = tmp_path / "strict-out"
    args = [a if a != str(study["out"]) else str(out) for a in study["args"]] + ["--criteria", str(strict)]
    result = CliRunner().invoke(app, args, env={"ASSAYKIT_LEDGER": ""})
    assert result.exit_code == 1, result.output
    assert "failed: repeatability_cv (control CTRL-1 unstimulated)" in result.output
    rows = _read(out / "criteria.csv")
    failed = [r for r in rows if r["result"] == "fail"]
    assert failed and all(r["criterion"] == "repeatability_cv" and float(r["value"]) > 0.5 for r in failed)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"]["criteria"]["sha256"] == hashlib.sha256(strict.read_bytes()).hexdigest()


def _bad(tmp_path: Path, args: list[str], named: Path) -> str:
    out = tmp_path / "never"
    result = CliRunner().invoke(app, ["validate", *args, "--out", str(out)], env={"ASSAYKIT_LEDGER": ""})
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(named) in lines[0], result.output
    assert not out.exists()
    return lines[0]


def test_bad_inputs_are_one_line_naming_the_file(study: dict[str, Any], tmp_path: Path) -> None:
    run = str(study["runs"][0])
    missing = tmp_path / "no-ledger.sqlite"
    assert "no ledger here" in _bad(tmp_path, ["--ledger", str(missing)], missing)
    assert not missing.exists()  # never made by looking for it
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "notes.txt").write_text("not a scored run")
    assert "manifest not found" in _bad(tmp_path, ["--run", str(plain)], plain / "manifest.json")
    yaml = tmp_path / "criteria.yaml"
    yaml.write_text("precision:\n  repeatability_cv_max: 20\n")
    assert "repeatability_cv_max" in _bad(tmp_path, ["--run", run, "--criteria", str(yaml)], yaml)
    lab = tmp_path / "lab.csv"
    lab.write_text("patient,timepoint,condition,lab_abc,operator\nH001,D0,unstimulated,25000,AB\n")
    assert "'operator'" in _bad(tmp_path, ["--run", run, "--comparison", str(lab)], lab)
    absent = tmp_path / "absent.csv"
    assert "not found" in _bad(tmp_path, ["--run", run, "--comparison", str(absent)], absent)
    assert "not an `assaykit compare` output folder" in _bad(tmp_path, ["--run", run, "--comparison", run],
                                                             Path(run) / "manifest.json")
    comma = tmp_path / "comma.csv"
    comma.write_text("file,lab_abc\nR0_000.fcs,25k\n")  # read as compare --manual reads numbers
    assert "row 2 lab_abc '25k' is not a number" in _bad(tmp_path, ["--run", run, "--comparison", str(comma)], comma)
    twice = tmp_path / "twice.csv"  # a file name in two runs: which did the lab measure?
    twice.write_text("file,lab_abc\nR0_000.fcs,20000\n")
    again = tmp_path / "again"  # another run whose first file has the same name (other data: another SHA-256)
    _write_run(again, 1, [{**_tube(0, 0, "control", "CTRL-1", "", "unstimulated", 20000.0),
                           "sha256": hashlib.sha256(b"another tube").hexdigest()}])
    assert "row 2: file 'R0_000.fcs' names tubes of 2 runs (plates-0, plates-1): give the run" in _bad(
        tmp_path, ["--run", run, "--run", str(again), "--comparison", str(twice)], twice)
    other = tmp_path / "other-kind"
    other.mkdir()
    (other / "manifest.json").write_text(json.dumps({"kind": "assaykit compare", "files": {}}))
    assert "not a scored run" in _bad(tmp_path, ["--run", str(other)], other / "manifest.json")
    changed = tmp_path / "changed"
    _write_run(changed, 0, [_tube(0, 0, "control", "CTRL-1", "", "unstimulated", 20000.0)])
    with (changed / "samples.csv").open("a") as handle:
        handle.write("\n")
    assert "not as scored" in _bad(tmp_path, ["--run", str(changed)], changed)


def test_the_report_never_replaces_a_run_or_goes_into_one(study: dict[str, Any]) -> None:
    run = study["runs"][1]
    before = _snapshot(run, run / "none")
    for out in (run, run / "validation"):
        result = CliRunner().invoke(app, ["validate", "--run", str(run), "--out", str(out)],
                                    env={"ASSAYKIT_LEDGER": ""})
        assert result.exit_code == 2 and result.output.startswith(f"error: {out}: "), result.output
    assert _snapshot(run, run / "none") == before


class _Ledger:
    """The ledger's read side as validate uses it (:meth:`assaykit.ledger.Ledger.validation_rows`)."""

    shown = "test-ledger"
    n_left_out = 1

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def validation_rows(self) -> list[dict[str, Any]]:
        return self.rows


def test_a_run_in_the_ledger_and_named_is_read_once(study: dict[str, Any]) -> None:
    folder = study["runs"][0]
    rows = []
    for row in _read(folder / "samples.csv"):  # as the ledger records them: the run folder is the key
        rows.append({**row, "run_key": str(folder.parent / "plates-0"), "run_name": "plates-0", "run_uid": "uid00",
                     "acquired_on": row["acquisition_date"], "kit": "BD QuantiBRITE PE", "lot": "L1"})
    other = [{**r, "run_key": "/elsewhere/run-x", "run_name": "run-x", "run_uid": "uidx",  # other data: other SHA-256
              "sha256": hashlib.sha256(("x" + r["sha256"]).encode()).hexdigest()} for r in rows]
    data = gather(_Ledger(rows + other), [folder])  # type: ignore[arg-type]
    assert [(r.run_name, r.source) for r in data.runs] == [("run-x", "ledger"), ("plates-0", "folder")]
    assert len(data.tubes) == 2 * len([r for r in rows if r["verdict"].startswith("reportable")])
    assert data.ledger == "test-ledger" and data.ledger_left_out == 1
    alone = gather(None, [folder])
    assert {t.file for t in alone.tubes} == {t.file for t in data.tubes}
    moved = [{**r, "run_key": "/moved/plates-0"} for r in rows]  # the run folder moved: the same scoring's run_uid
    assert len(gather(_Ledger(moved), [folder]).tubes) == len(alone.tubes)  # type: ignore[arg-type]


def _simulate_scored(root: Path, ledger: Path, index: int, stained_after_h: float) -> Path:
    """One run simulated and scored into ``ledger``: the same control blood each run (seed 1's
    first patient, relabelled a control; another event count gives new acquisition noise only),
    stained ``stained_after_h`` hours after its draw (clinical.csv), and two healthy donors of
    this run's own, each tube twice (replicates r1, r2)."""
    run, scored = root / f"run{index}", root / f"scored{index}"
    result = CliRunner().invoke(app, ["simulate", str(run), "--patients", "1", "--conditions", "unstimulated",
                                      "--replicates", "2", "--healthy", "2", "--events", str(20000 + 2000 * index),
                                      "--seed", "1"])
    assert result.exit_code == 0, result.output
    plate = (run / "plate_map.csv").read_text().replace(",HD0", f",R{index}-HD0")  # other donors each run
    for rep in ("r1", "r2"):
        plate = plate.replace(f"P01,D3,unstimulated,sample,{rep},septic", f"CTRL-1,D3,unstimulated,control,{rep},")
    (run / "plate_map.csv").write_text(plate)
    stained = f"{6 + int(stained_after_h):02d}:{int(60 * (stained_after_h % 1)):02d}"
    (run / "clinical.csv").write_text(f"patient,timepoint,drawn_at,stained_at\nCTRL-1,D3,2026-11-22 06:00,"
                                      f"2026-11-22 {stained}\n")
    with (run / "run.yaml").open("a") as handle:
        handle.write("clinical: clinical.csv\n")
    result = CliRunner().invoke(app, ["score", str(run), "--out", str(scored), "--ledger", str(ledger)])
    assert result.exit_code == 0, result.output
    return scored


def test_runs_simulated_scored_and_compared_validated_from_the_ledger(tmp_path: Path) -> None:
    """Three runs simulated, scored into a ledger (a control blood stained 1, 4 and 8 h after its
    draw and two healthy donors of each run's own, all in replicate) and one compared with a lab's manual
    results: validate --ledger --comparison reads the ledger's reportable tubes; the precision,
    comparison and stability figures agree with the same statistics computed here from the
    runs' samples.csv and agreement.csv; the ledger and every run are left as they were."""
    ledger = tmp_path / "ledger.sqlite"
    scored = [_simulate_scored(tmp_path, ledger, i, hours) for i, hours in enumerate((1.0, 4.0, 8.5))]
    samples = [[{**r, "run": i} for r in _read(s / "samples.csv")] for i, s in enumerate(scored)]
    blood = [r for rows in samples for r in rows if r["role"] in ("sample", "control")]
    reportable = [r for r in blood if r["verdict"] in ("reportable", "reportable_with_warnings")]
    assert len(reportable) == len(blood) == 18  # 20,000 events: few_events warnings, reportable
    manual = tmp_path / "manual.csv"  # the lab reads 5 % above assaykit
    manual.write_text("file,monocytes,hladr_abc\n" + "".join(
        f"{r['file']},{r['monocytes']},{float(r['hladr_abc']) * 1.05:.1f}\n" for r in samples[0] if r["hladr_abc"]))
    result = CliRunner().invoke(app, ["compare", str(scored[0]), "--manual", str(manual)])
    assert result.exit_code == 0, result.output
    compared = tmp_path / "scored0-agreement"
    small = tmp_path / "small-design.yaml"  # three runs of two replicates: below the shipped least designs
    small.write_text("precision:\n  min_runs: 3\n  min_replicates_per_run: 2\nmethod_comparison:\n  min_samples: 3\n"
                     "stability:\n  min_donors: 1\n")
    before = _snapshot(tmp_path, tmp_path / "val")
    out = tmp_path / "val"
    result = CliRunner().invoke(app, ["validate", "--ledger", str(ledger), "--comparison", str(compared),
                                      "--out", str(out)])
    assert result.exit_code == 1 and "no criterion could be evaluated: repeatability_cv, within_laboratory_cv: " \
        "too few (3 of 5 runs, 2 of 5 replicates per run" in result.output, result.output
    result = CliRunner().invoke(app, ["validate", "--ledger", str(ledger), "--comparison", str(compared),
                                      "--criteria", str(small), "--out", str(out)])
    # the lab's 5 % is a proportional bias: Passing-Bablok's slope (exactly 1 / 1.05 here) fails, not silently passed
    assert result.exit_code == 1 and "failed: method_comparison_slope" in result.output, result.output
    slope = next(c for c in _read(out / "criteria.csv") if c["criterion"] == "method_comparison_slope")
    assert float(slope["value"]) == pytest.approx(1 / 1.05, rel=1e-4) and slope["result"] == "fail"
    assert {c["criterion"] for c in _read(out / "criteria.csv") if c["result"] == "fail"} <= {
        "method_comparison_slope", "method_comparison_intercept"}
    assert "validated 18 reportable tubes of 3 run(s)" in result.output
    assert _snapshot(tmp_path, out) == before  # the ledger, the runs and the comparison untouched
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"]["ledger"].endswith("ledger.sqlite") and manifest["left_out"] == {}
    uids = sorted(json.loads((s / "manifest.json").read_text())["run_id"] for s in scored)
    assert sorted(r["run_uid"] for r in manifest["inputs"]["runs"]) == uids
    assert {r["samples_sha256"] for r in manifest["inputs"]["runs"]} == {""}  # the ledger knows no output folder

    # a run named too is read once, from its output folder (its samples.csv hash then recorded)
    both = tmp_path / "both"
    result = CliRunner().invoke(app, ["validate", "--ledger", str(ledger), "--run", str(scored[1]), "--criteria",
                                      str(small), "--out", str(both)])
    assert result.exit_code == 0 and "validated 18 reportable tubes of 3 run(s)" in result.output, result.output
    sources = {r["run_uid"]: r for r in json.loads((both / "manifest.json").read_text())["inputs"]["runs"]}
    second = json.loads((scored[1] / "manifest.json").read_text())["run_id"]
    assert sources[second]["source"] == "folder" and sources[second]["run_key"] == str((tmp_path / "run1").resolve())
    assert sources[second]["samples_sha256"] == hashlib.sha256((scored[1] / "samples.csv").read_bytes()).hexdigest()
    # the compare folder beside a named run is found: the same pairs without --comparison
    found = tmp_path / "found"
    result = CliRunner().invoke(app, ["validate", *[a for s in scored for a in ("--run", str(s))], "--criteria",
                                      str(small), "--out", str(found)])
    assert result.exit_code == 1, result.output
    assert [c["path"] for c in json.loads((found / "manifest.json").read_text())["inputs"]["comparisons"]] == \
        [str(compared / "agreement.csv")]
    # the ledger's full-precision values read as samples.csv holds them: the same statistics both ways (review)
    for name in ("precision.csv", "summary.csv", "criteria.csv", "comparison_data.csv", "stability_data.csv"):
        assert (found / name).read_bytes() == (out / name).read_bytes(), name
    for name in ("precision.csv", "stability_data.csv", "reference_data.csv"):  # both: no comparison
        assert (both / name).read_bytes() == (out / name).read_bytes(), name

    # precision of the control blood: 3 runs x 2 replicates, one day: run / replicate, by one-way ANOVA here
    control = {(r["run"], r["replicate"]): float(r["hladr_abc"]) for r in reportable if r["role"] == "control"}
    values = np.array([[control[(i, rep)] for rep in ("r1", "r2")] for i in range(3)])
    ms_within = float(((values - values.mean(axis=1, keepdims=True)) ** 2).sum()) / 3
    ms_between = 2 * float(((values.mean(axis=1) - values.mean()) ** 2).sum()) / 2
    between = max((ms_between - ms_within) / 2, 0.0)
    row = next(r for r in _read(out / "precision.csv") if r["role"] == "control")
    assert row["design"] == "run/replicate" and row["n"] == "6" and row["n_runs"] == "3"
    assert float(row["mean_abc"]) == pytest.approx(values.mean(), rel=1e-6)
    assert float(row["repeatability_sd_abc"]) == pytest.approx(math.sqrt(ms_within), rel=1e-5)
    assert float(row["within_laboratory_sd_abc"]) == pytest.approx(math.sqrt(ms_within + between), rel=1e-5)
    cv = next(c for c in _read(out / "criteria.csv") if c["criterion"] == "repeatability_cv" and
              c["subject"].startswith("control"))
    assert float(cv["value"]) == pytest.approx(100 * math.sqrt(ms_within) / values.mean(), rel=1e-5)
    assert cv["result"] == "pass"  # acquisition noise alone: a few percent

    # method comparison: compare's agreement.csv pairs, the lab 5 % above: mean % difference -100 x 0.05 / 1.05;
    # a sample's replicate tubes averaged first (one pair per sample), the control blood a blood tube too
    pairs = _read(out / "comparison_data.csv")
    agreement = [r for r in _read(compared / "agreement.csv") if r["manual_abc"] and r["assaykit_abc"]]
    assert len(agreement) == 6 and {r["patient"] for r in agreement} >= {"CTRL-1"}, agreement
    by_sample: dict[tuple[str, ...], list[tuple[float, float]]] = {}
    for r in agreement:
        by_sample.setdefault((r["patient"], r["timepoint"], r["condition"]), []).append(
            (float(r["manual_abc"]), float(r["assaykit_abc"])))
    assert len(pairs) == len(by_sample) == 3 and {r["tubes"] for r in pairs} == {"2"}
    x = np.array([np.mean([a for a, _ in v]) for v in by_sample.values()])
    y = np.array([np.mean([b for _, b in v]) for v in by_sample.values()])
    summary = {r["statistic"]: r for r in _read(out / "summary.csv")}
    assert float(summary["mean_difference_pct"]["value"]) == pytest.approx(float(np.mean(100 * (y - x) / x)), rel=1e-5)
    assert float(summary["mean_difference_pct"]["value"]) == pytest.approx(-100 * 0.05 / 1.05, abs=0.01)

    # stability: the control blood at its three staining delays, its two replicate tubes at a delay averaged to one
    # point (not independent points), the least-squares slope of ln AB/C on hours here
    timed = [r for r in reportable if r["draw_to_stain_h"]]
    assert sorted(float(r["draw_to_stain_h"]) for r in _read(out / "stability_data.csv")) == \
        sorted(float(r["draw_to_stain_h"]) for r in timed) == [1.0, 1.0, 4.0, 4.0, 8.5, 8.5]
    h = np.array([1.0, 4.0, 8.5])
    means = [np.mean([float(r["hladr_abc"]) for r in timed if float(r["draw_to_stain_h"]) == t]) for t in h]
    slope = float(np.polyfit(h, np.log(means), 1)[0])
    assert float(summary["drift_pct_per_h"]["n"]) == 3  # three points, not six tubes
    assert float(summary["drift_pct_per_h"]["value"]) == pytest.approx(100 * math.expm1(slope), rel=1e-4)
    assert abs(float(summary["drift_at_4h_pct"]["value"])) < 5  # the same blood: acquisition noise alone

    # the healthy donors, each in one run only: in replicate, but no between-run precision to judge
    assert [c["subject"] for c in _read(out / "criteria.csv") if c["criterion"] == "repeatability_cv"] == \
        ["control CTRL-1 D3 unstimulated"]
    assert "6 material(s) measured in replicate in one run only" in (out / "validation.html").read_text()

    # a compare folder is checked as a --run folder is (review): an edited agreement.csv (verify: changed), an
    # agreement.csv outside the folder that wrote it, and a run scored again since compare: refused, one line
    first = _read(compared / "agreement.csv")[0]
    edited = tmp_path / "edited-agreement"
    shutil.copytree(compared, edited)
    text = (edited / "agreement.csv").read_text()
    assert text.count(f",{first['manual_abc']},") == 1
    (edited / "agreement.csv").write_text(text.replace(f",{first['manual_abc']},",
                                                       f",{2 * float(first['manual_abc']):.1f},"))
    line = _bad(tmp_path, ["--ledger", str(ledger), "--comparison", str(edited)], edited)
    assert "the comparison folder is not as compare wrote it: agreement.csv: changed since it was written" in line
    alone = tmp_path / "alone.csv"
    shutil.copyfile(compared / "agreement.csv", alone)
    assert "an agreement.csv is read in the `assaykit compare` folder that wrote it" in _bad(
        tmp_path, ["--ledger", str(ledger), "--comparison", str(alone)], alone)
    older = tmp_path / "older-agreement"  # a compare folder from before run_id was recorded, of another scoring
    shutil.copytree(compared, older)
    text = (older / "agreement.csv").read_text()
    assert text.count(f",{first['assaykit_abc']},") == 1
    (older / "agreement.csv").write_text(text.replace(f",{first['assaykit_abc']},",
                                                      f",{1.01 * float(first['assaykit_abc']):.1f},"))
    recorded = json.loads((older / "manifest.json").read_text())
    recorded = {k: v for k, v in recorded.items() if k not in ("run_id", "scored_dir")}
    listing = {k: v for k, v in file_listing(older).items() if k != "manifest.json"}
    (older / "manifest.json").write_text(json.dumps({**recorded, "files": listing}))
    line = _bad(tmp_path, ["--ledger", str(ledger), "--comparison", str(older)], older / "agreement.csv")
    assert f"assaykit_abc of 1 tube(s) ({first['file']}) differ from the scored run's current values" in line
    result = CliRunner().invoke(app, ["score", str(tmp_path / "run0"), "--out", str(scored[0]), "--ledger",
                                      str(ledger)])
    assert result.exit_code == 0, result.output
    line = _bad(tmp_path, ["--ledger", str(ledger), "--comparison", str(compared)], compared / "agreement.csv")
    assert "was scored again since this comparison" in line and "run compare again" in line


def test_lab_rows_left_out_are_counted_and_named_and_read_as_compare_reads(study: dict[str, Any],
                                                                          tmp_path: Path) -> None:
    """Review: rows with lab_abc 0 and -5 were dropped silently. Each row left out is named (not above
    0, no value, matching no tube), and numbers are read by compare --manual's rule: "31,000" is
    31000 (the file's "24999.5" tells the decimal point), NA is no value."""
    lab = tmp_path / "lab.csv"
    lab.write_text("patient,timepoint,condition,lab_abc\nH001,D0,unstimulated,0\nH002,D0,unstimulated,-5\n"
                   "H003,D0,unstimulated,NA\nH004,D0,unstimulated,\"31,000\"\nH005,D0,unstimulated,24999.5\n"
                   "NOPE,D0,unstimulated,20000\n")
    out = tmp_path / "v"
    args = [a for f in study["runs"] for a in ("--run", str(f))]
    result = CliRunner().invoke(app, ["validate", *args, "--comparison", str(lab), "--out", str(out)],
                                env={"ASSAYKIT_LEDGER": ""})
    assert result.exit_code == 0, result.output  # precision, reference, stability judged; comparison too few
    assert ("comparison: 4 row(s) left out: lab.csv row 2 (patient 'H001', timepoint 'D0', condition "
            "'unstimulated'): lab_abc '0' is not above 0; lab.csv row 3 (patient 'H002', timepoint 'D0', condition "
            "'unstimulated'): lab_abc '-5' is not above 0; lab.csv row 4 (patient 'H003', timepoint 'D0', condition "
            "'unstimulated'): lab_abc 'NA': no value; lab.csv row 7 (patient 'NOPE', timepoint 'D0', condition "
            "'unstimulated'): matches no reportable tube") in result.output, result.output
    pairs = {r["patient"]: r for r in _read(out / "comparison_data.csv")}
    assert sorted(pairs) == ["H004", "H005"]
    assert float(pairs["H004"]["reference_abc"]) == 31000 and float(pairs["H005"]["reference_abc"]) == 24999.5
    assert float(pairs["H004"]["assaykit_abc"]) == pytest.approx(study["donors"]["H004"], rel=1e-6)
    entry = json.loads((out / "manifest.json").read_text())["inputs"]["comparisons"][0]
    assert (entry["pairs"], entry["dropped"]) == (2, 4)
    assert "lab_abc &#39;-5&#39; is not above 0" in (out / "validation.html").read_text()
    comparison = [c for c in _read(out / "criteria.csv") if c["criterion"].startswith("method_comparison")]
    assert {(c["result"], c["detail"]) for c in comparison} == {("not_evaluated", "too few (2 of 40 samples, CLSI "
                                                                                   "EP09-A3)")}


def test_a_real_scored_run(tmp_path: Path) -> None:
    """A run simulated and scored by assaykit: its reportable tubes enter, the others are counted."""
    runner = CliRunner()
    run, scored = tmp_path / "run", tmp_path / "scored"
    assert runner.invoke(app, ["simulate", str(run), "--patients", "2", "--events", "4000",
                               "--conditions", "unstimulated,IFN-gamma"]).exit_code == 0
    result = runner.invoke(app, ["score", str(run), "--out", str(scored), "--ledger", "none"])
    assert result.exit_code in (0, 1), result.output
    rows = _read(scored / "samples.csv")
    blood = [r for r in rows if r["role"] in ("sample", "control")]
    reportable = [r for r in blood if r["verdict"] in ("reportable", "reportable_with_warnings") and r["hladr_abc"]]
    out = tmp_path / "val"
    result = validate(runs=[scored], out=out)
    assert len(result.validation.data.tubes) == len(reportable)
    assert sum(result.validation.data.left_out.values()) == len(blood) - len(reportable) > 0
    assert result.validation.data.left_out == {"withheld": len(blood) - len(reportable)}
    assert result.validation.counts["fail"] == 0  # nothing measured twice: nothing to judge
    assert os.path.isfile(out / "validation.pdf")


def _t(run: str, lot: str, replicate: str, role: str = "control", patient: str = "C1") -> Tube:
    return Tube(run_key=run, run_name=run, run_uid=run, acquired_on="2026-10-01", instrument="Canto V1", lot=lot,
                file=f"{run}-{replicate}.fcs", sha256="", role=role, patient=patient, timepoint="", condition="u",
                replicate=replicate, donor_group="", abc=1000.0, draw_to_stain_h=None)


def test_precision_studies_per_material_pooled_and_per_bead_lot() -> None:
    """A material in two runs or more is a study, pooled and, across bead lots, per lot;
    controls first; replicates of one run only are counted, not studied."""
    tubes = [_t("a", "kit L1", "1"), _t("a", "kit L1", "2"), _t("b", "kit L2", "1"), _t("b", "kit L2", "2"),
             _t("a", "kit L1", "1", "sample", "P1"), _t("c", "kit L1", "1", "sample", "P1"),
             _t("a", "kit L1", "1", "sample", "P2"), _t("a", "kit L1", "2", "sample", "P2")]
    groups = [(m[:2], scope, len(members)) for m, scope, members in precision_groups(tubes[::-1])]
    assert groups == [(("control", "C1"), "all", 4), (("control", "C1"), "Canto V1 / kit L1", 2),
                      (("control", "C1"), "Canto V1 / kit L2", 2), (("sample", "P1"), "all", 2)]
    assert single_run_materials(tubes) == 1  # P2: two tubes of run a


def test_json_lists_every_criterion(study: dict[str, Any], tmp_path: Path) -> None:
    args = [a if a != str(study["out"]) else str(tmp_path / "j") for a in study["args"]]
    result = CliRunner().invoke(app, [*args, "--json"], env={"ASSAYKIT_LEDGER": ""})
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["passed"] is True and doc["left_out"] == {"withheld": 2}
    assert [c["criterion"] for c in doc["criteria"]] == [r["criterion"] for r in _read(study["out"] / "criteria.csv")]


def test_only_reportable_values_in_ab_c_enter() -> None:
    """The verdict decides, then the value: an AB/C above 0, in AB/C (a run calibrated in MEFL is left out)."""
    base = {"run_key": "r", "role": "sample", "patient": "P", "hladr_abc": 12000.0, "verdict": "reportable",
            "unit": "AB/C", "acquired_on": "2026-10-01 00:00:00"}
    assert isinstance(tube_of(base), Tube) and tube_of(base).acquired_on == "2026-10-01"  # type: ignore[union-attr]
    assert isinstance(tube_of({**base, "verdict": "reportable_with_warnings", "unit": ""}), Tube)
    assert tube_of({**base, "verdict": "withheld"}) == "withheld"
    assert tube_of({**base, "verdict": ""}) == "no_verdict"
    assert tube_of({**base, "hladr_abc": None}) == "no_abc"
    assert tube_of({**base, "unit": "MEFL"}) == "not_abc_unit"
