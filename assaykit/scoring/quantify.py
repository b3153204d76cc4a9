"""The monocyte HLA-DR readout in calibrated units: MFI -> AB/C (QuantiBRITE PE) or MEF through
a bead calibration, with the QC findings of pairing a sample with its bead tube."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..beads import Calibration
from ..fcs import Sample
from ..gating import ReadoutResult


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


def pairing_flags(calibration: Calibration, channel: str, voltage: str = "") -> list[str]:
    """Findings that make a sample's calibration doubtful: the beads read in another channel, or
    at another detector voltage ``$PnV`` (beads and samples must share the instrument settings)."""
    flags = []
    if channel.strip().lower() != calibration.channel.strip().lower():
        flags.append(f"beads were read in {calibration.channel}, the sample's readout in {channel}")
    if voltage and calibration.voltage and voltage != calibration.voltage:
        flags.append(f"{channel} voltage {voltage} differs from the bead tube's {calibration.voltage}")
    return flags


def calibrated_value(mfi: float | None, calibration: Calibration, channel: str,
                     voltage: str = "") -> tuple[float | None, list[str]]:
    """``mfi`` (scale units, read in ``channel`` at detector ``voltage``) in ``calibration``'s
    unit (AB/C for QuantiBRITE PE), and the QC flags of doing so."""
    flags = pairing_flags(calibration, channel, voltage)
    if mfi is None:
        return None, flags
    if mfi <= 0:
        return None, [*flags, f"MFI {mfi:,.1f} is not positive: no calibrated value"]
    used = [p.mfi for p in calibration.peaks if p.used]
    if mfi < min(used):
        flags.append(f"MFI {mfi:,.0f} below the dimmest bead used ({min(used):,.0f}): extrapolated")
    elif mfi > max(used):
        flags.append(f"MFI {mfi:,.0f} above the brightest bead used ({max(used):,.0f}): extrapolated")
    return float(calibration.convert(mfi)), flags


def sample_voltage(sample: Sample, channel: str) -> str:
    """``$PnV`` of a channel named ``channel`` ("" when not recorded or no such channel)."""
    return sample.voltage(sample.channels.index(channel)) if channel in sample.channels else ""


def calibrate_readout(readout: ReadoutResult, calibration: Calibration, sample: Sample) -> Calibrated:
    """``readout``'s statistic (median by default, MFI) converted through ``calibration``; the
    voltage check reads ``sample``'s ``$PnV``."""
    value, flags = calibrated_value(readout.value, calibration, readout.channel,
                                    sample_voltage(sample, readout.channel))
    return Calibrated(readout.value, value, calibration.cell_unit, readout.statistic, tuple(flags))
