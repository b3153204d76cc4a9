"""gating.plausibility on a gated tube: a lab's fixed monocyte polygon (not an automatic gate)
answers to the automatic gate's share rule (drawn_gate_findings, in the readout QC every tube
gets), the automatic gate is untouched, and gate_plot_dims names the plotted plane."""

from __future__ import annotations

from pathlib import Path

from assaykit.findings import FindingCode
from assaykit.gating import (
    MonocyteGate,
    PolygonGate,
    drawn_gate_findings,
    gate_plot_dims,
    load_strategy,
    parse_gate,
    replace_gate,
)
from assaykit.scoring.tube import gate_tube


def _tube(simulated_run: Path) -> Path:
    return next(p for p in sorted(simulated_run.glob("*.fcs")) if "A1" in p.name)


def test_gate_plot_dims() -> None:
    assert gate_plot_dims(MonocyteGate(dims=("CD14", "SSC-A", "HLA-DR"))) == ("CD14", "SSC-A")
    assert gate_plot_dims(PolygonGate(dims=("CD14", "SSC-A"), vertices=((0, 0), (1, 0), (1, 1)))) == ("CD14", "SSC-A")
    assert gate_plot_dims(None) == ()


def test_a_fixed_polygon_of_implausible_share_is_withheld(simulated_run: Path) -> None:
    strategy = load_strategy()
    automatic = gate_tube(_tube(simulated_run), strategy)
    assert drawn_gate_findings(automatic.result, strategy) == []  # the automatic gate: its own refusal
    whole = parse_gate({"type": "polygon", "dims": ["CD14", "SSC-A"],
                        "vertices": [[-1e7, -1e7], [1e9, -1e7], [1e9, 1e9], [-1e7, 1e9]]}, strategy, "test")
    drawn = gate_tube(_tube(simulated_run), replace_gate(strategy, "monocytes", whole))
    found = [f for f in drawn.findings if f.code == FindingCode.DRAWN_GATE_IMPLAUSIBLE]
    parent = next(p.parent for p in strategy.populations if p.name == "monocytes")
    share = 100 * drawn.result.count("monocytes") / drawn.result.count(parent)
    assert share > 90 and len(found) == 1 and found[0].severity == "error"
    assert f"it holds {share:.2f} % of {parent} (expected 0.1-50 %)" in found[0].message
    assert drawn.verdict[0] == "withheld" and FindingCode.DRAWN_GATE_IMPLAUSIBLE in drawn.verdict[1]
    # the automatic gate's own polygon, drawn by hand: plausible, no finding
    fitted = automatic.result.gates["monocytes"]
    same = replace_gate(strategy, "monocytes", PolygonGate(dims=fitted.dims, vertices=fitted.vertices))
    assert not [f for f in gate_tube(_tube(simulated_run), same).findings
                if f.code == FindingCode.DRAWN_GATE_IMPLAUSIBLE]
