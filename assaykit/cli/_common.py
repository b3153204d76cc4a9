"""What the commands share: the options several take, the choices as enums, JSON output, the
progress display and the ``--debug`` switch. Imports nothing of the command line itself."""

from __future__ import annotations

import io
import json
import re
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from .._io.names import printable
from ..errors import AssayKitError

_CONSOLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""What :class:`_Printable` escapes: :func:`assaykit._io.names.printable`'s characters but line breaks and tabs."""

state: dict[str, bool] = {"debug": False}
"""``--debug``: set by the top-level callback for the command being run."""


def report(error: AssayKitError) -> None:
    """Print ``error`` as the one line ``error: FILE: problem`` on stderr (``--debug``: raise it),
    names in it as assaykit shows them (:func:`assaykit._io.names.printable`: a line break, a
    control character or a byte that is not UTF-8 in a file name as a backslash escape)."""
    if state["debug"]:
        raise error
    from ..ledger.faults import masked  # a ledger URL's password is never printed

    typer.echo(f"error: {printable(masked(str(error)))}", err=True)


def say(text: str, err: bool = False) -> None:
    """Print ``text`` as one line (on stderr when ``err``): every name in it (a path, a run, a
    file, a patient) shown by the one escaping rule, :func:`assaykit._io.names.printable`, so a
    line break or any control character in a name is a backslash escape, never a line of its own
    (the console filter, :class:`_Printable`, keeps the line breaks and tabs of multi-line text)."""
    typer.echo(printable(text), err=err)


class _Printable(io.TextIOBase):
    """A text stream that writes what it is given with every character
    :func:`assaykit._io.names.printable` escapes escaped, line breaks and tabs kept: no name on
    the console (a file name, a ``$PnN``, a patient) can move the cursor, clear the screen or
    change the terminal's title, nor fail to encode (a byte that was not UTF-8)."""

    def __init__(self, stream: Any) -> None:
        super().__init__()
        self.raw_stream = stream

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError("a text stream")  # Click tells binary from text streams so
        self.raw_stream.write(_CONSOLE.sub(lambda found: printable(found.group()), text))
        return len(text)

    def flush(self) -> None:
        self.raw_stream.flush()

    @property
    def encoding(self) -> Any:  # type: ignore[override]
        return self.raw_stream.encoding

    @property
    def errors(self) -> Any:  # type: ignore[override]
        return self.raw_stream.errors

    def isatty(self) -> bool:
        return bool(self.raw_stream.isatty())

    def fileno(self) -> int:
        return int(self.raw_stream.fileno())

    def __getattr__(self, name: str) -> Any:  # encoding, errors, buffer: the stream's own
        return getattr(self.raw_stream, name)


def printable_console() -> None:
    """Have ``sys.stdout`` and ``sys.stderr`` write names escaped (:class:`_Printable`), once."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, _Printable):
            setattr(sys, name, _Printable(stream))


def _raw(stream: Any) -> Any:
    return stream.raw_stream if isinstance(stream, _Printable) else stream


def print_json(doc: Any) -> None:
    """Print ``doc`` (an object's ``to_dict()``) as indented JSON on stdout."""
    typer.echo(json.dumps(doc, indent=1, default=str))


class Specimen(StrEnum):
    """A declared specimen (:data:`assaykit.gating.specimen.SPECIMENS`)."""

    whole_blood = "whole_blood"
    pbmc = "pbmc"
    lyse_no_wash = "lyse_no_wash"


class ExecutorKind(StrEnum):
    """Where ``score --executor`` measures the tubes (:func:`assaykit.scoring.executors.make_executor`)."""

    local = "local"
    dask = "dask"


class Instrument(StrEnum):
    """The instrument styles ``simulate --instrument`` writes (:data:`assaykit.simulate.STYLES`)."""

    canto = "canto"
    navios = "navios"
    calibur = "calibur"
    lsr = "lsr"
    fc500 = "fc500"
    navios_lmd = "navios-lmd"


LotOption = Annotated[Path | None, typer.Option(
    "--lot", help="Bead lot YAML (`assaykit docs bead-calibration`), or the name of a shipped lot such as "
                  "quantibrite-pe-example (`assaykit lots` lists them).")]
StrategyOption = Annotated[Path | None, typer.Option(
    "--strategy", help="Gating strategy YAML (`assaykit docs gating-strategy`), or the name of a shipped strategy "
                       "(`assaykit strategy list`); default: monocyte-hladr.")]
BeadValuesOption = Annotated[str | None, typer.Option(
    "--bead-values", help="Per-peak values from the lot certificate, comma-separated (0 = blank peak).")]
CompensationOption = Annotated[Path | None, typer.Option(
    "--compensation", help="Spillover matrix instead of each file's own (for files whose matrix is empty, an identity "
                           "matrix or not the lab's): a CSV (header: channel names) or a FlowJo workspace (.wsp).")]
SpecimenOption = Annotated[Specimen | None, typer.Option(
    "--specimen", case_sensitive=False, help="Declared specimen (flagged when the events disagree).")]
LedgerOption = Annotated[str | None, typer.Option(
    "--ledger", help="The results ledger: a SQLite file, or postgresql://user@host/db (`assaykit docs ledger`); "
                     "default: $ASSAYKIT_LEDGER, else assaykit-ledger.sqlite beside the reports.", show_default=False)]
BeadUnitOption = Annotated[str, typer.Option(
    "--bead-unit", help="Unit of --bead-values (PE molecules/bead gives AB/C; MEFL, MEPE ... for rainbow beads).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
JobsOption = Annotated[int | None, typer.Option(min=1, help="Worker processes (default: number of cores).")]


def output_files(outputs: dict[str, Path | None], inputs: list[Path | None]) -> None:
    """Decide, before any work, that every output file a command was given (option name -> path,
    None when not given) may be written (:func:`assaykit._io.atomic.check_output_file`: its
    folder exists and accepts files, it is no folder and none of the command's ``inputs``) and
    that no two outputs are one file; AssayKitError (one line naming the file) otherwise."""
    from .._io.atomic import check_output_file

    given = [(name, path) for name, path in outputs.items() if path is not None]
    for name, path in given:
        check_output_file(path, [p for p in inputs if p is not None])
        twin = next((other for other, p in given if other != name and _place(p) == _place(path)), None)
        if twin is not None:
            raise AssayKitError(f"{name} and {twin} name the same file; give each its own", path)


def _place(path: Path) -> tuple[Path, str]:
    """Where the output file ``path`` will be: its folder's real location (``..`` and symlinked
    folders resolved, as the file system will) and its name (a symlink named is replaced by the
    file, never followed): two options naming one file by different paths are told by this, not
    by the paths' text."""
    return (path.absolute().parent.resolve(), path.name)


def console_progress() -> tuple[Callable[[int, int, str], None], Callable[[], None]]:
    """A rich progress bar on a terminal, plain log lines otherwise: (update, close)."""
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                       TextColumn("{task.description}"), transient=True,
                       console=Console(file=_raw(sys.stdout)))  # its own escape codes reach the terminal
        bar.start()
        task = bar.add_task("", total=None)

        def update(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done, total=total, description=printable(name))

        return update, bar.stop

    def log(done: int, total: int, name: str) -> None:
        print(printable(f"[{done}/{total}] {name}"), file=sys.stderr, flush=True)

    return log, lambda: None


def shipped_text(name: str, folder: str, what: str) -> str:
    """The text of the shipped file ``name`` in ``folder`` ("" strategies, "beads" lots);
    AssayKitError listing the shipped names when there is none (``what``: for the message)."""
    from .._io.shipped import shipped_bytes, shipped_names

    data = shipped_bytes(name, folder)
    if data is None:
        raise AssayKitError(f"no shipped {what} named {name!r} (shipped: {', '.join(shipped_names(folder))})")
    return data.decode("utf-8")
