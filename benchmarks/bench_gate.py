"""Gating speed: the default strategy on a 100,000-event simulated tube (read excluded), one core.

    .venv/bin/python benchmarks/bench_gate.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from assaykit import read_fcs
from assaykit.fcs.writer import write_fcs
from assaykit.readout import measure
from assaykit.simulate import CHANNELS, MARKERS, Instrument, Scenario, _keywords, simulate_blood
from assaykit.strategy import apply_strategy, load_strategy

OUT = Path(__file__).resolve().parent / "out"


def main() -> None:
    path = OUT / "bench_gate_100k.fcs"
    if not path.exists():
        tube = simulate_blood(Scenario(n_events=100_000), np.random.default_rng(0))
        write_fcs(path, tube.events, CHANNELS, MARKERS, _keywords("A1", Instrument(), path.name))
    sample = read_fcs(path)
    strategy = load_strategy()
    times = []
    for _ in range(15):
        start = time.perf_counter()
        measure(apply_strategy(sample, strategy), strategy)
        times.append(time.perf_counter() - start)
    best, median = min(times), float(np.median(times))
    (OUT / "gate.json").write_text(json.dumps({"best_s": best, "median_s": median}, indent=1) + "\n")
    print(f"default strategy + readout on 100,000 events: best {best * 1000:.1f} ms, median {median * 1000:.1f} ms "
          "(limit 100 ms)")


if __name__ == "__main__":
    main()
