"""Gating: transforms, gates, automatic gates fitted per sample, strategies (YAML) and their
application to a sample, the readout statistics and QC, and gating figures as data."""

from .apply import GatingFrame, GatingResult, PopulationResult, apply_strategy, choose_spillover
from .autogates import DebrisGate, GranulocyteGate, MonocyteGate, SingletGate
from .gates import (
    BooleanGate,
    BoxGate,
    EllipseGate,
    EllipsoidGate,
    IntervalGate,
    OutsideGate,
    PolygonGate,
    QuadrantGate,
    RatioGate,
    RectangleGate,
)
from .panels import Panel, gating_panels
from .plausibility import gate_plot_dims, share_problem
from .plot import draw_panel, plot_gating
from .readout import ReadoutResult, drawn_gate_findings, isotype_threshold, measure, qc_findings, qc_flags, statistics
from .strategy import (
    Population,
    QCLimits,
    Readout,
    Strategy,
    load_strategy,
    order_populations,
    parse_gate,
    parse_strategy,
    population_masks,
    replace_gate,
)
from .transforms import Transform

__all__ = [
    "BooleanGate",
    "BoxGate",
    "DebrisGate",
    "EllipseGate",
    "EllipsoidGate",
    "GatingFrame",
    "GatingResult",
    "GranulocyteGate",
    "IntervalGate",
    "MonocyteGate",
    "OutsideGate",
    "Panel",
    "PolygonGate",
    "Population",
    "PopulationResult",
    "QCLimits",
    "QuadrantGate",
    "RatioGate",
    "Readout",
    "ReadoutResult",
    "RectangleGate",
    "SingletGate",
    "Strategy",
    "Transform",
    "apply_strategy",
    "choose_spillover",
    "draw_panel",
    "drawn_gate_findings",
    "gate_plot_dims",
    "gating_panels",
    "isotype_threshold",
    "load_strategy",
    "measure",
    "order_populations",
    "parse_gate",
    "parse_strategy",
    "plot_gating",
    "population_masks",
    "qc_findings",
    "qc_flags",
    "replace_gate",
    "share_problem",
    "statistics",
]
