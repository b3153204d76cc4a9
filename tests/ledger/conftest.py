"""A real PostgreSQL server for the ledger tests, started once per session on a Unix socket in a
temporary folder (no TCP port), and synthetic run records."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest


def _binaries() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


def _as_server_user(command: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the ``postgres`` user then."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server this session started (and stops), on a Unix socket: its socket folder."""
    pytest.importorskip("psycopg", reason="the postgresql extra (psycopg) is not installed")
    bin_dir = _binaries()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found; .ci/run installs Debian's postgresql")
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="assaykit-pg-"))  # not under pytest's root-only folder: the server's user
    data, socket = base / "data", base / "socket"
    socket.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(socket, "postgres")
    subprocess.run(_as_server_user([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                                    "-E", "UTF8", "--no-sync"]), check=True, capture_output=True)
    options = f"-k {socket} -c listen_addresses='' -c fsync=off -p {PORT}"
    subprocess.run(_as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l",
                                    str(base / "log"), "-w", "-t", "60", "start"]), check=True, capture_output=True)
    try:
        yield socket
    finally:
        subprocess.run(_as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


PORT = 5433  # the socket file's name only: no TCP port is opened
_DATABASES = iter(range(1, 10**6))


@pytest.fixture
def postgres_url(postgres_server: Path) -> str:
    """A SQLAlchemy URL of a new, empty database on the session's server."""
    import psycopg

    name = f"ledger_{next(_DATABASES)}"
    with psycopg.connect(host=str(postgres_server), port=PORT, user="postgres", dbname="postgres",
                         autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return f"postgresql://postgres@/{name}?host={postgres_server}&port={PORT}"


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new ledger: a SQLite file, or a database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "ledger.sqlite")
    return request.getfixturevalue("postgres_url")


def record(run_key: str, *, tubes: int = 3, patient: str = "P01", day: float = 1.0, abc: float = 4000.0,
           slope: float = 1.0, acquired_on: str = "2026-01-01", sha_prefix: str | None = None,
           status: str = "in control"):
    """A synthetic run record: ``tubes`` sample tubes of one patient (the first unstimulated), a
    bead calibration with slope ``slope`` and its QC check."""
    from assaykit.ledger import RunRecord

    prefix = sha_prefix if sha_prefix is not None else run_key
    run = {"run_key": run_key, "run_name": Path(run_key).name, "run_uid": "u" + run_key[-8:], "scored_at": "2026-01-02",
           "software": "test", "instrument": "Canto", "instrument_serial": "V1", "acquired_on": acquired_on,
           "kit": "QB", "lot": "L1", "unit": "AB/C", "bead_slope": slope, "bead_intercept": 0.3, "bead_r2": 0.999,
           "n_tubes": tubes, "n_failed": 0, "qc_status": status, "qc_reason": ""}
    rows = [{"file": f"t{i}.fcs", "sha256": f"{prefix}-{i}", "well": f"A{i + 1}", "role": "sample", "patient": patient,
             "timepoint": f"D{day:g}", "day": day, "condition": "unstimulated" if i == 0 else f"drug{i}",
             "instrument": "Canto", "instrument_serial": "V1", "acquired_at": acquired_on, "monocytes": 3000,
             "hladr_mfi": 500.0, "hladr_abc": abc * (1 + i), "qc_flags": "", "error": "", "drawn_at": "",
             "stained_at": "", "draw_to_stain_h": None, "verdict": "", "replicate": "", "donor_group": ""}
            for i in range(tubes)]
    restoration = [{"patient": patient, "timepoint": f"D{day:g}", "day": day, "condition": f"drug{i}",
                    "control_abc": abc, "abc": abc * (1 + i), "fold_change": 1.0 + i, "delta_abc": abc * i,
                    "state_drug": "", "responder": "True"} for i in range(1, tubes)]
    patients = [{"patient": patient, "timepoint": f"D{day:g}", "day": day, "control_abc": abc, "state": "x",
                 "ferritin_ng_ml": None, "immunosep_class": ""}]
    checks = [{"series": "bead slope", "value": slope, "target": None, "sd": None, "z": None, "rules": "",
               "status": "establishing", "limits_source": ""}]
    peaks = [{"peak": 1, "mfi": 100.0, "value": 474.0, "used": 1}]
    return RunRecord(run=run, tubes=rows, bead_peaks=peaks, restoration=restoration, patients=patients,
                     qc_checks=checks)
