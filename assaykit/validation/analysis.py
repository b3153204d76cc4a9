"""A method validation computed (docs/validation.md, "assaykit validate"): the statistics of
:mod:`.stats` on the groups :mod:`.data` chooses, each judged by the acceptance criteria of
:mod:`.criteria`. No I/O."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .criteria import (
    Criteria,
    DesignMet,
    NotEvaluatedWhy,
    Outcome,
    PrecisionDesign,
    evaluate_comparison,
    evaluate_precision,
    evaluate_reference_interval,
    evaluate_stability,
)
from .data import (
    Pair,
    Tube,
    ValidationData,
    material_name,
    precision_groups,
    reference_values,
    sample_pairs,
    single_run_materials,
    stability_points,
    stability_tubes,
)
from .stats import Precision, ReferenceInterval, Stability, precision, reference_interval, stability

if TYPE_CHECKING:
    from ..scoring.agreement import BlandAltman, PassingBablok

CONTROL_CONDITION = "unstimulated"
"""The condition whose tubes are reference values by default (score's default ``control``)."""


@dataclass(frozen=True)
class PrecisionStudy:
    """One material's precision (CLSI EP05) in one scope.

    Parameters
    ----------
    material : tuple of str
        (role, patient, timepoint, condition).
    scope : str
        ``all`` (every run pooled) or ``instrument / bead lot``.
    tubes : tuple of Tube
        The values it was computed from.
    result : Precision or None
        The statistics (None: not computed, ``why`` says why).
    why : str
        Why not computed ("" when it was): the statistic's own words.
    """

    material: tuple[str, str, str, str]
    scope: str
    tubes: tuple[Tube, ...]
    result: Precision | None
    why: str = ""

    @property
    def design(self) -> PrecisionDesign:
        """(runs, the fewest replicates of a run, days, the fewest runs of a day) of its tubes."""
        per_run = Counter(t.run_key for t in self.tubes)
        days: dict[str, set[str]] = {}
        for tube in self.tubes:
            days.setdefault(tube.acquired_on, set()).add(tube.run_key)
        return (len(per_run), min(per_run.values(), default=0), len(days),
                min((len(r) for r in days.values()), default=0))

    def design_meets(self, criteria: Criteria) -> DesignMet:
        """Which design of ``criteria`` its tubes meet (:meth:`PrecisionCriteria.design_meets`).

        Parameters
        ----------
        criteria : Criteria
            The acceptance criteria (their least designs).
        """
        return criteria.precision.design_meets(*self.design)

    @property
    def name(self) -> str:
        """The material and scope as the report names them."""
        return material_name(self.material) + ("" if self.scope == "all" else f" ({self.scope})")


@dataclass(frozen=True)
class Validation:
    """A method validation: every statistic computed and every criterion judged.

    Parameters
    ----------
    data : ValidationData
        What it was computed from.
    criteria : Criteria
        The acceptance criteria.
    control : str
        The unstimulated condition (reference values).
    precision : tuple of PrecisionStudy
        One per material and scope, controls first.
    comparison : tuple of Pair
        The method-comparison pairs one per sample (:func:`assaykit.validation.data.sample_pairs`):
        what the statistics and figures are computed from.
    bland_altman : BlandAltman or None
        The pooled method comparison's Bland-Altman (None: fewer than two samples).
    passing_bablok : PassingBablok or None
        Its Passing-Bablok regression (None: fewer than three pairs).
    reference : tuple of (str, float, int)
        The reference values (donor, AB/C, tubes averaged).
    reference_interval : ReferenceInterval or None
        The reference interval (None: too few values).
    stability_tubes : tuple of Tube
        The stability study's tubes.
    stability : Stability or None
        The drift with time from draw to stain (None: too few values).
    outcomes : tuple of Outcome
        Every criterion, evaluated or not (criteria.csv).
    notes : tuple of str
        Why a statistic could not be computed, and what was left out.
    """

    data: ValidationData
    criteria: Criteria
    control: str
    precision: tuple[PrecisionStudy, ...]
    comparison: tuple[Pair, ...]
    bland_altman: BlandAltman | None
    passing_bablok: PassingBablok | None
    reference: tuple[tuple[str, float, int], ...]
    reference_interval: ReferenceInterval | None
    stability_tubes: tuple[Tube, ...]
    stability: Stability | None
    outcomes: tuple[Outcome, ...]
    notes: tuple[str, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        """Criteria by result (``pass``, ``fail``, ``not_evaluated``)."""
        found = Counter(o.result for o in self.outcomes)
        return {r: found.get(r, 0) for r in ("pass", "fail", "not_evaluated")}

    @property
    def evaluated(self) -> bool:
        """Some criterion was evaluated (passed or failed)."""
        return any(o.result != "not_evaluated" for o in self.outcomes)

    @property
    def passed(self) -> bool:
        """Some criterion was evaluated and every evaluated one passed (the command's exit code 0;
        1 otherwise: a criterion failed, or none could be evaluated)."""
        return self.evaluated and not any(o.result == "fail" for o in self.outcomes)

    @property
    def not_evaluated_reasons(self) -> str:
        """Why nothing could be evaluated, for the one line the command prints: each criterion's
        detail, once each (e.g. ``repeatability_cv: too few (3 of 5 runs ...)``)."""
        seen: dict[str, list[str]] = {}
        for outcome in self.outcomes:
            if outcome.result == "not_evaluated" and outcome.why != "not_configured":
                names = seen.setdefault(outcome.detail, [])
                if outcome.criterion not in names:
                    names.append(outcome.criterion)
        return "; ".join(f"{', '.join(names)}: {detail}" for detail, names in seen.items()) or \
            "no criterion is configured"


def study_precision(material: tuple[str, str, str, str], scope: str, tubes: Sequence[Tube]) -> PrecisionStudy:
    """One material's EP05 precision: run = the assaykit run, replicate = the plate map's label
    (or the file when none), day = the acquisition date (a level when some day holds two runs or
    more: :func:`assaykit.validation.stats.precision` decides the design).

    Parameters
    ----------
    material : tuple of str
        (role, patient, timepoint, condition).
    scope : str
        ``all`` or ``instrument / bead lot``.
    tubes : sequence of Tube
        Its reportable tubes.
    """
    try:
        result = precision([t.abc for t in tubes], [t.run_key for t in tubes],
                           [t.replicate or t.file for t in tubes], [t.acquired_on for t in tubes])
    except ValueError as error:
        return PrecisionStudy(material, scope, tuple(tubes), None, str(error))
    return PrecisionStudy(material, scope, tuple(tubes), result)


def analyse(data: ValidationData, criteria: Criteria, control: str = CONTROL_CONDITION) -> Validation:
    """Every statistic of a validation, each judged by ``criteria``.

    Parameters
    ----------
    data : ValidationData
        The tubes and comparison pairs (:func:`assaykit.validation.data.gather`).
    criteria : Criteria
        The acceptance criteria (:func:`assaykit.validation.criteria.load_criteria`).
    control : str
        The unstimulated condition whose tubes are reference values.
    """
    import numpy as np

    from ..scoring.agreement import PASSING_BABLOK_MAX_N, bland_altman, passing_bablok

    outcomes: list[Outcome] = []
    notes: list[str] = []
    studies = tuple(study_precision(m, s, t) for m, s, t in precision_groups(data.tubes))
    for study in studies:
        if study.result is None:
            notes.append(f"precision of {study.name}: not computed ({study.why})")
        outcomes += evaluate_precision(study.result, criteria, study.name, "too_few", study.design)
    if not studies:
        outcomes += evaluate_precision(None, criteria, "no material measured in two runs", "no_data")
    single = single_run_materials(data.tubes)
    if single:
        notes.append(f"precision: {single} material(s) measured in replicate in one run only (no between-run "
                     "precision; their replicate CV is in the run's restoration.csv and patients.csv)")

    samples = tuple(sample_pairs(data.pairs))
    x = np.array([p.reference_abc for p in samples])
    y = np.array([p.assaykit_abc for p in samples])
    ba = bland_altman(x, y) if x.size >= 2 else None
    pb = passing_bablok(x, y) if 3 <= x.size <= PASSING_BABLOK_MAX_N else None
    if x.size > PASSING_BABLOK_MAX_N:
        notes.append(f"method comparison: {x.size} pairs, more than {PASSING_BABLOK_MAX_N}: no Passing-Bablok")
    mean_pct = ba.mean_difference_pct if ba is not None and math.isfinite(ba.mean_difference_pct) else None
    why: NotEvaluatedWhy = "too_few" if samples else "no_data"
    outcomes += evaluate_comparison(mean_pct, criteria, f"assaykit vs reference ({x.size} samples, "
                                    f"{len(data.pairs)} pairs)", why, x.size, pb)

    settings = criteria.reference_interval
    reference = tuple(reference_values(data.tubes, settings.donor_group, control))
    interval = None
    values = [v for _, v, _ in reference]
    if len(values) >= settings.min_n:
        try:
            interval = reference_interval(values, "auto", settings.coverage, settings.ci, settings.nonparametric_min_n,
                                          "log" if settings.transform == "log" else "none")
        except ValueError as error:
            notes.append(f"reference interval: not computed ({error})")
    why = "too_few" if values else "no_data"
    outcomes += evaluate_reference_interval(interval, values, criteria,
                                            f"donor group {settings.donor_group}, {control} ({len(values)} donors)",
                                            why)

    timed = tuple(stability_tubes(data.tubes))
    points = stability_points(timed)
    drift = None
    times: dict[tuple[str, str, str, str], int] = Counter(donor for donor, _, _, _ in points)
    donors = sum(1 for n in times.values() if n >= criteria.stability.min_times)
    if points:
        try:
            drift = stability([v for _, _, v, _ in points], [h for _, h, _, _ in points],
                              [d for d, _, _, _ in points], window_h=criteria.stability.window_h)
        except ValueError as error:
            notes.append(f"stability: not computed ({error})")
    outcomes.append(evaluate_stability(drift, criteria, f"draw to stain ({len(times)} donors, {len(points)} points, "
                                       f"{len(timed)} tubes)", "too_few" if timed else "no_data", donors))
    return Validation(data=data, criteria=criteria, control=control, precision=studies, comparison=samples,
                      bland_altman=ba,
                      passing_bablok=pb, reference=reference, reference_interval=interval, stability_tubes=timed,
                      stability=drift, outcomes=tuple(outcomes), notes=tuple(notes))


__all__ = ["CONTROL_CONDITION", "PrecisionStudy", "Validation", "analyse", "study_precision"]
