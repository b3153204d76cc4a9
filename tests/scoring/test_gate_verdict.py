"""``gate --beads`` and ``score`` judge a tube's AB/C by one rule (verdicts.tube_status): an error
finding of the tube (beads read on another channel ...) withholds it in both, not only a withheld
calibration. And a file whose $NEXTDATA chain is broken says which dataset was read, and why."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assaykit.cli import app
from assaykit.fcs import read_fcs
from assaykit.simulate import RunSpec, write_run


@pytest.fixture(scope="module")
def lmd_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_run(tmp_path_factory.mktemp("lmd") / "run",
                     RunSpec(patients=1, conditions=("unstimulated",), style="navios-lmd", seed=3))


def _nextdata(src: Path, dst: Path, value: bytes) -> Path:
    """``src`` with its FCS 2.0 dataset's $NEXTDATA replaced by ``value`` (padded: no offset moves)."""
    blob = bytearray(src.read_bytes())
    found = re.search(rb"\\\$NEXTDATA\\(\d+)\\", blob)
    assert found is not None
    assert len(value) <= len(found.group(1))
    blob[found.start(1):found.end(1)] = value.ljust(len(found.group(1)))
    dst.write_bytes(bytes(blob))
    return dst


@pytest.mark.parametrize(("value", "why"), [(b"-100", "is -100: it points backwards"),
                                            (b"nan", "is not a whole number ('nan')"),
                                            (b"inf", "is not a whole number ('inf')"),
                                            (b"999999", "past the end of the file")])
def test_a_broken_nextdata_chain_is_said(lmd_run: Path, tmp_path: Path, value: bytes, why: str) -> None:
    good = read_fcs(lmd_run / "Specimen_001_A1_A01.LMD")
    assert (good.version, good.dataset, good.n_datasets) == ("3.0", 1, 2)
    assert any(n.startswith("read dataset 2 (FCS 3.0, $TOT 20000) of 2") for n in good.notes)
    broken = read_fcs(_nextdata(lmd_run / "Specimen_001_A1_A01.LMD", tmp_path / "x.LMD", value))
    assert (broken.version, broken.dataset, broken.n_datasets) == ("2.0", 0, 1)
    assert any(why in n and "the chain ends there" in n for n in broken.notes), broken.notes
    shown = CliRunner().invoke(app, ["inspect", str(tmp_path / "x.LMD")])
    assert why in shown.output and "dataset: 1 of 1" in shown.output


def test_gate_withholds_what_score_withholds(lmd_run: Path, tmp_path: Path) -> None:
    # the tube read from its FCS 2.0 dataset (FL2 INT LOG) against beads read on FL2-A: score
    # withholds it (bead_channel_mismatch); gate printed "2 AB/C", exit 0
    run = tmp_path / "run"
    run.mkdir()
    for f in lmd_run.iterdir():
        (run / f.name).write_bytes(f.read_bytes())
    _nextdata(lmd_run / "Specimen_001_A1_A01.LMD", run / "Specimen_001_A1_A01.LMD", b"-100")
    runner = CliRunner()
    gated = runner.invoke(app, ["gate", str(run / "Specimen_001_A1_A01.LMD"), "--beads",
                                str(run / "Specimen_001_H12_H12.LMD"), "--lot", str(run / "beads_lot.yaml"), "--json"])
    assert gated.exit_code == 1, gated.output
    doc = json.loads(gated.output)
    assert doc["calibrated"]["value"] is None and doc["calibrated"]["withheld"] == ["bead_channel_mismatch"]
    assert doc["calibration_verdict"]["status"] == "reportable"  # the beads themselves are fine
    text = runner.invoke(app, ["gate", str(run / "Specimen_001_A1_A01.LMD"), "--beads",
                               str(run / "Specimen_001_H12_H12.LMD"), "--lot", str(run / "beads_lot.yaml")])
    assert text.exit_code == 1 and "median: - AB/C" in text.output and "withheld: bead_channel_mismatch" in text.output
    scored = runner.invoke(app, ["score", str(run), "--out", str(tmp_path / "out"), "--no-report",
                                 "--ledger", str(tmp_path / "l.sqlite")])
    with open(tmp_path / "out" / "samples.csv", newline="") as handle:
        rows = {r["file"]: r for r in csv.DictReader(handle)}
    row = rows["Specimen_001_A1_A01.LMD"]
    assert row["verdict"] == "withheld" and "bead_channel_mismatch" in row["verdict_reasons"], scored.output
    assert row["hladr_abc"] == ""


def test_gate_keeps_a_sound_value(lmd_run: Path) -> None:
    gated = CliRunner().invoke(app, ["gate", str(lmd_run / "Specimen_001_A1_A01.LMD"), "--beads",
                                     str(lmd_run / "Specimen_001_H12_H12.LMD"), "--lot",
                                     str(lmd_run / "beads_lot.yaml"), "--json"])
    assert gated.exit_code == 0, gated.output
    doc = json.loads(gated.output)
    with open(lmd_run / "truth.csv", newline="") as handle:
        truth = {r["file"]: r for r in csv.DictReader(handle)}
    assert doc["calibrated"]["withheld"] == [] and doc["calibrated"]["value"] is not None
    assert doc["calibrated"]["value"] == pytest.approx(float(truth["Specimen_001_A1_A01.LMD"]["true_abc"]),
                                                       rel=0.1)
