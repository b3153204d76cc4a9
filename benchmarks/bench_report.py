"""Report speed: the reports of a 96-well plate (23 patients x 4 conditions = 92 blood tubes + a
bead tube) re-drawn from the tables by `assaykit report OUT_DIR --jobs N`, with 2 workers (limit
60 s) and 1 worker. Wall time from process start, imports included: best of 3.

    make bench
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from bench_score import OUT, PLATE, make_plate

BIN = Path(sys.executable).parent
LIMIT_S = 60.0


def main() -> None:
    make_plate()
    out = OUT / "report-plate92"
    if not (out / "figure_data.json").is_file():
        subprocess.run([str(BIN / "assaykit"), "score", str(PLATE), "--no-report", "--jobs", "2", "--out", str(out)],
                       check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    figures: dict[str, object] = {}
    for jobs in (2, 1):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run([str(BIN / "assaykit"), "report", str(out), "--jobs", str(jobs)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
        figures[f"{jobs} workers"] = {"best_seconds": min(times), "runs": times}
        print(f"assaykit report, 96-well plate, {jobs} worker(s): best {min(times):.1f} s of "
              f"{', '.join(f'{t:.1f}' for t in times)}" + (f" (limit {LIMIT_S:.0f} s)" if jobs == 2 else ""))
    pages = sorted((out / "patients").glob("*.html"))
    sizes = [p.stat().st_size for p in pages]
    figures["pages"] = {"patients": len(pages), "largest_html_kb": max(sizes) / 1024,
                        "index_kb": (out / "index.html").stat().st_size / 1024,
                        "largest_pdf_kb": max(p.stat().st_size for p in (out / "patients").glob("*.pdf")) / 1024}
    one, two = figures["1 workers"]["best_seconds"], figures["2 workers"]["best_seconds"]  # type: ignore[index]
    print(f"1 -> 2 workers: {one / two:.2f}x faster; {len(pages)} patient pages, largest {max(sizes) / 1024:.0f} kB")
    (OUT / "report.json").write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
