"""Gating strategies as data (YAML, docs/gating-strategy.md): loading and validation.
Applying a strategy to a sample is :mod:`.apply`."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .._io.validate import InvalidError, boolean, build, checking, invalid, items, known, mapping, shown, text
from .._io.validate import field as required
from ..errors import GatingError
from ..fcs.channels import Marker
from .autogates import AUTO_METHODS, SingletGate
from .gates import GATE_TYPES, BooleanGate
from .specimen import check_specimen
from .transforms import KINDS, Transform

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
    title: str = ""  # one line saying what it is for (``assaykit strategy list``)

    def identity(self) -> dict[str, str]:
        """What names this strategy in a result (``gate --json``, the manifest): its ``name``,
        where it was read from (``path``: a file's path, or ``shipped:<name>``) and the sha256 of
        the file's bytes; a lab's edited copy of a shipped strategy differs in both."""
        return {"name": self.name, "path": self.source, "sha256": self.sha256}

    @property
    def singlets(self) -> str | None:
        """The population that holds the singlets (the doublet check runs on it), or None."""
        return self.roles.get("singlets")


# --- loading -----------------------------------------------------------------------------------

#: The keys each mapping of a strategy file may hold (anything else is refused: most often a typo,
#: which would otherwise change the results silently). A gate's keys are its class's (``keys``).
STRATEGY_KEYS = ("name", "title", "markers", "populations", "readout", "qc", "specimen")
MARKER_KEYS = ("aliases", "synonyms", "optional", "transform")
POPULATION_KEYS = ("name", "parent", "gate", "role")
READOUT_KEYS = ("population", "marker", "statistic")


def _transform(spec: Any, where: str) -> Transform:
    """A marker's ``transform:``: a kind's name, or a mapping of ``kind`` and its numbers."""
    if spec is None:
        return Transform()
    if isinstance(spec, str):
        spec = {"kind": spec}
    if not isinstance(spec, dict):
        raise invalid(where, f"expected a transform name ({', '.join(KINDS)}) or a mapping, got {shown(spec)}")
    return build(Transform, spec, where)  # unknown keys, a kind's name as text, each parameter a number


def _texts(value: Any, where: str) -> tuple[str, ...]:
    """A list of names (null: none)."""
    if value is None:
        return ()
    return tuple(text(v, f"{where}[{i}]") for i, v in enumerate(items(value, where)))


def _auto_gate(method: Any, dims: tuple[str, ...], spec: Mapping[str, Any], where: str) -> Any:
    """An automatic gate of class ``method`` with the typed options of ``spec``."""
    options = {k: v for k, v in spec.items() if k not in ("auto", "dims")}
    return build(method, options, where, fixed={"dims": dims})


def _gate(spec: Any, markers: Mapping[str, Marker], transforms: Mapping[str, Transform], where: str) -> Any:
    if not isinstance(spec, dict):
        raise GatingError(f"{where}: gate: expected a mapping, got {shown(spec)}")
    try:
        if "auto" in spec:
            kind = text(spec["auto"], f"{where}: auto")
        elif "type" in spec:
            kind = text(spec["type"], f"{where}: type")
        elif "op" in spec:
            kind = "boolean"
        else:
            raise invalid(where, "a gate needs type (a drawn gate) or auto (an automatic gate)")
        if kind == "boolean":
            known(spec, {"type", *BooleanGate.keys}, where)
            return BooleanGate(text(spec.get("op"), f"{where}: op"),
                               _texts(spec.get("populations"), f"{where}: populations"))
        dims = _texts(spec.get("dims"), f"{where}: dims")
        for d in dims:
            if d not in markers:
                raise invalid(where, f"unknown marker {d!r} (declare it under markers)")
        if "auto" in spec:
            if kind not in AUTO_METHODS:
                raise invalid(where, f"unknown automatic gate {kind!r} (one of {', '.join(AUTO_METHODS)})")
            needed = AUTO_METHODS[kind].n_dims
            if getattr(AUTO_METHODS[kind], "variadic", False):  # at least n_dims (non_granulocytes: its markers)
                if len(dims) < needed:
                    raise invalid(where, f"automatic gate {kind!r} needs at least {needed} dims")
            elif len(dims) != needed:
                raise invalid(where, f"automatic gate {kind!r} needs {needed} dims")
            return _auto_gate(AUTO_METHODS[kind], dims, spec, where)
        if kind not in GATE_TYPES:
            raise invalid(where, f"unknown gate type {kind!r} (one of {', '.join(GATE_TYPES)}, boolean)")
        gate_type = GATE_TYPES[kind]
        known(spec, {"type", "dims", *gate_type.keys}, where)
        if len(dims) != gate_type.n_dims:
            raise invalid(where, f"a {kind} gate needs {gate_type.n_dims} dim(s)")
        fixed = gate_type.from_spec(dims, spec, where)
        fixed.build([transforms[d] for d in dims])  # geometry checked now, placed per file
        return fixed
    except InvalidError as exc:  # this function's checks, known keys and typed options: the text names where
        raise GatingError(str(exc)) from None
    except GatingError as exc:  # a gate's own consistency check (its constructor): where is added here
        raise GatingError(f"{where}: {exc.message}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise GatingError(f"{where}: bad gate geometry ({exc})") from None


def _markers(doc: Any) -> tuple[dict[str, Marker], dict[str, Transform], set[str]]:
    """``markers:``: each marker's names in files, its transform, and the optional ones."""
    markers: dict[str, Marker] = {}
    transforms: dict[str, Transform] = {}
    optional: set[str] = set()
    for name, spec in mapping(doc, "markers", optional=True).items():
        where = f"markers.{name}"
        spec = mapping(spec, where, optional=True)
        known(spec, MARKER_KEYS, where)
        if boolean(spec.get("optional", False), f"{where}.optional"):
            optional.add(str(name))
        markers[str(name)] = Marker(name=str(name), aliases=_texts(spec.get("aliases"), f"{where}.aliases"),
                                    synonyms=_texts(spec.get("synonyms"), f"{where}.synonyms"))
        transforms[str(name)] = _transform(spec.get("transform"), f"{where}.transform")
    return markers, transforms, optional


def _readout(doc: Any, names: Collection[str], markers: Collection[str], last: str) -> Readout:
    """``readout:`` (its population defaults to ``last``, the last population gated)."""
    if doc is None:
        raise invalid("readout", "missing (the population and marker measured, e.g. "
                                 "{population: monocytes, marker: HLA-DR})")
    doc = mapping(doc, "readout")
    known(doc, READOUT_KEYS, "readout")
    population = text(doc.get("population", last), "readout.population")
    marker = text(required(doc, "marker", "readout"), "readout.marker")
    statistic = text(doc.get("statistic", "median"), "readout.statistic")
    if population not in names:
        raise invalid("readout", f"unknown population {population!r}")
    if marker not in markers:
        raise invalid("readout", f"unknown marker {marker!r}")
    if statistic not in STATISTICS:
        raise invalid("readout.statistic", f"expected one of {', '.join(STATISTICS)}, got {shown(statistic)}")
    return Readout(population, marker, statistic)


def parse_strategy(doc: Any, source: str = "") -> Strategy:
    """Build and validate a strategy from its parsed YAML document ``doc``; ``source`` (a path or
    ``shipped:<name>``) names it in errors and the manifest. Every mapping's keys are checked
    (an unknown key is refused) and every value's type: a problem is one line, ``FILE: WHERE: PROBLEM``."""
    try:
        with checking(GatingError, source or None):
            doc = mapping(doc, "")
            known(doc, STRATEGY_KEYS, "")
            name = text(doc.get("name", ""), "name")
            title = text(doc.get("title", ""), "title")
            markers, transforms, optional = _markers(doc.get("markers"))
            specs = items(doc.get("populations") or [], "populations")
            populations: list[Population] = []
            names: set[str] = set()
            roles: dict[str, str] = {}
            for i, spec in enumerate(specs):
                spec = mapping(spec, f"populations[{i}]")
                known(spec, POPULATION_KEYS, f"populations[{i}]")
                pop = text(required(spec, "name", f"populations[{i}]"), f"populations[{i}].name")
                where = f"population {pop!r}"
                if pop == ROOT:
                    raise invalid(where, f"the name {ROOT!r} is reserved (the parent of the top-level populations)")
                if pop in names:
                    raise invalid(where, "the name is used twice")
                names.add(pop)
                parent = text(spec.get("parent", ROOT), f"{where}: parent")
                gate = _gate(required(spec, "gate", where), markers, transforms, where)
                populations.append(Population(pop, parent, gate))
                if spec.get("role") is not None:
                    role = text(spec["role"], f"{where}: role")
                    if role not in ROLES:
                        raise invalid(where, f"unknown role {role!r} (one of {', '.join(ROLES)})")
                    if role in roles:
                        raise invalid(f"role {role!r}", f"given to two populations: {roles[role]!r} and {pop!r}")
                    roles[role] = pop
            if not populations:
                raise invalid("populations", "the strategy has no populations")
            for p in populations:
                if p.parent != ROOT and p.parent not in names:
                    raise invalid(f"population {p.name!r}", f"unknown parent {p.parent!r}")
                if isinstance(p.gate, BooleanGate):
                    for other in p.gate.populations:
                        if other not in names:
                            raise invalid(f"population {p.name!r}", f"boolean gate names unknown population {other!r}")
            ordered = _order(populations)
            readout = _readout(doc.get("readout"), names, markers, ordered[-1].name)
            qc = build(QCLimits, doc.get("qc"), "qc")
            try:
                specimen = check_specimen(doc.get("specimen"), "specimen")
            except ValueError as exc:
                raise InvalidError(str(exc)) from None
    except GatingError as exc:
        raise GatingError(exc.message, source or None) from None
    return Strategy(name=name, markers=markers, populations=tuple(ordered), readout=readout,
                    qc=qc, source=source, transforms=transforms, roles=_roles(roles, populations),
                    optional=frozenset(optional), specimen=specimen, title=title)


def _roles(declared: dict[str, str], populations: list[Population]) -> dict[str, str]:
    """Role -> population: declared with ``role:``, else inferred from the automatic gates."""
    roles = dict(declared)
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

    if path is not None:
        _refuse_xml(path)
    config = read_config(DEFAULT_STRATEGY if path is None else path, folder="", error=GatingError,
                         what="strategy file")
    return replace(parse_strategy(config.doc, config.source), sha256=config.sha256)


def _refuse_xml(path: str | os.PathLike[str]) -> None:
    """A GatingError for an XML file given as a strategy file (it would read as a YAML string),
    in any encoding (:func:`assaykit._io.read.document_kind`): what it is, and which command
    takes it."""
    from .._io.read import document_kind

    kind = document_kind(path)
    if kind is None:
        return  # not XML, not a regular file here, or a shipped name: read_config says which
    what = {"workspace": "a FlowJo workspace, which only `assaykit gate --strategy` applies",
            "gatingml": "a GatingML 2.0 document, which only `assaykit gate --strategy` applies"}.get(
        kind, "an XML file, but neither a GatingML 2.0 document nor a FlowJo workspace")
    raise GatingError(f"{what}; a strategy file is YAML (`assaykit docs gating-strategy`)",
                      os.fspath(path))
