"""Report speed: a 96-well plate (23 patients x 4 conditions = 92 blood tubes of 100,000 events + a
bead tube).

1. End to end: `assaykit score PLATE --jobs 2 --no-ledger` with the reports (limit 6 s on 2
   cores, issue 27) and with `--no-report` (the reports' share is the difference).
2. `assaykit report OUT_DIR --jobs N` (the pages re-drawn from the tables), 2 and 1 workers.
3. Each page's cost, in this process (median over the patients): each of the three figures
   (drawn, rasterised and PNG-encoded once), the PDF, the HTML; and the run summary.

Wall time from process start (imports included), best of 3, beside the CPU time of the process
and its workers and the load average (the machine is shared: say so when reporting).

    make bench
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_score import OUT, PLATE, make_plate

BIN = Path(sys.executable).parent
LIMIT_S = 6.0


def _run(command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and its workers)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _best(command: list[str], repeat: int = 3) -> dict[str, object]:
    runs = [_run(command) for _ in range(repeat)]
    return {"best_seconds": min(w for w, _ in runs), "runs": [round(w, 2) for w, _ in runs],
            "cpu_seconds": [round(c, 2) for _, c in runs], "load_average": os.getloadavg()[0]}


def pages_cost(out: Path) -> dict[str, float]:
    """Per page part, in this process: medians over the patients (seconds)."""
    from assaykit.report import build
    from assaykit.report import figures as fg
    from assaykit.report.load import load_run
    from assaykit.report.names import page_names

    run = load_run(out)
    patients = sorted({s["patient"] for s in run.samples if s["role"] in ("sample", "isotype")})
    names = page_names(patients)
    build.render_patient(run, patients[0], names)  # fonts, templates, caches
    parts = {"restoration": (fg, "restoration_raster"), "histograms": (fg, "histograms_raster"),
             "gating": (fg, "gating_raster"), "pdf": (build, "patient_pdf")}
    spent: dict[str, list[float]] = {name: [] for name in [*parts, "page"]}
    originals = {name: getattr(module, attribute) for name, (module, attribute) in parts.items()}
    marks = dict.fromkeys(originals, 0.0)

    def timed(name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return originals[name](*args, **kwargs)
            finally:
                marks[name] += time.perf_counter() - start
        return call

    for name, (module, attribute) in parts.items():
        setattr(module, attribute, timed(name))
    try:
        for patient in patients:
            marks.update(dict.fromkeys(originals, 0.0))
            start = time.perf_counter()
            build.render_patient(run, patient, names)
            spent["page"].append(time.perf_counter() - start)
            for name in parts:
                spent[name].append(marks[name])
    finally:
        for name, (module, attribute) in parts.items():
            setattr(module, attribute, originals[name])
    start = time.perf_counter()
    build.render_index(run, names)
    index = time.perf_counter() - start
    out_costs = {f"patient {k}": statistics.median(v) for k, v in spent.items()}
    drawn = sum(out_costs[f"patient {name}"] for name in parts)
    out_costs["patient html (the rest)"] = out_costs["patient page"] - drawn
    out_costs["index page"] = index
    return out_costs


def main() -> None:
    make_plate()
    out = OUT / "report-plate92"
    assaykit = str(BIN / "assaykit")
    figures: dict[str, object] = {}
    figures["score + reports"] = _best([assaykit, "score", str(PLATE), "--jobs", "2", "--no-ledger", "--out",
                                        str(out)])
    figures["score --no-report"] = _best([assaykit, "score", str(PLATE), "--jobs", "2", "--no-ledger",
                                          "--no-report", "--out", str(OUT / "report-plate92-tables")])
    for name in ("score + reports", "score --no-report"):
        f = figures[name]
        print(f"assaykit {name}, 96-well plate, 2 workers: best {f['best_seconds']:.2f} s of {f['runs']} "  # type: ignore[index]
              f"(CPU {f['cpu_seconds']} s, load average {f['load_average']:.1f})"  # type: ignore[index]
              + (f" (limit {LIMIT_S:.0f} s)" if name == "score + reports" else ""))
    for jobs in (2, 1):
        f = figures[f"report {jobs} workers"] = _best([assaykit, "report", str(out), "--jobs", str(jobs)])
        print(f"assaykit report, {jobs} worker(s): best {f['best_seconds']:.2f} s of {f['runs']} "
              f"(CPU {f['cpu_seconds']} s, load average {f['load_average']:.1f})")
    costs = pages_cost(out)
    figures["page costs (s, median over patients)"] = costs
    for name, seconds in costs.items():
        print(f"  {name}: {1000 * seconds:.0f} ms")
    pages = sorted((out / "patients").glob("*.html"))
    sizes = [p.stat().st_size for p in pages]
    figures["pages"] = {"patients": len(pages), "largest_html_kb": max(sizes) / 1024,
                        "index_kb": (out / "index.html").stat().st_size / 1024,
                        "largest_pdf_kb": max(p.stat().st_size for p in (out / "patients").glob("*.pdf")) / 1024}
    print(f"{len(pages)} patient pages, largest {max(sizes) / 1024:.0f} kB")
    (OUT / "report.json").write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
