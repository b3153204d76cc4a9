"""Property tests: random valid files round-trip exactly; damaged files raise only FCSFormatError."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assaykit import FCSFormatError, read_fcs

from ..fcs_builder import build_fcs

DELIMITERS = [b"/", b"\\", b"|", b"\x0c", b"!", b"\x1e"]


@st.composite
def fcs_files(draw: st.DrawFn) -> tuple[bytes, np.ndarray]:
    n = draw(st.integers(0, 40))
    p = draw(st.integers(1, 6))
    datatype = draw(st.sampled_from("IFDA"))
    big = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if datatype == "I":
        widths = [draw(st.sampled_from([8, 16, 24, 32, 64])) for _ in range(p)]
        values = np.stack([rng.integers(0, 2 ** w, size=n, dtype=np.uint64) for w in widths], axis=1)
        values = values.reshape(n, p)
        ranges = [str(2 ** w) for w in widths]
    elif datatype == "A":
        widths = [draw(st.integers(4, 9)) for _ in range(p)]
        values = rng.integers(0, 9999, size=(n, p))
        ranges = ["10000"] * p
    else:
        widths = None
        values = rng.normal(0, 1e4, size=(n, p)).astype(np.float32 if datatype == "F" else np.float64)
        ranges = None
    value_text = draw(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12))
    blob = build_fcs(
        values, datatype=datatype, widths=widths, big_endian=big, ranges=ranges,
        delimiter=draw(st.sampled_from(DELIMITERS)),
        version=draw(st.sampled_from(["2.0", "3.0", "3.1", "3.2"])),
        header_data_offsets=draw(st.booleans()),
        extra=[("$COM", value_text or "x")],
    )
    return blob, values


def _read(blob: bytes) -> object:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "h.fcs"
        path.write_bytes(blob)
        return read_fcs(path)


@settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(fcs_files())
def test_random_valid_files_round_trip(case: tuple[bytes, np.ndarray]) -> None:
    blob, values = case
    sample = _read(blob)
    assert sample.raw.shape == values.shape
    if values.dtype.kind == "f":
        np.testing.assert_array_equal(sample.raw, values)
    else:
        np.testing.assert_array_equal(sample.raw.astype(np.uint64), values.astype(np.uint64))


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(fcs_files(), st.data())
def test_truncations_raise_only_fcs_format_error(case: tuple[bytes, np.ndarray], data: st.DataObject) -> None:
    blob, values = case
    cut = data.draw(st.integers(0, len(blob) - 1))
    try:
        sample = _read(blob[:cut])
    except FCSFormatError:
        return
    # a cut that removes no event data can still read (off-by-one tolerance); it must be exact
    assert sample.raw.shape == values.shape


@settings(max_examples=500, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(fcs_files(), st.data())
def test_byte_flips_raise_only_fcs_format_error(case: tuple[bytes, np.ndarray], data: st.DataObject) -> None:
    blob, _ = case
    damaged = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(blob) - 1))
        damaged[position] = data.draw(st.integers(0, 255))
    with contextlib.suppress(FCSFormatError):
        _read(bytes(damaged))


@given(st.lists(st.sampled_from([b"/", b"a", b"B", b"$", b" ", b"//", b"///"]), max_size=40))
def test_tokens_split_as_the_escaping_rule_says(parts: list[bytes]) -> None:
    """TEXT tokens, whether the body holds escaped delimiters (the run-by-run reading) or not (a
    plain split): a run of k delimiters is k // 2 literal ones, then a separator when k is odd."""
    import re

    from assaykit.fcs.text import _tokens_escaped

    body = b"".join(parts)
    expected: list[bytes] = []
    current = b""
    position = 0
    for run in re.finditer(rb"/+", body):
        current += body[position:run.start()] + b"/" * ((run.end() - run.start()) // 2)
        if (run.end() - run.start()) % 2:
            expected.append(current)
            current = b""
        position = run.end()
    current += body[position:]
    if current:
        expected.append(current)
    assert _tokens_escaped(body, b"/") == expected
