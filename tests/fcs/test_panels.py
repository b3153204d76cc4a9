"""Panels as labs write them (issue 13): marker synonyms on $PnS/$PnN tokens, an alias refused
when its channel is labelled with another marker, decimal-comma spillover matrices."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from assaykit import GatingError, read_fcs
from assaykit.fcs.channels import Marker, find_channel
from assaykit.fcs.reader import decimal_comma_values
from assaykit.gating import apply_strategy, load_strategy
from assaykit.simulate import CHANNELS, MARKERS, Instrument, Scenario, _keywords, simulate_blood, write_tube

from ..fcs_builder import build_fcs

HLADR = Marker("HLA-DR", ("PE-A",))
CD14 = Marker("CD14", ("PerCP-Cy5-5-A", "PerCP-A"))


@pytest.mark.parametrize("label", ["HLA-DR", "HLADR", "HLA DR", "hla_dr", "MHCII", "MHC-II", "MHC II",
                                   "MHC class II", "HLA-DR PerCP-Cy5.5", "MHCII-PerCP"])
def test_hladr_synonyms_in_labels(label: str) -> None:
    channels = ["FSC-A", "PE-Cy7-A", "PerCP-Cy5-5-A", "PE-A"]
    assert find_channel(HLADR, channels, ["", "CD14", label, "CD3"]) == 2


@pytest.mark.parametrize("label,expected", [("CD14", 1), ("CD14 PE-Cy7", 1), ("CD14PE-Cy7", 1), ("cd14-pecy7", 1),
                                            ("Anti-Monocyte PerCP-Cy5.5", 1), ("anti monocyte", 1),
                                            ("CD140", None), ("CD141", None)])
def test_cd14_with_or_without_fluorochrome(label: str, expected: int | None) -> None:
    channels, labels = ["FSC-A", "PE-Cy7-A", "FITC-A"], ["", label, ""]
    if expected is None:
        with pytest.raises(GatingError, match="marker 'CD14' not found"):
            find_channel(Marker("CD14"), channels, labels)
    else:
        assert find_channel(Marker("CD14"), channels, labels) == expected


@pytest.mark.parametrize("label,expected", [("CD45 V500", 1), ("CD45-KrO", 1), ("cd45 VioBlue", 1), ("CD45RO", None),
                                            ("CD45RA FITC", None), ("CD45R0", None), ("CD450", None)])
def test_cd45_is_not_its_t_cell_isoforms(label: str, expected: int | None) -> None:
    # the corpus's flowkit/100715.fcs labels R660-A 'CD45RO' (memory T cells): not the pan-leukocyte
    # CD45 the third-marker step reads (its levels would be a T-cell subset's)
    channels, labels = ["FSC-A", "V500-A", "FITC-A"], ["", label, ""]
    if expected is None:
        with pytest.raises(GatingError, match="marker 'CD45' not found"):
            find_channel(Marker("CD45"), channels, labels)
    else:
        assert find_channel(Marker("CD45"), channels, labels) == expected


def test_synonym_in_channel_name() -> None:
    # no $PnS at all, the marker in $PnN
    assert find_channel(HLADR, ["FSC-A", "MHCII-A", "PE-A"], ["", "", ""]) == 1
    # a fluorochrome marker is not found inside another fluorochrome's channel name
    with pytest.raises(GatingError):
        find_channel(Marker("PE"), ["FSC-A", "PE-Cy7-A", "PE-Tx-Red-YG-A"], ["", "", ""])


def test_label_wins_and_a_misleading_alias_is_refused() -> None:
    channels = ["FSC-A", "PerCP-Cy5-5-A", "PE-Cy7-A"]
    # the CD14 label wins over the alias PerCP-Cy5-5-A
    assert find_channel(CD14, channels, ["", "MHCII", "CD14"], others=[HLADR]) == 2
    # without a CD14 label, the alias PerCP-Cy5-5-A is labelled MHCII (HLA-DR): refused
    with pytest.raises(GatingError, match=r"alias 'PerCP-Cy5-5-A' is labelled 'MHCII', which names HLA-DR"):
        find_channel(CD14, channels, ["", "MHCII", ""], others=[HLADR])
    with pytest.raises(GatingError, match="which names CD3"):
        find_channel(CD14, channels, ["", "CD3 PerCP-Cy5.5", ""])
    # a label naming no marker (a fluorochrome, the channel name) does not block the alias
    assert find_channel(CD14, channels, ["", "PerCP-Cy5.5", ""]) == 1


def test_a_lineage_or_viability_channel_naming_cd14_is_passed_over() -> None:
    # a DC panel: the lineage cocktail (FITC, first in BD's order) names CD14 among others
    channels = ["FSC-A", "FITC-A", "PE-A", "PerCP-Cy5-5-A", "PE-Cy7-A"]
    labels = ["", "Lin (CD3/CD14/CD16/CD19/CD20/CD56)", "CD11c", "MHCII", "CD14"]
    assert find_channel(CD14, channels, labels, others=[HLADR]) == 4
    assert find_channel(HLADR, channels, labels, others=[CD14]) == 3
    # the cocktail is the only channel naming CD14: refused, naming what else it holds
    with pytest.raises(GatingError, match=r"'FITC-A' \('Lin \(CD3/CD14.*also holds CD3, CD16, CD19, CD20, "
                                          r"CD56 \(a combination: 'CD3/CD14/CD16/CD19/CD20/CD56'\)"):
        find_channel(CD14, channels[:4], labels[:4], others=[HLADR])
    # a viability dye sharing CD14's channel (as in the FlowKit corpus file 100715.fcs)
    for label in ("VIVID / CD14", "CD14 + Live/Dead", "Zombie Aqua CD14", "lineage CD14", "CD14 dump"):
        with pytest.raises(GatingError, match="a channel shared with other stains cannot measure CD14 alone"):
            find_channel(Marker("CD14"), ["FSC-A", "V450-A"], ["", label])
    # a clone name or a fluorochrome is no other stain
    for label in ("CD14 (M5E2)", "CD14 MphiP9 PE-Cy7", "anti-CD14 BV421"):
        assert find_channel(Marker("CD14"), ["FSC-A", "V450-A"], ["", label]) == 1
    # an alias labelled with a lineage cocktail is refused like one labelled with another marker
    with pytest.raises(GatingError, match="which names a lineage cocktail \\(lineage\\)"):
        find_channel(CD14, ["FSC-A", "PerCP-Cy5-5-A"], ["", "Lineage"])


def test_default_strategy_on_an_mhcii_panel(tmp_path: Path) -> None:
    tube = simulate_blood(Scenario(n_events=20000), np.random.default_rng(5))
    sample = read_fcs(write_tube(tmp_path / "lsr.fcs", tube, style="lsr"))
    assert sample.markers[sample.channels.index("PerCP-Cy5-5-A")] == "MHCII"
    result = apply_strategy(sample, load_strategy())
    assert result.channels["HLA-DR"] == "PerCP-Cy5-5-A" and result.channels["CD14"] == "PE-Cy7-A"


@pytest.mark.parametrize("fields,n,expected", [
    ("1,0,11,0,004,1", 2, [1.0, 0.11, 0.004, 1.0]),  # the flowCore #209 example
    ("1,0,12,0,0,1", 2, [1.0, 0.12, 0.0, 1.0]),
    ("1,0,5,-0,01,0,1,1,0,0,0,2,1", 3, [1.0, 0.5, -0.01, 0.1, 1.0, 0.0, 0.0, 0.2, 1.0]),
    ("1,0,0,0,0,0,0,1", 2, None),  # 1 / 0,0 / 0,0 / 0,1 ... no diagonal of 1 at the end
    ("1,0,1,1,0,1", 2, None),  # 1,0 | 1 | 1,0 | 1 and 1 | 0,1 | 1,0 | 1 ... two readings
])
def test_decimal_comma_values(fields: str, n: int, expected: list[float] | None) -> None:
    assert decimal_comma_values(fields.split(","), n) == expected


def test_decimal_comma_matrices_of_many_channels() -> None:
    rng = np.random.default_rng(1)
    for n in (4, 8, 12):
        matrix = np.round(rng.uniform(0, 0.3, (n, n)), 4)
        matrix[matrix < 0.05] = 0.0
        np.fill_diagonal(matrix, 1.0)
        text = ",".join(f"{v:g}".replace(".", ",") for v in matrix.ravel())
        np.testing.assert_array_equal(decimal_comma_values(text.split(","), n), matrix.ravel())


def _tube_with_spillover(tmp_path: Path, spillover: str) -> Path:
    tube = simulate_blood(Scenario(n_events=20000), np.random.default_rng(6))
    keywords = {**_keywords("A1", Instrument(), "t.fcs"), "$SPILLOVER": spillover}
    from assaykit.fcs.writer import write_fcs

    return write_fcs(tmp_path / "t.fcs", tube.events, CHANNELS, MARKERS, keywords)


def test_decimal_comma_spillover_is_read_and_applied(tmp_path: Path) -> None:
    # a FACSDiva workstation in a French locale: 0,12 and 0,004
    path = _tube_with_spillover(tmp_path, "2,PE-A,PerCP-Cy5-5-A,1,0,12,0,004,1")
    sample = read_fcs(path)
    np.testing.assert_array_equal(sample.spillover.matrix, Instrument().spillover())
    assert any("decimal commas" in note for note in sample.notes) and not sample.spillover_problem
    result = apply_strategy(sample, load_strategy())
    assert result.compensation == "$SPILLOVER (2 channels)"


def test_unreadable_spillover_fails_the_tube(tmp_path: Path) -> None:
    path = _tube_with_spillover(tmp_path, "2,PE-A,PerCP-Cy5-5-A,1,0,1,1,0,1")
    sample = read_fcs(path)  # the file itself still reads (inspect shows why)
    assert sample.spillover is None and "cannot be read" in sample.spillover_problem
    with pytest.raises(GatingError, match=r"declares a spillover matrix that cannot be read.*--compensation"):
        apply_strategy(sample, load_strategy())
    # measured uncompensated only on request, and then flagged
    from assaykit.gating.readout import measure, qc_flags

    result = apply_strategy(sample, load_strategy(), None)
    strategy = load_strategy()
    assert any(f.startswith("uncompensated: the file declares") for f in qc_flags(result, strategy,
                                                                                  measure(result, strategy)))


def test_spillover_with_too_few_fields_is_unreadable(tmp_path: Path) -> None:
    blob = build_fcs(np.zeros((3, 3), dtype=np.float32), names=["FSC-A", "PE-A", "PerCP-A"],
                     extra=[("$SPILLOVER", "2,PE-A,PerCP-A,1,0")])
    (tmp_path / "s.fcs").write_bytes(blob)
    assert "holds 5 fields, 7 expected" in read_fcs(tmp_path / "s.fcs").spillover_problem


# --- issue 29 hostile review: several channels naming one marker, combinations, controls -------------------

CANTO = ["FSC-A", "FSC-H", "SSC-A", "PE-A", "PerCP-Cy5-5-A", "FITC-A", "Time"]


@pytest.mark.parametrize(("channels", "labels", "kind"), [
    (CANTO, ["", "", "", "HLA-DR FITC", "CD14 PerCP-Cy5.5", "HLA-DR PE", ""], "different detectors"),
    (["FS Lin", "SS Log", "FL2 Lin", "FL2 Log", "FL4 Log"], ["", "", "HLA-DR PE", "HLA-DR PE", "CD14 PC5"],
     "the linear and the log copies of one detector"),
])
def test_two_channels_naming_one_marker_are_refused_by_name(channels: list[str], labels: list[str],
                                                            kind: str) -> None:
    # the first in file order was read (FITC-A's HLA-DR, FL2 Lin): now each is named, and why
    with pytest.raises(GatingError, match=r"marker 'HLA-DR': 2 channels name it, ") as caught:
        find_channel(HLADR, channels, labels, others=[CD14])
    message = str(caught.value)
    assert kind in message and all(repr(c) in message for c, lab in zip(channels, labels, strict=True)
                                   if "HLA-DR" in lab)


def test_area_height_and_width_of_one_detector_read_the_area() -> None:
    # FACSDiva labels a detector's -A, -H and -W alike; Navios' FL2 INT LOG / FL2 PEAK LOG likewise
    assert find_channel(HLADR, ["FSC-A", "PE-H", "PE-A", "PE-W"], ["", "HLA-DR", "HLA-DR", "HLA-DR"]) == 2
    assert find_channel(HLADR, ["FS INT LIN", "FL2 PEAK LOG", "FL2 INT LOG"], ["", "HLA-DR PE", "HLA-DR PE"]) == 2


@pytest.mark.parametrize(("marker", "label", "names"), [
    ("CD16", "CD16+56 FITC", "CD56 (a combination: 'CD16+56')"),
    ("CD15", "CD15/16 FITC", "CD16 (a combination: 'CD15/16')"),
    ("CD14", "CD14/16 PerCP-Cy5.5", "CD16 (a combination: 'CD14/16')"),
    ("CD14", "CD14+64", "CD64 (a combination: 'CD14+64')"),
    ("CD14", "CD14 + CD64 PerCP", "CD64 (a combination: 'CD14 + CD64')"),
    ("HLA-DR", "HLA-DR/DQ", "HLA-DQ (a combination: 'HLA-DR/DQ')"),
    ("HLA-DR", "HLA-DR isotype PE", "a control ('isotype'"),
])
def test_a_label_naming_a_combination_or_a_control_blocks_the_marker(marker: str, label: str, names: str) -> None:
    with pytest.raises(GatingError, match=re.escape(f"({label!r}), also holds {names}")):
        find_channel(Marker(marker, ("FITC-A",)), CANTO, ["", "", "", "", "", label, ""])


@pytest.mark.parametrize(("marker", "channel", "label", "names"), [
    ("CD45", "FITC-A", "CD45RAFITC", "which names CD45RA (an isoform, another marker)"),
    ("HLA-DR", "PE-A", "Mouse IgG2a isotype PE", "which names a control ('isotype'"),
    ("HLA-DR", "PE-A", "FMO PE", "which names a control ('FMO'"),
    ("HLA-DR", "PE-A", "Unstained", "which names a control ('unstained'"),
    ("CD14", "PerCP-Cy5-5-A", "Leu-11 PerCP", "whose 'leu' is neither CD14 nor a fluorochrome"),
    ("CD14", "PerCP-Cy5-5-A", "\u0421D16 PerCP", "whose '\u0421D16' is neither CD14 nor a fluorochrome"),
    ("CD14", "PerCP-Cy5-5-A", "CD45RO PerCP", "which names CD45RO (an isoform, another marker)"),
])
def test_a_label_naming_something_else_blocks_the_alias(marker: str, channel: str, label: str, names: str) -> None:
    # these labels name no marker assaykit knows by name: they still used the alias
    labels = [label if c == channel else "" for c in CANTO]
    with pytest.raises(GatingError, match=re.escape(f"its alias {channel!r} is labelled {label!r}, {names}")):
        find_channel(Marker(marker, (channel,)), CANTO, labels)


@pytest.mark.parametrize("label", ["PerCP-Cy5.5", "PerCP", "CD14 PerCP-Cy5.5", "anti-CD14 PC5.5", "PC5.5 Log",
                                   "488nm PerCP-Cy5.5 (695/40)", "CD14 PerCP-Cy5.5 Lin", "CD14 PC5.5 LOG"])
def test_a_fluorochrome_or_amplifier_label_keeps_the_alias(label: str) -> None:
    # a Lin/Log after a fluorochrome is the Beckman amplifier, not a lineage cocktail (issue 29 point 1)
    labels = [label if c == "PerCP-Cy5-5-A" else "" for c in CANTO]
    assert find_channel(CD14, CANTO, labels, others=[HLADR]) == 4


def test_a_lineage_cocktail_still_blocks() -> None:
    for label in ("Lin PerCP", "Lin CD3 CD16 CD19 CD56", "CD14 Lin"):
        with pytest.raises(GatingError, match="Lin"):
            find_channel(CD14, CANTO, [label if c == "PerCP-Cy5-5-A" else "" for c in CANTO])


@pytest.mark.parametrize("label", ["HLA-DR DQ PE", "HLA-DR-DQ PE", "HLA-DR DP DQ PE", "HLA-DR-DP-DQ PE"])
def test_pan_class_ii_labels_are_not_hla_dr(label: str) -> None:
    # the re-check of issue 29: a space or a hyphen between the class II loci was read as HLA-DR alone
    with pytest.raises(GatingError, match=r"HLA-D[QP] \(a combination"):
        find_channel(Marker("HLA-DR", aliases=("PE-A",)), ["FSC-A", "PE-A"], ["", label])
