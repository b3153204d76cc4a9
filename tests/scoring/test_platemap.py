"""Well IDs from keywords and file names."""

from __future__ import annotations

from pathlib import Path

import pytest

from assaykit.scoring.platemap import file_well, normalise_well, wells_in_name


@pytest.mark.parametrize(("text", "well"), [("A1", "A1"), ("a01", "A1"), ("H12", "H12"), ("P24", "P24"),
                                            ("A13", "A13"), ("Q1", None), ("A0", None), ("A25", None), ("", None)])
def test_normalise_well(text: str, well: str | None) -> None:
    assert normalise_well(text) == well


@pytest.mark.parametrize(("name", "wells"), [
    ("Specimen_001_A1_A01.fcs", ["A1"]), ("Well_A3.fcs", ["A3"]), ("A01.fcs", ["A1"]), ("plate1-B07.fcs", ["B7"]),
    ("P01 IFN A02.fcs", ["A2"]), ("PBS12.fcs", []), ("P01_D3_A2.fcs", ["D3", "A2"]), ("H12x.fcs", [])])
def test_wells_in_name(name: str, wells: list[str]) -> None:
    assert wells_in_name(name) == wells


def test_keyword_wins_over_name_and_ambiguity_is_reported() -> None:
    assert file_well(Path("P01_D3_A2.fcs"), {"WELL ID": "A02"}) == ("A2", "keyword")
    assert file_well(Path("P01_D3_A2.fcs"), {"$WELL ID": "C5"}) == ("C5", "keyword")
    well, why = file_well(Path("P01_D3_A2.fcs"), {})
    assert well is None and "ambiguous" in why and "D3, A2" in why
    assert file_well(Path("tube.fcs"), {}) == (None, "no well keyword and no well ID in its name")
