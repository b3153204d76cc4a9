"""The ledger in `assaykit score` (issue 16): a run recorded once however often it is scored,
identical tables on a rerun, QC over time that holds a run (Westgard 2-2s across two runs), a
patient's days across runs on the page and in `ledger patient`, pre-analytical delays, control
blood, and a ledger that fails without costing the run its outputs."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from assaykit.cli import app
from assaykit.findings import FindingCode, finding, parse_findings
from assaykit.ledger import open_ledger


@pytest.fixture(autouse=True)
def _no_ledger_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSAYKIT_LEDGER", raising=False)


@pytest.fixture(scope="module")
def other_days(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Runs of the same two patients measured again (other seeds: other files, as on other days)."""
    from assaykit.simulate import RunSpec, write_run

    return {seed: write_run(tmp_path_factory.mktemp(f"seed{seed}"),
                            RunSpec(patients=2, conditions=("unstimulated", "IFN-gamma"), events=30000, seed=seed))
            for seed in (12, 13)}


def _copy(simulated_run: Path, where: Path, timepoint: str | None = None, extra_yaml: str = "") -> Path:
    run = Path(shutil.copytree(simulated_run, where))
    if timepoint is not None:
        plate = run / "plate_map.csv"
        plate.write_text(plate.read_text().replace(",D3,", f",{timepoint},"))
    if extra_yaml:
        with (run / "run.yaml").open("a") as handle:
            handle.write("\n" + extra_yaml)
    return run


def _score(run: Path, out: Path, *options: str) -> object:
    return CliRunner().invoke(app, ["score", str(run), "--out", str(out), "--jobs", "1", "--no-report", *options])


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_run_is_recorded_once_and_a_rerun_is_identical(simulated_run: Path, tmp_path: Path) -> None:
    run = _copy(simulated_run, tmp_path / "run")
    first = _score(run, tmp_path / "out" / "run")
    assert first.exit_code == 0, first.output
    ledger_file = tmp_path / "out" / "assaykit-ledger.sqlite"  # the default: beside the run's reports
    assert f"ledger: recorded in {ledger_file}" in first.output
    tables = {n: (tmp_path / "out" / "run" / n).read_bytes() for n in ("samples.csv", "trajectories.csv", "qc.csv")}
    again = _score(run, tmp_path / "out" / "run")
    assert again.exit_code == 0 and "(replacing this run's earlier recording)" in again.output
    assert {n: (tmp_path / "out" / "run" / n).read_bytes() for n in tables} == tables
    samples = _rows(tmp_path / "out" / "run" / "samples.csv")
    with open_ledger(ledger_file) as ledger:
        runs = ledger.runs()
        exported = ledger.export()
    assert len(runs) == 1 and runs[0]["run_name"] == "run" and runs[0]["n_tubes"] == len(samples)
    tubes = list(csv.DictReader(exported["tubes"].decode().splitlines()))
    assert sorted(t["sha256"] for t in tubes) == sorted(s["sha256"] for s in samples)
    by_file = {s["file"]: s for s in samples}
    for t in tubes:
        if t["hladr_abc"]:
            assert float(t["hladr_abc"]) == pytest.approx(float(by_file[t["file"]]["hladr_abc"]), rel=1e-6)
    slope = float(_rows(tmp_path / "out" / "run" / "calibration.csv")[0]["slope"])
    assert runs[0]["bead_slope"] == pytest.approx(slope, rel=1e-6)
    unrecorded = _score(run, tmp_path / "quiet" / "run", "--no-ledger")
    assert unrecorded.exit_code == 0 and "ledger:" not in unrecorded.output
    assert not (tmp_path / "quiet" / "assaykit-ledger.sqlite").exists()


def test_qc_over_time_holds_a_run(simulated_run: Path, other_days: dict[int, Path], tmp_path: Path) -> None:
    """Established targets put this lot's bead slope about 2.5 SD above two runs' (other files,
    other days): the first run is a 1-2s warning; the next breaks 2-2s and is rejected: the
    rows, the manifest, every page and the ledger say so, and score exits 1."""
    slopes = []
    for name, source in (("probe1", simulated_run), ("probe2", other_days[12])):
        probe = _score(_copy(source, tmp_path / name), tmp_path / f"{name}-out", "--no-ledger")
        assert probe.exit_code == 0
        slopes.append(float(_rows(tmp_path / f"{name}-out" / "calibration.csv")[0]["slope"]))
    sd = max(2 * abs(slopes[0] - slopes[1]), 0.001)  # both within 0.25 SD of -2.5 SD
    target = (slopes[0] + slopes[1]) / 2 + 2.5 * sd
    targets = tmp_path / "targets.yaml"
    targets.write_text(f"- {{series: bead slope, target: {target!r}, sd: {sd!r}}}\n")
    ledger = tmp_path / "lab.sqlite"
    first = _copy(simulated_run, tmp_path / "monday", extra_yaml=f"qc_targets: {targets}\n")
    result = _score(first, tmp_path / "out" / "monday", "--ledger", str(ledger))
    assert result.exit_code == 0 and "QC: warning, rule 1-2s on bead slope" in result.output
    second = _copy(other_days[12], tmp_path / "tuesday", extra_yaml=f"qc_targets: {targets}\n")
    out = tmp_path / "out" / "tuesday"
    result = CliRunner().invoke(app, ["score", str(second), "--out", str(out), "--jobs", "1", "--ledger", str(ledger)])
    assert result.exit_code == 1, result.output
    assert "QC: rejected, rule 2-2s on bead slope (the run is held: every page says so)" in result.output
    flag = "QC: rejected, rule 2-2s on bead slope"
    rejected = finding(FindingCode.QC_REJECTED, flag)
    assert rejected.severity == "error"
    assert all(rejected in parse_findings(row["qc_flags"]) for row in _rows(out / "samples.csv"))
    assert all(rejected in parse_findings(row["qc_flags"]) for row in _rows(out / "restoration.csv"))
    assert not any(f.code == FindingCode.REUSED_FILE for row in _rows(out / "samples.csv")
                   for f in parse_findings(row["qc_flags"]))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["qc_over_time"]["status"] == "rejected"
    pages = [out / "index.html", *sorted((out / "patients").glob("*.html"))]
    assert len(pages) == 3 and all(flag in p.read_text() for p in pages)
    qc = {r["series"]: r for r in _rows(out / "qc.csv")}
    assert qc["bead slope"]["rules"] == "2-2s 1-2s"
    assert float(qc["bead slope"]["z"]) == pytest.approx((slopes[1] - target) / sd, abs=0.01)  # slopes as written
    runs = CliRunner().invoke(app, ["ledger", "runs", "--ledger", str(ledger), "--json"])
    assert [(r["run_name"], r["qc_status"]) for r in json.loads(runs.output)] == [("monday", "warning"),
                                                                                ("tuesday", "rejected")]
    page = CliRunner().invoke(app, ["ledger", "qc", "--ledger", str(ledger), "--out", str(tmp_path / "qc"), "--json"])
    assert page.exit_code == 0, page.output
    series = {s["series"]: s for s in json.loads(page.output)}
    assert [p["status"] for p in series["bead slope"]["points"]] == ["warning", "rejected"]
    assert (tmp_path / "qc" / "qc.html").read_text().count("data:image/png;base64,") == len(series)


def test_a_patient_over_days(simulated_run: Path, other_days: dict[int, Path], tmp_path: Path) -> None:
    """Three runs of the same patients at D1, D4 and day 6 (three sets of files): each run's
    trajectories.csv holds the earlier ones; `ledger patient` and the page give the same values
    as the runs' own tables; the slope is numpy's least squares."""
    ledger = tmp_path / "lab.sqlite"
    outs = []
    for name, label, source in (("d1", "D1", simulated_run), ("d4", "D4", other_days[12]),
                                ("d6", "day 6", other_days[13])):
        run = _copy(source, tmp_path / name, timepoint=label)
        outs.append(tmp_path / "out" / name)
        result = CliRunner().invoke(app, ["score", str(run), "--out", str(outs[-1]), "--jobs", "1", "--ledger",
                                          str(ledger)])
        assert result.exit_code == 0, result.output
    control = {Path(o).name: {r["patient"]: float(r["control_abc"]) for r in _rows(o / "patients.csv")} for o in outs}
    course = [r for r in _rows(outs[-1] / "trajectories.csv") if r["patient"] == "P01"
              and r["condition"] == "unstimulated"]
    assert [(float(r["day"]), r["run"]) for r in course] == [(1.0, "d1"), (4.0, "d4"), (6.0, "d6")]
    assert [float(r["abc"]) for r in course] == pytest.approx([control[r["run"]]["P01"] for r in course], rel=1e-6)
    patient = CliRunner().invoke(app, ["ledger", "patient", "P01", "--ledger", str(ledger), "--json"])
    doc = json.loads(patient.output)
    measured = [(m["day"], m["abc"]) for m in doc["measures"] if m["condition"] == "unstimulated"]
    assert [d for d, _ in measured] == [1.0, 4.0, 6.0]
    assert all(m["verdict"].startswith("reportable") and m["withheld_codes"] == [] for m in doc["measures"])
    days, abc = np.array([d for d, _ in measured]), np.array([a for _, a in measured])
    assert doc["trajectory"]["slope_per_day"] == pytest.approx(np.polyfit(days, abc, 1)[0], rel=1e-9)
    assert doc["trajectory"]["withheld_days"] == []
    drugs = [m for m in doc["measures"] if m["condition"] == "IFN-gamma"]
    assert len(drugs) == 3 and all(m["fold_change"] > 0 for m in drugs)
    result = CliRunner().invoke(app, ["report", str(outs[-1])])
    assert result.exit_code == 0, result.output
    page = (outs[-1] / "patients" / "P01.html").read_text()
    assert "Over time" in page and "d1, d4, d6" in page and "slope " in page
    missing = CliRunner().invoke(app, ["ledger", "patient", "P99", "--ledger", str(ledger)])
    assert missing.exit_code == 2 and "no patient 'P99' in the ledger" in missing.output


def test_a_reused_file_is_withheld_not_a_new_day(simulated_run: Path, other_days: dict[int, Path],
                                                   tmp_path: Path) -> None:
    """Day 4's folder holds day 1's files again (the same SHA-256): every tube is withheld
    (``reused_file``, an error naming day 1's run), no AB/C enters trajectories.csv, the ledger or
    QC over time; the trajectory is not classified over the withheld day; `ledger patient` and
    `ledger runs` say so."""
    ledger = tmp_path / "lab.sqlite"
    for name, label, source in (("d1", "D1", simulated_run), ("d4", "D4", simulated_run),
                                ("d6", "day 6", other_days[13])):
        run = _copy(source, tmp_path / name, timepoint=label)
        result = _score(run, tmp_path / "out" / name, "--ledger", str(ledger))
        assert result.exit_code == (1 if name == "d4" else 0), result.output
        if name == "d4":
            reused = result.output
    out = tmp_path / "out" / "d4"
    samples = _rows(out / "samples.csv")
    blood = [r for r in samples if r["role"] != "beads"]
    again = finding(FindingCode.REUSED_FILE, "the same file (SHA-256) is already in the ledger under run 'd1': "
                                             "withheld, not a new measure (not in trajectories nor QC over time)")
    assert again.severity == "error"
    assert all(again in parse_findings(r["qc_flags"]) for r in samples)
    assert [(r["verdict"], r["verdict_reasons"], r["hladr_abc"]) for r in blood] == \
        [("withheld", "reused_file", "")] * 4
    assert all(r["hladr_mfi"] for r in blood)  # the MFI stays visible
    assert "0 of 4 values reportable; 4 withheld: reused_file (4)" in reused
    assert "  reused_file (same file as a tube of an earlier run): 4 values" in reused
    assert ("  withheld: Specimen_001_A1_A01.fcs (P01 D4 unstimulated): reused_file (same file as a tube of an "
            "earlier run)") in reused
    # QC over time: the re-used bead tube adds no point, the series rest on d1 and d6
    assert _rows(out / "qc.csv") == []
    assert "QC over time: not evaluated (re-used files not in QC over time: Specimen_001_H12_H12.fcs)" in reused
    with open_ledger(ledger) as opened:
        runs = {r["run_name"]: r for r in opened.runs()}
        assert [runs[n]["n_withheld"] for n in ("d1", "d4", "d6")] == [0, 4, 0]
        d4 = opened.patient_rows(["P01"])["patients"]
        assert [(p["run_name"], p["control_abc"] is None) for p in d4] == [("d1", False), ("d4", True), ("d6", False)]
        history = opened.qc_history("/elsewhere", runs["d1"]["instrument"], runs["d1"]["instrument_serial"],
                                    runs["d1"]["kit"], runs["d1"]["lot"])
    d1_slope = float(_rows(tmp_path / "out" / "d1" / "calibration.csv")[0]["slope"])
    d6_slope = float(_rows(tmp_path / "out" / "d6" / "calibration.csv")[0]["slope"])
    assert history["bead slope"] == pytest.approx([d1_slope, d6_slope], rel=1e-5)  # two points: d4 adds none
    course = [r for r in _rows(tmp_path / "out" / "d6" / "trajectories.csv") if r["patient"] == "P01"
              and r["condition"] == "unstimulated"]
    assert [(float(r["day"]), r["run"], r["abc"] != "") for r in course] == [(1.0, "d1", True), (4.0, "d4", False),
                                                                             (6.0, "d6", True)]
    doc = json.loads(CliRunner().invoke(app, ["ledger", "patient", "P01", "--ledger", str(ledger), "--json"]).output)
    assert doc["trajectory"]["trajectory"] == "not classifiable"
    assert doc["trajectory"]["withheld_days"] == [4.0]
    assert "trajectory: not classifiable: day 4 withheld (needed for an improvement by day 4)" \
        in doc["trajectory"]["findings"]
    marks = {(m["run"], m["condition"]): (m["verdict"], m["withheld_codes"]) for m in doc["measures"]}
    assert marks[("d4", "unstimulated")] == ("withheld", ["reused_file"])
    assert marks[("d4", "IFN-gamma")] == ("withheld", ["reused_file"])
    assert marks[("d1", "unstimulated")][1] == [] and marks[("d1", "unstimulated")][0].startswith("reportable")
    text = CliRunner().invoke(app, ["ledger", "patient", "P01", "--ledger", str(ledger)]).output
    line = next(x for x in text.splitlines() if " d4" in x and "unstimulated" in x)
    assert line.rstrip().endswith("d4  [withheld (reused_file)]")
    table = CliRunner().invoke(app, ["ledger", "runs", "--ledger", str(ledger)]).output.splitlines()
    assert "withheld  calibration" in table[0]
    assert table[2].split()[:1] == ["d4"] and "       4  reportable" in table[2]


def test_a_released_calibration_stays_out_of_qc_over_time(simulated_run: Path, other_days: dict[int, Path],
                                                          tmp_path: Path) -> None:
    """A run whose withheld calibration a person released: its AB/C are reported (marked), but
    neither its bead series nor its control blood enter QC over time: its qc.csv has none, the
    next run's history has only reportable runs, `ledger runs` and `ledger patient` say
    released with the reason."""
    ledger = tmp_path / "lab.sqlite"
    first = _score(_copy(simulated_run, tmp_path / "good"), tmp_path / "out" / "good", "--ledger", str(ledger))
    assert first.exit_code == 0, first.output
    released = _copy(other_days[12], tmp_path / "released")
    plate = released / "plate_map.csv"
    text = plate.read_text().replace("A3,Specimen_001_A3_A03.fcs,P02,D3,unstimulated,sample",
                                     "A3,Specimen_001_A3_A03.fcs,CTRL-A,,,control")
    plate.write_text(text.replace("A4,Specimen_001_A4_A04.fcs,P02,D3,IFN-gamma,sample",
                                  "A4,Specimen_001_A4_A04.fcs,CTRL-B,,,control"))
    reason = "JD 2026-12-05: lot sheet checked"
    result = _score(released, tmp_path / "out" / "released", "--ledger", str(ledger),
                    "--bead-values", "474,53590,23843,62336", "--accept-calibration", reason)
    assert "calibration released by a person" in result.output, result.output
    samples = {r["file"]: r for r in _rows(tmp_path / "out" / "released" / "samples.csv")}
    assert samples["Specimen_001_A3_A03.fcs"]["role"] == "control" and samples["Specimen_001_A3_A03.fcs"]["hladr_abc"]
    assert _rows(tmp_path / "out" / "released" / "qc.csv") == []  # no bead series, no control AB/C
    manifest = json.loads((tmp_path / "out" / "released" / "manifest.json").read_text())
    assert manifest["qc_over_time"]["reason"] == ("calibration released: not in QC over time (bead and control "
                                                  "series left out)")
    assert "QC over time: not evaluated (calibration released: not in QC over time" in result.output
    with open_ledger(ledger) as opened:
        runs = {r["run_name"]: r for r in opened.runs()}
        assert (runs["released"]["calibration_status"], runs["released"]["calibration_released"]) == ("released",
                                                                                                      reason)
        history = opened.qc_history("/elsewhere", runs["good"]["instrument"], runs["good"]["instrument_serial"],
                                    runs["good"]["kit"], runs["good"]["lot"])
    good_slope = float(_rows(tmp_path / "out" / "good" / "calibration.csv")[0]["slope"])
    assert history["bead slope"] == pytest.approx([good_slope], rel=1e-5)
    assert not any(s.startswith("control AB/C") for s in history)
    table = CliRunner().invoke(app, ["ledger", "runs", "--ledger", str(ledger)]).output
    assert "released" in table and f"calibration released: {reason}" in table
    text = CliRunner().invoke(app, ["ledger", "patient", "P01", "--ledger", str(ledger)]).output
    line = next(x for x in text.splitlines() if " released" in x and "unstimulated" in x)
    assert line.rstrip().endswith(f"[released: {reason}]")


def test_pre_analytics_days_and_control_blood(simulated_run: Path, tmp_path: Path) -> None:
    run = _copy(simulated_run, tmp_path / "run")
    plate = run / "plate_map.csv"
    text = plate.read_text().replace("A3,Specimen_001_A3_A03.fcs,P02,D3,unstimulated,sample",
                                     "A3,Specimen_001_A3_A03.fcs,CTRL-A,,,control")
    plate.write_text(text.replace("A4,Specimen_001_A4_A04.fcs,P02,D3,IFN-gamma,sample",
                                  "A4,Specimen_001_A4_A04.fcs,CTRL-B,,,control"))
    (run / "clinical.csv").write_text("patient,timepoint,admitted_at,drawn_at,stained_at\n"
                                      "P01,,2026-11-17 06:00,,\n"
                                      "P01,D3,,2026-11-20 18:00,2026-11-20 23:30\n")
    result = _score(run, tmp_path / "out", "--clinical", str(run / "clinical.csv"))
    assert result.exit_code == 0, result.output
    rows = {r["file"]: r for r in _rows(tmp_path / "out" / "samples.csv")}
    p01 = rows["Specimen_001_A1_A01.fcs"]
    assert float(p01["day"]) == pytest.approx(3.5) and float(p01["draw_to_stain_h"]) == pytest.approx(5.5)
    assert finding(FindingCode.LATE_STAINING, "pre-analytics: stained 5.5 h after the draw (limit 4 h)") \
        in parse_findings(p01["qc_flags"])
    assert rows["Specimen_001_A3_A03.fcs"]["role"] == "control" and rows["Specimen_001_A3_A03.fcs"]["hladr_abc"]
    qc = {r["series"]: r for r in _rows(tmp_path / "out" / "qc.csv")}
    assert float(qc["control AB/C (CTRL-A)"]["value"]) == pytest.approx(float(rows["Specimen_001_A3_A03.fcs"]
                                                                              ["hladr_abc"]), rel=1e-6)
    assert {r["patient"] for r in _rows(tmp_path / "out" / "patients.csv")} == {"P01"}


def test_a_failing_ledger_costs_the_run_nothing(simulated_run: Path, tmp_path: Path) -> None:
    run = _copy(simulated_run, tmp_path / "run")
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"not a database\n" * 100)
    result = _score(run, tmp_path / "out", "--ledger", str(corrupt))
    assert result.exit_code == 1
    assert "ledger: " in result.output and "not a SQLite database" in result.output
    assert (tmp_path / "out" / "samples.csv").is_file() and corrupt.read_bytes() == b"not a database\n" * 100
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["ledger"]["error"]
    plate = run / "plate_map.csv"
    plate.write_text(plate.read_text().replace(",D3,", ",baseline,"))
    result = _score(run, tmp_path / "out2", "--ledger", str(tmp_path / "good.sqlite"))
    assert result.exit_code == 1 and (tmp_path / "out2" / "samples.csv").is_file()
    assert "not recorded: plate map row 2: time point 'baseline' cannot be read as a day" in result.output
    with open_ledger(tmp_path / "good.sqlite") as ledger:
        assert ledger.runs() == []
    pytest.importorskip("psycopg")
    result = _score(_copy(simulated_run, tmp_path / "run3"), tmp_path / "out3", "--ledger",
                    "postgresql://lab:secret@127.0.0.1:1/ledger")
    assert result.exit_code == 1 and "cannot use the ledger server" in result.output and "secret" not in result.output
    assert (tmp_path / "out3" / "samples.csv").is_file()


def test_where_the_ledger_is(simulated_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """run.yaml ``ledger:`` (relative to the run folder) over ASSAYKIT_LEDGER over the default; the
    library records only when asked; `ledger export` writes every table as one folder."""
    from assaykit.scoring import score_run

    monkeypatch.setenv("ASSAYKIT_LEDGER", str(tmp_path / "env.sqlite"))
    run = _copy(simulated_run, tmp_path / "run")
    assert score_run(run, out=tmp_path / "lib", jobs=1).recorded is None  # the library: only when asked
    assert not (tmp_path / "env.sqlite").exists()
    assert _score(run, tmp_path / "cli").exit_code == 0 and (tmp_path / "env.sqlite").is_file()
    yaml_run = _copy(simulated_run, tmp_path / "yaml-run", extra_yaml="ledger: ../from-yaml.sqlite\n")
    result = _score(yaml_run, tmp_path / "cli2")
    assert result.exit_code == 0 and f"recorded in {tmp_path / 'from-yaml.sqlite'}" in result.output
    exported = CliRunner().invoke(app, ["ledger", "export", "--ledger", str(tmp_path / "env.sqlite"), "--out",
                                        str(tmp_path / "export")])
    assert exported.exit_code == 0, exported.output
    names = sorted(p.name for p in (tmp_path / "export").iterdir())
    assert names == ["bead_peaks.csv", "manifest.json", "patients.csv", "qc_checks.csv", "restoration.csv",
                     "runs.csv", "tubes.csv"]
    tubes = _rows(tmp_path / "export" / "tubes.csv")
    assert sorted(t["file"] for t in tubes) == sorted(r["file"] for r in _rows(tmp_path / "cli" / "samples.csv"))
    again = CliRunner().invoke(app, ["ledger", "export", "--ledger", str(tmp_path / "env.sqlite"), "--out",
                                     str(tmp_path / "export")])
    assert again.exit_code == 0  # replaced as one unit
    missing = CliRunner().invoke(app, ["ledger", "runs", "--ledger", str(tmp_path / "none.sqlite")])
    assert missing.exit_code == 2 and "no ledger here" in missing.output


def test_two_score_processes_share_one_ledger(simulated_run: Path, tmp_path: Path) -> None:
    """Two `assaykit score` processes started together on one SQLite ledger: both runs land, each
    once, and the database's integrity check is clean."""
    import os
    import subprocess
    import sys

    ledger = tmp_path / "shared.sqlite"
    runs = [_copy(simulated_run, tmp_path / name) for name in ("left", "right")]
    env = {k: v for k, v in os.environ.items() if k != "ASSAYKIT_LEDGER"}
    command = [sys.executable, "-c", "from assaykit.cli import main; main()", "score"]
    processes = [subprocess.Popen([*command, str(run), "--out", str(tmp_path / "out" / run.name), "--jobs", "1",
                                   "--no-report", "--ledger", str(ledger)], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for run in runs]
    outputs = [p.communicate(timeout=300)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    with open_ledger(ledger) as opened:
        assert sorted(r["run_name"] for r in opened.runs()) == ["left", "right"]
        assert opened.integrity() == []


def test_the_console_counts_values_and_names_the_bead_tube(simulated_run: Path, tmp_path: Path) -> None:
    """A fully withheld run (a typo in the bead values): "measured", not "scored"; the verdict
    line counts the 4 blood tubes and the per-tube lines count the same 4; the bead tube is on
    its own line, without an empty "( )"; each code comes with its phrase."""
    result = _score(_copy(simulated_run, tmp_path / "run"), tmp_path / "out", "--no-ledger",
                    "--bead-values", "474,53590,23843,62336")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "measured 5 of 5 files; results in" in result.output and "scored 5 of 5" not in result.output
    assert "0 of 4 values reportable; 4 withheld: calibration_withheld (4)" in lines
    assert "  calibration_withheld (bead calibration withheld): 4 values" in lines
    bead = [x for x in lines if x.startswith("  bead tube ")]
    assert bead == ["  bead tube Specimen_001_H12_H12.fcs: calibration withheld: low_r_squared (bead fit r2 below its "
                    "limit), slope_out_of_range (bead slope outside the lot's range), "
                    "residual_too_high (a bead peak off the fit)"]
    tubes = [x for x in lines if x.startswith("  withheld: ")]
    assert len(tubes) == 4 and "( )" not in result.output and "()" not in result.output
    assert tubes[0] == ("  withheld: Specimen_001_A1_A01.fcs (P01 D3 unstimulated): calibration_withheld (bead "
                        "calibration withheld)")
