"""The simulator's ground truth checked by independent computation on the files it writes."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from assaykit import read_fcs
from assaykit.simulate import (
    CHANNELS,
    MONOCYTE_LABELS,
    QUANTIBRITE_EXAMPLE_LOT,
    STYLES,
    Instrument,
    RunSpec,
    Scenario,
    drug_abc,
    simulate_beads,
    simulate_blood,
    write_run,
    write_tube,
)


def _truth(folder: Path) -> list[dict]:
    with open(folder / "truth.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _compensated(sample) -> np.ndarray:
    spill = sample.spillover
    columns = [sample.channels.index(c) for c in spill.channels]
    out = sample.events.astype(np.float64).copy()
    out[:, columns] = out[:, columns] @ np.linalg.inv(spill.matrix)
    return out


def test_run_layout(simulated_run: Path) -> None:
    truth = _truth(simulated_run)
    assert len(truth) == 5 and truth[-1]["role"] == "beads"
    with open(simulated_run / "plate_map.csv", newline="") as handle:
        plate = list(csv.DictReader(handle))
    assert [r["file"] for r in plate] == [r["file"] for r in truth]
    assert {r["condition"] for r in plate if r["role"] == "sample"} == {"unstimulated", "IFN-gamma"}
    for row in plate:
        sample = read_fcs(simulated_run / row["file"])
        assert sample.version == "3.1" and sample.channels == CHANNELS
        assert sample.keywords["WELL ID"] == row["well"]
        assert f"_{row['well']}_" in row["file"]
        assert sample.spillover is not None and sample.spillover.channels == ("PE-A", "PerCP-Cy5-5-A")
    legend = json.loads((simulated_run / "labels.json").read_text())
    assert legend["4"] == "monocyte" and legend["3"] == "b_cell"


def test_truth_matches_the_events(simulated_run: Path) -> None:
    instrument = Instrument()
    for row in _truth(simulated_run)[:-1]:
        sample = read_fcs(simulated_run / row["file"])
        labels = np.load(simulated_run / row["file"].replace(".fcs", ".labels.npy"))
        assert labels.shape == (sample.n_events,)
        monocytes = np.isin(labels, MONOCYTE_LABELS)
        assert monocytes.sum() == int(row["true_monocytes"])
        pe = _compensated(sample)[monocytes, CHANNELS.index("PE-A")]
        measured = float(instrument.molecules(np.median(pe)))
        assert measured == pytest.approx(float(row["true_abc"]), rel=0.03)


def test_b_cells_are_hladr_bright_and_cd14_negative_after_compensation(simulated_run: Path) -> None:
    row = _truth(simulated_run)[0]
    sample = read_fcs(simulated_run / row["file"])
    labels = np.load(simulated_run / row["file"].replace(".fcs", ".labels.npy"))
    comp = _compensated(sample)
    b, mono = labels == 3, labels == 4
    pe, cd14 = CHANNELS.index("PE-A"), CHANNELS.index("PerCP-Cy5-5-A")
    assert np.median(comp[b, pe]) > 2 * np.median(comp[mono, pe])
    assert np.median(comp[b, cd14]) < 0.05 * np.median(comp[mono, cd14])
    # uncompensated, PE spillover lifts the B cells in the CD14 detector: compensation matters
    assert np.median(sample.events[b, cd14]) > 5 * np.median(comp[b, cd14])


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    spec = RunSpec(patients=1, conditions=("unstimulated", "GM-CSF"), events=2000, seed=5)

    def digest(folder: Path) -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}

    first = digest(write_run(tmp_path / "a", spec))
    second = digest(write_run(tmp_path / "b", spec))
    assert first == second and len(first) == 12  # 3 FCS + 3 labels + 5 tables + run.yaml
    other = digest(write_run(tmp_path / "c", RunSpec(patients=1, conditions=("unstimulated", "GM-CSF"),
                                                      events=2000, seed=6)))
    assert other["plate_map.csv"] == first["plate_map.csv"]
    assert other["truth.csv"] != first["truth.csv"]


def test_bead_peaks_follow_the_instrument_response() -> None:
    instrument = Instrument()
    tube = simulate_beads(QUANTIBRITE_EXAMPLE_LOT, np.random.default_rng(3), 20000, instrument)
    singles = tube.labels == 9
    pe = tube.events[singles, CHANNELS.index("PE-A")].astype(np.float64)
    expected = instrument.signal(np.array(QUANTIBRITE_EXAMPLE_LOT))
    edges = np.sqrt(expected[:-1] * expected[1:])
    peaks = np.split(np.sort(pe), np.searchsorted(np.sort(pe), edges))
    medians = np.array([np.median(p) for p in peaks])
    np.testing.assert_allclose(medians, expected, rtol=0.03)


def test_scenario_fractions_and_doublets() -> None:
    tube = simulate_blood(Scenario(n_events=50000, monocyte_fraction=0.01, doublet_fraction=0.08,
                                   immature_granulocyte_fraction=0.05), np.random.default_rng(2))
    fractions = np.bincount(tube.labels, minlength=11) / tube.labels.size
    assert fractions[1] == pytest.approx(0.08, abs=0.002)
    assert fractions[4] + fractions[5] == pytest.approx(0.01 * 0.92, rel=0.15)
    assert fractions[8] == pytest.approx(0.05 * 0.92, rel=0.1)
    singles = tube.labels != 1
    ratio = tube.events[:, 1] / tube.events[:, 0]
    assert np.median(ratio[singles]) > 1.4 * np.median(ratio[~singles])


def test_restoration_model() -> None:
    assert drug_abc(3000, "unstimulated", 1.0) == 3000
    assert drug_abc(3000, "IFN-gamma", 1.0) > drug_abc(3000, "GM-CSF", 1.0) > drug_abc(3000, "IL-7", 1.0) > 3000
    # ceiling effect: near-normal monocytes barely respond
    assert drug_abc(50000, "IFN-gamma", 1.0) / 50000 < 1.5


def test_navios_style_integer_channels(tmp_path: Path) -> None:
    tube = simulate_blood(Scenario(n_events=5000), np.random.default_rng(8))
    sample = read_fcs(write_tube(tmp_path / "n.fcs", tube, style="navios"))
    assert sample.version == "3.0" and sample.keywords["$DATATYPE"] == "I"
    assert sample.channels == ("FS INT", "FS PEAK", "SS INT", "FL2 INT", "FL4 INT", "TIME")
    assert sample.markers[3:5] == ("HLA-DR-PE", "CD14-PC5.5")
    assert sample.channel_ranges() == (1048576.0,) * 6
    # integers: 4 x the Canto values, rounded and kept within 0 .. 2^20 - 1; a detector at the
    # Canto's top (262,143) at the Navios's (2^20 - 1, as a real Gallios copy stores it)
    expected = np.clip(np.rint(4.0 * tube.events[:, :5].astype(np.float64)), 0, 1048575)
    expected[tube.events[:, :5] >= 262143] = 1048575
    assert (tube.events[:, :5] >= 262143).any()
    np.testing.assert_array_equal(sample.raw[:, :5], expected)


def test_calibur_style_log_amplified_heights(tmp_path: Path) -> None:
    instrument = Instrument()
    tube = simulate_blood(Scenario(n_events=5000), np.random.default_rng(9))
    sample = read_fcs(write_tube(tmp_path / "c.fcs", tube, instrument=instrument, style="calibur"))
    assert sample.version == "2.0" and sample.channels == ("FSC-H", "SSC-H", "FL2-H", "FL3-H", "Time")
    assert "$SPILLOVER" not in sample.keywords  # compensated in hardware
    assert sample.scale_tops()[2] == pytest.approx(1e4)
    # 1024 channels over 4 decades: the scale value is 10^(4 x channel / 1024)
    np.testing.assert_allclose(sample.events[:, 2], 10 ** (4 * sample.raw[:, 2].astype(np.float64) / 1024), rtol=1e-6)
    compensated = tube.events[:, 3:5].astype(np.float64) @ np.linalg.inv(instrument.spillover())
    pe = compensated[:, 0] / 30
    bright = pe > 10  # above the first decade, within half a channel (0.45 %) of the true value
    np.testing.assert_allclose(sample.events[bright, 2], pe[bright], rtol=0.0046)


def test_fc500_style_as_cxp_writes_it(tmp_path: Path) -> None:
    # the FCS 2.0 dataset of the corpus's coulter.lmd: 10-bit words, $PnS = $PnN, log channels
    # $PnE = 4.0,0.1024 (values 0.1024-1,024), compensation applied at acquisition ($DFCnTOm, %)
    instrument = Instrument()
    tube = simulate_blood(Scenario(n_events=5000), np.random.default_rng(10))
    sample = read_fcs(write_tube(tmp_path / "f.fcs", tube, instrument=instrument, style="fc500"))
    assert sample.version == "2.0" and sample.keywords["$CYT"] == "Cytomics FC 500"
    assert sample.channels == ("FS Lin", "SS Log", "FL2 Log", "FL4 Log") and sample.markers == sample.channels
    assert [sample.keywords[f"$P{n}E"] for n in range(1, 5)] == ["0,0", "4.0,0.1024", "4.0,0.1024", "4.0,0.1024"]
    assert sample.raw.max() <= 1023 and sample.keywords["$P1B"] == "16"
    assert "$SPILLOVER" not in sample.keywords and sample.keywords["$DFC2TO4"] == "12.00"
    assert sample.scale_tops()[1:] == pytest.approx((1024.0,) * 3)
    np.testing.assert_allclose(sample.events[:, 1], 0.1024 * 10 ** (4 * sample.raw[:, 1].astype(np.float64) / 1024),
                               rtol=1e-6)
    # FL2 Log: the compensated PE signal / 256, within half a channel (0.45 %) above the first decade
    compensated = tube.events[:, 3:5].astype(np.float64) @ np.linalg.inv(instrument.spillover())
    pe = compensated[:, 0] / 256
    bright = pe > 1.024
    np.testing.assert_allclose(sample.events[bright, 2], pe[bright], rtol=0.0046)
    # FS Lin: linear, the Canto FSC-A / 256
    np.testing.assert_array_equal(sample.raw[:, 0], np.clip(np.rint(tube.events[:, 0] / 256.0), 0, 1023))


def _datasets(path: Path) -> list[tuple[str, dict[str, str], int]]:
    """(version, TEXT keywords, first byte) of each dataset of a file, parsed here byte by byte
    (not by assaykit's reader): HEADER offsets, the TEXT's own delimiter, $NEXTDATA."""
    data = path.read_bytes()
    found, start = [], 0
    while True:
        header = data[start:start + 58].decode("ascii")
        text_start, text_end = int(header[10:18]), int(header[18:26])
        text = data[start + text_start:start + text_end + 1].decode("latin-1")
        delimiter = text[0]
        fields = text[1:-1].replace(delimiter * 2, "\0").split(delimiter)
        pairs = zip(fields[::2], fields[1::2], strict=True)
        keywords = {k.replace("\0", delimiter): v.replace("\0", delimiter) for k, v in pairs}
        found.append((header[3:6], keywords, start))
        if int(keywords["$NEXTDATA"]) == 0:
            return found
        start += int(keywords["$NEXTDATA"])


def test_navios_lmd_style_as_the_corpus_lmd_files_are_laid_out(tmp_path: Path) -> None:
    # the Gallios/FC500 LMD layout (corpus): an FCS 2.0 dataset (backslash-delimited TEXT, 16-bit words of
    # 10-bit values, $PnR 1024, log channels $PnE ' 4.0,0.1024', the protocol's labels, $CYT/$DATE/$FIL,
    # $DFCnTOm), then at $NEXTDATA the FCS 3.0 copy (32-bit, $PnR 1048576, $PnE 0,0, DATA before TEXT,
    # FS-A ... names without $PnS, $SPILLOVER by parameter number)
    instrument = Instrument()
    tube = simulate_blood(Scenario(n_events=5000), np.random.default_rng(11))
    path = write_tube(tmp_path / "n.LMD", tube, instrument=instrument, style="navios-lmd")
    (v0, first, _), (v1, copy, offset) = _datasets(path)
    assert (v0, v1) == ("2.0", "3.0") and first["$TOT"] == copy["$TOT"] == "5000"
    assert [first[f"$P{n}N"] for n in range(1, 7)] == ["FS INT LIN", "FS PEAK LIN", "SS INT LIN", "FL2 INT LOG",
                                                       "FL4 INT LOG", "TIME"]
    assert [first.get(f"$P{n}S") for n in (4, 5)] == ["HLA-DR PE", "CD14 PC5.5"]
    assert [first[f"$P{n}E"] for n in range(1, 7)] == ["0,0"] * 3 + [" 4.0,0.1024"] * 2 + ["0,0"]
    assert {first[f"$P{n}R"] for n in range(1, 7)} == {"1024"} and first["$BYTEORD"] == "1,2"
    assert first["$CYT"] == "Navios" and first["$DFC2TO4"] == "12.00" and first["$DFC4TO2"] == "0.40"
    assert [copy[f"$P{n}N"] for n in range(1, 7)] == ["FS-A", "FS-H", "SS-A", "FL2-A", "FL4-A", "TIME"]
    assert not any(k.startswith("$P") and k.endswith("S") for k in copy) and "$CYT" not in copy
    assert {copy[f"$P{n}R"] for n in range(1, 7)} == {"1048576"} and copy["$BYTEORD"] == "1,2,3,4"
    assert copy["$SPILLOVER"] == "2,4,5,1.000,0.120,0.004,1.000"
    assert int(copy["$BEGINDATA"]) == 58 and int(path.read_bytes()[offset + 10:offset + 18]) > int(copy["$ENDDATA"])
    # assaykit reads the copy by default, labelled from the 2.0 dataset, with its instrument and date
    sample = read_fcs(path)
    assert sample.dataset == 1 and sample.markers[3:5] == ("HLA-DR PE", "CD14 PC5.5")
    assert sample.keywords["$CYT"] == "Navios" and sample.spillover.channels == ("FL2-A", "FL4-A")
    expected = np.clip(np.rint(4.0 * tube.events[:, :5].astype(float)), 0, 1048575)
    expected[tube.events[:, :5] >= 262143] = 1048575  # a saturated detector at the top, as the Gallios copy stores it
    np.testing.assert_array_equal(sample.raw[:, :5], expected)
    # the 2.0 dataset: scatter = copy // 1024; fluorescence within one channel (0.9 %) of the copy / 1024
    low = read_fcs(path, dataset=0)
    np.testing.assert_array_equal(low.raw[:, 0], sample.raw[:, 0] // 1024)
    bright = sample.raw[:, 3] > 2000
    np.testing.assert_allclose(low.events[bright, 3], sample.raw[bright, 3] / 1024, rtol=0.0091)
    # FlowIO (an independent reader) reads both datasets, value for value
    import flowio

    first_io, copy_io = flowio.read_multiple_data_sets(str(path))
    np.testing.assert_array_equal(copy_io.as_array(preprocess=False), sample.raw)
    np.testing.assert_array_equal(first_io.as_array(preprocess=False), low.raw)
    assert [c["pne"] for c in first_io.channels.values()] == [(0.0, 0.0)] * 3 + [(4.0, 0.1024)] * 2 + [(0.0, 0.0)]


@pytest.mark.parametrize("style", ["canto", "navios", "calibur", "fc500", "navios-lmd"])
def test_truth_calibration_in_each_style(tmp_path: Path, style: str) -> None:
    # truth.csv's slope and intercept turn the style's own PE values into AB/C
    folder = write_run(tmp_path / style, RunSpec(patients=1, conditions=("unstimulated",), events=20000, seed=3,
                                                  style=style))
    row = _truth(folder)[0]
    sample = read_fcs(folder / row["file"])
    labels = np.load(folder / (Path(row["file"]).stem + ".labels.npy"))
    pe = sample.events[np.isin(labels, MONOCYTE_LABELS), sample.channels.index(STYLES[style].channels[3])]
    if style not in ("calibur", "fc500"):  # compensate PE for the PerCP-Cy5.5 spillover as the file says
        percp = sample.events[np.isin(labels, MONOCYTE_LABELS), sample.channels.index(STYLES[style].channels[4])]
        spill = Instrument().spillover()
        pe = np.linalg.solve(spill.T, np.vstack([pe, percp]))[0]
    abc = 10 ** (float(row["calibration_slope"]) * np.log10(np.median(pe)) + float(row["calibration_intercept"]))
    assert abc == pytest.approx(float(row["true_abc"]), rel=0.03)


def test_simulate_force_names_the_fcs_files_it_left_from_before(tmp_path: Path) -> None:
    """--force rewrites its own files and keeps the others; FCS files of an earlier, larger
    simulation are named (score reads every *.fcs of the folder), and none is changed."""
    from typer.testing import CliRunner

    from assaykit.cli import app

    folder = tmp_path / "run"
    first = CliRunner().invoke(app, ["simulate", str(folder), "--patients", "2", "--events", "2000"])
    assert first.exit_code == 0, first.output
    before = {p.name: p.read_bytes() for p in folder.glob("*.fcs")}
    second = CliRunner().invoke(app, ["simulate", str(folder), "--patients", "1", "--events", "2000", "--force"])
    assert second.exit_code == 0, second.output
    with open(folder / "plate_map.csv", newline="") as handle:
        written = {row["file"] for row in csv.DictReader(handle)}  # the tubes of the new run
    left = sorted(set(before) - written)
    assert len(left) == 4 and f"left {len(left)} FCS file(s) from before" in second.output
    assert all(name in second.output for name in left)
    assert all((folder / name).read_bytes() == before[name] for name in left)


# --- the third marker (issue 29) -----------------------------------------------------------------


def test_no_third_marker_draws_what_it_always_drew() -> None:
    # pinned before the third marker existed (sha256 of the events and labels of one tube): a tube
    # without one, and so every earlier simulated run, is byte-identical
    tube = simulate_blood(Scenario(n_events=3000), np.random.default_rng(7))
    assert hashlib.sha256(tube.events.tobytes()).hexdigest()[:16] == "17ee58e93852e4bb"
    assert hashlib.sha256(tube.labels.tobytes()).hexdigest()[:16] == "1105bd92b5d61f11"
    assert tube.events.shape[1] == len(CHANNELS) and tube.third_marker == ""


def test_run_without_third_marker_writes_the_simulation_json_it_always_did(tmp_path: Path) -> None:
    folder = write_run(tmp_path / "run", RunSpec(patients=1, conditions=("unstimulated",), events=2000))
    assert "third_marker" not in json.loads((folder / "simulation.json").read_text())
    marked = write_run(tmp_path / "cd15", RunSpec(patients=1, conditions=("unstimulated",), events=2000,
                                                  third_marker="CD15"))
    assert json.loads((marked / "simulation.json").read_text())["third_marker"] == "CD15"
    sample = read_fcs(marked / "Specimen_001_A1_A01.fcs")
    assert sample.channels[5] == "FITC-A" and sample.markers[5] == "CD15 FITC" and sample.channels[-1] == "Time"
    assert sample.spillover.channels == ("PE-A", "PerCP-Cy5-5-A", "FITC-A")


def test_third_marker_changes_only_its_column_and_the_spill() -> None:
    plain = simulate_blood(Scenario(n_events=20000), np.random.default_rng(3))
    marked = simulate_blood(Scenario(n_events=20000, third_marker="CD15"), np.random.default_rng(3))
    assert np.array_equal(plain.labels, marked.labels) and plain.true_abc_median == marked.true_abc_median
    assert np.array_equal(plain.events[:, [0, 1, 2, 5]], marked.events[:, [0, 1, 2, 5]])
    # FITC spills 20 % into PE: compensating the three dyes gives back the two-colour PE (electronic noise aside)
    from assaykit.simulate import third_spillover

    compensated = marked.events[:, [3, 4, 6]].astype(np.float64) @ np.linalg.inv(third_spillover("CD15"))
    two = plain.events[:, 3:5].astype(np.float64) @ np.linalg.inv(Instrument().spillover())
    cells = np.isin(plain.labels, (2, 4, 6))
    assert np.median(np.abs(compensated[cells, 0] - two[cells, 0])) < 25  # electronic noise SD 15


@pytest.mark.parametrize("marker,order", [
    # CD15: neutrophils, eosinophils and immature granulocytes bright, monocytes dim, lymphocytes negative
    ("CD15", [(6, 4, 10), (8, 4, 10), (7, 4, 8), (4, 2, 8)]),
    # CD45: lymphocytes brightest, then monocytes, neutrophils, immature granulocytes
    ("CD45", [(2, 4, 1.3), (4, 6, 2.5), (6, 8, 1.6)]),
    # CD16: neutrophils bright, non-classical monocytes positive, classical monocytes and immature granulocytes dim
    ("CD16", [(6, 5, 3), (5, 4, 5), (5, 8, 5), (6, 7, 100)]),  # uncompensated: CD14 PerCP-Cy5.5 spills in
])
def test_third_marker_levels_follow_the_literature(marker: str, order: list[tuple[int, int, float]]) -> None:
    tube = simulate_blood(Scenario(n_events=60000, immature_granulocyte_fraction=0.05, third_marker=marker),
                          np.random.default_rng(4))
    signal = tube.events[:, 6]
    for brighter, dimmer, fold in order:
        ratio = np.median(signal[tube.labels == brighter]) / np.median(signal[tube.labels == dimmer])
        assert ratio >= fold, (marker, brighter, dimmer, ratio)


@pytest.mark.parametrize("style", ["navios", "calibur", "lsr", "fc500"])
def test_third_marker_in_each_style(tmp_path: Path, style: str) -> None:
    tube = simulate_blood(Scenario(n_events=5000, third_marker="CD45"), np.random.default_rng(2))
    sample = read_fcs(write_tube(tmp_path / "t.fcs", tube, style=style))
    channel, label = STYLES[style].third_channel("CD45")
    index = sample.channels.index(channel)
    assert sample.markers[index] == label and "CD45" in label
    values = sample.events[:, index]
    # lymphocytes brighter than neutrophils in every style (log-amplified or not, compensated in hardware or not)
    assert np.median(values[tube.labels == 2]) > np.median(values[tube.labels == 6])


def test_unknown_third_marker_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown third marker 'CD19'"):
        Scenario(third_marker="CD19")
    from typer.testing import CliRunner

    from assaykit.cli import app

    result = CliRunner().invoke(app, ["simulate", str(tmp_path / "x"), "--third-marker", "CD19"])
    assert result.exit_code == 2 and "--third-marker must be one of CD15, CD16, CD45" in result.output
    assert not (tmp_path / "x").exists()
    lmd = CliRunner().invoke(app, ["simulate", str(tmp_path / "y"), "--third-marker", "CD15",
                                   "--instrument", "navios-lmd"])
    assert lmd.exit_code == 2 and "writes two colours only" in lmd.output and not (tmp_path / "y").exists()


def test_simulate_force_names_the_lmd_files_it_left_from_before(tmp_path: Path) -> None:
    """A Navios run's .LMD files (score reads them) left by a later run over them are named too."""
    from typer.testing import CliRunner

    from assaykit.cli import app

    folder = tmp_path / "run"
    first = CliRunner().invoke(app, ["simulate", str(folder), "--patients", "1", "--conditions", "a,b",
                                     "--events", "2000", "--instrument", "navios-lmd"])
    assert first.exit_code == 0, first.output
    assert sorted(p.name for p in folder.glob("*.LMD")) == ["Specimen_001_A1_A01.LMD", "Specimen_001_A2_A02.LMD",
                                                             "Specimen_001_H12_H12.LMD"]
    second = CliRunner().invoke(app, ["simulate", str(folder), "--patients", "1", "--conditions", "a",
                                      "--events", "2000", "--force"])
    assert second.exit_code == 0, second.output
    assert "left 3 FCS file(s) from before" in second.output and "Specimen_001_A2_A02.LMD" in second.output


def test_fcs2_styles_refuse_more_events_than_an_fcs2_dataset_holds(tmp_path: Path) -> None:
    """FCS 2.0 gives DATA's offsets in the HEADER's 8-digit fields only: a dataset past byte
    99,999,999 could not be found by any reader. The styles writing one (on its own, or first in
    an LMD file) refuse such a run before anything is written; the writer refuses such a dataset."""
    from assaykit.errors import AssayKitError
    from assaykit.fcs.writer import FCS2_MAX_DATA_BYTES, integer_dataset

    for style, most in (("navios-lmd", 8_250_000), ("calibur", 9_900_000), ("fc500", 12_375_000)):
        with pytest.raises(AssayKitError, match=f"holds at most {most:,} events"):
            write_run(tmp_path / style, RunSpec(events=most + 1, style=style))
        assert not (tmp_path / style).exists()
    huge = np.broadcast_to(np.zeros(1, dtype=np.uint16), (FCS2_MAX_DATA_BYTES // 2 + 1, 1))  # no memory
    with pytest.raises(ValueError, match=r"an FCS 2\.0 dataset holds at most 99,000,000 bytes"):
        integer_dataset(huge, ["FL1"], version="2.0")
    assert integer_dataset(huge[:10], ["FL1"], version="2.0").startswith(b"FCS2.0")


def test_flowkit_reads_the_navios_lmd_as_it_reads_the_real_gallios_file(tmp_path: Path, corpus: Path) -> None:
    """FlowKit (another independent reader) refuses a two-dataset file as a Sample of its own, the
    simulated LMD as the corpus's real Gallios file, and reads each dataset FlowIO splits off: the
    2.0 dataset's names and labels, the copy's values as assaykit reads them."""
    flowkit = pytest.importorskip("flowkit", reason="FlowKit is in the bench extra, not a runtime dependency")
    import flowio

    tube = simulate_blood(Scenario(n_events=3000), np.random.default_rng(12))
    path = write_tube(tmp_path / "n.LMD", tube, style="navios-lmd")
    for lmd in (path, corpus / "cytoflow" / "instruments" / "Beckman Coulter - Gallios.LMD"):
        with pytest.raises(flowio.exceptions.MultipleDataSetsError):
            flowkit.Sample(str(lmd))
    first, copy = (flowkit.Sample(data) for data in flowio.read_multiple_data_sets(str(path)))
    assert first.pnn_labels == ["FS INT LIN", "FS PEAK LIN", "SS INT LIN", "FL2 INT LOG", "FL4 INT LOG", "TIME"]
    assert first.pns_labels[3:5] == ["HLA-DR PE", "CD14 PC5.5"]
    assert copy.version == "3.0" and copy.pnn_labels == ["FS-A", "FS-H", "SS-A", "FL2-A", "FL4-A", "TIME"]
    np.testing.assert_array_equal(copy.get_events(source="raw"), read_fcs(path).raw)
