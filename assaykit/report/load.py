"""Read a scored run back from its output folder: the tables (as written by ``score``), the
manifest and the figure data. Text stays text (a patient called "NA" is not a missing value)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import AssayKitError
from ..scoring import figure_data as data
from ..scoring.tables import read_manifest, restore

TABLES = ("samples", "calibration", "restoration", "patients", "cohort")
_NUMBERS = {"events", "singlets", "monocytes", "monocytes_pct", "hladr_mfi", "hladr_abc", "hladr_pos_pct",
            "monocyte_purity_pct", "removed_at_top",
            "slope", "intercept", "r_squared", "n_peaks_used", "peak", "peak_mfi", "peak_value", "peak_fitted_value",
            "peak_residual_log10", "peak_events", "control_abc", "abc", "fold_change", "log2_fold_change",
            "delta_abc", "gap_closed", "ferritin_ng_ml", "best_fold_change", "n_pairs", "median_fold_change",
            "ci_low", "ci_high", "ci_coverage", "wilcoxon_p", "holm_p"}
_FLAGS = {"qc_flags"}
_BOOLEANS = {"responder", "peak_used"}


@dataclass(frozen=True)
class RunData:
    """A scored run: one list of row dicts per table (numbers as float or None, flags as tuples,
    booleans as bool or None), the manifest and the figure data."""

    out_dir: Path
    samples: list[dict[str, Any]]
    calibration: list[dict[str, Any]]
    restoration: list[dict[str, Any]]
    patients: list[dict[str, Any]]
    cohort: list[dict[str, Any]]
    manifest: dict[str, Any]
    figures: dict[str, Any]

    @property
    def run_name(self) -> str:
        return Path(str(self.manifest.get("run_dir", ""))).name or self.out_dir.name

    @property
    def control(self) -> str:
        return str(self.manifest.get("options", {}).get("control", "unstimulated"))


def _value(column: str, text: str) -> Any:
    text = restore(text)  # the tables neutralise formula-like text (scoring.tables.neutralise)
    if column in _NUMBERS:
        return float(text) if text != "" else None
    if column in _FLAGS:
        return tuple(f for f in text.split("; ") if f)
    if column in _BOOLEANS:
        return {"True": True, "False": False}.get(text)
    return text


def read_table(path: Path) -> list[dict[str, Any]]:
    import csv

    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return [{k: _value(k, v) for k, v in row.items()} for row in csv.DictReader(handle)]
    except FileNotFoundError:
        raise AssayKitError("table not found: is this the output folder of `assaykit score`?", path) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise AssayKitError(f"cannot read the table ({type(exc).__name__}: {exc})", path) from None


def load_run(out_dir: str | Path) -> RunData:
    """The tables, manifest and figure data of a scored run's output folder."""
    folder = Path(out_dir)
    if not folder.is_dir():
        raise AssayKitError("output folder not found", folder)
    manifest = read_manifest(folder)
    listed = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
    for file_name in [f"{t}.csv" for t in TABLES] + [data.FILE_NAME]:  # another run's, or edited: refused
        entry, path = listed.get(file_name), folder / file_name
        if entry is not None and path.is_file() and not path.is_symlink() \
                and hashlib.sha256(path.read_bytes()).hexdigest() != entry.get("sha256"):
            raise AssayKitError("this file is not the one the manifest lists (another run's, or edited); "
                                "score the run again", path)
    tables = {name: read_table(folder / f"{name}.csv") for name in TABLES}
    figures = data.read(folder)
    if not figures.get("missing") and figures.get("run_id", "") != manifest.get("run_id", ""):
        raise AssayKitError("the figure data come from another run than the tables (run_id differs); "
                            "score the run again", folder / data.FILE_NAME)
    return RunData(folder, manifest=manifest, figures=figures, **tables)
