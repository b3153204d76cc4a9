"""assaykit: monocyte HLA-DR in antibodies bound per cell, and ex vivo immune restoration,
from flow cytometry runs, with no hand gating."""

from .errors import AssayKitError, CalibrationError, FCSFormatError, GatingError, PlateMapError
from .fcs import Sample, Spillover, read_fcs

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # assaykit.score_run(run_dir, ...) -> ScoreResult with the tables as DataFrames, and
    # assaykit.build_reports(out_dir) -> the HTML/PDF pages; imported on first use so that
    # `import assaykit` and `assaykit --help` stay light
    if name == "score_run":
        from .scoring import score_run

        return score_run
    if name == "build_reports":
        from .report import build_reports

        return build_reports
    raise AttributeError(f"module 'assaykit' has no attribute {name!r}")


__all__ = [
    "AssayKitError",
    "CalibrationError",
    "FCSFormatError",
    "GatingError",
    "PlateMapError",
    "Sample",
    "Spillover",
    "__version__",
    "build_reports",
    "read_fcs",
    "score_run",
]
