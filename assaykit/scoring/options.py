"""``run.yaml``: options of ``assaykit score`` kept with a run folder (docs/scoring.md).

Paths in it are relative to the run folder; options on the command line win over it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AssayKitError
from ..ledger import TrajectoryRule
from .restoration import ResponderRule, Thresholds
from .verdicts import DEFAULT_REPLICATE_CV_LIMIT_PCT

PATH_KEYS = ("plate_map", "strategy", "lot", "clinical", "out", "compensation", "qc_targets")
KEYS = (*PATH_KEYS, "bead_values", "bead_unit", "control", "jobs", "thresholds", "responder", "specimen",
        "plate_map_sheet", "gate_overrides", "ledger", "qc_baseline_runs", "preanalytic_limit_h", "trajectory",
        "accept_calibration", "review", "replicate_cv_limit_pct", "replicate_cv_withhold_pct")
DEFAULT_PREANALYTIC_LIMIT_H = 4.0  # Döcke 2005: stained within 4 h of the draw (ImmunoSep: 6 h)
MAX_PREANALYTIC_LIMIT_H = 24 * 30  # hours: a limit of a month is surely a typo
MAX_REPLICATE_CV_LIMIT_PCT = 1000.0  # %: replicates a limit above 1,000 % would pass are no replicates


@dataclass(frozen=True)
class RunOptions:
    """Everything ``score`` needs besides the run folder (None: the default)."""

    plate_map: Path | None = None
    strategy: Path | None = None
    lot: Path | None = None
    bead_values: tuple[float, ...] | None = None
    bead_unit: str = "PE molecules/bead"
    clinical: Path | None = None
    control: str = "unstimulated"
    out: Path | None = None
    jobs: int | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    responder: ResponderRule = field(default_factory=ResponderRule)
    compensation: Path | None = None  # spillover CSV or FlowJo workspace, instead of each file's own
    specimen: str | None = None  # declared specimen, over the strategy's (gating.specimen.SPECIMENS)
    plate_map_sheet: str | None = None  # the XLSX plate map's sheet (default: the first with the columns)
    gate_overrides: tuple[Any, ...] = ()  # gates set by hand (overrides.GateOverride), run.yaml only
    ledger: str | None = None  # a ledger file or URL ("none": do not record); default beside the reports
    qc_targets: Path | None = None  # YAML of established QC targets and SDs (docs/ledger.md)
    qc_baseline_runs: int = 10  # runs that establish a QC series' target and SD when none is given
    preanalytic_limit_h: float = DEFAULT_PREANALYTIC_LIMIT_H  # draw to staining, hours
    trajectory: TrajectoryRule = field(default_factory=TrajectoryRule)
    accept_calibration: str | None = None  # a person's reason to release a withheld calibration
    approver_may_review: bool = False  # run.yaml review: {approver_may_review: true}: one person may sign both
    replicate_cv_limit_pct: float = DEFAULT_REPLICATE_CV_LIMIT_PCT  # %: above it, replicate_cv
    replicate_cv_withhold_pct: float | None = None  # %: above it, replicate_cv_withheld (None: no hard limit)

    def __post_init__(self) -> None:
        from ..gating.specimen import check_specimen

        try:
            object.__setattr__(self, "specimen", check_specimen(self.specimen, "specimen"))
        except ValueError as exc:
            raise AssayKitError(str(exc)) from None
        if self.qc_baseline_runs < 2:
            raise AssayKitError("qc_baseline_runs: at least 2 runs establish a QC target and SD")
        if self.accept_calibration is not None:
            from .verdicts import release_reason_problem

            problem = release_reason_problem(self.accept_calibration)
            if problem:
                raise AssayKitError(f"accept_calibration: {problem}")
        if not 0 < self.preanalytic_limit_h <= MAX_PREANALYTIC_LIMIT_H:
            raise AssayKitError("preanalytic_limit_h: expected hours between 0 and 720")
        if not 0 < self.replicate_cv_limit_pct <= MAX_REPLICATE_CV_LIMIT_PCT:
            raise AssayKitError(f"replicate_cv_limit_pct: expected a % above 0 and at most "
                                f"{MAX_REPLICATE_CV_LIMIT_PCT:g}")
        if self.replicate_cv_withhold_pct is not None \
                and not 0 < self.replicate_cv_withhold_pct <= MAX_REPLICATE_CV_LIMIT_PCT:
            raise AssayKitError(f"replicate_cv_withhold_pct: expected a % above 0 and at most "
                                f"{MAX_REPLICATE_CV_LIMIT_PCT:g}")


def load_run_yaml(run_dir: Path) -> dict[str, Any]:
    """The options in ``run_dir/run.yaml`` as RunOptions field values ({} when there is none).
    Every key is typed and checked (docs/scoring.md); problems raise AssayKitError naming the
    file and the key."""
    from .._io.config import read_yaml
    from .._io.validate import build, checking, integer, invalid, items, known, mapping, number, shown, text
    from ..gating.specimen import check_specimen

    path = run_dir / "run.yaml"
    if not path.exists() and not path.is_symlink():
        return {}
    doc = read_yaml(path, AssayKitError, "run file")
    values: dict[str, Any] = {}
    with checking(AssayKitError, path):
        if doc is not None and not isinstance(doc, dict):
            raise invalid("", f"run.yaml must be a mapping of options, got {shown(doc, whole=True)}")
        doc = known(mapping(doc, "", optional=True), KEYS, "")
        given = {k: v for k, v in doc.items() if v is not None}
        for key in PATH_KEYS:
            if key in given:
                values[key] = run_dir / text(given[key], key)
        if "bead_values" in given:
            raw = items(given["bead_values"], "bead_values")
            if not raw:
                raise invalid("bead_values", "expected a list of numbers, got an empty list")
            values["bead_values"] = tuple(number(v, f"bead_values[{i}]") for i, v in enumerate(raw))
        for key in ("bead_unit", "control", "specimen", "plate_map_sheet", "accept_calibration"):
            if key in given:
                values[key] = text(given[key], key)
        if "accept_calibration" in doc:  # a release is checked here, so that its error names this file
            from .verdicts import release_reason_problem

            if doc["accept_calibration"] is None:
                raise invalid("accept_calibration", "empty: write who released the calibration, and why (or remove "
                                                    "the key: nothing is released without a reason)")
            problem = release_reason_problem(values["accept_calibration"])
            if problem:
                raise invalid("accept_calibration", problem)
        if "jobs" in given:
            values["jobs"] = integer(given["jobs"], "jobs", low=1)
        if "review" in given:  # assaykit review's rules for this lab: review: {approver_may_review: true}
            review = known(mapping(given["review"], "review"), ("approver_may_review",), "review")
            allowed = review.get("approver_may_review", False)
            if not isinstance(allowed, bool):
                raise invalid("review: approver_may_review", f"expected true or false, got {shown(allowed)}")
            values["approver_may_review"] = allowed
        for key, rule in (("thresholds", Thresholds), ("responder", ResponderRule), ("trajectory", TrajectoryRule)):
            if key in doc:
                values[key] = build(rule, doc[key], key)
        if "ledger" in given:
            target = text(given["ledger"], "ledger").strip()
            values["ledger"] = target if "://" in target or target.lower() == "none" else str(run_dir / target)
        if "qc_baseline_runs" in given:  # RunOptions checks the same ranges, for options not from a file
            values["qc_baseline_runs"] = integer(given["qc_baseline_runs"], "qc_baseline_runs", low=2)
        if "preanalytic_limit_h" in given:
            hours = number(given["preanalytic_limit_h"], "preanalytic_limit_h", 0, MAX_PREANALYTIC_LIMIT_H)
            if hours == 0:
                raise invalid("preanalytic_limit_h", "expected hours above 0, got 0")
            values["preanalytic_limit_h"] = hours
        if "replicate_cv_limit_pct" in given:
            limit = number(given["replicate_cv_limit_pct"], "replicate_cv_limit_pct", 0, MAX_REPLICATE_CV_LIMIT_PCT)
            if limit == 0:
                raise invalid("replicate_cv_limit_pct", "expected a % above 0, got 0")
            values["replicate_cv_limit_pct"] = limit
        if "replicate_cv_withhold_pct" in given:
            hard = number(given["replicate_cv_withhold_pct"], "replicate_cv_withhold_pct", 0,
                          MAX_REPLICATE_CV_LIMIT_PCT)
            if hard == 0:
                raise invalid("replicate_cv_withhold_pct", "expected a % above 0, got 0")
            values["replicate_cv_withhold_pct"] = hard
        if "specimen" in values:
            try:
                check_specimen(values["specimen"], "specimen")
            except ValueError as exc:
                raise invalid("", str(exc)) from None
    if "gate_overrides" in given:
        from .overrides import parse_overrides

        values["gate_overrides"] = parse_overrides(given["gate_overrides"], run_dir, path)
    return values
