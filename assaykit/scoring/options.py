"""``run.yaml``: options of ``assaykit score`` kept with a run folder (docs/scoring.md).

Paths in it are relative to the run folder; options on the command line win over it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AssayKitError
from ..ledger import TrajectoryRule
from .restoration import ResponderRule, Thresholds

PATH_KEYS = ("plate_map", "strategy", "lot", "clinical", "out", "compensation", "qc_targets")
KEYS = (*PATH_KEYS, "bead_values", "bead_unit", "control", "jobs", "thresholds", "responder", "specimen",
        "plate_map_sheet", "gate_overrides", "ledger", "qc_baseline_runs", "preanalytic_limit_h", "trajectory")
DEFAULT_PREANALYTIC_LIMIT_H = 4.0  # Döcke 2005: stained within 4 h of the draw (ImmunoSep: 6 h)


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

    def __post_init__(self) -> None:
        from ..gating.specimen import check_specimen

        try:
            object.__setattr__(self, "specimen", check_specimen(self.specimen, "specimen"))
        except ValueError as exc:
            raise AssayKitError(str(exc)) from None
        if self.qc_baseline_runs < 2:
            raise AssayKitError("qc_baseline_runs: at least 2 runs establish a QC target and SD")
        if not 0 < self.preanalytic_limit_h <= 24 * 30:
            raise AssayKitError("preanalytic_limit_h: expected hours between 0 and 720")


def load_run_yaml(run_dir: Path) -> dict[str, Any]:
    """The options in ``run_dir/run.yaml`` as RunOptions field values ({} when there is none).
    Every key is typed and checked (docs/scoring.md); problems raise AssayKitError naming the
    file and the key."""
    from .._files import CONFIG_LIMIT, build, parse_yaml, quote, read_input, typed, unknown_keys

    path = run_dir / "run.yaml"
    if not path.exists() and not path.is_symlink():
        return {}
    doc = parse_yaml(read_input(path, AssayKitError, "run file", CONFIG_LIMIT), path, AssayKitError, "run file")
    doc = {} if doc is None else doc
    if not isinstance(doc, dict):
        raise AssayKitError(f"run.yaml must be a mapping of options, got {quote(doc)}", path)
    unknown = sorted(str(k) for k in doc if k not in KEYS)
    if unknown:
        raise AssayKitError(unknown_keys(unknown, KEYS), path)
    values: dict[str, Any] = {}
    for key in PATH_KEYS:
        if doc.get(key) is not None:
            values[key] = run_dir / typed(doc[key], "str", key, path, AssayKitError)
    if doc.get("bead_values") is not None:
        raw = doc["bead_values"]
        if not isinstance(raw, list) or not raw:
            raise AssayKitError(f"bead_values: expected a list of numbers, got {quote(raw)}", path)
        values["bead_values"] = tuple(typed(v, "float", "bead_values", path, AssayKitError) for v in raw)
    for key in ("bead_unit", "control", "specimen", "plate_map_sheet"):
        if doc.get(key) is not None:
            values[key] = typed(doc[key], "str", key, path, AssayKitError)
    if doc.get("jobs") is not None:
        jobs = typed(doc["jobs"], "int", "jobs", path, AssayKitError)
        if jobs < 1:
            raise AssayKitError("jobs: expected a positive integer", path)
        values["jobs"] = jobs
    if "thresholds" in doc:
        values["thresholds"] = build(Thresholds, doc["thresholds"], path, AssayKitError, "thresholds")
    if "responder" in doc:
        values["responder"] = build(ResponderRule, doc["responder"], path, AssayKitError, "responder")
    if doc.get("ledger") is not None:
        target = typed(doc["ledger"], "str", "ledger", path, AssayKitError).strip()
        values["ledger"] = target if "://" in target or target.lower() == "none" else str(run_dir / target)
    if doc.get("qc_baseline_runs") is not None:
        values["qc_baseline_runs"] = typed(doc["qc_baseline_runs"], "int", "qc_baseline_runs", path, AssayKitError)
    if doc.get("preanalytic_limit_h") is not None:
        values["preanalytic_limit_h"] = typed(doc["preanalytic_limit_h"], "float", "preanalytic_limit_h", path,
                                              AssayKitError)
    if "trajectory" in doc:
        values["trajectory"] = build(TrajectoryRule, doc["trajectory"], path, AssayKitError, "trajectory")
    if doc.get("gate_overrides") is not None:
        from .overrides import parse_overrides

        values["gate_overrides"] = parse_overrides(doc["gate_overrides"], run_dir, path)
    return values
