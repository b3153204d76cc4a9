"""Bead calibration: lot files, peak finding, assignment and fit, against the simulator's true
detector response and against real bead files (FlowCal, cytoflow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assaykit import read_fcs
from assaykit.beads import (
    calibrate_file,
    calibrate_peaks,
    find_peaks,
    fit_line,
    load_lot,
    lot_from_options,
    make_lot,
)
from assaykit.beads.peaks import Peak, peak_median
from assaykit.errors import CalibrationError, GatingError
from assaykit.fcs import Marker, find_fluorochrome_channel
from assaykit.findings import FindingCode
from assaykit.simulate import QUANTIBRITE_EXAMPLE_LOT, STYLES, Instrument, simulate_beads, write_tube

RAINBOW_MEFL_AJ01 = (0, 792, 2079, 6588, 16471, 47497, 137049, 271647)
RAINBOW_MEFL_AK02 = (0, 771, 2106, 6262, 15183, 45292, 136258, 291042)
# Spherotech RCP-30-5A lots AA01-AA04, AB01, AB02, AC01, GAA01-R, MEPTR (as listed by cytoflow,
# whose examples calibrate this very file with this lot)
RAINBOW_MEPTR_AA01 = (207, 750, 2198, 6063, 12887, 51686, 170219)
CHANNEL = {"canto": {"PE": "PE-A", "PerCP": "PerCP-Cy5-5-A"},
           "navios": {"PE": "FL2 INT", "PerCP": "FL4 INT"},
           "calibur": {"PE": "FL2-H", "PerCP": "FL3-H"}}
# (the simulator's lsr style carries HLA-DR on PerCP-Cy5.5: no QuantiBRITE PE tube belongs to it)
ABC_GRID = np.geomspace(800, 40000, 60)


def _bead_file(tmp: Path, values, instrument: Instrument, style: str, detector: str = "PE", seed: int = 3,
               n_events: int = 10000) -> Path:
    tube = simulate_beads(values, np.random.default_rng(seed), n_events, instrument, detector=detector)
    return write_tube(tmp / f"beads-{style}-{detector}-{seed}.fcs", tube, "H12", instrument, style)


def _worst_error_percent(calibration, instrument: Instrument, style: str) -> float:
    """Largest error (%) of the calibrated value against the simulator's true response over
    800-40,000 AB/C."""
    slope, intercept = STYLES[style].calibration(instrument)
    mfi = 10 ** ((np.log10(ABC_GRID) - intercept) / slope)
    return float(np.max(np.abs(calibration.convert(mfi) / ABC_GRID - 1)) * 100)


# --- accuracy against the simulator's truth ------------------------------------------------------

SCENARIOS = {
    # name: (values, instrument, detector, expected used peaks, the one expected finding: any of these codes)
    "quantibrite": (QUANTIBRITE_EXAMPLE_LOT, Instrument(), "PE", 4, None),
    "quantibrite+blank": ((0, *QUANTIBRITE_EXAMPLE_LOT), Instrument(), "PE", 4, None),
    "saturated top": (QUANTIBRITE_EXAMPLE_LOT, Instrument(intercept=-0.75), "PE", 3, ("saturated_peak_dropped",)),
    "dim peak lost": (QUANTIBRITE_EXAMPLE_LOT, Instrument(intercept=1.3), "PE", 3,
                      ("dim_peaks_not_found", "peaks_below_scale_dropped")),
    "slope 0.9": (QUANTIBRITE_EXAMPLE_LOT, Instrument(slope=0.9, intercept=0.6), "PE", 4, None),
    "rainbow PE": (RAINBOW_MEFL_AJ01, Instrument(), "PE", 7, None),
    "rainbow PerCP": (RAINBOW_MEFL_AJ01, Instrument(), "PerCP", 7, None),
}


@pytest.mark.parametrize("style", sorted(CHANNEL))
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_simulated_beads_recover_true_response(tmp_path: Path, style: str, scenario: str) -> None:
    values, instrument, detector, n_used, flag = SCENARIOS[scenario]
    path = _bead_file(tmp_path, values, instrument, style, detector)
    run = calibrate_file(path, make_lot(values, unit="PE molecules/bead"), CHANNEL[style][detector])
    cal = run.calibration
    assert _worst_error_percent(cal, instrument, style) < 1.0
    assert cal.n_used == n_used
    assert cal.r_squared >= 0.999
    if flag:
        assert len(cal.findings) == 1 and cal.findings[0].code in flag, cal.findings
        assert cal.findings[0].severity == "info"  # the fit stands
    else:
        assert cal.findings == ()
    assert 0.85 * 10000 < cal.n_singlets < 0.93 * 10000  # 91 % of the events are single beads


def test_singlet_gate_keeps_single_beads(tmp_path: Path) -> None:
    tube = simulate_beads(QUANTIBRITE_EXAMPLE_LOT, np.random.default_rng(5), 20000, Instrument())
    path = write_tube(tmp_path / "b.fcs", tube, "H12")
    run = calibrate_file(path, make_lot(QUANTIBRITE_EXAMPLE_LOT))
    single, doublet, debris = (tube.labels == 9), (tube.labels == 10), (tube.labels == 0)
    assert run.singlets[single].mean() > 0.97
    assert run.singlets[doublet].mean() < 0.01
    assert run.singlets[debris].mean() < 0.01


def test_dim_peak_lost_is_reported(tmp_path: Path) -> None:
    path = _bead_file(tmp_path, QUANTIBRITE_EXAMPLE_LOT, Instrument(intercept=1.3), "canto")
    cal = calibrate_file(path, make_lot(QUANTIBRITE_EXAMPLE_LOT)).calibration
    assert cal.missing_values == (474.0,)
    assert [p.value for p in cal.peaks] == [5359.0, 23843.0, 62336.0]
    found = {f.code: f for f in cal.findings}
    assert found[FindingCode.DIM_PEAKS_NOT_FOUND].message == "dim peak(s) not found: values 474"
    assert [p.status for p in cal.peaks] == ["used", "used", "used"]


def test_bottom_of_scale_pile_is_not_a_bead_peak(tmp_path: Path) -> None:
    # on a FACSCalibur the dimmest QuantiBRITE bead of a low-gain tube sits at channel 0 (value 1)
    path = _bead_file(tmp_path, QUANTIBRITE_EXAMPLE_LOT, Instrument(intercept=1.3), "calibur")
    cal = calibrate_file(path, make_lot(QUANTIBRITE_EXAMPLE_LOT), "FL2-H").calibration
    dropped = [p for p in cal.peaks if not p.used]
    assert len(dropped) == 1 and dropped[0].status == "below_scale"
    assert dropped[0].mfi == pytest.approx(1.0, rel=0.01)


def test_blank_peak_is_found_and_not_fitted(tmp_path: Path) -> None:
    values = (0, *QUANTIBRITE_EXAMPLE_LOT)
    cal = calibrate_file(_bead_file(tmp_path, values, Instrument(), "canto"), make_lot(values)).calibration
    assert [p.value for p in cal.peaks] == [0.0, *QUANTIBRITE_EXAMPLE_LOT]
    assert cal.peaks[0].status == cal.peaks[0].reason == "blank" and not cal.peaks[0].used


def test_saturated_peak_dropped_with_warning(tmp_path: Path) -> None:
    path = _bead_file(tmp_path, QUANTIBRITE_EXAMPLE_LOT, Instrument(intercept=-0.75), "navios")
    cal = calibrate_file(path, make_lot(QUANTIBRITE_EXAMPLE_LOT)).calibration
    top = cal.peaks[-1]
    assert top.value == 62336.0 and not top.used and top.status == "saturated"


# --- refusals -----------------------------------------------------------------------------------


def test_blood_sample_is_refused(simulated_run: Path) -> None:
    """A blood tube as the bead tube: its scatter cluster (CV 14-20 %, beads 4-8 %) and broad
    PE populations are those of cells; refused as not beads, with the evidence and its code."""
    from assaykit.beads.pipeline import NotBeadsError
    from assaykit.findings import FindingCode

    with pytest.raises(NotBeadsError) as error:
        calibrate_file(simulated_run / "Specimen_001_A1_A01.fcs", make_lot(QUANTIBRITE_EXAMPLE_LOT))
    assert isinstance(error.value, CalibrationError) and error.value.code == FindingCode.CELLS_NOT_BEADS
    message = str(error.value)
    assert ("Specimen_001_A1_A01.fcs: not a bead tube: the scatter cluster has CVs of 14 % (FSC) and 20 % (SSC)"
            in message)
    assert "0 bead peak(s) resolved, a calibration needs at least 3" in message
    assert "events in broad populations (cells) against 0 in bead peaks" in message
    assert "\n" not in message


def test_one_peak_file_is_refused(tmp_path: Path) -> None:
    path = _bead_file(tmp_path, (5359.0,), Instrument(), "canto")
    with pytest.raises(CalibrationError, match=r"found 1 bead peak\(s\) in PE-A .* at least 3"):
        calibrate_file(path, make_lot(QUANTIBRITE_EXAMPLE_LOT))


def test_channel_not_found_names_the_channels(tmp_path: Path) -> None:
    path = _bead_file(tmp_path, QUANTIBRITE_EXAMPLE_LOT, Instrument(), "canto")
    with pytest.raises(CalibrationError, match="channel 'FL9' not in the file"):
        calibrate_file(path, make_lot(QUANTIBRITE_EXAMPLE_LOT), "FL9")


# --- real bead files -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "values"), [
    ("beads_AJ01_a.fcs", RAINBOW_MEFL_AJ01), ("beads_AJ01_b.fcs", RAINBOW_MEFL_AJ01),
    ("beads_AK02.fcs", RAINBOW_MEFL_AK02)])
def test_flowcal_beads_calibrate_in_fl1(corpus: Path, name: str, values) -> None:
    cal = calibrate_file(corpus / "flowcal" / "beads" / name, make_lot(values, unit="MEFL"), "FL1").calibration
    assert cal.r_squared >= 0.99
    assert cal.n_used >= 4
    assert 1.0 < cal.slope < 1.35  # FL1 of this instrument against MEFL (4-decade log amplifier)


def test_flowcal_two_gains_give_one_calibration(corpus: Path) -> None:
    # the same lot read at two gains: each file's calibration must put the same bead at the same MEFL
    lot = make_lot(RAINBOW_MEFL_AJ01, unit="MEFL")
    a = calibrate_file(corpus / "flowcal/beads/beads_AJ01_a.fcs", lot, "FL1").calibration
    b = calibrate_file(corpus / "flowcal/beads/beads_AJ01_b.fcs", lot, "FL1").calibration
    assert [p.value for p in a.peaks][-6:] == [p.value for p in b.peaks][-6:]
    assert a.peaks[-1].status == "saturated" and b.peaks[-1].used  # a's top bead is off its scale


def test_flowcal_saturated_brightest_peak(corpus: Path) -> None:
    cal = calibrate_file(corpus / "flowcal/beads/beads_AK02.fcs", make_lot(RAINBOW_MEFL_AK02), "FL1").calibration
    assert cal.peaks[-1].value == 291042 and cal.peaks[-1].status == "saturated"
    assert cal.missing_values == (0.0, 771.0, 2106.0)


def test_cytoflow_rainbow_peaks(corpus: Path) -> None:
    path = corpus / "cytoflow" / "beads" / "rcp-30-5a_beads.fcs"
    run = calibrate_file(path, make_lot(RAINBOW_MEPTR_AA01, unit="MEPTR"), "PE-Tx-Red-YG-A")
    found = [p.mfi for p in run.search.peaks]
    # the six peaks above the blank, read off a 0.05-decade histogram of the raw file
    expected = [90, 225, 710, 1570, 6000, 17500]
    assert len(found) == 6
    assert np.allclose(found, expected, rtol=0.06)
    cal = run.calibration
    assert cal.r_squared >= 0.99 and 0.95 < cal.slope < 1.05 and cal.n_used == 6


def test_rcp_example_lot_needs_a_channel_on_this_file(corpus: Path) -> None:
    path = corpus / "cytoflow" / "beads" / "rcp-30-5a_beads.fcs"
    with pytest.raises(CalibrationError, match="name it with --channel"):
        calibrate_file(path, load_lot("spherotech-rcp-30-5a-mepe-example"), option="--channel")
    # score names the bead channel in the lot file only (it has no --channel): the message says so
    with pytest.raises(CalibrationError, match=r"add that name to channel_aliases in the lot file \S+\.yaml$"):
        calibrate_file(path, load_lot("spherotech-rcp-30-5a-mepe-example"))


# --- pieces ---------------------------------------------------------------------------------------


def test_fit_line_is_least_squares() -> None:
    mfi = np.array([100.0, 1000.0, 10000.0])
    values = 10 ** (1.1 * np.log10(mfi) + 0.3)
    slope, intercept, r2 = fit_line(mfi, values)
    assert slope == pytest.approx(1.1) and intercept == pytest.approx(0.3) and r2 == pytest.approx(1.0)
    noisy = values * np.array([1.05, 0.95, 1.02])
    s, i, r2 = fit_line(mfi, noisy)
    x, y = np.log10(mfi), np.log10(noisy)
    expected = np.linalg.lstsq(np.column_stack([x, np.ones(3)]), y, rcond=None)[0]
    assert (s, i) == pytest.approx(tuple(expected)) and r2 < 1


def _peak(mfi: float, saturated: bool = False) -> Peak:
    return Peak(mfi, mfi, 1000, 0.02, mfi / 1.2, mfi * 1.2, 0.0, saturated)


def test_assignment_from_the_bright_end_and_dim_end_pruning() -> None:
    lot = make_lot([100, 1000, 10000, 100000])
    # the dimmest detected peak is a blank merged with the 100 bead: far off the line
    peaks = [_peak(40), _peak(100), _peak(1000), _peak(10000)]
    cal = calibrate_peaks(peaks, lot, "PE-A")
    assert [p.value for p in cal.peaks] == [100, 1000, 10000, 100000]
    peaks = [_peak(90), _peak(100), _peak(1000), _peak(10000)]
    cal = calibrate_peaks(peaks, lot, "PE-A")
    assert not cal.peaks[0].used and cal.peaks[0].status == "dim_end"
    assert cal.slope == pytest.approx(1.0) and cal.intercept == pytest.approx(1.0)


def test_more_peaks_than_values_leaves_the_dimmest_unassigned() -> None:
    lot = make_lot([1000, 10000, 100000])
    cal = calibrate_peaks([_peak(5), _peak(100), _peak(1000), _peak(10000)], lot, "PE-A")
    assert cal.peaks[0].value is None and cal.peaks[0].status == "unassigned"
    assert cal.n_used == 3


def test_ambiguous_assignment_is_flagged() -> None:
    # evenly spaced values: shifted by one the peaks fit just as well
    lot = make_lot([10, 100, 1000, 10000, 100000])
    cal = calibrate_peaks([_peak(100), _peak(1000), _peak(10000)], lot, "PE-A")
    # the two dimmest values have no peak (10, 100 of the lot); the three found fit as well shifted
    assert [f.code for f in cal.findings] == [FindingCode.DIM_PEAKS_NOT_FOUND, FindingCode.AMBIGUOUS_ASSIGNMENT]
    assert cal.findings[-1].severity == "warning"


def test_convert_matches_formula_and_refuses_non_positive() -> None:
    cal = calibrate_peaks([_peak(100), _peak(1000), _peak(10000)], make_lot([200, 2000, 20000]), "PE-A")
    assert cal.convert(500.0) == pytest.approx(10 ** (cal.slope * np.log10(500) + cal.intercept))
    assert np.isnan(cal.convert(0.0)) and np.isnan(cal.convert(-3.0))
    assert np.allclose(cal.convert([100, 1000]), [200, 2000])


def test_grouped_median_between_channels() -> None:
    # 10-bit log channels: values 10^(4k/1024); a peak split 50/50 over two channels has its
    # median on the boundary between them, not on either channel value
    c = 10**4 / 10**4.5
    low, high = 10 ** (4 * 500 / 1024), 10 ** (4 * 501 / 1024)
    values = np.array([low] * 500 + [high] * 500)
    assert peak_median(values, c) == pytest.approx(np.sqrt(low * high), rel=1e-4)
    continuous = np.random.default_rng(1).lognormal(5, 0.1, 1001)
    assert peak_median(continuous, c) == np.median(continuous)


def test_find_peaks_on_empty_and_constant_input() -> None:
    assert find_peaks(np.array([]), 262144).peaks == ()
    assert len(find_peaks(np.full(100, 500.0), 262144).peaks) <= 1


# --- lot files ------------------------------------------------------------------------------------


def test_example_lot_loads_and_is_marked(project_root: Path) -> None:
    lot = load_lot(project_root / "gating" / "beads" / "quantibrite-pe-example.yaml")
    assert lot.values == QUANTIBRITE_EXAMPLE_LOT and lot.example and lot.unit == "PE molecules/bead"
    assert len(lot.sha256) == 64
    shipped = load_lot("quantibrite-pe-example")  # a bare name: the lot the wheel ships (gating/beads/)
    assert shipped.values == lot.values and shipped.sha256 == lot.sha256
    assert shipped.source == "shipped:beads/quantibrite-pe-example.yaml"


def test_example_lot_is_flagged_in_the_calibration(simulated_run: Path) -> None:
    lot = load_lot("quantibrite-pe-example")
    cal = calibrate_file(simulated_run / "Specimen_001_H12_H12.fcs", lot).calibration
    assert FindingCode.EXAMPLE_LOT in {f.code for f in cal.findings}
    assert "example lot values, not a certificate: use your own lot's file" in cal.qc_flags  # the message shown


def test_simulator_lot_file_loads(simulated_run: Path) -> None:
    lot = load_lot(simulated_run / "beads_lot.yaml")
    assert lot.values == QUANTIBRITE_EXAMPLE_LOT and not lot.example


@pytest.mark.parametrize(("text", "message"), [
    ("values: [474, 5359]", "at least 3 non-blank"),
    ("values: [474, 474, 5359, 23843]", "distinct"),
    ("values: [-1, 474, 5359, 23843]", ">= 0"),
    ("values: [a, 2, 3]", r"values\[0\]: expected a finite number, got 'a'"),
    ("kit: x", "values: expected a list"),
    ("values: [1, 2, 3]\ncolour: red", "unknown key"),
    ("values: [1, 2, 3]\nqc: {min_peaks: 1}", "qc.min_peaks: expected an integer of at least 2, got 1"),
    ("values: [1, 2, 3]\nqc: {slope_range: [1]}", r"qc.slope_range: expected \[low, high\]"),
    ("values: [1, 2, 3]\nqc: {colour: red}",
     r"qc: unknown key 'colour' \(allowed: max_residual_log10, min_peaks, min_r_squared"),
    ("values: [1, 2, 3\n", "not a valid YAML"),
    ("- 1\n- 2", "must be a mapping"),
])
def test_bad_lot_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "lot.yaml"
    path.write_text(text)
    with pytest.raises(CalibrationError, match=message) as error:
        load_lot(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_lot_options() -> None:
    assert lot_from_options(None, "23843, 474,5359").values == (474.0, 5359.0, 23843.0)
    with pytest.raises(CalibrationError, match="one of them"):
        lot_from_options(None, None)
    with pytest.raises(CalibrationError, match="one of them"):
        lot_from_options("x.yaml", "1,2,3")
    with pytest.raises(CalibrationError, match="numbers separated by commas"):
        lot_from_options(None, "1,two,3")
    with pytest.raises(CalibrationError, match="not found"):
        load_lot("/nonexistent/lot.yaml")


def test_prominent_maxima_equal_scipy_find_peaks() -> None:
    # our numpy version (scipy.signal costs 1.2 s to import) against scipy's on random curves,
    # plateaus included
    from scipy.ndimage import gaussian_filter1d
    from scipy.signal import find_peaks as scipy_peaks

    from assaykit.beads.peaks import prominent_maxima

    rng = np.random.default_rng(0)
    for i in range(200):
        y = gaussian_filter1d(rng.random(300), rng.uniform(1, 6))
        y = np.concatenate([[0.0], np.round(y, 3) if i % 3 == 0 else y, [0.0]])
        for fraction in (0.0001, 0.05, 0.2):
            level = fraction * y.max()
            assert np.array_equal(prominent_maxima(y, level), scipy_peaks(y, prominence=level)[0])


@pytest.mark.parametrize("labels", [("HLA-DR", "CD14"), ("HLA-DR PE", "CD14 PerCP-Cy5.5"), ("MHCII", "Lin")])
def test_bead_tube_with_the_blood_panels_labels(tmp_path: Path, labels: tuple[str, str]) -> None:
    # FACSDiva applies an experiment's labels to every tube, the bead tube too: the PE channel
    # (found by its $PnN alias) is the bead channel whatever antibody its label names
    from ..fcs_builder import build_fcs

    source = read_fcs(_bead_file(tmp_path, QUANTIBRITE_EXAMPLE_LOT, Instrument(), "canto"))
    markers = [{"PE-A": labels[0], "PerCP-Cy5-5-A": labels[1]}.get(c, "") for c in source.channels]
    relabelled = tmp_path / "relabelled.fcs"
    relabelled.write_bytes(build_fcs(source.raw, names=source.channels, markers=markers,
                                     ranges=[f"{r:g}" for r in source.channel_ranges()]))
    lot = make_lot(QUANTIBRITE_EXAMPLE_LOT)
    assert read_fcs(relabelled).markers[source.channels.index("PE-A")] == labels[0]
    expected = calibrate_file(relabelled, lot, "PE-A").calibration  # the channel named by hand
    found = calibrate_file(relabelled, lot).calibration
    assert (found.slope, found.intercept) == (expected.slope, expected.intercept)
    assert abs(found.slope - 1) < 0.05  # the PE response, not another channel's


def test_fluorochrome_label_is_not_a_tandem_dye() -> None:
    pe = Marker("PE", ("PE-A", "FL2-H"))
    # no alias present (a spectral or renamed detector): the label naming PE alone wins
    channels = ["FSC-A", "YG780-A", "YG586-A"]
    assert find_fluorochrome_channel(pe, channels, ["", "CD14 PE-Cy7", "HLA-DR PE"]) == 2
    for tandem in ("CD14 PE-Cy7", "PE-Texas Red", "PE-Dazzle 594", "PE-CF594", "PE/Cy5.5", "PE-Vio770",
                   "PE-eFluor 610", "PE-Alexa Fluor 610", "PE-Fire 640"):
        with pytest.raises(GatingError, match="PE channel not found"):
            find_fluorochrome_channel(pe, channels[:2], ["", tandem])
    # an alias wins over labels
    assert find_fluorochrome_channel(pe, ["FSC-A", "PE-Cy7-A", "PE-A"], ["", "PE", "HLA-DR"]) == 2


# --- QuantiBRITE: plausible values and a residual limit measured on good tubes -------------------------


def test_quantibrite_values_must_be_plausible(tmp_path: Path) -> None:
    """A QuantiBRITE lot (its kit, or four values in PE molecules on the command line) gives four
    values within each bead's range; x10, x1000 and thousands are refused (a lot file error)."""
    from assaykit.beads.lot import QUANTIBRITE_MAX_RESIDUAL_LOG10, QUANTIBRITE_RANGES, quantibrite_problem

    assert QUANTIBRITE_RANGES == ((200, 1800), (1800, 25000), (8000, 100000), (25000, 220000))
    for lot in (QUANTIBRITE_EXAMPLE_LOT, (638, 6930, 31008, 67601)):  # two published certificates
        assert quantibrite_problem(lot) == ""
        for factor in (10, 1000, 0.1, 0.001):  # no lot within the ranges stays within them x10 or /10
            assert quantibrite_problem([v * factor for v in lot]).startswith("QuantiBRITE PE values outside")
    assert quantibrite_problem((474, 5359, 23843)).startswith("QuantiBRITE PE certifies 4 beads")
    assert quantibrite_problem((474, 53590, 23843, 62336)) == ""  # a typo within range: the fit judges it
    given = lot_from_options(None, "474,5359,23843,62336")
    assert given.quantibrite and given.qc.max_residual_log10 == QUANTIBRITE_MAX_RESIDUAL_LOG10 == 0.04
    assert lot_from_options(None, "474,5359,23843").qc.max_residual_log10 == 0.1  # not four: not QuantiBRITE
    mefl = lot_from_options(None, "792,2079,6588,16471", unit="MEFL")  # four rainbow values: not QuantiBRITE
    assert not mefl.quantibrite and mefl.qc.max_residual_log10 == 0.1
    with pytest.raises(CalibrationError, match=r"--bead-values: QuantiBRITE PE values outside the range of any "
                                               r"certificate, in PE molecules per bead: low 4740 \(expected "
                                               r"200-1,800\); medium-low 53590"):
        lot_from_options(None, "4740,53590,238430,623360")
    path = tmp_path / "lot.yaml"
    path.write_text("kit: BD QuantiBRITE PE\nunit: PE molecules/bead\nvalues: [0.474, 5.359, 23.843, 62.336]\n")
    with pytest.raises(CalibrationError, match="values: QuantiBRITE PE values outside") as error:
        load_lot(path)
    assert str(path) in str(error.value)
    path.write_text("kit: BD QuantiBRITE PE\nunit: PE molecules/bead\nvalues: [474, 5359, 23843]\n")
    with pytest.raises(CalibrationError, match="QuantiBRITE PE certifies 4 beads"):
        load_lot(path)
    # the default residual limit of a QuantiBRITE lot file; the file may set its own
    path.write_text("kit: BD QuantiBRITE PE\nunit: PE molecules/bead\nvalues: [474, 5359, 23843, 62336]\n")
    assert load_lot(path).qc.max_residual_log10 == 0.04 and load_lot(path).quantibrite
    path.write_text("kit: BD QuantiBRITE PE\nvalues: [474, 5359, 23843, 62336]\nqc: {max_residual_log10: 0.06}\n")
    assert load_lot(path).qc.max_residual_log10 == 0.06
    shipped = load_lot("quantibrite-pe-example")
    assert shipped.qc.max_residual_log10 == 0.04 and shipped.quantibrite
    assert load_lot("spherotech-rcp-30-5a-mepe-example").qc.max_residual_log10 == 0.1


@pytest.mark.parametrize("style", sorted(CHANNEL))
@pytest.mark.parametrize(("instrument", "n_events"), [
    (Instrument(), 10000), (Instrument(slope=0.9, intercept=0.6), 10000), (Instrument(cv=0.12), 3000),
    (Instrument(intercept=0.8), 3000),  # the dim bead at ~70 MFI, near the electronic noise
])
def test_good_quantibrite_tubes_fit_within_the_residual_limit(tmp_path: Path, style: str, instrument: Instrument,
                                                              n_events: int) -> None:
    """The evidence behind QuantiBRITE's 0.04 decade (docs/bead-calibration.md): good tubes stay
    well inside it, and the typo 744 for 474 lies above it on the same tube."""
    from assaykit.scoring.verdicts import judge_calibration, with_verdict_findings

    lot = load_lot("quantibrite-pe-example")
    path = _bead_file(tmp_path, QUANTIBRITE_EXAMPLE_LOT, instrument, style, seed=11, n_events=n_events)
    cal = with_verdict_findings(calibrate_file(path, lot, CHANNEL[style]["PE"]).calibration, lot)
    assert cal.n_used == 4
    assert max(abs(p.residual or 0.0) for p in cal.peaks if p.used) < 0.03
    assert judge_calibration(cal, lot).status == "reportable"
    typo = lot_from_options(None, "744,5359,23843,62336")
    cal = with_verdict_findings(calibrate_file(path, typo, CHANNEL[style]["PE"]).calibration, typo)
    assert judge_calibration(cal, typo).codes == (FindingCode.RESIDUAL_TOO_HIGH,)
