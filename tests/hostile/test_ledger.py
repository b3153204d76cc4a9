"""The ledger is advisory to a run (issue 28, family 6): whatever an earlier run, a person or
another program left in the ledger file -- a value of the wrong type in any column, NaN,
infinities, 1e308, a truncated, empty or foreign file, a table dropped, a schema from a newer
assaykit, a lock held -- the run's outputs are written and verify, the fault is a typed
``ledger.fault`` in the manifest, and the command exits 1 (0 when nothing was wrong). Values
the ledger cannot store are refused alike by SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math
import random
import shutil
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy
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


# --- text that is not UTF-8, a corrupt schema, every ledger command (hostile findings 6, 12, 10b) ------

NOT_UTF8 = b"P\xff\xfe01\xc3"
"""Bytes SQLite keeps as TEXT that no UTF-8 reader can decode (a person's or another program's edit)."""
TEXT_COLUMNS = [(t, c) for t, c in COLUMNS if not isinstance(stored_type(schema.metadata.tables[t].c[c].type),
                                                               sqlalchemy.Float | sqlalchemy.Integer)]


def _ledger_commands(out: Path) -> dict[str, list[str]]:
    """Every ``ledger`` command (and its options that read differently), without --ledger."""
    return {"runs": ["ledger", "runs"], "runs --json": ["ledger", "runs", "--json"],
            "patient": ["ledger", "patient", "P01"], "patient --json": ["ledger", "patient", "P01", "--json"],
            "qc": ["ledger", "qc"], "qc --out": ["ledger", "qc", "--out", str(out / "qc")],
            "export": ["ledger", "export", "--out", str(out / "export")]}


def _one_line_or_none(result: object) -> None:
    """A ledger command's ending: never a traceback nor exit 3; an error is one line."""
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.output)  # type: ignore[attr-defined]
    assert "Traceback" not in result.output and "internal error" not in result.output  # type: ignore[attr-defined]
    if result.exit_code == 2:  # type: ignore[attr-defined]
        assert result.stderr.strip().count("\n") == 0, result.stderr  # type: ignore[attr-defined]


CLI_TEXT_COLUMNS = {next((t, c) for t, c in TEXT_COLUMNS if t == table.name) for table in schema.TABLES
                    if any(t == table.name for t, _ in TEXT_COLUMNS)} | {("runs", "instrument"), ("tubes", "patient")}
"""One text column of each table (and the ones the review named) through every ledger command."""


def test_text_that_is_not_utf8_in_every_text_column_is_left_out_and_named(earlier: tuple[Path, Path],
                                                                          tmp_path: Path) -> None:
    """Every text column of every table holding bytes that are not UTF-8: every read and every
    ledger command goes on, the rows holding them left out and named (table.column), exit 1 --
    the one rule for values read back, as for numbers; never 'Could not decode' for the whole ledger."""
    run, ledger = earlier
    for table, column in TEXT_COLUMNS:
        target = tmp_path / f"{table}.{column}.sqlite"
        shutil.copy(ledger, target)
        with sqlite3.connect(target) as connection:
            changed = connection.execute(f"UPDATE {table} SET {column} = CAST(? AS TEXT)", (NOT_UTF8,)).rowcount
        assert changed, (table, column)  # the earlier run has rows in every table
        with open_ledger(target, migrate=False) as opened:
            opened.files_elsewhere(str(run.resolve()), ["x"])
            opened.qc_history(str(run.resolve()), *_where(opened))
            opened.patient_rows(["P01", "P02"], str(run.resolve()))
            opened.patient_tubes("P01")
            opened.qc_points()
            tables = opened.export()
            assert any(line.startswith(f"{table}.{column}: ") and "not UTF-8" in line for line in opened.left_out)
        assert NOT_UTF8.decode("latin-1") not in tables[table].decode("utf-8")  # the row itself left out
        if (table, column) not in CLI_TEXT_COLUMNS:
            continue
        outputs = tmp_path / f"out-{table}.{column}"
        for name, command in _ledger_commands(outputs).items():
            result = CliRunner().invoke(app, [*command, "--ledger", str(target)])
            _one_line_or_none(result)
            if name.startswith("export") or (name.startswith("runs") and table == "runs"):
                assert result.exit_code == 1, (table, column, name, result.output)
            if result.exit_code == 1:  # rows were left out: one line naming the first
                assert f"{table}.{column}: " in result.stderr or "left out" in result.stderr, result.stderr
                assert result.stderr.strip().count("\n") == 0, result.stderr
        for written in ("export", "qc"):  # what ledger commands write passes verify
            assert CliRunner().invoke(app, ["verify", str(outputs / written)]).exit_code == 0, written


@pytest.mark.parametrize(("table", "column"), [("runs", "run_name"), ("patients", "immunosep_class"),
                                                ("qc_checks", "series")])  # columns a run reads back
def test_a_run_over_text_that_is_not_utf8_writes_its_outputs(earlier: tuple[Path, Path], tmp_path: Path,
                                                              table: str, column: str) -> None:
    run, ledger = earlier
    target = tmp_path / "ledger.sqlite"
    shutil.copy(ledger, target)
    with sqlite3.connect(target) as connection:
        connection.execute(f"UPDATE {table} SET {column} = CAST(? AS TEXT)", (NOT_UTF8,))
    code, manifest = _score(run, tmp_path / "out", target, "--no-report")
    _verifies(tmp_path / "out")
    assert code == 1 and manifest["ledger"]["fault"] == LedgerFault.BAD_VALUES, manifest["ledger"]
    assert any(line.startswith(f"{table}.{column}: ") for line in manifest["ledger"]["left_out"])
    with open_ledger(target) as opened:  # the run itself was recorded all the same
        assert str(run.resolve()) in {r["run_key"] for r in opened.runs()}


def _schema_damaged(ledger: Path, target: Path, rng: random.Random, printable: bool) -> str:
    """A copy of ``ledger`` with one byte of one table's or index's SQL in sqlite_master changed
    (a byte that is not UTF-8, or an ASCII one that breaks the statement); what was changed."""
    shutil.copy(ledger, target)
    connection = sqlite3.connect(target)
    try:
        connection.execute("PRAGMA writable_schema=ON")
        entries = connection.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
        name, sql = entries[rng.randrange(len(entries))]
        data = bytearray(sql.encode())
        at = rng.randrange(len(data))
        data[at] = rng.choice(b"(),;'\"xQ ") if printable else rng.randrange(0x80, 0x100)
        connection.execute("UPDATE sqlite_master SET sql = CAST(? AS TEXT) WHERE name = ?", (bytes(data), name))
        connection.commit()
    finally:
        connection.close()
    return f"{name}[{at}]"


def test_a_corrupt_schema_byte_anywhere_is_a_typed_fault(earlier: tuple[Path, Path], tmp_path: Path) -> None:
    """A byte of sqlite_master's SQL changed at random positions of random tables and indexes
    (not UTF-8, or breaking the SQL): opening and every read give a LedgerFaultError or succeed,
    never another exception; every ledger command ends in one line, never exit 3."""
    run, ledger = earlier
    rng = random.Random(28)
    for case in range(24):
        target = tmp_path / f"schema-{case}.sqlite"
        where = _schema_damaged(ledger, target, rng, printable=case % 3 == 2)
        try:
            with open_ledger(target) as opened:
                opened.runs()
                opened.qc_points()
                opened.patient_rows(["P01"], str(run.resolve()))
                opened.export()
        except LedgerFaultError as error:
            assert isinstance(error.fault, LedgerFault) and "\n" not in str(error), where
        for name, command in _ledger_commands(tmp_path / f"out-{case}").items():
            result = CliRunner().invoke(app, [*command, "--ledger", str(target)])
            _one_line_or_none(result)
            assert result.exception is None or isinstance(result.exception, SystemExit), (where, name)


def test_the_reviewed_corrupt_schema_byte_costs_no_outputs(earlier: tuple[Path, Path], tmp_path: Path) -> None:
    """The review's case: 'PRIMARY KEY' of qc_checks written 'PRIMARY K\\xfcY': score writes its
    outputs, exit 1, ``not_a_database``; the file is left as it was; ledger runs: one line, exit 2."""
    run, ledger = earlier
    target = tmp_path / "ledger.sqlite"
    shutil.copy(ledger, target)
    with sqlite3.connect(target) as connection:
        connection.execute("PRAGMA writable_schema=ON")
        sql = connection.execute("SELECT sql FROM sqlite_master WHERE name = 'qc_checks'").fetchone()[0]
        connection.execute("UPDATE sqlite_master SET sql = CAST(? AS TEXT) WHERE name = 'qc_checks'",
                           (sql.encode().replace(b"PRIMARY KEY", b"PRIMARY K\xfcY", 1),))
    before = target.read_bytes()
    code, manifest = _score(run, tmp_path / "out", target, "--no-report")
    _verifies(tmp_path / "out")
    assert code == 1 and manifest["ledger"]["fault"] == LedgerFault.NOT_A_DATABASE, manifest["ledger"]
    assert target.read_bytes() == before
    result = CliRunner().invoke(app, ["ledger", "runs", "--ledger", str(target)])
    assert result.exit_code == 2 and str(target) in result.stderr and "corrupt" in result.stderr


def _special(kind: str, path: Path) -> Path:
    import os

    if kind == "FIFO":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "broken link":
        path.symlink_to(path.parent / "nowhere")
    elif kind == "link to /dev/zero":
        path.symlink_to("/dev/zero")
    elif kind in ("/dev/zero", "/dev/null"):
        return Path(kind)
    return path


SPECIAL = {"FIFO": "a FIFO", "folder": "a directory", "broken link": "a broken symbolic link",
           "link to /dev/zero": "a character device", "/dev/zero": "a character device",
           "/dev/null": "a character device"}


@pytest.mark.parametrize("kind", list(SPECIAL))
def test_every_ledger_command_names_a_special_file_as_what_it_is(tmp_path: Path, kind: str) -> None:
    """``ledger runs/patient/qc/export --ledger X`` on a FIFO, device, folder, broken link: one
    line saying what it is, exit 2, never 'no ledger here' and never a read that blocks."""
    target = _special(kind, tmp_path / "ledger.sqlite")
    for name, command in _ledger_commands(tmp_path).items():
        result = CliRunner().invoke(app, [*command, "--ledger", str(target)])
        assert result.exit_code == 2, (name, result.output)
        assert SPECIAL[kind] in result.stderr and "no ledger here" not in result.stderr, (name, result.stderr)
        assert result.stderr.strip().count("\n") == 0


# --- a ledger URL's password is never written or printed (hostile finding 5) -------------------------

PASSWORDS = ["S3cretPassw0rd", "p@ss/w:rd", "p%40ss%2Fx", "pa ss"[:2] + "ss!#$"]
"""Passwords as a URL may hold them (raw @, / and :; percent-escaped; punctuation)."""


def _urls(password: str) -> list[str]:
    return [f"postgresql://alice:{password}@127.0.0.1:1/labdb",
            f"postgres://alice:{password}@127.0.0.1:1/labdb?connect_timeout=1",
            f"postgresql+psycopg://alice:{password}@127.0.0.1:1/labdb",
            f"postgresql://127.0.0.1:1/labdb?user=alice&password={password}"]


@pytest.mark.parametrize("password", PASSWORDS)
def test_one_masking_rule_hides_every_password(password: str) -> None:
    from assaykit.ledger.faults import masked
    from assaykit.ledger.store import _shown, ledger_url

    for url in _urls(password):
        for text in (url, f"error: {url}: cannot use the ledger server", ledger_url(url)):
            assert password not in masked(text) and "alice" in masked(text), text
        assert password not in _shown(ledger_url(url))
    assert masked("/data/a:b@c/ledger.sqlite") == "/data/a:b@c/ledger.sqlite"  # a file path is as given


@pytest.mark.parametrize("source", ["option", "environment", "run.yaml"])
def test_a_ledger_password_is_never_written_or_printed(earlier: tuple[Path, Path], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch, source: str) -> None:
    """--ledger, ASSAYKIT_LEDGER and run.yaml ``ledger:`` naming a server that cannot be reached:
    the outputs are written, and no file written, no console line nor a ledger command's error
    holds the password."""
    run, _ = earlier
    password = PASSWORDS[["option", "environment", "run.yaml"].index(source) % len(PASSWORDS)]
    url = _urls(password)[0]
    folder = Path(shutil.copytree(run, tmp_path / "run"))
    more: list[str] = []
    if source == "option":
        more = ["--ledger", url]
    elif source == "environment":
        monkeypatch.setenv("ASSAYKIT_LEDGER", url)
    else:
        config = folder / "run.yaml"
        text = config.read_text() if config.is_file() else ""
        config.write_text(text + f"\nledger: '{url}'\n")
    result = CliRunner().invoke(app, ["score", str(folder), "--out", str(tmp_path / "out"), "--jobs", "1",
                                      "--no-report", *more])
    assert result.exit_code == 1, result.output
    assert password not in result.output and "alice" in result.output
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["ledger"]["fault"] == LedgerFault.UNREACHABLE and "***" in manifest["ledger"]["location"]
    for command in _ledger_commands(tmp_path / "cmd").values():
        shown = CliRunner().invoke(app, [*command, "--ledger", url])
        assert shown.exit_code == 2 and password not in shown.output and "***" in shown.stderr, shown.output


def test_crash_logs_hold_no_ledger_password(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from assaykit._workers import crash_log
    from assaykit.cli import _log_crash

    for password in PASSWORDS:
        url = _urls(password)[0]
        monkeypatch.setattr(sys, "argv", ["assaykit", "score", "run", "--ledger", url])
        for log in (Path(crash_log(RuntimeError(f"failed on {url}"))), _log_crash(RuntimeError(f"failed on {url}"))):
            try:
                text = log.read_text()
                assert password not in text and "alice:***@" in text, text
            finally:
                log.unlink()
