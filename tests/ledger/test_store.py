"""The ledger database on SQLite and on a real PostgreSQL server: schema by migration equal to the
declared tables, re-scoring replaces, files recorded elsewhere named, a migration from the first
schema keeps its rows, concurrent writers from separate processes all land with the integrity
check clean, and foreign, corrupt, locked or unreachable ledgers are one-line errors."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from assaykit.errors import LedgerError
from assaykit.ledger import ledger_url, open_ledger
from tests.ledger.conftest import record


def test_the_migrations_build_the_declared_schema(ledger_target: str) -> None:
    """Alembic's autogenerate comparison of the migrated database with assaykit.ledger.schema
    finds no difference (a migration forgotten for a schema change fails here)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from assaykit.ledger.schema import metadata

    with open_ledger(ledger_target) as ledger, ledger.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
        assert ledger.revision() == "0005"


def test_record_replace_and_files_elsewhere(ledger_target: str) -> None:
    with open_ledger(ledger_target) as ledger:
        first = ledger.record(record("/runs/a", tubes=3))
        assert not first.replaced and first.elsewhere == {}
        again = ledger.record(record("/runs/a", tubes=2, abc=5000.0))
        assert again.replaced
        runs = ledger.runs()
        assert [r["run_key"] for r in runs] == ["/runs/a"] and runs[0]["n_tubes"] == 2
        tables = {name: content.decode().splitlines() for name, content in ledger.export().items()}
        assert len(tables["tubes"]) == 1 + 2 and len(tables["restoration"]) == 1 + 1
        assert len(tables["patients"]) == 1 + 1 and len(tables["qc_checks"]) == 1 + 1
        moved = ledger.record(record("/elsewhere/a", tubes=2, sha_prefix="/runs/a"))  # the same files, moved
        assert moved.elsewhere == {"t0.fcs": "a", "t1.fcs": "a"}
        assert ledger.files_elsewhere("/elsewhere/a", ["/runs/a-0", "nope"]) == {"/runs/a-0": "a"}
        assert ledger.integrity() == []


def test_patient_rows_and_qc_history(ledger_target: str) -> None:
    with open_ledger(ledger_target) as ledger:
        for i, (day, slope, status) in enumerate([(1, 1.00, "in control"), (3, 1.01, "rejected"),
                                                  (5, 0.99, "in control")]):
            ledger.record(record(f"/runs/r{i}", day=day, abc=1000.0 * (i + 2), slope=slope, status=status,
                                 acquired_on=f"2026-01-0{i + 1}"))
        rows = ledger.patient_rows(["P01"], run_key="/runs/r2")
        assert [r["day"] for r in rows["patients"]] == [1.0, 3.0]
        assert [r["control_abc"] for r in rows["patients"]] == [2000.0, 3000.0]
        assert {r["run_name"] for r in rows["restoration"]} == {"r0", "r1"}
        history = ledger.qc_history("/runs/new", "Canto", "V1", "QB", "L1")
        assert history == {"bead slope": [1.00, 0.99]}  # the rejected run left out
        assert ledger.qc_history("/runs/new", "Canto", "V2", "QB", "L1") == {}
        points = ledger.qc_points("Canto V1")
        assert [p["run_name"] for p in points] == ["r0", "r1", "r2"] and ledger.qc_points("Navios") == []


def test_a_migration_from_the_first_schema_keeps_its_rows(ledger_target: str) -> None:
    """A ledger created by revision 0001 (the first release) with a run in it is upgraded in
    place when opened: the run stays, the new columns take their defaults."""
    from sqlalchemy import text

    ledger = open_ledger(ledger_target, migrate=False)
    try:
        assert ledger.migrate("0001") == "0001" and ledger.revision() == "0001"
        with ledger.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO runs (run_key, run_name, run_uid, scored_at, software, instrument, instrument_serial, "
                "acquired_on, kit, lot, unit, bead_slope, n_tubes, n_failed) VALUES ('/old', 'old', 'u', '2025', "
                "'0.0.9', 'Canto', 'V1', '2025-06-01', 'QB', 'L1', 'AB/C', 1.01, 1, 0)"))
            run_id = connection.execute(text("SELECT id FROM runs")).scalar()
            connection.execute(text(
                "INSERT INTO tubes (run_id, file, sha256, well, role, patient, timepoint, day, condition, instrument, "
                "instrument_serial, acquired_at, hladr_abc, qc_flags, error) VALUES "
                f"({run_id}, 'a.fcs', 'abc', 'A1', 'sample', 'P01', 'D1', 1, 'unstimulated', 'Canto', 'V1', "
                "'2025-06-01', 4321, '', '')"))
    finally:
        ledger.close()
    with open_ledger(ledger_target) as upgraded:
        assert upgraded.revision() == "0005"
        runs = upgraded.runs()
        assert len(runs) == 1 and runs[0]["qc_status"] == "not evaluated" and runs[0]["qc_reason"] == ""
        tubes = upgraded.export()["tubes"].decode().splitlines()
        assert len(tubes) == 2 and ",4321.0," in tubes[1]
        upgraded.record(record("/new"))
        assert len(upgraded.runs()) == 2 and upgraded.integrity() == []


def _write_runs(target: str, worker: int, n: int) -> None:
    with open_ledger(target) as ledger:
        for i in range(n):
            ledger.record(record(f"/runs/w{worker}-{i}", tubes=4))


def test_concurrent_writers_all_land(ledger_target: str) -> None:
    """Three processes opening a new ledger at once (each migrating it) and recording 15 runs each:
    45 runs, 180 tubes, no duplicate, the integrity check clean."""
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_runs, args=(ledger_target, w, 15)) for w in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    with open_ledger(ledger_target) as ledger:
        runs = ledger.runs()
        assert len(runs) == 45 and len({r["run_key"] for r in runs}) == 45
        assert len(ledger.export()["tubes"].decode().splitlines()) == 1 + 180
        assert ledger.integrity() == []


def test_bad_ledgers_are_one_line(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"this is not a database at all\n" * 10)
    with pytest.raises(LedgerError, match="not a SQLite database"):
        open_ledger(corrupt)
    assert corrupt.read_bytes().startswith(b"this is not")  # never modified
    damaged = tmp_path / "damaged.sqlite"
    open_ledger(damaged).close()
    content = bytearray(damaged.read_bytes())
    content[100:4096] = b"\xff" * (4096 - 100)
    damaged.write_bytes(bytes(content))
    with pytest.raises(LedgerError, match=r"corrupt or not a database|malformed") as caught:
        open_ledger(damaged)
    assert "\n" not in str(caught.value)
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE patients_of_another_app (id INTEGER)")
    with pytest.raises(LedgerError, match=r"a foreign database .*patients_of_another_app.*not an assaykit ledger"):
        open_ledger(foreign)
    newer = tmp_path / "newer.sqlite"
    open_ledger(newer).close()
    with sqlite3.connect(newer) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0099'")
    with pytest.raises(LedgerError, match="ledger schema '0099' is newer than this assaykit"):
        open_ledger(newer)
    with pytest.raises(LedgerError, match="the ledger is a folder"):
        ledger_url(tmp_path)
    with pytest.raises(LedgerError, match="the ledger's folder does not exist"):
        ledger_url(tmp_path / "nowhere" / "l.sqlite")
    with pytest.raises(LedgerError, match="unsupported ledger URL scheme 'mysql'"):
        ledger_url("mysql://x@y/z")


def test_a_locked_ledger_is_named(tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite"
    open_ledger(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with (pytest.raises(LedgerError, match=r"the ledger is locked by another process \(waited 0.3 s\)"),
              open_ledger(path, timeout_s=0.3, migrate=False) as ledger):
            ledger.record(record("/runs/x"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_an_unreachable_server_is_one_line() -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(LedgerError, match=r"cannot use the ledger server") as caught:
        open_ledger("postgresql://someone:secret@127.0.0.1:1/nothing", timeout_s=2)
    assert "secret" not in str(caught.value) and "\n" not in str(caught.value)


def test_audit_entries_are_kept_apart_from_the_runs(ledger_target: str) -> None:
    """The review's audit copy (table audit, migration 0004): an entry once, its line hash read
    back; a re-scored run (its rows replaced) keeps them; another line under a number is refused."""
    from assaykit.errors import LedgerError

    entry = {"seq": 1, "prev": "0" * 64, "at": "2026-12-05T23:00:00+00:00", "reviewer": "Ann", "action": "open",
             "line_sha256": "ab" * 32}
    with open_ledger(ledger_target) as ledger:
        ledger.record(record("/runs/a"))
        ledger.add_audit("/out/a", "/runs/a", entry)
        ledger.add_audit("/out/a", "/runs/a", entry)  # the same entry again: kept once
        ledger.record(record("/runs/a"))  # re-scored: the run's rows replaced
        assert ledger.audit_hashes("/out/a") == {1: "ab" * 32}
        assert ledger.audit_hashes("/out/b") == {}
        with pytest.raises(LedgerError, match="another audit entry 1"):
            ledger.add_audit("/out/a", "/runs/a", {**entry, "line_sha256": "cd" * 32})


def test_validation_rows_one_per_blood_tube_with_its_run(ledger_target: str) -> None:
    """validation_rows: every sample and control tube of every run (bead and isotype tubes left out),
    runs oldest first, each with its run's instrument, lot and date and its own replicate label,
    donor group, values and verdict exactly as recorded."""
    from dataclasses import replace

    with open_ledger(ledger_target) as ledger:
        late = record("/runs/late", tubes=2, acquired_on="2026-02-01", abc=1000.0)
        late = replace(late, tubes=[{k: v for k, v in t.items() if k not in ("replicate", "donor_group", "verdict")}
                                    for t in late.tubes])  # a recorder that leaves them out: their defaults
        extra = [{**late.tubes[0], "file": "iso.fcs", "sha256": "iso", "role": "isotype"},
                 {**late.tubes[0], "file": "beads.fcs", "sha256": "bd", "role": "beads", "hladr_abc": None},
                 {**late.tubes[0], "file": "ctl.fcs", "sha256": "ctl", "role": "control", "patient": "CTRL-L7",
                  "replicate": "r1", "verdict": "reportable", "hladr_abc": 812.5},
                 {**late.tubes[0], "file": "ctl2.fcs", "sha256": "ctl2", "role": "control", "patient": "CTRL-L7",
                  "replicate": "r2", "verdict": "withheld", "hladr_abc": None}]
        late = replace(late, tubes=[*late.tubes, *extra])
        early = record("/runs/early", tubes=1, patient="HD01", acquired_on="2026-01-15", abc=20000.0)
        early = replace(early, tubes=[{**early.tubes[0], "donor_group": "healthy", "draw_to_stain_h": 2.5,
                                       "verdict": "reportable_with_warnings"}])
        ledger.record(late)
        ledger.record(early)
        rows = ledger.validation_rows()
    assert [(r["run_name"], r["file"], r["role"]) for r in rows] == [
        ("early", "t0.fcs", "sample"), ("late", "t0.fcs", "sample"), ("late", "t1.fcs", "sample"),
        ("late", "ctl.fcs", "control"), ("late", "ctl2.fcs", "control")]
    first = rows[0]
    assert first == {"run_key": "/runs/early", "run_name": "early", "run_uid": "uns/early", "scored_at": "2026-01-02",
                     "acquired_on": "2026-01-15", "instrument": "Canto", "instrument_serial": "V1", "kit": "QB",
                     "lot": "L1", "unit": "AB/C", "file": "t0.fcs", "sha256": "/runs/early-0", "well": "A1",
                     "role": "sample", "patient": "HD01", "timepoint": "D1", "condition": "unstimulated",
                     "replicate": "", "donor_group": "healthy", "hladr_abc": 20000.0, "hladr_mfi": 500.0,
                     "verdict": "reportable_with_warnings", "draw_to_stain_h": 2.5}
    assert [(r["replicate"], r["hladr_abc"], r["verdict"]) for r in rows[3:]] == [
        ("r1", 812.5, "reportable"), ("r2", None, "withheld")]
    assert rows[2]["hladr_abc"] == 2000.0 and rows[2]["donor_group"] == "" and rows[2]["draw_to_stain_h"] is None


def test_a_0004_ledger_migrates_to_0005_and_keeps_its_rows(ledger_target: str) -> None:
    """A ledger at revision 0004 (before replicates) holding a run: opened, it reaches 0005, its
    tube keeps every value and reads replicate and donor_group "" in validation_rows."""
    from sqlalchemy import text

    ledger = open_ledger(ledger_target, migrate=False)
    try:
        assert ledger.migrate("0004") == "0004"
        with ledger.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO runs (run_key, run_name, run_uid, scored_at, software, instrument, instrument_serial, "
                "acquired_on, kit, lot, unit, bead_slope, n_tubes, n_failed, calibration_status) VALUES ('/old', "
                "'old', 'u1', '2026-03-01', '0.1', 'Canto', 'V1', '2026-03-01', 'QB', 'L1', 'AB/C', 1.01, 1, 0, "
                "'reportable')"))
            run_id = connection.execute(text("SELECT id FROM runs")).scalar()
            connection.execute(text(
                "INSERT INTO tubes (run_id, file, sha256, well, role, patient, timepoint, day, condition, instrument, "
                "instrument_serial, acquired_at, hladr_abc, hladr_mfi, qc_flags, error, draw_to_stain_h, verdict) "
                f"VALUES ({run_id}, 'a.fcs', 'abc', 'A1', 'sample', 'P01', 'D1', 1, 'unstimulated', 'Canto', 'V1', "
                "'2026-03-01', 4321, 612.5, '', '', 3.25, 'reportable')"))
    finally:
        ledger.close()
    with open_ledger(ledger_target) as upgraded:
        assert upgraded.revision() == "0005"
        rows = upgraded.validation_rows()
        assert len(rows) == 1
        row = rows[0]
        assert (row["file"], row["hladr_abc"], row["hladr_mfi"], row["draw_to_stain_h"], row["verdict"]) == \
            ("a.fcs", 4321.0, 612.5, 3.25, "reportable")
        assert (row["replicate"], row["donor_group"], row["run_uid"]) == ("", "", "u1")
        assert upgraded.integrity() == []
