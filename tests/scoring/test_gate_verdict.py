"""``gate --beads`` and ``score`` judge a tube's AB/C by one rule (verdicts.tube_status): an error
finding of the tube (beads read on another channel ...) withholds it in both, not only a withheld
calibration. And a file whose $NEXTDATA chain is broken is refused as damaged."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assaykit import FCSFormatError
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
def test_a_broken_nextdata_chain_is_refused(lmd_run: Path, tmp_path: Path, value: bytes, why: str) -> None:
    # a damaged LMD file (its chain broken, or cut after its FCS 2.0 dataset by an interrupted copy)
    # was read from its 10-bit 2.0 dataset, uncompensated: with its bead file damaged alike the AB/C
    # read 5.6 % high as reportable (the re-check of issue 29); now refused in one line
    good = read_fcs(lmd_run / "Specimen_001_A1_A01.LMD")
    assert (good.version, good.dataset, good.n_datasets) == ("3.0", 1, 2)
    assert any(n.startswith("read dataset 2 (FCS 3.0, $TOT 20000) of 2") for n in good.notes)
    broken = _nextdata(lmd_run / "Specimen_001_A1_A01.LMD", tmp_path / "x.LMD", value)
    with pytest.raises(FCSFormatError, match=re.escape(why) + ".*the file is damaged"):
        read_fcs(broken)
    shown = CliRunner().invoke(app, ["inspect", str(broken)])
    assert shown.exit_code == 2 and why in shown.output and "the file is damaged" in shown.output


def test_a_cut_lmd_pair_is_refused_not_read_high(lmd_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    for f in lmd_run.iterdir():
        (run / f.name).write_bytes(f.read_bytes())
    for name in ("Specimen_001_A1_A01.LMD", "Specimen_001_H12_H12.LMD"):  # cut after the FCS 2.0 dataset
        blob = (run / name).read_bytes()
        second = int(re.search(rb"\\\$NEXTDATA\\(\d+)\\", blob).group(1))
        (run / name).write_bytes(blob[:second])
    scored = CliRunner().invoke(app, ["score", str(run), "--out", str(tmp_path / "out"), "--no-report",
                                      "--ledger", str(tmp_path / "l.sqlite")])
    assert scored.exit_code != 0 and "the file is damaged" in scored.output, scored.output


def test_gate_withholds_what_score_withholds(tmp_path: Path, lmd_run: Path) -> None:
    # a Navios tube (HLA-DR on FL2-A) against a Canto bead tube (PE on PE-A): score withholds it
    # (bead_channel_mismatch); gate printed the AB/C, exit 0, judging only the calibration
    canto = write_run(tmp_path / "canto", RunSpec(patients=1, conditions=("unstimulated",), seed=3))
    tube, beads, lot = (lmd_run / "Specimen_001_A1_A01.LMD", canto / "Specimen_001_H12_H12.fcs",
                        canto / "beads_lot.yaml")
    runner = CliRunner()
    gated = runner.invoke(app, ["gate", str(tube), "--beads", str(beads), "--lot", str(lot), "--json"])
    assert gated.exit_code == 1, gated.output
    doc = json.loads(gated.output)
    assert doc["calibrated"]["value"] is None and doc["calibrated"]["withheld"] == ["bead_channel_mismatch"]
    assert doc["calibration_verdict"]["status"] == "reportable"  # the beads themselves are fine
    text = runner.invoke(app, ["gate", str(tube), "--beads", str(beads), "--lot", str(lot)])
    assert text.exit_code == 1 and "median: - AB/C" in text.output and "withheld: bead_channel_mismatch" in text.output


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
