"""A study in one command (issue 17, point 3): 1, 5 and 10 plates of 92 tubes x 100,000 events
scored by `assaykit score RUNS_FOLDER --no-report --no-ledger --jobs 2` (one worker pool for every
tube), wall time and peak memory (summed PSS of the process and its workers, as bench_score.py).
The plates are hard links to one simulated plate (benchmarks/out/plate92): the same bytes on disk,
read from the page cache, so the figures measure the scoring, not the disk.

    .venv/bin/python benchmarks/bench_study.py
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_score import BIN, OUT, PLATE, make_plate, measure  # noqa: E402


def study(n_plates: int) -> Path:
    folder = OUT / f"study{n_plates}"
    if not folder.exists():
        for i in range(n_plates):
            plate = folder / f"plate{i + 1:02d}"
            plate.mkdir(parents=True)
            for source in PLATE.iterdir():
                if source.is_file() and not source.name.endswith(".npy"):
                    os.link(source, plate / source.name)
    return folder


def main() -> None:
    make_plate()
    figures = {}
    for n in (1, 5, 10):
        out = OUT / f"study{n}-out"
        shutil.rmtree(out, ignore_errors=True)
        seconds, pss, _ = measure([str(BIN / "assaykit"), "score", str(study(n)), "--no-report", "--no-ledger",
                                   "--jobs", "2", "--out", str(out)])
        figures[f"{n} plates"] = {"seconds": seconds, "peak_pss_mb": pss, "tubes": 92 * n,
                                  "seconds_per_plate": seconds / n}
        print(f"{n:2d} plates ({92 * n} tubes): {seconds:.1f} s ({seconds / n:.1f} s per plate), "
              f"peak memory {pss:.0f} MB")
    (OUT / "study.json").write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
