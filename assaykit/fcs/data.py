"""DATA segment decoding: the event matrix as stored, from a layout and a byte buffer.

Pure functions over numpy arrays and ``bytes``-like buffers; no file access here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from .text import TextError


@dataclass(frozen=True)
class Layout:
    """How the events of one dataset are stored.

    ``widths`` are the stored widths per parameter (bits for I/F/D, characters for A; 0 for a
    delimited ASCII field written as ``*``); ``ranges`` are ``$PnR``. ``value_bits`` are the
    ``$PnB`` of integer data, which can be smaller than the stored width: FCS 2.0 writers
    (Beckman Coulter FC500) store 10-bit values in 16-bit words.
    """

    datatype: str
    widths: tuple[int, ...]
    big_endian: bool
    ranges: tuple[float, ...]
    value_bits: tuple[int, ...] = ()

    @property
    def padded(self) -> bool:
        """True when some integer parameter uses fewer bits than the word that stores it."""
        return bool(self.value_bits) and self.value_bits != self.widths

    @property
    def n_parameters(self) -> int:
        return len(self.widths)

    @property
    def row_bytes(self) -> int | None:
        """Bytes per event, or None for delimited ASCII (variable length)."""
        if self.datatype == "A":
            return None if 0 in self.widths else sum(self.widths)
        return sum(self.widths) // 8


def parse_byteorder(value: str) -> bool:
    """Return True for big-endian. Accepts ``1,2,3,4``/``1,2`` (little) and ``4,3,2,1``/``2,1``."""
    try:
        order = [int(x) for x in value.replace(" ", "").split(",") if x]
    except ValueError:
        raise TextError(f"$BYTEORD is not a list of numbers: {value!r}") from None
    if order and order == sorted(order) and order[0] == 1:
        return False
    if order and order == sorted(order, reverse=True) and order[-1] == 1:
        return True
    raise TextError(f"$BYTEORD {value!r} is neither little- nor big-endian; not supported")


def _int_keyword(keywords: dict[str, str], key: str) -> int:
    value = keywords.get(key)
    if value is None:
        raise TextError(f"keyword {key} is missing")
    text = value.strip()
    try:
        return int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            raise TextError(f"keyword {key} is not a number: {value!r}") from None
        if not number.is_integer():
            raise TextError(f"keyword {key} is not a whole number: {value!r}") from None
        return int(number)


def _range(keywords: dict[str, str], n: int) -> float:
    text = keywords.get(f"$P{n}R", "").strip()
    try:
        value = float(text)
    except ValueError:
        return 0.0
    return value if math.isfinite(value) and value > 0 else 0.0


def layout_from_keywords(keywords: dict[str, str]) -> tuple[Layout, list[str]]:
    """Build the DATA layout from TEXT keywords.

    A missing ``$DATATYPE`` is inferred when only one type fits the widths (e.g. 16-bit
    parameters can only be integers). Returns the layout and notes on anything inferred.
    """
    notes: list[str] = []
    n_par = _int_keyword(keywords, "$PAR")
    if n_par < 1:
        raise TextError(f"$PAR is {n_par}: a dataset needs at least one parameter")
    if n_par > len(keywords):
        raise TextError(f"$PAR declares {n_par} parameters but TEXT has only {len(keywords)} keywords")
    widths: list[int] = []
    for n in range(1, n_par + 1):
        raw = keywords.get(f"$P{n}B")
        if raw is None:
            raise TextError(f"keyword $P{n}B is missing")
        widths.append(0 if raw.strip() == "*" else _int_keyword(keywords, f"$P{n}B"))
    datatype = keywords.get("$DATATYPE", "").strip().upper()
    if not datatype:
        datatype = _infer_datatype(widths)
        notes.append(f"$DATATYPE missing; inferred {datatype} from $PnB")
    if datatype not in ("I", "F", "D", "A"):
        raise TextError(f"$DATATYPE {datatype!r} is not one of I, F, D, A")
    if datatype == "F" and any(w != 32 for w in widths):
        raise TextError(f"$DATATYPE F needs $PnB = 32 for every parameter, found {sorted(set(widths))}")
    if datatype == "D" and any(w != 64 for w in widths):
        raise TextError(f"$DATATYPE D needs $PnB = 64 for every parameter, found {sorted(set(widths))}")
    value_bits: tuple[int, ...] = ()
    if datatype == "I":
        bad = sorted({w for w in widths if w <= 0 or w > 64})
        if bad:
            raise TextError(f"integer widths $PnB = {bad} bits are not supported (need 1..64)")
        value_bits = tuple(widths)
        widths = [w if w % 8 == 0 else next(s for s in (8, 16, 32, 64) if s >= w) for w in widths]
        if list(value_bits) != widths:
            odd = sorted({b for b, w in zip(value_bits, widths, strict=True) if b != w})
            notes.append(f"{odd}-bit integers read from whole-byte words")
    if datatype == "A" and any(w < 0 for w in widths):
        raise TextError("ASCII widths $PnB must be positive or '*'")
    if datatype == "A" and 0 in widths and any(widths):
        raise TextError("ASCII data mixing fixed widths and '*' is not supported")
    big_endian = parse_byteorder(keywords.get("$BYTEORD", "1,2,3,4")) if datatype != "A" else False
    ranges = tuple(_range(keywords, n) for n in range(1, n_par + 1))
    return Layout(datatype, tuple(widths), big_endian, ranges, value_bits), notes


def _infer_datatype(widths: list[int]) -> str:
    """A missing $DATATYPE is only guessed where no other type could produce these widths."""
    candidates = []
    if all(0 < w <= 64 and w % 8 == 0 for w in widths):
        candidates.append("I")
    if all(w == 32 for w in widths):
        candidates.append("F")
    if all(w == 64 for w in widths):
        candidates.append("D")
    if len(candidates) == 1:
        return candidates[0]
    raise TextError(
        "$DATATYPE is missing and cannot be inferred: "
        f"$PnB = {sorted(set(widths))} fit {' and '.join(candidates) or 'no data type'}"
    )


def bit_masks(layout: Layout) -> np.ndarray | None:
    """Per-parameter masks from ``$PnR`` (next power of two minus one), or None when none apply."""
    masks = []
    needed = False
    value_bits = layout.value_bits or layout.widths
    for width, used, value in zip(layout.widths, value_bits, layout.ranges, strict=True):
        full = (1 << width) - 1
        mask = (1 << used) - 1
        if value >= 1:
            bits = (math.ceil(value) - 1).bit_length()
            mask = min(mask, (1 << bits) - 1)
        needed |= mask != full
        masks.append(mask)
    if not needed:
        return None
    return np.array(masks, dtype=np.uint64)


def _native(array: np.ndarray) -> np.ndarray:
    return array if array.dtype.isnative else array.astype(array.dtype.newbyteorder("="))


def decode(buffer: memoryview | bytes | np.ndarray, layout: Layout, n_events: int) -> np.ndarray:
    """Decode ``n_events`` events from ``buffer`` (which may hold more) into an array.

    Integers come back as unsigned integers masked by ``$PnR``; floats as float32/float64 (a
    view of ``buffer`` when stored in this machine's byte order: no copy); ASCII as float64.
    """
    p = layout.n_parameters
    endian = ">" if layout.big_endian else "<"
    widths = set(layout.widths)
    if layout.datatype in ("F", "D"):
        dtype = np.dtype(f"{endian}f{4 if layout.datatype == 'F' else 8}")
        flat = np.frombuffer(buffer, dtype=dtype, count=n_events * p)
        return _native(flat).reshape(n_events, p)
    if layout.datatype == "A":
        return _decode_ascii(buffer, layout, n_events)
    if len(widths) == 1 and next(iter(widths)) in (8, 16, 32, 64):
        dtype = np.dtype(f"{endian}u{layout.widths[0] // 8}")
        raw = _native(np.frombuffer(buffer, dtype=dtype, count=n_events * p)).reshape(n_events, p)
    else:
        raw = _decode_mixed_int(buffer, layout, n_events)
    masks = bit_masks(layout)
    if masks is not None:
        raw = raw & masks.astype(raw.dtype)
    return raw


def _decode_mixed_int(buffer: memoryview | bytes | np.ndarray, layout: Layout, n_events: int) -> np.ndarray:
    """Integers of unequal or odd (24, 40, 48, 56-bit) widths, assembled byte by byte."""
    row = layout.row_bytes or 0
    octets = np.frombuffer(buffer, dtype=np.uint8, count=n_events * row).reshape(n_events, row)
    out_dtype: type[np.unsignedinteger[Any]] = np.uint32 if max(layout.widths) <= 32 else np.uint64
    out = np.zeros((n_events, layout.n_parameters), dtype=out_dtype)
    column = 0
    for j, width in enumerate(layout.widths):
        n_bytes = width // 8
        part = octets[:, column : column + n_bytes]
        order = range(n_bytes - 1, -1, -1) if layout.big_endian else range(n_bytes)
        for shift, k in enumerate(order):
            out[:, j] |= part[:, k].astype(out_dtype) << out_dtype(8 * shift)
        column += n_bytes
    return out


_ASCII_SPLIT = re.compile(rb"[\s,]+")


def _decode_ascii(buffer: memoryview | bytes | np.ndarray, layout: Layout, n_events: int) -> np.ndarray:
    p = layout.n_parameters
    data = bytes(buffer)
    try:
        if 0 in layout.widths:  # '*': values separated by blanks or commas
            fields = [f for f in _ASCII_SPLIT.split(data.strip(b"\x00 \r\n\t,")) if f]
            if len(fields) < n_events * p:
                raise TextError(f"ASCII DATA holds {len(fields)} values, {n_events * p} declared")
            values = np.array([float(f) for f in fields[: n_events * p]], dtype=np.float64)
            return values.reshape(n_events, p)
        row = sum(layout.widths)
        out = np.empty((n_events, p), dtype=np.float64)
        for i in range(n_events):
            start = i * row
            for j, width in enumerate(layout.widths):
                out[i, j] = float(data[start : start + width] or b"0")
                start += width
        return out
    except ValueError as exc:
        raise TextError(f"ASCII DATA holds a value that is not a number ({exc})") from None
