"""``score_run`` / ``assaykit score`` on simulated runs against the simulator's truth."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import assaykit
from assaykit import read_fcs
from assaykit.cli import app
from assaykit.errors import AssayKitError, PlateMapError
from assaykit.findings import FindingCode, finding, parse_findings
from assaykit.scoring import score_run
from assaykit.scoring.restoration import Thresholds, state

from ..conftest import FERRITIN

TABLES = ("samples", "calibration", "restoration", "patients", "cohort")


@pytest.fixture(scope="session")
def truth(run_8x4: Path) -> pd.DataFrame:
    return pd.read_csv(run_8x4 / "truth.csv", keep_default_na=False)


def _far(value: float, thresholds: tuple[float, ...]) -> bool:
    """Truth at least 10 % away from every threshold."""
    return all(abs(value / t - 1) >= 0.10 for t in thresholds)


def test_abc_within_3_percent_of_truth(scored, truth: pd.DataFrame) -> None:
    merged = scored.samples.merge(truth[["file", "true_abc", "true_monocytes"]], on="file")
    samples = merged[merged["role"] == "sample"]
    assert len(samples) == 32 and scored.n_failed == 0
    enough = samples[samples["monocytes"] >= 3000]
    assert len(enough) >= 28
    error = (enough["hladr_abc"] / enough["true_abc"].astype(float) - 1).abs()
    assert error.max() < 0.03, enough.loc[error.idxmax(), "file"]


def test_fold_change_within_5_percent(scored, truth: pd.DataFrame) -> None:
    true_abc = dict(zip(truth["file"], truth["true_abc"], strict=True))
    restoration = scored.restoration
    assert len(restoration) == 8 * 3
    for _, row in restoration.iterrows():
        expected = float(true_abc[row["file"]]) / float(true_abc[row["control_file"]])
        assert row["fold_change"] == pytest.approx(expected, rel=0.05)
        assert row["log2_fold_change"] == pytest.approx(np.log2(row["fold_change"]))
        assert row["delta_abc"] == pytest.approx(row["abc"] - row["control_abc"])


def test_states_and_classes_match_truth(scored, truth: pd.DataFrame) -> None:
    thresholds = Thresholds()
    cuts = (thresholds.immunoparalysis_abc, thresholds.immunosuppressed_abc, thresholds.normal_abc)
    true_abc = {r["file"]: float(r["true_abc"]) for _, r in truth.iterrows() if r["role"] == "sample"}
    checked = 0
    for _, row in scored.restoration.iterrows():
        for column, file in (("state_control", row["control_file"]), ("state_drug", row["file"])):
            if _far(true_abc[file], cuts):
                assert row[column] == state(true_abc[file], thresholds), (column, file)
                checked += 1
    assert checked >= 30  # most values are far from a threshold: the check is not vacuous
    for _, row in scored.patients.iterrows():
        control_truth = true_abc[scored.restoration[scored.restoration["patient"] == row["patient"]]
                                 ["control_file"].iloc[0]]
        ferritin = FERRITIN[row["patient"]]
        assert row["ferritin_ng_ml"] == ferritin
        if not _far(control_truth, (5000.0,)):
            continue
        expected = ("hyperinflammation" if ferritin > 4420 else
                    "immunoparalysis" if control_truth < 5000 else "intermediate")
        assert row["immunosep_class"] == expected, row["patient"]
        assert row["immunosep_rule"]


def test_responder_rule(scored) -> None:
    order = ("immunoparalysis", "immunosuppressed", "intermediate", "normal")
    for _, row in scored.restoration.iterrows():
        improved = order.index(row["state_drug"]) > order.index(row["state_control"])
        assert row["responder"] == (row["fold_change"] >= 1.5 and improved)
        if row["control_abc"] < 15000:
            assert row["gap_closed"] == pytest.approx(row["delta_abc"] / (15000 - row["control_abc"]))
        else:
            assert pd.isna(row["gap_closed"])


def test_cohort_table(scored) -> None:
    from scipy.stats import wilcoxon

    cohort = scored.cohort.set_index("condition")
    assert list(cohort.index) == ["GM-CSF", "IFN-gamma", "IL-7"]
    for condition, row in cohort.iterrows():
        pairs = scored.restoration[scored.restoration["condition"] == condition]
        assert row["n_pairs"] == 8
        assert row["median_fold_change"] == pytest.approx(pairs["fold_change"].median())
        assert row["ci_low"] <= row["median_fold_change"] <= row["ci_high"] and row["ci_coverage"] >= 0.95
        p = wilcoxon(np.log(pairs["abc"]) - np.log(pairs["control_abc"])).pvalue
        assert row["wilcoxon_p"] == pytest.approx(p)
        assert row["wilcoxon_p"] <= row["holm_p"] <= 1


def test_tables_written_and_rerun_identical(scored, run_8x4: Path, tmp_path: Path) -> None:
    again = score_run(run_8x4, out=tmp_path / "again", jobs=1, clinical=run_8x4 / "clinical.csv")
    for name in TABLES:
        first = (scored.out_dir / f"{name}.csv").read_bytes()
        assert first == (again.out_dir / f"{name}.csv").read_bytes(), name
    manifest = (scored.out_dir / "manifest.json").read_text()
    for needed in ('"sha256"', '"thresholds"', '"responder_rule"', '"numpy"', '"started"', '"strategy"'):
        assert needed in manifest
    columns = pd.read_csv(scored.out_dir / "samples.csv").columns
    for column in ("file", "sha256", "well", "patient", "timepoint", "condition", "role", "events", "singlets",
                   "monocytes", "monocytes_pct", "hladr_mfi", "hladr_abc", "hladr_pos_pct", "qc_flags",
                   "error"):
        assert column in columns


def test_inputs_are_not_modified(run_8x4: Path, scored) -> None:
    import hashlib

    manifest = scored.manifest
    for item in manifest["inputs"]:
        if item["sha256"]:
            assert hashlib.sha256((run_8x4 / item["file"]).read_bytes()).hexdigest() == item["sha256"]


# --- failures -----------------------------------------------------------------------------------------


@pytest.fixture()
def small_run(simulated_run: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "small"
    shutil.copytree(simulated_run, folder)
    return folder


def test_a_broken_file_is_a_row_and_exit_1(small_run: Path, tmp_path: Path) -> None:
    broken = small_run / "Specimen_001_A2_A02.fcs"
    broken.write_bytes(broken.read_bytes()[:3000])
    result = CliRunner().invoke(app, ["score", str(small_run), "--out", str(tmp_path / "out"), "--jobs", "1"])
    assert result.exit_code == 1, result.output
    samples = pd.read_csv(tmp_path / "out" / "samples.csv", keep_default_na=False)
    row = samples[samples["file"] == broken.name].iloc[0]
    assert row["error"] and row["hladr_abc"] == ""
    others = samples[(samples["file"] != broken.name) & (samples["role"] == "sample")]
    assert (others["error"] == "").all() and (others["hladr_abc"] != "").all()
    restoration = pd.read_csv(tmp_path / "out" / "restoration.csv", keep_default_na=False)
    lost = restoration[restoration["file"] == broken.name].iloc[0]
    assert lost["fold_change"] == "" and FindingCode.DRUG_NO_VALUE in {f.code for f in parse_findings(lost["qc_flags"])}
    assert "failed: Specimen_001_A2_A02.fcs" in result.stdout


def test_failed_bead_tube_keeps_the_mfi(small_run: Path, tmp_path: Path) -> None:
    shutil.copy(small_run / "Specimen_001_A1_A01.fcs", small_run / "Specimen_001_H12_H12.fcs")
    result = score_run(small_run, out=tmp_path / "out", jobs=1)
    beads = result.samples[result.samples["role"] == "beads"].iloc[0]
    assert "at least 3" in beads["error"] and result.exit_code == 1
    blood = result.samples[result.samples["role"] == "sample"]
    assert blood["hladr_mfi"].notna().all() and blood["hladr_abc"].isna().all()
    assert "at least 3" in result.calibration["error"].iloc[0]


def test_usage_errors_exit_2(small_run: Path, tmp_path: Path) -> None:
    (small_run / "run.yaml").unlink()
    result = CliRunner().invoke(app, ["score", str(small_run), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "--lot FILE or --bead-values" in result.stderr
    result = CliRunner().invoke(app, ["score", str(tmp_path / "nowhere"), "--bead-values", "1,2,3"])
    assert result.exit_code == 2 and "run folder not found" in result.stderr


def test_cli_options_override_run_yaml(small_run: Path, tmp_path: Path) -> None:
    (small_run / "run.yaml").write_text("lot: beads_lot.yaml\nresponder: {min_fold_change: 100}\n"
                                        "thresholds: {normal_abc: 20000}\njobs: 1\n")
    result = score_run(small_run, out=tmp_path / "o", bead_values=(474, 5359, 23843, 62336))
    assert result.manifest["lot"]["kit"] == "bead values given on the command line"
    assert result.manifest["thresholds"]["normal_abc"] == 20000 and not result.restoration["responder"].any()
    (small_run / "run.yaml").write_text("colour: red\n")
    with pytest.raises(AssayKitError, match="unknown key"):
        score_run(small_run, out=tmp_path / "o")


def test_api_is_exported() -> None:
    assert assaykit.score_run is score_run


# --- plate maps -------------------------------------------------------------------------------------


def _write_map(folder: Path, rows: list[list[str]], name: str = "plate_map.csv") -> Path:
    path = folder / name
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t" if name.endswith(".tsv") else ",")
        writer.writerow(["well", "patient", "timepoint", "condition", "role", "note"])
        writer.writerows(rows)
    return path


def test_plate_map_problems_all_at_once(small_run: Path, tmp_path: Path) -> None:
    _write_map(small_run, [
        ["A1", "P01", "D3", "unstimulated", "sample", ""],
        ["A01", "P01", "D3", "IFN-gamma", "sample", ""],  # duplicate of A1
        ["A3", "P02", "D3", "IFN-gamma", "sampel", ""],  # unknown role
        ["A4", "P02", "D3", "IFN-gamma", "sample", ""],  # no file; P02 has no control
        ["H12", "", "", "", "beads", ""],
    ])
    with pytest.raises(PlateMapError) as error:
        score_run(small_run, out=tmp_path / "o", jobs=1)
    message = str(error.value)
    assert "row 3: duplicate well A1 (also row 2)" in message
    assert "row 4: unknown role 'sampel'" in message
    assert "\n" not in message


def test_plate_map_design_problems(small_run: Path, tmp_path: Path) -> None:
    _write_map(small_run, [
        ["A1", "P01", "D3", "unstimulated", "sample", ""],
        ["A2", "P01", "D3", "IFN-gamma", "sample", ""],
        ["A9", "P02", "D3", "IFN-gamma", "sample", ""],  # P02: no control; A9 has no file
    ])
    with pytest.raises(PlateMapError) as error:
        score_run(small_run, out=tmp_path / "o", jobs=1)
    message = str(error.value)
    assert "row 4: no file for well A9" in message
    assert "patient P02 at D3 has no 'unstimulated' control" in message
    assert "no bead tube" in message
    assert "file Specimen_001_A3_A03.fcs: no row for its well A3" in message


def test_tsv_and_xlsx_plate_maps_carry_extra_columns(small_run: Path, tmp_path: Path) -> None:
    original = pd.read_csv(small_run / "plate_map.csv", keep_default_na=False)
    original["note"] = [f"n{i}" for i in range(len(original))]
    tsv = small_run / "map.tsv"
    original.drop(columns=["file"]).to_csv(tsv, sep="\t", index=False)
    xlsx = small_run / "map.xlsx"
    original.drop(columns=["file"]).to_excel(xlsx, index=False)
    a = score_run(small_run, out=tmp_path / "a", plate_map=tsv, jobs=1)
    b = score_run(small_run, out=tmp_path / "b", plate_map=xlsx, jobs=1)
    assert list(a.samples["note"]) == list(original["note"]) == list(b.samples["note"])
    assert (tmp_path / "a" / "samples.csv").read_bytes() == (tmp_path / "b" / "samples.csv").read_bytes()


def test_files_matched_by_name_without_well_keyword(small_run: Path, tmp_path: Path) -> None:
    from assaykit.fcs.writer import write_fcs

    rows = []
    for name, new in (("Specimen_001_A1_A01.fcs", "Well_A1.fcs"), ("Specimen_001_A2_A02.fcs", "P01 IFN A02.fcs"),
                      ("Specimen_001_H12_H12.fcs", "beads_H12.fcs")):
        sample = assaykit.read_fcs(small_run / name)
        keywords = {k: v for k, v in sample.keywords.items() if k in ("$SPILLOVER", "$CYT")}
        write_fcs(tmp_path / "byname" / new, sample.events, sample.channels, sample.markers, keywords)
    rows = [["A1", "P01", "D3", "unstimulated", "sample", ""], ["A2", "P01", "D3", "IFN-gamma", "sample", ""],
            ["H12", "", "", "", "beads", ""]]
    _write_map(tmp_path / "byname", rows)
    result = score_run(tmp_path / "byname", out=tmp_path / "o", lot=small_run / "beads_lot.yaml", jobs=1)
    assert list(result.samples["matched_by"]) == ["file name"] * 3
    assert result.samples["hladr_abc"].notna().sum() == 2


def test_score_command_on_the_demo_run(project_root: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["score", str(project_root / "sample_fcs"), "--out", str(tmp_path / "demo"),
                                      "--jobs", "2", "--no-report"])
    assert result.exit_code == 0, result.output
    assert f"results in {tmp_path / 'demo'}/" in result.stdout
    assert len(pd.read_csv(tmp_path / "demo" / "restoration.csv")) == 6  # 3 patients x 2 drugs


def test_tube_with_too_few_events_is_a_row(small_run: Path, tmp_path: Path) -> None:
    from assaykit.simulate import Scenario, simulate_blood, write_tube

    # 3,000 events (~200 monocytes): measured, flagged unreliable; 150 events (~10 monocytes):
    # no plausible monocyte population, refused with the reason; the plate goes on
    small = simulate_blood(Scenario(n_events=3000), np.random.default_rng(2))
    write_tube(small_run / "Specimen_001_A2_A02.fcs", small, "A2")
    tiny = simulate_blood(Scenario(n_events=150), np.random.default_rng(2))
    write_tube(small_run / "Specimen_001_A3_A03.fcs", tiny, "A3")
    result = score_run(small_run, out=tmp_path / "o", jobs=2)
    rows = result.samples.set_index("file")
    row = rows.loc["Specimen_001_A2_A02.fcs"]
    assert row["error"] == "" and FindingCode.TOO_FEW_EVENTS in {f.code for f in parse_findings(row["qc_flags"])}
    assert "fewer than 500, the value is unreliable" in row["qc_flags"]  # the message, beside its code
    refused = rows.loc["Specimen_001_A3_A03.fcs"]
    assert "no CD14-bright population" in refused["error"] and pd.isna(refused["hladr_abc"])
    others = result.samples[(result.samples["role"] == "sample") & ~result.samples["file"].isin(
        ["Specimen_001_A2_A02.fcs", "Specimen_001_A3_A03.fcs"])]
    assert len(others) and others["hladr_abc"].notna().all()


def test_progress_lines_when_not_a_terminal(small_run: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["score", str(small_run), "--out", str(tmp_path / "o"), "--jobs", "1"])
    assert result.exit_code == 0
    assert "[4/4] Specimen_001_A4_A04.fcs" in result.stderr


def test_gate_not_found_is_a_row(small_run: Path, tmp_path: Path) -> None:
    from assaykit.simulate import QUANTIBRITE_EXAMPLE_LOT, simulate_beads, write_tube

    beads = simulate_beads(QUANTIBRITE_EXAMPLE_LOT, np.random.default_rng(4), 5000)
    write_tube(small_run / "Specimen_001_A3_A03.fcs", beads, "A3")  # a bead tube where blood should be
    result = score_run(small_run, out=tmp_path / "o", jobs=1)
    samples = result.samples.set_index("file")
    assert "monocyte gate not found" in samples.loc["Specimen_001_A3_A03.fcs", "error"]
    assert samples.loc["Specimen_001_A4_A04.fcs", "hladr_abc"] > 0 and result.exit_code == 1


def test_two_files_in_one_well_are_reported(small_run: Path, tmp_path: Path) -> None:
    plate = pd.read_csv(small_run / "plate_map.csv", keep_default_na=False)
    plate.drop(columns=["file"]).to_csv(small_run / "plate_map.csv", index=False)  # match by well only
    shutil.copy(small_run / "Specimen_001_A1_A01.fcs", small_run / "A1 again.fcs")  # same WELL ID keyword
    with pytest.raises(PlateMapError, match=r"row 2: well A1 matches several files: A1 again.fcs \(keyword\), "
                                            r"Specimen_001_A1_A01.fcs \(keyword\)"):
        score_run(small_run, out=tmp_path / "o", jobs=1)
    shutil.copy(small_run / "Specimen_001_A1_A01.fcs", tmp_path / "keep.fcs")
    (small_run / "A1 again.fcs").unlink()
    from assaykit.fcs.writer import write_fcs

    sample = assaykit.read_fcs(tmp_path / "keep.fcs")
    for name in ("G1 x.fcs", "x G01.fcs"):  # no keyword: the well comes from the name
        write_fcs(small_run / name, sample.events, sample.channels, sample.markers, {})
    with pytest.raises(PlateMapError, match=r"files G1 x.fcs, x G01.fcs: no row for their well G1"):
        score_run(small_run, out=tmp_path / "o", jobs=1)


def test_voltage_differing_from_the_bead_tube_is_flagged(small_run: Path, tmp_path: Path) -> None:
    from assaykit.fcs.writer import write_fcs

    for name, voltage in (("Specimen_001_A1_A01.fcs", "520"), ("Specimen_001_H12_H12.fcs", "480"),
                          ("Specimen_001_A2_A02.fcs", "480")):
        sample = assaykit.read_fcs(small_run / name)
        keywords = {k: v for k, v in sample.keywords.items() if k in ("$SPILLOVER", "WELL ID", "$CYT")}
        write_fcs(small_run / name, sample.events, sample.channels, sample.markers, {**keywords, "$P4V": voltage})
    samples = score_run(small_run, out=tmp_path / "o", jobs=1).samples.set_index("file")
    assert finding(FindingCode.VOLTAGE_MISMATCH, "PE-A voltage 520 differs from the bead tube's 480") \
        in parse_findings(samples.loc["Specimen_001_A1_A01.fcs", "qc_flags"])
    assert FindingCode.VOLTAGE_MISMATCH not in {f.code for f in parse_findings(samples.loc["Specimen_001_A2_A02.fcs",
                                                                                           "qc_flags"])}


# --- one rule in one place --------------------------------------------------------------------------


def test_isotype_cut_is_the_gate_commands_rule(small_run: Path, tmp_path: Path) -> None:
    """score's % positive against an isotype tube equals `gate --isotype` on the same two files."""
    from assaykit.simulate import Scenario, simulate_blood, write_tube

    rng = np.random.default_rng(4)
    write_tube(small_run / "isotype_C1.fcs", simulate_blood(Scenario(n_events=30000, monocyte_abc=150.0), rng), "C1")
    plate = pd.read_csv(small_run / "plate_map.csv", dtype=str, keep_default_na=False)
    first = plate[plate["role"] == "sample"].iloc[0]
    extra = {"well": "C1", "file": "isotype_C1.fcs", "patient": first["patient"], "timepoint": first["timepoint"],
             "condition": "isotype", "role": "isotype"}
    pd.concat([plate, pd.DataFrame([extra])]).to_csv(small_run / "plate_map.csv", index=False)
    samples = score_run(small_run, out=tmp_path / "o", jobs=1).samples.set_index("file")
    gated = CliRunner().invoke(app, ["gate", str(small_run / first["file"]), "--isotype",
                                     str(small_run / "isotype_C1.fcs"), "--json"])
    assert gated.exit_code == 0, gated.output
    expected = json.loads(gated.output)["readout"]["percent_positive"]
    assert 0 < expected < 100
    assert samples.loc[first["file"], "hladr_pos_pct"] == pytest.approx(expected, rel=1e-6)
    others = samples[(samples["patient"] != first["patient"]) & (samples["role"] == "sample")]
    assert others["hladr_pos_pct"].isna().all()  # no isotype tube for that patient


RENAMED = """
name: renamed
markers:
  FSC-A: {aliases: [FSC-A]}
  FSC-H: {aliases: [FSC-H]}
  SSC-A: {aliases: [SSC-A], transform: {kind: log, m: 4.5}}
  CD14: {aliases: [PerCP-Cy5-5-A], transform: {kind: logicle, m: 4.5, w: 0.5}}
  HLA-DR: {aliases: [PE-A], transform: {kind: logicle, m: 4.5, w: 0.5}}
populations:
  - {name: Leukocytes, parent: root, gate: {auto: debris, dims: [FSC-A]}}
  - {name: Single cells, parent: Leukocytes, gate: {auto: singlets, dims: [FSC-A, FSC-H]}}
  - {name: CD14+ mono, parent: Single cells, gate: {auto: monocytes, dims: [CD14, SSC-A]}}
readout: {population: CD14+ mono, marker: HLA-DR, statistic: geometric_mean}
"""


def test_roles_and_statistic_come_from_the_strategy(tmp_path: Path) -> None:
    """A strategy that names its populations otherwise keeps the doublet check and the singlets
    count; the MFI column holds the statistic the strategy asks for, and says which."""
    import yaml

    from assaykit.gating import apply_strategy, load_strategy, parse_strategy
    from assaykit.scoring import measure_tube
    from assaykit.simulate import Scenario, simulate_blood, write_tube

    strategy = parse_strategy(yaml.safe_load(RENAMED))
    assert strategy.singlets == "Single cells"
    path = write_tube(tmp_path / "doublets.fcs", simulate_blood(Scenario(n_events=40000, doublet_fraction=0.2),
                                                                 np.random.default_rng(2)))
    tube = measure_tube(path, strategy, figure=False)
    gated = apply_strategy(read_fcs(path), strategy)
    assert tube.singlets == gated.count("Single cells") and tube.monocytes == gated.count("CD14+ mono")
    assert any(f.code == FindingCode.HIGH_DOUBLETS and "of Leukocytes" in f.message for f in tube.qc_flags), \
        tube.qc_flags
    values = gated.frame.scale("HLA-DR")[gated.masks["CD14+ mono"]]
    geometric = float(np.exp(np.mean(np.log(values[values > 0]))))
    assert tube.hladr_statistic == "geometric_mean"
    assert tube.hladr_mfi == pytest.approx(geometric, rel=1e-12) and tube.hladr_mfi != float(np.median(values))
    default = measure_tube(path, load_strategy(), figure=False)
    plain = apply_strategy(read_fcs(path), load_strategy())
    median = float(np.median(plain.frame.scale("HLA-DR")[plain.masks["monocytes"]]))
    assert default.hladr_statistic == "median" and default.hladr_mfi == pytest.approx(median, rel=1e-12)


def test_a_declared_role_wins_and_bad_roles_are_refused() -> None:
    import yaml

    from assaykit.gating import parse_strategy

    doc = yaml.safe_load(RENAMED)
    doc["populations"][0]["role"] = "singlets"
    assert parse_strategy(doc).singlets == "Leukocytes"
    doc["populations"][0]["role"] = "neutrophils"
    with pytest.raises(AssayKitError, match="unknown role 'neutrophils'"):
        parse_strategy(doc)


def test_pbmc_run_on_an_lsr_with_the_labs_matrix(tmp_path: Path) -> None:
    # an LSRII PBMC run as it comes: identity $SPILLOVER in every file, the lab's matrix in
    # compensation.csv (run.yaml compensation:), the specimen declared in run.yaml
    from assaykit.simulate import RunSpec, write_run

    folder = write_run(tmp_path / "lsr", RunSpec(patients=2, conditions=("unstimulated", "IFN-gamma"), events=30000,
                                                 seed=4, style="lsr", specimen="pbmc", monocyte_percent=(10, 30)))
    assert "compensation: compensation.csv" in (folder / "run.yaml").read_text()
    with open(folder / "run.yaml", "a") as handle:
        handle.write("specimen: pbmc\n")
    result = score_run(folder, out=tmp_path / "o", jobs=1)
    blood = result.samples[result.samples["role"] == "sample"].set_index("file")
    with open(folder / "truth.csv", newline="") as handle:
        truth = {r["file"]: r for r in csv.DictReader(handle)}
    assert (blood["error"] == "").all()
    assert (blood["compensation"] == "compensation.csv (2 channels)").all()
    assert (blood["specimen_declared"] == "pbmc").all() and (blood["specimen_detected"] == "pbmc").all()
    assert (blood["monocyte_purity_pct"] > 95).all() and (blood["removed_at_top"] >= 0).all()
    for name, row in blood.iterrows():  # counts within 6 % of the true monocytes (doublets stay: no FSC-H)
        t = truth[name]
        assert abs(row["monocytes"] / float(t["true_monocytes"]) - 1) <= 0.06, name
        # the HLA-DR MFI (PerCP-Cy5.5, compensated) within 3 % of the true monocytes' signal
        true_mfi = 10 ** ((np.log10(float(t["true_abc"])) - float(t["calibration_intercept"]))
                          / float(t["calibration_slope"]))
        assert abs(row["hladr_mfi"] / true_mfi - 1) <= 0.03, (name, row["hladr_mfi"], true_mfi)
        assert any(f.code == FindingCode.DOUBLETS_NOT_EXCLUDED and "no FSC-H" in f.message
                   for f in parse_findings(row["qc_flags"]))
    manifest = result.manifest
    assert manifest["options"]["specimen"] == "pbmc" and manifest["options"]["compensation"]["sha256"]
    assert set(manifest["specimens_detected"].values()) == {"pbmc"}
