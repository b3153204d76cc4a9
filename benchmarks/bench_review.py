"""Re-measuring a tube in ``assaykit review``: a 100,000-event tube re-measured with a new
monocyte polygon, with its AB/C, verdict and its patient's fold changes, states and class
(:meth:`assaykit.review.Review.preview`: score's own gate_tube, calibration, verdicts and
restoration through ``finish_run``, nothing written). Budget: 300 ms (issue 30).

    .venv/bin/python benchmarks/bench_review.py [--events 100000] [--patients 4] [--repeats 21]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
BUDGET_MS = 300.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--patients", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    from assaykit.review import open_review
    from assaykit.scoring import score_run
    from assaykit.simulate import RunSpec, write_run

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ASSAYKIT_REVIEW_LOCKS"] = tmp
        run = write_run(Path(tmp) / "run", RunSpec(patients=args.patients, events=args.events, seed=3))
        out = Path(tmp) / "out"
        score_run(run, out=out, jobs=2, ledger="none")
        started = time.perf_counter()
        review = open_review(out, reviewer="bench")
        opened = time.perf_counter() - started
        try:
            gate = review.gate("A1")
            low = min(v[1] for v in gate["vertices"])
            times, first = [], None
            for i in range(args.repeats + 1):
                factor = 1.1 + 0.01 * i  # a new polygon each time (a vertex dragged)
                polygon = [[x, low + (y - low) * factor] for x, y in gate["vertices"]]
                start = time.perf_counter()
                shown = review.preview("A1", polygon)
                elapsed = (time.perf_counter() - start) * 1000
                if first is None:
                    first = elapsed  # the tube's events read, the first time
                else:
                    times.append(elapsed)
            assert shown.row["hladr_abc"] is not None and shown.restoration
        finally:
            review.close()
    times.sort()
    doc = {"events": args.events, "tubes": len(review.tubes()), "open_s": round(opened, 3),
           "first_ms": round(first or 0.0, 1), "median_ms": round(statistics.median(times), 1),
           "p10_ms": round(times[len(times) // 10], 1), "p90_ms": round(times[(9 * len(times)) // 10], 1),
           "budget_ms": BUDGET_MS, "load_average": os.getloadavg()[0]}
    OUT.mkdir(exist_ok=True)
    (OUT / "bench_review.json").write_text(json.dumps(doc, indent=1) + "\n")
    met = "met" if doc["median_ms"] <= BUDGET_MS and doc["first_ms"] <= BUDGET_MS else "NOT met"
    print(f"review preview of a {args.events:,}-event tube with its patient's rows: median {doc['median_ms']} ms "
          f"(p10 {doc['p10_ms']}, p90 {doc['p90_ms']}; first {doc['first_ms']} ms; open {doc['open_s']} s for "
          f"{doc['tubes']} tubes; load {doc['load_average']:.1f}): budget {BUDGET_MS:.0f} ms {met}")


if __name__ == "__main__":
    main()
