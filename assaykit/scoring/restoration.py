"""Immune state, ex vivo restoration and ImmunoSep stratification (docs/scoring.md): pure rules
over AB/C values, every threshold configurable and recorded with the results."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

STATES = ("immunoparalysis", "immunosuppressed", "intermediate", "normal")  # worst first


@dataclass(frozen=True)
class Thresholds:
    """AB/C thresholds of the monocyte HLA-DR states and the ImmunoSep ferritin cut-off."""

    normal_abc: float = 15000.0  # >= normal
    immunosuppressed_abc: float = 8000.0  # < immunosuppressed
    immunoparalysis_abc: float = 5000.0  # < immunoparalysis
    ferritin_ng_ml: float = 4420.0  # > hyper-inflammation (MALS)

    def __post_init__(self) -> None:
        if not 0 < self.immunoparalysis_abc <= self.immunosuppressed_abc <= self.normal_abc:
            raise ValueError("thresholds must satisfy 0 < immunoparalysis <= immunosuppressed <= normal")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ResponderRule:
    """A drug 'responds' when its fold change over the control reaches ``min_fold_change`` and,
    with ``require_state_improvement``, the AB/C state is better than the control's."""

    min_fold_change: float = 1.5
    require_state_improvement: bool = True

    def describe(self) -> str:
        rule = f"fold change >= {self.min_fold_change:g}"
        return rule + (" and state improved" if self.require_state_improvement else "")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rule": self.describe()}


def state(abc: float | None, thresholds: Thresholds) -> str:
    """The AB/C state; "" when there is no value."""
    if abc is None or not math.isfinite(abc):
        return ""
    if abc < thresholds.immunoparalysis_abc:
        return "immunoparalysis"
    if abc < thresholds.immunosuppressed_abc:
        return "immunosuppressed"
    if abc >= thresholds.normal_abc:
        return "normal"
    return "intermediate"


@dataclass(frozen=True)
class Restoration:
    """One drug against its patient's unstimulated control at one time point."""

    control_abc: float
    abc: float
    fold_change: float
    log2_fold_change: float
    delta_abc: float
    gap_closed: float | None  # delta / (normal - control) when the control is below normal
    state_control: str
    state_drug: str
    responder: bool


def restoration(control_abc: float, abc: float, thresholds: Thresholds, rule: ResponderRule) -> Restoration:
    """The restoration measures of a drug AB/C against the control AB/C (both > 0)."""
    fold = abc / control_abc
    delta = abc - control_abc
    gap = delta / (thresholds.normal_abc - control_abc) if control_abc < thresholds.normal_abc else None
    s_control, s_drug = state(control_abc, thresholds), state(abc, thresholds)
    improved = STATES.index(s_drug) > STATES.index(s_control)
    responder = fold >= rule.min_fold_change and (improved or not rule.require_state_improvement)
    return Restoration(control_abc, abc, fold, math.log2(fold), delta, gap, s_control, s_drug, responder)


def immunosep_class(ferritin_ng_ml: float | None, control_abc: float | None,
                    thresholds: Thresholds) -> tuple[str, str]:
    """ImmunoSep class and the rule that gave it: ``hyperinflammation`` when ferritin > 4,420
    ng/mL (whatever the HLA-DR), ``immunoparalysis`` when ferritin <= 4,420 and the unstimulated
    AB/C < 5,000, ``intermediate`` otherwise; ("", reason) when an input is missing."""
    f, a = thresholds.ferritin_ng_ml, thresholds.immunoparalysis_abc
    if ferritin_ng_ml is None or not math.isfinite(ferritin_ng_ml):
        return "", "no ferritin"
    if ferritin_ng_ml > f:
        return "hyperinflammation", f"ferritin {ferritin_ng_ml:g} > {f:g} ng/mL"
    if control_abc is None or not math.isfinite(control_abc):
        return "", f"ferritin {ferritin_ng_ml:g} <= {f:g} ng/mL but no unstimulated AB/C"
    if control_abc < a:
        return "immunoparalysis", f"ferritin {ferritin_ng_ml:g} <= {f:g} ng/mL and AB/C {control_abc:,.0f} < {a:,.0f}"
    return "intermediate", f"ferritin {ferritin_ng_ml:g} <= {f:g} ng/mL and AB/C {control_abc:,.0f} >= {a:,.0f}"
