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
from .names import DEFAULT_NAME

HEAD = "0003"
_LOCK_KEY = 0x61737361796B  # "assayk": the advisory lock every PostgreSQL writer takes
_SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True)
class RunRecord:
    """One scored run as the ledger stores it: ``run`` (the runs row), and its ``tubes``,
    ``bead_peaks``, ``restoration``, ``patients`` and ``qc_checks`` rows (dicts of the columns in
    :mod:`.schema`, without ids)."""

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
    """The ledger's location for people: a SQLite file's path, a server URL without its password."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    return parsed.render_as_string(hide_password=True)


def _check_sqlite_file(url: str) -> None:
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if not database or database == ":memory:":
        return
    path = Path(database)
    if path.is_file() and path.stat().st_size > 0:
        with path.open("rb") as handle:
            if handle.read(16) != _SQLITE_MAGIC:
                raise LedgerError("not a SQLite database (a foreign or corrupt file); name another ledger", path)


def _engine(url: str, timeout_s: float) -> Any:
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import NullPool

    if url.startswith("sqlite"):
        engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": timeout_s})

        @event.listens_for(engine, "connect")
        def _connect(dbapi: Any, _record: Any) -> None:
            dbapi.isolation_level = None  # assaykit issues BEGIN itself (below)
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


def _problem(error: BaseException, url: str, timeout_s: float) -> LedgerError:
    """One line for a database error."""
    lines = str(getattr(error, "orig", None) or error).strip().splitlines()
    text = lines[0] if lines else type(error).__name__
    where = _shown(url)
    low = text.lower()
    if "locked" in low or "busy" in low:
        return LedgerError(f"{where}: the ledger is locked by another process (waited {timeout_s:g} s)")
    if "not a database" in low or "malformed" in low or "corrupt" in low:
        return LedgerError(f"{where}: the ledger file is corrupt or not a database ({text})")
    if url.startswith("postgresql"):
        return LedgerError(f"{where}: cannot use the ledger server ({text})")
    return LedgerError(f"{where}: {text}")


class Ledger:
    """An open ledger (use :func:`open_ledger`); close it, or use it as a context manager."""

    def __init__(self, url: str, engine: Any, timeout_s: float) -> None:
        self.url, self.engine, self.timeout_s = url, engine, timeout_s

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
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with self.engine.connect() as connection:
                connection.execution_options(assaykit_write=True)
                with connection.begin():
                    if self.engine.dialect.name == "postgresql":
                        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
                    yield connection
        except SQLAlchemyError as error:
            raise _problem(error, self.url, self.timeout_s) from None

    @contextmanager
    def _read(self) -> Iterator[Any]:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with self.engine.connect() as connection:
                yield connection
        except SQLAlchemyError as error:
            raise _problem(error, self.url, self.timeout_s) from None

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
                    return HEAD
        config = Config()
        config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        known = {s.revision for s in ScriptDirectory.from_config(config).walk_revisions()}
        with self._write() as connection:  # checked again under the lock: another process may have migrated
            tables = set(inspect(connection).get_table_names())
            current = MigrationContext.configure(connection).get_current_revision()
            if current is None and tables - {"alembic_version"}:
                raise LedgerError(f"{self.shown}: a foreign database (tables {', '.join(sorted(tables)[:5])}), not an "
                                  "assaykit ledger")
            if current is not None and current not in known:
                raise LedgerError(f"{self.shown}: ledger schema {current!r} is newer than this assaykit knows "
                                  f"(newest {HEAD}) or not an assaykit ledger; upgrade assaykit")
            if current != target:
                config.attributes["connection"] = connection
                command.upgrade(config, target)
            return target

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
                    connection.execute(insert(table), [{**_clean(r), "run_id": run_id} for r in rows])
        named = {t["file"]: elsewhere[t["sha256"]] for t in record.tubes if t.get("sha256") in elsewhere}
        return Recorded(run_id=int(run_id), replaced=old is not None, elsewhere=named)

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
                rows = connection.execute(
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
            for series, value in connection.execute(query):
                if value is not None and math.isfinite(value):
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
                    out[name].extend(dict(r._mapping) for r in connection.execute(query))
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
            return [dict(r._mapping) for r in connection.execute(query)]

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
            return [dict(r._mapping) for r in connection.execute(query)]

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
            return [dict(r._mapping) for r in connection.execute(query)]

    def export(self) -> dict[str, bytes]:
        """Every table as CSV bytes (UTF-8, a header row, rows in id order), by table name."""
        from sqlalchemy import select

        out = {}
        with self._read() as connection:
            for table in schema.TABLES:
                buffer = io.StringIO()
                writer = csv.writer(buffer, lineterminator="\n")
                writer.writerow(table.c.keys())
                for row in connection.execute(select(table).order_by(table.c.id)):
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


def _day_key(day: Any) -> float:
    return float(day) if day is not None and math.isfinite(day) else math.inf


def _cell(value: Any) -> str:
    """A CSV cell: numbers as Python writes them, text as every table writes it (names escaped,
    neutralised against formulas: :func:`assaykit._io.names.cell`)."""
    from .._io.names import cell

    if value is None:
        return ""
    return cell(value) if isinstance(value, str) else str(value)


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
    url = ledger_url(target)
    if url.startswith("sqlite"):
        _check_sqlite_file(url)
    ledger = Ledger(url, _engine(url, timeout_s), timeout_s)
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
