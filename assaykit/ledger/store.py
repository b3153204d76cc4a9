"""The ledger database: open (creating or migrating its schema), record a scored run in one
transaction, and read it back (runs, a patient's measures, QC series, export).

SQLite by default (a file; writers take the database's write lock at the start of their
transaction, ``BEGIN IMMEDIATE``, and wait up to ``timeout_s`` for it), PostgreSQL by URL
(``postgresql://user@host/db``, driver psycopg; writers serialise on one advisory lock). Schema
migrations run under the same lock, so two processes opening a new ledger at once create it once.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import LedgerError
from . import schema
from .faults import NUMBER_LIMIT, LedgerFault, LedgerFaultError, masked
from .names import DEFAULT_NAME

HEAD = "0005"
_LOCK_KEY = 0x61737361796B  # "assayk": the advisory lock every PostgreSQL writer takes
_SQLITE_MAGIC = b"SQLite format 3\x00"
VALIDATION_ROLES = ("sample", "control")
"""The blood tubes :meth:`Ledger.validation_rows` returns: patients' samples and stabilised control
bloods (an isotype tube's value is no measure of HLA-DR)."""


@dataclass(frozen=True)
class RunRecord:
    """One scored run as the ledger stores it: ``run`` (the runs row), and its ``tubes``,
    ``bead_peaks``, ``restoration``, ``patients`` and ``qc_checks`` rows (dicts of the columns in
    :mod:`.schema`, without ids; a column a row leaves out takes its default: a tube's plate-map
    ``replicate`` label and ``donor_group`` are "" when none)."""

    run: Mapping[str, Any]
    tubes: Sequence[Mapping[str, Any]] = ()
    bead_peaks: Sequence[Mapping[str, Any]] = ()
    restoration: Sequence[Mapping[str, Any]] = ()
    patients: Sequence[Mapping[str, Any]] = ()
    qc_checks: Sequence[Mapping[str, Any]] = ()


@dataclass(frozen=True)
class Recorded:
    """What recording did: the run's id, whether it replaced an earlier recording of the same run,
    and the files already recorded under another run (file -> that run's name)."""

    run_id: int
    replaced: bool
    elsewhere: Mapping[str, str] = field(default_factory=dict)


def ledger_url(target: str | Path) -> str:
    """The SQLAlchemy URL of a ledger ``target``: a file path (SQLite), ``sqlite:///PATH``, or a
    PostgreSQL URL (``postgresql://``, ``postgres://``; driver psycopg). LedgerError otherwise.

    Parameters
    ----------
    target : str or Path
        What ``--ledger``, run.yaml ``ledger:`` or ``ASSAYKIT_LEDGER`` names.
    """
    text = str(target).strip()
    if not text:
        raise LedgerError("the ledger location is empty")
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in ("postgresql", "postgres"):
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    if scheme == "postgresql+psycopg" or scheme == "sqlite":
        return text
    if scheme:
        raise LedgerError(f"unsupported ledger URL scheme {scheme!r} (a file path, sqlite:///PATH or "
                          "postgresql://...)")
    path = Path(text).expanduser()
    if path.is_dir():
        raise LedgerError("the ledger is a folder, not a database file", path)
    if not path.parent.is_dir():
        raise LedgerError("the ledger's folder does not exist", path)
    return f"sqlite:///{path.resolve()}"


def _shown(url: str) -> str:
    """The ledger's location for people: a SQLite file's path, a server URL without its password
    (:func:`.faults.masked`, the one rule)."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # a URL SQLAlchemy cannot parse is shown masked as it was given
        return masked(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    return masked(parsed.render_as_string(hide_password=False))


def _check_sqlite_file(url: str) -> None:
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if not database or database == ":memory:":
        return
    path = Path(database)
    if path.exists() and not path.is_file():  # a FIFO, device or socket: SQLite would fail on it, or wait
        raise LedgerFaultError("not a regular file; a ledger is a SQLite file or a PostgreSQL URL", path,
                               fault=LedgerFault.NOT_A_DATABASE)
    if path.is_file() and path.stat().st_size > 0:
        with path.open("rb") as handle:
            if handle.read(16) != _SQLITE_MAGIC:
                raise LedgerFaultError("not a SQLite database (a foreign or corrupt file); name another ledger", path,
                                    fault=LedgerFault.NOT_A_DATABASE)


def _engine(url: str, timeout_s: float) -> Any:
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import NullPool

    if url.startswith("sqlite"):
        engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": timeout_s})

        @event.listens_for(engine, "connect")
        def _connect(dbapi: Any, _record: Any) -> None:
            dbapi.isolation_level = None  # assaykit issues BEGIN itself (below)
            dbapi.text_factory = _text  # a text value that is not UTF-8 is read as NotUtf8, its row left out
            cursor = dbapi.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:  # a writer takes the write lock first: no upgrade deadlock
            write = connection.get_execution_options().get("assaykit_write")
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
        return engine
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise LedgerError("a PostgreSQL ledger needs the driver: pip install 'assaykit[postgresql]'") from None
    return create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": max(1, int(timeout_s))})


_SQLITE_FAULTS = {5: LedgerFault.LOCKED, 6: LedgerFault.LOCKED, 11: LedgerFault.NOT_A_DATABASE,
                  26: LedgerFault.NOT_A_DATABASE}  # SQLITE_BUSY, SQLITE_LOCKED, SQLITE_CORRUPT, SQLITE_NOTADB


def _db_errors() -> tuple[type[BaseException], ...]:
    """What the database layers raise for a database they cannot use (translated by :func:`_problem`;
    anything else is a bug and is not caught)."""
    import sqlite3

    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    errors: tuple[type[BaseException], ...] = (SQLAlchemyError, sqlite3.Error, CommandError, OSError)
    try:
        import psycopg
    except ImportError:
        return errors
    return (*errors, psycopg.Error)


def _fault(error: BaseException, url: str) -> LedgerFault:
    """The fault of a database error, from the driver's error code (SQLite result code,
    PostgreSQL SQLSTATE), never from its message."""
    orig = getattr(error, "orig", None) or error
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        return _SQLITE_FAULTS.get(code & 0xFF, LedgerFault.FAILED)
    state = str(getattr(orig, "sqlstate", "") or "")
    if state.startswith("08") or state in ("28000", "28P01", "3D000", "57P03"):
        return LedgerFault.UNREACHABLE  # connection, authentication, no such database, server starting
    if state in ("55P03", "40P01"):
        return LedgerFault.LOCKED
    if state == "42P01":
        return LedgerFault.MISSING_TABLE
    if url.startswith("postgresql") and not state and type(orig).__name__ == "OperationalError":
        return LedgerFault.UNREACHABLE  # no answer at all (no SQLSTATE): the server cannot be reached
    return LedgerFault.FAILED


class NotUtf8(bytes):
    """A text value read from a SQLite ledger whose bytes are not UTF-8 (assaykit writes only
    UTF-8): kept as its bytes so the row holding it is left out and named, never a failure of the
    whole read (:meth:`Ledger._sound`)."""


def _text(raw: bytes) -> str | NotUtf8:
    """SQLite's TEXT value as Python text, or :class:`NotUtf8` when its bytes are not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return NotUtf8(raw)


def _translated(error: BaseException, url: str, timeout_s: float) -> LedgerError:
    """Any exception raised while a ledger is opened or read, as a typed ledger fault (one line):
    a database error by its driver's code (:func:`_problem`); bytes that are not UTF-8 where SQLite
    keeps its schema as :data:`LedgerFault.NOT_A_DATABASE`; anything else as
    :data:`LedgerFault.FAILED`, the error's kind named."""
    if isinstance(error, LedgerError):
        return error
    if isinstance(error, _db_errors()):
        return _problem(error, url, timeout_s)
    where = _shown(url)
    if isinstance(error, UnicodeError):
        return LedgerFaultError(f"{where}: the ledger file is corrupt (its schema holds bytes that are not UTF-8 "
                                "text); name another ledger or restore it from a backup",
                                fault=LedgerFault.NOT_A_DATABASE)
    lines = str(error).strip().splitlines()
    text = masked((lines[0] if lines else "")[:200])
    return LedgerFaultError(f"{where}: the ledger could not be read ({type(error).__name__}"
                            + (f": {text})" if text else ")"), fault=LedgerFault.FAILED)


def _problem(error: BaseException, url: str, timeout_s: float) -> LedgerError:
    """One line for a database error, with its :class:`LedgerFault`."""
    lines = str(getattr(error, "orig", None) or error).strip().splitlines()
    text = masked((lines[0] if lines else type(error).__name__)[:200])
    where = _shown(url)
    fault = _fault(error, url)
    if fault is LedgerFault.LOCKED:
        return LedgerFaultError(f"{where}: the ledger is locked by another process (waited {timeout_s:g} s)",
                                fault=fault)
    if fault is LedgerFault.NOT_A_DATABASE:
        return LedgerFaultError(f"{where}: the ledger file is corrupt or not a database ({text})", fault=fault)
    if fault is LedgerFault.UNREACHABLE:
        return LedgerFaultError(f"{where}: cannot use the ledger server ({text})", fault=fault)
    return LedgerFaultError(f"{where}: {text}", fault=fault)


class Ledger:
    """An open ledger (use :func:`open_ledger`); close it, or use it as a context manager."""

    def __init__(self, url: str, engine: Any, timeout_s: float) -> None:
        self.url, self.engine, self.timeout_s = url, engine, timeout_s
        self.left_out: list[str] = []  # rows read with values assaykit does not write: the first 100, one line each
        self.n_left_out = 0  # all of them

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the database's connections."""
        self.engine.dispose()

    @property
    def shown(self) -> str:
        """The ledger's location, without a password."""
        return _shown(self.url)

    @contextmanager
    def _write(self) -> Iterator[Any]:
        """A transaction holding the ledger's write lock."""
        from sqlalchemy import text

        try:
            with self.engine.connect() as connection:
                connection.execution_options(assaykit_write=True)
                with connection.begin():
                    if self.engine.dialect.name == "postgresql":
                        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
                    yield connection
        except Exception as error:  # every failure of the ledger is a typed fault
            raise _translated(error, self.url, self.timeout_s) from None

    @contextmanager
    def _read(self) -> Iterator[Any]:
        try:
            with self.engine.connect() as connection:
                yield connection
        except Exception as error:  # every failure of the ledger is a typed fault
            raise _translated(error, self.url, self.timeout_s) from None

    def _sound(self, connection: Any, query: Any) -> Iterator[Any]:
        """The rows of ``query`` whose every value is one assaykit writes in its column (the
        column's type; numbers finite and below :data:`.faults.NUMBER_LIMIT`; text UTF-8, without
        NUL); each other row is left out and named in :attr:`left_out`. The one rule for
        everything read back, in ``score`` and every ``ledger`` command alike."""
        columns = list(query.selected_columns)
        for row in connection.execute(query):
            problem = next((p for c, v in zip(columns, row, strict=True) if (p := _unsound(c, v))), "")
            if problem:
                self.n_left_out += 1
                if len(self.left_out) < 100:
                    self.left_out.append(problem)
                continue
            yield row

    # --- schema ----------------------------------------------------------------------------------

    def migrate(self, revision: str = "head") -> str:
        """Bring the schema to ``revision`` (default: the newest), creating it in an empty
        database; the revision reached. LedgerError for a foreign database or a newer schema.

        Parameters
        ----------
        revision : str
            An Alembic revision id (``0001``, ``0002``) or ``head``.
        """
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory
        from sqlalchemy import inspect

        target = HEAD if revision == "head" else revision
        if revision == "head":
            with self._read() as connection:  # the usual case, a ledger already at the newest schema: no lock
                if MigrationContext.configure(connection).get_current_revision() == HEAD:
                    self._check_tables(connection)
                    return HEAD
        config = Config()
        config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        known = {s.revision for s in ScriptDirectory.from_config(config).walk_revisions()}
        with self._write() as connection:  # checked again under the lock: another process may have migrated
            tables = set(inspect(connection).get_table_names())
            current = MigrationContext.configure(connection).get_current_revision()
            if current is None and tables - {"alembic_version"}:
                names = ", ".join(sorted(tables)[:5])
                raise LedgerFaultError(f"{self.shown}: a foreign database (tables {names}), not an assaykit ledger",
                                       fault=LedgerFault.FOREIGN_DATABASE)
            if current is not None and current not in known:
                raise LedgerFaultError(f"{self.shown}: ledger schema {str(current)[:40]!r} is newer than this assaykit "
                                    f"knows (newest {HEAD}) or not an assaykit ledger; upgrade assaykit",
                                    fault=LedgerFault.NEWER_SCHEMA)
            if current != target:
                config.attributes["connection"] = connection
                command.upgrade(config, target)
            if target == HEAD:
                self._check_tables(connection)
            return target

    def _check_tables(self, connection: Any) -> None:
        """Every table and column of the newest schema is there (a table dropped by hand is a
        :data:`LedgerFault.MISSING_TABLE`, named)."""
        from sqlalchemy import inspect

        inspector = inspect(connection)
        present = set(inspector.get_table_names())
        for table in schema.TABLES:
            if table.name not in present:
                raise LedgerFaultError(f"{self.shown}: the ledger has no table {table.name!r} (removed by hand?); "
                                    "restore it from a backup or name another ledger", fault=LedgerFault.MISSING_TABLE)
            columns = {c["name"] for c in inspector.get_columns(table.name)}
            missing = [c.name for c in table.columns if c.name not in columns]
            if missing:
                raise LedgerFaultError(f"{self.shown}: the ledger's table {table.name!r} has no column "
                                    f"{', '.join(missing)}; restore it from a backup or name another ledger",
                                    fault=LedgerFault.MISSING_TABLE)

    def revision(self) -> str | None:
        """The schema revision the database is at (None: empty)."""
        from alembic.runtime.migration import MigrationContext

        with self._read() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    # --- writing ---------------------------------------------------------------------------------

    def record(self, record: RunRecord) -> Recorded:
        """Record one scored run in one transaction: an earlier recording of the same run (same
        ``run_key``) is replaced, never duplicated; files already recorded under another run are
        named in the result.

        Parameters
        ----------
        record : RunRecord
            The run and its rows.
        """
        from sqlalchemy import delete, insert, select

        _storable(record, self.shown)
        key = record.run["run_key"]
        hashes = sorted({t["sha256"] for t in record.tubes if t.get("sha256")})
        with self._write() as connection:
            old = connection.execute(select(schema.runs.c.id).where(schema.runs.c.run_key == key)).scalar()
            if old is not None:
                for table in reversed(schema.TABLES[1:]):
                    connection.execute(delete(table).where(table.c.run_id == old))
                connection.execute(delete(schema.runs).where(schema.runs.c.id == old))
            elsewhere = {}
            for chunk in _chunks(hashes, 500):
                rows = connection.execute(
                    select(schema.tubes.c.sha256, schema.tubes.c.file, schema.runs.c.run_name)
                    .join(schema.runs, schema.runs.c.id == schema.tubes.c.run_id)
                    .where(schema.tubes.c.sha256.in_(chunk)))
                elsewhere.update({sha: name for sha, _, name in rows})
            run_id = connection.execute(insert(schema.runs).values(**_clean(record.run))).inserted_primary_key[0]
            for table, rows in ((schema.tubes, record.tubes), (schema.bead_peaks, record.bead_peaks),
                                (schema.restoration, record.restoration), (schema.patients, record.patients),
                                (schema.qc_checks, record.qc_checks)):
                if rows:
                    connection.execute(insert(table), [{**r, "run_id": run_id} for r in _uniform(table, rows)])
        named = {t["file"]: elsewhere[t["sha256"]] for t in record.tubes if t.get("sha256") in elsewhere}
        return Recorded(run_id=int(run_id), replaced=old is not None, elsewhere=named)

    def add_audit(self, out_dir: str, run_key: str, entry: Mapping[str, Any]) -> None:
        """Copy one audit entry of ``out_dir``'s audit.jsonl (``assaykit review``) into the table
        ``audit``; an entry already there with the same line is left as it is; LedgerError when
        the ledger holds another line under that number (the file was rewritten).

        Parameters
        ----------
        out_dir : str
            The audit trail's key (``assaykit.review`` keys a trail by its first line's SHA-256,
            ``audit:<hex>``, never by the output folder's path, which is reused and moved).
        run_key : str
            The run folder (resolved).
        entry : mapping
            The entry as appended (``seq``, ``at``, ``action``, ``reviewer``, ``line_sha256``; the
            line itself is the entry without ``line_sha256``, as audit.jsonl holds it).
        """
        import json

        from sqlalchemy import insert, select

        line = json.dumps({k: v for k, v in entry.items() if k != "line_sha256"}, sort_keys=True,
                          separators=(",", ":"), ensure_ascii=True, default=str)
        table = schema.audit
        with self._write() as connection:
            held = connection.execute(select(table.c.line_sha256).where(table.c.out_dir == out_dir,
                                                                       table.c.seq == int(entry["seq"]))).scalar()
            if held is None:
                connection.execute(insert(table).values(
                out_dir=out_dir, run_key=run_key, seq=int(entry["seq"]), line_sha256=str(entry["line_sha256"]),
                    at=str(entry.get("at", "")), action=str(entry.get("action", "")),
                    reviewer=str(entry.get("reviewer", ""))[:255], line=line))
        if held is not None and held != entry["line_sha256"]:
            raise LedgerError(f"the ledger holds another audit entry {entry['seq']} for {out_dir}: audit.jsonl "
                              "was rewritten", self.shown)

    def audit_hashes(self, out_dir: str) -> dict[int, str]:
        """Entry number -> the SHA-256 of its line, of the audit entries recorded for the output
        audit trail ``out_dir`` (its key, as :meth:`add_audit` was given it).

        Parameters
        ----------
        out_dir : str
            The audit trail's key.
        """
        from sqlalchemy import select

        table = schema.audit
        with self._read() as connection:
            return {int(seq): str(sha) for seq, sha in self._sound(
                connection, select(table.c.seq, table.c.line_sha256).where(table.c.out_dir == out_dir))}

    def audit_lines(self, action: str) -> list[tuple[str, int, str]]:
        """(trail key, entry number, line) of every audit entry of ``action`` the ledger holds,
        every trail's (``assaykit verify`` looks for the signatures of a run whose output folder
        lost its audit trail).

        Parameters
        ----------
        action : str
            The entries' action ("sign", ...).
        """
        from sqlalchemy import select

        table = schema.audit
        with self._read() as connection:
            return [(str(key), int(seq), str(line)) for key, seq, line in self._sound(
                connection, select(table.c.out_dir, table.c.seq, table.c.line).where(table.c.action == action))]

    def audit_rows(self) -> list[dict[str, Any]]:
        """Every audit entry the ledger holds, every trail's, in order: ``trail`` (its key),
        ``run_key`` (the run folder the review had open), ``seq``, ``line_sha256``, ``action`` and
        ``line`` (``assaykit verify`` finds a run's trails by its run folder and its signatures by
        what they signed, never by a field of the output folder alone)."""
        from sqlalchemy import select

        table = schema.audit
        with self._read() as connection:
            return [{"trail": str(key), "run_key": str(run_key), "seq": int(seq), "line_sha256": str(sha),
                     "action": str(action), "line": str(line)} for key, run_key, seq, sha, action, line in self._sound(
                connection, select(table.c.out_dir, table.c.run_key, table.c.seq, table.c.line_sha256,
                                   table.c.action, table.c.line).order_by(table.c.out_dir, table.c.seq))]

    # --- reading ---------------------------------------------------------------------------------

    def files_elsewhere(self, run_key: str, hashes: Iterable[str]) -> dict[str, str]:
        """sha256 -> the run name of files recorded under a run other than ``run_key``.

        Parameters
        ----------
        run_key : str
            The run being scored (its resolved folder).
        hashes : iterable of str
            Its files' sha256.
        """
        from sqlalchemy import select

        out: dict[str, str] = {}
        with self._read() as connection:
            for chunk in _chunks(sorted(set(hashes)), 500):
                rows = self._sound(connection,
                                   select(schema.tubes.c.sha256, schema.runs.c.run_name)
                                   .join(schema.runs, schema.runs.c.id == schema.tubes.c.run_id)
                                   .where(schema.tubes.c.sha256.in_(chunk), schema.runs.c.run_key != run_key))
                out.update({sha: name for sha, name in rows})
        return out

    def qc_history(self, run_key: str, instrument: str, serial: str, kit: str, lot: str) -> dict[str, list[float]]:
        """Each QC series' values in the accepted (not rejected) runs of one instrument and bead
        lot other than ``run_key``, oldest first (acquisition date, then scoring time); runs whose
        calibration was not reportable (withheld, or released by a person) are left out: the
        series and the targets built from them rest on reportable calibrations only.

        Parameters
        ----------
        run_key : str
            The run being judged (left out).
        instrument, serial : str
            ``$CYT`` and ``$CYTNUM``.
        kit, lot : str
            The bead kit and lot.
        """
        from sqlalchemy import select

        runs, checks = schema.runs, schema.qc_checks
        query = (select(checks.c.series, checks.c.value)
                 .join(runs, runs.c.id == checks.c.run_id)
                 .where(runs.c.instrument == instrument, runs.c.instrument_serial == serial, runs.c.kit == kit,
                        runs.c.lot == lot, runs.c.qc_status != "rejected", runs.c.run_key != run_key,
                        runs.c.calibration_status.in_(("reportable", "")))  # "": recorded before verdicts
                 .order_by(runs.c.acquired_on, runs.c.scored_at, runs.c.id, checks.c.id))
        out: dict[str, list[float]] = {}
        with self._read() as connection:
            for series, value in self._sound(connection, query):
                if value is not None:
                    out.setdefault(series, []).append(float(value))
        return out

    def patient_rows(self, patients: Iterable[str], run_key: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """The ``patients`` and ``restoration`` rows of some patients across runs (other than
        ``run_key`` when given), with each row's run name and acquisition date.

        Parameters
        ----------
        patients : iterable of str
            Patient ids.
        run_key : str or None
            A run to leave out (the one being scored, whose rows are not recorded yet).
        """
        from sqlalchemy import select

        ids = sorted(set(patients))
        out: dict[str, list[dict[str, Any]]] = {"patients": [], "restoration": []}
        runs = schema.runs
        with self._read() as connection:
            for name, table in (("patients", schema.patients), ("restoration", schema.restoration)):
                for chunk in _chunks(ids, 500):
                    query = (select(table, runs.c.run_name, runs.c.acquired_on, runs.c.unit, runs.c.qc_status)
                             .join(runs, runs.c.id == table.c.run_id).where(table.c.patient.in_(chunk)))
                    if run_key is not None:
                        query = query.where(runs.c.run_key != run_key)
                    out[name].extend(dict(r._mapping) for r in self._sound(connection, query))
        for rows in out.values():
            rows.sort(key=lambda r: (r["patient"], _day_key(r["day"]), r["acquired_on"], r["run_name"]))
        return out

    def runs(self) -> list[dict[str, Any]]:
        """Every recorded run, oldest first, with ``n_withheld``: its blood tubes (values) whose
        verdict is withheld, as ``score`` counts them (the bead tube's verdict is the run's
        ``calibration_status``)."""
        from sqlalchemy import func, select

        tubes = schema.tubes
        withheld = (select(tubes.c.run_id, func.count().label("n_withheld"))
                    .where(tubes.c.verdict == "withheld", tubes.c.role != "beads")
                    .group_by(tubes.c.run_id).subquery())
        with self._read() as connection:
            query = (select(schema.runs, func.coalesce(withheld.c.n_withheld, 0).label("n_withheld"))
                     .outerjoin(withheld, withheld.c.run_id == schema.runs.c.id)
                     .order_by(schema.runs.c.acquired_on, schema.runs.c.scored_at, schema.runs.c.id))
            return [dict(r._mapping) for r in self._sound(connection, query)]

    def validation_rows(self) -> list[dict[str, Any]]:
        """One dict per blood tube of every recorded run (role ``sample`` or ``control``; bead,
        isotype and blank tubes left out), what ``assaykit validate`` computes precision,
        reference intervals and stability from: the run's ``run_key``, ``run_name``, ``run_uid``,
        ``scored_at``, ``acquired_on`` (its acquisition date), ``instrument``,
        ``instrument_serial``, bead ``kit``, ``lot`` and ``unit`` (``AB/C``, or the MFI's when
        uncalibrated), and the tube's ``file``, ``sha256``, ``well``, ``role``, ``patient``,
        ``timepoint``, ``condition``, ``replicate`` and ``donor_group`` (the plate map's labels, ""
        when none), ``hladr_abc`` (in the run's unit; None when withheld or not calibrated),
        ``hladr_mfi`` (scale units), ``verdict`` ("" for tubes recorded before verdicts) and
        ``draw_to_stain_h`` (hours; None when unknown). Runs oldest first (acquisition date,
        scoring time), tubes in their recorded order; rows with values assaykit does not write are
        left out and named in :attr:`left_out`, as every read does."""
        from sqlalchemy import select

        tubes, runs = schema.tubes, schema.runs
        query = (select(runs.c.run_key, runs.c.run_name, runs.c.run_uid, runs.c.scored_at, runs.c.acquired_on,
                        runs.c.instrument, runs.c.instrument_serial, runs.c.kit, runs.c.lot, runs.c.unit,
                        tubes.c.file, tubes.c.sha256, tubes.c.well, tubes.c.role, tubes.c.patient, tubes.c.timepoint,
                        tubes.c.condition, tubes.c.replicate, tubes.c.donor_group, tubes.c.hladr_abc,
                        tubes.c.hladr_mfi, tubes.c.verdict, tubes.c.draw_to_stain_h)
                 .join(runs, runs.c.id == tubes.c.run_id).where(tubes.c.role.in_(VALIDATION_ROLES))
                 .order_by(runs.c.acquired_on, runs.c.scored_at, runs.c.id, tubes.c.id))
        with self._read() as connection:
            return [dict(r._mapping) for r in self._sound(connection, query)]

    def patient_tubes(self, patient: str) -> list[dict[str, Any]]:
        """One patient's tubes across runs (time point, condition, verdict, findings) with each
        run's name and its calibration's status and release reason: what a withheld or released
        value in ``ledger patient`` is marked with.

        Parameters
        ----------
        patient : str
            The patient id.
        """
        from sqlalchemy import select

        tubes, runs = schema.tubes, schema.runs
        query = (select(tubes.c.file, tubes.c.timepoint, tubes.c.condition, tubes.c.verdict, tubes.c.qc_flags,
                        tubes.c.error, runs.c.run_name, runs.c.calibration_status, runs.c.calibration_released)
                 .join(runs, runs.c.id == tubes.c.run_id).where(tubes.c.patient == patient)
                 .order_by(runs.c.id, tubes.c.id))
        with self._read() as connection:
            return [dict(r._mapping) for r in self._sound(connection, query)]

    def qc_points(self, instrument: str | None = None) -> list[dict[str, Any]]:
        """Every QC check with its run (name, instrument, lot, date, status), oldest first;
        only ``instrument`` (``$CYT``, or ``$CYT $CYTNUM``) when given.

        Parameters
        ----------
        instrument : str or None
            An instrument to keep.
        """
        from sqlalchemy import or_, select

        runs, checks = schema.runs, schema.qc_checks
        query = (select(checks, runs.c.run_name, runs.c.instrument, runs.c.instrument_serial, runs.c.kit,
                        runs.c.lot, runs.c.acquired_on, runs.c.qc_status.label("run_status"))
                 .join(runs, runs.c.id == checks.c.run_id)
                 .order_by(runs.c.acquired_on, runs.c.scored_at, runs.c.id, checks.c.id))
        if instrument:
            query = query.where(or_(runs.c.instrument == instrument,
                                    (runs.c.instrument + " " + runs.c.instrument_serial) == instrument))
        with self._read() as connection:
            return [dict(r._mapping) for r in self._sound(connection, query)]

    def export(self) -> dict[str, bytes]:
        """Every table as CSV bytes (UTF-8, a header row, rows in id order), by table name; rows
        with values assaykit does not write are left out and named in :attr:`left_out`, as
        every read does."""
        from sqlalchemy import select

        out = {}
        with self._read() as connection:
            for table in schema.TABLES:
                buffer = io.StringIO()
                writer = csv.writer(buffer, lineterminator="\n")
                writer.writerow(table.c.keys())
                for row in self._sound(connection, select(table).order_by(table.c.id)):
                    writer.writerow(_cell(v) for v in row)
                out[table.name] = buffer.getvalue().encode("utf-8")
        return out

    def integrity(self) -> list[str]:
        """Problems the database itself reports (SQLite ``PRAGMA integrity_check`` and foreign
        keys; PostgreSQL: none to ask) plus child rows without their run; [] when sound."""
        from sqlalchemy import select, text

        problems = []
        with self._read() as connection:
            if self.engine.dialect.name == "sqlite":
                found = [r[0] for r in connection.execute(text("PRAGMA integrity_check"))]
                problems += [] if found == ["ok"] else found
                problems += [f"foreign key: {tuple(r)}" for r in connection.execute(text("PRAGMA foreign_key_check"))]
            ids = select(schema.runs.c.id)
            for table in schema.TABLES[1:]:
                orphans = connection.execute(select(table.c.id).where(table.c.run_id.not_in(ids))).all()
                problems += [f"{table.name}: {len(orphans)} rows without their run"] if orphans else []
        return problems


def _unsound(column: Any, value: Any) -> str:
    """Why ``value``, read from ``column``, is not a value assaykit writes there ("" when it is)."""
    from sqlalchemy import Float, Integer, String

    from .._io.validate import quote

    table = getattr(getattr(column, "table", None), "name", "")
    where = f"{table}.{column.name}" if table else str(column.name)
    kind = stored_type(getattr(column, "type", None))
    if isinstance(value, NotUtf8):
        return f"{where}: a text of {len(value)} bytes that are not UTF-8"
    if value is None:
        return "" if getattr(column, "nullable", True) else f"{where}: empty"
    if isinstance(kind, Float | Integer):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{where}: {quote(value)} is not a number"
        if not math.isfinite(value) or abs(value) >= NUMBER_LIMIT:
            return f"{where}: {value!r} is not a number assaykit writes (finite, below {NUMBER_LIMIT:g})"
        if isinstance(kind, Integer) and value != int(value):
            return f"{where}: {value!r} is not a whole number"
    elif isinstance(kind, String):
        if not isinstance(value, str):
            return f"{where}: {quote(value)} is not text"
        if "\x00" in value:
            return f"{where}: {quote(value)} holds a NUL character"
    return ""


def stored_type(kind: Any) -> Any:
    """The SQL type a column stores (a :class:`.schema.Name` column's String or Text): the
    checks of values read and written go by it."""
    from sqlalchemy.types import TypeDecorator

    return kind.impl if isinstance(kind, TypeDecorator) else kind


def _storable(record: RunRecord, shown: str) -> None:
    """Refuse, in one line, a row the ledger's schema cannot store on every backend alike: a
    number that is not finite-or-empty, text longer than its column or holding a NUL (SQLite would
    take them, PostgreSQL not: a ledger behaves the same on both)."""
    from sqlalchemy import Float, Integer, String

    parts = ((schema.runs, [record.run]), (schema.tubes, record.tubes), (schema.bead_peaks, record.bead_peaks),
             (schema.restoration, record.restoration), (schema.patients, record.patients),
             (schema.qc_checks, record.qc_checks))
    for table, rows in parts:
        for row in rows:
            for name, value in _clean(row).items():
                column = table.c[name]
                kind = stored_type(column.type)
                if isinstance(value, str) and isinstance(column.type, schema.Name):
                    value = column.type.process_bind_param(value, None)  # a name is stored escaped
                problem = ""
                if value is None:
                    problem = "" if column.nullable else "is empty"
                elif isinstance(kind, String):
                    if not isinstance(value, str):
                        problem = "is not text"
                    elif "\x00" in value:
                        problem = "holds a NUL character"
                    elif kind.length is not None and len(value) > kind.length:
                        problem = f"is longer than {kind.length} characters"
                    else:
                        try:
                            value.encode("utf-8")
                        except UnicodeEncodeError:
                            problem = "is not valid Unicode text"
                elif isinstance(kind, Float | Integer) and (isinstance(value, bool) or not isinstance(
                        value, int | float) or abs(value) >= NUMBER_LIMIT):
                    problem = f"is not a number below {NUMBER_LIMIT:g}"
                if problem:
                    from .._io.validate import quote

                    what = next((f" ({k} {quote(row[k])})" for k in ("file", "patient", "series") if row.get(k)), "")
                    raise LedgerFaultError(f"{shown}: not recorded: {table.name}.{name}{what} {problem}",
                                        fault=LedgerFault.REFUSED_VALUE)


def _day_key(day: Any) -> float:
    return float(day) if day is not None and math.isfinite(day) else math.inf


def _cell(value: Any) -> str:
    """A CSV cell: numbers as Python writes them, text as every table writes it (names escaped,
    neutralised against formulas: :func:`assaykit._io.names.cell`)."""
    from .._io.names import cell

    if value is None:
        return ""
    return cell(value) if isinstance(value, str) else str(value)


def _uniform(table: Any, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` (:func:`_clean`) with every key any of them has: a row without one takes the
    column's default ("" for the text columns added by later revisions, else NULL). One insert of
    many rows binds the first row's keys only: a key the first row lacks would be dropped silently
    from the others."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    defaults = {}
    for key in keys:
        default = getattr(table.c[key].server_default, "arg", None) if key in table.c else None
        defaults[key] = default if isinstance(default, str) else None
    return [{**defaults, **_clean(r)} for r in rows]


def _clean(row: Mapping[str, Any]) -> dict[str, Any]:
    """NaN and infinities as NULL."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def open_ledger(target: str | Path, timeout_s: float = 60.0, migrate: bool = True) -> Ledger:
    """Open the ledger at ``target`` (a file path for SQLite, created when missing; or a
    ``postgresql://`` URL) with its schema at the newest revision. LedgerError in one line for a
    foreign or corrupt file, a lock held longer than ``timeout_s``, a server that cannot be
    reached, or a schema newer than this assaykit.

    Parameters
    ----------
    target : str or Path
        The ledger (see :func:`ledger_url`).
    timeout_s : float
        Seconds to wait for another writer's lock or a server's answer.
    migrate : bool
        Bring the schema to the newest revision (False: open as it is, for tests and tools).
    """
    url = str(target)
    try:
        url = ledger_url(target)
        if url.startswith("sqlite"):
            _check_sqlite_file(url)
        engine = _engine(url, timeout_s)
    except Exception as error:  # every failure of the ledger is a typed fault
        raise _translated(error, url, timeout_s) from None
    ledger = Ledger(url, engine, timeout_s)
    if migrate:
        try:
            ledger.migrate()
        except BaseException:
            ledger.close()
            raise
    return ledger


def default_ledger(out_dir: Path) -> Path:
    """The ledger a run records into when none is named: ``assaykit-ledger.sqlite`` beside its
    output folder (``reports/assaykit-ledger.sqlite`` for ``reports/<run>``).

    Parameters
    ----------
    out_dir : Path
        The run's output folder.
    """
    return Path(out_dir).resolve().parent / DEFAULT_NAME
