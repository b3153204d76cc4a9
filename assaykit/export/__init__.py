"""Exports of a scored run's reportable values for a trial's database: REDCap (data dictionary +
records CSV), CDISC SDTM LB (CSV + SAS transport v5) and HL7 FHIR R4 (a Bundle of
Observations). Read from the scored output folder only (its tables and manifest, checked
against the manifest's hashes), never changed; written as one output folder with its own
manifest (docs/exports.md)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from ..errors import AssayKitError
from .codes import CODE_SYSTEM
from .fhir import PATIENT_SYSTEM
from .values import ExportValue, Selection, select

__all__ = ["CODE_SYSTEM", "FORMATS", "KIND", "PATIENT_SYSTEM", "ExportResult", "ExportValue", "Selection",
           "check_target", "export_run", "select", "signature_status"]

Format = Literal["redcap", "sdtm", "fhir"]
FORMATS: tuple[Format, ...] = ("redcap", "sdtm", "fhir")
"""The formats ``--to`` takes."""
KIND = "assaykit export"
"""The kind an export folder's manifest names: an export replaces only an export folder."""
SignatureStatus = Literal["approved", "reviewed", "not_signed", "not_holding"]


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote.

    Parameters
    ----------
    out_dir : Path
        The export folder.
    to : str
        The format (redcap, sdtm, fhir).
    files : tuple of str
        The files written in it (manifest.json aside).
    exported : int
        Values exported.
    withheld : int
        Values of the selected kinds withheld (not exported).
    signatures : str
        The scored run's signature status (approved, reviewed, not_signed, not_holding).
    replaced : bool
        Whether an earlier export folder was replaced.
    not_exported_groups : mapping
        Donor group -> values left out for their donor group (``healthy`` unless included).
    notes : tuple of str
        Further warning lines (an asked-for FCS keyword found in no file).
    """

    out_dir: Path
    to: str
    files: tuple[str, ...]
    exported: int
    withheld: int
    signatures: SignatureStatus
    replaced: bool
    not_exported_groups: Mapping[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def warnings(self) -> tuple[str, ...]:
        """The warning lines of the command: a run not signed "approved", and :attr:`notes`."""
        if self.signatures == "approved":
            return self.notes
        why = {"reviewed": "signed reviewed, not approved", "not_signed": "not signed",
               "not_holding": "its signatures do not hold for these outputs (changed since signing)"}[self.signatures]
        return (f"the run is {why}: exported anyway (--require-approved refuses such a run)", *self.notes)

    @property
    def summary(self) -> str:
        """The command's summary line: values exported, withheld, and left out by donor group
        (nothing written when no value is exported)."""
        def values(n: int) -> str:
            return f"{n} value{'' if n == 1 else 's'}"

        groups = "".join(f"; {values(n)} of donor group {g} not exported (--include-donor-group {g})"
                         for g, n in self.not_exported_groups.items())
        counts = f"{values(self.withheld)} withheld, not exported{groups}"
        if not self.exported:
            return f"nothing exported: no reportable value ({counts}); no export folder written"
        return (f"exported {values(self.exported)} ({counts}) as {self.to}: "
                + ", ".join(f"{self.out_dir}/{name}" for name in self.files)
                + (" (replacing the earlier export there)" if self.replaced else ""))


def signature_status(folder: Path, manifest: dict[str, object], signatures: Sequence[dict[str, object]]
                     ) -> SignatureStatus:
    """How the scored output ``folder`` is signed (assaykit review): ``approved`` when an
    approval not superseded holds for the outputs its manifest lists, else ``reviewed`` when a
    review does, ``not_holding`` when signatures exist but none holds, ``not_signed`` when there
    is none.

    Parameters
    ----------
    folder : Path
        The scored output folder.
    manifest : dict
        Its manifest.
    signatures : sequence of dict
        Its signatures (report.signed.read_signatures).
    """
    from ..report.signed import outputs_digest

    if not signatures:
        return "not_signed"
    digest = outputs_digest(manifest, folder)
    holding = {str(s.get("meaning")) for s in signatures
               if s.get("status") != "superseded" and s.get("outputs_sha256") == digest}
    if "approved" in holding:
        return "approved"
    return "reviewed" if "reviewed" in holding else "not_holding"


def check_target(scored: Path, target: Path) -> bool:
    """Decide, before any work, whether the export folder ``target`` may be written: never the
    scored folder ``scored``, inside it or holding it (an export never changes a scored
    folder: its manifest and signatures stay as they are), and as any output folder
    (_io.atomic.check_output_folder, kind :data:`KIND`). True when an earlier export is replaced.

    Parameters
    ----------
    scored : Path
        The scored output folder.
    target : Path
        The export folder.
    """
    from .._io.atomic import check_not_in_output, check_output_folder

    a, b = scored.resolve(), target.resolve()
    if a == b or a in b.parents or b in a.parents:
        raise AssayKitError(f"the export folder would be, or lie inside, the scored folder {scored}, which an export "
                            "never changes: name another --out", target)
    check_not_in_output(target)
    return check_output_folder(target, kind=KIND)


def _keywords(run_dir: Path | None, files: dict[tuple[str, str], str], names: Sequence[str]
              ) -> dict[tuple[str, str], tuple[tuple[str, str], ...]]:
    """The FCS keywords ``names`` of each patient time point's control tube (``files``), read
    from the run folder's FCS files (their TEXT only); AssayKitError naming the file when one
    cannot be read, or naming a keyword found in none of them."""
    from ..fcs.reader import read_fcs_text

    if not names:
        return {}
    if run_dir is None:
        raise AssayKitError("--include-keywords reads the run's FCS files: name the run folder with --run")
    out = {}
    found: set[str] = set()
    for key, name in files.items():
        text = {k.upper(): v for k, v in read_fcs_text(run_dir / name).items()}
        out[key] = tuple((k, text.get(k.upper(), "")) for k in names)
        found |= {k.upper() for k in names if k.upper() in text}
    _check_keywords_found(names, found, run_dir)
    return out


def _check_keyword_names(names: Sequence[str]) -> None:
    """AssayKitError (one line) when a keyword is named twice (letter case aside: FCS keywords
    are case-insensitive), whatever the format."""
    seen: set[str] = set()
    for name in names:
        if name.upper() in seen:
            raise AssayKitError(f"--include-keywords {name[:40]!r} named twice: name each keyword once")
        seen.add(name.upper())


def _check_keywords_found(names: Sequence[str], found: set[str], run_dir: Path) -> None:
    """AssayKitError (one line naming the run folder) when a keyword asked for is in none of the
    control tubes' FCS files (a misspelling would export an empty column)."""
    missing = [n for n in names if n.upper() not in found]
    if missing:
        raise AssayKitError(f"--include-keywords {', '.join(repr(m[:40]) for m in missing[:5])}: in none of the "
                            "exported tubes' FCS files (check the spelling: FCS keywords such as $CYT)", run_dir)


def export_run(out_dir: str | Path, to: Format, out: str | Path | None = None, study: str = "",
               all_conditions: bool = False, include_keywords: Sequence[str] = (), require_approved: bool = False,
               code_system: str = CODE_SYSTEM, patient_system: str = PATIENT_SYSTEM,
               run_dir: str | Path | None = None, timezone: str = "", include_groups: Sequence[str] = (),
               patient_reference: bool = False) -> ExportResult:
    """Export the reportable values of the scored output folder ``out_dir`` (docs/exports.md).

    Parameters
    ----------
    out_dir : str or Path
        The output folder of ``assaykit score`` (read only, never changed).
    to : str
        ``redcap``, ``sdtm`` or ``fhir``.
    out : str, Path or None
        The export folder (default: ``OUT_DIR-<to>`` beside ``out_dir``), replaced as one unit.
    study : str
        The study identifier (SDTM STUDYID and USUBJID's prefix; default: the run's name).
    all_conditions : bool
        Also each drug condition's AB/C and fold change.
    include_keywords : sequence of str
        FCS keywords to add (each control tube's value); none by default: nothing from the
        FCS files' keywords leaves the lab unless named.
    require_approved : bool
        Refuse a run not signed "approved" (assaykit review) instead of exporting it with a
        warning.
    code_system : str
        The URI of the local test codes (FHIR Coding.system).
    patient_system : str
        The URI of the patient identifiers (FHIR Identifier.system).
    run_dir : str, Path or None
        Where the run's FCS files are, for ``include_keywords`` (default: the manifest's run folder).
    timezone : str
        FHIR: the zone the local draw times are in (``+01:00``, ``Europe/Berlin``, ``UTC``); ""
        writes the draw date alone. Refused when scoring recorded the times in UTC (manifest
        ``clinical.times``) and it names another zone: those are written with ``Z``.
    include_groups : sequence of str
        Donor groups to export that are left out by default (``healthy``; values.select).
    patient_reference : bool
        FHIR: add ``subject.reference`` ``Patient/<id>`` beside the identifier (fhir.subject).

    A selection of no value writes nothing: the result has ``exported`` 0 and no files.
    """
    from .._io.atomic import file_listing, output_unit, write_atomic
    from ..report.load import load_run
    from ..scoring.tables import recorded_run_dir, version
    from . import fhir, redcap, sdtm

    if to not in FORMATS:
        raise AssayKitError(f"no export format {to!r} (formats: {', '.join(FORMATS)})")
    zone = fhir.parse_zone(timezone) if timezone else None
    _check_keyword_names(include_keywords)  # before any file is read
    if to == "redcap":
        redcap.check_keyword_fields(list(include_keywords))
    scored = Path(out_dir)
    target = Path(out) if out is not None else scored.parent / f"{scored.name}-{to}"
    replaced = check_target(scored, target)
    run = load_run(scored)
    status = signature_status(scored, run.manifest, run.signatures)
    if require_approved and status != "approved":
        raise AssayKitError(f"the run is not signed approved ({status.replace('_', ' ')}): --require-approved "
                            "refuses it; approve it with assaykit review", scored)
    selection = select(run, all_conditions, include_groups)
    if zone is not None and selection.time_basis == "utc" \
            and zone.utcoffset(dt.datetime(2000, 1, 1)) != dt.timedelta(0):
        raise AssayKitError(f"--timezone {timezone}: scoring recorded the draw times in UTC (the clinical CSV gave "
                            "UTC offsets; manifest.json clinical.times), so they are exported as UTC; leave "
                            "--timezone out", scored / "manifest.json")
    study = study or run.run_name
    notes: tuple[str, ...] = ()
    if include_keywords:
        control_files = {(str(s["patient"]), str(s["timepoint"])): str(s["file"]) for s in run.samples
                         if s.get("role") == "sample" and s.get("condition") == selection.control}
        where = Path(run_dir) if run_dir is not None else recorded_run_dir(scored, run.manifest)
        found = _keywords(where, control_files, include_keywords)
        values = tuple(replace(v, keywords=found.get((v.patient, v.timepoint), ())) for v in selection.values)
        selection = replace(selection, keywords=tuple(include_keywords), values=values)
    if not selection.values:
        return ExportResult(out_dir=target, to=to, files=(), exported=0, withheld=selection.withheld,
                            signatures=status, replaced=False, not_exported_groups=selection.not_exported_groups,
                            notes=notes)
    if to == "redcap":
        data = {"redcap_dictionary.csv": redcap.dictionary(selection), "redcap_records.csv": redcap.records(selection)}
    elif to == "sdtm":
        data = sdtm.files(selection, study)
    else:
        data = {"observations.json": fhir.bundle(selection, study, str(run.manifest.get("run_id", "")), code_system,
                                                 patient_system, zone, patient_reference)}
    with output_unit(target, kind=KIND) as stage:
        for name, content in data.items():
            write_atomic(stage / name, content)
        manifest = {"kind": KIND, "format": to, "source": str(scored.resolve()),
                    "source_run_id": run.manifest.get("run_id", ""),
                    "source_manifest_sha256": _sha256(scored / "manifest.json"), "signatures": status,
                    "study": study, "all_conditions": all_conditions, "keywords": list(include_keywords),
                    "timezone": timezone, "clinical_times": selection.time_basis,
                    "days": selection.day_basis, "donor_groups_included": list(include_groups),
                    "not_exported_groups": dict(selection.not_exported_groups),
                    "patient_reference": patient_reference,
                    "exported": len(selection.values), "withheld": selection.withheld,
                    "withheld_reasons": dict(selection.withheld_reasons), "software": {"assaykit": version()},
                    "files": file_listing(stage)}
        write_atomic(stage / "manifest.json", (json.dumps(manifest, indent=1, ensure_ascii=False) + "\n").encode())
    return ExportResult(out_dir=target, to=to, files=tuple(data), exported=len(selection.values),
                        withheld=selection.withheld, signatures=status, replaced=replaced,
                        not_exported_groups=selection.not_exported_groups, notes=notes)


def _sha256(path: Path) -> str:
    import hashlib

    from .._io.read import OUTPUT_LIMIT, read_input

    return hashlib.sha256(read_input(path, AssayKitError, "manifest", OUTPUT_LIMIT, links=False)).hexdigest()
