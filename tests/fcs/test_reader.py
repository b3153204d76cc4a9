"""The reader on files we build byte by byte (tests/fcs_builder.py), one FCS feature per test."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from assaykit import FCSFormatError, read_fcs
from assaykit.fcs.writer import write_fcs

from ..fcs_builder import build_chain, build_fcs

RNG = np.random.default_rng(7)
INTS = RNG.integers(0, 1000, size=(50, 3))
FLOATS = RNG.normal(100, 30, size=(50, 3))


def _write(tmp_path: Path, blob: bytes, name: str = "x.fcs") -> Path:
    path = tmp_path / name
    path.write_bytes(blob)
    return path


@pytest.mark.parametrize("version", ["2.0", "3.0", "3.1", "3.2"])
@pytest.mark.parametrize("delimiter", [b"/", b"\\", b"|", b"\x0c", b"*", b"\xfe"])
def test_versions_and_delimiters(tmp_path: Path, version: str, delimiter: bytes) -> None:
    blob = build_fcs(FLOATS, version=version, delimiter=delimiter,
                     extra=[("$FIL", "a/b\\c|d*e.fcs")])
    sample = read_fcs(_write(tmp_path, blob))
    assert sample.version == version
    np.testing.assert_array_equal(sample.raw, FLOATS.astype(np.float32))
    assert sample.keywords["$FIL"] == "a/b\\c|d*e.fcs"  # escaped delimiters come back single


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("widths", [[8, 8, 8], [16, 16, 16], [24, 24, 24], [32, 32, 32],
                                    [64, 64, 64], [8, 16, 32], [16, 24, 64]])
def test_integer_widths_and_byte_orders(tmp_path: Path, widths: list[int], big_endian: bool) -> None:
    values = np.stack([RNG.integers(0, 2 ** w, size=40, dtype=np.uint64) for w in widths], axis=1)
    ranges = [str(2 ** w) for w in widths]
    blob = build_fcs(values, datatype="I", widths=widths, big_endian=big_endian, ranges=ranges)
    sample = read_fcs(_write(tmp_path, blob))
    np.testing.assert_array_equal(sample.raw.astype(np.uint64), values)
    np.testing.assert_array_equal(sample.events, values.astype(np.float64))


@pytest.mark.parametrize("byteorder,big", [("1,2", False), ("2,1", True), ("1,2,3,4", False),
                                           ("4,3,2,1", True)])
def test_two_and_four_byte_byteord(tmp_path: Path, byteorder: str, big: bool) -> None:
    blob = build_fcs(INTS, datatype="I", widths=[16] * 3, big_endian=big, byteorder=byteorder)
    np.testing.assert_array_equal(read_fcs(_write(tmp_path, blob)).raw, INTS)


def test_unsupported_byteorder_is_refused(tmp_path: Path) -> None:
    blob = build_fcs(INTS, datatype="I", widths=[32] * 3, byteorder="3,4,1,2")
    with pytest.raises(FCSFormatError, match="BYTEORD"):
        read_fcs(_write(tmp_path, blob))


@pytest.mark.parametrize("datatype", ["F", "D"])
@pytest.mark.parametrize("big_endian", [False, True])
def test_float_and_double(tmp_path: Path, datatype: str, big_endian: bool) -> None:
    blob = build_fcs(FLOATS, datatype=datatype, big_endian=big_endian)
    sample = read_fcs(_write(tmp_path, blob))
    expected = FLOATS.astype(np.float32 if datatype == "F" else np.float64)
    assert sample.raw.dtype == expected.dtype and sample.raw.dtype.isnative
    np.testing.assert_array_equal(sample.raw, expected)
    assert sample.events is sample.raw  # no scaling: no copy


def test_ascii_fixed_width(tmp_path: Path) -> None:
    blob = build_fcs(INTS, datatype="A", widths=[5, 6, 7], version="2.0")
    np.testing.assert_array_equal(read_fcs(_write(tmp_path, blob)).raw, INTS)


def test_ascii_delimited(tmp_path: Path) -> None:
    blob = build_fcs(INTS, datatype="A", widths=[0, 0, 0], version="2.0")
    np.testing.assert_array_equal(read_fcs(_write(tmp_path, blob)).raw, INTS)


def test_missing_datatype_inferred_when_unambiguous(tmp_path: Path) -> None:
    blob = build_fcs(INTS, datatype="I", widths=[16] * 3, omit=["$DATATYPE"])
    sample = read_fcs(_write(tmp_path, blob))
    np.testing.assert_array_equal(sample.raw, INTS)
    assert any("inferred I" in note for note in sample.notes)


def test_missing_datatype_refused_when_ambiguous(tmp_path: Path) -> None:
    blob = build_fcs(FLOATS, datatype="F", omit=["$DATATYPE"])
    with pytest.raises(FCSFormatError, match="cannot be inferred"):
        read_fcs(_write(tmp_path, blob))


def test_empty_values_and_missing_final_delimiter(tmp_path: Path) -> None:
    blob = build_fcs(FLOATS, escape=False, final_delimiter=False, version="2.0",
                     extra=[("$COM", ""), ("$SRC", ""), ("LAST", "end")])
    sample = read_fcs(_write(tmp_path, blob))
    assert sample.keywords["$COM"] == "" and sample.keywords["LAST"] == "end"
    np.testing.assert_array_equal(sample.raw, FLOATS.astype(np.float32))


def test_whitespace_and_leading_zeros(tmp_path: Path) -> None:
    blob = build_fcs(INTS, datatype="I", widths=[16] * 3,
                     ranges=[" 01024 ", "1024.0", "0001024"])
    sample = read_fcs(_write(tmp_path, blob))  # the offsets themselves have 20-digit zero padding
    np.testing.assert_array_equal(sample.raw, INTS)
    assert sample.channel_ranges() == (1024.0, 1024.0, 1024.0)


def test_latin1_and_utf8_values(tmp_path: Path) -> None:
    blob = build_fcs(FLOATS, extra=[("$OP", "Ménard µ")])
    assert read_fcs(_write(tmp_path, blob)).keywords["$OP"] == "Ménard µ"
    latin = blob.replace("Ménard µ".encode(), "Ménard µ".encode("latin-1") + b"  ")
    assert read_fcs(_write(tmp_path, latin, "l.fcs")).keywords["$OP"] == "Ménard µ  "


@pytest.mark.parametrize(("names", "message"), [
    (["FL1", "FL1", "FL2"], "channels 1 and 2 are both named 'FL1'"),
    (["PE-A", "FL2", "PE-A"], "channels 1 and 3 are both named 'PE-A'"),
    (["PE-A", "FL2", " PE-A"], "channels 1 and 3 are both named 'PE-A'"),
])
def test_duplicate_channel_names_are_refused(tmp_path: Path, names: list[str], message: str) -> None:
    # FCS requires unique $PnN: every lookup by name would take the first in file order (a
    # relabelled tube read its AB/C 21 % off from the other PE-A, exit 0); refused wherever read
    from assaykit.fcs import read_fcs_text

    path = _write(tmp_path, build_fcs(FLOATS, names=names, markers=["CD14", "", "HLA-DR PE"]))
    for read in (read_fcs, read_fcs_text):
        with pytest.raises(FCSFormatError, match=re.escape(message)) as caught:
            read(path)
        assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_names_alike_but_distinct_are_read(tmp_path: Path) -> None:
    # names only alike are distinct: a lookup spelling one exactly finds it (GatingML exports of
    # hostile names, tests/test_hostile_refactor.py)
    for names in (["FSC-A", "FSCA", "FL2"], ["PE-A", "PE/A", "PE.B"]):
        assert read_fcs(_write(tmp_path, build_fcs(FLOATS, names=names))).channels == tuple(names)


def test_names_one_but_for_case_are_refused(tmp_path: Path) -> None:
    # a marker is looked up whatever the case: PE-A (holding another dye) and pe-a in one file made
    # HLA-DR read from the first, 6.6 % off, without a word (the re-check of issue 29)
    with pytest.raises(FCSFormatError, match=r"channels 1 and 3 are named 'PE-A' and 'pe-a', one name but for case"):
        read_fcs(_write(tmp_path, build_fcs(FLOATS, names=["PE-A", "PE/A", "pe-a"])))


def test_supplemental_text(tmp_path: Path) -> None:
    blob = build_fcs(FLOATS, supplemental=[("$CYT", "FACSCanto II"), ("WELL ID", "B7")])
    sample = read_fcs(_write(tmp_path, blob))
    assert sample.keywords["$CYT"] == "FACSCanto II" and sample.keywords["WELL ID"] == "B7"
    np.testing.assert_array_equal(sample.raw, FLOATS.astype(np.float32))


def test_zero_header_offsets_use_text(tmp_path: Path) -> None:
    # files over 99,999,999 bytes carry 0 in the HEADER DATA offsets
    blob = build_fcs(FLOATS, header_data_offsets=False)
    np.testing.assert_array_equal(read_fcs(_write(tmp_path, blob)).raw, FLOATS.astype(np.float32))


def test_blank_header_offsets_use_text(tmp_path: Path) -> None:
    blob = bytearray(build_fcs(FLOATS))
    blob[26:42] = b" " * 16
    np.testing.assert_array_equal(read_fcs(_write(tmp_path, bytes(blob))).raw, FLOATS.astype(np.float32))


def test_offsets_only_in_header(tmp_path: Path) -> None:
    blob = build_fcs(FLOATS, version="2.0", text_offsets_in_text=False)
    np.testing.assert_array_equal(read_fcs(_write(tmp_path, blob)).raw, FLOATS.astype(np.float32))


@pytest.mark.parametrize("adjust", [-1, 1])
def test_off_by_one_data_end(tmp_path: Path, adjust: int) -> None:
    blob = build_fcs(FLOATS, data_end_adjust=adjust) + (b"\x00" if adjust > 0 else b"")
    np.testing.assert_array_equal(read_fcs(_write(tmp_path, blob)).raw, FLOATS.astype(np.float32))


@pytest.mark.parametrize("adjust", [-1, 1])
def test_off_by_one_text_end(tmp_path: Path, adjust: int) -> None:
    blob = build_fcs(FLOATS, text_end_adjust=adjust, extra=[("LAST", "value")])
    sample = read_fcs(_write(tmp_path, blob))
    np.testing.assert_array_equal(sample.raw, FLOATS.astype(np.float32))
    assert sample.keywords["$PAR"] == "3"


def test_nextdata_chain(tmp_path: Path) -> None:
    second = RNG.normal(size=(20, 2))
    blob = build_chain([{"events": FLOATS}, {"events": second, "version": "3.0"},
                        {"events": INTS, "datatype": "I", "widths": [16] * 3}])
    path = _write(tmp_path, blob)
    first = read_fcs(path)
    assert (first.dataset, first.n_datasets) == (0, 3)
    np.testing.assert_array_equal(first.raw, FLOATS.astype(np.float32))
    np.testing.assert_array_equal(read_fcs(path, dataset=1).raw, second.astype(np.float32))
    np.testing.assert_array_equal(read_fcs(path, dataset=2).raw, INTS)
    with pytest.raises(FCSFormatError, match="dataset 3 requested but the file holds 3"):
        read_fcs(path, dataset=3)


def test_lmd_style_pair_defaults_to_fcs3(tmp_path: Path) -> None:
    low = (INTS // 64).astype(np.int64)
    blob = build_chain([{"events": low, "datatype": "I", "widths": [16] * 3, "version": "2.0"},
                        {"events": INTS, "datatype": "I", "widths": [32] * 3, "version": "3.0"}])
    sample = read_fcs(_write(tmp_path, blob))
    assert (sample.version, sample.dataset) == ("3.0", 1)
    np.testing.assert_array_equal(sample.raw, INTS)


def test_nextdata_past_the_end_is_refused(tmp_path: Path) -> None:
    # $NEXTDATA is a positive offset from the dataset's start, so a chain always moves forward
    # and ends; one that points past the end of the file is a file cut short: refused, never the
    # first dataset read in its place (an LMD cut after its FCS 2.0 dataset read 5.6 % high)
    blob = build_fcs(FLOATS, nextdata=10**9)
    with pytest.raises(FCSFormatError, match=r"past the end of the file .*: the file is damaged"):
        read_fcs(_write(tmp_path, blob))


def test_pnr_masks_high_bits_and_gain_and_log(tmp_path: Path) -> None:
    values = np.array([[1023 + 4096, 512, 100], [5, 1024 * 3 + 7, 0]])
    blob = build_fcs(values, datatype="I", widths=[16] * 3, ranges=["1024", "1024", "1000"],
                     extra=[("$P1G", "4"), ("$P2E", "4,1"), ("$P3E", "3,0")])
    blob = blob.replace(b"$P2E/0,0/", b"$P2E/4,1/").replace(b"$P3E/0,0/", b"$P3E/3,0/")
    sample = read_fcs(_write(tmp_path, blob))
    np.testing.assert_array_equal(sample.raw, [[1023, 512, 100], [5, 7, 0]])
    np.testing.assert_allclose(sample.events[:, 0], [1023 / 4, 5 / 4])
    np.testing.assert_allclose(sample.events[:, 1], 10 ** (4 * np.array([512, 7]) / 1024))
    np.testing.assert_allclose(sample.events[:, 2], 10 ** (3 * np.array([100, 0]) / 1000))
    # the top of scale is decoded as the values are: $PnR / gain, f2 x 10^f1 (f2 = 0 read as 1)
    assert sample.scale_tops() == (1024 / 4, 1e4, 1e3)


def test_flowio_written_file_round_trips(tmp_path: Path) -> None:
    path = write_fcs(tmp_path / "w.fcs", FLOATS, ["FSC-A", "PE-A", "Time"], ["", "HLA-DR", ""],
                     {"$SPILLOVER": "2,FSC-A,PE-A,1,0.1,0.2,1", "WELL ID": "C4"})
    sample = read_fcs(path)
    np.testing.assert_array_equal(sample.raw, FLOATS.astype(np.float32))
    assert sample.keywords["WELL ID"] == "C4"
    assert sample.spillover is not None
    np.testing.assert_array_equal(sample.spillover.matrix, [[1, 0.1], [0.2, 1]])
    assert sample.spillover.channels == ("FSC-A", "PE-A")
    assert sample.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert not sample.raw.flags.writeable


def test_comp_keyword_on_fluorescence_channels(tmp_path: Path) -> None:
    blob = build_fcs(FLOATS, names=["FSC-A", "FL1-H", "FL2-H"], extra=[("$COMP", "2,1,0.25,0.03,1")])
    sample = read_fcs(_write(tmp_path, blob))
    assert sample.spillover is not None and sample.spillover.keyword == "$COMP"
    assert sample.spillover.channels == ("FL1-H", "FL2-H")
    np.testing.assert_array_equal(sample.spillover.matrix, [[1, 0.25], [0.03, 1]])


@pytest.mark.parametrize("key", ["$SPILLOVER", "SPILL", "$SPILL"])
def test_spillover_keyword_variants(tmp_path: Path, key: str) -> None:
    blob = build_fcs(FLOATS, names=["FSC-A", "PE-A", "PerCP-A"], extra=[(key, "2,PE-A,PerCP-A,1,0.1,0,1")])
    spill = read_fcs(_write(tmp_path, blob)).spillover
    assert spill is not None and spill.keyword == key and spill.channels == ("PE-A", "PerCP-A")


def test_malformed_spillover_is_ignored_with_a_note(tmp_path: Path) -> None:
    blob = build_fcs(FLOATS, extra=[("$SPILLOVER", "3,A,B,1,0")])
    sample = read_fcs(_write(tmp_path, blob))
    assert sample.spillover is None and any("$SPILLOVER holds" in note for note in sample.notes)


def test_the_digest_covers_what_lies_around_data(tmp_path: Path) -> None:
    """SHA-256 of the whole file: bytes after DATA (an ANALYSIS segment, padding) included, and
    for an empty acquisition (no DATA read) the file alone."""
    padded = _write(tmp_path, build_fcs(FLOATS) + b"ANALYSIS" * 100, "padded.fcs")
    assert read_fcs(padded).sha256 == hashlib.sha256(padded.read_bytes()).hexdigest()
    empty = _write(tmp_path, build_fcs(FLOATS[:0]), "empty.fcs")
    sample = read_fcs(empty)
    assert sample.n_events == 0
    assert sample.sha256 == hashlib.sha256(empty.read_bytes()).hexdigest()


def test_the_digest_is_taken_when_asked_for_from_the_bytes_read(tmp_path: Path) -> None:
    """Reading does not hash the file; the first ``sha256`` does, once, over the bytes that were
    read (a file rewritten afterwards does not change it); native float DATA is not copied."""
    path = write_fcs(tmp_path / "w.fcs", FLOATS, ["FSC-A", "PE-A", "Time"])
    original = path.read_bytes()
    sample = read_fcs(path)
    assert "sha256" not in vars(sample)  # not computed by reading
    assert np.shares_memory(sample.raw, sample.file_bytes[1])  # the DATA read is the events: no copy
    path.write_bytes(original[:-8] + b"CHANGED!")
    assert sample.sha256 == hashlib.sha256(original).hexdigest() != hashlib.sha256(path.read_bytes()).hexdigest()
    assert vars(sample)["sha256"] is sample.sha256  # kept after the first access


def test_a_compensation_matrix_naming_one_channel_twice_is_refused(tmp_path: Path) -> None:
    from assaykit import GatingError
    from assaykit.fcs.compensation import compensate

    sample = read_fcs(_write(tmp_path, build_fcs(FLOATS, names=["FL1", "FL2", "FL3"])))
    matrix = np.array([[1.0, 0.1], [0.2, 1.0]])
    with pytest.raises(GatingError, match=r"names channel 'FL2' and 'fl2' twice: each detector must appear once"):
        compensate(sample, matrix, ["FL2", "fl2"])
    compensated = compensate(sample, matrix, ["FL1", "FL2"])  # two detectors: compensated as the matrix says
    expected = sample.events[:, :2].astype(np.float64) @ np.linalg.inv(matrix)
    np.testing.assert_allclose(compensated[0], expected[:, 0])
    np.testing.assert_allclose(compensated[1], expected[:, 1])
