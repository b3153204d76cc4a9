"""Issue 29's hard tubes for the monocyte gate (benchmarks/monocyte_hard_cases.py prints the same
figures): stimulated PBMC whose monocytes lost CD14 (gated on the other evidence, not refused),
PBMC without CD14-bright cells (still refused), and septic blood whose immature granulocytes
overlap the monocytes (the gate puts purity before recall and says what it left out)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from assaykit import GatingError, read_fcs
from assaykit.gating import MonocyteGate, apply_strategy, load_strategy
from assaykit.gating.readout import measure, qc_findings, tube_purity, tube_specimen
from assaykit.simulate import (
    MONOCYTE_LABELS,
    STYLES,
    Scenario,
    septic_scenario,
    simulate_blood,
    specimen_scenario,
    stimulated_pbmc_scenario,
    write_tube,
)
from tests.gating.oracle import CODES, LSR_MATRIX, classify, f1_error, lsr_matrix


def _gate(tmp_path: Path, scenario: Scenario, seed: int, style: str):
    tube = simulate_blood(scenario, np.random.default_rng(seed))
    sample = read_fcs(write_tube(tmp_path / f"{style}-{seed}.fcs", tube, style=style))
    return tube, apply_strategy(sample, load_strategy(), LSR_MATRIX if style == "lsr" else "file")


def _oracle(tube, result) -> tuple[tuple[float, float], tuple[float, float]]:
    """(F1, median error) of the classifier from the true labels, at its most accurate and at
    monocyte posterior > 0.9."""
    points = np.column_stack([result.frame.display("CD14"), result.frame.display("SSC-A")])
    keep = result.masks["singlets"] & ~np.isin(tube.labels, (CODES["doublet"], CODES["saturated"]))
    best, pure = classify(points, tube.labels, keep)
    truth, pe = np.isin(tube.labels, MONOCYTE_LABELS), result.frame.scale("HLA-DR")
    return f1_error(best, truth, pe), f1_error(pure, truth, pe)


@pytest.mark.parametrize("style", ["canto", "lsr"])
@pytest.mark.parametrize("shift", [1.3, 1.5, 1.7])
def test_cd14_dim_stimulated_pbmc_is_gated(tmp_path: Path, shift: float, style: str) -> None:
    # issue 29 Why 5: the CD14-brightest cluster 4-8 lymphocyte SDs above the lymphocytes (it was
    # refused under 8); where the classifier from the true labels reaches F1 0.9 the gate reaches
    # F1 0.85 with its median within 5 % (the LSRII records no FSC-H: its doublets stay, 1 % here)
    scenario = stimulated_pbmc_scenario(cd14_shift_decades=shift, doublet_fraction=0.01 if style == "lsr" else 0.03)
    tube, result = _gate(tmp_path, scenario, 10, style)
    (oracle_f1, _), _ = _oracle(tube, result)
    assert oracle_f1 >= 0.9
    truth = np.isin(tube.labels, MONOCYTE_LABELS)
    f1, error = f1_error(result.masks["monocytes"], truth, result.frame.scale("HLA-DR"))
    assert f1 >= 0.85 and abs(error) <= 0.05, (f1, error)
    found = result.findings["monocytes"]
    assert found["cd14_dim"] and 2.5 <= found["cd14_separation_sds"] < 8, found
    assert tube_purity(result) >= 0.9
    strategy = load_strategy()
    dim = [f for f in qc_findings(result, strategy, measure(result, strategy)) if f.code == "monocytes_dim"]
    assert len(dim) == 1 and dim[0].severity == "info"
    assert f"only {found['cd14_separation_sds']:.1f} lymphocyte SDs" in dim[0].message
    # B cells (HLA-DR bright) only as far-tail strays: at most 1 in 1,000 gated events
    gated = result.masks["monocytes"]
    assert np.count_nonzero(gated & (tube.labels == CODES["b_cell"])) <= 0.001 * np.count_nonzero(gated)


def test_cd14_bright_monocytes_are_not_taken_as_dim(tmp_path: Path) -> None:
    _, result = _gate(tmp_path, specimen_scenario("pbmc", n_events=60000), 12, "canto")
    assert result.findings["monocytes"]["cd14_dim"] is False
    assert result.findings["monocytes"]["cd14_separation_sds"] >= 8


@pytest.mark.parametrize("scenario,seed,reason", [
    # no monocytes: the CD14-brightest cluster is a lymphocyte tail at the lymphocytes' scatter
    (specimen_scenario("pbmc", n_events=60000, monocyte_fraction=0.0), 30,
     r"8 needed unless its side scatter sets it apart: -?\d+\.\d of its SDs above the lymphocytes', 4 needed"),
    # monocytes there but CD14 left out of the stain (or nearly): the brightest cluster found at
    # their scatter is the bright tail of CD14-negative cells, not a population
    (stimulated_pbmc_scenario(cd14_shift_decades=2.6), 30, "no CD14-bright population"),
    (stimulated_pbmc_scenario(cd14_shift_decades=2.2, monocyte_fraction=0.2), 31,
     r"unless all the events at its side scatter are CD14-positive: their median CD14 is \d\.\d lymphocyte SDs"),
    (stimulated_pbmc_scenario(cd14_shift_decades=2.2, monocyte_fraction=0.2), 30, "no CD14-bright population"),
    # whole blood without monocytes: the neutrophils (CD14-dim) are the majority at their scatter
    (Scenario(n_events=50000, monocyte_fraction=0.0, b_cell_fraction=0.05), 30, "unless it is a minority"),
])
def test_no_cd14_bright_cells_still_refused(tmp_path: Path, scenario: Scenario, seed: int, reason: str) -> None:
    with pytest.raises(GatingError, match=reason):
        _gate(tmp_path, scenario, seed, "canto")


@pytest.mark.parametrize("style", ["canto", "navios", "lsr"])
@pytest.mark.parametrize("fraction", [0.05, 0.07, 0.1, 0.15])
def test_septic_blood_median_within_3_percent(tmp_path: Path, fraction: float, style: str) -> None:
    # issue 29 Why 6: immature granulocytes (HLA-DR negative) overlapping the monocytes in SSC;
    # the most accurate classifier from the true labels is 2.5-5 % low there, the gate within 3 %
    scenario = septic_scenario(monocyte_fraction=fraction, doublet_fraction=0.01 if style == "lsr" else 0.03)
    tube, result = _gate(tmp_path, scenario, 40, style)
    (_, oracle_error), (pure_f1, _) = _oracle(tube, result)
    assert oracle_error < -0.02  # the overlap is real: even the labels' classifier is biased low
    truth = np.isin(tube.labels, MONOCYTE_LABELS)
    f1, error = f1_error(result.masks["monocytes"], truth, result.frame.scale("HLA-DR"))
    assert abs(error) <= 0.03, (error, oracle_error)
    assert f1 >= pure_f1 - 0.05, (f1, pure_f1)
    overlap = result.findings["monocytes"]["overlap"]
    assert overlap is not None and overlap["events"] > 0
    assert tube_purity(result) >= MonocyteGate(("CD14", "SSC-A")).overlap_purity
    strategy = load_strategy()
    codes = [f.code for f in qc_findings(result, strategy, measure(result, strategy))]
    assert "monocytes_overlap" in codes and "low_purity" not in codes


def test_septic_scenario_is_as_hard_as_the_independent_simulators(tmp_path: Path) -> None:
    # issue 29 Why 6 measured on the independent simulator's septic tubes: the classifier from the
    # true labels 3.5-5.3 % low at its most accurate, 0.4-2.4 % low keeping posterior > 0.9
    tube, result = _gate(tmp_path, septic_scenario(monocyte_fraction=0.07), 41, "canto")
    (_, best_error), (_, pure_error) = _oracle(tube, result)
    assert -0.06 <= best_error <= -0.035, best_error
    assert -0.03 <= pure_error < 0, pure_error


def test_a_gate_dimmer_than_its_cluster_is_refused(tmp_path: Path) -> None:
    # septic blood with monocytes at 2 % among immature granulocytes that share their scatter: on
    # this tube the gate lands on the immature granulocytes (its median CD14 5.8 lymphocyte SDs up,
    # its cluster's 11.6): refused, never read as a CD14-dim monocyte gate (it would be 98.6 % low)
    with pytest.raises(GatingError, match=r"the gated cells' CD14 is only 5\.8 lymphocyte SDs above the lymphocytes'"):
        _gate(tmp_path, septic_scenario(monocyte_fraction=0.02), 41, "canto")


# --- a third marker (issue 29 point 4): granulocytes excluded before the monocyte gate ----------


def _with_third(scenario: Scenario, marker: str) -> Scenario:
    return dataclasses.replace(scenario, third_marker=marker)


@pytest.mark.parametrize("marker", ["CD15", "CD45"])
@pytest.mark.parametrize("fraction", [0.02, 0.05, 0.1])
def test_septic_blood_with_cd15_or_cd45_median_within_3_percent(tmp_path: Path, fraction: float, marker: str) -> None:
    # without it the two-colour gate is 1-17 % low or refuses at 2 % monocytes (hc-baseline); with it
    # the immature granulocytes (CD15 bright, CD45 dimmer than neutrophils) leave before the monocyte gate
    scenario = _with_third(septic_scenario(monocyte_fraction=fraction), marker)
    tube, result = _gate(tmp_path, scenario, 40, "canto")
    truth = np.isin(tube.labels, MONOCYTE_LABELS)
    f1, error = f1_error(result.masks["monocytes"], truth, result.frame.scale("HLA-DR"))
    assert abs(error) <= 0.03 and f1 >= 0.95, (f1, error)
    found = result.findings["granulocytes"]
    assert found["marker"] == marker and found["granulocytes"] and found["purity_first"]
    assert found["granulocytic"] == ("bright" if marker == "CD15" else "dim")
    kept = result.masks["not_granulocytes"]
    singlets = result.masks["singlets"]
    immature = singlets & (tube.labels == CODES["immature_granulocyte"])
    assert np.count_nonzero(immature & kept) <= 0.02 * np.count_nonzero(immature)  # at most 2 % let through
    monocytes = singlets & truth
    assert np.count_nonzero(monocytes & ~kept) <= 0.05 * np.count_nonzero(monocytes)
    strategy = load_strategy()
    codes = [f.code for f in qc_findings(result, strategy, measure(result, strategy))]
    assert "granulocytes_excluded" in codes and "granulocytes_not_excluded" not in codes


@pytest.mark.parametrize("style", ["navios", "lsr", "fc500"])
def test_septic_blood_with_a_third_marker_on_other_instruments(tmp_path: Path, style: str) -> None:
    scenario = _with_third(septic_scenario(monocyte_fraction=0.05, doublet_fraction=0.01 if style == "lsr" else 0.03),
                           "CD15" if style != "navios" else "CD45")
    tube = simulate_blood(scenario, np.random.default_rng(41))
    sample = read_fcs(write_tube(tmp_path / f"{style}.fcs", tube, style=style))
    spillover = lsr_matrix(scenario.third_marker) if style == "lsr" else "file"
    result = apply_strategy(sample, load_strategy(), spillover)
    truth = np.isin(tube.labels, MONOCYTE_LABELS)
    f1, error = f1_error(result.masks["monocytes"], truth, result.frame.scale("HLA-DR"))
    assert abs(error) <= 0.03 and f1 >= 0.9, (style, f1, error)
    assert result.findings["granulocytes"]["marker"] == scenario.third_marker


def test_cd16_removes_neutrophils_not_immature_granulocytes(tmp_path: Path) -> None:
    # CD16 is bright on neutrophils but dim on myelocytes/metamyelocytes and positive on
    # non-classical monocytes: it takes out the neutrophils at the monocytes' side scatter only,
    # keeps every immature granulocyte and non-classical monocyte, and the readout is that of the
    # two-colour gate (it adds nothing against immature granulocytes)
    scenario = septic_scenario(monocyte_fraction=0.05)
    tube, result = _gate(tmp_path, _with_third(scenario, "CD16"), 40, "canto")
    _, plain = _gate(tmp_path, scenario, 40, "canto")
    out = result.masks["singlets"] & ~result.masks["not_granulocytes"]
    assert np.count_nonzero(out & (tube.labels == CODES["neutrophil"])) > 0
    for kept in ("immature_granulocyte", "monocyte_nonclassical", "monocyte", "eosinophil"):
        assert np.count_nonzero(out & (tube.labels == CODES[kept])) == 0, kept
    assert np.count_nonzero(out) == np.count_nonzero(out & (tube.labels == CODES["neutrophil"]))
    truth = np.isin(tube.labels, MONOCYTE_LABELS)
    _, error = f1_error(result.masks["monocytes"], truth, result.frame.scale("HLA-DR"))
    _, plain_error = f1_error(plain.masks["monocytes"], truth, plain.frame.scale("HLA-DR"))
    assert abs(error - plain_error) <= 0.005, (error, plain_error)
    assert result.findings["granulocytes"]["ssc_limited"] and not result.findings["granulocytes"]["purity_first"]


@pytest.mark.parametrize("marker", ["CD15", "CD45", "CD16"])
@pytest.mark.parametrize("scenario", [Scenario(n_events=50000), Scenario(n_events=50000, monocyte_fraction=0.03),
                                      specimen_scenario("pbmc", n_events=50000),
                                      specimen_scenario("lyse_no_wash", n_events=50000)],
                         ids=["whole_blood", "whole_blood_3pc", "pbmc", "lyse_no_wash"])
def test_ordinary_tubes_with_a_third_marker_no_worse(tmp_path: Path, scenario: Scenario, marker: str) -> None:
    tube, result = _gate(tmp_path, _with_third(scenario, marker), 2, "canto")
    _, plain = _gate(tmp_path, scenario, 2, "canto")
    truth = np.isin(tube.labels, MONOCYTE_LABELS)
    f1, error = f1_error(result.masks["monocytes"], truth, result.frame.scale("HLA-DR"))
    plain_f1, plain_error = f1_error(plain.masks["monocytes"], truth, plain.frame.scale("HLA-DR"))
    # the grid's own standard (F1 >= 0.97, median within 2 %) and near the two-colour gate: with the
    # granulocytes out, the monocyte gate fits as in PBMC (stricter edge): F1 up to 0.017 lower (CD45, 3 %)
    assert f1 >= max(0.97, plain_f1 - 0.02) and abs(error) <= abs(plain_error) + 0.005, \
        (f1, plain_f1, error, plain_error)
    found = result.findings["granulocytes"]
    assert found["marker"] == marker and found["granulocytes"] is (scenario.specimen != "pbmc")
    strategy = load_strategy()
    assert tube_specimen(result, strategy)["detected"] == tube_specimen(plain, strategy)["detected"]


def test_a_third_marker_is_found_by_its_label_only(tmp_path: Path) -> None:
    scenario = _with_third(septic_scenario(monocyte_fraction=0.05), "CD15")
    tube = simulate_blood(scenario, np.random.default_rng(40))
    for label, marker in (("", None), ("FITC", None), ("CD3 FITC", None), ("CD15-FITC", "CD15"), ("cd15", "CD15")):
        style = dataclasses.replace(STYLES["canto"], third=(("CD15", "FITC-A", label),))
        sample = read_fcs(write_tube(tmp_path / "t.fcs", tube, style=style))
        result = apply_strategy(sample, load_strategy())
        assert result.findings["granulocytes"]["marker"] == marker, label
    # an unlabelled FITC-A: the step steps aside, every event kept, and the overlap is flagged
    style = dataclasses.replace(STYLES["canto"], third=(("CD15", "FITC-A", ""),))
    result = apply_strategy(read_fcs(write_tube(tmp_path / "t.fcs", tube, style=style)), load_strategy())
    assert np.array_equal(result.masks["not_granulocytes"], result.masks["singlets"])
    strategy = load_strategy()
    codes = [f.code for f in qc_findings(result, strategy, measure(result, strategy))]
    assert "granulocytes_not_excluded" in codes and "monocytes_overlap" in codes


def test_a_third_marker_that_sets_nothing_apart_is_refused_by_name(tmp_path: Path) -> None:
    # a CD15 channel that is not stained for CD15 (its values shuffled across the events: every
    # population at one level): refused, naming the marker, never gated as if it were
    tube = simulate_blood(_with_third(septic_scenario(monocyte_fraction=0.05), "CD15"), np.random.default_rng(40))
    events = tube.events.copy()
    events[:, 6] = np.random.default_rng(0).permutation(events[:, 6])
    shuffled = dataclasses.replace(tube, events=events)
    sample = read_fcs(write_tube(tmp_path / "t.fcs", shuffled))
    with pytest.raises(GatingError, match=r"population 'not_granulocytes': granulocytes not excluded on CD15: "
                                          r"it does not set them apart from the lymphocytes"):
        apply_strategy(sample, load_strategy())


def test_a_third_marker_in_a_lineage_cocktail_is_not_used(tmp_path: Path) -> None:
    # DC/monocyte panels put CD16 in a lineage channel ('CD3 CD16 CD19 CD56'): that channel cannot
    # measure CD16 alone, so the optional marker counts as absent (the tube was gated before the
    # third marker existed and still is), never a failed tube
    tube = simulate_blood(_with_third(specimen_scenario("pbmc", n_events=20000), "CD16"), np.random.default_rng(5))
    style = dataclasses.replace(STYLES["canto"], third=(("CD16", "APC-H7-A", "Lin CD3 CD16 CD19 CD56"),))
    result = apply_strategy(read_fcs(write_tube(tmp_path / "t.fcs", tube, style=style)), load_strategy())
    assert result.findings["granulocytes"]["marker"] is None
    assert "CD16" in result.frame.missing and "cannot measure CD16 alone" in result.frame.missing["CD16"]
    truth = np.isin(tube.labels, MONOCYTE_LABELS)
    f1, _ = f1_error(result.masks["monocytes"], truth, result.frame.scale("HLA-DR"))
    assert f1 >= 0.97


@pytest.mark.parametrize("fraction", [0.02, 0.03])
def test_cd14_dim_pbmc_with_few_monocytes_on_an_lsr(tmp_path: Path, fraction: float) -> None:
    # issue 29 point 3 with monocytes at 2-3 % on an LSRII (no FSC-H: doublets stay): the doublets
    # and debris under the monocytes' side scatter, CD14-dimmer, have a mixture component of their
    # own; before it the non-classical component widened over them and the gate held them all
    # (2 %: F1 0.858, median 9.5 % low; 3 %: F1 0.896, 6.7 % low)
    scenario = stimulated_pbmc_scenario(monocyte_fraction=fraction, doublet_fraction=0.01)
    tube, result = _gate(tmp_path, scenario, 20, "lsr")
    (oracle_f1, _), _ = _oracle(tube, result)
    assert oracle_f1 >= 0.9
    truth = np.isin(tube.labels, MONOCYTE_LABELS)
    gated = result.masks["monocytes"]
    f1, error = f1_error(gated, truth, result.frame.scale("HLA-DR"))
    assert f1 >= 0.9 and abs(error) <= 0.04, (f1, error)  # measured F1 0.949/0.964, 2.2/2.6 % low
    assert result.findings["monocytes"]["cd14_dim"]
    others = np.isin(tube.labels, (CODES["doublet"], CODES["debris"]))
    assert np.count_nonzero(gated & others) <= 0.1 * np.count_nonzero(gated)  # 25 % before


@pytest.mark.parametrize("fraction", [0.01, 0.02, 0.03])
def test_septic_blood_with_few_monocytes_is_right_or_refused(tmp_path: Path, fraction: float) -> None:
    # issue 29 point 4: within 3 % of the truth, or refused -- never a wrong number given as right.
    # At 2 % the mixture's purity estimate read 95 % on gates 45-78 % pure (15-96 % low); the fit
    # pinned to the monocytes' CD14-bright side reads 55-86 % there (93-98 % on the right gates at
    # 5-15 %) and the tube is refused
    refused = []
    for style in ("canto", "navios", "lsr"):
        for seed in (40, 41, 42):
            scenario = septic_scenario(monocyte_fraction=fraction, doublet_fraction=0.01 if style == "lsr" else 0.03)
            try:
                tube, result = _gate(tmp_path, scenario, seed, style)
            except GatingError as exc:
                refused.append(exc.message)
                continue
            truth = np.isin(tube.labels, MONOCYTE_LABELS)
            _, error = f1_error(result.masks["monocytes"], truth, result.frame.scale("HLA-DR"))
            assert abs(error) <= 0.03, (style, seed, error)
    if fraction == 0.02:  # all nine refused, five by the pinned fit, naming the third marker that would separate them
        # (the Navios seed 40 as the Canto's since its saturated scatter events, written at the top of
        # scale, are removed as the Canto's are: the granulocytes a majority at the cluster's scatter)
        pinned = [m for m in refused if "as their CD14-bright side counts them" in m]
        assert len(refused) == 9 and len(pinned) == 5 and all("CD15 or CD45" in m for m in pinned), refused


def test_septic_refusals_name_the_hla_dr_negative_cells(tmp_path: Path) -> None:
    # 3 % monocytes, seed 40: the gate held 12 % HLA-DR-negative cells (true purity 88 %, the
    # mixture said 95 %, the pinned check 94 %) and read 9 % low; now refused by the readout's
    # own evidence, naming the share and the bias it puts on the median
    pattern = (r"1[0-4] % of the gated events are HLA-DR-negative cells under the monocytes' HLA-DR, "
               r"which pulls the median [5-9]\.\d % low \(2\.5 % allowed\)")
    with pytest.raises(GatingError, match=pattern):
        _gate(tmp_path, septic_scenario(monocyte_fraction=0.03), 40, "canto")


@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.15])
def test_contamination_bias_tracks_the_median_error(tmp_path: Path, fraction: float) -> None:
    # the estimate (the gated median at the monocytes' (1 - 0.5/p) quantile, times the monocytes the
    # purity-first step left out) against the truth: measured within 0.6 % on these tubes
    tube, result = _gate(tmp_path, septic_scenario(monocyte_fraction=fraction), 40, "canto")
    truth = np.isin(tube.labels, MONOCYTE_LABELS)
    _, error = f1_error(result.masks["monocytes"], truth, result.frame.scale("HLA-DR"))
    found = result.findings["monocytes"]["contamination"]
    assert 0.02 <= found["fraction"] <= 0.06, found
    assert abs(found["bias"] - error) <= 0.008, (found, error)
    assert -0.025 <= found["bias"] < 0


@pytest.mark.parametrize("abc", [150.0, 500.0, 2000.0])
def test_unstained_or_dim_hla_dr_is_not_taken_for_contamination(tmp_path: Path, abc: float) -> None:
    # an isotype control (monocytes at the negatives' level) and monocytes at 500 AB/C (within 3
    # lymphocyte SDs of them): not checked, nothing to tell contaminants from monocytes by; at
    # 2,000 AB/C checked: gated, never refused as contaminated
    _, result = _gate(tmp_path, Scenario(n_events=50000, monocyte_abc=abc), 3, "canto")
    found = result.findings["monocytes"]["contamination"]
    if abc < 1000:
        assert found is None
    else:
        assert found is not None and found["fraction"] <= 0.05 and found["bias"] > -0.02, found
    # a strategy whose monocyte gate names only CD14 and SSC-A does not check
    assert MonocyteGate(("CD14", "SSC-A")).fit(result.frame, result.masks["not_granulocytes"]) is not None


def _septic_cd16(fraction: float = 0.05, seed: int = 41):
    return simulate_blood(_with_third(septic_scenario(monocyte_fraction=fraction, n_events=60000), "CD16"),
                          np.random.default_rng(seed))


@pytest.mark.parametrize("scenario", [septic_scenario(monocyte_fraction=0.05, n_events=60000),
                                      Scenario(n_events=50000)], ids=["septic", "ordinary"])
def test_a_saturated_third_marker_is_refused_by_name(tmp_path: Path, scenario: Scenario) -> None:
    # the CD16-bright half at the top of scale (a too-high APC-H7 voltage): the neutrophils' level
    # unknown, and compensation from the clipped channel corrupts CD14 (the monocyte gate then read
    # 44.6 % low, or failed on a covariance): refused naming the marker, its channel and the fault
    tube = simulate_blood(_with_third(scenario, "CD16"), np.random.default_rng(41))
    events = tube.events.copy()
    events[:, 6] = np.where(events[:, 6] > np.median(events[:, 6]), 262143.0, events[:, 6])
    sample = read_fcs(write_tube(tmp_path / "t.fcs", dataclasses.replace(tube, events=events)))
    with pytest.raises(GatingError, match=r"population 'not_granulocytes': granulocytes not excluded on CD16: its "
                                          r"channel APC-H7-A has (49|50) % of the events at the top of "
                                          r"scale \(262,144; 5 % at most\): saturated"):
        apply_strategy(sample, load_strategy())


def test_a_constant_third_marker_is_refused_by_name(tmp_path: Path) -> None:
    tube = _septic_cd16()
    events = tube.events.copy()
    events[:, 6] = 0.0  # the channel not acquired
    sample = read_fcs(write_tube(tmp_path / "t.fcs", dataclasses.replace(tube, events=events)))
    with pytest.raises(GatingError, match=r"granulocytes not excluded on CD16: its channel APC-H7-A has 100 % of the "
                                          r"events at one value \(0; 50 % at most\): constant"):
        apply_strategy(sample, load_strategy())


@pytest.mark.parametrize("fraction", [0.02, 0.05])
@pytest.mark.parametrize(("label", "reason"), [
    ("CD15 APC-H7", r"granulocytes not excluded on CD15: 1\d % of the lymphocytes lie on the neutrophils' side"),
    ("CD45 APC-H7", r"granulocytes not excluded on CD45: the neutrophils' CD45 lies above the lymphocytes' where CD45 "
                    r"is dim on neutrophils")])
def test_cd16_data_labelled_cd15_or_cd45_is_refused(tmp_path: Path, fraction: float, label: str, reason: str) -> None:
    # CD16 labelled CD15 read 15.7 % low (2 % monocytes), labelled CD45 6.7 % low (5 %): CD16's pattern
    # is not CD15's (NK cells, 10-12 % of the lymphocytes, on the neutrophils' side; CD15 is negative on
    # every lymphocyte) nor CD45's (the neutrophils brighter than the lymphocytes, not dimmer)
    style = dataclasses.replace(STYLES["canto"], third=(("CD16", "APC-H7-A", label),))
    tube = _septic_cd16(fraction, 40)
    with pytest.raises(GatingError, match=reason):
        apply_strategy(read_fcs(write_tube(tmp_path / "t.fcs", tube, style=style)), load_strategy())


@pytest.mark.parametrize(("fraction", "seed"), [(0.02, 40), (0.05, 41), (0.1, 42)])
def test_cd15_data_labelled_cd16_is_refused(tmp_path: Path, fraction: float, seed: int) -> None:
    # it read 10.8 % low at 2 % monocytes: CD16's NK cells (8-11 % of the lymphocytes on the
    # neutrophils' side) missing, as on every CD15 tube (at most 0.02 %)
    style = dataclasses.replace(STYLES["canto"], third=(("CD15", "FITC-A", "CD16 FITC"),))
    tube = simulate_blood(_with_third(septic_scenario(monocyte_fraction=fraction), "CD15"), np.random.default_rng(seed))
    with pytest.raises(GatingError, match=r"granulocytes not excluded on CD16: only 0\.0 % of the lymphocytes lie on "
                                          r"the neutrophils' side of CD16 \(2 % at least: NK cells are CD16-bright"):
        apply_strategy(read_fcs(write_tube(tmp_path / "t.fcs", tube, style=style)), load_strategy())


@pytest.mark.parametrize("marker", ["CD15", "CD16", "CD45"])
def test_an_unstained_third_marker_on_an_ordinary_tube_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  marker: str) -> None:
    # every population at the unstained level (CD16 on an ordinary tube was accepted with no finding)
    from assaykit import simulate
    unstained = {label: (80.0, 0.5, 0.0, 0.0) for label in simulate.THIRD_MARKER_LEVELS[marker]}
    monkeypatch.setitem(simulate.THIRD_MARKER_LEVELS, marker, unstained)
    tube = simulate_blood(_with_third(Scenario(n_events=50000), marker), np.random.default_rng(2))
    with pytest.raises(GatingError, match=rf"granulocytes not excluded on {marker}: "):
        apply_strategy(read_fcs(write_tube(tmp_path / "t.fcs", tube)), load_strategy())


def test_a_third_marker_finding_no_granulocytes_in_whole_blood_is_a_warning(tmp_path: Path) -> None:
    # CD16 replaced by noise after its spillover into CD14 was written (the review's tube): the
    # neutrophils' CD14 is lifted past 8 lymphocyte SDs, so the step takes them for PBMC monocytes and
    # keeps every event; the monocyte gate finds whole blood: the tube says so at warning level.
    # The default strategy's readout check (step 9) refuses this tube outright (it read 7.8 % low:
    # immature granulocytes in the gate); a strategy without it shows the warning
    tube = _septic_cd16()
    events = tube.events.copy()
    events[:, 6] = np.random.default_rng(0).normal(50, 80, len(events))
    sample = read_fcs(write_tube(tmp_path / "t.fcs", dataclasses.replace(tube, events=events)))
    with pytest.raises(GatingError, match="HLA-DR-negative cells under the monocytes' HLA-DR"):
        apply_strategy(sample, load_strategy())
    from importlib.resources import files

    text = (files("assaykit._defaults") / "monocyte-hladr.yaml").read_text(encoding="utf-8")
    assert "dims: [CD14, SSC-A, HLA-DR]" in text
    (tmp_path / "two.yaml").write_text(text.replace("dims: [CD14, SSC-A, HLA-DR]", "dims: [CD14, SSC-A]"),
                                       encoding="utf-8")
    strategy = load_strategy(tmp_path / "two.yaml")
    result = apply_strategy(sample, strategy)
    assert result.findings["granulocytes"]["granulocytes"] is False
    found = {f.code: f for f in qc_findings(result, strategy, measure(result, strategy))}
    assert found["third_marker_found_no_granulocytes"].severity == "warning"
    assert "granulocytes_excluded" not in found


def test_septic_cd16_intact_is_read_within_3_percent(tmp_path: Path) -> None:
    # the review's intact tube A1 (5 % monocytes, 60,000 events, seed 41): -1.7 %
    tube = _septic_cd16()
    result = apply_strategy(read_fcs(write_tube(tmp_path / "t.fcs", tube)), load_strategy())
    truth = np.isin(tube.labels, MONOCYTE_LABELS)
    _, error = f1_error(result.masks["monocytes"], truth, result.frame.scale("HLA-DR"))
    assert abs(error) <= 0.03, error


def test_no_granulocytic_events_excluded_says_why(tmp_path: Path) -> None:
    tube = _septic_cd16()
    result = apply_strategy(read_fcs(write_tube(tmp_path / "t.fcs", tube)), load_strategy())
    third = dict(result.findings["granulocytes"], excluded=0)
    none_out = dataclasses.replace(result, findings={**result.findings, "granulocytes": third})
    strategy = load_strategy()
    found = {f.code: f.message for f in qc_findings(none_out, strategy, measure(none_out, strategy))}
    assert found["granulocytes_excluded"].startswith("no event excluded on CD16: it excludes only events at the "
                                                     "neutrophils' level")


def test_a_collapsed_mixture_names_the_axis_that_piles(tmp_path: Path) -> None:
    # the saturated CD16 let through (max_at_top lifted): compensation subtracts the clipped channel
    # from CD14 and the monocyte gate's mixture collapses; the message names CD14 and what to check
    # (it said only "a component's covariance is not positive definite")
    from assaykit.gating.strategy import replace_gate
    tube = simulate_blood(_with_third(Scenario(n_events=50000), "CD16"), np.random.default_rng(41))
    events = tube.events.copy()
    events[:, 6] = np.where(events[:, 6] > np.median(events[:, 6]), 262143.0, events[:, 6])
    sample = read_fcs(write_tube(tmp_path / "t.fcs", dataclasses.replace(tube, events=events)))
    strategy = load_strategy()
    step = next(p.gate for p in strategy.populations if p.name == "not_granulocytes")
    lifted = replace_gate(strategy, "not_granulocytes", dataclasses.replace(step, max_at_top=1.0))
    with pytest.raises(GatingError, match=r"population 'monocytes': mixture fit failed: a component collapsed onto a "
                                          r"line \(\d+ % of the events fitted at one value of CD14: is its channel "
                                          r"saturated or constant, or compensated from one that is\?\)"):
        apply_strategy(sample, lifted)


def _cd14_unstained(tmp_path: Path, lost: float) -> tuple[Path, np.ndarray]:
    """A whole-blood tube (simulate --seed 7's first) whose CD14 was not stained: its CD14 the
    lymphocytes' background rising with side scatter (x 1-6), ``lost`` of its granulocytes gone
    (uneven lysis); the file and the event labels."""
    from assaykit.fcs.writer import write_fcs

    tube = simulate_blood(specimen_scenario("whole_blood"), np.random.default_rng(7))
    sample = read_fcs(write_tube(tmp_path / "stained.fcs", tube))
    rng = np.random.default_rng(1)
    keep = ~(np.isin(tube.labels, (CODES["neutrophil"], CODES["eosinophil"])) & (rng.random(tube.labels.size) < lost))
    events = sample.events[keep].copy()
    cd14, ssc = sample.channels.index("PerCP-Cy5-5-A"), sample.channels.index("SSC-A")
    background = sample.events[tube.labels == CODES["lymphocyte"], cd14]
    events[:, cd14] = rng.choice(background, size=len(events)) * (1 + 5 * events[:, ssc] / events[:, ssc].max())
    keywords = {k: v for k, v in sample.keywords.items() if k == "$SPILLOVER" or re.fullmatch(r"\$P\d+R", k)}
    return write_fcs(tmp_path / "unstained.fcs", events, sample.channels, sample.markers, keywords), tube.labels[keep]


@pytest.mark.parametrize("lost", [0.0, 0.3, 0.5, 0.7, 0.9])
def test_whole_blood_without_cd14_stain_is_refused(tmp_path: Path, lost: float) -> None:
    # the review of issue 29: with 30 % of the granulocytes lost the neutrophils (at 13 x the
    # lymphocytes' side scatter, under half the cells) passed as CD14-dim PBMC monocytes: 5,777
    # gated, 0 of 1,686 monocytes among them, reported with warnings only
    path, _ = _cd14_unstained(tmp_path, lost)
    with pytest.raises(GatingError, match=r"unless (it is a minority|its side scatter is a monocyte's: it is 1\d\.\d "
                                          r"times the lymphocytes')"):
        apply_strategy(read_fcs(path), load_strategy(), "file")


def test_a_cd14_that_rises_with_side_scatter_is_not_a_dim_cluster(tmp_path: Path, corpus: Path) -> None:
    # the review of issue 29: the corpus's coulter.lmd (an FC500 tube, FL4 taken for CD14 and FL2 for
    # HLA-DR) has one FL4 population whose level rises with side scatter and no CD14-bright cells; its
    # "CD14-dim cluster" was the top edge of that trend (2,754 gated at 2.9 SDs; after the saturated
    # SS band left, 4,020 at 4.8 SDs refused only on an 88.7 % purity, 90 % needed). A monocyte
    # cluster without granulocytes is a side-scatter population of its own; that edge is not
    root = Path(__file__).resolve().parents[2]
    text = (root / "gating" / "monocyte-hladr.yaml").read_text()
    text = re.sub(r"aliases: \[PerCP-Cy5-5-A.*\]", "aliases: [FL4]", text)
    text = re.sub(r"aliases: \[PE-A, FL2-H.*\]", "aliases: [FL2]", text)
    (tmp_path / "fc.yaml").write_text(text)
    with pytest.raises(GatingError, match=r"unless it is a side-scatter population of its own: its side-scatter "
                                          r"density is 0\.\d+ times the lowest between it and the lymphocytes'"):
        apply_strategy(read_fcs(corpus / "flowkit/coulter.lmd"), load_strategy(tmp_path / "fc.yaml"), "file")


def test_septic_blood_with_cd15_on_a_facscalibur_at_2_percent(tmp_path: Path) -> None:
    # the review of issue 29: 5 of 8 such tubes read 3.5-6.1 % low at an estimated purity of 99 %+.
    # A FACSCalibur records no pulse area: its pairs stay, and with the immature granulocytes that
    # crowd the monocytes they widened the monocytes' CD15 reference (two-sided spread, median pulled
    # toward the granulocytes), so the CD15 cut let the immature granulocytes' CD15-dimmer tail in
    # (seed 1: 229 gated, HLA-DR negative); from the far side of the monocytes, at their own side
    # scatter, 0-1.8 % low (each step of its 10-bit HLA-DR scale is 0.9 %)
    errors = []
    for seed in range(1, 9):
        scenario = septic_scenario(third_marker="CD15", monocyte_fraction=0.02)
        tube, result = _gate(tmp_path, scenario, seed, "calibur")
        truth = np.isin(tube.labels, MONOCYTE_LABELS)
        f1, error = f1_error(result.masks["monocytes"], truth, result.frame.scale("HLA-DR"))
        immature = np.count_nonzero(result.masks["monocytes"] & (tube.labels == CODES["immature_granulocyte"]))
        assert f1 >= 0.95 and immature <= 0.05 * np.count_nonzero(truth), (seed, f1, immature)
        assert result.findings["granulocytes"]["purity_first"]
        errors.append(error)
    assert max(abs(e) for e in errors) <= 0.02, errors


@pytest.mark.parametrize(("style", "immature", "seed"), [("canto", 0.2, 1), ("canto", 0.15, 2), ("calibur", 0.15, 1),
                                                         ("calibur", 0.1, 1), ("calibur", 0.1, 2)])
def test_immature_granulocytes_a_third_marker_lets_through_are_checked(tmp_path: Path, style: str, immature: float,
                                                                       seed: int) -> None:
    # the re-check of issue 29: with CD15 the granulocytes leave before the monocyte gate, which then
    # saw no granulocytes above the monocytes and skipped the readout's contamination check; the
    # CD15-dimmer immature granulocytes at the monocytes' scatter (10-20 % of events) read 4-30 % low
    # as reportable. The check runs where the step took granulocytes out: within 3 % or refused
    scenario = _with_third(septic_scenario(monocyte_fraction=0.02, immature_granulocyte_fraction=immature), "CD15")
    try:
        tube, result = _gate(tmp_path, scenario, seed, style)
    except GatingError as exc:
        assert "CD14, side scatter and CD15 do not separate them" in exc.message, exc.message
        return
    truth = np.isin(tube.labels, MONOCYTE_LABELS)
    _, error = f1_error(result.masks["monocytes"], truth, result.frame.scale("HLA-DR"))
    assert abs(error) <= 0.03, error
    assert result.findings["monocytes"]["contamination"] is not None
