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

from .._io.xmlnumbers import xml_double
from ..errors import AssayKitError, GatingError
from .channels import channel_index
from .reader import Sample, Spillover


def compensate(sample: Sample, matrix: np.ndarray, names: Sequence[str],
               error: type[AssayKitError] = GatingError) -> dict[int, np.ndarray]:
    """Compensated values (float64) of the channels ``names``, by column index: the events of
    those channels times the inverse of ``matrix`` (rows: dyes, columns: detectors, in the order
    of ``names``; a name is found as :func:`~assaykit.fcs.channels.channel_index` finds it, so a
    matrix naming ``PE-A`` applies to R's ``PE.A``; a matrix naming one channel twice is refused).
    Problems raise ``error`` naming the sample's file."""
    found = [channel_index(n, sample.channels) for n in names]
    missing = [n for n, i in zip(names, found, strict=True) if i is None]
    if missing:
        raise error(f"compensation names channels not in the file: {', '.join(missing)}", sample.path)
    columns = [i for i in found if i is not None]
    twice = [f"{names[a]!r} and {names[b]!r}" if names[a] != names[b] else repr(names[a])
             for a in range(len(columns)) for b in range(a + 1, len(columns)) if columns[a] == columns[b]]
    if twice:  # two rows of the matrix for one detector: which one compensates it is unknown
        raise error(f"the compensation matrix names channel {twice[0]} twice: each detector must appear once",
                    sample.path)
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
    per dye, columns: ``transforms:coefficient`` per detector), or the ``<CompensationMatrix>`` of
    a FlowJo 9 one (:func:`spillover_matrices`), for the sample
    ``fcs_name``."""
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
    if root.tag == "Workspace" and is_flowjo9(root):  # FlowJo 9: <CompensationMatrices>, by compensationID
        tagged = spillover_matrices(root, path)
        if not tagged:
            raise GatingError("the FlowJo 9 workspace gives no sample a compensation matrix of its own "
                              "(<CompensationMatrix> by compensationID)", path)
        return tuple(tagged)
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
                value = xml_double(cell.get(value_key))
                if value is None:
                    raise ValueError(cell.get(value_key))
                matrix[index[row.get(param_key)], index[cell.get(param_key)]] = value
    except (KeyError, TypeError, ValueError):
        raise GatingError("a workspace compensation matrix names an unknown parameter or a non-number",
                          path) from None
    matrix.setflags(write=False)  # shared by every tube of the run (cached)
    return matrix, names


# --- FlowJo 9 workspaces (version 2.0): the compensation rules, shared with assaykit.interop.flowjo9 --------


ACQUISITION = "Acquisition-defined"


def is_flowjo9(root: Any) -> bool:
    """Whether the ``<Workspace>`` ``root`` is FlowJo 9's version 2.0 XML (FlowJo's own elements).

    Parameters
    ----------
    root : Element
        A workspace's root element.
    """
    return root.get("version", "").strip() in ("2.0", "2")


def check_flowjo9(root: Any, path: Path) -> None:
    """GatingError unless the version 2.0 workspace ``root`` was written by FlowJo 9
    (``flowJoVersion``): FlowJo 8 and earlier (gate coordinates of another scale) and unknown
    writers are refused.

    Parameters
    ----------
    root : Element
        The workspace's root element.
    path : Path
        The workspace file, named in the error.
    """
    written = (root.get("flowJoVersion") or "").strip()
    try:
        major = int(written.split(".")[0])
    except ValueError:
        major = -1
    if major != 9:
        raise GatingError(f"FlowJo workspace version 2.0 written by FlowJo {written or '(version not stated)'}: "
                          "only FlowJo 9's are read; open it in FlowJo 10 and save it as .wsp", path)


def flowjo9_keywords(sample: Any) -> dict[str, str]:
    """A FlowJo 9 ``<Sample>``'s keywords (names upper-cased: ``$FIL``, ``$P1N`` ...).

    Parameters
    ----------
    sample : Element
        The ``<Sample>`` element.
    """
    return {k.get("name", "").strip().upper(): k.get("value", "") for k in sample.iter("Keyword")}


def flowjo9_channels(sample: Any) -> Any:
    """The function naming a channel as the sample's FCS file does (its ``$PnN`` keywords): the
    name itself when the file has it, else the one channel equal to it ignoring case (FlowJo 9
    may write ``PE-CY7-A`` for ``PE-Cy7-A``), else the name as written.

    Parameters
    ----------
    sample : Element
        The FlowJo 9 ``<Sample>`` element.
    """
    channels = tuple(v for k, v in flowjo9_keywords(sample).items()
                     if k.startswith("$P") and k.endswith("N") and k[2:-1].isdigit())

    def canon(name: str) -> str:
        found = [c for c in channels if c.casefold() == name.casefold()]
        return name if name in channels or len(found) != 1 else found[0]

    return canon


def _fail9(element: Any, problem: str, path: Path) -> GatingError:
    name = element.get("name")
    return GatingError(f"FlowJo 9 <{element.tag}{' ' + repr(name) if name else ''}>: {problem}", path)


def flowjo9_compensation(root: Any, sample: Any, path: Path, canon: Any) -> tuple[str, str, str, Any, tuple[str, ...],
                                                                                  str]:
    """A FlowJo 9 sample's compensation, by its ``compensationID`` (on ``<Sample>``, else on its
    ``<SampleNode>``): ``(kind, prefix, suffix, spillover, channels, name)``. ``kind`` is
    ``"uncompensated"`` (``-2``, ``0`` or none; names written ``<X>``), ``"FCS"`` (``-1``,
    "Acquisition-defined": the file's own ``$SPILLOVER``; names written ``<X>``) or the matrix's
    number ``n``: the n-th ``<CompensationMatrix name prefix suffix>``, rows ``<Channel name>`` of
    ``<ChannelValue name value/>`` (row: the channel spilling; column: the detector), its
    channels named by ``canon``.

    Parameters
    ----------
    root : Element
        The workspace's root element.
    sample : Element
        The ``<Sample>`` element.
    path : Path
        The workspace file, named in errors.
    canon : callable
        Names a channel as the FCS file does (:func:`flowjo9_channels`).
    """
    matrices = root.findall("CompensationMatrices/CompensationMatrix")
    node = sample.find("SampleNode")
    ident = (sample.get("compensationID") or (node.get("compensationID") if node is not None else "") or "").strip()
    if ident in ("", "-2", "0"):
        return "uncompensated", "<", ">", None, (), "none"
    if ident == "-1":
        return "FCS", "<", ">", None, (), ACQUISITION
    if not ident.isdigit() or int(ident) > len(matrices):
        raise _fail9(sample, f"compensationID={ident[:20]!r} names no <CompensationMatrix> of the workspace "
                             f"({len(matrices)} there)", path)
    node = matrices[int(ident) - 1]
    prefix, suffix = node.get("prefix", ""), node.get("suffix", "")
    rows = node.findall("Channel")
    names = tuple(canon(r.get("name", "")) for r in rows)
    values = []
    for row in rows:
        cells: dict[str, float] = {}
        for cell in row.findall("ChannelValue"):
            text = cell.get("value", "")
            value = xml_double(text)
            if value is None:
                raise _fail9(cell, f"value={text[:30]!r} is not a finite number", path)
            cells[canon(cell.get("name", ""))] = value
        if set(cells) != set(names) or not all(names):
            raise _fail9(node, "each <Channel> needs a <ChannelValue> for every channel of the matrix", path)
        values.append([cells[n] for n in names])
    if not names or len(set(names)) != len(names) or not (prefix or suffix):
        raise _fail9(node, "a compensation matrix needs named channels, each once, and a prefix or suffix", path)
    return ident, prefix, suffix, np.asarray(values, dtype=np.float64), names, node.get("name", "")


def spillover_matrices(root: Any, path: Path) -> list[tuple[str, tuple[np.ndarray, tuple[str, ...]]]]:
    """Each sample's compensation matrix in the FlowJo 9 workspace ``root``, as (its FCS file
    name, (spillover matrix, channels as the file names them)); samples without a matrix of
    the workspace (none, or the file's own "Acquisition-defined") are left out.

    Parameters
    ----------
    root : Element
        The workspace's ``<Workspace version="2.0">`` element.
    path : Path
        The workspace file, named in errors.
    """
    check_flowjo9(root, path)
    found = []
    for sample in root.findall("SampleList/Sample"):
        _, _, _, spill, names, _ = flowjo9_compensation(root, sample, path, flowjo9_channels(sample))
        if spill is not None:
            node = sample.find("SampleNode")
            name = flowjo9_keywords(sample).get("$FIL") or (node.get("name", "") if node is not None else "")
            spill.setflags(write=False)  # shared by every tube of the run (cached)
            found.append((name, (spill, names)))
    return found
