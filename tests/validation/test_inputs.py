"""What ``assaykit validate`` reads (issue 31 review): two output folders of one run, one FCS file
in two runs (named folders, or the ledger and a folder), an output folder inside another
scored folder, the AB/C unit rule, withheld tubes in a comparison, the donor group's letter
case and a misspelt ``--control``: each refused in one line, or counted, never silently used."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from assaykit._io.atomic import check_not_in_output, file_listing
from assaykit.cli import app
from assaykit.errors import AssayKitError
from assaykit.scoring.agreement import COLUMNS
from assaykit.scoring.tables import not_abc_unit, run_cell_unit
from assaykit.validation.data import Tube, gather, reference_values, tube_of, with_comparisons

from .test_validate import _Ledger, _read, _tube, _write_run


def _run(root: Path, name: str, run: int = 0, run_dir: str = "", tubes: list[dict] | None = None) -> Path:
    folder = root / name
    rows = tubes if tubes is not None else [
        _tube(run, 0, "control", "CTRL-1", "", "unstimulated", 20000.0, replicate="1"),
        _tube(run, 1, "sample", "H1", "D0", "unstimulated", 25000.0, group="Healthy"),
        _tube(run, 2, "sample", "H2", "D0", "unstimulated", 27000.0, group=" healthy"),
        _tube(run, 3, "sample", "H3", "D0", "unstimulated", 0, verdict="withheld", group="healthy")]
    _write_run(folder, run, rows)
    if run_dir:
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["run_dir"] = run_dir
        (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _invoke(args: list[str]) -> Any:
    return CliRunner().invoke(app, ["validate", *args], env={"ASSAYKIT_LEDGER": ""})


def _one_error_line(result: Any, *named: str) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for name in named:
        assert name in lines[0], (name, lines[0])
    return lines[0]


def test_two_output_folders_of_one_run_are_refused_naming_both_in_either_order(tmp_path: Path) -> None:
    a = _run(tmp_path, "scored-a")
    b = tmp_path / "scored-b"
    shutil.copytree(a, b)  # the same run folder (manifest run_dir) scored into another folder
    for first, second in ((a, b), (b, a)):
        with pytest.raises(AssayKitError) as caught:
            gather(None, [first, second])
        assert str(first) in str(caught.value) and str(second) in str(caught.value)
    _one_error_line(_invoke(["--run", str(a), "--run", str(b), "--out", str(tmp_path / "v")]), str(a), str(b))
    assert not (tmp_path / "v").exists()
    once = gather(None, [a, tmp_path / "." / "scored-a"])  # the same folder named twice is one run
    assert len(once.runs) == 1 and len(once.tubes) == 3


def test_one_fcs_file_in_two_runs_is_refused_from_folders_and_from_the_ledger(tmp_path: Path) -> None:
    a = _run(tmp_path, "scored-a", run_dir=str(tmp_path / "plates-a"))
    copy = _run(tmp_path, "scored-copy", run_dir=str(tmp_path / "plates-copy"))  # a copied run folder, scored again
    line = _one_error_line(_invoke(["--run", str(a), "--run", str(copy), "--out", str(tmp_path / "v")]),
                           "plates-a", "plates-copy", "R0_000.fcs")
    assert "two runs" in line
    rows = [{**r, "run_key": str(tmp_path / "plates-a"), "run_name": "plates-a", "run_uid": "uid-ledger",
             "acquired_on": r["acquisition_date"], "unit": "AB/C"} for r in _read(a / "samples.csv")]
    with pytest.raises(AssayKitError, match=r"plates-a \(ledger.*plates-copy \(folder"):
        gather(_Ledger(rows), [copy])  # type: ignore[arg-type]
    other = _run(tmp_path, "scored-other", run=1, run_dir=str(tmp_path / "plates-other"))  # other files: allowed
    assert len(gather(_Ledger(rows), [other]).runs) == 2  # type: ignore[arg-type]
    assert len(gather(_Ledger(rows), [a]).runs) == 1  # type: ignore[arg-type]  # the ledger's run named: read once


def test_the_donor_group_matches_whatever_its_letter_case_and_a_misspelt_control_is_refused(tmp_path: Path) -> None:
    a = _run(tmp_path, "scored-a")
    data = gather(None, [a])
    assert reference_values(data.tubes, "healthy", "unstimulated") == [("H1", 25000.0, 1), ("H2", 27000.0, 1)]
    assert reference_values(data.tubes, "HEALTHY", "unstimulated") == [("H1", 25000.0, 1), ("H2", 27000.0, 1)]
    assert reference_values(data.tubes, "septic", "unstimulated") == []
    line = _one_error_line(_invoke(["--run", str(a), "--control", "unstimulted", "--out", str(tmp_path / "v")]),
                           "unstimulted", "'unstimulated'")
    assert "--control" in line and not (tmp_path / "v").exists()


def test_values_of_another_unit_are_left_out_by_the_one_rule_export_refuses_by() -> None:
    assert not_abc_unit("MEPE") and not_abc_unit("MEFL") and not not_abc_unit("AB/C") and not not_abc_unit("")
    calibration = {"slope": 1.0, "intercept": 0.0, "r_squared": 1.0, "channel": "PE-A"}
    assert run_cell_unit({"calibration": {**calibration, "unit": "PE molecules/bead"}}) == "AB/C"
    assert run_cell_unit({"calibration": {**calibration, "unit": "MEPE"}}) == "MEPE"
    assert run_cell_unit({}) == ""
    row = {**_tube(0, 0, "control", "C", "", "unstimulated", 1000.0), "unit": "MEPE"}
    assert tube_of(row) == "not_abc_unit"
    assert isinstance(tube_of({**row, "unit": "AB/C"}), Tube)


def test_an_output_folder_inside_another_scored_folder_is_refused(tmp_path: Path) -> None:
    a = _run(tmp_path, "scored-a")
    b = _run(tmp_path, "scored-b", run=2)
    inside = b / "validation"
    _one_error_line(_invoke(["--run", str(a), "--out", str(inside)]), str(inside), str(b))
    assert not inside.exists() and sorted(p.name for p in b.iterdir()) == ["manifest.json", "samples.csv"]
    with pytest.raises(AssayKitError, match="lies inside the assaykit output folder"):
        check_not_in_output(b / "deeper" / "still")
    check_not_in_output(tmp_path / "beside")  # beside it: allowed
    user = tmp_path / "mine"
    user.mkdir()
    (user / "manifest.json").write_text('{"name": "a user\'s own manifest"}')
    check_not_in_output(user / "out")  # not an assaykit manifest


def _compare_folder(root: Path, scored: Path, rows: list[dict[str, Any]]) -> Path:
    folder = root / f"{scored.name}-agreement"
    folder.mkdir()
    lines = [",".join(COLUMNS)]
    for row in rows:
        lines.append(",".join(str(row.get(c, "")) for c in COLUMNS))
    (folder / "agreement.csv").write_text("\n".join(lines) + "\n")
    manifest = {"kind": "assaykit compare", "scored": str(scored), "source": "workspace",
                "files": file_listing(folder)}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_only_pairs_of_reportable_tubes_enter_the_method_comparison(tmp_path: Path) -> None:
    a = _run(tmp_path, "scored-a")
    pairs = [{"file": f"R0_00{i}.fcs", "patient": p, "timepoint": t, "condition": "unstimulated",
              "manual_abc": m, "assaykit_abc": ours}  # assaykit's as the run holds them (else refused as stale)
             for i, p, t, m, ours in ((0, "CTRL-1", "", 19000.0, 20000.0), (1, "H1", "D0", 24000.0, 25000.0),
                                      (2, "H2", "D0", 26000.0, 27000.0),
                                      (3, "H3", "D0", 30000.0, 30300.0))]  # an older compare: H3's withheld tube
    # has an AB/C
    folder = _compare_folder(tmp_path, a, pairs)
    data = with_comparisons(gather(None, [a]), [folder])
    assert [(p.file, p.reference_abc) for p in data.pairs] == [("R0_000.fcs", 19000.0), ("R0_001.fcs", 24000.0),
                                                               ("R0_002.fcs", 26000.0)]
    assert data.comparisons[0]["not_reportable"] == 1 and data.comparisons[0]["pairs"] == 3
    alone = tmp_path / "copied.csv"  # the CSV without its compare folder: nothing shows it unchanged (s3-va)
    shutil.copyfile(folder / "agreement.csv", alone)
    with pytest.raises(AssayKitError, match=r"an agreement\.csv is read in the `assaykit compare` folder"):
        with_comparisons(gather(None, [a]), [alone])
    other = _run(tmp_path, "scored-b", run=2)  # the compared run not validated: its own samples.csv decides
    data = with_comparisons(gather(None, [other]), [folder])
    assert [p.file for p in data.pairs] == ["R0_000.fcs", "R0_001.fcs", "R0_002.fcs"]
    result = _invoke(["--run", str(a), "--comparison", str(folder), "--out", str(tmp_path / "v")])
    assert result.exit_code in (0, 1), result.output
    compared = _read(tmp_path / "v" / "comparison_data.csv")
    assert len(compared) == 3 and "R0_003.fcs" not in {r.get("file") for r in compared}


def test_compare_leaves_a_withheld_tubes_assaykit_abc_empty_and_validate_leaves_it_out(tmp_path: Path) -> None:
    import csv

    runner = CliRunner()
    run, small = tmp_path / "run", tmp_path / "small"
    for folder, events, seed in ((run, "12000", "7"), (small, "2000", "8")):
        result = runner.invoke(app, ["simulate", str(folder), "--patients", "1", "--conditions", "unstimulated",
                                     "--replicates", "2", "--events", events, "--seed", seed])
        assert result.exit_code == 0, result.output
    first = sorted(p.name for p in run.glob("*_A1_*.fcs"))[0]
    shutil.copyfile(small / first, run / first)  # too few events: withheld by scoring
    out = tmp_path / "scored"
    result = runner.invoke(app, ["score", str(run), "--out", str(out)], env={"ASSAYKIT_LEDGER": ""})
    assert result.exit_code in (0, 1) and (out / "manifest.json").is_file(), result.output  # 1: a tube withheld
    result = runner.invoke(app, ["compare", str(out), "--workspace", str(out / "run.wsp"), "--population",
                                 "monocytes"])
    assert result.exit_code == 0, result.output
    samples = {r["file"]: r for r in _read(out / "samples.csv")}
    assert samples[first]["verdict"] == "withheld" and samples[first]["hladr_abc"] == ""
    with (tmp_path / "scored-agreement" / "agreement.csv").open(newline="", encoding="utf-8") as handle:
        rows = {r["file"]: r for r in csv.DictReader(handle)}
    assert rows[first]["assaykit_abc"] == "" and "withheld by scoring (too_few_events)" in rows[first]["note"]
    assert rows[first]["manual_abc"] != ""  # the lab's gate still measured it
    for name, row in rows.items():
        if name != first and samples[name]["hladr_abc"]:
            assert float(row["assaykit_abc"]) == pytest.approx(float(samples[name]["hladr_abc"]), rel=1e-6)
    data = with_comparisons(gather(None, [out]), [tmp_path / "scored-agreement"])
    assert first not in {p.file for p in data.pairs} and len(data.pairs) == len(data.tubes) >= 1
