"""An FCS writer for tests, independent of assaykit's reader and of FlowIO.

It writes every layout the reader must handle (all data types, widths, byte orders, delimiters,
escapes, offsets in HEADER or only in TEXT, supplemental TEXT, $NEXTDATA chains), so that the
reader can be checked against values we put in.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PAD = 20  # digits of the offsets written into TEXT (leading zeros keep the TEXT length fixed)


def _encode_events(events: np.ndarray, datatype: str, widths: Sequence[int], big_endian: bool) -> bytes:
    order = ">" if big_endian else "<"
    if datatype == "F":
        return np.asarray(events, dtype=order + "f4").tobytes()
    if datatype == "D":
        return np.asarray(events, dtype=order + "f8").tobytes()
    if datatype == "A":
        out = bytearray()
        for row in events:
            for value, width in zip(row, widths, strict=True):
                # width 0 is '*': values separated by a blank
                out += (str(int(value)) + " " if width == 0 else str(int(value)).rjust(width)).encode()
        return bytes(out)
    out = bytearray()
    byteorder = "big" if big_endian else "little"
    for row in events:
        for value, width in zip(row, widths, strict=True):
            out += int(value).to_bytes(width // 8, byteorder)
    return bytes(out)


def _text(pairs: Sequence[tuple[str, str]], delimiter: bytes, escape: bool, final: bool) -> bytes:
    out = bytearray(delimiter)
    for i, (key, value) in enumerate(pairs):
        k, v = key.encode("utf-8"), value.encode("utf-8")
        if escape:
            k, v = k.replace(delimiter, delimiter * 2), v.replace(delimiter, delimiter * 2)
        out += k + delimiter + v
        if final or i < len(pairs) - 1:
            out += delimiter
    return bytes(out)


def build_fcs(
    events: np.ndarray,
    *,
    version: str = "3.1",
    datatype: str = "F",
    widths: Sequence[int] | None = None,
    big_endian: bool = False,
    byteorder: str | None = None,
    delimiter: bytes = b"/",
    names: Sequence[str] | None = None,
    markers: Sequence[str] | None = None,
    ranges: Sequence[str] | None = None,
    extra: Sequence[tuple[str, str]] = (),
    supplemental: Sequence[tuple[str, str]] = (),
    header_data_offsets: bool = True,
    text_offsets_in_text: bool = True,
    omit: Sequence[str] = (),
    escape: bool = True,
    final_delimiter: bool = True,
    text_start: int = 256,
    nextdata: int = 0,
    data_end_adjust: int = 0,
    text_end_adjust: int = 0,
) -> bytes:
    """Bytes of one FCS dataset holding ``events`` (n x p) as given.

    ``widths`` default to 32 (F), 64 (D), 16 (I) or 6 characters (A). ``omit`` drops keywords
    (e.g. ``"$DATATYPE"``). ``*_adjust`` shift end offsets to mimic off-by-one writers.
    """
    events = np.asarray(events)
    n, p = events.shape
    if widths is None:
        widths = [{"F": 32, "D": 64, "I": 16, "A": 6}[datatype]] * p
    names = list(names) if names is not None else [f"P{i + 1}-A" for i in range(p)]
    data = _encode_events(events, datatype, widths, big_endian)
    if byteorder is None:
        byteorder = "4,3,2,1" if big_endian else "1,2,3,4"
    supp = _text(supplemental, delimiter, escape, True) if supplemental else b""

    def pairs(begin_data: int, end_data: int, begin_stext: int, end_stext: int) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if text_offsets_in_text:
            out += [("$BEGINDATA", str(begin_data).zfill(PAD)), ("$ENDDATA", str(end_data).zfill(PAD))]
        out += [("$BEGINANALYSIS", "0"), ("$ENDANALYSIS", "0"),
                ("$BEGINSTEXT", str(begin_stext).zfill(PAD)), ("$ENDSTEXT", str(end_stext).zfill(PAD)),
                ("$BYTEORD", byteorder), ("$DATATYPE", datatype), ("$MODE", "L"),
                ("$NEXTDATA", str(nextdata).zfill(PAD)), ("$PAR", str(p)), ("$TOT", str(n))]
        for i in range(p):
            out += [(f"$P{i + 1}B", "*" if widths[i] == 0 else str(widths[i])),
                    (f"$P{i + 1}E", "0,0"), (f"$P{i + 1}N", names[i])]
            rng = ranges[i] if ranges is not None else str(2 ** min(widths[i] or 16, 20))
            out.append((f"$P{i + 1}R", rng))
            if markers is not None and markers[i]:
                out.append((f"$P{i + 1}S", markers[i]))
        out += list(extra)
        return [(k, v) for k, v in out if k not in omit]

    text_len = len(_text(pairs(0, 0, 0, 0), delimiter, escape, final_delimiter))
    text_end = text_start + text_len - 1
    stext_begin = text_end + 1 if supp else 0
    stext_end = stext_begin + len(supp) - 1 if supp else 0
    data_begin = (stext_end if supp else text_end) + 1
    data_end = data_begin + len(data) - 1
    text = _text(pairs(data_begin, data_end + data_end_adjust, stext_begin, stext_end),
                 delimiter, escape, final_delimiter)
    assert len(text) == text_len
    offsets = [text_start, text_end + text_end_adjust]
    offsets += [data_begin, data_end + data_end_adjust] if header_data_offsets else [0, 0]
    offsets += [0, 0]
    header = f"FCS{version}    ".encode() + b"".join(str(o).rjust(8).encode() for o in offsets)
    header = header.ljust(text_start, b" ")
    return header + text + supp + data


def build_chain(datasets: Sequence[dict]) -> bytes:
    """Several datasets linked by $NEXTDATA; each dict holds ``build_fcs`` arguments."""
    blobs: list[bytes] = []
    for position, spec in enumerate(datasets):
        arguments = dict(spec)
        events = arguments.pop("events")
        blob = build_fcs(events, **arguments)
        if position < len(datasets) - 1:  # the offset has fixed width: the length is unchanged
            blob = build_fcs(events, nextdata=len(blob), **arguments)
        blobs.append(blob)
    return b"".join(blobs)
