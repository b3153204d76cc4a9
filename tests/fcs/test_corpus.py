"""The reader against real instrument files and the reference readers (fcsparser 0.2.8,
FlowIO 1.4.0; their values are in data/corpus_reference.json, see make_corpus_reference.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from assaykit import read_fcs

REFERENCE = json.loads((Path(__file__).parent.parent / "data" / "corpus_reference.json").read_text())


def _agreeing(entry: dict) -> dict | None:
    """The reference both readers agree on, or the single one that read the file."""
    ok = {name: ref for name, ref in entry.items() if "error" not in ref}
    if len(ok) == 2:
        a, b = ok.values()
        same = a["shape"] == b["shape"] and np.allclose(a["sums"], b["sums"], rtol=0, atol=0)
        return a if same else None
    return next(iter(ok.values())) if ok else None


# Files where the reference readers are wrong or disagree; each is decided in its own test below.
DECIDED = {
    "cytoflow/instruments/Accuri - C6.fcs",
    "cytoflow/instruments/Beckman Coulter - Cyan.fcs",
    "cytoflow/instruments/Beckman Coulter - Cytomics FC500.LMD",
    "flowkit/data_start_offset_discrepancy_example.fcs",
}

AGREED = sorted(rel for rel, entry in REFERENCE.items() if rel not in DECIDED and _agreeing(entry))


def _assert_matches(sample_raw: np.ndarray, ref: dict) -> None:
    assert list(sample_raw.shape) == ref["shape"]
    # summed row by row, as the references were (the order decides the last bits of a float sum)
    np.testing.assert_array_equal(np.ascontiguousarray(sample_raw).astype(np.float64).sum(axis=0), ref["sums"])
    np.testing.assert_array_equal(sample_raw[:2].astype(np.float64), ref["first_rows"])


@pytest.mark.parametrize("rel", AGREED)
def test_raw_values_equal_reference_readers(corpus: Path, rel: str) -> None:
    # LMD files: the references read the first (FCS 2.0) dataset; compare the same one.
    sample = read_fcs(corpus / rel, dataset=0)
    _assert_matches(sample.raw, _agreeing(REFERENCE[rel]))


def test_every_corpus_file_reads(corpus: Path) -> None:
    files = sorted(p for p in corpus.rglob("*") if p.suffix.lower() in (".fcs", ".lmd"))
    assert len(files) == 37
    for path in files:
        sample = read_fcs(path)
        assert sample.n_events > 0 and sample.n_channels > 0, path
        assert np.isfinite(sample.events).all(), path


def test_the_digest_is_the_whole_files(corpus: Path) -> None:
    """The SHA-256 taken while reading (DATA from the bytes decoded, the rest read again) is the
    whole file's, whichever dataset is read (the LMD files' first one lies before the second)."""
    import hashlib

    for path in sorted(p for p in corpus.rglob("*") if p.suffix.lower() in (".fcs", ".lmd")):
        expected = hashlib.sha256(path.read_bytes()).hexdigest()
        sample = read_fcs(path)
        assert sample.sha256 == expected, path
        if sample.n_datasets > 1:
            assert read_fcs(path, dataset=0).sha256 == expected, path


def test_accuri_text_offsets_point_into_text_so_header_wins(corpus: Path) -> None:
    # $BEGINDATA = 2526 lies inside TEXT (58-2959): impossible. The HEADER's 2960 holds
    # $TOT x 56 bytes exactly; fcsparser reads the same, FlowIO (lenient) reads TEXT bytes as data.
    rel = "cytoflow/instruments/Accuri - C6.fcs"
    sample = read_fcs(corpus / rel)
    _assert_matches(sample.raw, REFERENCE[rel]["fcsparser"])
    assert any("impossible" in note and "used HEADER" in note for note in sample.notes)
    assert sample.raw.max() < 2**24  # $PnR = 16777216: masked to 24 bits
    # Accuri names spillover channels by parameter number: mapped to $PnN
    assert sample.spillover is not None and sample.spillover.channels[:2] == ("FL1-A", "FL2-A")


def test_cyan_header_offsets_beat_late_text_offsets(corpus: Path) -> None:
    # HEADER says DATA 2284-141219, TEXT says 2330-141265; both spans hold $TOT events. Bytes
    # 141220 on are TEXT-like ('RawParameterList'), so a read from 2330 ends in them; read from 2284
    # 'Event Count' steps by exactly 1 through every event (fcsparser agrees; FlowIO reads 2330).
    rel = "cytoflow/instruments/Beckman Coulter - Cyan.fcs"
    sample = read_fcs(corpus / rel)
    _assert_matches(sample.raw, REFERENCE[rel]["fcsparser"])
    assert any("used HEADER" in note for note in sample.notes)
    assert sample.channels[10] == "Event Count"
    assert np.all(np.diff(sample.raw[:, 10].astype(np.int64)) == 1)
    late = np.frombuffer(sample.path.read_bytes()[2330:2330 + sample.n_events * 24], dtype="<u2")
    assert not np.all(np.diff(late.reshape(-1, 12)[:, 10].astype(np.int64)) == 1)


def test_fc500_ten_bit_words_agree_with_the_fcs3_copy(corpus: Path) -> None:
    # FCS 2.0 dataset: $PnB = 10 stored in 16-bit words. fcsparser reads it as garbage; the proof
    # is the FCS 3.0 copy of the same events at 20 bits: FS(3.0) ~ FS(2.0) x 1024.
    rel = "cytoflow/instruments/Beckman Coulter - Cytomics FC500.LMD"
    low = read_fcs(corpus / rel, dataset=0)
    high = read_fcs(corpus / rel)
    assert (low.version, high.version, high.dataset, high.n_datasets) == ("2.0", "3.0", 1, 2)
    assert low.n_events == high.n_events == 27072
    assert low.raw.max() <= 1023
    ratio = high.raw[:, 0] / np.maximum(low.raw[:, 0], 1)
    assert np.median(np.abs(ratio[low.raw[:, 0] > 50] - 1024)) < 16


def test_start_offset_discrepancy_header_inside_text(corpus: Path) -> None:
    rel = "flowkit/data_start_offset_discrepancy_example.fcs"
    sample = read_fcs(corpus / rel)
    _assert_matches(sample.raw, REFERENCE[rel]["flowio"])
    same = read_fcs(corpus / "flowio/variable_int_example.fcs")
    np.testing.assert_array_equal(sample.raw, same.raw)


def test_partec_cyflow_without_datatype(corpus: Path) -> None:
    # Both reference readers fail: the keyword is written with leading blanks
    # ('      $DATATYPE'), which is still the keyword once blanks are stripped.
    sample = read_fcs(corpus / "cytoflow/instruments/Partec - CyFlow v2.9.fcs")
    assert sample.keywords["$DATATYPE"] == "I"
    assert sample.raw.shape == (72989, 4) and sample.raw.dtype == np.uint16
    assert sample.raw.max() < 32768
    # $P2E = 4,0.1: SSC is log-decoded as 0.1 x 10^(4 x raw / 32768)
    np.testing.assert_allclose(sample.events[:, 1], 0.1 * 10 ** (4 * sample.raw[:, 1].astype(np.float64) / 32768.0))


def test_lmd_default_is_the_fcs3_copy(corpus: Path) -> None:
    for rel in ("flowkit/coulter.lmd", "cytoflow/instruments/Beckman Coulter - Gallios.LMD"):
        sample = read_fcs(corpus / rel)
        assert (sample.version, sample.dataset, sample.n_datasets) == ("3.0", 1, 2)
        first = read_fcs(corpus / rel, dataset=0)
        assert first.version == "2.0" and first.n_events == sample.n_events


def test_high_bits_masked_by_range(corpus: Path) -> None:
    sample = read_fcs(corpus / "cytoflow/instruments/System II listmode with extra info in bits D10-D15.LMD")
    assert sample.raw.max() <= 1023
    unmasked = np.fromfile(sample.path, dtype="<u2", count=sample.n_events * 6, offset=2048)
    assert unmasked.max() > 1023  # the file does carry other information in the high bits


def test_truth_arrays_data1(corpus: Path) -> None:
    sample = read_fcs(corpus / "flowkit/data1.fcs")
    np.testing.assert_array_equal(sample.raw, np.load(corpus / "flowio/truth/data1_original_events.npy"))
    # stored values are exact; log-decoded ones are computed (10 ** x differs in the last bit
    # between CPUs and libm builds): equal within 4 units in the last place
    np.testing.assert_array_max_ulp(sample.events, np.load(corpus / "flowio/truth/data1_preprocessed.npy"), maxulp=4)
    # CellQuest writes empty values as doubled delimiters
    assert sample.keywords["&13ANALYSIS DOC."] == ""


def test_truth_arrays_accuri_timestep(corpus: Path) -> None:
    sample = read_fcs(corpus / "flowio/B01 KC-A-W---91-US.fcs")
    truth = np.load(corpus / "flowio/truth/B01 KC-A-W---91-US_preprocessed_events.npy")
    np.testing.assert_array_equal(sample.events, truth)


def test_spillover_keywords(corpus: Path) -> None:
    sample = read_fcs(corpus / "flowkit/test_comp_example.fcs")
    spill = sample.spillover
    assert spill is not None and spill.keyword == "SPILL"
    assert spill.matrix.shape == (len(spill.channels),) * 2
    np.testing.assert_array_equal(np.diag(spill.matrix), 1.0)
    assert set(spill.channels) <= set(sample.channels)
    nl = read_fcs(corpus / "cytoflow/instruments/Cytek NL-2000.fcs")
    assert nl.spillover is not None and nl.spillover.keyword == "$SPILLOVER"


def test_24_bit_integers(corpus: Path) -> None:
    sample = read_fcs(corpus / "flowcal/beads/beads_AJ01_a.fcs")
    assert sample.raw.shape == (33024, 8)
    assert "24" in sample.keywords["$P3B"]
