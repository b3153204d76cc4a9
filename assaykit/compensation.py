"""Compensation: a spillover matrix applied to a sample's detector channels (scale values)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import AssayKitError, GatingError
from .fcs import Sample


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
