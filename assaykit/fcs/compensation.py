"""Compensation: a spillover matrix applied to a sample's detector channels (scale values), and
spillover matrices read from a CSV or a FlowJo workspace (for files whose own matrix is empty,
an identity matrix, or not the one the lab settled on)."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AssayKitError, GatingError
from .channels import channel_index
from .reader import Sample, Spillover


def compensate(sample: Sample, matrix: np.ndarray, names: Sequence[str],
               error: type[AssayKitError] = GatingError) -> dict[int, np.ndarray]:
    """Compensated values (float64) of the channels ``names``, by column index: the events of
    those channels times the inverse of ``matrix`` (rows: dyes, columns: detectors, in the order
    of ``names``; a name is found as :func:`~assaykit.fcs.channels.channel_index` finds it, so a
    matrix naming ``PE-A`` applies to R's ``PE.A``). Problems raise ``error`` naming the sample's
    file."""
    found = [channel_index(n, sample.channels) for n in names]
    missing = [n for n, i in zip(names, found, strict=True) if i is None]
    if missing:
        raise error(f"compensation names channels not in the file: {', '.join(missing)}", sample.path)
    columns = [i for i in found if i is not None]
    try:
        inverse = np.linalg.inv(matrix)
    except np.linalg.LinAlgError:
        raise error("the spillover matrix cannot be inverted", sample.path) from None
    # (events x inverse) transposed: one row per channel, each channel's values contiguous
    compensated = inverse.T @ sample.events[:, columns].astype(np.float64).T
    return {c: compensated[i] for i, c in enumerate(columns)}


def is_identity(spillover: Spillover) -> bool:
    """True when ``spillover``'s matrix is the identity (no spillover corrected at all)."""
    return bool(np.array_equal(spillover.matrix, np.eye(len(spillover.channels))))


def read_compensation(path: str | os.PathLike[str], fcs_name: str = "") -> Spillover:
    """The spillover matrix in the file at ``path``: a FlowJo workspace (``.wsp``/``.xml``; the
    matrix of the sample named ``fcs_name`` when the workspace holds several different ones) or
    a CSV (a header of channel names, then one row per dye, fractions, the diagonal 1).
    Its ``keyword`` names the file it came from."""
    from .._io.read import TABLE_LIMIT, read_input

    file_path = Path(path)
    if file_path.suffix.lower() in (".wsp", ".xml"):
        matrix, names = _workspace_matrix(file_path, fcs_name)
    else:
        matrix, names = _csv_matrix(file_path, read_input(file_path, GatingError, "compensation file", TABLE_LIMIT))
    if matrix.shape != (len(names), len(names)):
        raise GatingError(f"compensation matrix is {matrix.shape}, expected {len(names)}x{len(names)}", file_path)
    if not np.allclose(np.diag(matrix), 1.0):
        raise GatingError("compensation matrix: the diagonal must be 1 (a spillover matrix, not its inverse)",
                          file_path)
    return Spillover(matrix, names, file_path.name)


def _csv_matrix(path: Path, data: bytes) -> tuple[np.ndarray, tuple[str, ...]]:
    import csv
    import io

    try:
        rows = [r for r in csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")) if r]
        names = tuple(n.strip() for n in rows[0] if n.strip())
        matrix = np.array([[float(v) for v in r[-len(names):]] for r in rows[1:]], dtype=np.float64)
    except (ValueError, IndexError, UnicodeDecodeError):
        raise GatingError("compensation CSV must be a header of channel names and a square matrix of numbers",
                          path) from None
    return matrix, names


_NS = {"transforms": "http://www.isac-net.org/std/Gating-ML/v2.0/transformations",
       "data-type": "http://www.isac-net.org/std/Gating-ML/v2.0/datatypes"}


def _workspace_matrix(path: Path, fcs_name: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """The ``transforms:spilloverMatrix`` of a FlowJo 10 workspace (rows: ``transforms:spillover``
    per dye, columns: ``transforms:coefficient`` per detector) for the sample ``fcs_name``."""
    try:
        info = path.stat()
    except OSError:  # missing or unreadable: the bounded read says which, naming the file
        from .._io.read import read_input

        read_input(path, GatingError, "compensation file", 0)
        raise
    tagged = _workspace_matrices(str(path), info.st_mtime_ns, info.st_size)
    mine = [m for name, m in tagged if fcs_name and name == fcs_name]
    distinct = {(m.tobytes(), names) for _, (m, names) in tagged}
    if mine:
        return mine[0]
    if len(distinct) == 1:
        return tagged[0][1]
    raise GatingError(f"the workspace holds {len(distinct)} different compensation matrices and none for "
                      f"{fcs_name or 'this file'}", path)


@functools.lru_cache(maxsize=4)
def _workspace_matrices(name: str, mtime_ns: int, size: int) -> tuple[tuple[str, Any], ...]:
    """Every (file name, matrix) of the workspace at ``name``, parsed once per version of the
    file (``mtime_ns``, ``size``) in a process: a run reads it for every tube."""
    from .._io.read import WORKSPACE_LIMIT, read_xml

    path = Path(name)
    root = read_xml(path, GatingError, "FlowJo workspace", WORKSPACE_LIMIT, shown="FlowJo workspace")  # bounded
    tagged: list[tuple[str, tuple[np.ndarray, tuple[str, ...]]]] = []
    for sample in root.iter("Sample"):
        dataset = sample.find("DataSet")
        uri = dataset.get("uri", "") if dataset is not None else ""
        for node in sample.iter(f"{{{_NS['transforms']}}}spilloverMatrix"):
            tagged.append((uri.replace("\\", "/").rsplit("/", 1)[-1], _matrix_of(node, path)))
    if not tagged:
        raise GatingError("the workspace holds no compensation matrix (transforms:spilloverMatrix)", path)
    return tuple(tagged)


def _matrix_of(node: object, path: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    name_key = f"{{{_NS['data-type']}}}name"
    param_key = f"{{{_NS['data-type']}}}parameter"
    value_key = f"{{{_NS['transforms']}}}value"
    names = tuple(p.get(name_key, "") for p in node.iter(f"{{{_NS['data-type']}}}parameter"))  # type: ignore[attr-defined]
    index = {n: i for i, n in enumerate(names)}
    matrix = np.zeros((len(names), len(names)))
    try:
        for row in node.iter(f"{{{_NS['transforms']}}}spillover"):  # type: ignore[attr-defined]
            for cell in row.iter(f"{{{_NS['transforms']}}}coefficient"):
                matrix[index[row.get(param_key)], index[cell.get(param_key)]] = float(cell.get(value_key))
    except (KeyError, TypeError, ValueError):
        raise GatingError("a workspace compensation matrix names an unknown parameter or a non-number",
                          path) from None
    matrix.setflags(write=False)  # shared by every tube of the run (cached)
    return matrix, names
