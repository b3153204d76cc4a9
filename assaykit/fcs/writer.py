"""Writing FCS 3.1 files (float32, little-endian) through FlowIO, atomically."""

from __future__ import annotations

import os
import warnings
from array import array
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..io import atomic_output


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
