"""Broken input: one FCSFormatError naming the file and the problem, never anything else."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from assaykit import AssayKitError, FCSFormatError, read_fcs

from ..fcs_builder import build_fcs

EVENTS = np.arange(60, dtype=np.float64).reshape(20, 3)


def _expect(path: Path, pattern: str) -> FCSFormatError:
    with pytest.raises(FCSFormatError, match=pattern) as info:
        read_fcs(path)
    error = info.value
    assert isinstance(error, AssayKitError)
    assert error.path == path and str(path) in str(error)
    assert "\n" not in str(error)
    return error


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.fcs"
    path.write_bytes(b"")
    _expect(path, "the file is empty")


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.fcs"
    path.write_text("well,patient\nA1,P01\n" * 10)
    _expect(path, "not an FCS file")


def test_short_file(tmp_path: Path) -> None:
    path = tmp_path / "short.fcs"
    path.write_bytes(b"FCS3.1    ")
    _expect(path, "too short for an FCS HEADER")


def test_header_only(tmp_path: Path) -> None:
    path = tmp_path / "header.fcs"
    path.write_bytes(build_fcs(EVENTS)[:58])
    _expect(path, "header-only")


def test_truncated_in_data(tmp_path: Path) -> None:
    blob = build_fcs(EVENTS)
    path = tmp_path / "truncated.fcs"
    path.write_bytes(blob[:-40])
    _expect(path, "declares 20 events .* holds only")


def test_truncated_in_text(tmp_path: Path) -> None:
    blob = build_fcs(EVENTS)
    path = tmp_path / "cut.fcs"
    path.write_bytes(blob[:300])
    _expect(path, r"\$P|keyword|DATA")


def test_text_declares_more_events_than_the_file_holds(tmp_path: Path) -> None:
    blob = build_fcs(EVENTS).replace(b"$TOT/20/", b"$TOT/99/")
    path = tmp_path / "more.fcs"
    path.write_bytes(blob)
    _expect(path, "declares 99 events")


def test_huge_declared_size_fails_at_once(tmp_path: Path) -> None:
    blob = build_fcs(EVENTS).replace(b"$TOT/20/", b"$TOT/1000000000000/")
    blob = blob.replace(b"$PAR/3/", b"$PAR/3/")  # 10^12 events x 12 bytes in a tiny file
    path = tmp_path / "huge.fcs"
    path.write_bytes(blob + b"\x00" * (4096 - len(blob)))
    assert path.stat().st_size == 4096
    start = time.perf_counter()
    _expect(path, "declares 1000000000000 events")
    assert time.perf_counter() - start < 0.5


def test_huge_par_fails_at_once(tmp_path: Path) -> None:
    blob = build_fcs(EVENTS).replace(b"$PAR/3/", b"$PAR/999999999/")
    path = tmp_path / "par.fcs"
    path.write_bytes(blob)
    _expect(path, "PAR declares 999999999 parameters")


def test_directory(tmp_path: Path) -> None:
    _expect(tmp_path, "is a directory")


def test_missing_path(tmp_path: Path) -> None:
    _expect(tmp_path / "nope.fcs", "no such file")


def test_bad_datatype(tmp_path: Path) -> None:
    blob = build_fcs(EVENTS).replace(b"$DATATYPE/F/", b"$DATATYPE/Q/")
    path = tmp_path / "q.fcs"
    path.write_bytes(blob)
    _expect(path, "DATATYPE 'Q'")


def test_input_is_never_modified(tmp_path: Path) -> None:
    path = tmp_path / "keep.fcs"
    blob = build_fcs(EVENTS)
    path.write_bytes(blob)
    stat = path.stat()
    read_fcs(path)
    assert path.read_bytes() == blob and path.stat().st_mtime_ns == stat.st_mtime_ns


def test_read_fcs_text_reads_keywords_only(tmp_path: Path) -> None:
    from assaykit.fcs import read_fcs_text

    path = tmp_path / "k.fcs"
    path.write_bytes(build_fcs(EVENTS, extra=[("WELL ID", "D5")])[:-40])  # DATA truncated: TEXT still reads
    assert read_fcs_text(path)["WELL ID"] == "D5"
    with pytest.raises(FCSFormatError, match="no such file"):
        read_fcs_text(tmp_path / "none.fcs")
