"""Replicates (issue 31): the plate map's ``replicate`` column, each value the mean of its
reportable replicates with their CV, the ``replicate_cv`` warning over run.yaml's limit on the
tubes, the restoration row and the pages, and the simulator's replicate and healthy-donor runs.
Means and CVs are checked against values computed here, independently, from samples.csv
(numpy), and against the simulator's truth."""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assaykit.errors import AssayKitError, PlateMapError
from assaykit.findings import FindingCode, finding
from assaykit.scoring.platemap import read_plate_map
from assaykit.scoring.rows import SampleRow
from assaykit.scoring.verdicts import replicate_cv_pct, replicate_value

from ..conftest import score_and_report

HEADER = "well,patient,timepoint,condition,role"


def _map(tmp_path: Path, header: str, rows: list[str]) -> Path:
    path = tmp_path / "plate_map.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


# --- the plate map --------------------------------------------------------------------------------


def test_replicates_are_read_with_their_labels_and_donor_groups(tmp_path: Path) -> None:
    plate = read_plate_map(_map(tmp_path, HEADER + ",replicate,donor_group", [
        "A1,P01,D1,unstimulated,sample,r1,septic", "A2,P01,D1,unstimulated,sample,r2,septic",
        "A3,P01,D1,IFN-gamma,sample,,septic", "A4,HD01,D1,unstimulated,sample,a,healthy", "H12,,,,beads,,"]))
    assert [(r.row, r.replicate, r.donor_group) for r in plate.rows] == [
        (2, "r1", "septic"), (3, "r2", "septic"), (4, "", "septic"), (5, "a", "healthy"), (6, "", "")]
    assert plate.extra_columns == ()  # read by assaykit, not carried as the map's own columns


def test_the_same_label_twice_and_unlabelled_rows_of_a_group_are_errors_naming_the_rows(tmp_path: Path) -> None:
    with pytest.raises(PlateMapError) as caught:
        read_plate_map(_map(tmp_path, HEADER + ",replicate", [
            "A1,P01,D1,unstimulated,sample,r1", "A2,P01,D1,unstimulated,sample,r1",
            "A3,P01,D1,IFN-gamma,sample,r1", "A4,P01,D1,IFN-gamma,sample,", "H12,,,,beads,"]))
    message = str(caught.value)
    assert "plate_map.csv" in message
    assert "rows 2 and 3: sample P01 at D1, unstimulated has replicate 'r1' twice" in message
    assert "rows 4, 5: sample P01 at D1, IFN-gamma is on several rows but row 5 names no replicate" in message


def test_without_the_column_a_repeated_condition_stays_an_error(tmp_path: Path, simulated_run: Path) -> None:
    """No replicate column: a condition twice is refused as before (match_files), whatever the cells say."""
    from assaykit.scoring.platemap import match_files

    plate = read_plate_map(_map(tmp_path, HEADER, [
        "A1,P01,D1,unstimulated,sample", "A2,P01,D1,IFN-gamma,sample", "A3,P01,D1,IFN-gamma,sample",
        "H12,,,,beads"]))
    files = [tmp_path / name for name in ("x_A1.fcs", "x_A2.fcs", "x_A3.fcs", "x_H12.fcs")]
    with pytest.raises(PlateMapError, match=r"rows 3, 4: patient P01 at D1 has 'IFN-gamma' more than once"):
        match_files(plate, files, {})


def test_replicate_labels_make_a_repeated_condition_and_control_valid(tmp_path: Path) -> None:
    from assaykit.scoring.platemap import match_files

    plate = read_plate_map(_map(tmp_path, HEADER + ",replicate", [
        "A1,P01,D1,unstimulated,sample,1", "A2,P01,D1,unstimulated,sample,2", "A3,P01,D1,IFN-gamma,sample,1",
        "A4,P01,D1,IFN-gamma,sample,2", "H12,,,,beads,"]))
    files = [tmp_path / name for name in ("x_A1.fcs", "x_A2.fcs", "x_A3.fcs", "x_A4.fcs", "x_H12.fcs")]
    assert len(match_files(plate, files, {})) == 5


# --- mean, CV and verdict of one group ---------------------------------------------------------------


def _tube(file: str, abc: float | None, verdict: str, reasons: tuple[FindingCode, ...] = (),
          replicate: str = "r1") -> SampleRow:
    return SampleRow(file=file, well="A1", patient="P01", timepoint="D1", condition="unstimulated",
                     replicate=replicate, role="sample", matched_by="keyword", hladr_abc=abc,
                     verdict=verdict, verdict_reasons=reasons)  # type: ignore[arg-type]


def test_cv_is_the_sample_sd_over_the_mean() -> None:
    values = [4210.0, 4630.0, 3980.0]
    expected = 100 * np.std(values, ddof=1) / np.mean(values)  # 7.8 %: numpy, independently
    assert replicate_cv_pct(values) == pytest.approx(expected, rel=1e-12)
    assert replicate_cv_pct([1000.0, 3000.0]) == pytest.approx(100 * math.sqrt(2) * 1000 / 2000)  # 70.71 %
    assert replicate_cv_pct([5000.0]) is None and replicate_cv_pct([]) is None


def test_a_withheld_replicate_is_left_out_of_the_mean_and_named() -> None:
    value = replicate_value([_tube("a.fcs", 4000.0, "reportable"),
                             _tube("b.fcs", None, "withheld", (FindingCode.TOO_FEW_EVENTS,), "r2"),
                             _tube("c.fcs", 5000.0, "reportable_with_warnings", (FindingCode.FEW_EVENTS,), "r3")])
    assert value.value == pytest.approx(4500.0) and value.n_used == 2 and value.n_tubes == 3
    assert value.cv_pct == pytest.approx(100 * np.std([4000, 5000], ddof=1) / 4500)
    assert value.status == "reportable_with_warnings"
    assert value.codes == (FindingCode.FEW_EVENTS, FindingCode.REPLICATE_WITHHELD)
    assert [f.code for f in value.findings] == [FindingCode.REPLICATE_WITHHELD]
    assert value.findings[0].message.startswith("1 of 3 replicates withheld (r2 b.fcs: too_few_events)")


def test_all_replicates_withheld_withholds_the_value() -> None:
    value = replicate_value([_tube("a.fcs", None, "withheld", (FindingCode.TOO_FEW_EVENTS,)),
                             _tube("b.fcs", None, "withheld", (FindingCode.NO_CALIBRATION,), "r2")])
    assert (value.value, value.n_used, value.status) == (None, 0, "withheld")
    assert value.codes == (FindingCode.TOO_FEW_EVENTS, FindingCode.NO_CALIBRATION)


def test_judge_tubes_warns_every_tube_of_a_group_over_the_limit_and_judges_again_the_same() -> None:
    from assaykit.scoring.verdicts import CalibrationVerdict, judge_tubes

    rows = [_tube("a.fcs", 4000.0, ""), _tube("b.fcs", 5000.0, "", replicate="r2"),
            SampleRow(file="c.fcs", well="A3", patient="P01", timepoint="D1", condition="IFN-gamma", role="sample",
                      matched_by="keyword", hladr_abc=9000.0)]
    calibration = CalibrationVerdict("reportable")
    cv = 100 * np.std([4000, 5000], ddof=1) / 4500  # 15.7 %
    judged = judge_tubes(rows, calibration, replicate_cv_limit_pct=15.0)
    assert [r.verdict for r in judged] == ["reportable_with_warnings", "reportable_with_warnings", "reportable"]
    assert [r.verdict_reasons for r in judged[:2]] == [(FindingCode.REPLICATE_CV,)] * 2
    assert f"CV {cv:.2f} %, above the limit 15 %" in judged[0].qc_flags[0].message
    assert judge_tubes(judged, calibration, replicate_cv_limit_pct=15.0) == judged  # idempotent
    relaxed = judge_tubes(judged, calibration, replicate_cv_limit_pct=16.0)  # judged anew: the warning goes
    assert [r.verdict for r in relaxed] == ["reportable"] * 3 and all(not r.qc_flags for r in relaxed)
    # a withheld replicate is no part of the CV: the other alone has none
    held = judge_tubes([rows[0].__class__(**{**rows[0].__dict__, "qc_flags": (finding(
        FindingCode.TOO_FEW_EVENTS, "12 events"),)}), rows[1]], calibration, replicate_cv_limit_pct=1.0)
    assert [r.verdict for r in held] == ["withheld", "reportable"]


def test_replicates_on_both_sides_of_a_threshold_are_withheld_and_a_hard_cv_limit_withholds() -> None:
    """P01's review case: 5,834 and 27,299 AB/C (CV 91.6 %, mean 16,566 "normal") straddle the
    immunosuppressed (8,000) and normal (15,000) thresholds: withheld, both named; 9,000 and
    14,000 (one class, CV 30 %) stay reportable with the replicate_cv warning, withheld only
    under a hard limit below their CV."""
    from assaykit.scoring.restoration import Thresholds
    from assaykit.scoring.verdicts import CalibrationVerdict, judge_tubes, replicate_value, thresholds_crossed

    cuts = Thresholds().decision_abc()
    assert cuts == {"immunoparalysis_abc": 5000.0, "immunosuppressed_abc": 8000.0, "normal_abc": 15000.0}
    assert thresholds_crossed([5834.0, 27299.0], cuts) == ("immunosuppressed_abc", "normal_abc")
    assert thresholds_crossed([4999.0, 5000.0], cuts) == ("immunoparalysis_abc",)  # 5,000 is not below 5,000
    assert thresholds_crossed([9000.0, 14000.0], cuts) == ()
    calibration = CalibrationVerdict("reportable")
    apart = [_tube("a.fcs", 5834.0, ""), _tube("b.fcs", 27299.0, "", replicate="r2")]
    judged = judge_tubes(apart, calibration, decision_abc=cuts)
    assert [(r.verdict, r.verdict_reasons, r.hladr_abc) for r in judged] == [
        ("withheld", (FindingCode.REPLICATES_DISAGREE,), None)] * 2
    message = judged[0].qc_flags[0].message
    assert "(r1 a.fcs: 5,834, r2 b.fcs: 27,299)" in message
    assert "immunosuppressed_abc 8,000, normal_abc 15,000 AB/C" in message
    assert judge_tubes(judged, calibration, decision_abc=cuts) == judged  # idempotent: stays withheld
    value = replicate_value(judged)
    assert (value.value, value.status, value.codes) == (None, "withheld", (FindingCode.REPLICATES_DISAGREE,))
    assert [r.verdict for r in judge_tubes(apart, calibration)] == ["reportable_with_warnings"] * 2  # no cuts given
    close = [_tube("a.fcs", 9000.0, ""), _tube("b.fcs", 14000.0, "", replicate="r2")]
    cv = 100 * np.std([9000, 14000], ddof=1) / 11500  # 30.7 %
    warned = judge_tubes(close, calibration, decision_abc=cuts)
    assert [(r.verdict, r.verdict_reasons) for r in warned] == [("reportable_with_warnings",
                                                                 (FindingCode.REPLICATE_CV,))] * 2
    assert judge_tubes(close, calibration, decision_abc=cuts, replicate_cv_withhold_pct=cv + 0.01) == warned
    held = judge_tubes(close, calibration, decision_abc=cuts, replicate_cv_withhold_pct=cv - 0.01)
    assert [(r.verdict, r.verdict_reasons) for r in held] == [("withheld", (FindingCode.REPLICATE_CV_WITHHELD,))] * 2
    assert f"CV {cv:.2f} %, above the hard limit {cv - 0.01:g} % (replicate_cv_withhold_pct)" in \
        held[0].qc_flags[0].message


def test_the_hard_limit_is_read_from_run_yaml_and_checked(tmp_path: Path) -> None:
    from assaykit.scoring.options import RunOptions, load_run_yaml

    (tmp_path / "run.yaml").write_text("replicate_cv_withhold_pct: 35\n")
    assert load_run_yaml(tmp_path) == {"replicate_cv_withhold_pct": 35.0}
    assert RunOptions().replicate_cv_withhold_pct is None  # no hard limit unless the lab sets one
    (tmp_path / "run.yaml").write_text("replicate_cv_withhold_pct: 0\n")
    with pytest.raises(AssayKitError, match=r"replicate_cv_withhold_pct.*expected a % above 0"):
        load_run_yaml(tmp_path)


def test_the_limit_is_read_from_run_yaml_and_checked(tmp_path: Path) -> None:
    from assaykit.scoring.options import RunOptions, load_run_yaml

    (tmp_path / "run.yaml").write_text("replicate_cv_limit_pct: 7.5\n")
    assert load_run_yaml(tmp_path) == {"replicate_cv_limit_pct": 7.5}
    assert RunOptions().replicate_cv_limit_pct == 20.0  # Quadrini 2021
    for bad, why in (("0", "expected a % above 0"), ("-3", "expected a number"), ("'x'", "expected a finite number"),
                     ("2000", "expected a number")):
        (tmp_path / "run.yaml").write_text(f"replicate_cv_limit_pct: {bad}\n")
        with pytest.raises(AssayKitError, match=why) as caught:
            load_run_yaml(tmp_path)
        assert "run.yaml" in str(caught.value) and "replicate_cv_limit_pct" in str(caught.value)


# --- a run with replicates, end to end ---------------------------------------------------------------


@pytest.fixture(scope="module")
def replicate_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1 patient x 2 conditions + 2 healthy donors, 2 replicates each (8 blood tubes)."""
    from assaykit.simulate import RunSpec, write_run

    return write_run(tmp_path_factory.mktemp("replicates") / "run",
                     RunSpec(patients=1, conditions=("unstimulated", "IFN-gamma"), events=40000, seed=7,
                             replicates=2, healthy=2))


@pytest.fixture(scope="module")
def replicate_scored(replicate_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("replicates-out")
    score_and_report(replicate_run, out=folder / "out", jobs=1, ledger=str(folder / "ledger.sqlite"))
    return folder


def _csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def test_the_simulated_plate_map_and_truth(replicate_run: Path) -> None:
    truth = _csv(replicate_run / "truth.csv")
    blood = truth[truth["role"] == "sample"]
    assert len(blood) == 8 and list(blood["replicate"]) == ["r1", "r2"] * 4
    assert list(blood["patient"]) == ["P01"] * 4 + ["HD01", "HD01", "HD02", "HD02"]
    assert set(blood[blood["patient"].str.startswith("HD")]["donor_group"]) == {"healthy"}
    assert set(blood[blood["patient"] == "P01"]["donor_group"]) == {"septic"}
    for _, group in blood.groupby(["patient", "condition"]):  # one true AB/C per sample, whatever the replicate
        assert group["model_abc"].nunique() == 1
    healthy = blood[blood["patient"].str.startswith("HD")]["model_abc"]
    assert (healthy >= 15000).all()  # normal HLA-DR (Docke 2005: >= 15,000 AB/C)
    assert set(blood[blood["patient"].str.startswith("HD")]["condition"]) == {"unstimulated"}


def test_means_and_cvs_match_an_independent_computation_from_samples_csv(replicate_scored: Path) -> None:
    # samples.csv holds AB/C to 7 significant digits: a CV from them agrees to 1e-3 % points
    out = replicate_scored / "out"
    samples = _csv(out / "samples.csv")
    blood = samples[samples["role"] == "sample"]
    assert (blood["verdict"] != "withheld").all() and list(blood["replicate"]) == ["r1", "r2"] * 4
    expected = {}
    for (patient, condition), group in blood.groupby(["patient", "condition"]):
        values = group["hladr_abc"].to_numpy(float)
        expected[(patient, condition)] = (values.mean(), 100 * values.std(ddof=1) / values.mean(), len(values))
    restoration = _csv(out / "restoration.csv")
    assert len(restoration) == 1
    row = restoration.iloc[0]
    mean, cv, n = expected[("P01", "IFN-gamma")]
    assert (row["abc"], row["replicate_cv_pct"], row["n_replicates"]) == (pytest.approx(mean, rel=1e-6),
                                                                          pytest.approx(cv, abs=1e-3), n)
    mean, cv, n = expected[("P01", "unstimulated")]
    assert (row["control_abc"], row["control_replicate_cv_pct"], row["control_n_replicates"]) == (
        pytest.approx(mean, rel=1e-6), pytest.approx(cv, abs=1e-3), n)
    assert row["fold_change"] == pytest.approx(expected[("P01", "IFN-gamma")][0] / mean, rel=1e-5)
    assert row["file"] == "Specimen_001_A3_A03.fcs + Specimen_001_A4_A04.fcs"
    patients = _csv(out / "patients.csv").set_index("patient")
    for patient in ("P01", "HD01", "HD02"):
        mean, cv, n = expected[(patient, "unstimulated")]
        assert patients.loc[patient, "control_abc"] == pytest.approx(mean, rel=1e-6)
        assert patients.loc[patient, "replicate_cv_pct"] == pytest.approx(cv, abs=1e-3)
        assert patients.loc[patient, "n_replicates"] == n


def test_replicates_agree_with_the_simulators_truth(replicate_run: Path, replicate_scored: Path) -> None:
    """Replicates differ by acquisition noise alone: each mean lies within 3 % of the mean of the
    tubes' true AB/C, and each CV stays below 5 % (the noise of a median of ~2,000 monocytes)."""
    samples = _csv(replicate_scored / "out" / "samples.csv")
    truth = _csv(replicate_run / "truth.csv")
    merged = samples.merge(truth[["file", "true_abc"]], on="file")
    for _, group in merged[merged["role"] == "sample"].groupby(["patient", "condition"]):
        assert group["hladr_abc"].mean() == pytest.approx(group["true_abc"].mean(), rel=0.03)
        assert replicate_cv_pct(list(group["hladr_abc"])) < 5.0


def test_the_ledger_keeps_replicate_and_donor_group(replicate_scored: Path) -> None:
    from assaykit.ledger import open_ledger

    with open_ledger(replicate_scored / "ledger.sqlite") as ledger:
        rows = ledger.validation_rows()
    samples = _csv(replicate_scored / "out" / "samples.csv")
    blood = samples[samples["role"] == "sample"]
    assert [(r["file"], r["replicate"], r["donor_group"]) for r in rows] == list(
        zip(blood["file"], blood["replicate"], blood["donor_group"], strict=True))
    assert [r["hladr_abc"] for r in rows] == pytest.approx(list(blood["hladr_abc"]), rel=1e-6)  # 7 digits


def test_a_cv_over_the_run_yaml_limit_warns_on_tubes_restoration_row_and_pages(
        replicate_run: Path, replicate_scored: Path, tmp_path: Path) -> None:
    """A limit between the groups' CVs (run.yaml): the groups above it carry replicate_cv on each
    tube (reportable_with_warnings), on their restoration row and on the pages; the others not."""
    samples = _csv(replicate_scored / "out" / "samples.csv")
    blood = samples[samples["role"] == "sample"]
    cvs = {key: replicate_cv_pct(list(g["hladr_abc"])) for key, g in blood.groupby(["patient", "condition"])}
    ordered = sorted(cvs.values())
    limit = round((ordered[1] + ordered[2]) / 2, 4)  # two groups below, two above
    above = {key for key, cv in cvs.items() if cv is not None and cv > limit}
    assert len(above) == 2
    run = tmp_path / "run"
    shutil.copytree(replicate_run, run)
    with open(run / "run.yaml", "a") as handle:
        handle.write(f"replicate_cv_limit_pct: {limit}\nledger: none\n")
    score_and_report(run, out=tmp_path / "out", jobs=1)
    out = tmp_path / "out"
    warned = pd.read_csv(out / "samples.csv", keep_default_na=False, dtype=str)
    for _, tube in warned[warned["role"] == "sample"].iterrows():
        flagged = "[replicate_cv]" in tube["qc_flags"]
        assert flagged == ((tube["patient"], tube["condition"]) in above), tube["file"]
        if flagged:
            assert tube["verdict"] == "reportable_with_warnings" and "replicate_cv" in tube["verdict_reasons"]
            assert f"above the limit {limit:g} %" in tube["qc_flags"]
    row = pd.read_csv(out / "restoration.csv", keep_default_na=False, dtype=str).iloc[0]
    p01 = {("P01", "unstimulated"), ("P01", "IFN-gamma")} & above
    assert ("replicate_cv" in row["verdict_reasons"]) == bool(p01)
    assert ("[replicate_cv]" in row["qc_flags"]) == bool(p01)
    assert row["verdict"] == "reportable_with_warnings"
    import json

    assert json.loads((out / "manifest.json").read_text())["replicate_cv_limit_pct"] == limit
    for patient in {key[0] for key in above}:
        page = (out / "patients" / f"{patient}.html").read_text()
        assert f"above the limit {limit:g} % (replicate_cv_limit_pct)" in page, patient
        assert "mean of 2 replicates, CV" in page and "replicate r2" in page
    for patient in {key[0] for key in cvs} - {key[0] for key in above}:
        assert "above the limit" not in (out / "patients" / f"{patient}.html").read_text()


def test_simulate_cli_options_and_the_plate_limit(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from assaykit.cli import app

    result = CliRunner().invoke(app, ["simulate", str(tmp_path / "r"), "--patients", "20", "--replicates", "2"])
    assert result.exit_code != 0 and "do not fit a 96-well plate" in result.output
    result = CliRunner().invoke(app, ["simulate", str(tmp_path / "r"), "--patients", "1", "--conditions",
                                      "unstimulated", "--healthy", "3", "--replicates", "3", "--events", "2000"])
    assert result.exit_code == 0, result.output
    with open(tmp_path / "r" / "plate_map.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["replicate"] for r in rows[:-1]] == ["r1", "r2", "r3"] * 4
    assert [r["donor_group"] for r in rows[:-1]] == ["septic"] * 3 + ["healthy"] * 9


def test_a_withheld_replicate_leaves_the_mean_of_the_other_on_tables_and_pages(
        replicate_run: Path, replicate_scored: Path, tmp_path: Path) -> None:
    """One of P01's two unstimulated tubes excluded (run.yaml gate_overrides): the control value is
    the other tube's AB/C (n 1, no CV), reportable with the warning replicate_withheld, and the
    page shows it with its state, never "withheld"."""
    run = tmp_path / "run"
    shutil.copytree(replicate_run, run)
    with open(run / "run.yaml", "a") as handle:
        handle.write("ledger: none\ngate_overrides:\n  A1: {exclude: true, reason: bubble in the tube (test)}\n")
    score_and_report(run, out=tmp_path / "out", jobs=1)
    out = tmp_path / "out"
    samples = pd.read_csv(out / "samples.csv", keep_default_na=False, dtype=str).set_index("well")
    assert samples.loc["A1", "verdict"] == "withheld" and samples.loc["A1", "hladr_abc"] == ""
    kept = float(samples.loc["A2", "hladr_abc"])
    patient = _csv(out / "patients.csv").set_index("patient").loc["P01"]
    assert patient["control_abc"] == pytest.approx(kept, rel=1e-6)
    assert patient["n_replicates"] == 1 and math.isnan(patient["replicate_cv_pct"])
    row = pd.read_csv(out / "restoration.csv", keep_default_na=False, dtype=str).iloc[0]
    assert float(row["control_abc"]) == pytest.approx(kept, rel=1e-6)
    assert (row["control_n_replicates"], row["control_replicate_cv_pct"], row["n_replicates"]) == ("1", "", "2")
    assert row["verdict"] == "reportable_with_warnings" and "replicate_withheld" in row["verdict_reasons"]
    assert "1 of 2 replicates withheld (r1 Specimen_001_A1_A01.fcs: excluded_by_reviewer)" in row["qc_flags"]
    page = (out / "patients" / "P01.html").read_text()
    assert "Unstimulated monocyte HLA-DR: <span class=\"value\">withheld" not in page
    assert f"{kept:,.0f}" in page and "1 of 2 replicates withheld" in page


def test_replicates_that_disagree_withhold_the_patients_value_end_to_end(
        replicate_run: Path, replicate_scored: Path, tmp_path: Path) -> None:
    """The review's repro: P01's second unstimulated tube swapped (file and well) with a healthy
    donor's first: P01's replicates straddle the thresholds, so its control value is withheld
    (patients.csv, restoration.csv), not averaged into another class; the manifest records the
    rules."""
    import json

    samples = _csv(replicate_scored / "out" / "samples.csv").set_index("well")
    run = tmp_path / "run"
    shutil.copytree(replicate_run, run)
    with open(run / "plate_map.csv") as handle:
        rows = list(csv.reader(handle))
    index = {r[0]: i for i, r in enumerate(rows)}
    p01 = next(r[0] for r in rows[1:] if r[2] == "P01" and r[4] == "unstimulated" and r[6] == "r2")
    donor = next(r[0] for r in rows[1:] if r[2] == "HD01" and r[4] == "unstimulated" and r[6] == "r1")
    a, b = index[p01], index[donor]
    rows[a][:2], rows[b][:2] = rows[b][:2], rows[a][:2]
    with open(run / "plate_map.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    with open(run / "run.yaml", "a") as handle:
        handle.write("ledger: none\n")
    values = sorted(float(samples.loc[w, "hladr_abc"]) for w in (next(r[0] for r in rows[1:] if r[2] == "P01"
                    and r[4] == "unstimulated" and r[6] == "r1"), donor))
    from assaykit.scoring.restoration import Thresholds
    from assaykit.scoring.verdicts import thresholds_crossed

    assert thresholds_crossed(values, Thresholds().decision_abc())  # the premise: they straddle a threshold
    score_and_report(run, out=tmp_path / "out", jobs=1)
    out = tmp_path / "out"
    patient = pd.read_csv(out / "patients.csv", keep_default_na=False, dtype=str).set_index("patient").loc["P01"]
    assert patient["control_abc"] == "" and patient["control_verdict"] == "withheld"
    assert "replicates_disagree" in patient["control_verdict_reasons"]
    assert json.loads((out / "manifest.json").read_text())["replicate_cv_withhold_pct"] is None
