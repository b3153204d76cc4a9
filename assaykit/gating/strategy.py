"""Gating strategies as data (YAML, docs/gating-strategy.md): loading and validation.
Applying a strategy to a sample is :mod:`.apply`."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .._io.validate import InvalidError, build, items, known, mapping, quote
from ..errors import GatingError
from ..fcs.channels import Marker
from .autogates import AUTO_METHODS, SingletGate
from .gates import GATE_TYPES, BooleanGate
from .specimen import check_specimen
from .transforms import Transform

ROOT = "root"
#: What a population is for the pipeline, whatever the strategy calls it: ``singlets`` (the
#: doublet check and the ``singlets`` column). A population declares it with ``role:``; without
#: any declaration the population gated by the automatic singlets gate has it.
ROLES = ("singlets",)
STATISTICS = ("median", "geometric_mean")


@dataclass(frozen=True)
class Population:
    """A named population: the events of ``parent`` (a population's name, or :data:`ROOT`) that
    ``gate`` holds. One tree of these serves strategy files, GatingML documents and FlowJo
    workspaces (:mod:`assaykit.interop`)."""

    name: str
    parent: str
    gate: Any  # a gate (apply) or an automatic gate (fit)

    @property
    def kind(self) -> str:
        """The type of its gate (``auto`` for an automatic gate)."""
        return str(getattr(self.gate, "kind", "auto"))


@dataclass(frozen=True)
class Readout:
    population: str
    marker: str
    statistic: str = "median"


@dataclass(frozen=True)
class QCLimits:
    min_events_unreliable: int = 500
    min_events_warning: int = 3000
    max_doublets_percent: float = 10.0
    max_saturated_percent: float = 1.0
    min_purity_percent: float = 90.0


@dataclass(frozen=True)
class Strategy:
    name: str
    markers: Mapping[str, Marker]
    populations: tuple[Population, ...]
    readout: Readout
    qc: QCLimits = field(default_factory=QCLimits)
    source: str = ""
    transforms: Mapping[str, Transform] = field(default_factory=dict)  # per marker; linear when absent
    sha256: str = ""  # of the strategy file's bytes
    roles: Mapping[str, str] = field(default_factory=dict)  # role (ROLES) -> population name
    optional: frozenset[str] = frozenset()  # markers a file may lack (their gates then step aside)
    specimen: str | None = None  # declared specimen (gating.specimen.SPECIMENS), None: not declared

    @property
    def singlets(self) -> str | None:
        """The population that holds the singlets (the doublet check runs on it), or None."""
        return self.roles.get("singlets")


# --- loading -----------------------------------------------------------------------------------


def _transform(spec: Any, where: str) -> Transform:
    if spec is None:
        return Transform()
    if isinstance(spec, str):
        spec = {"kind": spec}
    if not isinstance(spec, dict):
        raise GatingError(f"{where}: transform must be a name or a mapping")
    try:
        return Transform(**{k: (float(v) if k != "kind" else v) for k, v in spec.items()})
    except (TypeError, ValueError) as exc:
        raise GatingError(f"{where}: bad transform ({exc})") from None


def _auto_gate(method: Any, dims: tuple[str, ...], spec: Mapping[str, Any], where: str) -> Any:
    """An automatic gate of class ``method`` with the typed options of ``spec``."""
    options = {k: v for k, v in spec.items() if k not in ("auto", "dims")}
    return build(method, options, where, fixed={"dims": dims})


def _gate(spec: Any, markers: Mapping[str, Marker], transforms: Mapping[str, Transform], where: str) -> Any:
    if not isinstance(spec, dict):
        raise GatingError(f"{where}: gate must be a mapping")
    kind = spec.get("auto") or spec.get("type")
    try:
        if kind == "boolean" or "op" in spec:
            known(spec, {"type", *BooleanGate.keys}, where)
            return BooleanGate(str(spec.get("op")), tuple(spec.get("populations") or ()))
        dims = tuple(spec.get("dims") or ())
        for d in dims:
            if d not in markers:
                raise GatingError(f"{where}: unknown marker {d!r} (declare it under markers)")
        if "auto" in spec:
            if kind not in AUTO_METHODS:
                raise GatingError(f"{where}: unknown automatic gate {kind!r} (one of {', '.join(AUTO_METHODS)})")
            if len(dims) != AUTO_METHODS[kind].n_dims:
                raise GatingError(f"{where}: automatic gate {kind!r} needs {AUTO_METHODS[kind].n_dims} dims")
            return _auto_gate(AUTO_METHODS[kind], dims, spec, where)
        if kind not in GATE_TYPES:
            raise GatingError(f"{where}: unknown gate type {kind!r} (one of {', '.join(GATE_TYPES)}, boolean)")
        gate_type = GATE_TYPES[kind]
        known(spec, {"type", "dims", *gate_type.keys}, where)
        if len(dims) != gate_type.n_dims:
            raise GatingError(f"{where}: a {kind} gate needs {gate_type.n_dims} dim(s)")
        fixed = gate_type.from_spec(dims, spec, where)
        fixed.build([transforms[d] for d in dims])  # geometry checked now, placed per file
        return fixed
    except GatingError as exc:
        if str(exc).startswith(where):
            raise
        raise GatingError(f"{where}: {exc}") from None
    except InvalidError as exc:  # known keys and typed options: the text names where already
        raise GatingError(str(exc)) from None
    except (KeyError, TypeError, ValueError) as exc:
        raise GatingError(f"{where}: bad gate geometry ({exc})") from None


def parse_strategy(doc: Any, source: str = "") -> Strategy:
    """Build and validate a strategy from its parsed YAML document ``doc``; ``source`` (a path or
    ``shipped:<name>``) names it in errors and the manifest."""
    if not isinstance(doc, dict):
        raise GatingError("a strategy file must be a YAML mapping", source or None)
    try:
        markers: dict[str, Marker] = {}
        transforms: dict[str, Transform] = {}
        optional: set[str] = set()
        marker_specs = mapping(doc.get("markers"), "markers", optional=True)
        if doc.get("populations") is not None:
            items(doc["populations"], "populations")
        for name, spec in marker_specs.items():
            spec = mapping(spec, f"marker {name}", optional=True)
            if spec.get("optional"):
                optional.add(str(name))
            markers[str(name)] = Marker(name=str(name), aliases=tuple(str(a) for a in spec.get("aliases") or ()),
                                        synonyms=tuple(str(a) for a in spec.get("synonyms") or ()))
            transforms[str(name)] = _transform(spec.get("transform"), f"marker {name}")
        populations: list[Population] = []
        names: set[str] = set()
        for i, spec in enumerate(doc.get("populations") or []):
            if not isinstance(spec, dict) or "name" not in spec:
                raise GatingError(f"population #{i + 1}: needs a name")
            name = str(spec["name"])
            where = f"population {name!r}"
            if name in names or name == ROOT:
                raise GatingError(f"{where}: the name is used twice")
            names.add(name)
            gate = _gate(spec.get("gate"), markers, transforms, where)
            populations.append(Population(name, str(spec.get("parent", ROOT)), gate))
        if not populations:
            raise GatingError("the strategy has no populations")
        for p in populations:
            if p.parent != ROOT and p.parent not in names:
                raise GatingError(f"population {p.name!r}: unknown parent {p.parent!r}")
            if isinstance(p.gate, BooleanGate):
                for other in p.gate.populations:
                    if other not in names:
                        raise GatingError(f"population {p.name!r}: boolean gate names unknown population {other!r}")
        ordered = _order(populations)
        roles = _roles(doc.get("populations") or [], populations)
        readout_doc = mapping(doc.get("readout"), "readout", optional=True)
        readout = Readout(str(readout_doc.get("population", ordered[-1].name)),
                          str(readout_doc.get("marker", "")), str(readout_doc.get("statistic", "median")))
        if readout.population not in names:
            raise GatingError(f"readout: unknown population {readout.population!r}")
        if readout.marker not in markers:
            raise GatingError(f"readout: unknown marker {readout.marker!r}")
        if readout.statistic not in STATISTICS:
            raise GatingError(f"readout: statistic must be one of {', '.join(STATISTICS)}")
        qc = build(QCLimits, doc.get("qc"), "qc")
        try:
            specimen = check_specimen(doc.get("specimen"), "specimen")
        except ValueError as exc:
            raise GatingError(str(exc)) from None
    except GatingError as exc:
        raise GatingError(exc.message, source or None) from None
    except InvalidError as exc:
        raise GatingError(str(exc), source or None) from None
    except (TypeError, AttributeError, KeyError, ValueError) as exc:  # a section of the wrong shape
        raise GatingError(f"invalid strategy ({type(exc).__name__}: {quote(exc)})", source or None) from None
    return Strategy(name=str(doc.get("name", "")), markers=markers, populations=tuple(ordered), readout=readout,
                    qc=qc, source=source, transforms=transforms, roles=roles, optional=frozenset(optional),
                    specimen=specimen)


def _roles(specs: list[Any], populations: list[Population]) -> dict[str, str]:
    """Role -> population: declared with ``role:``, else inferred from the automatic gates."""
    roles: dict[str, str] = {}
    for spec in specs:
        role = spec.get("role") if isinstance(spec, dict) else None
        if role is None:
            continue
        if role not in ROLES:
            raise GatingError(f"population {spec['name']!r}: unknown role {role!r} (one of {', '.join(ROLES)})")
        if role in roles:
            raise GatingError(f"role {role!r} is given to two populations: {roles[role]!r} and {spec['name']!r}")
        roles[role] = str(spec["name"])
    if "singlets" not in roles:
        found = [p.name for p in populations if isinstance(p.gate, SingletGate)]
        if len(found) == 1:
            roles["singlets"] = found[0]
    return roles


def _order(populations: list[Population]) -> list[Population]:
    """Parents (and populations a boolean gate uses) before children; a cycle is an error.
    Depth-first without recursion: a chain of any depth (a 20,000-gate document) is ordered,
    not a RecursionError."""
    by_name = {p.name: p for p in populations}
    done: list[Population] = []
    state: dict[str, str] = {}

    def needs(p: Population) -> list[str]:
        found = [p.parent] if p.parent != ROOT else []
        if isinstance(p.gate, BooleanGate):
            found += list(p.gate.populations)
        return found

    for start in populations:
        if state.get(start.name) == "done":
            continue
        state[start.name] = "visiting"
        stack = [(start, iter(needs(start)))]
        while stack:
            p, pending = stack[-1]
            name = next(pending, None)
            if name is None:
                stack.pop()
                state[p.name] = "done"
                done.append(p)
            elif state.get(name) == "visiting":
                path = [q.name for q, _ in stack]
                raise GatingError(f"population {name!r}: cycle ({' -> '.join([*path, name])})")
            elif state.get(name) != "done":
                state[name] = "visiting"
                stack.append((by_name[name], iter(needs(by_name[name]))))
    return done


def order_populations(populations: Sequence[Population]) -> tuple[Population, ...]:
    """``populations`` with every parent, and every population a boolean gate combines, before
    the populations that need it (their given order kept where it already is so); GatingError
    for a cycle. Every name referred to must be among them."""
    return tuple(_order(list(populations)))


def population_masks(populations: Sequence[Population], data: Any, root: np.ndarray,
                     fitted: dict[str, Any] | None = None, path: Any = None) -> dict[str, np.ndarray]:
    """Each population's mask on ``data`` (a :class:`~.gates.GateData`; its ``masks`` filled in
    as they are found): the events of its parent's mask (``root`` for a population of
    :data:`ROOT`) that its gate holds, an automatic gate fitted to them first. The one path by
    which a tree of gates is applied, whatever it was read from (a strategy file,
    :func:`~.apply.apply_strategy`; a GatingML document or a FlowJo workspace,
    :func:`assaykit.interop.evaluate`).

    Parameters
    ----------
    populations : sequence of Population
        Parents (and populations a boolean gate combines) first: :func:`order_populations`.
    data : GateData
        The sample as the gates see it (display coordinates per dim).
    root : ndarray of bool
        The events a top-level population may hold.
    fitted : dict, optional
        Filled with each population's gate as applied (an automatic gate's fit).
    path : Path, optional
        The file named in a GatingError from fitting an automatic gate.
    """
    for population in populations:
        parent = data.masks[population.parent] if population.parent != ROOT else root
        gate = population.gate
        if hasattr(gate, "fit"):
            try:
                gate = gate.fit(data, parent)
            except GatingError as exc:
                raise GatingError(f"population {population.name!r}: {exc.message}", path) from None
        data.masks[population.name] = data.inside(gate) & parent
        if fitted is not None:
            fitted[population.name] = gate
    return {p.name: data.masks[p.name] for p in populations}


def parse_gate(spec: Any, strategy: Strategy, where: str) -> Any:
    """A gate written as in a strategy file (``spec``: a mapping with ``type`` or ``auto``, ``dims``
    naming ``strategy``'s markers, coordinates in scale values); GatingError naming ``where``."""
    gate = _gate(spec, strategy.markers, strategy.transforms, where)
    if isinstance(gate, BooleanGate):
        raise GatingError(f"{where}: a boolean gate cannot replace a population's gate")
    return gate


def replace_gate(strategy: Strategy, population: str, gate: Any, parent: str | None = None) -> Strategy:
    """``strategy`` with ``population``'s gate replaced by ``gate`` (and its parent by ``parent``
    when given: :data:`ROOT` for a gate that holds its own ancestry); GatingError for an unknown
    population."""
    if population not in {p.name for p in strategy.populations}:
        raise GatingError(f"no population {population!r} in the strategy "
                          f"(populations: {', '.join(p.name for p in strategy.populations)})")
    populations = tuple(Population(p.name, p.parent if parent is None else parent, gate) if p.name == population
                        else p for p in strategy.populations)
    return replace(strategy, populations=populations)


DEFAULT_STRATEGY = "monocyte-hladr"  # a shipped strategy (the repository's gating/ folder)


def load_strategy(path: str | os.PathLike[str] | None = None) -> Strategy:
    """Load a strategy: ``path`` is a YAML file or the name of a shipped strategy (``assaykit
    strategy show`` lists them); None loads the default, ``monocyte-hladr``."""
    from .._io.config import read_config

    config = read_config(DEFAULT_STRATEGY if path is None else path, folder="", error=GatingError,
                         what="strategy file")
    return replace(parse_strategy(config.doc, config.source), sha256=config.sha256)
