"""A gate drawn by hand answers to the automatic gate's share rule (gating.plausibility): a
polygon of implausible share is withheld with ``drawn_gate_implausible`` in the review's preview,
in a saved review change and in ``score`` of a run.yaml override; its neighbours: a polygon
holding no events (outside the data), a few events, and a self-intersecting polygon."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from assaykit.findings import FindingCode
from assaykit.gating import MonocyteGate, share_problem
from assaykit.review import open_review

WHOLE_PLOT = [[-1e7, -1e7], [1e9, -1e7], [1e9, 1e9], [-1e7, 1e9]]  # scale values: every event inside
IMPLAUSIBLE = FindingCode.DRAWN_GATE_IMPLAUSIBLE.value


def test_the_automatic_gate_and_a_drawn_gate_share_one_rule() -> None:
    """share_problem is the automatic gate's refusal: its message, and its limits."""
    gate = MonocyteGate(dims=("CD14", "SSC-A", "HLA-DR"))
    assert share_problem(960, 1000, gate.min_share, gate.max_share_pbmc) == \
        "it holds 96.00 % of the cells (expected 0.1-50 %)"
    assert share_problem(100, 1000, gate.min_share, gate.max_share_pbmc) == ""
    assert share_problem(0, 1000, gate.min_share, gate.max_share_pbmc).startswith("it holds 0.00 %")
    assert share_problem(0, 0, gate.min_share, gate.max_share_pbmc) != ""  # no parent: nothing plausible


def test_a_whole_plot_polygon_is_withheld_in_preview_change_and_score(scored_run: tuple[Path, Path],
                                                                       tmp_path: Path) -> None:
    """A polygon over the whole plot makes ~100 % of the parent "monocytes": the preview shows
    drawn_gate_implausible and verdict withheld before saving; the saved change and score of
    the reviewed run.yaml withhold it the same way, with no AB/C."""
    from assaykit.scoring import score_run

    run, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        plausible = review.preview("A1", review.gate("A1")["vertices"])
        assert plausible.row["verdict"] != "withheld" and IMPLAUSIBLE not in plausible.row["qc_flags"]
        shown = review.preview("A1", WHOLE_PLOT)
        assert shown.row["monocytes_pct"] > 90.0
        assert shown.row["verdict"] == "withheld" and IMPLAUSIBLE in shown.row["verdict_reasons"]
        assert f"[{IMPLAUSIBLE}] the drawn monocytes gate is not plausible" in shown.row["qc_flags"]
        assert shown.row["hladr_abc"] is None
        saved = review.change_gate("A1", WHOLE_PLOT, "testing the whole plot")
        assert saved.row["verdict"] == "withheld" and IMPLAUSIBLE in saved.row["verdict_reasons"]
    again = score_run(run, out=tmp_path / "again", jobs=1, use_default_ledger=True)
    row = again.samples.set_index("well").loc["A1"]
    assert row["verdict"] == "withheld" and IMPLAUSIBLE in row["verdict_reasons"]
    assert row["monocytes_pct"] == pytest.approx(shown.row["monocytes_pct"], rel=1e-9)
    others = again.samples.set_index("well").drop(index="A1")
    assert not others["qc_flags"].fillna("").str.contains(IMPLAUSIBLE).any()


def test_a_hand_written_run_yaml_polygon_is_held_to_the_rule(scored_run: tuple[Path, Path], tmp_path: Path) -> None:
    """A run.yaml gate_overrides polygon written by hand (no review) gets the same finding."""
    from assaykit.scoring import score_run

    run, _ = scored_run
    doc = yaml.safe_load(run.joinpath("run.yaml").read_text()) or {}
    doc["gate_overrides"] = {"A2": {"reason": "drawn in the lab", "gate": {
        "type": "polygon", "dims": ["CD14", "SSC-A"], "vertices": WHOLE_PLOT}}}
    run.joinpath("run.yaml").write_text(yaml.safe_dump(doc))
    result = score_run(run, out=tmp_path / "hand", jobs=1, use_default_ledger=True)
    row = result.samples.set_index("well").loc["A2"]
    assert row["verdict"] == "withheld" and IMPLAUSIBLE in row["verdict_reasons"]
    assert "[gate_set_by_hand]" in row["qc_flags"] and pd_isna(row["hladr_abc"])


def pd_isna(value: object) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def test_the_neighbours_no_events_few_events_self_intersecting(scored_run: tuple[Path, Path]) -> None:
    """A polygon outside the data (0 events) and one holding a few events are withheld (too few
    events and an implausible share); a self-intersecting polygon is gated by the even-odd rule of
    GatingML 2.0 (a bow-tie holds the events of its two triangles) and judged like any other."""
    from assaykit.fcs import read_fcs
    from assaykit.gating import load_strategy
    from assaykit.scoring.tube import gate_tube

    run, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        outside = review.preview("A1", [[1e8, 1e8], [2e8, 1e8], [2e8, 2e8]])
        assert outside.row["monocytes"] == 0 and outside.row["error"] == ""  # measured: no events, no value
        assert outside.row["verdict_reasons"] == f"{FindingCode.TOO_FEW_EVENTS.value}; {IMPLAUSIBLE}"
        assert "it holds 0.00 % of not_granulocytes (expected 0.1-50 %)" in outside.row["qc_flags"]
        assert outside.row["verdict"] == "withheld" and outside.row["hladr_abc"] is None
        gate = review.gate("A1")
        # 3 events: the parent's 3 highest on CD14 (a strip right of the 4th; events outside the
        # parent inside the strip are no monocytes whatever the polygon)
        gated = gate_tube(read_fcs(run / review.tube("A1").file), load_strategy())
        parent = next(p.parent for p in gated.strategy.populations if p.name == "monocytes")
        cd14 = np.sort(gated.result.frame.scale("CD14")[gated.result.masks[parent]])
        cut = float((cd14[-3] + cd14[-4]) / 2)
        few = review.preview("A1", [[cut, -1e9], [1e12, -1e9], [1e12, 1e12], [cut, 1e12]])
        assert few.row["monocytes"] == 3
        assert few.row["verdict"] == "withheld" and few.row["hladr_abc"] is None
        assert FindingCode.TOO_FEW_EVENTS.value in few.row["verdict_reasons"]
        assert IMPLAUSIBLE in few.row["verdict_reasons"]  # 3 of ~18,000 singlets: far below 0.1 %
        # a bow-tie: the gate's bounding box with two corners swapped, and its two triangles
        xs, ys = zip(*gate["vertices"], strict=True)
        (x0, x1), (y0, y1) = (min(xs), max(xs)), (min(ys), max(ys))
        tx, ty = review.transforms("A1")  # the polygon is drawn straight on the display axes: cross there
        cx = float(tx.inverse(np.array([(tx.forward(np.array([x0]))[0] + tx.forward(np.array([x1]))[0]) / 2]))[0])
        cy = float(ty.inverse(np.array([(ty.forward(np.array([y0]))[0] + ty.forward(np.array([y1]))[0]) / 2]))[0])
        bowtie = review.preview("A1", [[x0, y0], [x1, y1], [x1, y0], [x0, y1]])
        left = review.preview("A1", [[x0, y0], [cx, cy], [x0, y1]])
        right = review.preview("A1", [[x1, y0], [x1, y1], [cx, cy]])
        assert bowtie.row["monocytes"] == left.row["monocytes"] + right.row["monocytes"] > 0


def test_the_app_shows_the_finding_in_the_preview_and_saves_only_with_a_reason(scored_run: tuple[Path, Path]) -> None:
    """The page's preview answer carries the drawn-gate finding (gate_problem, read by its code);
    the change is still refused without a reason, and saved with one (withheld)."""
    import json

    from starlette.testclient import TestClient

    from assaykit.review.app import create_app

    origin, token, csrf, base = "http://127.0.0.1:8767", "t" * 43, "c" * 43, "/" + "b" * 24 + "/"
    _, out = scored_run
    polygon = [{"scale": v} for v in WHOLE_PLOT]
    headers = {"origin": origin, "x-csrf-token": csrf, "content-type": "application/json"}
    with open_review(out, reviewer="Ann") as review:
        client = TestClient(create_app(review, token=token, csrf=csrf, port=8767, base=base), base_url=origin + base)
        assert client.get(f"{origin}/?token={token}", follow_redirects=False).status_code == 303
        fine = client.post("/api/tube/0/preview", content=json.dumps(
            {"polygon": [{"scale": v} for v in review.gate("A1")["vertices"]]}), headers=headers).json()
        assert fine["result"]["tube"]["gate_problem"] is None
        shown = client.post("/api/tube/0/preview", content=json.dumps({"polygon": polygon}), headers=headers).json()
        tube = shown["result"]["tube"]
        assert tube["verdict"] == "withheld" and IMPLAUSIBLE in tube["verdict_reasons"]
        assert tube["gate_problem"].startswith("the drawn monocytes gate is not plausible: it holds ")
        refused = client.post("/api/tube/0/change", content=json.dumps({"polygon": polygon}), headers=headers)
        assert refused.status_code == 400 and "reason" in refused.json()["error"]
        saved = client.post("/api/tube/0/change", content=json.dumps({"polygon": polygon, "reason": "whole plot"}),
                            headers=headers).json()["result"]["tube"]
        assert saved["status"] == "changed" and saved["gate_problem"] == tube["gate_problem"]
        page = client.get("/tube/0").text
        assert 'id="gate-problem"' in page and "the drawn monocytes gate is not plausible" in page  # page data
