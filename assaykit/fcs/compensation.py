"""Compensation: a spillover matrix applied to a sample's detector channels (scale values), and
spillover matrices read from CSV."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import AssayKitError, GatingError
from .reader import Sample


def compensate(sample: Sample, matrix: np.ndarray, names: Sequence[str],
               error: type[AssayKitError] = GatingError) -> dict[int, np.ndarray]:
    """Compensated values (float64) of the channels ``names``, by column index: the events of
    those channels times the inverse of ``matrix`` (rows: dyes, columns: detectors, in the order
    of ``names``). Problems raise ``error`` naming the sample's file."""
    missing = [n for n in names if n not in sample.channels]
    if missing:
        raise error(f"compensation names channels not in the file: {', '.join(missing)}", sample.path)
    columns = [sample.channels.index(n) for n in names]
    try:
        inverse = np.linalg.inv(matrix)
    except np.linalg.LinAlgError:
        raise error("the spillover matrix cannot be inverted", sample.path) from None
    compensated = sample.events[:, columns].astype(np.float64) @ inverse
    return {c: compensated[:, i] for i, c in enumerate(columns)}


def read_compensation(path: str | os.PathLike[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """(matrix, channel names) of a spillover CSV at ``path``: a header of channel names, then
    one row per dye (fractions, the diagonal 1)."""
    import csv

    file_path = Path(path)
    try:
        with open(file_path, newline="", encoding="utf-8") as handle:
            rows = [r for r in csv.reader(handle) if r]
        names = tuple(n.strip() for n in rows[0] if n.strip())
        matrix = np.array([[float(v) for v in r[-len(names):]] for r in rows[1:]], dtype=np.float64)
    except FileNotFoundError:
        raise GatingError("compensation file not found", file_path) from None
    except (ValueError, IndexError):
        raise GatingError("compensation CSV must be a header of channel names and a square matrix of numbers",
                          file_path) from None
    if matrix.shape != (len(names), len(names)):
        raise GatingError(f"compensation matrix is {matrix.shape}, expected {len(names)}x{len(names)}", file_path)
    return matrix, names
