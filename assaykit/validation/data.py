"""What ``assaykit validate`` computes from (docs/validation.md, "assaykit validate"): the blood
tubes of the ledger (:meth:`assaykit.ledger.Ledger.validation_rows`) and of scored output folders
(samples.csv and manifest.json: the same columns), of which only the reportable values enter; and
the method-comparison pairs of ``assaykit compare`` folders (agreement.csv) or of a lab's CSV.

The groups each statistic is computed on are chosen here, by one rule each: precision per
material (role, patient, time point, condition) measured in two runs or more, or with replicates;
reference values from the unstimulated tubes of a donor group; stability from the tubes of one
donor (patient, time point, condition) at two draw-to-stain times or more.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AssayKitError

if TYPE_CHECKING:
    from ..ledger import Ledger

REPORTABLE = ("reportable", "reportable_with_warnings")
"""The verdicts of the values a validation uses (a withheld value, or one scored before verdicts, is left out)."""
ROLES = ("control", "sample")
"""The blood tubes validated: stabilised control bloods first, then the samples (donors, patients)."""
TUBE_FIELDS = ("run_key", "run_name", "run_uid", "scored_at", "acquired_on", "instrument", "instrument_serial", "kit",
               "lot", "unit", "file", "sha256", "well", "role", "patient", "timepoint", "condition", "replicate",
               "donor_group", "hladr_abc", "hladr_mfi", "verdict", "draw_to_stain_h")
"""The columns of a tube row, as :meth:`assaykit.ledger.Ledger.validation_rows` returns them."""
RUN_KIND = "assaykit run"  # a scored folder's manifest names no kind (assaykit._io.atomic.RUN_KIND)
COMPARE_KIND = "assaykit compare"  # assaykit.report.agreement.KIND
LAB_COLUMNS = ("run", "file", "patient", "timepoint", "condition", "lab_abc", "note")
"""The columns a lab's comparison CSV may hold: ``lab_abc`` (the lab's AB/C, the reference) and
either ``file`` (the FCS file's name) or ``patient``, ``timepoint`` and ``condition``; ``run`` (the
run's name or run_uid) where those name tubes of more than one run; ``note`` is free text (kept
out of the statistics)."""


@dataclass(frozen=True)
class Tube:
    """One blood tube's reportable value, as a validation uses it.

    Parameters
    ----------
    run_key : str
        The run's key in the ledger (its run folder, resolved, as the manifest's ``run_dir``).
    run_name : str
        The run's name (its run folder's name).
    run_uid : str
        The scoring's id (the manifest's ``run_id``).
    acquired_on : str
        The run's acquisition date (ISO date; the EP05 "day").
    instrument : str
        The cytometer (``$CYT``) and its serial (``$CYTNUM``), joined by a space when there is one.
    lot : str
        The bead kit and lot, joined by a space.
    file : str
        The FCS file's name.
    sha256 : str
        The FCS file's SHA-256.
    role : str
        ``control`` (a stabilised control blood) or ``sample``.
    patient : str
        The patient or donor, as in the plate map.
    timepoint : str
        The time point, as in the plate map.
    condition : str
        The condition, as in the plate map.
    replicate : str
        The plate map's replicate label ("" when none).
    donor_group : str
        The plate map's donor group ("" when none).
    abc : float
        The tube's HLA-DR in antibodies bound per cell (AB/C).
    draw_to_stain_h : float or None
        Hours from the draw to the staining (None when unknown).
    """

    run_key: str
    run_name: str
    run_uid: str
    acquired_on: str
    instrument: str
    lot: str
    file: str
    sha256: str
    role: str
    patient: str
    timepoint: str
    condition: str
    replicate: str
    donor_group: str
    abc: float
    draw_to_stain_h: float | None

    @property
    def material(self) -> tuple[str, str, str, str]:
        """(role, patient, timepoint, condition): what a precision study measures again and again."""
        return (self.role, self.patient, self.timepoint, self.condition)


@dataclass(frozen=True)
class RunSource:
    """A run the tubes came from (the manifest's ``inputs.runs``).

    Parameters
    ----------
    run_key : str
        Its key (its run folder, resolved: the ledger's ``run_key``).
    run_name : str
        Its name.
    run_uid : str
        The scoring's id.
    source : str
        ``ledger`` or ``folder``.
    samples_sha256 : str
        SHA-256 of its samples.csv as its manifest lists it ("" for a run read from the ledger: the
        ledger records the run folder, not the output folder; name that with ``--run``).
    """

    run_key: str
    run_name: str
    run_uid: str
    source: str
    samples_sha256: str = ""


@dataclass(frozen=True)
class Pair:
    """One method-comparison pair: the reference's value and assaykit's, AB/C.

    Parameters
    ----------
    source : str
        The file the pair came from (an agreement.csv or a lab's CSV).
    file : str
        The FCS file ("" when matched by patient, time point and condition).
    patient : str
        The patient.
    timepoint : str
        The time point.
    condition : str
        The condition.
    reference_abc : float
        The reference method's value (the manual gating or the other lab), AB/C.
    assaykit_abc : float
        assaykit's value, AB/C (a mean over the tubes matched, for a lab's CSV).
    tubes : int
        The pairs averaged into this one (1 for a file's row; :func:`sample_pairs` averages a
        sample's replicate tubes).
    """

    source: str
    file: str
    patient: str
    timepoint: str
    condition: str
    reference_abc: float
    assaykit_abc: float
    tubes: int = 1


@dataclass(frozen=True)
class ValidationData:
    """The values a validation is computed from.

    Parameters
    ----------
    tubes : tuple of Tube
        The reportable blood tubes (controls first), each run once.
    left_out : dict
        Tubes left out, by why: a verdict (``withheld``, ``""`` for a run scored before verdicts)
        or ``no_abc`` (reportable but without AB/C: a run without bead calibration).
    runs : tuple of RunSource
        The runs read.
    ledger : str
        The ledger read ("" when none).
    ledger_left_out : int
        Ledger rows left out because they hold values assaykit does not write.
    pairs : tuple of Pair
        The method-comparison pairs.
    comparisons : tuple of dict
        The comparison files read: ``path``, ``sha256``, ``kind`` (``agreement`` or ``lab``), ``pairs``.
    comparison_unmatched : int
        Rows of a lab's CSV that matched no reportable tube.
    comparison_dropped : tuple of str
        The comparison rows left out, each named (``lab.csv row 5: lab_abc 0 is not above 0``, a
        lab row matching no reportable tube, an agreement row without both values).
    """

    tubes: tuple[Tube, ...]
    left_out: dict[str, int]
    runs: tuple[RunSource, ...]
    ledger: str = ""
    ledger_left_out: int = 0
    pairs: tuple[Pair, ...] = ()
    comparisons: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    comparison_unmatched: int = 0
    comparison_dropped: tuple[str, ...] = ()


# --- the tubes ----------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _number(value: Any) -> float | None:
    """A cell or ledger value as a table writes it (:func:`assaykit.scoring.tables.as_written`: the
    ledger's full precision rounded as samples.csv is, so --ledger and --run give one value)."""
    from ..scoring.tables import as_written

    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return as_written(number) if math.isfinite(number) else None


def _joined(*parts: Any) -> str:
    return " ".join(p for p in (_text(x).strip() for x in parts) if p)


def tube_of(row: Mapping[str, Any]) -> Tube | str:
    """The :class:`Tube` of one row (:data:`TUBE_FIELDS`), or why it is left out: its verdict when
    not reportable, ``no_abc`` when it has no positive AB/C, ``not_abc_unit`` when its run's
    calibration gives another unit (MEFL, MEPE ...: values of other units never pooled with AB/C).

    Parameters
    ----------
    row : mapping
        A tube row as :meth:`assaykit.ledger.Ledger.validation_rows` returns it.
    """
    from ..scoring.tables import not_abc_unit

    verdict = _text(row.get("verdict"))
    if verdict not in REPORTABLE:
        return verdict or "no_verdict"
    abc = _number(row.get("hladr_abc"))
    if abc is None or abc <= 0:
        return "no_abc"
    if not_abc_unit(_text(row.get("unit"))):
        return "not_abc_unit"
    hours = _number(row.get("draw_to_stain_h"))
    return Tube(run_key=_text(row.get("run_key")), run_name=_text(row.get("run_name")),
                run_uid=_text(row.get("run_uid")), acquired_on=_text(row.get("acquired_on"))[:10],
                instrument=_joined(row.get("instrument"), row.get("instrument_serial")),
                lot=_joined(row.get("kit"), row.get("lot")), file=_text(row.get("file")),
                sha256=_text(row.get("sha256")), role=_text(row.get("role")), patient=_text(row.get("patient")),
                timepoint=_text(row.get("timepoint")), condition=_text(row.get("condition")),
                replicate=_text(row.get("replicate")), donor_group=_text(row.get("donor_group")), abc=abc,
                draw_to_stain_h=hours)


def folder_rows(out_dir: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], RunSource]:
    """The blood tube rows (:data:`TUBE_FIELDS`, roles :data:`ROLES`) of the scored output folder
    ``out_dir`` and the run it is: its manifest (an ``assaykit score`` folder's, not another
    command's) and samples.csv, checked against the manifest's listing (a changed table is
    refused). AssayKitError in one line naming the file for a folder that is not a scored run.

    Parameters
    ----------
    out_dir : str or Path
        An output folder of ``assaykit score``.
    """
    from ..report.load import read_table
    from ..scoring.history import run_instrument
    from ..scoring.tables import read_manifest, run_cell_unit, verify_outputs

    folder = Path(out_dir)
    if not folder.is_dir():
        raise AssayKitError("run folder not found (give the output folder of `assaykit score`)", folder)
    manifest = read_manifest(folder)
    kind = manifest.get("kind", RUN_KIND)
    if kind != RUN_KIND:
        raise AssayKitError(f"not a scored run but the output of {kind!s:.40}: give the output folder of "
                            "`assaykit score`", folder / "manifest.json")
    problems = verify_outputs(folder)
    if problems:
        raise AssayKitError(f"the output folder is not as scored: {problems[0]}", folder)
    listed = manifest["files"].get("samples.csv")
    if not isinstance(listed, dict):
        raise AssayKitError("the manifest lists no samples.csv: not a scored run", folder / "manifest.json")
    samples = read_table(folder / "samples.csv")
    found = manifest.get("lot")
    lot: dict[str, Any] = found if isinstance(found, dict) else {}
    instrument, serial = run_instrument([_Row(r) for r in samples])  # type: ignore[misc]
    dates = sorted(_text(r.get("acquisition_date")) for r in samples if r.get("acquisition_date"))
    recorded = _text(manifest.get("run_dir"))  # the run folder: the ledger's key of the run (resolved when scored)
    resolved = Path(recorded) if recorded else folder.resolve()
    run = {"run_key": str(resolved), "run_name": resolved.name, "run_uid": _text(manifest.get("run_id")),
           "scored_at": _text(manifest.get("ended")), "acquired_on": dates[0] if dates else "",
           "instrument": instrument, "instrument_serial": serial, "kit": _text(lot.get("kit")),
           "lot": _text(lot.get("lot")), "unit": run_cell_unit(manifest)}
    rows = [{**run, **{k: r.get(k) for k in TUBE_FIELDS if k not in run}} for r in samples if r.get("role") in ROLES]
    source = RunSource(run_key=run["run_key"], run_name=run["run_name"], run_uid=run["run_uid"], source="folder",
                       samples_sha256=_text(listed.get("sha256")))
    return rows, source


@dataclass(frozen=True)
class _Row:
    """A samples.csv row as :func:`assaykit.scoring.history.run_instrument` reads one."""

    row: Mapping[str, Any]

    @property
    def role(self) -> str:
        return _text(self.row.get("role"))

    @property
    def instrument(self) -> str:
        return _text(self.row.get("instrument"))

    @property
    def instrument_serial(self) -> str:
        return _text(self.row.get("instrument_serial"))


def _material_order(tube: Tube) -> tuple[Any, ...]:
    return (ROLES.index(tube.role), tube.patient, tube.timepoint, tube.condition, tube.acquired_on, tube.run_key,
            tube.replicate, tube.file)


def named_runs(runs: Sequence[str | os.PathLike[str]]
               ) -> tuple[dict[str, RunSource], dict[str, list[dict[str, Any]]]]:
    """The runs of the scored output folders ``runs`` (:func:`folder_rows`), by run key, and their
    rows. The same folder named twice is read once; two different output folders of one run
    folder (scored twice, or a copy of an output folder) are refused in one line naming both:
    which scoring is the run's would depend on the order they were named in.

    Parameters
    ----------
    runs : sequence of str or Path
        Output folders of ``assaykit score``.
    """
    sources: dict[str, RunSource] = {}
    rows_of: dict[str, list[dict[str, Any]]] = {}
    folders: dict[str, Path] = {}
    for out_dir in runs:
        folder = Path(out_dir)
        if any(folder.resolve() == seen.resolve() for seen in folders.values()):
            continue
        rows, source = folder_rows(folder)
        if source.run_key in sources:
            raise AssayKitError(f"the output folders {folders[source.run_key]} and {folder} are two scorings of one "
                                f"run folder ({source.run_name}): name one of them", folder)
        sources[source.run_key], rows_of[source.run_key], folders[source.run_key] = source, rows, folder
    return sources, rows_of


def check_independent_runs(rows_of: Mapping[str, Sequence[Mapping[str, Any]]],
                           sources: Mapping[str, RunSource]) -> None:
    """AssayKitError (one line naming the file and both runs) when one FCS file (the same
    SHA-256) is a blood tube of two runs: a run folder copied and scored again, or a run read
    from the ledger and again from a copy named with ``--run``. The same data counted twice would
    pass for between-run precision; it is refused rather than left out, since which of the two is
    the real run is not known here.

    Parameters
    ----------
    rows_of : mapping
        Each run key's tube rows (:data:`TUBE_FIELDS`).
    sources : mapping
        Each run key's :class:`RunSource`.
    """
    seen: dict[str, tuple[str, str]] = {}
    for key in sorted(rows_of):
        for row in rows_of[key]:
            digest = _text(row.get("sha256"))
            if not digest or _text(row.get("role")) not in ROLES:
                continue
            first = seen.setdefault(digest, (key, _text(row.get("file"))))
            if first[0] != key:
                a, b = sources[first[0]], sources[key]
                raise AssayKitError(f"the FCS file {first[1][:80]} (sha256 {digest[:12]}...) is a tube of two runs, "
                                    f"{a.run_name} ({a.source}: {a.run_key}) and {b.run_name} ({b.source}: "
                                    f"{b.run_key}): the same data cannot count as two runs; validate one of them",
                                    b.run_key)


def gather(ledger: Ledger | None = None, runs: Sequence[str | os.PathLike[str]] = ()) -> ValidationData:
    """The reportable blood tubes of the ``ledger``'s runs and of the scored folders ``runs``: a
    run both in the ledger and named (the same run folder, or the same scoring's run_uid) is read
    from its output folder (each run once). Tubes in a stable
    order (controls first, then by material, day, run, replicate), whatever order the sources
    came in.

    Parameters
    ----------
    ledger : Ledger or None
        An open ledger (None: the folders alone).
    runs : sequence of str or Path
        Output folders of ``assaykit score``.
    """
    sources, rows_of = named_runs(runs)
    shown, left = "", 0
    if ledger is not None:
        shown = ledger.shown
        named = {s.run_uid for s in sources.values() if s.run_uid}
        for row in ledger.validation_rows():
            key = _text(row.get("run_key"))
            if (key in sources and sources[key].source == "folder") or _text(row.get("run_uid")) in named:
                continue
            if key not in sources:
                sources[key] = RunSource(run_key=key, run_name=_text(row.get("run_name")),
                                         run_uid=_text(row.get("run_uid")), source="ledger")
                rows_of[key] = []
            rows_of[key].append(row)
        left = int(getattr(ledger, "n_left_out", 0) or 0)
    check_independent_runs(rows_of, sources)
    tubes: list[Tube] = []
    left_out: Counter[str] = Counter()
    for key in sorted(rows_of):
        for row in rows_of[key]:
            if _text(row.get("role")) not in ROLES:
                continue
            found = tube_of(row)
            if isinstance(found, Tube):
                tubes.append(found)
            else:
                left_out[found] += 1
    ordered = tuple(sorted(tubes, key=_material_order))
    return ValidationData(tubes=ordered, left_out=dict(sorted(left_out.items())),
                          runs=tuple(sources[k] for k in sorted(sources)), ledger=shown, ledger_left_out=left)


# --- the groups ---------------------------------------------------------------------------------------


def material_name(material: tuple[str, str, str, str]) -> str:
    """A material as the report names it: ``control CTRL-1 D0 unstimulated``.

    Parameters
    ----------
    material : tuple of str
        (role, patient, timepoint, condition).
    """
    return " ".join(p for p in material if p)


def precision_groups(tubes: Sequence[Tube]) -> list[tuple[tuple[str, str, str, str], str, list[Tube]]]:
    """The precision studies: each material measured in two runs or more (EP05's nested ANOVA
    needs runs; a material with replicates in one run only is counted by
    :func:`single_run_materials`, not listed: every routine duplicate would be one), as
    (material, scope, tubes); scope ``all`` (every run pooled) and, when the material was
    measured on more than one (instrument, bead lot), each of them (``instrument / lot``).
    Controls first.

    Parameters
    ----------
    tubes : sequence of Tube
        The reportable tubes (:attr:`ValidationData.tubes`).
    """
    by_material: dict[tuple[str, str, str, str], list[Tube]] = {}
    for tube in tubes:
        by_material.setdefault(tube.material, []).append(tube)
    groups = []
    for material in sorted(by_material, key=lambda m: (ROLES.index(m[0]), m[1:])):
        members = by_material[material]
        if len({t.run_key for t in members}) < 2:
            continue
        groups.append((material, "all", members))
        scopes = sorted({(t.instrument, t.lot) for t in members})
        if len(scopes) > 1:
            for instrument, lot in scopes:
                subset = [t for t in members if (t.instrument, t.lot) == (instrument, lot)]
                groups.append((material, f"{instrument or '?'} / {lot or '?'}", subset))
    return groups


def single_run_materials(tubes: Sequence[Tube]) -> int:
    """The materials measured more than once, but in one run only (replicates of one run: their
    CV is the run's ``replicate_cv_pct``; no between-run precision).

    Parameters
    ----------
    tubes : sequence of Tube
        The reportable tubes.
    """
    runs: dict[tuple[str, str, str, str], set[str]] = {}
    counts: Counter[tuple[str, str, str, str]] = Counter()
    for tube in tubes:
        runs.setdefault(tube.material, set()).add(tube.run_key)
        counts[tube.material] += 1
    return sum(1 for m, keys in runs.items() if len(keys) == 1 and counts[m] >= 2)


def same_donor_group(given: str, wanted: str) -> bool:
    """Whether the plate map's donor group ``given`` is ``wanted`` (the criteria's), letter case
    and surrounding spaces aside (``Healthy`` is ``healthy``).

    Parameters
    ----------
    given : str
        A tube's donor group.
    wanted : str
        The donor group asked for.
    """
    return given.strip().casefold() == wanted.strip().casefold()


def check_control(tubes: Sequence[Tube], control: str) -> None:
    """AssayKitError (one line) when tubes were read but none is of the condition ``control``
    (``--control``): a misspelt control would leave the reference interval silently empty.

    Parameters
    ----------
    tubes : sequence of Tube
        The reportable tubes.
    control : str
        The unstimulated condition named.
    """
    conditions = sorted({t.condition for t in tubes})
    if conditions and control not in conditions:
        shown = ", ".join(repr(c[:40]) for c in conditions[:8]) + (" ..." if len(conditions) > 8 else "")
        raise AssayKitError(f"--control {control[:40]!r} names no condition of the reportable tubes read "
                            f"(conditions: {shown})")


def reference_values(tubes: Sequence[Tube], donor_group: str, condition: str) -> list[tuple[str, float, int]]:
    """The reference values: one per donor (patient) of ``donor_group`` (role sample), the mean
    AB/C of its reportable ``condition`` tubes (replicates and repeated runs averaged, so no
    donor counts twice), as (patient, AB/C, tubes averaged), by patient.

    Parameters
    ----------
    tubes : sequence of Tube
        The reportable tubes.
    donor_group : str
        The plate map's donor group of the reference donors (e.g. ``healthy``).
    condition : str
        The unstimulated condition's name (e.g. ``unstimulated``).
    """
    by_donor: dict[str, list[float]] = {}
    for tube in tubes:
        if tube.role == "sample" and same_donor_group(tube.donor_group, donor_group) and tube.condition == condition:
            by_donor.setdefault(tube.patient, []).append(tube.abc)
    return [(p, math.fsum(v) / len(v), len(v)) for p, v in sorted(by_donor.items())]


def stability_tubes(tubes: Sequence[Tube]) -> list[Tube]:
    """The tubes of a stability study: those with a draw-to-stain time whose donor (patient, time
    point, condition; role sample or control) has tubes at two different times or more.

    Parameters
    ----------
    tubes : sequence of Tube
        The reportable tubes.
    """
    timed = [t for t in tubes if t.draw_to_stain_h is not None]
    times: dict[tuple[str, ...], set[float]] = {}
    for tube in timed:
        times.setdefault(stability_donor(tube), set()).add(float(tube.draw_to_stain_h or 0.0))
    return [t for t in timed if len(times[stability_donor(t)]) >= 2]


def stability_donor(tube: Tube) -> tuple[str, str, str, str]:
    """The donor label of a stability study: (role, patient, time point, condition).

    Parameters
    ----------
    tube : Tube
        A tube.
    """
    return tube.material


def sample_pairs(pairs: Sequence[Pair]) -> list[Pair]:
    """The method-comparison pairs one per sample (patient, time point, condition; a row with no
    patient is its own sample, by file), the reference's and assaykit's values each the mean of
    the sample's pairs (replicate tubes, or the same sample in several comparison files), so no
    sample counts twice (CLSI EP09-A3 counts samples); in the order first seen.

    Parameters
    ----------
    pairs : sequence of Pair
        The pairs as read (:attr:`ValidationData.pairs`).
    """
    groups: dict[tuple[str, ...], list[Pair]] = {}
    for pair in pairs:
        key = (pair.patient, pair.timepoint, pair.condition) if pair.patient else ("", pair.source, pair.file)
        groups.setdefault(key, []).append(pair)
    out = []
    for members in groups.values():
        first = members[0]
        n = sum(p.tubes for p in members)
        out.append(Pair(source=first.source if len({p.source for p in members}) == 1 else "several",
                        file=first.file if len(members) == 1 else "", patient=first.patient,
                        timepoint=first.timepoint, condition=first.condition,
                        reference_abc=math.fsum(p.reference_abc * p.tubes for p in members) / n,
                        assaykit_abc=math.fsum(p.assaykit_abc * p.tubes for p in members) / n, tubes=n))
    return out


def stability_points(tubes: Sequence[Tube]) -> list[tuple[tuple[str, str, str, str], float, float, int]]:
    """The points a stability drift is fitted to: one per donor (:func:`stability_donor`) and
    draw-to-stain time, the mean AB/C of its tubes (replicate tubes are not independent points),
    as (donor, hours, AB/C, tubes averaged), in the order first seen.

    Parameters
    ----------
    tubes : sequence of Tube
        The stability tubes (:func:`stability_tubes`).
    """
    groups: dict[tuple[tuple[str, str, str, str], float], list[float]] = {}
    for tube in tubes:
        groups.setdefault((stability_donor(tube), float(tube.draw_to_stain_h or 0.0)), []).append(tube.abc)
    return [(donor, hours, math.fsum(v) / len(v), len(v)) for (donor, hours), v in groups.items()]


# --- method comparison --------------------------------------------------------------------------------


def _read_csv(path: Path, what: str) -> tuple[list[str], list[dict[str, str]], bytes]:
    from .._io.names import read_cell
    from .._io.read import TABLE_LIMIT, read_input
    from ..scoring.platemap import TableDecodeError, decode_table

    data = read_input(path, AssayKitError, what, TABLE_LIMIT)
    try:
        text, _ = decode_table(data)  # as compare --manual decodes a lab's file (UTF-8, cp1252, UTF-16)
    except TableDecodeError as error:
        raise AssayKitError(str(error), path) from None
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [read_cell(h).strip() for h in (reader.fieldnames or [])]
        rows = [{header[i]: read_cell(v if isinstance(v, str) else "").strip()
                 for i, v in enumerate(r.get(k) for k in (reader.fieldnames or []))} for r in reader]
    except (csv.Error, UnicodeDecodeError) as exc:
        raise AssayKitError(f"cannot read the {what} ({' '.join(str(exc).split())[:160]})", path) from None
    return header, rows, data


def comparison_file(path: str | os.PathLike[str]) -> Path:
    """The CSV a ``--comparison`` names: a compare folder's agreement.csv (the folder's manifest
    must be ``assaykit compare``'s), or the CSV itself.

    Parameters
    ----------
    path : str or Path
        An ``assaykit compare`` output folder, an agreement.csv or a lab's CSV.
    """
    from ..scoring.tables import read_manifest

    given = Path(path)
    if given.is_dir():
        manifest = read_manifest(given)
        if manifest.get("kind") != COMPARE_KIND:
            raise AssayKitError("not an `assaykit compare` output folder (its manifest names another kind): give "
                                "the compare folder or a CSV", given / "manifest.json")
        return given / "agreement.csv"
    return given


def comparisons_beside(runs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The ``assaykit compare`` folders found beside the scored folders ``runs``: compare's default
    output, ``OUT_DIR-agreement``, whose manifest names that scored folder; in the order of
    ``runs``. A folder there of another kind, or of another run, is not one.

    Parameters
    ----------
    runs : sequence of str or PathLike
        Output folders of ``assaykit score``.
    """
    from ..scoring.tables import read_manifest

    found = []
    for run in runs:
        folder = Path(run)
        beside = folder.parent / f"{folder.name}-agreement"
        if not beside.is_dir():
            continue
        try:
            manifest = read_manifest(beside)
        except AssayKitError:
            continue
        scored = _text(manifest.get("scored_dir")) or _text(manifest.get("scored"))
        if manifest.get("kind") == COMPARE_KIND and scored and Path(scored).resolve() == folder.resolve():
            found.append(beside)
    return found


def _column_numbers(rows: Sequence[Mapping[str, str]], column: str, path: Path) -> list[float | None]:
    """The numbers of ``column`` of ``rows`` read as ``assaykit compare --manual`` reads a lab's
    (:func:`assaykit.scoring.manual.read_numbers`: ``31,000``, ``31 000``, a decimal comma told by
    the file, ``NA`` and the other :data:`assaykit.scoring.manual.MISSING` cells None); a cell no
    rule reads: AssayKitError naming the file and the cell."""
    from ..scoring.manual import read_numbers

    cells = [(row.get(column, ""), f"row {line} {column}", False) for line, row in enumerate(rows, start=2)]
    try:
        values, _ = read_numbers(cells)
    except ValueError as error:
        raise AssayKitError(str(error), path) from None
    return values


def _bad_value(value: float | None, text: str, column: str) -> str:
    """Why a comparison cell is not a value to pair ("" when it is one: above 0)."""
    if value is None:
        return f"{column} {text[:40]!r}: no value" if text else f"{column} empty: no value"
    return "" if value > 0 else f"{column} {text[:40]!r} is not above 0"


def _compare_folder(file: Path) -> tuple[Path, dict[str, Any]]:
    """The ``assaykit compare`` folder holding ``file`` (an agreement.csv) and its manifest,
    checked whole against it (a changed agreement.csv is refused, as ``assaykit verify`` says)."""
    from ..scoring.tables import read_manifest, verify_outputs

    folder = file.parent
    try:
        manifest = read_manifest(folder)
    except AssayKitError:
        manifest = {}
    if manifest.get("kind") != COMPARE_KIND or file.name != "agreement.csv":
        raise AssayKitError("an agreement.csv is read in the `assaykit compare` folder that wrote it (its manifest "
                            "shows it unchanged): give that folder", file)
    problems = verify_outputs(folder)
    if problems:
        raise AssayKitError(f"the comparison folder is not as compare wrote it: {problems[0]} (`assaykit verify` "
                            "names it): run compare again", folder)
    return folder, manifest


def _scored_values(folder: Path, manifest: Mapping[str, Any]) -> dict[str, float | None] | None:
    """The current AB/C per file of the scored run a compare ``folder`` compared (its manifest's
    ``scored_dir``, else ``scored``, else the folder of that name beside the compare folder),
    checked whole (:func:`folder_rows`); None when compare recorded the run's ``run_id`` and it is
    still the run's (the values are then the run's as scored). AssayKitError naming the file when
    the run is not found or was scored again since (another run_id)."""
    recorded = [_text(manifest.get(k)) for k in ("scored_dir", "scored")]
    candidates = [Path(r) for r in recorded if r]
    if recorded[1]:
        candidates.append(folder.parent / Path(recorded[1]).name)
    scored = next((c for c in candidates if (c / "manifest.json").is_file()), None)
    if scored is None:
        raise AssayKitError(f"the scored run this comparison was made from ({recorded[1] or '?'}) is not found: its "
                            "assaykit values cannot be checked against the run's (give the compare folder where "
                            "it lies beside that run, or run compare again)", folder / "manifest.json")
    rows, source = folder_rows(scored)
    compared = _text(manifest.get("run_id"))
    if compared and compared != source.run_uid:
        raise AssayKitError(f"the run {scored} was scored again since this comparison (run_id {compared[:12]} "
                            f"compared, {source.run_uid[:12]} now): run compare again", folder / "agreement.csv")
    if compared:
        return None
    return {_text(r.get("file")): _number(r.get("hladr_abc")) for r in rows}


STALE_TOLERANCE = {"manual": 1e-6, "workspace": 1e-3}
"""How far (relative) an older compare folder's ``assaykit_abc`` (one without a ``run_id``) may
lie from the run's samples.csv before it is refused as of an earlier scoring: ``manual`` copies
the table's value (its 7 digits); ``workspace`` recomputes it from the gate file and the events."""


def _stale(file: str, compared: float | None, current: dict[str, float | None], tolerance: float) -> bool:
    """Whether an agreement row's assaykit value differs from the run's current one."""
    if compared is None or (file in current and current[file] is None):
        return False  # no value claimed (compare left it empty), or none now (withheld: left out as not reportable)
    now = current.get(file)
    return now is None or not math.isclose(compared, now, rel_tol=tolerance)


def read_comparison(path: str | os.PathLike[str], tubes: Sequence[Tube]) -> tuple[list[Pair], dict[str, Any], int]:
    """The method-comparison pairs of one comparison file, its entry for the manifest and the
    rows that matched no reportable tube. An agreement.csv (``assaykit compare``'s columns: the
    pairs of ``manual_abc`` and ``assaykit_abc`` both above 0), read in its compare folder and
    checked: the folder against its manifest (a changed agreement.csv refused) and every
    ``assaykit_abc`` against the compared run's current samples.csv (a run scored again since
    refused: run compare again). Or a lab's CSV (:data:`LAB_COLUMNS`; each row matched by
    ``file``, or by ``patient``, ``timepoint`` and ``condition``, within its ``run`` when given,
    to the reportable tubes, whose mean (replicates) is assaykit's value; tubes of more than one
    run refused: which run did the lab measure?). Numbers are read as ``compare --manual`` reads
    them (:func:`assaykit.scoring.manual.read_numbers`); a row without a value above 0, or
    matching no tube, is left out and named in the entry's ``dropped``. An unknown column, a
    missing one or a cell no rule reads: AssayKitError in one line naming the file.

    Parameters
    ----------
    path : str or Path
        The comparison (:func:`comparison_file`).
    tubes : sequence of Tube
        The reportable tubes a lab's rows are matched to.
    """
    from ..scoring.agreement import COLUMNS

    file = comparison_file(path)
    header, rows, data = _read_csv(file, "comparison CSV")
    entry: dict[str, Any] = {"path": str(file), "sha256": hashlib.sha256(data).hexdigest()}
    pairs: list[Pair] = []
    dropped: list[str] = []
    unmatched = 0
    if header == list(COLUMNS):
        entry["kind"] = "agreement"
        folder, manifest = _compare_folder(file)
        current = _scored_values(folder, manifest)
        references = _column_numbers(rows, "manual_abc", file)
        ours = _column_numbers(rows, "assaykit_abc", file)
        tolerance = STALE_TOLERANCE.get(_text(manifest.get("source")), STALE_TOLERANCE["workspace"])
        stale = [] if current is None else [row["file"] for row, value in zip(rows, ours, strict=True)
                                            if _stale(row["file"], value, current, tolerance)]
        if stale:
            raise AssayKitError(f"assaykit_abc of {len(stale)} tube(s) ({', '.join(stale[:3])}"
                                f"{' ...' if len(stale) > 3 else ''}) differ from the scored run's current values: "
                                "the run was scored again since compare: run compare again", file)
        for line, (row, ref, our) in enumerate(zip(rows, references, ours, strict=True), start=2):
            why = _bad_value(ref, row["manual_abc"], "manual_abc") or _bad_value(our, row["assaykit_abc"],
                                                                                  "assaykit_abc")
            if why:
                dropped.append(f"{file.name} row {line} ({row['file'][:60]}): {why}")
                continue
            assert ref is not None and our is not None
            pairs.append(Pair(source=str(file), file=row["file"], patient=row["patient"],
                              timepoint=row["timepoint"], condition=row["condition"], reference_abc=ref,
                              assaykit_abc=our))
    else:
        entry["kind"] = "lab"
        _check_lab_header(header, file)
        references = _column_numbers(rows, "lab_abc", file)
        for line, (row, ref) in enumerate(zip(rows, references, strict=True), start=2):
            why = _bad_value(ref, row.get("lab_abc", ""), "lab_abc")
            if why:
                dropped.append(f"{file.name} row {line} ({_named(row)}): {why}")
                continue
            assert ref is not None
            matched = _matched(row, tubes)
            runs = sorted({(t.run_name, t.run_key) for t in matched})
            if len(runs) > 1:
                shown = ", ".join(name for name, _ in runs[:3]) + (" ..." if len(runs) > 3 else "")
                raise AssayKitError(f"row {line}: {_named(row)} names tubes of {len(runs)} runs ({shown}): give the "
                                    "run (its name or run_uid) in a run column", file)
            if not matched:
                unmatched += 1
                dropped.append(f"{file.name} row {line} ({_named(row)}): matches no reportable tube")
                continue
            first = matched[0]
            pairs.append(Pair(source=str(file), file=row.get("file", ""), patient=first.patient,
                              timepoint=first.timepoint, condition=first.condition, reference_abc=ref,
                              assaykit_abc=math.fsum(t.abc for t in matched) / len(matched)))
    entry["pairs"] = len(pairs)
    entry["dropped"] = dropped
    return pairs, entry, unmatched


def _check_lab_header(header: list[str], file: Path) -> None:
    unknown = [h for h in header if h not in LAB_COLUMNS]
    if unknown:
        raise AssayKitError(f"unknown column(s) {', '.join(repr(u[:40]) for u in unknown[:5])}: a comparison CSV "
                            f"holds {', '.join(LAB_COLUMNS)} (or is an agreement.csv of `assaykit compare`)", file)
    if "lab_abc" not in header:
        raise AssayKitError("column lab_abc missing (the lab's AB/C of each tube)", file)
    if "file" not in header and not {"patient", "timepoint", "condition"} <= set(header):
        raise AssayKitError("give column file, or patient, timepoint and condition, to match each row to a tube",
                            file)


def _named(row: Mapping[str, str]) -> str:
    if row.get("file"):
        return f"file {row['file'][:60]!r}"
    return "patient {!r}, timepoint {!r}, condition {!r}".format(*(row.get(k, "")[:40] for k in
                                                                    ("patient", "timepoint", "condition")))


def _matched(row: Mapping[str, str], tubes: Iterable[Tube]) -> list[Tube]:
    run = row.get("run", "")
    chosen = [t for t in tubes if not run or run in (t.run_name, t.run_uid)]
    if row.get("file"):
        return [t for t in chosen if t.file == row["file"]]
    key = (row.get("patient", ""), row.get("timepoint", ""), row.get("condition", ""))
    return [t for t in chosen if (t.patient, t.timepoint, t.condition) == key]


def _compared_run(agreement_csv: Path) -> tuple[str, set[str]] | None:
    """The run an agreement.csv compared: (its run key, the files of its reportable blood tubes
    in the scored folder compare read), from the compare folder's manifest (``scored``); None
    when that is not known (a CSV without its compare folder, or the scored folder gone)."""
    from ..scoring.tables import read_manifest

    try:
        manifest = read_manifest(agreement_csv.parent)
        scored = _text(manifest.get("scored")) if manifest.get("kind") == COMPARE_KIND else ""
        if not scored:
            return None
        rows, source = folder_rows(scored)
    except AssayKitError:
        return None
    return source.run_key, {_text(r.get("file")) for r in rows if _text(r.get("verdict")) in REPORTABLE}


def reportable_pairs(pairs: Sequence[Pair], entry: dict[str, Any], tubes: Sequence[Tube]) -> list[Pair]:
    """The ``pairs`` of an agreement.csv whose assaykit tube is reportable; the others are
    counted in ``entry["not_reportable"]`` (the manifest's comparison entry). A tube is looked up
    in the run the comparison was of (the compare folder's scored folder): among the tubes read
    when that run is validated, else in that scored folder's samples.csv; a pair whose run is
    not known (an agreement.csv without its compare folder) is kept only when a reportable tube
    read has its file, patient, time point and condition. A lab's CSV is already matched to
    reportable tubes (:func:`read_comparison`).

    Parameters
    ----------
    pairs : sequence of Pair
        The pairs read from one comparison file.
    entry : dict
        Its manifest entry (:func:`read_comparison`; ``kind``, ``path``), updated.
    tubes : sequence of Tube
        The reportable tubes read.
    """
    if entry.get("kind") != "agreement":
        return list(pairs)
    run = _compared_run(Path(entry["path"]))
    if run is not None:
        key, files = run
        read = {t.file for t in tubes if t.run_key == key}
        allowed = read if any(t.run_key == key for t in tubes) else files
        kept = [p for p in pairs if p.file in allowed]
    else:
        known = {(t.file, t.patient, t.timepoint, t.condition) for t in tubes}
        kept = [p for p in pairs if (p.file, p.patient, p.timepoint, p.condition) in known]
    entry["not_reportable"] = len(pairs) - len(kept)
    entry["pairs"] = len(kept)
    return kept


def with_comparisons(data: ValidationData, comparisons: Sequence[str | os.PathLike[str]]) -> ValidationData:
    """``data`` with the method-comparison pairs of ``comparisons`` (pooled, in the order given).

    Parameters
    ----------
    data : ValidationData
        The tubes (a lab's rows are matched to them).
    comparisons : sequence of str or Path
        ``assaykit compare`` folders, agreement.csv files or lab CSVs.
    """
    from dataclasses import replace

    pairs: list[Pair] = []
    entries: list[dict[str, Any]] = []
    dropped: list[str] = []
    unmatched = 0
    for path in comparisons:
        found, entry, missed = read_comparison(path, data.tubes)
        found = reportable_pairs(found, entry, data.tubes)
        pairs += found
        dropped += entry["dropped"]
        entries.append({**entry, "dropped": len(entry["dropped"])})
        unmatched += missed
    return replace(data, pairs=tuple(pairs), comparisons=tuple(entries), comparison_unmatched=unmatched,
                   comparison_dropped=tuple(dropped))


__all__ = ["LAB_COLUMNS", "REPORTABLE", "ROLES", "STALE_TOLERANCE", "TUBE_FIELDS", "Pair", "RunSource", "Tube",
           "ValidationData", "check_control", "check_independent_runs", "comparison_file", "comparisons_beside",
           "folder_rows", "gather", "material_name", "named_runs", "precision_groups", "read_comparison",
           "reference_values", "reportable_pairs", "same_donor_group", "sample_pairs", "single_run_materials",
           "stability_donor", "stability_points", "stability_tubes", "tube_of", "with_comparisons"]
