"""Channel names as instruments write them (issue 29): Beckman Coulter FC500/Gallios/Navios/
CytoFLEX names and amplifiers, CellQuest labels that restate their channel, R's dotted names,
Beckman's names of PE tandems; checked on the real files of ../shared/fcs-corpus."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest

from assaykit import GatingError, read_fcs
from assaykit.errors import ChannelNotFoundError
from assaykit.fcs.channels import (
    Marker,
    channel_index,
    find_channel,
    find_fluorochrome_channel,
    fluorochrome_names,
    is_scatter,
    restates_channel,
)
from assaykit.gating import load_strategy

STRATEGY = load_strategy()
MARKERS = tuple(STRATEGY.markers.values())


def resolve(channels: list[str], labels: list[str] | None = None) -> dict[str, str]:
    """Marker -> channel name with the default strategy's markers (a marker not found left out)."""
    labels = labels if labels is not None else [""] * len(channels)
    found = {}
    for name, marker in STRATEGY.markers.items():
        with contextlib.suppress(ChannelNotFoundError):
            found[name] = channels[find_channel(marker, channels, labels, MARKERS)]
    return found


@pytest.mark.parametrize(("label", "channel"), [
    ("FSC-H", "FSC-H"), ("FSC.H", "FSC-H"), ("FSC-Height", "FSC-H"), ("SSC-Height", "SSC-H"),  # CellQuest
    ("FS Lin", "FS Lin"), ("SS Log", "SS Log"), ("FL3 Log", "FL3 Log"), ("FS INT LIN", "FS INT LIN"),  # FC500, Gallios
    ("FS", "FS Lin"), ("SS", "SS Log"),  # Cyan: 'FS Lin' labelled 'FS'
    ("FL1-Lin", "FL1"), ("FS-Peak-Lin", "FS-Peak-Lin"),  # iCyt Eclipse
    ("FL1-Log_Height FL-Log_Height", "FL1-Log_Height"),  # MoFlo XDP
    ("FSC LinH", "FSC LinH"), ("FL3 INT", "FL3 INT"), ("SS PEAK", "SS PEAK"), ("FS TOF", "FS TOF"),
])
def test_a_label_restating_its_channel_or_amplifier(label: str, channel: str) -> None:
    assert restates_channel(label, channel)


@pytest.mark.parametrize(("label", "channel"), [
    ("Lin", "FL1 Log"),  # a bare Lin, with no detector, is a lineage cocktail
    ("Lineage", "FL1 Lin"),
    ("FL2 Log", "FL4 Log"),  # another detector's name
    ("CD14-PC5 FL4 Lin", "FL4 Lin"), ("CD33 PC5", "FL4 LOG"), ("HLA-DR", "FL2 INT"), ("", "FL2 INT"),
    ("SS Log", "FS Lin"),
])
def test_a_label_saying_more_than_its_channel(label: str, channel: str) -> None:
    assert not restates_channel(label, channel)


def test_beckman_fc500_names_resolve_and_lin_is_an_amplifier() -> None:
    # issue 29 Why 1: $PnS restating $PnN on every channel, as CXP writes it
    channels = ["FS Lin", "SS Log", "FL1 Log", "FL2 Log", "FL3 Log", "FL4 Log"]
    assert resolve(channels, list(channels)) == {"FSC-A": "FS Lin", "SSC-A": "SS Log", "CD14": "FL4 Log",
                                                 "HLA-DR": "FL2 Log"}
    # a marker label beside the channel restated: 'Lin' there is the amplifier, not a lineage cocktail
    labels = ["FS Lin", "SS Log", "FL1 Log", "HLA-DR RD1 FL2 Lin", "FL3 Log", "CD14-PC5 FL4 Lin"]
    found = resolve(channels, labels)
    assert (found["HLA-DR"], found["CD14"]) == ("FL2 Log", "FL4 Log")
    # still refused: an alias labelled with a lineage cocktail, or with another marker
    with pytest.raises(GatingError, match="'FL4 Log' is labelled 'Lin', which names a lineage cocktail \\(Lin\\)"):
        find_channel(STRATEGY.markers["CD14"], channels, ["", "", "", "", "", "Lin"], MARKERS)
    with pytest.raises(GatingError, match="its alias 'FL4 Log' is labelled 'FL4 Lin CD33', which names CD33"):
        find_channel(STRATEGY.markers["CD14"], channels, ["", "", "", "", "", "FL4 Lin CD33"], MARKERS)


def test_navios_gallios_and_cytoflex_names() -> None:
    navios = ["FS INT", "FS PEAK", "FS TOF", "SS INT", "SS PEAK", "FL1 INT", "FL2 INT", "FL3 INT", "FL4 INT", "TIME"]
    assert resolve(navios, list(navios)) == {"FSC-A": "FS INT", "FSC-H": "FS PEAK", "SSC-A": "SS INT",
                                             "CD14": "FL4 INT", "HLA-DR": "FL2 INT"}  # never FS TOF, never FL3 (ECD)
    gallios = ["FS INT LIN", "SS INT LIN", "FL1 INT LOG", "FL2 INT LOG", "FL3 INT LOG", "FL4 INT LOG", "TIME"]
    assert resolve(gallios, list(gallios)) == {"FSC-A": "FS INT LIN", "SSC-A": "SS INT LIN", "CD14": "FL4 INT LOG",
                                               "HLA-DR": "FL2 INT LOG"}
    cytoflex = ["FSC-A", "FSC-H", "SSC-A", "FITC-A", "PE-A", "ECD-A", "PC5.5-A", "PC7-A", "APC-A", "Time"]
    assert resolve(cytoflex) == {"FSC-A": "FSC-A", "FSC-H": "FSC-H", "SSC-A": "SSC-A", "CD14": "PC5.5-A",
                                 "HLA-DR": "PE-A"}
    # labels win over aliases: CD14 on PC7, HLA-DR on ECD
    labels = ["", "", "", "", "CD3", "HLA-DR", "", "CD14", "", ""]
    found = resolve(cytoflex, labels)
    assert (found["CD14"], found["HLA-DR"]) == ("PC7-A", "ECD-A")
    # an FL3-A or FL4-A is not taken: PerCP and APC on an Accuri, ECD and PC5.5 in a Beckman LMD's FCS 3.0 copy
    assert "CD14" not in resolve(["FS-A", "SS-A", "FL1-A", "FL2-A", "FL3-A", "FL4-A"])


def test_cellquest_labels_restating_the_channel_do_not_block_aliases() -> None:
    # issue 29 Why 2: a FACSCalibur file written by CellQuest labels FSC-H 'FSC-H'
    channels = ["FSC-H", "SSC-H", "FL1-H", "FL2-H", "FL3-H", "Time"]
    for labels in (["FSC-H", "SSC-H", "FL1-H", "FL2-H", "FL3-H", "Time"],
                   ["FSC-Height", "SSC-Height", "", "HLA-DR PE", "CD14 PerCP", "Time (102.40 sec.)"]):
        assert resolve(channels, labels) == {"FSC-A": "FSC-H", "FSC-H": "FSC-H", "SSC-A": "SSC-H", "CD14": "FL3-H",
                                             "HLA-DR": "FL2-H"}
    # a label naming another marker still blocks the alias (data1.fcs: FL3-H 'CD3 PerCP')
    with pytest.raises(GatingError, match="which names CD3"):
        find_channel(STRATEGY.markers["CD14"], channels, ["", "", "", "", "CD3 PerCP", ""], MARKERS)


def test_r_dotted_names() -> None:
    # issue 29 Why 3: flowCore's write.FCS of a FlowCAP FACSCalibur set, and of a FACSDiva file
    calibur = ["FSC.H", "SSC.H", "FL1.H", "FL2.H", "FL3.H", "FL2.A", "FL4.H", "Time"]
    assert resolve(calibur) == {"FSC-A": "FSC.H", "FSC-H": "FSC.H", "SSC-A": "SSC.H", "CD14": "FL3.H",
                                "HLA-DR": "FL2.H"}
    canto = ["FSC.A", "FSC.H", "SSC.A", "PE.A", "PerCP.Cy5.5.A", "Time"]
    assert resolve(canto) == {"FSC-A": "FSC.A", "FSC-H": "FSC.H", "SSC-A": "SSC.A", "CD14": "PerCP.Cy5.5.A",
                              "HLA-DR": "PE.A"}
    assert all(is_scatter(c) for c in ("FSC.A", "SSC.H", "FS Lin", "SS Log", "FS TOF"))
    # the same tokens in the same runs: a name of its own is not another's
    assert channel_index("FSC-A", ["FSCA", "FSC.A"]) == 1 and channel_index("FSC-A", ["FSCA"]) is None
    assert channel_index("PerCP-Cy5.5-A", ["PerCP-Cy5-5-A"]) == 0 and channel_index("PE-A", ["PE-Cy7-A"]) is None


def test_beckman_fluorochrome_names_in_the_tandem_rule() -> None:
    assert set(fluorochrome_names("PC7")) >= {"PE-Cy7", "PC7"} and "PC5.5" in fluorochrome_names("PE-Cy5.5")
    assert "ECD" in fluorochrome_names("PE-Texas Red") and fluorochrome_names("FITC") == ("FITC",)
    channels = ["FS INT", "FL2 INT", "FL3 INT", "FL4 INT", "FL5 INT"]
    labels = ["", "CD16 PC5.5", "CD45 ECD", "CD14 PC5", "HLA-DR PC7"]
    assert find_fluorochrome_channel(Marker("PE-Cy7"), channels, labels) == 4
    assert find_fluorochrome_channel(Marker("PE-Texas Red"), channels, labels) == 2
    assert find_fluorochrome_channel(Marker("PE-Cy5"), channels, labels) == 3  # PC5, not PC5.5
    assert find_fluorochrome_channel(Marker("PE-Cy5.5"), channels, labels) == 1
    with pytest.raises(GatingError, match="PE-Cy5 channel not found"):
        find_fluorochrome_channel(Marker("PE-Cy5"), channels[:3], ["", "CD16 PE-Cy5.5", "CD16 PC5.5"])
    # PE is none of them, nor PE-TR (test_comp_example.fcs) or PE-Cyanine7; RD1 is Coulter's PE
    with pytest.raises(GatingError, match="PE channel not found"):
        find_fluorochrome_channel(Marker("PE"), ["FL3", "FL4", "FL5", "FL6", "FL7"],
                                  ["CD45 ECD", "PE-TR", "PE-Cyanine7", "CD14 PC5", "PC7"])
    assert find_fluorochrome_channel(Marker("PE"), ["FL1 LOG", "FL2 LOG"], ["CD41 FITC", "CD7 RD1"]) == 1


# --- the real files ------------------------------------------------------------------------------


def _resolve_file(sample) -> dict[str, str]:
    return resolve(list(sample.channels), list(sample.markers))


def test_real_beckman_files(corpus: Path) -> None:
    cyt = "cytoflow/instruments/"
    # FC500 (CXP) FCS 2.0 datasets: 'FS Lin' labelled 'FS Lin' ... (Why 1: refused before as naming Lin)
    coulter = read_fcs(corpus / "flowkit/coulter.lmd", dataset=0)
    assert coulter.markers[0] == "FS Lin" and coulter.keywords["$CYT"] == "Cytomics FC 500"
    assert _resolve_file(coulter) == {"FSC-A": "FS Lin", "SSC-A": "SS Lin", "HLA-DR": "FL2 Log"}  # no FL4 recorded
    # FC500: HLA-DR's alias FL2 Log is labelled 'CD4-PE': refused, naming CD4
    fc500 = read_fcs(corpus / cyt / "Beckman Coulter - Cytomics FC500.LMD", dataset=0)
    with pytest.raises(GatingError, match="its alias 'FL2 Log' is labelled 'CD4-PE', which names CD4"):
        find_channel(STRATEGY.markers["HLA-DR"], fc500.channels, fc500.markers, MARKERS)
    # Coulter XL (System II): FL4 = PC5, FL3 = ECD, FL2 = RD1 (PE), as the labels show
    xl = read_fcs(corpus / cyt / "System II listmode with extra info in bits D10-D15.LMD")
    assert xl.markers[3:] == ("CD7 RD1", "CD45 ECD", "CD33 PC5")
    with pytest.raises(GatingError, match="its alias 'FL4 LOG' is labelled 'CD33 PC5', which names CD33"):
        find_channel(STRATEGY.markers["CD14"], xl.channels, xl.markers, MARKERS)
    assert find_fluorochrome_channel(Marker("PE"), xl.channels, xl.markers) == 3  # 'CD7 RD1'
    # Gallios FCS 2.0 dataset: 'FS INT LIN' labelled 'FS INT LIN'
    gallios = read_fcs(corpus / cyt / "Beckman Coulter - Gallios.LMD", dataset=0)
    assert _resolve_file(gallios) == {"FSC-A": "FS INT LIN", "SSC-A": "SS INT LIN", "HLA-DR": "FL2 INT LOG"}
    # its FCS 3.0 copy: FS-A ... FL4-A, no labels: FL3-A/FL4-A are not guessed
    assert _resolve_file(read_fcs(corpus / cyt / "Beckman Coulter - Gallios.LMD")) == {
        "FSC-A": "FS-A", "SSC-A": "SS-A", "HLA-DR": "FL2-A"}
    # Cyan: 'FS Lin' labelled 'FS'; MoFlo XDP: FSC-Area, FSC-Height
    assert _resolve_file(read_fcs(corpus / cyt / "Beckman Coulter - Cyan.fcs"))["FSC-A"] == "FS Lin"
    moflo = _resolve_file(read_fcs(corpus / cyt / "Beckman Coulter - MoFlo XDP.fcs"))
    assert (moflo["FSC-A"], moflo["FSC-H"], moflo["SSC-A"]) == ("FSC-Area", "FSC-Height", "SSC-Area")
    # iCyt: 'FS-Lin' labelled 'FS-Lin', FL1 labelled 'FL1-Lin'
    assert _resolve_file(read_fcs(corpus / cyt / "iCyt - Eclipse.lmd"))["FSC-A"] == "FS-Lin"


def test_real_cellquest_files(corpus: Path) -> None:
    # data1.fcs (CellQuest 3.3): FSC-H labelled 'FSC-Height', SSC-H 'SSC-Height'
    data1 = read_fcs(corpus / "flowkit/data1.fcs")
    assert data1.markers[:2] == ("FSC-Height", "SSC-Height")
    for marker, expected in (("FSC-A", "FSC-H"), ("FSC-H", "FSC-H"), ("SSC-A", "SSC-H")):
        index = find_channel(STRATEGY.markers[marker], data1.channels, data1.markers, MARKERS)
        assert data1.channels[index] == expected, marker
    # its FL3-H is labelled 'CD3 PerCP' and FL2-H 'CD8 B PE': the aliases are refused, the tube never gated
    with pytest.raises(GatingError, match="'FL3-H' is labelled 'CD3 PerCP', which names CD3"):
        find_channel(STRATEGY.markers["CD14"], data1.channels, data1.markers, MARKERS)
    with pytest.raises(GatingError, match="'FL2-H' is labelled 'CD8 B PE', which names CD8"):
        find_channel(STRATEGY.markers["HLA-DR"], data1.channels, data1.markers, MARKERS)
    # FACScan files of CellQuest Pro and 3.3, no labels on the channels
    assert _resolve_file(read_fcs(corpus / "flowcal/Data001.fcs")) == {
        "FSC-A": "FSC-H", "FSC-H": "FSC-H", "SSC-A": "SSC-H", "CD14": "FL3-H", "HLA-DR": "FL2-H"}


def test_real_flowcore_file(corpus: Path) -> None:
    # written by flowCore (flowCore_$PnRmax keywords): names kept as FACSDiva wrote them
    sample = read_fcs(corpus / "cytoflow/beads/rcp-30-5a_beads.fcs")
    assert "FLOWCORE_$P1RMAX" in sample.keywords  # keywords are read upper-cased
    assert _resolve_file(sample)["FSC-A"] == "FSC-A"
    # the same events with R's dotted names (read.FCS alter.names) resolve to the same channels
    dotted = [c.replace("-", ".").replace(" ", ".") for c in sample.channels]
    assert {k: dotted.index(c) for k, c in resolve(dotted).items()} == {
        k: sample.channels.index(c) for k, c in _resolve_file(sample).items()}
    assert np.isfinite(sample.events).all()


def test_a_beckman_lmd_read_by_default_keeps_its_fcs2_labels(corpus: Path) -> None:
    """A Beckman Coulter LMD file holds its events twice: an FCS 2.0 dataset whose channels are
    labelled (FC500: 'FL1 Log' = CD3-FITC, 'FL2 Log' = CD4-PE) and the FCS 3.0 copy read by
    default (full resolution), which names detectors only. The copy's channels take the 2.0
    labels by detector, said in a note; a dataset asked for by number is read as it is; labels
    that only restate their channel (coulter.lmd, Gallios) carry nothing."""
    fc500 = corpus / "cytoflow" / "instruments" / "Beckman Coulter - Cytomics FC500.LMD"
    sample = read_fcs(fc500)
    assert sample.channels[:4] == ("FS", "SS", "FL1", "FL2")
    assert sample.markers[:4] == ("", "", "CD3-FITC", "CD4-PE") and set(sample.markers[4:]) == {""}
    assert any("FL1 = CD3-FITC, FL2 = CD4-PE" in note for note in sample.notes)
    assert set(read_fcs(fc500, dataset=1).markers) == {""}
    gallios = corpus / "cytoflow" / "instruments" / "Beckman Coulter - Gallios.LMD"
    for other in (corpus / "flowkit" / "coulter.lmd", gallios):
        assert set(read_fcs(other).markers) == {""}, other


def test_a_beckman_lmd_read_by_default_keeps_its_instrument_and_date(corpus: Path) -> None:
    """The FCS 3.0 copy of a Beckman Coulter LMD file has no $CYT, $DATE or $FIL (its FCS 2.0
    dataset has them): read by default, it takes them from the 2.0 dataset, said in a note, so a
    run's samples.csv and ledger name the instrument and the acquisition date; a dataset asked
    for by number is read as it is."""
    from assaykit.fcs import read_fcs_text
    from assaykit.fcs.text import acquisition_date

    cyt = corpus / "cytoflow" / "instruments"
    for path, instrument, date in ((cyt / "Beckman Coulter - Cytomics FC500.LMD", "Cytomics FC 500", "2003-06-24"),
                                   (cyt / "Beckman Coulter - Gallios.LMD", "Gallios", "2010-12-28"),
                                   (corpus / "flowkit" / "coulter.lmd", "Cytomics FC 500", "2009-11-11")):
        assert "$CYT" not in read_fcs_text(path, dataset=1), path  # the copy as written
        keywords = read_fcs_text(path)
        assert keywords["$CYT"] == instrument and acquisition_date(keywords).startswith(date), path
        assert keywords["$FIL"] == read_fcs_text(path, dataset=0)["$FIL"]
        assert any(n.startswith("acquisition keywords carried") and "$CYT, $DATE" in n
                   for n in read_fcs(path).notes), path


def test_companion_labels_carry_one_agreed_label_per_detector() -> None:
    from assaykit.fcs.channels import companion_labels

    first = {"$PAR": "4", "$P1N": "FL1 Log", "$P1S": "CD14 PC5", "$P2N": "FL1 Lin", "$P2S": "FL1 Lin",
             "$P3N": "FL2 Log", "$P3S": "HLA-DR PE", "$P4N": "FL2 Lin", "$P4S": "CD3 PE"}
    copy = {"$PAR": "3", "$P1N": "FL1", "$P2N": "FL2", "$P3N": "FL3"}
    assert companion_labels(first, copy) == {1: "CD14 PC5"}  # FL2: two labels disagree; FL3: none
    assert companion_labels(first, {**copy, "$P1S": "mine"}) == {}  # a label of its own is kept
    assert companion_labels({"$PAR": "x"}, copy) == {} and companion_labels(first, {"$PAR": "-3"}) == {}
