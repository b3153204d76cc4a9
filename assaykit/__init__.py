"""assaykit: monocyte HLA-DR in antibodies bound per cell, and ex vivo immune restoration,
from flow cytometry runs, with no hand gating."""

from .errors import AssayKitError, CalibrationError, FCSFormatError, GatingError, PlateMapError
from .fcs import Sample, Spillover, read_fcs

__version__ = "0.1.0"

__all__ = [
    "AssayKitError",
    "CalibrationError",
    "FCSFormatError",
    "GatingError",
    "PlateMapError",
    "Sample",
    "Spillover",
    "__version__",
    "read_fcs",
]
