"""``run.yaml``: options of ``assaykit score`` kept with a run folder (docs/scoring.md).

Paths in it are relative to the run folder; options on the command line win over it."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import AssayKitError
from .restoration import ResponderRule, Thresholds

PATH_KEYS = ("plate_map", "strategy", "lot", "clinical", "out", "compensation")
KEYS = (*PATH_KEYS, "bead_values", "bead_unit", "control", "jobs", "thresholds", "responder", "specimen")


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

    def __post_init__(self) -> None:
        from ..gating.specimen import check_specimen

        try:
            object.__setattr__(self, "specimen", check_specimen(self.specimen, "specimen"))
        except ValueError as exc:
            raise AssayKitError(str(exc)) from None


def _section(doc: dict, key: str, cls: type, where: Path) -> Any:
    value = doc.get(key) or {}
    if not isinstance(value, dict):
        raise AssayKitError(f"'{key}' must be a mapping", where)
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(value) - names)
    if unknown:
        raise AssayKitError(f"unknown {key} key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(names))})", where)
    try:
        return cls(**value)
    except (TypeError, ValueError) as exc:
        raise AssayKitError(f"{key}: {exc}", where) from None


def load_run_yaml(run_dir: Path) -> dict[str, Any]:
    """The options in ``run_dir/run.yaml`` as RunOptions field values ({} when there is none)."""
    from .._files import parse_yaml

    path = run_dir / "run.yaml"
    if not path.exists():
        return {}
    doc = parse_yaml(path.read_bytes(), path, AssayKitError, "run file") or {}
    if not isinstance(doc, dict):
        raise AssayKitError("run.yaml must be a mapping of options", path)
    unknown = sorted(set(doc) - set(KEYS))
    if unknown:
        raise AssayKitError(f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(KEYS)})", path)
    values: dict[str, Any] = {}
    for key in PATH_KEYS:
        if doc.get(key):
            values[key] = run_dir / str(doc[key])
    if doc.get("bead_values") is not None:
        raw = doc["bead_values"]
        if not isinstance(raw, list) or not all(isinstance(v, int | float) for v in raw):
            raise AssayKitError("bead_values must be a list of numbers", path)
        values["bead_values"] = tuple(float(v) for v in raw)
    for key in ("bead_unit", "control", "specimen"):
        if doc.get(key) is not None:
            values[key] = str(doc[key])
    if doc.get("jobs") is not None:
        if not isinstance(doc["jobs"], int) or doc["jobs"] < 1:
            raise AssayKitError("jobs must be a positive integer", path)
        values["jobs"] = doc["jobs"]
    if "thresholds" in doc:
        values["thresholds"] = _section(doc, "thresholds", Thresholds, path)
    if "responder" in doc:
        values["responder"] = _section(doc, "responder", ResponderRule, path)
    return values
