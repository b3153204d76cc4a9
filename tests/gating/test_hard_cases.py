"""Issue 29's hard tubes for the monocyte gate (benchmarks/monocyte_hard_cases.py prints the same
figures): stimulated PBMC whose monocytes lost CD14 (gated on the other evidence, not refused),
PBMC without CD14-bright cells (still refused), and septic blood whose immature granulocytes
overlap the monocytes (the gate puts purity before recall and says what it left out)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assaykit import GatingError, read_fcs
from assaykit.gating import MonocyteGate, apply_strategy, load_strategy
from assaykit.gating.readout import measure, qc_findings, tube_purity
from assaykit.simulate import (
    MONOCYTE_LABELS,
    Scenario,
    septic_scenario,
    simulate_blood,
    specimen_scenario,
    stimulated_pbmc_scenario,
    write_tube,
)
from tests.gating.oracle import CODES, LSR_MATRIX, classify, f1_error


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


_NOT_YET = pytest.mark.xfail(strict=True, reason="issue 29 point 4 not met at 1 and 3 % monocytes: some tubes are "
                                                   "gated 7-98 % low without a refusal (docs/validation.md, 'Where it "
                                                   "stops working')")


@pytest.mark.parametrize("fraction", [pytest.param(0.01, marks=_NOT_YET), 0.02, pytest.param(0.03, marks=_NOT_YET)])
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
    if fraction == 0.02:  # six of the nine refused by the pinned fit, naming the third marker that would separate them
        pinned = [m for m in refused if "as their CD14-bright side counts them" in m]
        assert len(pinned) == 6 and all("CD16, CD45 or CD15" in m for m in pinned), refused
