"""The monocyte gate beyond the Canto whole-blood picture (issue 13): specimens (whole blood,
PBMC, lyse-no-wash, septic blood), panels and instruments (an LSRII DC/monocyte panel: HLA-DR on
PerCP-Cy5.5 labelled MHCII, CD14 on PE-Cy7, no FSC-H, an identity $SPILLOVER), saturated events,
the plausibility checks that refuse a gate, purity and the detected specimen."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assaykit import GatingError, read_fcs
from assaykit.fcs import Spillover
from assaykit.fcs.compensation import read_compensation
from assaykit.gating import apply_strategy, load_strategy
from assaykit.gating.readout import measure, qc_flags, tube_purity, tube_specimen
from assaykit.simulate import (
    LABELS,
    MONOCYTE_LABELS,
    Instrument,
    Scenario,
    simulate_blood,
    specimen_scenario,
    spillover_csv,
    write_tube,
)
from tests.gating.oracle import classify, f1_error

CODES = {name: code for code, name in LABELS.items()}
LSR_MATRIX = Spillover(Instrument().spillover(), ("PerCP-Cy5-5-A", "PE-Cy7-A"), "compensation.csv")


def septic(**values: float) -> Scenario:
    """Septic whole blood as issue 13 describes it: 12 % of monocytes non-classical, immature
    granulocytes ~8 % of granulocytes (5 % of events), CD14 down 0.4 decades."""
    return Scenario(**{"n_events": 100000, "nonclassical_fraction": 0.12, "immature_granulocyte_fraction": 0.05,
                       "cd14_shift_decades": 0.4, **values})


# (scenario, instrument style); the LSRII has no FSC-H, so its doublets stay (1-3 % here)
GRID = (
    [(specimen_scenario("pbmc", n_events=60000, monocyte_fraction=f, monocyte_abc=abc), "canto")
     for f in (0.1, 0.2, 0.3) for abc in (500, 5000, 60000)]
    + [(specimen_scenario("pbmc", n_events=60000, monocyte_fraction=f, saturated_fraction=0.06, monocyte_abc=3000),
        "lsr") for f in (0.1, 0.25)]
    + [(specimen_scenario("pbmc", n_events=60000, monocyte_fraction=f, cd14_shift_decades=0.4,
                          nonclassical_fraction=0.15), "navios") for f in (0.1, 0.25)]
    + [(specimen_scenario("lyse_no_wash", n_events=100000, monocyte_fraction=f, monocyte_abc=2000), style)
       for f in (0.01, 0.05, 0.1) for style in ("canto", "navios")]
    + [(Scenario(n_events=100000, monocyte_fraction=f, saturated_fraction=0.05, monocyte_abc=8000), "lsr")
       for f in (0.01, 0.05, 0.1)]
    + [(septic(monocyte_fraction=f), "canto") for f in (0.07, 0.1, 0.15)]
    + [(septic(monocyte_fraction=f, doublet_fraction=0.01), "lsr") for f in (0.07, 0.1, 0.15)]
    + [(septic(monocyte_fraction=f), "navios") for f in (0.07, 0.1, 0.15)]
)


def _gate(tmp_path: Path, scenario: Scenario, seed: int, style: str):
    tube = simulate_blood(scenario, np.random.default_rng(seed))
    path = write_tube(tmp_path / f"{style}-{seed}.fcs", tube, style=style)
    result = apply_strategy(read_fcs(path), load_strategy(), LSR_MATRIX if style == "lsr" else "file")
    return tube, result


def test_accuracy_grid_over_specimens_and_panels(tmp_path: Path) -> None:
    assert {s.specimen for s, _ in GRID} == {"whole_blood", "pbmc", "lyse_no_wash"}
    assert {style for _, style in GRID} == {"canto", "navios", "lsr"}
    for seed, (scenario, style) in enumerate(GRID, start=500):
        tube, result = _gate(tmp_path, scenario, seed, style)
        gated, truth = result.masks["monocytes"], np.isin(tube.labels, MONOCYTE_LABELS)
        f1 = 2 * (gated & truth).sum() / (gated.sum() + truth.sum())
        pe = result.frame.scale("HLA-DR")
        error = np.median(pe[gated]) / np.median(pe[truth]) - 1
        where = (style, scenario)
        assert f1 >= 0.95, (where, f1)
        assert abs(error) <= (0.03 if scenario.immature_granulocyte_fraction else 0.02), (where, error)
        assert not (gated & (tube.labels == CODES["b_cell"])).any(), where
        assert not (gated & (tube.labels == CODES["saturated"])).any(), where
        # the estimated purity follows the true share of monocytes among the gated singlets
        # (doublets are the singlet gate's business: without FSC-H they are flagged apart)
        single = gated & (tube.labels != CODES["doublet"])
        assert abs(tube_purity(result) - truth[single].mean()) <= 0.05, (where, tube_purity(result))
        assert tube_specimen(result, load_strategy())["detected"] == scenario.specimen, where


def test_septic_limit_is_in_the_data(tmp_path: Path) -> None:
    # docs/validation.md names where the gate stops meeting F1 0.95: septic blood with monocytes at
    # 2 % of events. There the Bayes classifier built from the true labels misses it too. Where
    # populations overlap the gate puts purity before recall (issue 29): it stays close to that
    # classifier keeping only events of monocyte posterior > 0.9, its median within 3 %, and it
    # says what it left out
    tube, result = _gate(tmp_path, septic(monocyte_fraction=0.02), 7, "canto")
    points = np.column_stack([result.frame.display("CD14"), result.frame.display("SSC-A")])
    keep = result.masks["singlets"] & ~np.isin(tube.labels, (CODES["doublet"], CODES["saturated"]))
    best, pure = classify(points, tube.labels, keep)
    truth = np.isin(tube.labels, MONOCYTE_LABELS)
    pe = result.frame.scale("HLA-DR")
    oracle_f1, oracle_error = f1_error(best, truth, pe)
    pure_f1, _ = f1_error(pure, truth, pe)
    assert oracle_f1 < 0.95
    f1, error = f1_error(result.masks["monocytes"], truth, pe)
    assert f1 >= pure_f1 - 0.05, (f1, pure_f1)
    assert abs(error) <= 0.03 and abs(error) < abs(oracle_error), (error, oracle_error)
    overlap = result.findings["monocytes"]["overlap"]
    assert overlap["events"] > 0 and overlap["monocytes"] + overlap["immature_granulocytes"] <= overlap["events"]
    strategy = load_strategy()
    assert any(f"leaving out {overlap['events']} events" in flag for flag in qc_flags(result, strategy,
                                                                                       measure(result, strategy)))


def test_pbmc_monocytes_are_not_taken_for_granulocytes(tmp_path: Path) -> None:
    # the first real file: PBMC on an LSRII, monocytes the highest-SSC population. The gate must
    # hold the monocytes and no lymphocytes (the old gate took 9,101 lymphocytes and no monocyte)
    tube, result = _gate(tmp_path, specimen_scenario("pbmc", n_events=45000, monocyte_fraction=0.05), 3, "lsr")
    gated = result.masks["monocytes"]
    monocytes = np.isin(tube.labels, MONOCYTE_LABELS)
    assert (gated & monocytes).sum() >= 0.9 * monocytes.sum()
    assert (gated & (tube.labels == CODES["lymphocyte"])).sum() <= 0.01 * gated.sum()
    assert result.channels == {"FSC-A": "FSC-A", "SSC-A": "SSC-A", "CD14": "PE-Cy7-A", "HLA-DR": "PerCP-Cy5-5-A"}


def test_lsr_file_as_it_comes_flags_what_it_lacks(tmp_path: Path) -> None:
    # identity $SPILLOVER (not applied, flagged), no FSC-H (singlet step skipped, flagged),
    # saturated events removed and counted (flagged above 1 %); axis labels say uncompensated
    from assaykit.gating.panels import axis_label

    scenario = Scenario(n_events=50000, saturated_fraction=0.05, monocyte_fraction=0.07)
    tube = simulate_blood(scenario, np.random.default_rng(21))
    sample = read_fcs(write_tube(tmp_path / "lsr.fcs", tube, style="lsr"))
    strategy = load_strategy()
    result = apply_strategy(sample, strategy)
    flags = qc_flags(result, strategy, measure(result, strategy))
    assert result.compensation == "none" and axis_label(result, "HLA-DR").endswith(", uncompensated")
    assert any("identity matrix" in f for f in flags)
    assert any("this file records no FSC-H" in f for f in flags)
    saturated = int((tube.labels == CODES["saturated"]).sum())
    assert result.removed >= saturated > 0.04 * tube.labels.size
    assert any("at the top of scale on FSC-A, SSC-A, removed before gating" in f for f in flags)
    # the lab's matrix, from a CSV or a FlowJo workspace, is applied and named
    csv_path = tmp_path / "comp.csv"
    csv_path.write_bytes(spillover_csv("lsr"))
    compensated = apply_strategy(sample, strategy, read_compensation(csv_path))
    assert compensated.compensation == "comp.csv (2 channels)"
    assert axis_label(compensated, "HLA-DR").endswith(", compensated")
    np.testing.assert_allclose(read_compensation(csv_path).matrix, Instrument().spillover())
    assert not any("identity" in f for f in qc_flags(compensated, strategy, measure(compensated, strategy)))
    assert not any("uncompensated" in f for f in qc_flags(compensated, strategy, measure(compensated, strategy)))
    # a matrix that leaves a marker's channel out: that marker is measured as acquired, and said so
    partial = apply_strategy(sample, strategy, Spillover(np.array([[1.0]]), ("PerCP-Cy5-5-A",), "lab.csv"))
    assert axis_label(partial, "CD14").endswith(", uncompensated")
    assert "uncompensated: CD14 (PE-Cy7-A) not in the spillover matrix applied (lab.csv: PerCP-Cy5-5-A)" \
        in qc_flags(partial, strategy, measure(partial, strategy))


def _workspace(path: Path, fcs_name: str, names: tuple[str, ...], matrix: np.ndarray) -> Path:
    params = "".join(f'<data-type:parameter data-type:name="{n}"/>' for n in names)
    rows = "".join(
        f'<transforms:spillover data-type:parameter="{a}">'
        + "".join(f'<transforms:coefficient data-type:parameter="{b}" transforms:value="{float(matrix[i, j])!r}"/>'
                  for j, b in enumerate(names))
        + "</transforms:spillover>" for i, a in enumerate(names))
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<Workspace version="20.0" '
        'xmlns:transforms="http://www.isac-net.org/std/Gating-ML/v2.0/transformations" '
        'xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes"><SampleList>'
        f'<Sample><DataSet uri="file:/data/{fcs_name}" sampleID="1"/>'
        f'<transforms:spilloverMatrix prefix="Comp-" name="Acquisition-defined"><data-type:parameters>{params}'
        f"</data-type:parameters>{rows}</transforms:spilloverMatrix></Sample>"
        '<Sample><DataSet uri="file:/data/other.fcs" sampleID="2"/>'
        f'<transforms:spilloverMatrix prefix="Comp-" name="Other"><data-type:parameters>{params}'
        f"</data-type:parameters>{rows.replace('0.12', '0.5')}</transforms:spilloverMatrix></Sample>"
        "</SampleList></Workspace>\n")
    return path


def test_compensation_from_a_flowjo_workspace(tmp_path: Path) -> None:
    matrix = Instrument().spillover()
    wsp = _workspace(tmp_path / "lab.wsp", "lsr.fcs", ("PerCP-Cy5-5-A", "PE-Cy7-A"), matrix)
    spill = read_compensation(wsp, "lsr.fcs")
    assert spill.channels == ("PerCP-Cy5-5-A", "PE-Cy7-A") and spill.keyword == "lab.wsp"
    np.testing.assert_array_equal(spill.matrix, matrix)
    assert read_compensation(wsp, "other.fcs").matrix[0, 1] == 0.5
    with pytest.raises(GatingError, match=r"2 different compensation matrices and none for x\.fcs"):
        read_compensation(wsp, "x.fcs")
    bomb = tmp_path / "bomb.wsp"
    bomb.write_text('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "bbbb">]><a>&b;</a>')
    with pytest.raises(GatingError, match="not a readable FlowJo workspace"):
        read_compensation(bomb)


def test_declared_specimen_disagreeing_is_flagged(tmp_path: Path) -> None:
    from dataclasses import replace

    tube = simulate_blood(specimen_scenario("pbmc", n_events=30000), np.random.default_rng(4))
    sample = read_fcs(write_tube(tmp_path / "pbmc.fcs", tube))
    strategy = replace(load_strategy(), specimen="whole_blood")
    result = apply_strategy(sample, strategy)
    assert tube_specimen(result, strategy) == {"detected": "pbmc", "declared": "whole_blood"}
    assert "specimen declared whole_blood but the events look like pbmc" in qc_flags(
        result, strategy, measure(result, strategy))
    agreeing = replace(strategy, specimen="pbmc")
    assert not any("specimen" in f for f in qc_flags(result, agreeing, measure(result, agreeing)))


@pytest.mark.parametrize("scenario,reason", [
    (Scenario(n_events=50000, monocyte_fraction=0.0, b_cell_fraction=0.05), "no CD14-bright population"),
    (specimen_scenario("pbmc", n_events=50000, monocyte_fraction=0.0), "no CD14-bright population"),
])
def test_no_monocytes_is_refused_with_the_reason(tmp_path: Path, scenario: Scenario, reason: str) -> None:
    tube = simulate_blood(scenario, np.random.default_rng(8))
    with pytest.raises(GatingError, match=reason):
        apply_strategy(read_fcs(write_tube(tmp_path / "none.fcs", tube)), load_strategy())


def test_unstained_cd14_is_refused(tmp_path: Path) -> None:
    # CD14 left out of the stain: every cell CD14-negative; the gate must not settle on a tail
    tube = simulate_blood(Scenario(n_events=50000, monocyte_fraction=0.07, cd14_shift_decades=2.4),
                          np.random.default_rng(9))
    with pytest.raises(GatingError, match="monocyte gate"):
        apply_strategy(read_fcs(write_tube(tmp_path / "unstained.fcs", tube)), load_strategy())


def test_no_real_corpus_file_gets_a_monocyte_number(corpus: Path) -> None:
    # none of the real instrument files in ../shared is a monocyte HLA-DR tube: the default
    # strategy must refuse every one with a reason (a marker not found, an alias labelled with
    # another marker such as data1.fcs's FL3-H 'CD3 PerCP', or no CD14-bright population), never
    # produce a value from the wrong channel or the wrong cells
    from assaykit.errors import AssayKitError

    reasons = {}
    for path in sorted(p for p in corpus.rglob("*") if p.suffix.lower() in (".fcs", ".lmd")):
        try:
            sample = read_fcs(path)
        except AssayKitError:
            continue
        with pytest.raises(GatingError) as refused:
            apply_strategy(sample, load_strategy())
        reasons[path.name] = refused.value.message
    assert len(reasons) >= 30
    assert "'FL3-H' is labelled 'CD3 PerCP', which names CD3" in reasons["data1.fcs"]
    # the MACSQuant's FL3-A holds PE ('cd3 PE-A'): FL3-A and FL4-A are no CD14 aliases (PerCP and APC on an
    # Accuri, ECD and PC5.5 on a Beckman), so CD14 is not found there
    assert "marker 'CD14' not found" in reasons["Miltenyi Biotec - MACSQuant Analyzer.fcs"]
    # Beckman Coulter: FL4 is PC5 (a Coulter XL's 'CD33 PC5'); an FC500's 'FS Lin' is forward scatter, and
    # 'Lin' there is the amplifier: its CD14 is not found (FL1-FL3 only), not refused as a lineage channel
    assert "'FL4 LOG' is labelled 'CD33 PC5', which names CD33" in reasons[
        "System II listmode with extra info in bits D10-D15.LMD"]
    fc500 = read_fcs(corpus / "flowkit/coulter.lmd", dataset=0)
    with pytest.raises(GatingError, match=r"marker 'CD14' not found.*\(channels: FS Lin, SS Lin"):
        apply_strategy(fc500, load_strategy())
    assert "no CD14-bright population" in reasons["Accuri - C6.fcs"]
    # a T-cell panel whose dump channel holds the viability dye and CD14 together
    assert "'V450-A' ('VIVID / CD14'), also holds Vivid: a channel shared with other stains" in reasons["100715.fcs"]


def test_purity_below_the_limit_is_flagged(tmp_path: Path) -> None:
    from dataclasses import replace

    _, result = _gate(tmp_path, septic(monocyte_fraction=0.05), 11, "canto")
    purity = tube_purity(result)
    assert 0.9 < purity < 0.99
    strict = replace(load_strategy(), qc=replace(load_strategy().qc, min_purity_percent=99.0))
    flags = qc_flags(result, strict, measure(result, strict))
    assert f"estimated monocyte purity {100 * purity:.1f} % (below 99 %): granulocytes or other cells share the gate" \
        in flags
    assert not any("purity" in f for f in qc_flags(result, load_strategy(), measure(result, load_strategy())))
