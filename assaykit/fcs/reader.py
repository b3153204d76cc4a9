"""Reading FCS files: ``read_fcs(path) -> Sample``.

This module owns the file access; the parsing itself is in :mod:`.text` and :mod:`.data`.
Every problem with the file surfaces as :class:`~assaykit.errors.FCSFormatError` naming the file.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO

import numpy as np

from ..errors import FCSFormatError
from .data import Layout, decode, layout_from_keywords
from .text import HEADER_SIZE, Header, TextError, parse_header, parse_text

MAX_DATA_BYTES = 1 << 30  # 1 GiB of DATA per dataset: larger files are refused before any allocation
MAX_DATASETS = 1000  # datasets one $NEXTDATA chain may hold (instruments write 1 or 2)
MAX_TEXT_BYTES = 16 << 20  # TEXT (primary and supplemental) of all the file's datasets together, read at most
UNREADABLE_SPILLOVER = "the file declares a spillover matrix that cannot be read"
SPILLOVER_KEYWORDS = ("$SPILLOVER", "SPILL", "$SPILL", "SPILLOVER")
ACQUISITION_KEYWORDS = ("$CYT", "$CYTNUM", "$DATE", "$BTIM", "$ETIM", "$FIL", "$SMNO", "$SRC", "$OP", "$INST",
                        "$SYS", "$CELLS", "$EXP", "$PROJ", "$COM")
"""Keywords that describe the acquisition, not the data's layout. A Beckman Coulter LMD file writes
them in its FCS 2.0 dataset only (the corpus's FC500, Gallios and coulter.lmd copies have no
``$CYT``, ``$DATE`` or ``$FIL``); its FCS 3.x copy, read by default, takes them from there."""
_NON_FLUORESCENCE = ("FSC", "SSC", "FS ", "SS ", "TIME", "EVENT", "WIDTH", "FS_", "SS_")


@dataclass(frozen=True, eq=False)
class Spillover:
    """A spillover matrix: ``matrix[i, j]`` is the fraction of dye ``i``'s signal seen in
    detector ``channels[j]`` (rows: fluorochromes in detector order, diagonal 1)."""

    matrix: np.ndarray
    channels: tuple[str, ...]
    keyword: str

    def to_dict(self) -> dict[str, Any]:
        return {"keyword": self.keyword, "channels": list(self.channels),
                "matrix": self.matrix.tolist()}


@dataclass(frozen=True, eq=False)
class Sample:
    """One dataset of an FCS file.

    ``raw`` holds the values as stored (integers masked by ``$PnR``); ``events`` the scale values
    (FCS 2.0 log decoding from ``$PnE`` and gain ``$PnG`` applied on linear integer channels),
    the same array as ``raw`` when neither applies. Both are read-only and row-major, as the
    file stores them (float data native to this machine are the very bytes read, not copied).
    ``channels`` are the ``$PnN`` names, ``markers`` the ``$PnS`` labels ('' when absent),
    ``keywords`` the TEXT with upper-case keys. ``notes`` lists what was irregular in the file
    and how it was read. :attr:`sha256` is computed when first asked for, from the bytes read.
    """

    path: Path
    version: str
    raw: np.ndarray
    events: np.ndarray
    channels: tuple[str, ...]
    markers: tuple[str, ...]
    keywords: Mapping[str, str]
    spillover: Spillover | None
    dataset: int
    n_datasets: int
    notes: tuple[str, ...] = field(default=())
    spillover_problem: str = ""  # why the declared spillover matrix could not be read ("" when read or none)
    # the file as read: the bytes before DATA, DATA (the very bytes decoded), the bytes after it
    file_bytes: tuple[bytes, np.ndarray, bytes] = field(default=(b"", np.zeros(0, np.uint8), b""), repr=False)

    @functools.cached_property
    def sha256(self) -> str:
        """The SHA-256 (hex) of the whole file as read (its DATA from the very bytes the events
        were decoded from), computed on first access and kept: reading alone does not pay for it."""
        digest = hashlib.sha256()
        before, data, after = self.file_bytes
        for part in (before, data.data, after):
            digest.update(part)
        return digest.hexdigest()

    @property
    def n_events(self) -> int:
        return int(self.raw.shape[0])

    @property
    def n_channels(self) -> int:
        return int(self.raw.shape[1])

    def channel_ranges(self) -> tuple[float, ...]:
        """``$PnR`` per channel (0.0 where absent or unreadable)."""
        return _ranges(self.keywords, self.n_channels)

    def voltage(self, column: int) -> str:
        """A channel's detector voltage (``$PnV``), "" when the file does not record it."""
        return self.keywords.get(f"$P{column + 1}V", "").strip()

    def scale_tops(self) -> tuple[float, ...]:
        """Top of scale per channel in scale values (0.0 where unknown), decoded as the events
        are: f2 x 10^f1 for an integer channel log-amplified by ``$PnE = f1,f2``, otherwise
        ``$PnR / $PnG`` (the time channel, scaled by ``$TIMESTEP`` instead, keeps ``$PnR``)."""
        return text_scale_tops(self.keywords, self.channels)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (no event values)."""
        return {
            "path": str(self.path),
            "version": self.version,
            "dataset": self.dataset,
            "n_datasets": self.n_datasets,
            "events": self.n_events,
            "channels": [
                {"index": i + 1, "name": n, "marker": m, "range": r}
                for i, (n, m, r) in enumerate(
                    zip(self.channels, self.markers, self.channel_ranges(), strict=True))
            ],
            "cytometer": self.keywords.get("$CYT", ""),
            "date": self.keywords.get("$DATE", ""),
            "spillover": self.spillover.to_dict() if self.spillover else None,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class _Dataset:
    base: int
    header: Header
    keywords: dict[str, str]
    notes: tuple[str, ...]


@contextmanager
def _as_format_errors(file_path: Path) -> Iterator[None]:
    """Every problem with the file becomes one FCSFormatError naming it."""
    try:
        yield
    except FCSFormatError:
        raise
    except FileNotFoundError:
        raise FCSFormatError("no such file", file_path) from None
    except IsADirectoryError:
        raise FCSFormatError("is a directory, not an FCS file", file_path) from None
    except PermissionError:
        raise FCSFormatError("permission denied", file_path) from None
    except TextError as exc:
        raise FCSFormatError(str(exc), file_path) from None
    except (ValueError, IndexError, KeyError, OverflowError, MemoryError, OSError) as exc:
        # A safety net: every specific problem is caught above with a precise message; anything
        # else still names the file and stays an FCSFormatError.
        raise FCSFormatError(f"unreadable ({type(exc).__name__}: {exc})", file_path) from None


def read_fcs(path: str | os.PathLike[str], *, dataset: int | None = None) -> Sample:
    """Read one dataset of the FCS 2.0/3.0/3.1/3.2 file at ``path``.

    ``dataset`` picks a dataset of a ``$NEXTDATA`` chain (0-based). By default the first one,
    except that when a file holds an FCS 2.0 dataset followed by an FCS 3.x copy of the same
    events (Beckman Coulter LMD), the FCS 3.x copy, which has the full resolution.
    Raises :class:`FCSFormatError` naming the file for anything unreadable.
    """
    file_path = Path(path)
    with _as_format_errors(file_path), _open(file_path) as handle:
        size = os.fstat(handle.fileno()).st_size
        datasets = _scan_datasets(handle, size)
        index = _choose_dataset(datasets, dataset)
        datasets[index] = _with_companion_labels(datasets, index, dataset)
        _check_unique_names(datasets[index].keywords)
        datasets[index] = _with_choice_notes(datasets, index, dataset)
        return _read_dataset(handle, size, file_path, datasets, index)


def read_fcs_text(path: str | os.PathLike[str], *, dataset: int | None = None) -> dict[str, str]:
    """The TEXT keywords of one dataset (``dataset``, as for :func:`read_fcs`) of the FCS file
    at ``path``, without reading DATA."""
    file_path = Path(path)
    with _as_format_errors(file_path), _open(file_path) as handle:
        datasets = _scan_datasets(handle, os.fstat(handle.fileno()).st_size)
        index = _choose_dataset(datasets, dataset)
        keywords = _with_companion_labels(datasets, index, dataset).keywords
        _check_unique_names(keywords)
        return dict(keywords)


def _check_unique_names(keywords: Mapping[str, str]) -> None:
    """Refuse (TextError naming it) a dataset where two channels share a ``$PnN`` (blanks around it
    and case aside: ``PE-A`` and ``pe-a``, which a marker lookup takes for one name): FCS requires
    unique names, and every lookup by name would take the first in file order without a word. Names
    only alike (``PE-A`` and ``PE/A``) are distinct: a lookup spelling one exactly finds it. An
    absent ``$PnN`` reads as ``Pn``."""
    try:
        count = int(keywords.get("$PAR", "0").strip() or 0)
    except ValueError:
        return  # the layout check refuses it with its own message
    seen: dict[str, tuple[int, str]] = {}
    for n in range(1, min(count, 100_000) + 1):
        name = keywords.get(f"$P{n}N", f"P{n}").strip()
        key = name.casefold()  # markers are looked up whatever the case: PE-A and pe-a are one name to them
        if key in seen:
            first, spelled = seen[key]
            named = (f"both named {name!r}" if spelled == name
                     else f"named {spelled!r} and {name!r}, one name but for case")
            raise TextError(f"channels {first} and {n} are {named} ($P{first}N, $P{n}N): FCS requires unique channel "
                            "names, and which one a marker is read from would be a guess")
        seen[key] = (n, name)


def _open(path: Path) -> io.BufferedReader:
    """The FCS file opened, when it is a regular file; FCSFormatError saying what it is otherwise
    (a FIFO, device, directory, broken link: never opened, never "no such file")."""
    from .._io.read import open_input

    if not os.path.lexists(path):
        raise FCSFormatError("no such file", path)
    return open_input(path, FCSFormatError, "FCS file")


# --- dataset discovery -------------------------------------------------------------------------


def _read_at(handle: BinaryIO, offset: int, length: int) -> bytes:
    handle.seek(offset)
    return handle.read(length)


class _OverBudgetError(TextError):
    """More TEXT than :data:`MAX_TEXT_BYTES`: refused, never read as "the end of the chain"."""


@dataclass
class _TextBudget:
    """The TEXT bytes a file's datasets may still have read (:data:`MAX_TEXT_BYTES` in all)."""

    left: int = MAX_TEXT_BYTES

    def take(self, length: int) -> None:
        if length > self.left:
            raise _OverBudgetError(f"more than {MAX_TEXT_BYTES:,} bytes of TEXT in the file's datasets "
                                   "(TEXT segments overlapping or running to the end of the file?)")
        self.left -= length


def _scan_datasets(handle: BinaryIO, size: int) -> list[_Dataset]:
    """Every dataset of the file's ``$NEXTDATA`` chain, in order. The chain runs forward only: a
    ``$NEXTDATA`` pointing back into its own dataset (before its TEXT ends: overlapping or
    looping datasets) is refused, as are more than :data:`MAX_DATASETS` datasets and more than
    :data:`MAX_TEXT_BYTES` of TEXT in all, so that reading the chain costs at most about the
    file's size; one pointing past the end, backwards, or at nothing readable is a damaged file,
    refused (reading the datasets before it would give another instrument resolution without a
    word: an LMD file cut after its FCS 2.0 dataset read its AB/C 5.6 % high)."""
    if size == 0:
        raise TextError("the file is empty")

    budget = _TextBudget()
    datasets = [_read_text(handle, size, 0, first=True, budget=budget)]
    while True:
        current = datasets[-1]
        nextdata = current.keywords.get("$NEXTDATA", "0").strip() or "0"
        offset = _keyword_offset({"$NEXTDATA": nextdata}, "$NEXTDATA")
        following = current.base + (offset or 0)
        ended = ""  # why a $NEXTDATA other than 0 ends the chain: said, never silent
        if offset is None:
            ended = f"is not a whole number ({_excerpt(nextdata)})"
        elif offset < 0:
            ended = f"is {offset}: it points backwards"
        elif offset > 0 and following + HEADER_SIZE > size:
            ended = f"points at byte {following:,}, past the end of the file ({size:,} bytes)"
        if ended:  # a damaged file (cut short, or its chain broken): the dataset read would be a guess
            raise TextError(f"$NEXTDATA of dataset {len(datasets)} {ended}: the file is damaged (cut short by an "
                            "interrupted copy?) and a later dataset (a Beckman Coulter LMD file's full-resolution "
                            "FCS 3.0 copy) cannot be read; copy the file again from the instrument")
        if offset == 0:
            break
        text_end = current.base + (current.header.text_end or 0)
        if following <= text_end:
            raise TextError(f"$NEXTDATA of dataset {len(datasets) - 1} points at byte {following}, inside that "
                            f"dataset (its TEXT ends at byte {text_end}): overlapping datasets are refused")
        if len(datasets) >= MAX_DATASETS:
            raise TextError(f"more than {MAX_DATASETS} datasets chained by $NEXTDATA")
        try:
            datasets.append(_read_text(handle, size, following, first=False, budget=budget))
        except _OverBudgetError:
            raise
        except TextError as exc:  # a $NEXTDATA pointing at nothing readable: a damaged file
            raise TextError(f"$NEXTDATA of dataset {len(datasets)} points at byte {following:,}, where no dataset "
                            f"can be read ({exc}): the file is damaged; copy the file again from the instrument"
                            ) from None
    return datasets


def _read_text(handle: BinaryIO, size: int, base: int, *, first: bool, budget: _TextBudget) -> _Dataset:
    header = parse_header(_read_at(handle, base, HEADER_SIZE))
    start, end = header.text_start, header.text_end
    if start is None or end is None:
        raise TextError("HEADER has no TEXT offsets")
    if start < HEADER_SIZE and not (start == 0 and not first):
        raise TextError(f"HEADER TEXT offset {start} points inside the HEADER")
    if end < start:
        raise TextError(f"HEADER TEXT segment ends ({end}) before it starts ({start})")
    if base + start >= size:
        raise TextError(
            f"HEADER puts TEXT at byte {base + start} but the file has only {size} bytes "
            "(truncated or header-only file)")
    length = min(end, size - 1 - base) - start + 1
    budget.take(length)
    segment = _read_at(handle, base + start, length)
    keywords, notes = parse_text(segment)
    if base + end >= size:
        notes.append("TEXT runs past the end of the file (truncated file?)")
    keywords, more = _merge_supplemental_text(handle, size, base, keywords, segment[:1], budget)
    return _Dataset(base, header, keywords, tuple(notes + more))


def _merge_supplemental_text(
    handle: BinaryIO, size: int, base: int, keywords: dict[str, str], delim: bytes, budget: _TextBudget
) -> tuple[dict[str, str], list[str]]:
    try:
        start = int(keywords.get("$BEGINSTEXT", "0").strip() or 0)
        end = int(keywords.get("$ENDSTEXT", "0").strip() or 0)
    except ValueError:
        return keywords, ["$BEGINSTEXT/$ENDSTEXT are not numbers; supplemental TEXT ignored"]
    if start <= 0 or end <= start:
        return keywords, []
    if base + end >= size:
        return keywords, ["supplemental TEXT lies past the end of the file; ignored"]
    budget.take(end - start + 1)
    segment = _read_at(handle, base + start, end - start + 1)
    if segment[:1] != delim:
        segment = delim + segment
    extra, notes = parse_text(segment)
    merged = dict(keywords)
    for key, value in extra.items():
        merged.setdefault(key, value)
    return merged, notes


def _version(dataset: _Dataset) -> str:
    return dataset.header.version[3:]


def _with_companion_labels(datasets: list[_Dataset], index: int, requested: int | None) -> _Dataset:
    """The dataset read by default from a Beckman Coulter LMD file (its FCS 3.x copy, chosen by
    :func:`_choose_dataset`) with the channel labels of its FCS 2.0 dataset where it has none
    (:func:`.channels.companion_labels`) and the 2.0 dataset's :data:`ACQUISITION_KEYWORDS` it
    lacks (instrument, date, file name), each said in a note; any other dataset as it is."""
    from dataclasses import replace

    from .channels import companion_labels

    chosen = datasets[index]
    if requested is not None or index == 0:
        return chosen
    first = datasets[0].keywords
    carried = companion_labels(first, chosen.keywords)
    described = {k: first[k] for k in ACQUISITION_KEYWORDS
                 if first.get(k, "").strip() and not chosen.keywords.get(k, "").strip()}
    notes = list(chosen.notes)
    if carried:
        notes.append("channel labels carried from the file's FCS 2.0 dataset of the same events: "
                     + ", ".join(f"{chosen.keywords.get(f'$P{i}N', i)} = {label}"
                                 for i, label in sorted(carried.items())))
    if described:
        notes.append(f"acquisition keywords carried from the file's FCS 2.0 dataset: {', '.join(described)}")
    if not carried and not described:
        return chosen
    return replace(chosen, keywords={**chosen.keywords, **described,
                                     **{f"$P{i}S": label for i, label in carried.items()}}, notes=tuple(notes))


def _with_choice_notes(datasets: list[_Dataset], index: int, requested: int | None) -> _Dataset:
    """The dataset read, with a note saying which one it is and why the others were not read,
    when the file holds several (a dataset asked for by number: which one, of how many)."""
    from dataclasses import replace

    chosen = datasets[index]
    if len(datasets) == 1:
        return chosen
    described = [f"dataset {i + 1} (FCS {_version(d)}, $TOT {d.keywords.get('$TOT', '?').strip()})"
                 for i, d in enumerate(datasets)]
    if requested is not None:
        why = "as asked (--dataset)"
    elif index > 0:
        why = (f"the FCS {_version(chosen)} copy of dataset 1's events (the same $TOT), at full resolution; "
               "dataset 1 (FCS 2.0) is its lower-resolution copy")
    elif _version(datasets[0]) == "2.0" and any(_version(d) != "2.0" for d in datasets[1:]):
        why = ("the first; no later FCS 3.x dataset has the FCS 2.0 dataset's $TOT, so none is a copy of its "
               "events (--dataset reads another)")
    else:
        why = "the first (--dataset reads another)"
    others = ", ".join(d for i, d in enumerate(described) if i != index)
    note = f"read {described[index]} of {len(datasets)}: {why}; not read: {others}"
    return replace(chosen, notes=(*chosen.notes, note))


def _choose_dataset(datasets: list[_Dataset], requested: int | None) -> int:
    if requested is not None:
        if not 0 <= requested < len(datasets):
            raise TextError(
                f"dataset {requested} requested but the file holds {len(datasets)} "
                f"dataset{'s' if len(datasets) != 1 else ''} (0-based)")
        return requested
    first = datasets[0]
    if _version(first) == "2.0":
        total = first.keywords.get("$TOT", "").strip()
        for i, other in enumerate(datasets[1:], start=1):
            if _version(other) != "2.0" and other.keywords.get("$TOT", "").strip() == total:
                return i
    return 0


# --- DATA --------------------------------------------------------------------------------------


def _keyword_offset(keywords: Mapping[str, str], key: str) -> int | None:
    """The whole number ``keywords[key]`` (an offset or a count; ``12``, ``0012``, ``1.2E3``), or
    None when it is absent, blank or not a whole finite number (:func:`_keyword_problem` says which)."""
    value = keywords.get(key, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        pass
    try:
        number = float(value)
    except ValueError:
        return None
    return int(number) if math.isfinite(number) and number.is_integer() else None


def _keyword_problem(keywords: Mapping[str, str], key: str) -> str:
    """Why :func:`_keyword_offset` gives None for ``key``: ``"missing"`` (absent or blank) or
    ``"is not a whole number ('abc')"`` (the value quoted, cut)."""
    value = keywords.get(key, "").strip()
    return f"is not a whole number ({value[:20]!r})" if value else "missing"


def _locate_data(ds: _Dataset, size: int, layout: Layout) -> tuple[int, int, list[str]]:
    """Absolute start and length (bytes) of the DATA segment, with notes.

    Candidates are the HEADER offsets and ``$BEGINDATA``/``$ENDDATA``. HEADER offsets of 0 or
    blank mean "see TEXT" (files over 99,999,999 bytes). When both are given and disagree, a
    candidate that overlaps TEXT or starts past the end of the file is wrong; among the rest the
    one whose length matches ``$TOT`` x bytes per event wins, then the HEADER.
    """
    notes: list[str] = []
    text_lo = ds.base + (ds.header.text_start or 0)
    text_hi = ds.base + (ds.header.text_end or 0)
    candidates: list[tuple[str, int, int]] = []
    h = ds.header
    if h.data_start is not None and h.data_end is not None and (h.data_start or h.data_end):
        candidates.append(("HEADER", h.data_start, h.data_end))
    begin = _keyword_offset(ds.keywords, "$BEGINDATA")
    end = _keyword_offset(ds.keywords, "$ENDDATA")
    if begin is not None and end is not None and (begin or end):
        candidates.append(("TEXT", begin, end))
    if not candidates:
        raise TextError("no DATA offsets in HEADER nor $BEGINDATA/$ENDDATA in TEXT")

    row = layout.row_bytes
    total = _keyword_offset(ds.keywords, "$TOT")
    expected = row * total if (row is not None and total is not None) else None

    def valid(c: tuple[str, int, int]) -> bool:
        start, stop = ds.base + c[1], ds.base + c[2]
        # the TEXT end offset is often one byte late: allow that one byte of overlap
        overlaps_text = start < text_hi and stop >= text_lo
        return HEADER_SIZE <= start < size and not overlaps_text

    def inside(c: tuple[str, int, int]) -> bool:
        return ds.base + c[2] <= size  # == size: the common off-by-one (end one past the last byte)

    def fits(c: tuple[str, int, int]) -> bool:
        return expected is not None and abs((c[2] - c[1] + 1) - expected) <= 1

    usable = [c for c in candidates if valid(c)]
    if not usable:
        name, start, stop = candidates[-1]
        raise TextError(
            f"DATA offsets ({name}: {start}-{stop}) point outside the file "
            f"({size} bytes) or into TEXT")
    # Both possible: the one inside the file, then the one that holds $TOT events, then HEADER.
    # A writer must know the TEXT's final length to write $BEGINDATA inside it (the digits change
    # that length), a known source of wrong TEXT offsets (Beckman Coulter CyAn: $BEGINDATA 46
    # bytes late); the HEADER is written once TEXT is final.
    usable.sort(key=lambda c: (not inside(c), not fits(c), c[0] != "HEADER"))
    chosen = usable[0]
    if len({(c[1], c[2]) for c in candidates}) > 1:
        others = ", ".join(f"{c[0]} {c[1]}-{c[2]}" for c in candidates if c is not chosen)
        verdict = "impossible" if len(usable) < len(candidates) else "disagree"
        notes.append(f"DATA offsets {verdict} ({others}); used {chosen[0]} {chosen[1]}-{chosen[2]}")
    _, start, stop = chosen
    return ds.base + start, stop - start + 1, notes


def _read_dataset(handle: io.BufferedReader, size: int, path: Path, datasets: list[_Dataset],
                  index: int) -> Sample:
    ds = datasets[index]
    layout, layout_notes = layout_from_keywords(ds.keywords)
    if _keyword_offset(ds.keywords, "$TOT") == 0:  # an empty acquisition: no DATA to find
        start, declared, notes = size, 0, ["$TOT is 0: no events"]
    else:
        start, declared, notes = _locate_data(ds, size, layout)
    notes = list(ds.notes) + layout_notes + notes
    available = size - start
    row = layout.row_bytes
    total = _keyword_offset(ds.keywords, "$TOT")
    if total is not None and total < 0:
        raise TextError(f"$TOT is negative ({total})")
    if row is None:  # delimited ASCII
        if total is None:
            raise TextError(f"delimited ASCII data needs $TOT ({_keyword_problem(ds.keywords, '$TOT')})")
        n_bytes = min(max(declared, 0), available)
        n_events = total
    else:
        if total is None:
            total = max(declared, 0) // row
            notes.append(f"$TOT {_keyword_problem(ds.keywords, '$TOT')}; {total} events inferred from the DATA length")
        n_events = total
        n_bytes = n_events * row
        if layout.padded and declared != n_bytes and abs(declared - n_events * sum(layout.value_bits) / 8) <= 1:
            raise TextError("bit-packed integer DATA (values not aligned to bytes) is not supported")
        if n_bytes > available:
            raise TextError(
                f"TEXT declares {n_events} events x {row} bytes = {n_bytes} bytes of DATA "
                f"but the file holds only {available} bytes from the DATA offset (truncated file?)")
        if declared > 0 and abs(declared - n_bytes) > 1:
            notes.append(f"DATA segment is {declared} bytes but $TOT x $PnB give {n_bytes}; "
                         f"read {n_events} events")
        elif declared - n_bytes == -1:
            notes.append("DATA end offset is one byte short (common off-by-one)")
    if n_bytes > MAX_DATA_BYTES:
        raise TextError(f"DATA is {n_bytes:,} bytes, more than the {MAX_DATA_BYTES:,} a tube may hold "
                        "(10 million events x 25 channels); refused before reading")
    # One copy, straight from the file into a numpy-owned buffer (numpy allocates large buffers
    # with huge pages: several times fewer page faults than a bytes object).
    buffer = np.empty(n_bytes, dtype=np.uint8)
    handle.seek(start)
    got = handle.readinto(buffer.data)
    if got < n_bytes:
        raise TextError(f"DATA ends early: read {got} of {n_bytes} bytes")
    around = _read_around(handle, size, start, n_bytes)  # for the SHA-256, taken when asked for
    raw = decode(buffer, layout, n_events)  # row-major, as stored: native floats are the buffer itself
    raw.setflags(write=False)
    events, scale_notes = _scale(raw, ds.keywords, layout)
    events.setflags(write=False)
    channels = tuple(ds.keywords.get(f"$P{n}N", f"P{n}").strip() for n in range(1, layout.n_parameters + 1))
    markers = tuple(ds.keywords.get(f"$P{n}S", "").strip() for n in range(1, layout.n_parameters + 1))
    spillover, spill_notes = parse_spillover(ds.keywords, channels)
    return Sample(
        path=path,
        version=_version(ds),
        raw=raw,
        events=events,
        channels=channels,
        markers=markers,
        keywords=MappingProxyType(dict(ds.keywords)),
        spillover=spillover,
        dataset=index,
        n_datasets=len(datasets),
        notes=tuple(notes + scale_notes + spill_notes),
        # parse_spillover gives no matrix and a note only when a declared matrix cannot be read
        spillover_problem=spill_notes[0] if spillover is None and spill_notes else "",
        file_bytes=(around[0], buffer, around[1]),
    )


def _read_around(handle: BinaryIO, size: int, start: int, n_bytes: int) -> tuple[bytes, bytes]:
    """The file's bytes before ``start`` and after the ``n_bytes`` read from there (the whole
    file being ``size`` bytes): with DATA, what its SHA-256 is taken over."""
    before = _read_at(handle, 0, start)
    after = _read_at(handle, start + n_bytes, max(size - start - n_bytes, 0))
    if len(before) != start or len(after) != max(size - start - n_bytes, 0):
        raise TextError("the file shrank while it was read")
    return before, after


# --- scale values ------------------------------------------------------------------------------


def _ranges(keywords: Mapping[str, str], n_channels: int) -> tuple[float, ...]:
    """``$PnR`` per channel (0.0 where absent or unreadable)."""
    out = []
    for n in range(1, n_channels + 1):
        try:
            out.append(float(keywords.get(f"$P{n}R", "0").strip() or 0))
        except ValueError:
            out.append(0.0)
    return tuple(out)


def text_scale_tops(keywords: Mapping[str, str], channels: Sequence[str]) -> tuple[float, ...]:
    """Top of scale per channel in scale values from a dataset's TEXT (``keywords``, upper-case
    keys, as :func:`read_fcs_text` gives them; ``channels`` its ``$PnN``), as
    :meth:`Sample.scale_tops` gives them without reading DATA: f2 x 10^f1 for an integer channel
    log-amplified by ``$PnE = f1,f2``, otherwise ``$PnR / $PnG`` (a time channel keeps ``$PnR``)."""
    integer = keywords.get("$DATATYPE", "").strip().upper() == "I"
    tops = []
    for n, top in enumerate(_ranges(keywords, len(channels)), start=1):
        log = _log_amplification(keywords, n) if integer and top > 0 else None
        if log is not None:
            tops.append(float(log[1] * 10 ** min(log[0], 300.0)))
        elif channels[n - 1].strip().upper().startswith("TIME"):
            tops.append(top)
        else:
            tops.append(top / _gain(keywords, n))
    return tuple(tops)


def _pair(value: str) -> tuple[float, float] | None:
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != 2:
        return None
    try:
        return float(parts[0]), float(parts[1])
    except ValueError:
        return None


def _log_amplification(keywords: Mapping[str, str], n: int) -> tuple[float, float] | None:
    """(decades f1, f2) of channel ``n`` when ``$PnE`` says log amplification, else None;
    f2 = 0 is read as 1, as the FCS 3.1 specification advises. A ``$PnE`` that is not two finite
    numbers at or above 0 is refused (TextError naming it): the channel's scale is unknown, never
    guessed linear."""
    key = f"$P{n}E"
    value = keywords.get(key, "").strip()
    if not value:
        return None
    pair = _pair(value)
    if pair is None or not all(math.isfinite(p) and p >= 0 for p in pair):
        raise TextError(f"{key} = {_excerpt(value)} is not two numbers at or above 0 (decades, offset): the "
                        f"scale of parameter {n} is unknown")
    if pair[0] == 0:
        return None
    return pair[0], (pair[1] if pair[1] > 0 else 1.0)


def _gain(keywords: Mapping[str, str], n: int) -> float:
    """``$PnG`` of channel ``n``; 1.0 where absent. A gain that is not a finite number above 0
    (``0``, ``-1``, ``nan``, ``inf``, text) is refused (TextError naming it): the values cannot be
    put on their scale, and ignoring it would read the channel as if unamplified."""
    key = f"$P{n}G"
    value = keywords.get(key, "").strip()
    if not value:
        return 1.0
    try:
        gain = float(value)
    except ValueError:
        gain = math.nan
    if not (math.isfinite(gain) and gain > 0):
        raise TextError(f"{key} = {_excerpt(value)} is not a gain (a finite number above 0): the scale of "
                        f"parameter {n} is unknown")
    return gain


def _excerpt(value: str) -> str:
    """A keyword's value as an error quotes it: at most 40 characters."""
    return repr(value[:40]) + ("..." if len(value) > 40 else "")


def _scale(raw: np.ndarray, keywords: Mapping[str, str], layout: Layout) -> tuple[np.ndarray, list[str]]:
    """Scale values: log decoding (``$PnE``) and gain (``$PnG``) for integer data.

    ``$PnE = f1,f2`` with f1 > 0: value = f2 x 10^(f1 x raw / $PnR) (f2 = 0 read as 1, as the
    FCS 3.1 specification advises). ``$PnG = g`` on a linear channel: value = raw / g. Gain is
    not applied to log channels (FCS 3.1: $PnG applies to linear amplification); the time channel
    gets ``$TIMESTEP`` instead (value = raw x timestep, in seconds) and never a gain. Floating
    point data is already on the scale: ``$PnE`` other than 0,0 is ignored there with a note.
    """
    notes: list[str] = []
    operations: list[tuple[int, str, float, float]] = []
    try:
        timestep = float(keywords.get("$TIMESTEP", "").strip() or 1.0)
    except ValueError:
        timestep = 1.0
    for j in range(layout.n_parameters):
        n = j + 1
        log = _log_amplification(keywords, n)
        name = keywords.get(f"$P{n}N", "").strip().upper()
        if log is not None:
            if layout.datatype in ("F", "D"):
                notes.append(f"$P{n}E = {keywords[f'$P{n}E']} ignored: floating point data is linear")
                continue
            if layout.ranges[j] <= 0:  # a log channel cannot be decoded without its range
                raise TextError(f"$P{n}E is logarithmic but $P{n}R is missing or not a number above 0 "
                                f"({_excerpt(keywords.get(f'$P{n}R', ''))}): the scale of parameter {n} is unknown")
            operations.append((j, "log", *log))
            continue
        if name.startswith("TIME"):
            if math.isfinite(timestep) and timestep > 0 and timestep != 1.0:
                operations.append((j, "timestep", timestep, 0.0))
            continue
        gain = _gain(keywords, n)
        if gain != 1.0:
            operations.append((j, "gain", gain, 0.0))
    if not operations and raw.dtype.kind == "f":
        return raw, notes
    dtype: type[np.floating[Any]] = np.float32 if raw.dtype == np.float32 else np.float64
    events = raw.astype(dtype)
    for j, kind, a, b in operations:  # overflow of 10^x for absurd $PnE gives inf, as the file says
        column = events[:, j]
        if kind == "log":
            with np.errstate(over="ignore"):
                events[:, j] = b * np.power(10.0, a * column.astype(np.float64) / layout.ranges[j])
        elif kind == "timestep":
            events[:, j] = column * a
        else:
            events[:, j] = column / a
    return events, notes


# --- spillover ---------------------------------------------------------------------------------


def _fluorescence_channels(channels: tuple[str, ...]) -> list[str]:
    return [c for c in channels if not c.upper().startswith(_NON_FLUORESCENCE)]


def parse_spillover(keywords: Mapping[str, str], channels: tuple[str, ...]
                    ) -> tuple[Spillover | None, list[str]]:
    """The spillover matrix from ``$SPILLOVER``/``SPILL``/``$SPILL`` (n, names, n^2 values) or
    FCS 3.0 ``$COMP`` (n, n^2 values, in parameter order of the fluorescence channels), and notes.
    A matrix written with decimal commas (a workstation in a French or German locale:
    ``2,PE-A,PerCP-A,1,0,11,0,004,1``) is read when exactly one matrix with a diagonal of 1 (and
    spillovers between -1 and 1) fits the fields (:func:`decimal_comma_values`). A keyword that is
    present but cannot be read gives None and one note starting with :data:`UNREADABLE_SPILLOVER`
    (the only case of None with a note: :attr:`Sample.spillover_problem`)."""
    for key in SPILLOVER_KEYWORDS:
        value = keywords.get(key, "").strip()
        if not value:
            continue
        parts = [p.strip() for p in value.split(",")]
        try:
            n = int(float(parts[0]))
        except ValueError:
            return None, [f"{UNREADABLE_SPILLOVER}: {key} does not start with the number of channels"]
        if n < 1 or len(parts) < 1 + n + n * n:
            return None, [f"{UNREADABLE_SPILLOVER}: {key} holds {len(parts)} fields, "
                          f"{1 + n + n * n} expected for n={n}"]
        notes = []
        values: list[float] | None
        if len(parts) == 1 + n + n * n:
            try:
                values = [float(v) for v in parts[1 + n:]]
            except ValueError:
                return None, [f"{UNREADABLE_SPILLOVER}: {key} holds a value that is not a number"]
        else:
            values = decimal_comma_values(parts[1 + n:], n)
            if values is None:
                return None, [f"{UNREADABLE_SPILLOVER}: {key} holds {len(parts)} fields, {1 + n + n * n} expected "
                              f"for n={n}, and no single reading with decimal commas gives a diagonal of 1"]
            notes.append(f"{key} is written with decimal commas; read as the one matrix with a diagonal of 1")
        matrix = np.array(values, dtype=np.float64).reshape(n, n)
        names = tuple(parts[1:1 + n])
        if all(name.isdigit() and 1 <= int(name) <= len(channels) for name in names) and not any(
                name in channels for name in names):
            # Accuri C6 and Beckman Gallios name the channels by parameter number.
            names = tuple(channels[int(name) - 1] for name in names)
            notes.append(f"{key} names channels by parameter number; mapped to $PnN")
        unknown = [c for c in names if c not in channels]
        if unknown:
            notes.append(f"{key} names channels not in the file: {', '.join(unknown)}")
        return Spillover(matrix, names, key), notes
    value = keywords.get("$COMP", "").strip()
    if value:
        parts = [p.strip() for p in value.split(",")]
        try:
            n = int(float(parts[0]))
            numbers = [float(v) for v in parts[1:]]
        except ValueError:
            return None, [f"{UNREADABLE_SPILLOVER}: $COMP is not a list of numbers"]
        if n < 1 or len(numbers) != n * n:
            return None, [f"{UNREADABLE_SPILLOVER}: $COMP holds {len(numbers)} values, {n * n} expected"]
        fluorescence = _fluorescence_channels(channels)
        names = tuple(channels) if n == len(channels) else tuple(fluorescence)
        if len(names) != n:
            return None, [f"{UNREADABLE_SPILLOVER}: $COMP is {n}x{n} but the file has {len(fluorescence)} "
                          "fluorescence channels"]
        return Spillover(np.array(numbers).reshape(n, n), names, "$COMP"), []
    return None, []


_INTEGER_PART = re.compile(r"[-+]?\d+")
_FRACTION_PART = re.compile(r"\d+(?:[eE][-+]?\d+)?")


def decimal_comma_values(fields: Sequence[str], n: int, budget: int = 20000) -> list[float] | None:
    """The n x n values (row by row) of spillover ``fields`` split at decimal commas as well as
    between values (``1``, ``0``, ``11``, ``0``, ``004``, ``1`` -> 1, 0.11, 0.004, 1), or None
    unless exactly one set of values with a diagonal of 1 fits. A field joins the next one as
    its decimals when it is an integer and the next is all digits; ``budget`` bounds the search
    (exceeded: None, ambiguous). Off-diagonal values must lie strictly between -1 and 1 (a
    reading with a spillover of 100 % or more is taken as a misreading)."""
    need = n * n
    found: set[tuple[float, ...]] = set()
    dead: set[tuple[int, int]] = set()
    steps = 0

    def walk(i: int, k: int, values: list[float]) -> bool:
        nonlocal steps
        steps += 1
        if steps > budget or len(found) > 1:
            return True
        if k == need:
            if i == len(fields):
                found.add(tuple(values))
                return True
            return False
        left = len(fields) - i
        if (i, k) in dead or left < need - k or left > 2 * (need - k):
            return False
        options: list[tuple[int, float]] = []
        if i + 1 < len(fields) and _INTEGER_PART.fullmatch(fields[i]) and _FRACTION_PART.fullmatch(fields[i + 1]):
            options.append((2, float(f"{fields[i]}.{fields[i + 1]}")))
        with contextlib.suppress(ValueError):
            options.append((1, float(fields[i])))
        ok = False
        for width, value in options:
            if (value != 1.0) if k % (n + 1) == 0 else not -1.0 < value < 1.0:  # diagonal 1, spill below 1
                continue
            ok = walk(i + width, k + 1, [*values, value]) or ok
        if not ok:
            dead.add((i, k))
        return ok

    walk(0, 0, [])
    if steps > budget or len(found) != 1:
        return None
    return list(found.pop())
