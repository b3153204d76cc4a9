"""Writing FCS 3.1 files (float32, little-endian) through FlowIO, atomically."""

from __future__ import annotations

import os
import warnings
from array import array
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from .._io.atomic import atomic_output


def write_fcs(
    path: str | os.PathLike[str],
    events: np.ndarray,
    channels: Sequence[str],
    markers: Sequence[str] | None = None,
    keywords: Mapping[str, str] | None = None,
) -> Path:
    """Write ``events`` (n_events x n_channels) as an FCS 3.1 float32 file.

    ``channels`` become ``$PnN``, ``markers`` ``$PnS`` ('' for none); ``keywords`` are added to
    TEXT (e.g. ``{"$SPILLOVER": ..., "WELL ID": "A1", "$P1R": "262144"}``). The file appears
    atomically: it is written beside its target and renamed into place.
    """
    import flowio  # imported here: only the simulator and tests write files

    target = Path(path)
    data = np.ascontiguousarray(events, dtype="<f4")
    if data.ndim != 2 or data.shape[1] != len(channels):
        raise ValueError(f"events must be n x {len(channels)}, got shape {data.shape}")
    flat = array("f")
    flat.frombytes(data.tobytes())
    with atomic_output(target) as out, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flowio.create_fcs(out, flat, list(channels),
                          opt_channel_names=list(markers) if markers is not None else None,
                          metadata_dict=dict(keywords or {}))
    return target


FCS2_MAX_DATA_BYTES = 99_000_000
"""DATA an FCS 2.0 dataset may hold: FCS 2.0 gives the DATA offsets in the HEADER's 8-digit fields
only (no ``$BEGINDATA``), so DATA must end before byte 99,999,999 (with room for TEXT)."""


def write_fcs_integer(
    path: str | os.PathLike[str],
    raw: np.ndarray,
    channels: Sequence[str],
    markers: Sequence[str] | None = None,
    keywords: Mapping[str, str] | None = None,
    *,
    version: str = "3.0",
    bits: int = 16,
    ranges: Sequence[int] | None = None,
    amplification: Sequence[str] | None = None,
) -> Path:
    """Write integer channel values (``$DATATYPE I``, little-endian) as FCS 2.0 or 3.0, the way
    older and Beckman Coulter cytometers do: ``bits`` per value (16 or 32), ``$PnR`` from
    ``ranges`` and ``$PnE`` from ``amplification`` (e.g. ``"4,1"`` for a 4-decade log amplifier;
    ``"0,0"`` linear). Used by the simulator for its FACSCalibur and Navios styles."""
    segment = integer_dataset(raw, channels, markers, keywords, version=version, bits=bits, ranges=ranges,
                              amplification=amplification)
    target = Path(path)
    with atomic_output(target) as out:
        out.write(segment)
    return target


def integer_dataset(
    raw: np.ndarray,
    channels: Sequence[str],
    markers: Sequence[str] | None = None,
    keywords: Mapping[str, str] | None = None,
    *,
    version: str = "3.0",
    bits: int = 16,
    ranges: Sequence[int] | None = None,
    amplification: Sequence[str] | None = None,
    nextdata: int = 0,
    data_first: bool = False,
    delimiter: str = "/",
) -> bytes:
    """The bytes of one integer FCS dataset (HEADER, TEXT, DATA), as :func:`write_fcs_integer`
    writes it, offsets counted from the dataset's first byte. ``nextdata`` is its ``$NEXTDATA``
    (the following dataset's offset from this one's start; 0: the last); with ``data_first`` DATA
    follows the HEADER and TEXT comes after it, as the FCS 3.0 copy of a Beckman Coulter LMD file
    lays them out (TEXT at byte 527,718 after DATA at 58 in the corpus's Gallios file). TEXT
    is delimited by ``delimiter`` (Beckman Coulter writes a backslash)."""
    if version not in ("2.0", "3.0"):
        raise ValueError("version must be 2.0 or 3.0")
    if bits not in (16, 32):
        raise ValueError("bits must be 16 or 32")
    data = np.asarray(raw)
    if data.ndim != 2 or data.shape[1] != len(channels):
        raise ValueError(f"raw must be n x {len(channels)}, got shape {data.shape}")
    top = (1 << bits) - 1
    if data.size and (data.min() < 0 or data.max() > top):
        raise ValueError(f"raw values must lie in 0..{top}")
    if version == "2.0" and data.size * (bits // 8) > FCS2_MAX_DATA_BYTES:
        raise ValueError(f"an FCS 2.0 dataset holds at most {FCS2_MAX_DATA_BYTES:,} bytes of DATA (its offsets "
                         f"are in the 8-digit HEADER only), not {data.size * (bits // 8):,}")
    payload = np.ascontiguousarray(data, dtype=f"<u{bits // 8}").tobytes()
    n_channels = len(channels)
    text: dict[str, str] = {
        "$BYTEORD": "1,2" if bits == 16 else "1,2,3,4",
        "$DATATYPE": "I",
        "$MODE": "L",
        "$NEXTDATA": str(nextdata),
        "$PAR": str(n_channels),
        "$TOT": str(data.shape[0]),
    }
    for i, name in enumerate(channels, start=1):
        text[f"$P{i}N"] = name
        text[f"$P{i}B"] = str(bits)
        text[f"$P{i}R"] = str(ranges[i - 1] if ranges is not None else top + 1)
        text[f"$P{i}E"] = amplification[i - 1] if amplification is not None else "0,0"
        if markers is not None and markers[i - 1]:
            text[f"$P{i}S"] = markers[i - 1]
    text.update(keywords or {})
    if len(delimiter) != 1 or delimiter.isalnum() or delimiter.isspace():
        raise ValueError("the delimiter must be one character, not a letter, digit or space")

    def encode(offsets: dict[str, str]) -> bytes:
        items = {**offsets, **text}
        body = "".join(f"{delimiter}{k.replace(delimiter, delimiter * 2)}{delimiter}"
                       f"{str(v).replace(delimiter, delimiter * 2)}" for k, v in items.items())
        return (body + delimiter).encode("latin-1")

    header_end = 58
    offsets: dict[str, str] = {}
    if version == "3.0":  # offsets in TEXT too
        offsets = {k: "0" for k in ("$BEGINANALYSIS", "$ENDANALYSIS", "$BEGINSTEXT", "$ENDSTEXT",
                                    "$BEGINDATA", "$ENDDATA")}
        if data_first:
            offsets["$BEGINDATA"], offsets["$ENDDATA"] = str(header_end), str(header_end + len(payload) - 1)
        else:  # the offsets' width changes the TEXT length: iterate
            for _ in range(4):
                data_start = header_end + len(encode(offsets))
                data_end = data_start + len(payload) - 1 if payload else 0
                offsets["$BEGINDATA"], offsets["$ENDDATA"] = str(data_start), str(data_end)
    segment = encode(offsets)
    if data_first:
        data_start, text_start = header_end, header_end + len(payload)
        body = payload + segment
    else:
        text_start, data_start = header_end, header_end + len(segment)
        body = segment + payload
    data_end = data_start + len(payload) - 1 if payload else 0
    header_data = (data_start, data_end) if data_end <= 99_999_999 else (0, 0)
    text_end = text_start + len(segment) - 1
    header = (f"FCS{version}    " + "".join(f"{v:>8}" for v in (text_start, text_end, *header_data, 0, 0))
              ).encode("ascii")
    return header + body


def write_fcs_datasets(path: str | os.PathLike[str], datasets: Sequence[Callable[[int], bytes]]) -> Path:
    """Write several FCS datasets into one file, chained by ``$NEXTDATA`` as a Beckman Coulter
    list-mode (LMD) file chains its FCS 2.0 dataset and FCS 3.0 copy. Each item makes the bytes of
    one dataset given its ``$NEXTDATA`` (:func:`integer_dataset` with ``nextdata``; 0 for the
    last); a dataset's length depends on the width of its own ``$NEXTDATA``, so each is built
    until that value and its length agree. The file appears atomically, as with :func:`write_fcs`."""
    parts: list[bytes] = []
    for i, make in enumerate(datasets):
        if i == len(datasets) - 1:
            parts.append(make(0))
            break
        length = len(make(1))
        for _ in range(8):
            built = make(length)
            if len(built) == length:
                break
            length = len(built)
        else:  # pragma: no cover - a width change settles within a few rounds
            raise ValueError("the dataset's $NEXTDATA did not settle")
        parts.append(built)
    target = Path(path)
    with atomic_output(target) as out:
        for part in parts:
            out.write(part)
    return target
