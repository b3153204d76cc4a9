"""Bead calibration: MFI to antibodies bound per cell (QuantiBRITE PE) or MEF (rainbow beads)."""

from .fit import Calibration, PeakFit, calibrate_peaks, fit_line
from .lot import BeadLot, BeadQC, load_lot, lot_from_options, make_lot, parse_values
from .peaks import Peak, PeakSearch, find_peaks
from .pipeline import BeadRun, bead_channel, calibrate_file, calibrate_sample
from .scatter import BeadSingletGate, fit_singlet_gate

__all__ = [
    "BeadLot", "BeadQC", "BeadRun", "BeadSingletGate", "Calibration", "Peak", "PeakFit",
    "PeakSearch", "bead_channel", "calibrate_file", "calibrate_peaks", "calibrate_sample", "find_peaks",
    "fit_line", "fit_singlet_gate", "load_lot", "lot_from_options", "make_lot", "parse_values",
]
