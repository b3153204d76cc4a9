"""The ledger is advisory to a run (issue 28, family 6): whatever an earlier run, a person or
another program left in the ledger file -- a value of the wrong type in any column, NaN,
infinities, 1e308, a truncated, empty or foreign file, a table dropped, a schema from a newer
assaykit, a lock held -- the run's outputs are written and verify, the fault is a typed
``ledger.fault`` in the manifest, and the command exits 1 (0 when nothing was wrong). Values
the ledger cannot store are refused alike by SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assaykit.cli import app
from assaykit.ledger import ID_LENGTH, NUMBER_LIMIT, LedgerFault, LedgerFaultError, open_ledger, schema
from assaykit.ledger.store import stored_type
from tests.ledger.conftest import postgres_server, postgres_url, record  # noqa: F401 (fixtures)

VALUES = {"text": "abc", "nan": math.nan, "inf": math.inf, "-inf": -math.inf, "1e308": 1e308, "negative": -5,
          "null": None}
"""What a corrupted ledger can hold in a column (SQLite stores NaN as NULL)."""


def _unwritten(value: object, column: object) -> bool:
    """Whether assaykit would never write ``value`` into ``column`` (the rows to leave out)."""
    from sqlalchemy import Float, Integer, String

    kind = stored_type(column.type)  # type: ignore[attr-defined]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False  # SQLite stores NaN as NULL: an empty value, which every read column allows
    if isinstance(kind, Float | Integer):
        return isinstance(value, str) or not math.isfinite(value) or abs(value) >= NUMBER_LIMIT  # type: ignore[arg-type]
    assert isinstance(kind, String)
    return False  # a text column has SQLite's TEXT affinity: a number put there is stored as its text


@pytest.fixture(scope="module")
def earlier(simulated_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the run folder, a ledger holding that run recorded as an earlier run of another folder)."""
    base = tmp_path_factory.mktemp("ledger")
    run = Path(shutil.copytree(simulated_run, base / "run"))
    ledger = base / "ledger.sqlite"
    result = CliRunner().invoke(app, ["score", str(run), "--out", str(base / "out"), "--jobs", "1", "--no-report",
                                      "--ledger", str(ledger)])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(ledger) as connection:  # the same run recorded from elsewhere, files not re-used
        connection.execute("UPDATE runs SET run_key = '/elsewhere/run', run_name = 'earlier'")
        connection.execute("UPDATE tubes SET sha256 = 'e' || sha256")
    return run, ledger


def _score(run: Path, out: Path, ledger: Path, *more: str) -> tuple[int, dict]:
    result = CliRunner().invoke(app, ["score", str(run), "--out", str(out), "--jobs", "1", "--ledger", str(ledger),
                                      *more])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    manifest = json.loads((out / "manifest.json").read_text()) if (out / "manifest.json").is_file() else {}
    return result.exit_code, manifest


def _verifies(out: Path) -> None:
    result = CliRunner().invoke(app, ["verify", str(out)])
    assert result.exit_code == 0, result.output
    assert {"samples.csv", "trajectories.csv", "qc.csv", "manifest.json"} <= {p.name for p in out.iterdir()}


def _corrupt(ledger: Path, target: Path, table: str, column: str, value: object) -> bool:
    shutil.copy(ledger, target)
    with sqlite3.connect(target) as connection:
        try:
            connection.execute(f"UPDATE {table} SET {column} = ?", (value,))
        except sqlite3.IntegrityError:  # NULL in a NOT NULL column: SQLite refuses it, nothing to test
            return False
    return True


COLUMNS = [(t.name, c.name) for t in schema.TABLES for c in t.columns if c.name not in ("id", "run_id")]
READ_NUMBERS = {(t.name, c.name) for t in (schema.runs, schema.patients, schema.restoration, schema.qc_checks)
                for c in t.columns if c.name not in ("id", "run_id") and c.type.python_type in (int, float)}
"""The numbers a run reads back (QC history, trajectories) and ``ledger runs``/``qc`` show."""


@pytest.mark.parametrize("kind", list(VALUES))
def test_every_column_with_every_bad_value_is_read_without_failing(earlier: tuple[Path, Path], tmp_path: Path,
                                                                    kind: str) -> None:
    """Every column of every table, each read a run makes (and the ledger commands'): no error,
    and exactly the values assaykit does not write are left out, naming table and column."""
    run, ledger = earlier
    value = VALUES[kind]
    for table, column in COLUMNS:
        target = tmp_path / f"{table}.{column}.sqlite"
        if not _corrupt(ledger, target, table, column, value):
            continue
        with open_ledger(target, migrate=False) as opened:  # at the newest schema already
            opened.files_elsewhere(str(run.resolve()), ["x"])
            opened.qc_history(str(run.resolve()), "a", "b", "c", "d")
            history = opened.qc_history(str(run.resolve()), *_where(opened))
            rows = opened.patient_rows(["P01", "P02"], str(run.resolve()))
            opened.runs()
            opened.patient_tubes("P01")
            opened.qc_points()
            left_out = list(opened.left_out)
        bad = _unwritten(value, schema.metadata.tables[table].c[column])
        named = [line for line in left_out if line.startswith(f"{table}.{column}:")]
        assert bad or not named, (table, column, kind, left_out)  # only values assaykit does not write
        if bad and (table, column) in READ_NUMBERS:
            assert named, (table, column, kind)  # every number a run reads back is checked
        assert all(math.isfinite(v) and abs(v) < NUMBER_LIMIT for vs in history.values() for v in vs)
        assert all(r["day"] is None or isinstance(r["day"], float) for rs in rows.values() for r in rs)


def _where(opened) -> tuple[str, str, str, str]:
    run = opened.runs()
    if not run:
        return ("", "", "", "")
    first = run[0]
    return (str(first["instrument"]), str(first["instrument_serial"]), str(first["kit"]), str(first["lot"]))


# one column of each table a run reads, per kind of bad value (the full matrix is read above)
RUN_CASES = [("qc_checks", "value", "text"), ("patients", "day", "text"), ("restoration", "abc", "1e308"),
             ("patients", "control_abc", "inf"), ("restoration", "day", "-inf"), ("runs", "run_name", "1e308"),
             ("qc_checks", "value", "negative"), ("patients", "ferritin_ng_ml", "nan"), ("restoration", "abc", "null")]


@pytest.mark.parametrize(("table", "column", "kind"), RUN_CASES)
def test_a_run_over_a_corrupt_ledger_writes_its_outputs(earlier: tuple[Path, Path], tmp_path: Path, table: str,
                                                         column: str, kind: str) -> None:
    run, ledger = earlier
    target = tmp_path / "ledger.sqlite"
    assert _corrupt(ledger, target, table, column, VALUES[kind])
    bad = _unwritten(VALUES[kind], schema.metadata.tables[table].c[column])
    more = [] if (table, column, kind) == ("restoration", "abc", "1e308") else ["--no-report"]  # pages read back
    code, manifest = _score(run, tmp_path / "out", target, *more)
    _verifies(tmp_path / "out")
    assert manifest["ledger"]["fault"] == (LedgerFault.BAD_VALUES if bad else "")
    assert code == (1 if bad else 0)
    if bad:
        assert any(line.startswith(f"{table}.{column}:") for line in manifest["ledger"]["left_out"])
    with open_ledger(target) as opened:  # the run itself was recorded all the same
        assert str(run.resolve()) in {r["run_key"] for r in opened.runs()}


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def _drop(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TABLE qc_checks")


def _future(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")


def _foreign(path: Path) -> None:
    path.unlink()
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE addresses (name TEXT)")


def _column_dropped(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("ALTER TABLE patients DROP COLUMN ferritin_ng_ml")


FILE_FAULTS = {"truncated": (_truncate, LedgerFault.NOT_A_DATABASE),
               "zero-length": (lambda p: p.write_bytes(b""), ""),  # an empty file is a new ledger
               "not a database": (lambda p: p.write_bytes(b"plain text\n" * 50), LedgerFault.NOT_A_DATABASE),
               "foreign database": (_foreign, LedgerFault.FOREIGN_DATABASE),
               "table dropped": (_drop, LedgerFault.MISSING_TABLE),
               "column dropped": (_column_dropped, LedgerFault.MISSING_TABLE),
               "schema from the future": (_future, LedgerFault.NEWER_SCHEMA)}


@pytest.mark.parametrize("fault", list(FILE_FAULTS))
def test_a_damaged_ledger_file_is_a_flag_not_a_failure(earlier: tuple[Path, Path], tmp_path: Path, fault: str) -> None:
    run, ledger = earlier
    target = tmp_path / "ledger.sqlite"
    shutil.copy(ledger, target)
    damage, expected = FILE_FAULTS[fault]
    damage(target)
    before = target.read_bytes()
    code, manifest = _score(run, tmp_path / "out", target, "--no-report")
    _verifies(tmp_path / "out")
    assert manifest["ledger"]["fault"] == expected
    assert code == (1 if expected else 0)
    if expected:
        assert manifest["ledger"]["error"].count("\n") == 0 and str(target) in manifest["ledger"]["error"]
        assert target.read_bytes() == before  # a damaged ledger is never written over


def test_a_locked_ledger_is_a_typed_fault(tmp_path: Path) -> None:
    from assaykit.scoring.history import open_quietly

    target = tmp_path / "ledger.sqlite"
    open_ledger(target).close()
    holder = sqlite3.connect(target, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        ledger, error, fault = open_quietly(str(target), timeout_s=0.2)  # even reading waits for the lock
        with pytest.raises(LedgerFaultError) as raised, open_ledger(target, timeout_s=0.2) as opened:
            opened.record(record("/r/locked"))
    finally:
        holder.close()
    assert ledger is None and fault == LedgerFault.LOCKED and "locked by another process" in error
    assert raised.value.fault == LedgerFault.LOCKED and "locked by another process" in str(raised.value)


def test_a_special_file_is_not_a_ledger(tmp_path: Path) -> None:
    import os

    from assaykit.scoring.history import open_quietly

    os.mkfifo(tmp_path / "fifo")
    for target in (tmp_path / "fifo", Path("/dev/null")):
        ledger, error, fault = open_quietly(str(target), timeout_s=1)
        assert ledger is None and fault == LedgerFault.NOT_A_DATABASE and "not a regular file" in error


def test_an_unreachable_server_is_a_typed_fault(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    from assaykit.scoring.history import open_quietly

    url = f"postgresql://nobody@/nothing?host={tmp_path}&port=1"  # a socket folder with no server
    ledger, error, fault = open_quietly(url, timeout_s=1)
    assert ledger is None and fault == LedgerFault.UNREACHABLE and "cannot use the ledger server" in error


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_both_backends_accept_exactly_the_same_ids(backend: str, tmp_path: Path,
                                                   request: pytest.FixtureRequest) -> None:
    """A patient, time point or condition at the schema's length is stored by both back-ends; one
    character more is refused by both, naming the column, before anything is written. A NUL (which
    the plate map refuses in an ID) is stored escaped by both (_io.names) and read back as given."""
    target = str(tmp_path / "l.sqlite") if backend == "sqlite" else request.getfixturevalue("postgres_url")
    cases = {"longest": ("P" * ID_LENGTH, None), "one more": ("P" * (ID_LENGTH + 1), "tubes.patient"),
             "NUL": ("P\x0001", None), "accents and tabs": ("Pé\t01 ☃", None)}
    with open_ledger(target) as opened:
        for i, (name, (patient, refused)) in enumerate(cases.items()):
            base = record(f"/r/{backend}-{i}", patient="P01")
            tubes = [{**t, "patient": patient} for t in base.tubes]
            try:
                opened.record(type(base)(run=base.run, tubes=tubes))
            except LedgerFaultError as error:
                assert refused and error.fault == LedgerFault.REFUSED_VALUE and refused in str(error), name
            else:
                assert refused is None, name
                assert len(opened.patient_tubes(patient)) == len(tubes), name  # read back by its ID
        kept = {r["run_key"] for r in opened.runs()}
    assert kept == {f"/r/{backend}-{i}" for i, (_, (_, refused)) in enumerate(cases.items()) if refused is None}


def test_postgresql_nan_and_infinities_are_left_out(postgres_url: str) -> None:  # noqa: F811 (fixture)
    """PostgreSQL stores NaN and infinities in float columns (SQLite turns NaN into NULL): an
    earlier run's such values are left out of what a run reads, named, never used."""
    import psycopg
    from sqlalchemy.engine import make_url

    with open_ledger(postgres_url) as opened:
        opened.record(record("/r/earlier", patient="P01"))
    url = make_url(postgres_url)
    for value, column in (("NaN", "qc_checks.value"), ("Infinity", "patients.day"), ("-Infinity", "restoration.abc"),
                          ("1e308", "patients.control_abc")):
        table, name = column.split(".")
        with psycopg.connect(host=url.query["host"], port=int(url.query["port"]), user="postgres",
                             dbname=url.database, autocommit=True) as connection:
            connection.execute(f"UPDATE {table} SET {name} = %s::float8", (value,))
        with open_ledger(postgres_url) as opened:
            history = opened.qc_history("/r/now", "Canto", "V1", "QB", "L1")
            rows = opened.patient_rows(["P01"], "/r/now")
            assert any(line.startswith(f"{column}:") for line in opened.left_out), (value, opened.left_out)
        assert all(math.isfinite(v) for vs in history.values() for v in vs)
        assert all(r[name] is None or math.isfinite(r[name]) for rs in rows.values() for r in rs if name in r)
        with psycopg.connect(host=url.query["host"], port=int(url.query["port"]), user="postgres",
                             dbname=url.database, autocommit=True) as connection:
            connection.execute(f"UPDATE {table} SET {name} = 1.0")  # sound again: the next value alone
