"""The results ledger at scale (issue 16): a ledger of 1,000 runs x 96 tubes, then

- adding a run (its 96 tubes, restoration, patients, bead peaks and QC checks, one transaction),
- a patient query (every measure of one patient across runs, timeline and trajectory findings),
- the QC page (every run's QC checks grouped into Levey-Jennings series, charts drawn, qc.html and
  qc.csv written),

each the median of several repeats, on SQLite (a local file) and, when its binaries are present,
on a PostgreSQL server this script starts on a Unix socket. Limits: < 1 s, < 100 ms, < 5 s.

    .venv/bin/python benchmarks/bench_ledger.py [--runs 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
OUT = HERE / "out"
TUBES = 96
PATIENTS_PER_RUN = 8  # 12 tubes each: 11 conditions + the unstimulated control
LIMITS = {"add_run_s": 1.0, "patient_query_s": 0.1, "qc_page_s": 5.0}


def run_record(i: int, n_patients: int):
    """Run ``i``: 8 patients (of ``n_patients``, revisited over time) x 12 conditions, a bead
    calibration with 5 peaks, their QC checks."""
    from assaykit.ledger import RunRecord

    day = 1 + (i // 50) % 7
    key = f"/data/runs/run-{i:05d}"
    run = {"run_key": key, "run_name": f"run-{i:05d}", "run_uid": f"{i:032x}", "scored_at": f"2026-01-01T{i % 24:02d}",
           "software": "bench", "instrument": "FACSCanto II", "instrument_serial": f"V{i % 3}",
           "acquired_on": f"2026-{1 + i // 90 % 12:02d}-{1 + i % 28:02d}", "kit": "QuantiBRITE PE",
           "lot": f"L{i // 250}", "unit": "AB/C", "bead_slope": 1.0 + (i % 7) / 1000, "bead_intercept": 0.3,
           "bead_r2": 0.999, "n_tubes": TUBES, "n_failed": 0, "qc_status": "in control", "qc_reason": ""}
    tubes, restoration, patients = [], [], []
    for p in range(PATIENTS_PER_RUN):
        patient = f"P{(i * PATIENTS_PER_RUN + p) % n_patients:05d}"
        for c in range(TUBES // PATIENTS_PER_RUN):
            condition = "unstimulated" if c == 0 else f"drug-{c}"
            tubes.append({"file": f"{patient}-{c}.fcs", "sha256": f"{i:08d}{p:02d}{c:02d}".ljust(64, "0"),
                          "well": f"{'ABCDEFGH'[p]}{c + 1}", "role": "sample", "patient": patient,
                          "timepoint": f"D{day}", "day": float(day), "condition": condition,
                          "instrument": "FACSCanto II", "instrument_serial": f"V{i % 3}", "acquired_at": "2026-01-01",
                          "monocytes": 4000, "hladr_mfi": 900.0 + c, "hladr_abc": 4000.0 + 100 * c, "qc_flags": "",
                          "error": "", "drawn_at": "", "stained_at": "", "draw_to_stain_h": 2.0})
            if c:
                restoration.append({"patient": patient, "timepoint": f"D{day}", "day": float(day),
                                    "condition": condition, "control_abc": 4000.0, "abc": 4000.0 + 100 * c,
                                    "fold_change": 1 + c / 40, "delta_abc": 100.0 * c, "state_drug": "x",
                                    "responder": "False"})
        patients.append({"patient": patient, "timepoint": f"D{day}", "day": float(day), "control_abc": 4000.0,
                         "state": "immunoparalysis", "ferritin_ng_ml": 900.0, "immunosep_class": "immunoparalysis"})
    series = ["bead slope", "bead intercept", "bead r2", *[f"MFI of the {v} peak" for v in (474, 5359, 23843, 62336)]]
    checks = [{"series": s, "value": 1.0 + (i % 5) / 100, "target": 1.0, "sd": 0.02, "z": (i % 5) / 2, "rules": "",
               "status": "in control", "limits_source": "first 10 accepted runs"} for s in series]
    peaks = [{"peak": k, "mfi": 100.0 * k, "value": v, "used": 1} for k, v in enumerate((474, 5359, 23843, 62336), 1)]
    return RunRecord(run=run, tubes=tubes, bead_peaks=peaks, restoration=restoration, patients=patients,
                     qc_checks=checks)


def _median(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(target: str, n_runs: int, n_patients: int) -> dict[str, float]:
    from assaykit.ledger import open_ledger
    from assaykit.ledger.trajectory import patient_trajectory, timeline
    from assaykit.report.ledger_qc import qc_series, write_qc_page

    with open_ledger(target) as ledger:
        start = time.perf_counter()
        for i in range(n_runs):
            ledger.record(run_record(i, n_patients))
        filled = time.perf_counter() - start
        extra = iter(range(n_runs, n_runs + 100))
        add = _median(lambda: ledger.record(run_record(next(extra), n_patients)), 5)

        def patient() -> None:
            rows = ledger.patient_rows(["P00042"])
            patient_trajectory(timeline(rows["patients"], rows["restoration"], "unstimulated"), "unstimulated")

        query = _median(patient, 20)
        out = Path(tempfile.mkdtemp())
        page = _median(lambda: write_qc_page(out / "qc", qc_series(ledger.qc_points())), 3)
        shutil.rmtree(out, ignore_errors=True)
        n_measures = len(ledger.patient_rows(["P00042"])["restoration"])
    return {"fill_s": filled, "add_run_s": add, "patient_query_s": query, "qc_page_s": page,
            "patient_measures": n_measures}


def _postgres(base: Path):
    """Start a server on a Unix socket in ``base``; its URL, or None without the binaries."""
    sys.path.insert(0, str(HERE.parent / "tests"))
    from tests.ledger.conftest import PORT, _as_server_user, _binaries

    bin_dir = _binaries()
    if bin_dir is None:
        return None, None
    data, socket = base / "data", base / "socket"
    socket.mkdir(parents=True)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(socket, "postgres")
    subprocess.run(_as_server_user([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                                    "--no-sync"]), check=True, capture_output=True)
    subprocess.run(_as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-o",
                                    f"-k {socket} -c listen_addresses='' -p {PORT}", "-l", str(base / "log"), "-w",
                                    "start"]), check=True, capture_output=True)

    def stop() -> None:
        subprocess.run(_as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
                       capture_output=True)

    return f"postgresql://postgres@/postgres?host={socket}&port={PORT}", stop


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    n_patients = max(50, args.runs * PATIENTS_PER_RUN // 7)  # each patient seen about 7 times
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        results["sqlite"] = measure(str(Path(folder) / "ledger.sqlite"), args.runs, n_patients)
    base = Path(tempfile.mkdtemp(prefix="assaykit-bench-pg-"))
    url, stop = _postgres(base)
    if url is not None:
        try:
            results["postgresql"] = measure(url, args.runs, n_patients)
        finally:
            stop()
    shutil.rmtree(base, ignore_errors=True)
    report = {"runs": args.runs, "tubes_per_run": TUBES, "limits": LIMITS, "results": results,
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"}
    OUT.mkdir(exist_ok=True)
    (OUT / "bench_ledger.json").write_text(json.dumps(report, indent=1))
    for backend, r in results.items():
        verdicts = {k: "ok" if r[k] < limit else "OVER" for k, limit in LIMITS.items()}
        print(f"{backend}: {args.runs} runs x {TUBES} tubes filled in {r['fill_s']:.1f} s; add a run "
              f"{r['add_run_s'] * 1000:.0f} ms ({verdicts['add_run_s']}); patient query ({r['patient_measures']} "
              f"measures) {r['patient_query_s'] * 1000:.1f} ms ({verdicts['patient_query_s']}); QC page "
              f"{r['qc_page_s']:.2f} s ({verdicts['qc_page_s']})")


if __name__ == "__main__":
    main()
