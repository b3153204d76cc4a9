"""Plausibility rules every monocyte gate answers to, whoever drew it.

The automatic monocyte gate (:class:`~assaykit.gating.autogates.MonocyteGate`) refuses a gate
whose share of its parent lies outside ``min_share``..``max_share``; a gate drawn by a person (a
review change, a run.yaml ``gate_overrides:`` polygon, a FlowJo or GatingML population, a lab's
fixed polygon in its strategy) is held to the same range (:func:`share_problem`, the one rule),
and is then not refused but given the finding ``drawn_gate_implausible``
(:func:`~assaykit.gating.readout.drawn_gate_findings`): an error, so the
tube's value is withheld (a wrong number is worse than no number). The other rules that apply to
any gate are the readout QC's (:func:`~assaykit.gating.readout.qc_findings`): too few events
(``too_few_events``, fewer than the strategy's ``qc.min_events_unreliable``), and a gate outside
the data (no events: the same finding, 0 events).

:func:`gate_plot_dims` is the plane a population's gate is drawn in (the review, the agreement
figure and a FlowJo override read it).
"""

from __future__ import annotations

from typing import Any


def gate_plot_dims(gate: Any) -> tuple[str, ...]:
    """The markers ``gate`` is drawn on: an automatic monocyte gate's ``drawn_dims`` (CD14, side
    scatter: its third dim, the readout, is only checked), else the gate's ``dims``; () for a gate
    with neither (a boolean gate).

    Parameters
    ----------
    gate : gate or automatic gate
        A population's gate (:class:`~assaykit.gating.strategy.Population` ``.gate``), or None.
    """
    return tuple(getattr(gate, "drawn_dims", None) or getattr(gate, "dims", ()) or ())


def share_problem(count: int, parent_count: int, low: float, high: float) -> str:
    """Why a monocyte gate holding ``count`` of ``parent_count`` events is not plausible ("" when
    it is): its share of the parent outside ``low``..``high``.

    Parameters
    ----------
    count : int
        Events the gate holds.
    parent_count : int
        Events of its parent population.
    low, high : float
        The plausible share of the parent (fractions, 0-1; the automatic gate's ``min_share`` and
        ``max_share`` or ``max_share_pbmc``).
    """
    share = count / parent_count if parent_count else 0.0
    if low <= share <= high:
        return ""
    return f"it holds {100 * share:.2f} % of the cells (expected {100 * low:g}-{100 * high:g} %)"
