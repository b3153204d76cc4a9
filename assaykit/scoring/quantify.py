"""The monocyte HLA-DR readout in calibrated units: MFI -> AB/C (QuantiBRITE PE) or MEF through
a bead calibration, with the QC findings of pairing a sample with its bead tube."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..beads import Calibration
from ..fcs import Sample
from ..findings import Finding, FindingCode, finding
from ..gating import ReadoutResult


@dataclass(frozen=True)
class Calibrated:
    """A readout statistic (``statistic`` of ``mfi``) converted to ``unit``; ``withheld``: the
    error codes of the tube's findings that withhold the value (``value`` is then None)."""

    mfi: float | None
    value: float | None  # None when the MFI is missing or <= 0
    unit: str
    statistic: str
    findings: tuple[Finding, ...]
    withheld: tuple[FindingCode, ...] = ()  # the error codes that withheld ``value`` (verdicts.tube_status)

    @property
    def qc_flags(self) -> tuple[str, ...]:
        """The findings' messages (for display; code reads ``findings``)."""
        return tuple(f.message for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {"mfi": self.mfi, "value": self.value, "unit": self.unit, "statistic": self.statistic,
                "findings": [f.to_dict() for f in self.findings],
                "withheld": [c.value for c in self.withheld]}


def pairing_findings(calibration: Calibration, channel: str, voltage: str = "") -> list[Finding]:
    """Findings that make a sample's calibration doubtful: the beads read in another channel than
    the sample's ``channel``, or at another detector ``voltage`` (``$PnV``) than ``calibration``'s
    (beads and samples must share the instrument settings)."""
    found = []
    if channel.strip().lower() != calibration.channel.strip().lower():
        found.append(finding(FindingCode.BEAD_CHANNEL_MISMATCH,
                             f"beads were read in {calibration.channel}, the sample's readout in {channel}"))
    if voltage and calibration.voltage and voltage != calibration.voltage:
        found.append(finding(FindingCode.VOLTAGE_MISMATCH,
                             f"{channel} voltage {voltage} differs from the bead tube's {calibration.voltage}"))
    return found


def calibrated_value(mfi: float | None, calibration: Calibration, channel: str,
                     voltage: str = "") -> tuple[float | None, list[Finding]]:
    """``mfi`` (scale units, read in ``channel`` at detector ``voltage``) in ``calibration``'s
    unit (AB/C for QuantiBRITE PE), and the QC findings of doing so."""
    found = pairing_findings(calibration, channel, voltage)
    if mfi is None:
        return None, found
    if mfi <= 0:
        return None, [*found, finding(FindingCode.MFI_NOT_POSITIVE,
                                      f"MFI {mfi:,.1f} is not positive: no calibrated value")]
    used = [p.mfi for p in calibration.peaks if p.used]
    if mfi < min(used):
        found.append(finding(FindingCode.EXTRAPOLATED_LOW,
                             f"MFI {mfi:,.0f} below the dimmest bead used ({min(used):,.0f}): extrapolated"))
    elif mfi > max(used):
        found.append(finding(FindingCode.EXTRAPOLATED_HIGH,
                             f"MFI {mfi:,.0f} above the brightest bead used ({max(used):,.0f}): extrapolated"))
    return float(calibration.convert(mfi)), found


def sample_voltage(sample: Sample, channel: str) -> str:
    """``$PnV`` of a channel named ``channel`` ("" when not recorded or no such channel)."""
    return sample.voltage(sample.channels.index(channel)) if channel in sample.channels else ""


def calibrate_readout(readout: ReadoutResult, calibration: Calibration, sample: Sample) -> Calibrated:
    """``readout``'s statistic (median by default, MFI) converted through ``calibration``; the
    voltage check reads ``sample``'s ``$PnV``."""
    value, found = calibrated_value(readout.value, calibration, readout.channel,
                                    sample_voltage(sample, readout.channel))
    return Calibrated(mfi=readout.value, value=value, unit=calibration.cell_unit, statistic=readout.statistic,
                      findings=tuple(found))
