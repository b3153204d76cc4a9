"""A drawn monocyte gate answers to the automatic gate's rules beyond its share (issue 30
review, B4): the gated cells' CD14 above the lymphocytes and their purity against the mixture
the automatic gate fits on the same parent. One place (gating.readout.drawn_gate_findings) for
every override: a review change (shown in the preview), a run.yaml polygon, FlowJo/GatingML."""

from __future__ import annotations

import numpy as np
import pytest

from assaykit.findings import FindingCode
from assaykit.review import open_review
from assaykit.review.app import gate_problem


def _codes(row) -> list[str]:
    cell = row.get("verdict_reasons") or ""
    return [c.strip() for c in (cell if isinstance(cell, str) else ";".join(cell)).split(";") if c.strip()]


def _lymphocyte_box(review, key: str) -> list[list[float]]:
    """A polygon around the lowest side-scatter, CD14-negative cells of the tube (the
    lymphocytes), found from the events themselves, independently of the gate code."""
    auto = review.gate(key)["vertices"]
    cd14_low = min(v[0] for v in auto)  # the automatic gate's CD14 floor: lymphocytes lie below it
    ssc_low = min(v[1] for v in auto)  # and below its side-scatter floor
    return [[-0.5 * cd14_low, 0.15 * ssc_low], [0.6 * cd14_low, 0.15 * ssc_low],
            [0.6 * cd14_low, 0.7 * ssc_low], [-0.5 * cd14_low, 0.7 * ssc_low]]


def test_a_gate_moved_onto_the_granulocytes_is_withheld(scored_run):
    _, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        auto = review.measure("A1").row
        assert auto["verdict"].startswith("reportable")
        v = review.gate("A1")["vertices"]
        moved = [[x, y * 2.2] for x, y in v]
        preview = review.preview("A1", moved).row  # what the review page shows before saving
        assert preview["verdict"] == "withheld" and FindingCode.DRAWN_GATE_IMPLAUSIBLE in _codes(preview)
        assert "not monocytes" in (gate_problem(preview) or "")
        saved = review.change_gate("A1", moved, "moved").row
        assert saved["verdict"] == "withheld" and saved.get("hladr_abc") is None


def test_a_gate_on_the_lymphocytes_is_withheld(scored_run):
    _, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        box = _lymphocyte_box(review, "A1")
        preview = review.preview("A1", box).row
        assert preview["monocytes"] > 300  # enough events: not withheld for too few, but for what they are
        assert preview["verdict"] == "withheld" and FindingCode.DRAWN_GATE_IMPLAUSIBLE in _codes(preview)
        assert "lymphocyte SDs above the lymphocytes'" in (gate_problem(preview) or "")


@pytest.mark.parametrize("well", ["A1", "A2"])
def test_a_slightly_enlarged_correct_gate_stays_reportable(scored_run, well):
    _, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        auto = review.measure(well).row
        v = review.gate(well)["vertices"]
        low = min(y for _, y in v)
        enlarged = [[x, low + (y - low) * 1.1] for x, y in v]
        row = review.preview(well, enlarged).row
        assert row["verdict"] == auto["verdict"], (row["verdict_reasons"], auto["verdict_reasons"])
        assert FindingCode.DRAWN_GATE_IMPLAUSIBLE not in _codes(row)
        assert abs(row["hladr_abc"] / auto["hladr_abc"] - 1) < 0.02


def test_the_judgement_reads_the_same_parent_as_the_automatic_gate(scored_run):
    """Two computations of one number: the automatic gate's own purity (its fit) and the drawn
    judgement of the very same polygon, fitted again on the same parent, agree."""
    from assaykit.gating.autogates import MonocyteGate
    from assaykit.gating.gates import PolygonGate

    _, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        from assaykit.gating import apply_strategy
        from assaykit.review.session import _spillover

        path = review._path(review.tube("A1"))
        strategy = review._state.inputs.strategy
        result = apply_strategy(review._sample(path), strategy, _spillover(review._state.inputs, path.name))
        found = result.findings["monocytes"]
        population = next(p for p in strategy.populations if p.name == strategy.readout.population)
        gate = result.gates[population.name]
        assert isinstance(gate, PolygonGate)
        judged = MonocyteGate(dims=population.gate.drawn_dims).judge_drawn(
            result.frame, result.masks[population.parent], result.masks[population.name])
        assert judged is not None and judged.problem == ""
        assert judged.purity == pytest.approx(found["purity"], abs=0.02)
        assert np.isclose(judged.cd14_separation_sds, found["cd14_separation_sds"], rtol=0.05)
