"""The ``assaykit`` command line: one module per command (or group of commands), each of which
reads its options, calls one library function and prints the result (``--json``: the object's
``to_dict()``).

Errors are mapped here, once: an AssayKitError (a problem with the user's input) is one line
naming the file on stderr and exit code 2 (:class:`_Commands`, for every command and group);
a usage error is 2, an unexpected exception 3 with its traceback logged, an interruption 130
(:func:`main`). ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from .. import __version__
from ..errors import AssayKitError
from . import (
    calibrate,
    compare,
    convert,
    docs,
    export,
    gate,
    inspect,
    ledger,
    lots,
    report,
    review,
    score,
    simulate,
    strategy,
    validate,
    verify,
)
from ._common import printable_console, state
from ._common import report as report_error


class _Commands(TyperGroup):
    """The command group: an AssayKitError raised by any command (or sub-command) is its one
    line on stderr and exit code 2."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except AssayKitError as error:
            report_error(error)  # --debug: raised again, with its traceback
            raise typer.Exit(2) from None
        except typer.BadParameter as error:  # a choice Typer checks through pydantic: no "Value error, " prefix
            error.message = error.message.removeprefix("Value error, ")
            raise


app = typer.Typer(
    name="assaykit",
    cls=_Commands,
    help="Monocyte HLA-DR (AB/C) and ex vivo immune restoration from flow cytometry runs. "
         "Documentation: assaykit docs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"assaykit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Monocyte HLA-DR (AB/C) and ex vivo immune restoration from flow cytometry runs.

    Every page of the documentation ships with assaykit: `assaykit docs` lists them.
    """
    state["debug"] = debug
    printable_console()  # names on the console escaped (a file name holding ESC cannot drive the terminal)


for command in (inspect.inspect, convert.convert, gate.gate, calibrate.calibrate, score.score, report.report,
                compare.compare, validate.validate, export.export, verify.verify, review.review):
    app.command()(command)
app.add_typer(strategy.app, name="strategy")
app.command()(lots.lots)
app.add_typer(ledger.app, name="ledger")
app.command()(simulate.simulate)
app.command()(docs.docs)


EXIT_CODES = {0: "every file scored", 1: "some files failed; every output complete",
              2: "usage or input error; nothing written", 3: "internal error; the traceback is logged",
              130: "interrupted (Ctrl-C, SIGTERM)"}
"""The exit codes of every command (`assaykit docs reliability`)."""


def _log_crash(error: BaseException) -> Path:
    """Write ``error``'s traceback to a new file under the temporary folder; its path."""
    import tempfile
    import traceback

    from ..ledger.faults import masked  # a ledger URL's password never reaches a log

    # errors=: a file name that is not UTF-8 (an argument, a path in the message) is logged escaped,
    # never a second crash while logging the first
    with tempfile.NamedTemporaryFile("w", prefix="assaykit-crash-", suffix=".log", delete=False,
                                     encoding="utf-8", errors="backslashreplace") as handle:
        handle.write(masked(" ".join(sys.argv) + "\n" + "".join(traceback.format_exception(error))))
    return Path(handle.name)


def _without_arrow() -> None:
    """Keep pyarrow out of the command's process: pandas 3 imports it whenever it is installed
    (about 40 MB and 0.1 s, shared with every worker) though assaykit reads and writes CSV only.
    ``ASSAYKIT_PYARROW=1`` lets pandas load it (docs/benchmarks.md)."""
    import os

    if os.environ.get("ASSAYKIT_PYARROW") != "1" and "pyarrow" not in sys.modules:
        sys.modules["pyarrow"] = None  # type: ignore[assignment]  # an import of it raises ImportError


def main() -> None:
    """Console-script entry point: runs the command and maps every ending to a documented exit
    code (:data:`EXIT_CODES`); an unexpected exception is one line naming the logged traceback."""
    import signal

    _without_arrow()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a SIGTERM ends like Ctrl-C
    try:
        code = app(standalone_mode=False)
    except KeyboardInterrupt:
        _interrupted()
    except Exception as error:
        if type(error).__name__ == "Abort":  # Click's (vendored by Typer) Ctrl-C
            _interrupted()
        if hasattr(error, "show") and isinstance(getattr(error, "exit_code", None), int):  # a usage error
            error.show()
            sys.exit(2)
        if state["debug"]:
            raise
        log = _log_crash(error)
        typer.echo(f"internal error ({type(error).__name__}): a bug in assaykit, not in your data; the traceback "
                   f"is in {log}", err=True)
        sys.exit(3)
    code = code if isinstance(code, int) else 0
    if code == 130:  # Typer turns a KeyboardInterrupt inside a command into exit 130
        _interrupted()
    try:  # the command is done: a Ctrl-C or SIGTERM now changes nothing, and once the interpreter
        # has begun to exit (its handlers reset) it would kill the process by the signal instead
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    except KeyboardInterrupt:
        _interrupted()
    sys.exit(code)


def _interrupted() -> NoReturn:
    """Ctrl-C or SIGTERM: stop the workers, say so in one line, exit 130 at once. The outputs
    were already cleaned up as the interruption unwound (staging folder removed, lock released);
    exiting without the interpreter's exit handlers avoids waiting on a worker pool's internal
    threads, which can block forever once its workers are killed (seen as a hang after
    "interrupted")."""
    import contextlib
    import os

    from .._workers import stop_workers

    stop_workers()
    typer.echo("interrupted", err=True)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(130)

