"""Method validation (``assaykit validate``, docs/validation.md): precision by CLSI EP05's nested
ANOVA, method comparison pooled over runs (Bland-Altman and Passing-Bablok of
:mod:`assaykit.scoring.agreement`), reference intervals by CLSI EP28, stability against time to
staining, and acceptance criteria from YAML (:mod:`.criteria`). The statistics (:mod:`.stats`) are
pure numpy/scipy."""

from ..scoring.agreement import BlandAltman, PassingBablok, bland_altman, loa_ci, passing_bablok
from .analysis import PrecisionStudy, Validation, analyse
from .command import ValidationResult, default_out, validate
from .criteria import (
    ComparisonCriteria,
    Criteria,
    Outcome,
    PrecisionCriteria,
    ReferenceCriteria,
    StabilityCriteria,
    Transference,
    evaluate_comparison,
    evaluate_precision,
    evaluate_reference_interval,
    evaluate_stability,
    load_criteria,
)
from .stats import (
    AnovaRow,
    Component,
    Precision,
    ReferenceInterval,
    Stability,
    nonparametric_ci_ranks,
    precision,
    reference_interval,
    robust_limits,
    stability,
)

__all__ = [
    "AnovaRow", "BlandAltman", "ComparisonCriteria", "Component", "Criteria", "Outcome", "PassingBablok", "Precision",
    "PrecisionCriteria", "ReferenceCriteria", "ReferenceInterval", "Stability", "StabilityCriteria", "Transference",
    "bland_altman", "evaluate_comparison", "evaluate_precision", "evaluate_reference_interval", "evaluate_stability",
    "loa_ci", "load_criteria", "nonparametric_ci_ranks", "passing_bablok", "precision", "reference_interval",
    "robust_limits", "stability",
]
__all__ += ["PrecisionStudy", "Validation", "ValidationResult", "analyse", "default_out", "validate"]  # the command
