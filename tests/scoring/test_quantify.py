"""MFI to AB/C for a gated sample, and the QC findings of pairing it with its bead tube."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import pytest

from assaykit import read_fcs
from assaykit.beads import calibrate_file, load_lot
from assaykit.findings import FindingCode
from assaykit.gating import apply_strategy, load_strategy, measure
from assaykit.scoring.quantify import calibrate_readout, pairing_findings, sample_voltage


@pytest.fixture(scope="module")
def calibration(simulated_run: Path):
    return calibrate_file(simulated_run / "Specimen_001_H12_H12.fcs", load_lot(simulated_run / "beads_lot.yaml")
                          ).calibration


def test_abc_matches_truth_for_every_sample(simulated_run: Path, calibration) -> None:
    strategy = load_strategy()
    with open(simulated_run / "truth.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["role"] == "sample"]
    for row in rows:
        sample = read_fcs(simulated_run / row["file"])
        readout = measure(apply_strategy(sample, strategy), strategy)
        result = calibrate_readout(readout, calibration, sample)
        assert result.unit == "AB/C"
        assert result.value == pytest.approx(float(row["true_abc"]), rel=0.03), row["file"]
        assert result.findings == ()


def test_pairing_findings_channel_and_voltage(simulated_run: Path, calibration) -> None:
    sample = read_fcs(simulated_run / "Specimen_001_A1_A01.fcs")
    assert pairing_findings(calibration, "PE-A", sample_voltage(sample, "PE-A")) == []
    (channel,) = pairing_findings(calibration, "FL2-H")
    assert (channel.code, channel.severity) == (FindingCode.BEAD_CHANNEL_MISMATCH, "error")
    assert channel.message == "beads were read in PE-A, the sample's readout in FL2-H"
    keywords = {**sample.keywords, "$P4V": "520"}
    voltage = sample_voltage(replace(sample, keywords=keywords), "PE-A")
    (found,) = pairing_findings(replace(calibration, voltage="480"), "PE-A", voltage)
    assert found.code == FindingCode.VOLTAGE_MISMATCH
    assert found.message == "PE-A voltage 520 differs from the bead tube's 480"


def test_extrapolation_and_non_positive_mfi(simulated_run: Path, calibration) -> None:
    strategy = load_strategy()
    sample = read_fcs(simulated_run / "Specimen_001_A1_A01.fcs")
    readout = measure(apply_strategy(sample, strategy), strategy)
    low = calibrate_readout(replace(readout, median=50.0), calibration, sample)
    assert low.value == pytest.approx(calibration.convert(50.0))
    assert [f.code for f in low.findings] == [FindingCode.EXTRAPOLATED_LOW]
    assert low.qc_flags[0].startswith("MFI 50 below the dimmest bead used")  # the message shown
    none = calibrate_readout(replace(readout, median=-2.0), calibration, sample)
    assert none.value is None and [f.code for f in none.findings] == [FindingCode.MFI_NOT_POSITIVE]
