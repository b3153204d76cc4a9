"""Read a scored run back from its output folder: the tables (as written by ``score``), the
manifest and the figure data. Text stays text (a patient called "NA" is not a missing value)."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._io.names import read_cell
from .._io.read import OUTPUT_LIMIT, read_input
from ..errors import AssayKitError
from ..findings import parse_findings
from ..scoring import figure_data as data
from ..scoring.tables import COLUMNS, MANIFEST, read_manifest

TABLES = tuple(COLUMNS)
OPTIONAL = ("trajectories", "qc")
"""Tables a run scored before the ledger existed does not have."""
_NUMBERS = {"events", "singlets", "monocytes", "monocytes_pct", "hladr_mfi", "hladr_abc", "hladr_pos_pct",
            "monocyte_purity_pct", "removed_at_top",
            "slope", "intercept", "r_squared", "n_peaks_used", "peak", "peak_mfi", "peak_value", "peak_fitted_value",
            "peak_residual_log10", "peak_events", "control_abc", "abc", "fold_change", "log2_fold_change",
            "delta_abc", "gap_closed", "ferritin_ng_ml", "best_fold_change", "n_pairs", "median_fold_change",
            "ci_low", "ci_high", "ci_coverage", "wilcoxon_p", "holm_p", "day", "draw_to_stain_h", "value", "target",
            "sd", "z", "n_replicates", "replicate_cv_pct", "control_n_replicates", "control_replicate_cv_pct"}
_MAX_NUMBER = 1e15
"""Every number of the tables is finite and below this (counts, MFI, AB/C, p-values, ...)."""
_MAX_EXPONENT = {"peak_residual_log10": 300.0}
"""Columns that are exponents (a page shows 10^x): bounded so that the power is a float."""
_FLAGS = {"qc_flags"}
_BOOLEANS = {"responder", "peak_used"}
VERDICTS = ("reportable", "reportable_with_warnings", "withheld")
"""A value's verdict in samples.csv and restoration.csv (``""``: a table scored before verdicts)."""
_CHOICES = {"verdict": ("", *VERDICTS), "control_verdict": ("", *VERDICTS), "drug_verdict": ("", *VERDICTS),
            "completeness": ("", "complete", "incomplete")}
WITHHELD = ("hladr_abc", "hladr_pos_pct", "abc", "fold_change", "log2_fold_change", "delta_abc",
            "gap_closed", "state", "state_control", "state_drug", "responder", "immunosep_class", "immunosep_rule",
            "best_condition", "best_fold_change")
"""What a withheld row never shows, whatever its table holds (its MFI and reasons stay)."""
CALIBRATION_STATUSES = ("reportable", "withheld", "released")
_CODE = re.compile(r"[a-z0-9_]{1,64}")
_CODE_IN_CELL = re.compile(r"(?:^|; )\[([a-z0-9_]{1,64})\] ")


def parse_reasons(text: str) -> tuple[str, ...]:
    """The finding codes of a ``verdict_reasons`` cell: ``code; code`` (or findings written as
    ``[code] message; ...``). A code assaykit does not know yet is kept (a newer scorer's)."""
    if not text:
        return ()
    if text.startswith("["):
        return tuple(dict.fromkeys(_CODE_IN_CELL.findall(text)))
    codes = [part.strip() for part in re.split(r"[;,]", text) if part.strip()]
    for code in codes:
        if not _CODE.fullmatch(code):
            raise ValueError(f"{code[:20]!r} is not a finding code")
    return tuple(dict.fromkeys(codes))


@dataclass(frozen=True)
class RunData:
    """A scored run: one list of row dicts per table (numbers as float or None, ``qc_flags`` as
    tuples of :class:`~assaykit.findings.Finding`, booleans as bool or None), the manifest and
    the figure data."""

    out_dir: Path
    samples: list[dict[str, Any]]
    calibration: list[dict[str, Any]]
    restoration: list[dict[str, Any]]
    patients: list[dict[str, Any]]
    cohort: list[dict[str, Any]]
    manifest: dict[str, Any]
    figures: dict[str, Any]
    data_files: dict[str, bytes] = field(default_factory=dict, repr=False)  # every file but the pages
    trajectories: list[dict[str, Any]] = field(default_factory=list)  # the patients' measures across runs
    qc: list[dict[str, Any]] = field(default_factory=list)  # QC over time: each series' check
    signatures: list[dict[str, Any]] = field(default_factory=list)  # assaykit review's (signed.read_signatures)

    @property
    def qc_over_time(self) -> dict[str, Any]:
        """The run's QC over time (status, reason) as the manifest records it."""
        found = self.manifest.get("qc_over_time")
        return found if isinstance(found, dict) else {}

    @property
    def verdicts(self) -> dict[str, Any] | None:
        """The run's count of values by verdict (``values``, ``reportable``, ``withheld``,
        ``reasons``: code -> count), or None for a run scored before verdicts."""
        found = self.manifest.get("verdicts")
        return found if isinstance(found, dict) else None

    @property
    def calibration_verdict(self) -> dict[str, Any] | None:
        """The bead calibration's verdict (``status``, ``findings``, ``released_reason``), or None
        for a run scored before verdicts."""
        found = self.manifest.get("calibration_verdict")
        return found if isinstance(found, dict) else None

    @property
    def run_name(self) -> str:
        return Path(str(self.manifest.get("run_dir", ""))).name or self.out_dir.name

    @property
    def control(self) -> str:
        return str(self.manifest.get("options", {}).get("control", "unstimulated"))


def _value(column: str, text: str) -> Any:
    text = read_cell(text)  # the tables escape names and neutralise formula-like text (_io.names.cell)
    if column in _NUMBERS:
        if text == "":
            return None
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is None or not abs(value) <= _MAX_EXPONENT.get(column, _MAX_NUMBER):
            raise ValueError(f"column {column}: {text[:20]!r} is not a number assaykit writes")
        return value
    if column in _FLAGS:
        return parse_findings(text)
    if column in _BOOLEANS:
        return {"True": True, "False": False}.get(text)
    if column in ("verdict_reasons", "control_verdict_reasons", "drug_verdict_reasons"):
        return parse_reasons(text)
    if column in _CHOICES and text not in _CHOICES[column]:
        raise ValueError(f"column {column}: {text[:20]!r} is not one of {', '.join(_CHOICES[column][1:])}")
    return text


VERDICT_COLUMNS = frozenset({"verdict", "verdict_reasons", "completeness", "missing"})
CONTROL_VERDICT_COLUMNS = frozenset({"control_verdict", "control_verdict_reasons", "drug_verdict",
                                     "drug_verdict_reasons"})
"""Columns a folder scored before patients.csv carried its control value's verdict lacks (read as empty)."""
"""Columns a folder scored before verdicts (issue 27) lacks: its pages say "No verdicts recorded"."""
REPLICATE_COLUMNS = frozenset({"replicate", "donor_group", "n_replicates", "replicate_cv_pct", "control_n_replicates",
                               "control_replicate_cv_pct"})
"""Columns a folder scored before replicates (issue 31) lacks: its values are each one tube's."""


def _row(row: dict[Any, Any], line: int) -> dict[str, Any]:
    if None in row or None in row.values():
        raise ValueError(f"line {line} has {'more' if None in row else 'fewer'} cells than the header")
    try:
        values = {k: _value(k, v) for k, v in row.items()}
    except ValueError as exc:
        raise ValueError(f"line {line}, {exc}") from None
    if values.get("verdict") == "withheld":  # never shown, even were a table to hold them
        values.update({k: None for k in WITHHELD if k in values})
    return values


def read_table(path: Path) -> list[dict[str, Any]]:
    import csv
    import io

    if not os.path.lexists(path):
        raise AssayKitError("table not found: is this the output folder of `assaykit score`?", path)
    data = read_input(path, AssayKitError, "table", OUTPUT_LIMIT, links=False)  # never a FIFO or /dev/zero
    try:
        reader = csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""))
        if reader.fieldnames is not None:
            reader.fieldnames = [read_cell(name) for name in reader.fieldnames]
        optional = VERDICT_COLUMNS | REPLICATE_COLUMNS | CONTROL_VERDICT_COLUMNS  # an older folder's
        missing = [c for c in COLUMNS.get(path.stem, ()) if c not in (reader.fieldnames or ()) and c not in optional]
        if missing:
            raise AssayKitError(f"column {missing[0]} missing: not a table `assaykit score` wrote", path)
        return [_row(row, reader.line_num) for row in reader]
    except (csv.Error, UnicodeDecodeError, ValueError) as exc:
        raise AssayKitError(f"cannot read the table ({' '.join(str(exc).split())[:200]})", path) from None


_TEXTS = {"run_dir": (), "ended": (), "run_id": (), "software": ("assaykit",), "strategy": ("name", "sha256"),
          "lot": ("kit", "lot"), "options": ("control", "statistic"), "responder_rule": ("rule",)}
"""What the report shows from the manifest: text at the top level or in a section."""


def check_manifest(doc: dict[str, Any], path: Path) -> dict[str, Any]:
    """``doc`` (the manifest at ``path``) with every value the report shows of the shape it
    expects: text where text is shown, the thresholds and responder rule valid as ``score``
    checks them in run.yaml. AssayKitError naming the first value that is not so."""
    from .._io.validate import boolean, build, checking, mapping, text
    from ..scoring.restoration import ResponderRule, Thresholds

    checked = dict(doc)
    with checking(AssayKitError, path, "damaged manifest ({}); score the run again"):
        for key, inner in _TEXTS.items():
            if not inner:
                checked[key] = text(doc.get(key, ""), key)
                continue
            checked[key] = section = dict(mapping(doc.get(key, {}), key))
            for name in inner:
                text(section.get(name, ""), f"{key}.{name}")
        if checked["options"].get("specimen") is not None:
            text(checked["options"]["specimen"], "options.specimen")
        boolean(checked["lot"].get("example", False), "lot.example")
        checked["thresholds"] = build(Thresholds, mapping(doc.get("thresholds"), "thresholds"),
                                      "thresholds").to_dict()
        rule = {k: v for k, v in checked["responder_rule"].items() if k != "rule"}
        checked["responder_rule"] = build(ResponderRule, rule, "responder_rule").to_dict()
        if doc.get("verdicts") is not None:
            _check_verdicts(doc["verdicts"])
        if doc.get("calibration_verdict") is not None:
            _check_calibration_verdict(doc["calibration_verdict"])
    return checked


def _check_verdicts(doc: Any) -> None:
    from .._io.validate import integer, invalid, mapping

    verdicts = mapping(doc, "verdicts")
    counts = {key: integer(verdicts.get(key), f"verdicts.{key}", 0) for key in ("values", "reportable", "withheld")}
    if counts["reportable"] + counts["withheld"] > counts["values"]:
        raise invalid("verdicts", "more values reportable and withheld than values")
    for code, count in mapping(verdicts.get("reasons", {}), "verdicts.reasons").items():
        if not _CODE.fullmatch(code):
            raise invalid("verdicts.reasons", f"{code[:20]!r} is not a finding code")
        integer(count, f"verdicts.reasons.{code}", 0)


def _check_calibration_verdict(doc: Any) -> None:
    from .._io.validate import invalid, items, mapping, text

    verdict = mapping(doc, "calibration_verdict")
    if verdict.get("status") not in CALIBRATION_STATUSES:
        raise invalid("calibration_verdict.status", f"expected one of {', '.join(CALIBRATION_STATUSES)}")
    for i, item in enumerate(items(verdict.get("findings", []), "calibration_verdict.findings")):
        for key in ("code", "severity", "message"):
            text(mapping(item, f"calibration_verdict.findings[{i}]").get(key, ""),
                 f"calibration_verdict.findings[{i}].{key}")
    if verdict.get("released_reason") is not None:
        text(verdict["released_reason"], "calibration_verdict.released_reason")


def data_files(folder: Path, manifest: dict[str, Any]) -> dict[str, bytes]:
    """The run's data files in ``folder`` (tables, figure data, gate files: every file the
    manifest lists but the pages; the tables and figure data where it lists none) and their
    contents, each checked against the manifest's sha256: a file edited or swapped since is
    refused. A symlink, FIFO, device or directory in its place is refused by what it is (never
    followed, never read); a missing file is left out (the readers say so)."""
    found = manifest.get("files")
    listed: dict[str, Any] = found if isinstance(found, dict) else {}
    names = [n for n in listed if n != "index.html" and not n.startswith("patients/")] if listed \
        else [f"{t}.csv" for t in TABLES] + [data.FILE_NAME]
    contents: dict[str, bytes] = {}
    for name in names:
        source = folder / name
        if ".." in Path(name).parts or Path(name).is_absolute() or not os.path.lexists(source):
            continue
        content = read_input(source, AssayKitError, "output file", OUTPUT_LIMIT, links=False)
        entry = listed.get(name)
        if isinstance(entry, dict) and hashlib.sha256(content).hexdigest() != entry.get("sha256"):
            raise AssayKitError("this file is not the one the manifest lists (another run's, or edited); "
                                "score the run again", source)
        contents[name] = content
    return contents


def _check_calibration(rows: list[dict[str, Any]], path: Path) -> None:
    """A calibration the scorer could not have written (beads.fit.MAX_SLOPE, MAX_INTERCEPT) is refused."""
    from ..beads.fit import MAX_INTERCEPT, MAX_SLOPE

    for row in rows:
        slope, intercept = row.get("slope"), row.get("intercept")
        if (slope is not None and not 0 < slope <= MAX_SLOPE) or \
                (intercept is not None and not abs(intercept) <= MAX_INTERCEPT):
            raise AssayKitError(f"slope {slope!r} / intercept {intercept!r} is not a bead calibration assaykit "
                                f"writes (slope in (0, {MAX_SLOPE:g}], |intercept| <= {MAX_INTERCEPT:g}); "
                                "score the run again", path)


def load_run(out_dir: str | Path) -> RunData:
    """The tables, manifest and figure data of a scored run's output folder."""
    folder = Path(out_dir)
    if not folder.is_dir():
        raise AssayKitError("output folder not found", folder)
    manifest = check_manifest(read_manifest(folder), folder / MANIFEST)
    files = data_files(folder, manifest)  # another run's, or edited: refused
    tables = {name: read_table(folder / f"{name}.csv") for name in TABLES
              if name not in OPTIONAL or (folder / f"{name}.csv").is_file()}
    _check_calibration(tables["calibration"], folder / "calibration.csv")
    figures = data.read(folder)
    if not figures.get("missing") and figures.get("run_id", "") != manifest.get("run_id", ""):
        raise AssayKitError("the figure data come from another run than the tables (run_id differs); "
                            "score the run again", folder / data.FILE_NAME)
    from .signed import read_signatures

    return RunData(folder, manifest=manifest, figures=figures, data_files=files, signatures=read_signatures(folder),
                   **tables)
