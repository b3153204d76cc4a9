"""A review of a scored run (:func:`open_review`): the run read once, each tube re-measured by
the functions ``score`` uses, changes written as run.yaml ``gate_overrides:`` entries and every
action appended to the audit trail."""

from __future__ import annotations

import functools
import os
import threading
import time
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AssayKitError
from . import audit as audit_log
from .errors import HandWrittenError, ReviewError
from .lock import ReviewLock, acquire
from .names import name_problem
from .runyaml import KEY, RunYamlError, sha256, write_run_yaml

if TYPE_CHECKING:
    from ..fcs import Sample
    from ..scoring.overrides import TubeOverride
    from ..scoring.pipeline import BeadOutcome, RunInputs
    from ..scoring.tube import TubeResult


MAX_REASON = 500
PREVIEW_REASON = "previewed, not saved"
"""The reason a previewed gate's ``gate_set_by_hand`` finding shows (a change shows its own)."""


def reason_problem(reason: str) -> str:
    """Why ``reason`` cannot justify a change ("" when it can): 1 to 500 characters of visible
    text (after trimming) with a letter or digit, no control or line-separator character.

    Parameters
    ----------
    reason : str
        The reason as given.
    """
    text = " ".join(reason.split())
    if not 1 <= len(text) <= MAX_REASON:
        return f"a reason is required (1 to {MAX_REASON} characters)"
    if any(unicodedata.category(c)[0] == "C" for c in text):
        return "the reason holds invisible or control characters; write it in plain text"
    if not any(c.isalnum() for c in text):
        return "the reason must say why, in words"
    return ""


@dataclass(frozen=True)
class Tube:
    """One blood tube of the run as the review shows it: its ``key`` (the well, or the file name
    when the plate map gives no well: the run.yaml key and the id the app uses), ``file``,
    ``well``, ``patient``, ``timepoint``, ``condition``, ``role`` and its run.yaml entry
    (``entry``, None when none; ``hand_written``: an entry not written by a review)."""

    key: str
    file: str
    well: str
    patient: str
    timepoint: str
    condition: str
    role: str
    entry: Mapping[str, Any] | None = None
    hand_written: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The tube as JSON-ready values."""
        return {"key": self.key, "file": self.file, "well": self.well, "patient": self.patient,
                "timepoint": self.timepoint, "condition": self.condition, "role": self.role,
                "entry": None if self.entry is None else dict(self.entry), "hand_written": self.hand_written}


@dataclass(frozen=True)
class Remeasured:
    """A tube re-measured with a gate (or excluded), and what follows for its patient: the tube's
    ``row`` (its samples.csv row: events, monocytes, MFI, AB/C in molecules per cell, verdict
    and reasons), the ``restoration`` rows (fold changes, states, responders) and the ``patient``
    row (state, ImmunoSep class) of its patient's time point, the ``gate`` used (type, dims,
    vertices in scale values; None for the automatic gate), and ``seconds`` taken."""

    tube: str
    row: Mapping[str, Any]
    restoration: tuple[Mapping[str, Any], ...]
    patient: Mapping[str, Any] | None
    gate: Mapping[str, Any] | None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (NaN as None)."""
        return _plain({"tube": self.tube, "row": dict(self.row), "restoration": [dict(r) for r in self.restoration],
                       "patient": None if self.patient is None else dict(self.patient),
                       "gate": None if self.gate is None else dict(self.gate), "seconds": round(self.seconds, 4)})


def _plain(value: Any) -> Any:
    import math

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        return _plain(value.item())
    return value


@dataclass
class _State:
    """What a review holds between actions (mutable, private)."""

    inputs: RunInputs
    beads: BeadOutcome
    outcomes: dict[Path, TubeResult]
    yaml_sha256: str
    entries: dict[str, Any]
    samples: dict[Path, Sample] = field(default_factory=dict)
    transforms: dict[Path, tuple[Any, Any]] = field(default_factory=dict)
    seen: Mapping[Path, tuple[Any, str]] = field(default_factory=dict)  # input -> (stat key, SHA-256) as read
    fcs: tuple[str, ...] = ()  # the run folder's FCS file names as read


def _serial(method: Callable[..., Any]) -> Callable[..., Any]:
    """One action of a review at a time (a web server's threads share one Review)."""

    @functools.wraps(method)
    def serialised(self: Review, *args: Any, **kwargs: Any) -> Any:
        with self._mutex:
            return method(self, *args, **kwargs)

    return serialised


class Review:
    """An open review of a scored run (made by :func:`open_review`; :meth:`close` ends it). The
    run folder's review lock is held until then. ``reviewer``: who acts (may be set later, before
    the first change; every action needs a name)."""

    def __init__(self, out_dir: Path, run_dir: Path, reviewer: str, lock: ReviewLock, state: _State) -> None:
        self.out_dir = out_dir
        self.run_dir = run_dir
        self.reviewer = reviewer
        self._lock: ReviewLock | None = lock
        self._state = state
        self._mutex = threading.RLock()
        self.ledger_problem = ""  # why the last audit entry could not be copied to the ledger ("" when it was)
        self._audited: dict[int, dict[str, Any]] | None = None  # audit entries by seq (read once, kept current)
        self._viewed: list[str] = []  # the tubes whose view was opened in this session (keys, in order)
        self.read_only = ""  # why changes cannot be recorded (run.yaml read-only, hard-linked): "" when they can
        self.notes: tuple[str, ...] = ()  # what the review found at open, for the reviewer (said by the server)

    # --- reading ---------------------------------------------------------------------------------

    @property
    def run_yaml(self) -> Path:
        """The run folder's run.yaml (written only as ``gate_overrides:`` entries)."""
        return self.run_dir / "run.yaml"

    @property
    def audit_path(self) -> Path:
        """The output folder's audit.jsonl."""
        return self.out_dir / audit_log.AUDIT

    @_serial
    def tubes(self) -> list[Tube]:
        """The run's blood tubes (samples, isotype and control bloods), in plate-map order."""
        from ..scoring.platemap import BLOOD_ROLES

        out = []
        for a in self._state.inputs.assignments:
            if a.row.role not in BLOOD_ROLES:
                continue
            key = a.row.well or a.path.name
            entry = self._entry(key, a.path.name)
            out.append(Tube(key=key, file=a.path.name, well=a.row.well, patient=a.row.patient,
                            timepoint=a.row.timepoint, condition=a.row.condition, role=a.row.role,
                            entry=entry, hand_written=entry is not None and not self._written_by_review(key, entry)))
        return out

    def _written_by_review(self, key: str, entry: Mapping[str, Any]) -> bool:
        """Whether run.yaml's ``entry`` for tube ``key`` is one a review wrote: its ``reviewed:``
        names an audit entry of this output folder that changed or excluded this tube, by the same
        name (a hand-written ``reviewed:`` key is not enough)."""
        reviewed = entry.get("reviewed")
        if not isinstance(reviewed, Mapping) or not isinstance(reviewed.get("audit"), int):
            return False
        if self._audited is None:
            self._audited = {int(e["seq"]): e for e in audit_log.entries(self.audit_path)
                             if isinstance(e.get("seq"), int)}
        found = self._audited.get(reviewed["audit"])
        if found is None:
            return False
        return found.get("action") in ("change", "exclude") and \
            str(found.get("tube", "")).casefold() == key.casefold() and found.get("reviewer") == reviewed.get("by")

    def tube(self, key: str) -> Tube:
        """The blood tube ``key`` (a well or FCS file name, as :meth:`tubes` gives it); ReviewError
        when the run has none."""
        for t in self.tubes():
            if key in (t.key, t.file) or key.casefold() in (t.key.casefold(), t.file.casefold()):
                return t
        raise ReviewError(f"no blood tube {key[:80]!r} in this run", self.out_dir)

    def _entry(self, key: str, file: str) -> dict[str, Any] | None:
        for k, v in self._state.entries.items():
            if str(k).casefold() in (key.casefold(), file.casefold()):
                return dict(v) if isinstance(v, dict) else None
        return None

    def _entry_key(self, tube: Tube) -> str:
        for k in self._state.entries:
            if str(k).casefold() in (tube.key.casefold(), tube.file.casefold()):
                return str(k)
        return tube.key

    def _path(self, tube: Tube) -> Path:
        return next(a.path for a in self._state.inputs.assignments if a.path.name == tube.file)

    def _sample(self, path: Path) -> Sample:
        from ..fcs import read_fcs

        if path not in self._state.samples:
            self._state.samples[path] = read_fcs(path)
        return self._state.samples[path]

    @property
    def monocyte_dims(self) -> tuple[str, str]:
        """The markers of the readout (monocyte) population's gate: a polygon's two dims."""
        strategy = self._state.inputs.strategy
        population = next(p for p in strategy.populations if p.name == strategy.readout.population)
        from ..gating import gate_plot_dims

        dims = gate_plot_dims(population.gate)
        if len(dims) != 2:
            raise ReviewError(f"the readout population {population.name!r} is not gated on two markers; "
                              "its gate cannot be drawn as a polygon", self.out_dir)
        return dims[0], dims[1]

    @_serial
    def gate(self, key: str) -> dict[str, Any]:
        """The monocyte gate the tube ``key`` is measured with now, as a polygon in scale values
        (``{"type": "polygon", "dims": [x, y], "vertices": [[x, y], ...]}``; ``source``: "auto",
        "run.yaml", "workspace" (the automatic gate shown: a FlowJo population is not a polygon
        here) or "excluded"); the automatic gate's polygon is converted from the display axes by
        the markers' transforms (an ellipse or other shape: its outline)."""
        import numpy as np

        from ..gating import apply_strategy

        tube = self.tube(key)
        path = self._path(tube)
        state = self._state
        override = state.inputs.overrides.get(path)
        entry = tube.entry or {}
        if override is not None and not override.excluded and isinstance(entry.get("gate"), dict):
            return {**_plain(dict(entry["gate"])), "source": "run.yaml"}
        workspace = override is not None and not override.excluded  # a FlowJo workspace's population
        strategy = state.inputs.strategy
        result = apply_strategy(self._sample(path), strategy, _spillover(state.inputs, path.name))
        population = strategy.readout.population
        fitted = result.gates[population]
        doc = fitted.to_dict()
        dims = tuple(doc.get("dims") or self.monocyte_dims)
        if doc.get("type") == "polygon":
            display = np.asarray(doc["vertices"], dtype=float)
        else:  # an ellipse or another shape: its outline, as the gating figure draws it
            from ..gating import gating_panels

            panel = next(p for p in gating_panels(result) if p.population == population)
            display = np.asarray(panel.outlines[0], dtype=float)
        vertices = np.column_stack([result.frame.transform(d).inverse(display[:, i]) for i, d in enumerate(dims)])
        source = "excluded" if override is not None and override.excluded else "workspace" if workspace else "auto"
        return {"type": "polygon", "dims": list(dims), "vertices": _plain(vertices.tolist()), "source": source}

    @_serial
    def figure(self, key: str, polygon: Sequence[Sequence[float]] | None = None) -> dict[str, Any]:
        """The tube ``key``'s gating figure data as the reports draw it (each gating step a panel:
        binned events in display coordinates, the gate's outline, axis ticks in scale values; the
        readout histogram; :mod:`assaykit.scoring.figure_data`), with its current gate or with
        ``polygon`` as the monocyte gate. A tube whose gating fails (no ``polygon`` given): its
        panels up to the monocyte panel, that one showing the parent's events with no gate
        (``no_gate``: true, ``count`` None) so that a gate can be drawn, and ``problem``: why.

        Parameters
        ----------
        key : str
            The tube (well or file name).
        polygon : sequence of [x, y] or None
            A monocyte polygon in scale values (None: the tube's gate now).
        """
        import json

        from ..scoring.figure_data import tube_figure_json
        from ..scoring.tube import gate_tube

        tube = self.tube(key)
        path = self._path(tube)
        if polygon is not None:
            strategy = self._override(tube, {"reason": PREVIEW_REASON, "gate": self._polygon(polygon)}).strategy
        else:
            override = self._state.inputs.overrides.get(path)
            strategy = override.strategy if override is not None else self._state.inputs.strategy
        try:
            gated = gate_tube(self._sample(path), strategy, compensation=self._state.inputs.options.compensation)
        except AssayKitError as error:
            if polygon is not None:
                raise ReviewError(f"{tube.file}: {error.message}", self.out_dir) from None
            return self._figure_without_gate(tube, f"{tube.file}: {error.message}")
        doc: dict[str, Any] = json.loads(tube_figure_json(gated.result, gated.values))
        return doc

    def _figure_without_gate(self, tube: Tube, problem: str) -> dict[str, Any]:
        """The figure of a tube whose gating fails: its panels up to the readout (monocyte) panel,
        which shows the parent's events with no gate (``count`` None, no outline: a gate is drawn
        there by hand), and ``problem`` (why it failed). ReviewError when even that cannot be drawn
        (a step before the monocytes fails)."""
        import json

        from ..scoring.figure_data import tube_figure_json
        from ..scoring.tube import gate_tube

        span = 1e15  # every event inside: the panel of the monocytes' parent, binned as the reports bin it
        everything = [[-span, -span], [span, -span], [span, span], [-span, span]]
        strategy = self._override(tube, {"reason": PREVIEW_REASON, "gate": self._polygon(everything)}).strategy
        try:
            gated = gate_tube(self._sample(self._path(tube)), strategy,
                              compensation=self._state.inputs.options.compensation)
        except AssayKitError:
            raise ReviewError(problem, self.out_dir) from None
        doc: dict[str, Any] = json.loads(tube_figure_json(gated.result, gated.values))
        panels = []
        for panel in doc.get("panels") or []:
            if panel.get("population") == self.readout_population:
                panels.append({**panel, "outlines": [], "bounds": [], "count": None, "percent_of_parent": None,
                               "no_gate": True})
                break
            panels.append(panel)
        return {"panels": panels, "problem": problem}

    @_serial
    def plate(self) -> list[dict[str, Any]]:
        """Every row of samples.csv as the run stands in this review (its changes included, nothing
        written): file, well, patient, condition, AB/C, verdict and reasons, QC flags ..."""
        from ..scoring.pipeline import PhaseTimer, finish_run

        state = self._state
        result = finish_run(state.inputs, state.beads, state.outcomes, PhaseTimer(), write=False)
        rows: list[dict[str, Any]] = _plain(result.samples.to_dict("records"))
        return rows

    @property
    def readout_population(self) -> str:
        """The population whose gate the review changes (the strategy's readout: the monocytes)."""
        return str(self._state.inputs.strategy.readout.population)

    def transforms(self, key: str) -> tuple[Any, Any]:
        """The display transforms (:class:`assaykit.gating.Transform`, resolved for this tube's
        file) of :attr:`monocyte_dims`: what maps a polygon drawn on the gate's panel of
        :meth:`figure` (display coordinates) to scale values (``inverse``) and back (``forward``).

        Parameters
        ----------
        key : str
            The tube (well or file name).
        """
        from ..gating import GatingFrame

        path = self._path(self.tube(key))
        cache = self._state.transforms
        if path not in cache:
            inputs = self._state.inputs
            frame = GatingFrame(self._sample(path), inputs.strategy, _spillover(inputs, path.name))
            cache[path] = (frame.transform(self.monocyte_dims[0]), frame.transform(self.monocyte_dims[1]))
        return cache[path]

    def signatures(self) -> list[dict[str, Any]]:
        """The run's signatures (signatures.json), superseded ones included (``status``)."""
        from .signatures import read_signatures

        return read_signatures(self.out_dir)

    # --- re-measuring ----------------------------------------------------------------------------

    def _override(self, tube: Tube, spec: Mapping[str, Any]) -> TubeOverride:
        from ..scoring.overrides import parse_overrides, resolve_overrides

        try:
            parsed = parse_overrides({tube.key: dict(spec)}, self.run_dir, self.run_yaml)
            path = self._path(tube)
            assignment = [a for a in self._state.inputs.assignments if a.path == path]
            return resolve_overrides(parsed, assignment, self._state.inputs.strategy, self.run_yaml)[path]
        except AssayKitError as error:
            raise ReviewError(error.message, self.run_yaml) from None

    def _remeasure(self, tube: Tube, override: TubeOverride | None, gate: Mapping[str, Any] | None
                   ) -> tuple[Remeasured, dict[Path, TubeResult], RunInputs]:
        """The tube measured with ``override`` (None: the run's strategy), and the run's rows
        rebuilt by ``score``'s own functions (:func:`assaykit.scoring.pipeline.finish_run`,
        nothing written)."""
        from ..scoring.pipeline import PhaseTimer, finish_run
        from ..scoring.tube import measure_tube

        state = self._state
        path = self._path(tube)
        inputs = state.inputs
        overrides = dict(inputs.overrides)
        if override is None:
            overrides.pop(path, None)
        else:
            overrides[path] = override
        inputs = replace(inputs, overrides=overrides)
        strategy = override.strategy if override is not None else inputs.strategy
        outcome = measure_tube(path, strategy, figure=False, compensation=inputs.options.compensation,
                               sample=self._sample(path))
        outcomes = {**state.outcomes, path: outcome}
        result = finish_run(inputs, state.beads, outcomes, PhaseTimer(), write=False)
        return self._view(tube, result, gate), outcomes, inputs

    def _view(self, tube: Tube, result: Any, gate: Mapping[str, Any] | None) -> Remeasured:
        samples = result.samples.to_dict("records")
        row = next(r for r in samples if r["file"] == tube.file)
        restoration = tuple(r for r in result.restoration.to_dict("records")
                            if r["patient"] == tube.patient and r["timepoint"] == tube.timepoint)
        patient = next((r for r in result.patients.to_dict("records")
                        if r["patient"] == tube.patient and r["timepoint"] == tube.timepoint), None)
        return Remeasured(tube=tube.key, row=_plain(row), restoration=tuple(_plain(r) for r in restoration),
                          patient=_plain(patient) if patient is not None else None,
                          gate=None if gate is None else _plain(dict(gate)))

    @_serial
    def measure(self, key: str) -> Remeasured:
        """The tube ``key`` as it is measured now (its current gate or exclusion), with its
        patient's rows."""
        tube = self.tube(key)
        override = self._state.inputs.overrides.get(self._path(tube))
        gate = (tube.entry or {}).get("gate") if override is not None and not override.excluded else None
        started = time.perf_counter()
        view, _, _ = self._remeasure(tube, override, gate)
        return replace(view, seconds=time.perf_counter() - started)

    @_serial
    def preview(self, key: str, polygon: Sequence[Sequence[float]]) -> Remeasured:
        """The tube ``key`` re-measured with the monocyte gate ``polygon`` (vertices ``[x, y]`` in
        scale values on :attr:`monocyte_dims`), and its patient's fold changes, states and class;
        nothing is written.

        Parameters
        ----------
        key : str
            The tube (well or file name).
        polygon : sequence of [x, y]
            At least 3 vertices, scale values.
        """
        tube = self.tube(key)
        gate = self._polygon(polygon)
        started = time.perf_counter()
        override = self._override(tube, {"reason": PREVIEW_REASON, "gate": gate})
        view, _, _ = self._remeasure(tube, override, gate)
        return replace(view, seconds=time.perf_counter() - started)

    def _polygon(self, polygon: Sequence[Sequence[float]]) -> dict[str, Any]:
        import math

        try:
            vertices = [[float(x), float(y)] for x, y in polygon]
        except (TypeError, ValueError):
            raise ReviewError("a polygon is a list of [x, y] vertices (numbers)", self.out_dir) from None
        if not 3 <= len(vertices) <= 1000 or not all(math.isfinite(v) for pair in vertices for v in pair):
            raise ReviewError("a polygon needs 3 to 1000 vertices of finite numbers", self.out_dir)
        return {"type": "polygon", "dims": list(self.monocyte_dims), "vertices": vertices}

    # --- views -----------------------------------------------------------------------------------

    @_serial
    def view(self, key: str) -> bool:
        """Record that the tube ``key``'s view (its gating panels and values) was opened: audit
        entry "view" (tube, file), once per tube in this review session (a redraw or a second
        opening adds nothing). True when recorded now, False when the tube was viewed already.

        Parameters
        ----------
        key : str
            The tube (well or file name).
        """
        self._need_open()
        return self._record_view(self.tube(key))

    def _record_view(self, tube: Tube) -> bool:
        if tube.key in self._viewed:
            return False
        self._audit("view", " ".join((self.reviewer or "").split()), tube=tube.key, file=tube.file)
        self._viewed.append(tube.key)
        return True

    @_serial
    def viewed(self) -> dict[str, Any]:
        """Which of the run's blood tubes were viewed in this review session (:meth:`view`), as a
        "reviewed" signature records it: ``tubes_viewed`` (how many), ``tubes_total`` (how many
        blood tubes the plate has), ``tubes_not_viewed`` (their keys, plate-map order)."""
        keys = [t.key for t in self.tubes()]
        seen = set(self._viewed)
        return {"tubes_viewed": sum(k in seen for k in keys), "tubes_total": len(keys),
                "tubes_not_viewed": [k for k in keys if k not in seen]}

    # --- changes ---------------------------------------------------------------------------------

    def _need_name(self) -> str:
        name = " ".join((self.reviewer or "").split())
        problem = name_problem(name)
        if problem:
            raise ReviewError(problem, self.out_dir)
        return name

    @_serial
    def set_reviewer(self, name: str) -> str:
        """Name the reviewer of a review opened without one (:func:`name_problem`'s rule);
        recorded in the audit (action "reviewer"). ReviewError when a name is set already or
        ``name`` is not a plain name. Returns the name as kept.

        Parameters
        ----------
        name : str
            The reviewer's name.
        """
        self._need_open()
        problem = name_problem(name)
        if problem:
            raise ReviewError(problem, self.out_dir)
        if self.reviewer:
            raise ReviewError("the reviewer's name is already set", self.out_dir)
        self.reviewer = " ".join(name.split())
        self._audit("reviewer", self.reviewer)
        return self.reviewer

    def _need_open(self) -> None:
        if self._lock is None:
            raise ReviewError("the review is closed", self.out_dir)

    def check_inputs(self) -> None:
        """Refuse (one line naming the file: reload the review) when any input the review read
        changed on disk since: run.yaml (:meth:`_read_yaml`), the plate map, strategy, bead lot,
        clinical file, compensation, QC targets and every FCS file of the run folder (one added
        or removed too). Called before every write (change, exclusion, acceptance, signature):
        nothing is recorded or signed over inputs the reviewer did not see."""
        from ..scoring.pipeline import run_files

        self._read_yaml()
        for path, (key, digest) in self._state.seen.items():
            if _stat_key(path) != key and _digest(path) != digest:
                raise ReviewError(f"{path.name} changed on disk since the review read it; reload the review (close "
                                  "it and run `assaykit review` again) to see it before anything is recorded", path)
        names = tuple(p.name for p in run_files(self.run_dir))
        if names != self._state.fcs:
            added = sorted(set(names) - set(self._state.fcs)) or sorted(set(self._state.fcs) - set(names))
            raise ReviewError(f"the run folder's FCS files changed since the review read them ({added[0]}"
                              f"{' ...' if len(added) > 1 else ''} added or removed); reload the review",
                              self.run_dir / added[0] if added else self.run_dir)

    def stale(self) -> str:
        """Why the output folder's tables are not what ``score`` makes of run.yaml as the review
        holds it ("" when they are): run.yaml's gate overrides (a hand-written entry added after
        scoring, a review killed between writing run.yaml and its audit entry, a change of this
        review) are not the ones the manifest records. Signing such a run re-scores it (a new
        version when it was signed) rather than signing the stale tables."""
        from ..scoring.overrides import resolve_overrides
        from ..scoring.pipeline import resolve_options
        from ..scoring.tables import read_manifest

        inputs = self._state.inputs  # run.yaml read anew from disk, as score reads it (its entries as written)
        overrides = resolve_overrides(resolve_options(self.run_dir, {}).gate_overrides, inputs.assignments,
                                      inputs.strategy, self.run_yaml)
        now = {a.path.name: overrides[a.path].to_dict(a.path.name, a.row.well)
               for a in inputs.assignments if a.path in overrides}
        recorded = read_manifest(self.out_dir).get("gate_overrides")
        scored = {str(o.get("file")): o for o in recorded if isinstance(o, dict)} if isinstance(recorded, list) else {}
        differ = sorted(f for f in set(now) | set(scored) if _normal(now.get(f)) != _normal(scored.get(f)))
        if not differ:
            return ""
        return (f"run.yaml's gate overrides are not the ones the outputs were scored with ({', '.join(differ[:3])}"
                f"{' ...' if len(differ) > 3 else ''}): the tables shown are measured from run.yaml; signing "
                "scores the run again")

    @_serial
    def change_gate(self, key: str, polygon: Sequence[Sequence[float]], reason: str, *,
                    replace_hand_written: bool = False) -> Remeasured:
        """Set the monocyte gate of tube ``key`` to ``polygon``: re-measured, written as its
        run.yaml ``gate_overrides:`` entry (with ``reviewed: {by, at, audit}``) and recorded in the
        audit (before and after gate, reason, run.yaml's SHA-256 before and after). A signed run
        first gets a new version (:func:`assaykit.review.signatures.supersede_if_signed`).

        Parameters
        ----------
        key : str
            The tube (well or file name).
        polygon : sequence of [x, y]
            At least 3 vertices, scale values on :attr:`monocyte_dims`.
        reason : str
            Why (1 to 500 characters).
        replace_hand_written : bool
            Confirmed: a hand-written entry for the tube is replaced (else HandWrittenError is raised).
        """
        gate = self._polygon(polygon)
        return self._change(key, "change", {"gate": gate}, reason, replace_hand_written, gate)

    @_serial
    def exclude(self, key: str, reason: str, *, replace_hand_written: bool = False) -> Remeasured:
        """Exclude tube ``key``: written as ``exclude: true`` in its run.yaml entry; the tube is
        withheld (finding ``excluded_by_reviewer``) in every table, page and the ledger.

        Parameters
        ----------
        key : str
            The tube (well or file name).
        reason : str
            Why (1 to 500 characters).
        replace_hand_written : bool
            Confirmed: a hand-written entry for the tube is replaced.
        """
        return self._change(key, "exclude", {"exclude": True}, reason, replace_hand_written, None)

    @_serial
    def accept(self, key: str) -> Remeasured:
        """Accept tube ``key`` as it is gated now (its automatic gate, or its run.yaml entry):
        recorded in the audit with the gate accepted; nothing else is written.

        Parameters
        ----------
        key : str
            The tube (well or file name).
        """
        self._need_open()
        name = self._need_name()
        self.check_inputs()
        tube = self.tube(key)
        gate, problem = self._gate_now(key)
        if gate is None:
            raise ReviewError(f"tube {tube.key} has no gate to accept ({problem}); draw one by hand or exclude "
                              "the tube", self.out_dir)
        view = self.measure(key)
        self._audit("accept", name, tube=tube.key, file=tube.file, well=tube.well, gate=gate,
                    abc=view.row.get("hladr_abc"), verdict=view.row.get("verdict"))
        return view

    @_serial
    def revert(self, key: str, reason: str, *, replace_hand_written: bool = False) -> Remeasured:
        """Undo a change or an exclusion of tube ``key``: its run.yaml ``gate_overrides:`` entry
        removed (every other byte of run.yaml kept), the tube gated automatically and included
        again, recorded in the audit (action "revert", the entry as it stood in ``before``). A
        signed run first gets a new version, as for a change. ReviewError when the tube has no
        entry.

        Parameters
        ----------
        key : str
            The tube (well or file name).
        reason : str
            Why (1 to 500 characters).
        replace_hand_written : bool
            Confirmed: a hand-written entry for the tube is removed (else HandWrittenError is raised).
        """
        return self._change(key, "revert", None, reason, replace_hand_written, None)

    def _gate_now(self, key: str) -> tuple[dict[str, Any] | None, str]:
        """(the tube's gate now as :meth:`gate` gives it, "") or (None, why) when its automatic
        gating fails (a failed tube can still be excluded or gated by hand)."""
        try:
            return self.gate(key), ""
        except AssayKitError as error:
            return None, error.message

    @_serial
    def accepted(self) -> list[str]:
        """The tubes (keys) whose gate, as it stands now, a review accepted: the last audit entry
        that acted on the tube ("accept", "change", "exclude" or "revert", in this session or an
        earlier one of this output folder) is an "accept"."""
        last: dict[str, str] = {}
        for entry in audit_log.entries(self.audit_path):
            if entry.get("action") in ("accept", *audit_log.CHANGES) and isinstance(entry.get("file"), str):
                last[entry["file"]] = str(entry["action"])
        return [t.key for t in self.tubes() if last.get(t.file) == "accept"]

    def _change(self, key: str, action: str, spec: dict[str, Any] | None, reason: str, replace_hand_written: bool,
                gate: Mapping[str, Any] | None) -> Remeasured:
        """Write tube ``key``'s run.yaml entry as ``{"reason": reason, **spec}`` (``spec`` None: the
        entry removed, the tube gated automatically again) and record ``action`` in the audit."""
        from .runyaml import check_edit, set_entry, unwritable
        from .signatures import supersede_if_signed

        self._need_open()
        name = self._need_name()
        problem = reason_problem(reason)
        if problem:
            raise ReviewError(problem, self.out_dir)
        problem = unwritable(self.run_yaml)  # at open (the review read-only) and now
        if problem:
            raise RunYamlError(problem, self.run_yaml)
        self.check_inputs()
        typed, reason = reason, " ".join(reason.split())  # run.yaml and the tables: one line; the audit: as typed too
        tube = self.tube(key)
        if spec is None and tube.entry is None:
            raise ReviewError(f"tube {tube.key} has no gate override in run.yaml: it is gated automatically already",
                              self.out_dir)
        if tube.hand_written and not replace_hand_written:
            raise HandWrittenError(f"tube {tube.key} has a gate override written by hand in run.yaml; confirm to "
                              "replace it", self.run_yaml)
        current, gate_problem = self._gate_now(key)  # a tube whose automatic gating fails has none
        before = {"entry": tube.entry, "gate": current, "gate_problem": gate_problem or None}
        unchanged = _unchanged(tube.entry, spec, reason, current)
        if unchanged:
            raise ReviewError(f"tube {tube.key}: {unchanged}; nothing written", self.out_dir)
        override = None if spec is None else self._override(tube, {"reason": reason, **spec})
        started = time.perf_counter()
        view, outcomes, inputs = self._remeasure(tube, override, gate)
        text, old_sha = self._read_yaml()
        entry_key = self._entry_key(tube)

        def planned(seq: int) -> tuple[dict[str, Any] | None, bytes]:
            value = None if spec is None else \
                {"reason": reason, **spec, "reviewed": {"by": name, "at": audit_log.utc_now(), "audit": seq}}
            edit = set_entry(text, entry_key, value, self.run_yaml)
            check_edit(text, edit.text, entry_key, value, self.run_yaml)
            if edit.replaced:
                before["text"] = edit.replaced  # the entry as it stood, comments included
            return value, edit.text.encode("utf-8")

        seq = audit_log.head(self.audit_path)[0] + 1
        value, new = planned(seq)  # refused here, before anything is written, when run.yaml cannot be edited
        # run.yaml first: a write that fails leaves no audit entry and no superseded signature behind;
        # an audit entry that cannot be appended puts run.yaml back as it was
        write_run_yaml(self.run_yaml, text.encode("utf-8"), new)
        try:
            written = self._audit(action, name, tube=tube.key, file=tube.file, well=tube.well, before=before,
                                  after={"entry": value, "gate": gate}, reason=reason,
                                  reason_as_typed=typed if typed != reason else None, run_yaml_before=old_sha,
                                  run_yaml_after=sha256(new), replaced_hand_written=tube.hand_written or None,
                                  abc=view.row.get("hladr_abc"), verdict=view.row.get("verdict"))
        except BaseException:
            write_run_yaml(self.run_yaml, new, text.encode("utf-8"))
            raise
        if written["seq"] != seq:
            raise ReviewError(f"the audit trail moved under the review (entry {written['seq']}, expected {seq})",
                              self.audit_path)
        state = self._state
        state.yaml_sha256 = sha256(new)
        state.entries = {k: v for k, v in state.entries.items() if str(k) != entry_key}
        if value is not None:
            state.entries[entry_key] = value
        state.inputs, state.outcomes = inputs, outcomes
        supersede_if_signed(self, name)  # a signed run: its signed tables kept as a version, the signatures marked
        return replace(view, seconds=time.perf_counter() - started)

    def _read_yaml(self) -> tuple[str, str]:
        from .._io.read import read_input

        data = read_input(self.run_yaml, RunYamlError, "run.yaml", 1 << 20) if self.run_yaml.exists() else b""
        if sha256(data) != self._state.yaml_sha256:
            from .runyaml import CHANGED_ON_DISK

            raise RunYamlError(CHANGED_ON_DISK, self.run_yaml)
        try:
            return data.decode("utf-8"), sha256(data)
        except UnicodeDecodeError:
            raise RunYamlError("run.yaml is not UTF-8 text; the review cannot edit it", self.run_yaml) from None

    def _audit(self, action: str, reviewer: str, **fields: Any) -> dict[str, Any]:
        """Append an audit entry (and copy it to the ledger: a ledger fault is kept in
        :attr:`ledger_problem`, never lost from the file)."""
        from .ledger_copy import copy_entry, missed_entries

        missed = missed_entries(self)  # entries a ledger fault kept out: recorded, so verify can tell them
        entry = audit_log.append(self.audit_path, action=action, reviewer=reviewer,  # type: ignore[arg-type]
                                 **{k: _plain(v) for k, v in {**fields, "ledger_missed": missed or None}.items()})
        self._audited = None  # read again when asked
        self.ledger_problem = copy_entry(self, entry)
        return entry

    @_serial
    def sign(self, meaning: str, name: str | None = None) -> Any:
        """Sign the run (:func:`assaykit.review.signatures.sign`): ``meaning`` "reviewed" or
        "approved", by ``name`` (default: the reviewer).

        Parameters
        ----------
        meaning : str
            "reviewed" or "approved".
        name : str or None
            Who signs (None: :attr:`reviewer`).
        """
        from .signatures import sign

        self._need_open()
        return sign(self, meaning, name if name is not None else self._need_name())

    @_serial
    def close(self) -> str:
        """End the review: when it changed the run since the outputs were scored, the run scored
        again into the output folder as signing does
        (:func:`assaykit.review.signatures.rescore_reviewed`); audit "close", the lock released
        (twice is harmless). Returns the one line saying what was scored ("" when nothing was)."""
        if self._lock is None:
            return ""
        from .signatures import rescore_reviewed

        try:
            said = rescore_reviewed(self)
            self._audit("close", " ".join((self.reviewer or "").split()))
        finally:
            self._lock.release()
            self._lock = None
        return said

    def __enter__(self) -> Review:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _unchanged(entry: Mapping[str, Any] | None, spec: Mapping[str, Any] | None, reason: str,
               gate: Mapping[str, Any] | None) -> str:
    """Why writing ``spec`` with ``reason`` over the tube's run.yaml ``entry`` (its gate now:
    ``gate``) would change nothing ("" when it would): the same exclusion with the same reason,
    or a polygon the tube is gated with already."""
    if spec is None:
        return ""
    if spec.get("exclude") is True:
        if entry is not None and entry.get("exclude") is True and \
                " ".join(str(entry.get("reason", "")).split()) == reason:
            return "it is excluded already, for this reason"
        return ""
    new = spec.get("gate")
    if isinstance(new, Mapping) and isinstance(gate, Mapping) and (entry is None or not entry.get("exclude")):
        def points(g: Mapping[str, Any]) -> list[list[float]]:
            vertices = [[float(x), float(y)] for x, y in g.get("vertices") or []]
            if len(vertices) > 3 and vertices[0] == vertices[-1]:
                vertices.pop()
            return vertices

        if list(new.get("dims") or []) == list(gate.get("dims") or []) and points(new) == points(gate):
            return "the polygon is the gate the tube has already"
    return ""


def _spillover(inputs: RunInputs, file: str) -> Any:
    if inputs.options.compensation is None:
        return "file"
    from ..fcs.compensation import read_compensation

    return read_compensation(inputs.options.compensation, file)


def open_review(out_dir: str | os.PathLike[str], *, reviewer: str | None = None) -> Review:
    """Open the review of the scored run in ``out_dir``: its manifest names the run folder, whose
    run.yaml, plate map, strategy and bead lot are read (as ``score`` reads them); the bead tube
    calibrated and every blood tube measured once; the run folder's review lock taken (ReviewBusy
    naming the holder when another review holds it; a lock left by a process that ended is
    taken over, said in the audit); audit entry "open".

    Parameters
    ----------
    out_dir : path
        The output folder of ``assaykit score``.
    reviewer : str or None
        Who reviews (None: set :attr:`Review.reviewer` before the first change).
    """
    import yaml

    from ..scoring.pipeline import calibrate_run, load_inputs, measure_tubes, run_files
    from ..scoring.tables import read_manifest, recorded_run_dir, signatures_problem
    from .runyaml import unwritable
    from .signatures import record_unfinished

    out = Path(out_dir)
    if os.path.islink(out) or os.path.islink(os.path.normpath(out)):
        raise AssayKitError("the output folder is a symbolic link, which `assaykit score` does not write through "
                            "(signing would fail): review the folder it points to", out)
    if not out.is_dir():
        raise AssayKitError("output folder not found", out)
    unreadable = signatures_problem(out)
    if unreadable:
        raise AssayKitError(f"signatures.json cannot be read ({unreadable}); the review does not open over it "
                            "(signing would lose the signatures it holds): see `assaykit verify`",
                            out / "signatures.json")
    manifest = read_manifest(out)
    if "kind" in manifest or not isinstance(manifest.get("run_dir"), str):
        raise AssayKitError("not the output folder of `assaykit score` (its manifest names no run folder)", out)
    run_dir = recorded_run_dir(out, manifest).resolve()  # the one rule compare uses; never the current folder alone
    if not run_dir.is_dir():
        raise AssayKitError(f"the run folder {run_dir} this output was scored from is not there", out)
    changed = changed_inputs(run_dir, manifest)
    if changed:
        raise AssayKitError(f"the run folder {run_dir} does not hold the files this output was scored from "
                            f"({'; '.join(changed[:3])}{'; ...' if len(changed) > 3 else ''}); re-score it or "
                            "review the output folder scored from it", out)
    problem = audit_log.torn(out / audit_log.AUDIT)
    if problem:
        raise AssayKitError(problem, out / audit_log.AUDIT)
    lock = acquire(out)
    try:
        yaml_path = run_dir / "run.yaml"
        data = yaml_path.read_bytes() if yaml_path.exists() else b""
        try:
            doc = yaml.safe_load(data) or {}
        except yaml.YAMLError:
            doc = {}
        entries = dict(doc.get(KEY) or {}) if isinstance(doc, dict) and isinstance(doc.get(KEY), dict) else {}
        inputs = load_inputs(run_dir, out, write=False)
        seen = _fingerprints(inputs)  # before the tubes are read: a change while they are is caught at a write
        unrecorded = options_not_in_run_yaml(manifest, inputs)
        if unrecorded:
            raise AssayKitError("this output was scored with options run.yaml does not hold ("
                                f"{'; '.join(unrecorded)}); the review and its signatures re-score from run.yaml "
                                "alone: put them in run.yaml and score again, then review", out)
        beads = calibrate_run(inputs)
        outcomes = measure_tubes(inputs, figure=False)
        state = _State(inputs=inputs, beads=beads, outcomes=outcomes, yaml_sha256=sha256(data), entries=entries,
                       seen=seen, fcs=tuple(p.name for p in run_files(run_dir)))
        review = Review(out, run_dir, " ".join((reviewer or "").split()), lock, state)
        # a signature or supersede a process that ended (killed) left half done: recorded, said
        notes = record_unfinished(out, lambda **f: review._audit("unfinished", review.reviewer, **f))
        review.read_only = unwritable(yaml_path)
        stale = review.stale()
        notes += [n for n in (stale, review.read_only and f"{review.read_only} (the review is read-only)") if n]
        review.notes = tuple(notes)
        review._audit("open", review.reviewer, run_dir=str(run_dir), run_yaml=sha256(data),
                      taken_over=f"a stale review lock taken over ({lock.taken_over})" if lock.taken_over else None,
                      stale=stale or None, read_only=review.read_only or None)
        return review
    except BaseException:
        lock.release()
        raise


def _stat_key(path: Path) -> Any:
    """What changes whenever a file's bytes change (size, times to the nanosecond, inode; None:
    gone): an equal key needs no hashing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def _digest(path: Path) -> str:
    """The SHA-256 of the file ``path`` ("" when it cannot be read)."""
    import hashlib

    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return ""
    return digest.hexdigest()


def _fingerprints(inputs: RunInputs) -> dict[Path, tuple[Any, str]]:
    """Every input file the review read besides run.yaml (plate map, strategy, bead lot, clinical
    file, compensation, QC targets, FCS files) -> its stat key and SHA-256 as read."""
    from ..scoring.pipeline import run_files

    o = inputs.options
    named = [o.plate_map or inputs.folder / "plate_map.csv", o.strategy, o.lot, o.clinical, o.compensation,
             o.qc_targets, *run_files(inputs.folder)]
    return {Path(p): (_stat_key(Path(p)), _digest(Path(p))) for p in named if p is not None and Path(p).is_file()}


def changed_inputs(run_dir: Path, manifest: Mapping[str, Any]) -> list[str]:
    """The FCS files the manifest of a scored output lists that ``run_dir`` does not hold with the
    same SHA-256 (each as "FILE missing" or "FILE differs"; empty: the folder holds the run scored).

    Parameters
    ----------
    run_dir : Path
        The run folder.
    manifest : mapping
        The output folder's manifest.json.
    """
    import hashlib

    problems = []
    for item in manifest.get("inputs") or []:
        if not isinstance(item, dict) or not item.get("file") or not item.get("sha256"):
            continue
        name = str(item["file"])
        path = run_dir / name
        if Path(name).name != name or not path.is_file():
            problems.append(f"{name} missing")
            continue
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != item["sha256"]:
            problems.append(f"{name} differs")
    return problems


def options_not_in_run_yaml(manifest: Mapping[str, Any], inputs: RunInputs) -> list[str]:
    """The options a scored output was made with that the run folder alone (run.yaml and its
    defaults: ``inputs``) does not give: each named with both values (empty: the run as scored is
    what scoring the run folder makes). Signing re-scores the run from its folder alone, so a
    run scored with command-line options (``--control``, ``--plate-map``, ``--strategy``, ``--lot``,
    ``--bead-values``, ``--clinical``, ``--compensation``, ``--specimen``,
    ``--accept-calibration`` ...) cannot be reviewed until run.yaml holds them.

    Parameters
    ----------
    manifest : mapping
        The output folder's manifest.json.
    inputs : RunInputs
        The run folder read as ``score`` reads it with no options.
    """
    from ..scoring.tables import _sha

    options = inputs.options
    opts = manifest.get("options") or {}
    lot = manifest.get("lot") or {}
    compensation = opts.get("compensation") or {}
    now = {
        "control": (opts.get("control"), options.control),
        "bead unit": (opts.get("bead_unit"), options.bead_unit),
        "specimen": (opts.get("specimen"), inputs.strategy.specimen),
        "plate map": ((manifest.get("plate_map") or {}).get("sha256"), inputs.plate.sha256),
        "strategy": ((manifest.get("strategy") or {}).get("sha256"), inputs.strategy.sha256),
        "bead lot": ((lot.get("kit"), lot.get("lot"), [float(v) for v in lot.get("values") or []]),
                     (inputs.lot.kit, inputs.lot.lot, [float(v) for v in inputs.lot.values])),
        "clinical file": ((manifest.get("clinical") or {}).get("sha256") or "", _sha(options.clinical)),
        "compensation": (compensation.get("sha256") or "", _sha(options.compensation)),
        "thresholds": (manifest.get("thresholds"), options.thresholds.to_dict()),
        "responder rule": (manifest.get("responder_rule"), options.responder.to_dict()),
    }
    if "accept_calibration" in opts:  # recorded since the review checks it
        now["accept calibration"] = (opts.get("accept_calibration") or None, options.accept_calibration or None)
    problems = []
    for name, (scored, folder) in now.items():
        if _normal(scored) != _normal(folder):
            problems.append(f"{name}: scored with {_short(scored)}, run.yaml gives {_short(folder)}")
    return problems


def _normal(value: Any) -> Any:
    import json

    return json.loads(json.dumps(_plain(value), sort_keys=True, default=str))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
