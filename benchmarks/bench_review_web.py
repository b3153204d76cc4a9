"""The review app's answers over HTTP (Starlette's TestClient: the whole app, its security checks
included, without a network): a vertex dragged on a 100,000-event tube (POST .../preview: the JSON
read, the polygon taken from display coordinates to scale values, ``Review.preview``, the answer
written) and a tube's page (GET /tube/N: every gating step re-drawn by ``Review.figure``, the tube
measured, the page rendered), and the plate's page. Budget: 300 ms for the preview (issue 30).

    .venv/bin/python benchmarks/bench_review_web.py [--events 100000] [--patients 4] [--repeats 21]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
BUDGET_MS = 300.0


def _ms(times: list[float]) -> dict[str, float]:
    times = sorted(times)
    return {"median_ms": round(statistics.median(times) * 1000, 1), "max_ms": round(times[-1] * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--patients", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    from starlette.testclient import TestClient

    from assaykit.review import open_review
    from assaykit.review.app import create_app
    from assaykit.scoring import score_run
    from assaykit.simulate import RunSpec, write_run

    token, csrf = "t" * 43, "c" * 43
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ASSAYKIT_REVIEW_LOCKS"] = tmp
        run = write_run(Path(tmp) / "run", RunSpec(patients=args.patients, events=args.events, seed=3))
        out = Path(tmp) / "out"
        score_run(run, out=out, jobs=2, ledger="none")
        review = open_review(out, reviewer="bench")
        try:
            app = create_app(review, token=token, csrf=csrf, port=1)
            client = TestClient(app, base_url="http://127.0.0.1:1" + app.base)  # the app's secret path
            client.get(f"http://127.0.0.1:1/?token={token}", follow_redirects=False)
            plate, page = [], []
            for _ in range(3):
                start = time.perf_counter()
                assert client.get("/").status_code == 200
                plate.append(time.perf_counter() - start)
                start = time.perf_counter()
                answer = client.get("/tube/0")
                page.append(time.perf_counter() - start)
            doc = json.loads(re.search(r'id="review-data">(.*?)</script>', answer.text, re.S).group(1))
            tube = doc["tube"]
            panel = next(p for p in tube["panels"] if p["population"] == tube["gate_population"])
            outline = [list(v) for v in panel["outlines"][0]]
            headers = {"origin": "http://127.0.0.1:1", "x-csrf-token": csrf, "content-type": "application/json"}
            previews = []
            for i in range(args.repeats):
                polygon = [[x, y + (0.002 * i if k == 0 else 0.0)] for k, (x, y) in enumerate(outline)]
                start = time.perf_counter()
                answer = client.post("/api/tube/0/preview", content=json.dumps({"polygon": polygon}), headers=headers)
                previews.append(time.perf_counter() - start)
                assert answer.status_code == 200 and answer.json()["result"]["tube"]["hladr_abc"] is not None
        finally:
            review.close()
    result = {"events": args.events, "tubes": len(doc["tubes"]), "preview": _ms(previews), "tube_page": _ms(page),
              "plate_page": _ms(plate), "budget_ms": BUDGET_MS, "load_average": os.getloadavg()[0]}
    OUT.mkdir(exist_ok=True)
    (OUT / "bench_review_web.json").write_text(json.dumps(result, indent=1) + "\n")
    met = "met" if result["preview"]["median_ms"] <= BUDGET_MS else "NOT met"
    print(f"review app, {args.events:,}-event tube, {result['tubes']} tubes: preview over HTTP median "
          f"{result['preview']['median_ms']} ms (max {result['preview']['max_ms']}); tube page "
          f"{result['tube_page']['median_ms']} ms; plate page {result['plate_page']['median_ms']} ms "
          f"(load {result['load_average']:.1f}): budget {BUDGET_MS:.0f} ms {met}")


if __name__ == "__main__":
    main()
