"""The monocyte HLA-DR readout in calibrated units: MFI -> AB/C (QuantiBRITE PE) or MEF through
a bead calibration, with the QC findings of pairing a sample with its bead tube."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .beads import Calibration
from .fcs import Sample
from .readout import ReadoutResult


@dataclass(frozen=True)
class Calibrated:
    """A readout statistic (``statistic`` of ``mfi``) converted to ``unit``."""

    mfi: float | None
    value: float | None  # None when the MFI is missing or <= 0
    unit: str
    statistic: str
    qc_flags: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pairing_flags(calibration: Calibration, sample: Sample, channel: str) -> list[str]:
    """Findings that make a sample's calibration doubtful: the beads read in another channel, or
    at another detector voltage (beads and samples must share the instrument settings)."""
    flags = []
    if channel.strip().lower() != calibration.channel.strip().lower():
        flags.append(f"beads were read in {calibration.channel}, the sample's readout in {channel}")
    if channel in sample.channels and calibration.voltage:
        voltage = sample.keywords.get(f"$P{sample.channels.index(channel) + 1}V", "").strip()
        if voltage and voltage != calibration.voltage:
            flags.append(f"{channel} voltage {voltage} differs from the bead tube's {calibration.voltage}")
    return flags


def calibrate_readout(readout: ReadoutResult, calibration: Calibration, sample: Sample) -> Calibrated:
    """The readout's statistic (median by default) converted through ``calibration``."""
    flags = pairing_flags(calibration, sample, readout.channel)
    mfi = readout.value
    value = None
    if mfi is not None and mfi > 0:
        value = float(calibration.convert(mfi))
        used = [p.mfi for p in calibration.peaks if p.used]
        if mfi < min(used):
            flags.append(f"MFI {mfi:,.0f} below the dimmest bead used ({min(used):,.0f}): extrapolated")
        elif mfi > max(used):
            flags.append(f"MFI {mfi:,.0f} above the brightest bead used ({max(used):,.0f}): extrapolated")
    elif mfi is not None:
        flags.append(f"{readout.statistic} MFI {mfi:,.1f} is not positive: no calibrated value")
    return Calibrated(mfi, value, calibration.cell_unit, readout.statistic, tuple(flags))
