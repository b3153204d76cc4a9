"""Writing FCS 3.1 files (float32, little-endian) through FlowIO, atomically."""

from __future__ import annotations

import os
import warnings
from array import array
from collections.abc import Mapping, Sequence
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
    payload = np.ascontiguousarray(data, dtype=f"<u{bits // 8}").tobytes()
    n_channels = len(channels)
    text: dict[str, str] = {
        "$BYTEORD": "1,2" if bits == 16 else "1,2,3,4",
        "$DATATYPE": "I",
        "$MODE": "L",
        "$NEXTDATA": "0",
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
    delimiter = "/"

    def encode(offsets: dict[str, str]) -> bytes:
        items = {**offsets, **text}
        body = "".join(f"{delimiter}{k.replace(delimiter, delimiter * 2)}{delimiter}"
                       f"{str(v).replace(delimiter, delimiter * 2)}" for k, v in items.items())
        return (body + delimiter).encode("latin-1")

    text_start = 58
    offsets: dict[str, str] = {}
    if version == "3.0":  # offsets in TEXT too; their width changes the TEXT length: iterate
        offsets = {k: "0" for k in ("$BEGINANALYSIS", "$ENDANALYSIS", "$BEGINSTEXT", "$ENDSTEXT",
                                    "$BEGINDATA", "$ENDDATA")}
        for _ in range(4):
            data_start = text_start + len(encode(offsets))
            data_end = data_start + len(payload) - 1 if payload else 0
            offsets["$BEGINDATA"], offsets["$ENDDATA"] = str(data_start), str(data_end)
    segment = encode(offsets)
    data_start = text_start + len(segment)
    data_end = data_start + len(payload) - 1 if payload else 0
    header_data = (data_start, data_end) if data_end <= 99_999_999 else (0, 0)
    header = (f"FCS{version}    " + "".join(f"{v:>8}" for v in (text_start, data_start - 1, *header_data, 0, 0))
              ).encode("ascii")
    target = Path(path)
    with atomic_output(target) as out:
        out.write(header + segment + payload)
    return target
