"""The default strategy on tubes written as a Beckman Coulter FC500 and Navios write them, as
CellQuest labels them and as R renames them (issue 29): the accuracy grid against the
simulator's labels, the same gate whatever the names, and the refusals."""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from assaykit import GatingError, read_fcs
from assaykit.fcs.writer import write_fcs
from assaykit.gating import apply_strategy, load_strategy
from assaykit.simulate import (
    CHANNELS,
    LABELS,
    MONOCYTE_LABELS,
    STYLES,
    Instrument,
    InstrumentStyle,
    Scenario,
    _keywords,
    simulate_blood,
    specimen_scenario,
    write_tube,
)

CODES = {name: code for code, name in LABELS.items()}
# a Navios whose protocol names no markers: every $PnS restates its channel
NAVIOS_PLAIN = replace(STYLES["navios"], name="navios-plain", markers=("FS INT", "FS PEAK", "SS INT", "FL2 INT",
                                                                        "FL4 INT", "TIME"))
# a Navios list-mode file whose protocol names no markers: its FCS 2.0 dataset's labels restate the channels
NAVIOS_LMD_PLAIN = replace(STYLES["navios-lmd"], name="navios-lmd-plain", markers=STYLES["navios-lmd"].lmd_channels)
# a FACSCalibur file as CellQuest labels it: FSC-H 'FSC-H', SSC-H 'SSC-H'
CELLQUEST = replace(STYLES["calibur"], name="cellquest", markers=("", "FSC-H", "SSC-H", "FL2-H", "FL3-H", "Time"))

# (scenario, style, lowest F1): the FC500 records no pulse height (doublets stay, as on a
# FACSCalibur) and its 10-bit log channels step by 0.9 %
GRID = [
    (Scenario(n_events=100000, monocyte_fraction=0.07, monocyte_abc=500), "fc500", 0.97),
    (Scenario(n_events=100000, monocyte_fraction=0.07, monocyte_abc=60000), "fc500", 0.97),
    (Scenario(n_events=100000, monocyte_fraction=0.02, monocyte_abc=5000, doublet_fraction=0.01), "fc500", 0.97),
    (Scenario(n_events=100000, monocyte_fraction=0.15, monocyte_abc=5000, nonclassical_fraction=0.15,
              cd14_shift_decades=0.3), "fc500", 0.97),
    (Scenario(n_events=100000, monocyte_fraction=0.005, monocyte_abc=2000, nonclassical_fraction=0.0), "fc500", 0.95),
    (specimen_scenario("pbmc", n_events=60000, monocyte_fraction=0.2, monocyte_abc=3000), "fc500", 0.95),
    (Scenario(n_events=100000, monocyte_fraction=0.07, monocyte_abc=3000), NAVIOS_PLAIN, 0.97),
    (Scenario(n_events=100000, monocyte_fraction=0.02, monocyte_abc=20000, doublet_fraction=0.08), NAVIOS_PLAIN, 0.97),
    # a Navios LMD file read by default: its FCS 3.0 copy (FS-A ... FL4-A), CD14 found only through the label
    # 'CD14 PC5.5' carried from the FCS 2.0 dataset, compensated by the copy's $SPILLOVER (by parameter number)
    (Scenario(n_events=100000, monocyte_fraction=0.07, monocyte_abc=500), "navios-lmd", 0.97),
    (Scenario(n_events=100000, monocyte_fraction=0.07, monocyte_abc=60000), "navios-lmd", 0.97),
    (Scenario(n_events=100000, monocyte_fraction=0.02, monocyte_abc=20000, doublet_fraction=0.08), "navios-lmd", 0.97),
    (Scenario(n_events=100000, monocyte_fraction=0.15, monocyte_abc=5000, nonclassical_fraction=0.15,
              cd14_shift_decades=0.3), "navios-lmd", 0.97),
    (Scenario(n_events=100000, monocyte_fraction=0.005, monocyte_abc=2000, nonclassical_fraction=0.0), "navios-lmd",
     0.95),
    (specimen_scenario("pbmc", n_events=60000, monocyte_fraction=0.2, monocyte_abc=3000), "navios-lmd", 0.95),
]


@functools.cache
def _tube(scenario: Scenario, seed: int):
    return simulate_blood(scenario, np.random.default_rng(seed))


def _gate(path: Path):
    return apply_strategy(read_fcs(path), load_strategy())


@pytest.mark.parametrize("seed", range(len(GRID)))
def test_accuracy_on_beckman_styles(tmp_path: Path, seed: int) -> None:
    scenario, style, lowest_f1 = GRID[seed]
    tube = _tube(scenario, 700 + seed)
    result = _gate(write_tube(tmp_path / "t.fcs", tube, style=style))
    name = style if isinstance(style, str) else style.name
    expected = {"fc500": {"FSC-A": "FS Lin", "SSC-A": "SS Log", "CD14": "FL4 Log", "HLA-DR": "FL2 Log"},
                "navios-lmd": {"FSC-A": "FS-A", "FSC-H": "FS-H", "SSC-A": "SS-A", "CD14": "FL4-A", "HLA-DR": "FL2-A"},
                }.get(name, {"FSC-A": "FS INT", "FSC-H": "FS PEAK", "SSC-A": "SS INT", "CD14": "FL4 INT",
                             "HLA-DR": "FL2 INT"})
    assert result.channels == expected
    if name == "navios-lmd":
        assert result.compensation == "$SPILLOVER (2 channels)" and result.frame.compensated("HLA-DR")
    gated, truth = result.masks["monocytes"], np.isin(tube.labels, MONOCYTE_LABELS)
    f1 = 2 * (gated & truth).sum() / (gated.sum() + truth.sum())
    pe = result.frame.scale("HLA-DR")
    error = np.median(pe[gated]) / np.median(pe[truth]) - 1
    assert f1 >= lowest_f1, (name, scenario, f1)
    assert abs(error) <= 0.02, (name, scenario, error)
    assert not (gated & (tube.labels == CODES["b_cell"])).any()


def test_cellquest_labels_gate_as_the_unlabelled_file(tmp_path: Path) -> None:
    # FSC-H labelled 'FSC-H' was refused before (Why 2); now the gate is the unlabelled file's, event for event
    tube = _tube(Scenario(n_events=50000, monocyte_fraction=0.07, monocyte_abc=4000), 20)
    plain = _gate(write_tube(tmp_path / "plain.fcs", tube, style="calibur"))
    labelled_sample = read_fcs(write_tube(tmp_path / "cq.fcs", tube, style=CELLQUEST))
    assert labelled_sample.markers[0] == "FSC-H"
    labelled = apply_strategy(labelled_sample, load_strategy())
    assert labelled.channels == plain.channels
    for name, mask in plain.masks.items():
        np.testing.assert_array_equal(labelled.masks[name], mask, err_msg=name)


def test_r_dotted_names_gate_as_the_facsdiva_file(tmp_path: Path) -> None:
    # flowCore's names (FSC.A, PerCP.Cy5.5.A), its SPILL naming the channels as FACSDiva did (Why 3)
    tube = _tube(Scenario(n_events=50000, monocyte_fraction=0.07, monocyte_abc=4000), 21)
    canto = _gate(write_tube(tmp_path / "canto.fcs", tube))
    keywords = _keywords("A1", Instrument(), "r.fcs")
    spill = keywords.pop("$SPILLOVER")
    dotted = [c.replace("-", ".") for c in CHANNELS]
    path = write_fcs(tmp_path / "r.fcs", tube.events, dotted, [""] * len(CHANNELS), {**keywords, "SPILL": spill})
    result = _gate(path)
    assert result.channels == {"FSC-A": "FSC.A", "FSC-H": "FSC.H", "SSC-A": "SSC.A", "CD14": "PerCP.Cy5.5.A",
                               "HLA-DR": "PE.A"}
    assert (result.compensation, canto.compensation) == ("SPILL (2 channels)", "$SPILLOVER (2 channels)")
    assert result.frame.compensated("HLA-DR") and result.frame.compensated("CD14")
    for name, mask in canto.masks.items():
        np.testing.assert_array_equal(result.masks[name], mask, err_msg=name)


@pytest.mark.parametrize(("label", "reason"), [
    ("Lin", "its alias 'FL4 Log' is labelled 'Lin', which names a lineage cocktail"),  # not the amplifier
    ("CD33 PC5", "its alias 'FL4 Log' is labelled 'CD33 PC5', which names CD33"),
])
def test_fc500_alias_labelled_with_another_stain_is_refused(tmp_path: Path, label: str, reason: str) -> None:
    tube = _tube(Scenario(n_events=20000), 22)
    style = replace(STYLES["fc500"], markers=("FS Lin", "", "SS Log", "FL2 Log", label, ""))
    with pytest.raises(GatingError, match=reason):
        _gate(write_tube(tmp_path / "f.fcs", tube, style=style))


@pytest.mark.parametrize("scenario", [
    Scenario(n_events=50000, monocyte_fraction=0.0, b_cell_fraction=0.05),  # no monocytes
    Scenario(n_events=50000, monocyte_fraction=0.07, cd14_shift_decades=2.4),  # CD14 not stained
])
@pytest.mark.parametrize("style", ["fc500", NAVIOS_PLAIN, "navios-lmd"])
def test_no_cd14_bright_cells_is_refused_on_beckman_styles(tmp_path: Path, scenario: Scenario,
                                                           style: str | InstrumentStyle) -> None:
    tube = _tube(scenario, 23)
    with pytest.raises(GatingError, match="monocyte"):
        _gate(write_tube(tmp_path / "none.fcs", tube, style=style))


def test_navios_lmd_whose_fcs2_labels_restate_the_channels_is_refused_naming_cd14(tmp_path: Path) -> None:
    # the copy names detectors only (FL4-A is not a CD14 alias: ECD and PC5.5 sit on FL3/FL4 of a Navios, APC on
    # an Accuri's FL4): with no marker label to carry, CD14 cannot be found, and the one line says so
    tube = _tube(Scenario(n_events=20000), 24)
    path = write_tube(tmp_path / "plain.LMD", tube, style=NAVIOS_LMD_PLAIN)
    with pytest.raises(GatingError) as caught:
        _gate(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    assert "marker 'CD14' not found: no $PnS label names it" in message
    assert "(channels: FS-A, FS-H, SS-A, FL2-A, FL4-A, TIME)" in message
    # the same events with the protocol's labels are gated (the grid above)
    assert _gate(write_tube(tmp_path / "labelled.LMD", tube, style="navios-lmd")).masks["monocytes"].any()


@pytest.mark.parametrize("style", ["fc500", "navios-lmd"])
def test_beckman_run_in_ab_c_through_its_own_bead_tube(tmp_path: Path, style: str) -> None:
    # a whole FC500 or Navios LMD run as simulate writes it: the QuantiBRITE tube read in FL2 Log or FL2-A (the
    # lot file names both), the monocytes' median turned into AB/C within 3 % of the simulated truth
    import csv

    from assaykit.beads import calibrate_file, load_lot
    from assaykit.simulate import RunSpec, write_run

    folder = write_run(tmp_path / style, RunSpec(patients=1, conditions=("unstimulated",), events=40000, seed=4,
                                                  style=style, monocyte_percent=(8.0, 10.0)))
    rows = {row["role"]: row for row in csv.DictReader((folder / "truth.csv").open())}
    calibration = calibrate_file(folder / rows["beads"]["file"], load_lot(folder / "beads_lot.yaml")).calibration
    assert calibration.channel == STYLES[style].channels[3] and calibration.r_squared >= 0.99
    result = _gate(folder / rows["sample"]["file"])
    median = float(np.median(result.frame.scale("HLA-DR")[result.masks["monocytes"]]))
    abc = 10 ** (calibration.slope * np.log10(median) + calibration.intercept)
    assert abc == pytest.approx(float(rows["sample"]["true_abc"]), rel=0.03)


def test_navios_lmd_run_scored_names_its_instrument_and_date(tmp_path: Path) -> None:
    # a whole Navios list-mode run scored as a lab would: every .LMD tube read through its FCS 3.0 copy,
    # CD14 found through the carried label, $CYT and $DATE (in the FCS 2.0 dataset only) in samples.csv,
    # AB/C within 3 % of the truth through the run's own bead tube
    import csv

    from assaykit.scoring import score_run
    from assaykit.simulate import RunSpec, write_run

    folder = write_run(tmp_path / "navios", RunSpec(patients=1, conditions=("unstimulated", "IFN-gamma"), events=40000,
                                                     seed=5, style="navios-lmd", monocyte_percent=(8.0, 10.0)))
    result = score_run(folder, out=tmp_path / "o", jobs=1)
    samples = result.samples.set_index("file")
    assert sorted(samples.index) == ["Specimen_001_A1_A01.LMD", "Specimen_001_A2_A02.LMD", "Specimen_001_H12_H12.LMD"]
    assert set(samples["instrument"]) == {"Navios"} and set(samples["acquisition_date"]) == {"2026-11-22"}
    with open(folder / "truth.csv", newline="") as handle:
        truth = {row["file"]: row for row in csv.DictReader(handle) if row["role"] == "sample"}
    for name, row in truth.items():
        assert samples.loc[name, "error"] == "" and samples.loc[name, "compensation"] == "$SPILLOVER (2 channels)"
        assert samples.loc[name, "hladr_abc"] == pytest.approx(float(row["true_abc"]), rel=0.03), name


def test_every_missing_marker_named_in_one_line(corpus: Path) -> None:
    """An FC500 list-mode file read by default (its FCS 3.0 copy: FS SS FL1 ... FL5, no labels)
    lacks both CD14 and HLA-DR: the one line names CD14 with the names it looked for, then HLA-DR,
    so the lab maps both at once (issue 29 review: one missing marker per run)."""
    with pytest.raises(GatingError) as caught:
        apply_strategy(read_fcs(corpus / "flowkit" / "coulter.lmd"), load_strategy())
    message = caught.value.message
    assert message.startswith("marker 'CD14' not found: no $PnS label names it")
    assert message.endswith("; not found either: 'HLA-DR'") and message.count("not found") == 2
