"""Start-up (issue 17, point 5): `assaykit --help` (limit 0.3 s) and `assaykit score` from process
start to its first measured tube (limit 1 s: imports, run.yaml, plate map, TEXT keywords, the bead
tube), each the median of 5 runs, on the demo run (sample_fcs/).

    .venv/bin/python benchmarks/bench_startup.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
DEMO = HERE.parent / "sample_fcs"


def help_seconds() -> float:
    start = time.perf_counter()
    subprocess.run([str(BIN / "assaykit"), "--help"], check=True, capture_output=True)
    return time.perf_counter() - start


def first_tube_seconds() -> float:
    """Seconds from starting `assaykit score` to its first progress line ("[1/N] ...", one tube
    measured; one worker, so that the line comes as soon as the first tube is done)."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        process = subprocess.Popen([str(BIN / "assaykit"), "score", str(DEMO), "--out", str(Path(out) / "o"),
                                    "--no-report", "--no-ledger", "--jobs", "1"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        assert process.stderr is not None
        for line in process.stderr:
            if line.startswith("[1/"):
                seconds = time.perf_counter() - start
                break
        else:
            raise RuntimeError("no progress line")
        process.communicate()
    return seconds


def main() -> None:
    helps = [help_seconds() for _ in range(5)]
    firsts = [first_tube_seconds() for _ in range(5)]
    figures = {"help_s": statistics.median(helps), "first_tube_s": statistics.median(firsts)}
    print(f"assaykit --help: {figures['help_s']:.3f} s (limit 0.3 s); score to its first tube: "
          f"{figures['first_tube_s']:.3f} s (limit 1 s)")
    (HERE / "out" / "startup.json").write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
