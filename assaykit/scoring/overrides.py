"""Gates set by hand (run.yaml ``gate_overrides:``, docs/scoring.md): a tube's automatic gate
replaced by a gate written as in a strategy file, or by a population of the lab's FlowJo
workspace, each with the reason. Read and checked before any tube is measured; each override
becomes the tube's own strategy, so the worker gates it as any other tube.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import AssayKitError
from ..findings import Finding, FindingCode, finding

KEYS = ("reason", "population", "gate", "workspace", "workspace_population", "sample", "exclude", "reviewed")
REVIEWED_KEYS = ("by", "at", "audit")
"""The keys of an entry's ``reviewed:`` mapping (written by ``assaykit review``): who, when (UTC),
and the audit entry (its ``seq`` in audit.jsonl) that recorded the change."""
MAX_REASON = 500  # characters


@dataclass(frozen=True)
class GateOverride:
    """One entry of ``gate_overrides:``. ``tube``: a well (``B3``) or an FCS file name;
    ``reason``: why (shown on the row and the report); ``population``: the strategy population
    whose gate is replaced (None: the readout population); then either ``gate`` (a mapping as in a
    strategy file, coordinates in scale values) or ``workspace`` (a FlowJo 10 workspace) with
    ``workspace_population`` (a population path or a unique name) and optionally ``sample``
    (the workspace sample; default: the one made on the tube's file); ``exclude``: the tube is
    excluded by a person (withheld, finding ``excluded_by_reviewer``; no gate then); ``reviewed``:
    who wrote the entry in ``assaykit review``, when and its audit entry (:data:`REVIEWED_KEYS`)."""

    tube: str
    reason: str
    population: str | None = None
    gate: Mapping[str, Any] | None = None
    workspace: Path | None = None
    workspace_population: str | None = None
    sample: str | None = None
    exclude: bool = False
    reviewed: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class TubeOverride:
    """An override matched to its tube: the tube's strategy, and what the manifest records;
    ``excluded``: the tube is excluded by a person (measured with the run's strategy, withheld);
    ``reviewed``: the entry's ``reviewed:`` mapping (None: written by hand)."""

    strategy: Any
    reason: str
    source: str
    sha256: str
    population: str
    excluded: bool = False
    reviewed: Mapping[str, Any] | None = None

    def finding(self) -> Finding:
        """The finding every row of the tube carries: its gate was set by hand, and why ("gate
        corrected in review by NAME: reason" when ``assaykit review`` wrote the entry, "gate set by
        hand: reason" for one written in run.yaml); or it was excluded by a person (an error: the
        tube is withheld), and why."""
        if self.excluded:
            return finding(FindingCode.EXCLUDED_BY_REVIEWER, f"excluded by the reviewer: {self.reason}")
        by = (self.reviewed or {}).get("by")
        if isinstance(by, str) and by.strip():
            return finding(FindingCode.GATE_SET_BY_HAND, f"gate corrected in review by {by}: {self.reason}")
        return finding(FindingCode.GATE_SET_BY_HAND, f"gate set by hand: {self.reason}")

    def to_dict(self, file: str, well: str) -> dict[str, Any]:
        out: dict[str, Any] = {"file": file, "well": well, "population": self.population, "reason": self.reason,
                               "source": self.source, "sha256": self.sha256}
        if self.excluded:
            out["excluded"] = True
        if self.reviewed is not None:
            out["reviewed"] = dict(self.reviewed)
        return out


def parse_overrides(doc: Any, run_dir: Path, path: Path) -> tuple[GateOverride, ...]:
    """The ``gate_overrides:`` mapping of run.yaml (``path``; paths relative to ``run_dir``)."""
    from .._io.validate import checking, invalid, known, mapping, text

    out = []
    with checking(AssayKitError, path):
        for tube, spec in mapping(doc, "gate_overrides").items():
            where = f"gate_overrides: {str(tube)!r}"
            if not isinstance(spec, dict):
                raise invalid(where, "expected a mapping with reason and gate or workspace")
            known(spec, KEYS, where)
            values = {k: text(spec[k], f"{where}: {k}")
                      for k in ("reason", "population", "workspace", "workspace_population", "sample")
                      if spec.get(k) is not None}
            reason = " ".join(values.get("reason", "").split())
            if not reason or len(reason) > MAX_REASON:
                raise invalid(where, f"a reason is required (1 to {MAX_REASON} characters)")
            exclude = spec.get("exclude", False)
            if not isinstance(exclude, bool):
                raise invalid(where, "exclude must be true or false")
            reviewed = spec.get("reviewed")
            if reviewed is not None:
                if not isinstance(reviewed, dict):
                    raise invalid(where, "reviewed must be a mapping (by, at, audit)")
                known(reviewed, REVIEWED_KEYS, f"{where}: reviewed")
            if exclude and ("gate" in spec or "workspace" in values):
                raise invalid(where, "an excluded tube takes no gate or workspace (exclude: true with a reason only)")
            if not exclude and ("gate" in spec) == ("workspace" in values):
                raise invalid(where, "give either gate (a gate as in a strategy) or workspace (a FlowJo workspace), "
                                     "not both or neither")
            if "gate" in spec and not isinstance(spec["gate"], dict):
                raise invalid(where, "gate must be a mapping (type, dims, coordinates)")
            if "workspace" in values and "workspace_population" not in values:
                raise invalid(where, "workspace_population is required with workspace")
            if "workspace" not in values and ("workspace_population" in values or "sample" in values):
                raise invalid(where, "workspace_population and sample go with workspace")
            out.append(GateOverride(tube=str(tube), reason=reason, population=values.get("population"),
                                    gate=spec.get("gate"),
                                    workspace=run_dir / values["workspace"] if "workspace" in values else None,
                                    workspace_population=values.get("workspace_population"),
                                    sample=values.get("sample"), exclude=exclude, reviewed=reviewed))
    return tuple(out)


def _matches(key: str, assignment: Any) -> bool:
    from .platemap import normalise_well

    well = normalise_well(key)
    if well is not None and assignment.row.well and well == assignment.row.well:
        return True
    return key == assignment.path.name or key.casefold() == assignment.path.name.casefold()


def resolve_overrides(overrides: tuple[GateOverride, ...], assignments: list[Any], strategy: Any,
                      source: Path) -> dict[Path, TubeOverride]:
    """Each override matched to its blood tube with the tube's strategy built; AssayKitError
    (naming ``source``, the run.yaml) for a key matching no tube or a bead or blank well, an
    unknown population, a gate that does not parse, or a workspace, sample or population not
    found."""
    from ..errors import GatingError
    from .platemap import BLOOD_ROLES

    out: dict[Path, TubeOverride] = {}
    workspaces: dict[Path, Any] = {}
    for override in overrides:
        where = f"gate_overrides: {override.tube!r}"
        found = [a for a in assignments if _matches(override.tube, a)]
        if not found:
            raise AssayKitError(f"{where}: no tube of the run is that well or file", source)
        tubes = [a for a in found if a.row.role in BLOOD_ROLES]
        if len(tubes) != len(found):
            raise AssayKitError(f"{where}: names a {found[0].row.role} tube; only blood tubes are gated", source)
        population = override.population or strategy.readout.population
        try:
            for assignment in tubes:
                if assignment.path in out:
                    raise AssayKitError(f"{where}: {assignment.path.name} has two gate overrides", source)
                out[assignment.path] = _tube_override(override, population, assignment.path, strategy, workspaces)
        except GatingError as error:
            raise AssayKitError(f"{where}: {error.message}", error.path or source) from None
    return out


def _tube_override(override: GateOverride, population: str, fcs: Path, strategy: Any,
                   workspaces: dict[Path, Any]) -> TubeOverride:
    from ..gating import gate_plot_dims, parse_gate, replace_gate
    from ..gating.strategy import ROOT
    from ..interop import WorkspaceGate, read_workspace

    replaced = next((p.gate for p in strategy.populations if p.name == population), None)
    dims = gate_plot_dims(replaced)  # monocytes: CD14, SSC
    if override.exclude:
        return TubeOverride(strategy=strategy, reason=override.reason, source="run.yaml exclude", sha256="",
                            population=population, excluded=True, reviewed=override.reviewed)
    if override.gate is not None:
        gate = parse_gate(dict(override.gate), strategy, f"population {population!r}")
        text = json.dumps(override.gate, sort_keys=True, separators=(",", ":"), default=str)
        return TubeOverride(strategy=replace_gate(strategy, population, gate), reason=override.reason,
                            source="run.yaml gate", sha256=hashlib.sha256(text.encode()).hexdigest(),
                            population=population, reviewed=override.reviewed)
    path = override.workspace
    assert path is not None  # parse_overrides gives each override a gate or a workspace
    if path not in workspaces:
        workspaces[path] = read_workspace(path)
    sample = workspaces[path].sample_for(fcs.name, override.sample)
    chosen = sample.population(override.workspace_population)
    gate = WorkspaceGate(dims=dims, document=sample.document, population=chosen,
                         source=f"{path.name}: {sample.name}: {chosen}", sample_xml=sample.xml)
    return TubeOverride(strategy=replace_gate(strategy, population, gate, parent=ROOT), reason=override.reason,
                        source=f"workspace {path.name}, sample {sample.name!r}, population {chosen!r}",
                        sha256=hashlib.sha256(path.read_bytes()).hexdigest(), population=population,
                        reviewed=override.reviewed)
