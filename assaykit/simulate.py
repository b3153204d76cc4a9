"""A whole-blood and bead-tube simulator with ground truth, as acquired on a BD FACSCanto II.

Every later step is tested against it: per-event population labels for gating, the true
monocyte HLA-DR in antibodies bound per cell (AB/C) for quantification, the true bead response
for calibration, and a simple restoration model for scoring.

Model (documented in docs/simulator.md):
- Each cell type has log-normal forward scatter, side scatter, CD14 (PerCP-Cy5.5) and HLA-DR (PE)
  expressed in molecules per cell; the cytometer turns molecules into a signal through the
  calibration ``log10(molecules) = slope x log10(signal) + intercept`` (the very relation the bead
  calibration recovers), with multiplicative measurement noise of median 1 and additive
  electronic noise of mean 0, so the monocytes' median signal maps back to their median AB/C.
- PE spills into the PerCP-Cy5.5 detector (and PerCP-Cy5.5 slightly into PE); the matrix is
  applied to the signals and written to ``$SPILLOVER``.
- Doublets add two cells' areas (FSC-H only rises ~15 %); debris is small and dim.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ._io.atomic import write_atomic
from .errors import AssayKitError
from .gating.specimen import SPECIMENS

CHANNELS = ("FSC-A", "FSC-H", "SSC-A", "PE-A", "PerCP-Cy5-5-A", "Time")
MARKERS = ("", "", "", "HLA-DR PE", "CD14 PerCP-Cy5.5", "")
CHANNEL_MAX = 262143.0  # FACSCanto II: 18-bit scale, $PnR = 262144
TIMESTEP = 0.01  # seconds per Time unit

# Per-event labels written to <file>.labels.npy (int8)
LABELS = {
    0: "debris",
    1: "doublet",
    2: "lymphocyte",  # T and NK cells: HLA-DR negative
    3: "b_cell",  # HLA-DR bright, CD14 negative: must never be gated as monocytes
    4: "monocyte",  # classical/intermediate, CD14 bright
    5: "monocyte_nonclassical",  # CD14 dim, still monocytes
    6: "neutrophil",
    7: "eosinophil",
    8: "immature_granulocyte",  # septic left shift: lower SSC, CD14 dim to intermediate
    9: "bead",
    10: "bead_doublet",
    11: "saturated",  # a cell at the top of the FSC or SSC scale (clump, aggregate, misset voltage)
    12: "red_cell_ghost",  # lyse-no-wash: lysed red cells, small and dim
}
# Specimens the simulator makes (gating.specimen.SPECIMENS): lysed (and washed) whole blood, PBMC
# (Ficoll: no granulocytes, monocytes the highest-SSC population) and lyse-no-wash whole blood
# (red-cell ghosts and much more debris).
MONOCYTE_LABELS = (4, 5)

# Published example values of one QuantiBRITE PE lot (PE molecules per bead; low, medium-low,
# medium-high, high). A lab must use the values on its own lot's certificate.
QUANTIBRITE_EXAMPLE_LOT = (474.0, 5359.0, 23843.0, 62336.0)

# Maximum fold change in monocyte HLA-DR a drug reaches ex vivo in a fully responsive patient
# (orientation: IFN-gamma raised median mHLA-DR ~4.7x in vivo, Payen 2019; GM-CSF normalises it).
DRUG_MAX_FOLD = {"unstimulated": 1.0, "IFN-gamma": 3.5, "GM-CSF": 2.5, "IL-7": 1.2, "anti-PD-1": 1.3}
ABC_CEILING = 60000.0

THIRD_MARKERS = ("CD15", "CD16", "CD45")
"""The third markers a tube may carry (``Scenario.third_marker``, ``simulate --third-marker``)."""

# Per third marker, per label: (median molecules, log10 SD, share of the cells positive, their
# median): the second mode is the NK cells among the T/NK lymphocytes (CD16). Sources in
# docs/simulator.md: CD15 bright on neutrophils, eosinophils and immature granulocytes, dim on
# monocytes, negative on lymphocytes; CD45 brightest on lymphocytes, bright on monocytes
# (non-classical brighter), dimmer on neutrophils, dimmer still on immature granulocytes; CD16
# bright on neutrophils and NK cells, positive on non-classical monocytes, dim on classical
# monocytes and on immature granulocytes (myelocytes, metamyelocytes), negative on eosinophils.
THIRD_MARKER_LEVELS: dict[str, dict[int, tuple[float, float, float, float]]] = {
    "CD15": {0: (80, 0.5, 0, 0), 2: (150, 0.25, 0, 0), 3: (150, 0.25, 0, 0), 4: (2500, 0.25, 0, 0),
             5: (1500, 0.25, 0, 0), 6: (40000, 0.2, 0, 0), 7: (30000, 0.2, 0, 0), 8: (35000, 0.25, 0, 0),
             12: (40, 0.4, 0, 0)},
    "CD45": {0: (150, 0.5, 0, 0), 2: (60000, 0.12, 0, 0), 3: (50000, 0.12, 0, 0), 4: (35000, 0.12, 0, 0),
             5: (45000, 0.12, 0, 0), 6: (10000, 0.12, 0, 0), 7: (16000, 0.12, 0, 0), 8: (5000, 0.15, 0, 0),
             12: (60, 0.4, 0, 0)},
    "CD16": {0: (80, 0.5, 0, 0), 2: (150, 0.25, 0.12, 20000), 3: (150, 0.25, 0, 0), 4: (700, 0.3, 0, 0),
             5: (15000, 0.2, 0, 0), 6: (80000, 0.15, 0, 0), 7: (200, 0.25, 0, 0), 8: (1500, 0.3, 0, 0),
             12: (40, 0.4, 0, 0)},
}
# Spillover of the third dye where a style writes a matrix (canto, navios): (into PE, into
# PerCP-Cy5.5, PE into it, PerCP-Cy5.5 into it): FITC into PE, APC-H7 (Navios PC7) into
# PerCP-Cy5.5 and back, V500 (Navios Krome Orange) barely.
THIRD_SPILLOVER = {"CD15": (0.2, 0.03, 0.01, 0.0), "CD16": (0.0, 0.02, 0.0, 0.03), "CD45": (0.005, 0.0, 0.0, 0.0)}


@dataclass(frozen=True)
class Instrument:
    """The detector response: molecules = 10^(slope x log10(signal) + intercept)."""

    slope: float = 1.02
    intercept: float = 0.35
    cv: float = 0.08  # multiplicative measurement noise (log-normal, median 1)
    electronic_sd: float = 15.0  # additive noise in signal units
    spill_pe_into_percp: float = 0.12
    spill_percp_into_pe: float = 0.004

    def signal(self, molecules: np.ndarray) -> np.ndarray:
        """Noise-free signal (MFI units) of a number of fluorochrome molecules."""
        return 10.0 ** ((np.log10(np.maximum(molecules, 1e-3)) - self.intercept) / self.slope)

    def molecules(self, signal: np.ndarray | float) -> np.ndarray:
        """The inverse of :meth:`signal`: molecules (AB/C for HLA-DR) of a signal."""
        return 10.0 ** (self.slope * np.log10(signal) + self.intercept)

    def spillover(self) -> np.ndarray:
        """Rows: dyes (PE, PerCP-Cy5.5); columns: detectors (PE-A, PerCP-Cy5-5-A)."""
        return np.array([[1.0, self.spill_pe_into_percp], [self.spill_percp_into_pe, 1.0]])


@dataclass(frozen=True)
class InstrumentStyle:
    """How a cytometer writes a tube: channel names, data type, range and amplification.

    The simulator works in FACSCanto II units; a style maps them to its own: scatter and
    fluorescence multiplied by ``scatter_gain``/``fluorescence_gain``, integer channels
    (``bits``, ``channel_range``), fluorescence log-amplified over ``log_decades`` decades
    (FACSCalibur: 1024 channels over 4 decades) or linear (0), a column left out where its
    channel name is ``None`` (FACSCalibur records no pulse area), and hardware compensation
    (``$SPILLOVER`` not written, the data already compensated) when ``hardware_compensation``.
    With ``identity_spillover`` the file's ``$SPILLOVER`` is an identity matrix although the
    signals spill (the lab's matrix lives in its FlowJo workspace). ``log_columns`` are the
    columns log-amplified (``$PnE = log_decades,log_low``: value = log_low x 10^(decades x
    channel / range)); ``keywords`` are the instrument's own TEXT keywords.

    With ``lmd_channels`` the file is a Beckman Coulter list-mode (LMD) file of two datasets
    chained by ``$NEXTDATA`` (:meth:`write_lmd`): an FCS 2.0 dataset of 10-bit values named
    ``lmd_channels`` and labelled ``markers`` (scatter linear, fluorescence log-amplified over 4
    decades, ``$PnE = 4.0,0.1024``), then the FCS 3.0 copy at full resolution named ``channels``
    with no ``$PnS`` and the spillover matrix by parameter number.
    """

    name: str
    cytometer: str
    channels: tuple[str | None, ...]  # per column of CHANNELS
    markers: tuple[str, ...]
    version: str = "3.1"
    bits: int = 32
    channel_range: int = 262144
    integer: bool = False
    scatter_gain: float = 1.0
    fluorescence_gain: float = 1.0
    log_decades: float = 0.0
    hardware_compensation: bool = False
    time_gain: float = 1.0  # time units per Canto time unit (10 ms)
    identity_spillover: bool = False  # $SPILLOVER written as an identity matrix (the real one lives elsewhere)
    log_columns: tuple[int, ...] = (3, 4)  # columns of CHANNELS log-amplified when log_decades (2: SSC too)
    log_low: float = 1.0  # $PnE f2: the value of channel 0 (Beckman Coulter: 0.1024, top of scale 1024)
    keywords: tuple[tuple[str, str], ...] = ()  # instrument keywords written into TEXT
    lmd_channels: tuple[str | None, ...] = ()  # Beckman list mode: the FCS 2.0 dataset's $PnN, per column
    extension: str = ".fcs"  # the files' extension in a run folder (a Navios writes .LMD)
    third: tuple[tuple[str, str, str], ...] = ()  # (third marker, channel, $PnS label) this style writes it as

    @property
    def columns(self) -> list[int]:
        """Indices into CHANNELS of the columns this style records."""
        return [i for i, name in enumerate(self.channels) if name is not None]

    def third_channel(self, marker: str) -> tuple[str, str]:
        """(channel name, ``$PnS`` label) of the third ``marker`` (:data:`THIRD_MARKERS`) here."""
        found = next(((c, label) for m, c, label in self.third if m == marker), None)
        if found is None:
            raise ValueError(f"the {self.name} style writes no {marker!r} (third markers: "
                             f"{', '.join(m for m, _, _ in self.third)})")
        return found

    def _recorded(self, n_columns: int) -> list[int]:
        """The columns written, in file order: a third marker (column 6) before the time channel."""
        if n_columns <= len(CHANNELS):
            return self.columns
        columns = [*(i for i in self.columns if i != 5), 6]
        return [*columns, 5] if 5 in self.columns else columns

    def calibration(self, instrument: Instrument) -> tuple[float, float]:
        """(slope, intercept) of log10(molecules) against log10(this style's fluorescence)."""
        return instrument.slope, instrument.intercept - instrument.slope * float(np.log10(self.fluorescence_gain))

    def to_channels(self, events: np.ndarray, instrument: Instrument, third_marker: str = "") -> np.ndarray:
        """Canto-unit events (n x 6; n x 7 with the ``third_marker``'s column) to this style's
        channel values (n x recorded columns)."""
        values = events.astype(np.float64)
        # a detector at the top of its range written at the top of a scale it fills (within its
        # top channel of 1,024): a real Gallios/Navios copy stores 1,048,575 there, not 4 x 262,143;
        # a scale it does not reach (a FACSCalibur's log fluorescence at 1/30) keeps the value
        measured = [0, 1, 2, 3, 4] + ([6] if values.shape[1] > len(CHANNELS) else [])
        saturated = np.zeros(values.shape, dtype=bool)
        saturated[:, measured] = values[:, measured] >= CHANNEL_MAX
        if self.hardware_compensation and values.shape[1] > len(CHANNELS):
            fluorescence = [3, 4, 6]
            values[:, fluorescence] = values[:, fluorescence] @ np.linalg.inv(third_spillover(third_marker, instrument))
        elif self.hardware_compensation:
            values[:, 3:5] = values[:, 3:5] @ np.linalg.inv(instrument.spillover())
        top = self.channel_range - 1
        values[:, :3] *= self.scatter_gain
        values[:, 3:5] *= self.fluorescence_gain
        values[:, 5] *= self.time_gain
        third = values.shape[1] > len(CHANNELS)  # a third marker's column (6): fluorescence
        if third:
            values[:, 6] *= self.fluorescence_gain
        if self.log_decades:
            logged = list(self.log_columns) + ([6] if third else [])
            values[:, logged] = (np.log10(np.maximum(values[:, logged], self.log_low) / self.log_low)
                                 / self.log_decades * self.channel_range)
        values = np.clip(values, 0.0, top)
        values[saturated & (values >= self.channel_range * (1 - 1 / 1024))] = top
        if self.integer:
            values = np.rint(values)
        return values[:, self._recorded(values.shape[1])]

    def write(self, path: str | os.PathLike[str], events: np.ndarray, instrument: Instrument,
              keywords: dict[str, str], third_marker: str = "") -> Path:
        """Write Canto-unit ``events`` as this instrument would (with ``third_marker``, events
        carry its column last: written as :meth:`third_channel` names it)."""
        from .fcs.writer import write_fcs, write_fcs_integer

        if self.lmd_channels:  # a list-mode file: two colours only (no third marker: third_channel refuses one)
            if third_marker:
                self.third_channel(third_marker)
            return self.write_lmd(path, self.to_channels(events, instrument), instrument, keywords)
        names, labels = list(self.channels), list(self.markers)
        if third_marker:
            channel, label = self.third_channel(third_marker)
            names.append(channel)
            labels.append(label)
        order = self._recorded(len(names))
        channels = [str(names[i]) for i in order]  # the columns' names
        markers = [labels[i] for i in order]
        values = self.to_channels(events, instrument, third_marker)
        if not self.integer:
            ranges = {f"$P{n}R": str(self.channel_range) for n in range(1, len(channels) + 1)}
            return write_fcs(path, values, channels, markers, {**keywords, **ranges})
        log = f"{self.log_decades:g},1" if self.log_low == 1 else f"{self.log_decades:.1f},{self.log_low:g}"
        logged = (*self.log_columns, 6)  # a third marker (6) is fluorescence: log-amplified with the others
        amplification = [log if self.log_decades and i in logged else "0,0" for i in order]
        return write_fcs_integer(path, values.astype(np.int64), channels, markers, keywords, version=self.version,
                                 bits=self.bits, ranges=[self.channel_range] * len(channels),
                                 amplification=amplification)

    def write_lmd(self, path: str | os.PathLike[str], values: np.ndarray, instrument: Instrument,
                  keywords: dict[str, str]) -> Path:
        """Write this style's channel ``values`` (:meth:`to_channels`: the full-resolution FCS 3.0
        copy, 0 .. ``channel_range`` - 1) as a Beckman Coulter LMD file laid out as the corpus's
        Gallios and FC500 files are: first an FCS 2.0 dataset (``$BYTEORD 1,2``, 16-bit words
        holding 10-bit values, ``$PnR 1024``), named ``lmd_channels`` and labelled ``markers``:
        scatter and time linear (copy // 1024, ``$PnE 0,0``), fluorescence log-amplified
        (``$PnE = " 4.0,0.1024"``, channel = 256 x log10(copy / 104.8576)), with the run's
        descriptive keywords (``$CYT``, ``$DATE``, ``$FIL`` ...) and the spillover in percent
        (``$DFCnTOm``); then, at its ``$NEXTDATA``, the FCS 3.0 copy (``$BYTEORD 1,2,3,4``, 32-bit,
        ``$PnR`` ``channel_range``, ``$PnE 0,0``, DATA before TEXT) named ``channels``, with no
        ``$PnS``, no ``$CYT``/``$DATE``/``$FIL``, and ``$SPILLOVER`` naming the detectors by
        parameter number. The data are not compensated (both datasets spill)."""
        from .fcs.writer import integer_dataset, write_fcs_datasets

        columns = self.columns
        first_names = [self.lmd_channels[i] or "" for i in columns]
        copy_names = [self.channels[i] or "" for i in columns]
        labels = [self.markers[i] for i in columns]
        copy = np.rint(values).astype(np.int64)
        fluorescence = [k for k, i in enumerate(columns) if i in (3, 4)]
        first = copy // 1024
        logged = np.floor(256.0 * np.log10(np.maximum(copy[:, fluorescence], 1) / 104.8576))
        first[:, fluorescence] = np.clip(logged, 0, 1023)
        first = np.clip(first, 0, 1023)
        amplification = [" 4.0,0.1024" if k in fluorescence else "0,0" for k in range(len(columns))]
        # the spillover: percent per detector pair in the 2.0 dataset, by parameter number in the copy
        detectors = [int("".join(c for c in (self.lmd_channels[i] or "").split()[0] if c.isdigit()) or 0)
                     for i in (3, 4)]
        matrix = np.eye(2) if self.hardware_compensation else instrument.spillover()
        dfc = {f"$DFC{a}TO{b}": "0.0" for b in range(1, 11) for a in range(1, 11)}
        for r, source in enumerate(detectors):
            for c, target in enumerate(detectors):
                if source != target:
                    dfc[f"$DFC{source}TO{target}"] = f"{100 * matrix[r, c]:.2f}"
        numbers = [str(columns.index(i) + 1) for i in (3, 4)]
        spillover = f"2,{','.join(numbers)},{','.join(f'{v:.3f}' for v in matrix.ravel())}"
        descriptive = {k: v for k, v in keywords.items() if k not in ("$SPILLOVER", "$TIMESTEP")}
        shared = {k: v for k, v in keywords.items() if k in ("WELL ID", "CREATOR")}

        def first_dataset(nextdata: int) -> bytes:
            return integer_dataset(first, first_names, labels, {**descriptive, **dfc}, version="2.0", bits=16,
                                   ranges=[1024] * len(columns), amplification=amplification, nextdata=nextdata,
                                   delimiter="\\")

        def copy_dataset(nextdata: int) -> bytes:
            return integer_dataset(copy, copy_names, None, {**shared, "@CRS20BITFORMAT": "TRUE",
                                                            "$SPILLOVER": spillover},
                                   version="3.0", bits=32, ranges=[self.channel_range] * len(columns),
                                   nextdata=nextdata, data_first=True, delimiter="\\")

        return write_fcs_datasets(path, [first_dataset, copy_dataset])


STYLES = {
    "canto": InstrumentStyle("canto", "FACSCanto II (simulated)", CHANNELS, MARKERS,
                             third=(("CD15", "FITC-A", "CD15 FITC"), ("CD16", "APC-H7-A", "CD16 APC-H7"),
                                    ("CD45", "V500-A", "CD45 V500"))),
    "navios": InstrumentStyle(
        "navios", "Navios (simulated)", ("FS INT", "FS PEAK", "SS INT", "FL2 INT", "FL4 INT", "TIME"),
        ("", "", "", "HLA-DR-PE", "CD14-PC5.5", ""), version="3.0", bits=32, channel_range=1048576, integer=True,
        scatter_gain=4.0, fluorescence_gain=4.0,
        third=(("CD15", "FL1 INT", "CD15-FITC"), ("CD16", "FL5 INT", "CD16-PC7"), ("CD45", "FL10 INT", "CD45-KrO"))),
    "calibur": InstrumentStyle(
        "calibur", "FACSCalibur (simulated)", (None, "FSC-H", "SSC-H", "FL2-H", "FL3-H", "Time"),
        ("", "", "", "", "", ""), version="2.0", bits=16, channel_range=1024, integer=True,
        scatter_gain=1024 / 262144 * 1.3, fluorescence_gain=1 / 30, log_decades=4.0, hardware_compensation=True,
        time_gain=1 / 6,
        third=(("CD15", "FL1-H", "CD15 FITC"), ("CD16", "FL1-H", "CD16 FITC"), ("CD45", "FL4-H", "CD45 APC"))),
    "lsr": InstrumentStyle(
        "lsr", "LSRII (simulated)", ("FSC-A", None, "SSC-A", "PerCP-Cy5-5-A", "PE-Cy7-A", "Time"),
        ("", "", "", "MHCII", "CD14", ""), version="3.0", fluorescence_gain=1.5,
        identity_spillover=True,
        third=(("CD15", "FITC-A", "CD15"), ("CD16", "APC-Cy7-A", "CD16"), ("CD45", "BV510-A", "CD45"))),
    "fc500": InstrumentStyle(
        "fc500", "Cytomics FC 500", ("FS Lin", None, "SS Log", "FL2 Log", "FL4 Log", None),
        ("FS Lin", "", "SS Log", "FL2 Log", "FL4 Log", ""), version="2.0", bits=16, channel_range=1024,
        integer=True, scatter_gain=1024 / 262144, fluorescence_gain=1024 / 262144, log_decades=4.0,
        log_columns=(2, 3, 4), log_low=0.1024, hardware_compensation=True,
        keywords=(("$SYS", "CXP"), ("@COMPENSATIONMODE", "Advanced"), ("$DFC2TO4", "12.00"), ("$DFC4TO2", "0.40")),
        third=(("CD15", "FL1 Log", "CD15-FITC"), ("CD16", "FL1 Log", "CD16-FITC"), ("CD45", "FL3 Log", "CD45-ECD"))),
    "navios-lmd": InstrumentStyle(
        "navios-lmd", "Navios", ("FS-A", "FS-H", "SS-A", "FL2-A", "FL4-A", "TIME"),
        ("FS INT LIN", "FS PEAK LIN", "SS INT LIN", "HLA-DR PE", "CD14 PC5.5", "TIME"), version="3.0", bits=32,
        channel_range=1048576, integer=True, scatter_gain=4.0, fluorescence_gain=4.0,
        lmd_channels=("FS INT LIN", "FS PEAK LIN", "SS INT LIN", "FL2 INT LOG", "FL4 INT LOG", "TIME"),
        extension=".LMD", keywords=(("$SYS", "BCI"),)),
}
"""Instrument styles of the simulator: FACSCanto II (float, 0-262,144), Navios (integer,
0-1,048,576, FS INT/FL2 INT names, FCS 3.0) and FACSCalibur (FCS 2.0, 10-bit, log-amplified
fluorescence, pulse heights only, compensation in hardware) and an LSRII with a DC/monocyte
panel (FCS 3.0 float: HLA-DR on PerCP-Cy5.5 labelled ``MHCII``, CD14 on PE-Cy7, no FSC-H, an
identity ``$SPILLOVER`` although the signals spill), and a Beckman Coulter Cytomics FC500 as CXP
writes its FCS 2.0 dataset (the corpus's coulter.lmd): 10-bit integers, ``FS Lin`` linear,
``SS Log`` and ``FL2 Log``/``FL4 Log`` (PE, PerCP-Cy5.5) log-amplified over 4 decades with
``$PnE = 4.0,0.1024`` (values 0.1024-1,024), every ``$PnS`` restating its channel, compensated at
acquisition (``$DFCnTOm`` in percent, no ``$SPILLOVER``), no pulse height and no time channel; and a
Navios list-mode file (``navios-lmd``, ``.LMD``): an FCS 2.0 dataset labelled ``HLA-DR PE`` /
``CD14 PC5.5``, then the FCS 3.0 full-resolution copy ``FS-A`` ... ``FL4-A`` with no labels
(:meth:`InstrumentStyle.write_lmd`)."""


@dataclass(frozen=True)
class Population:
    """One cell type: medians and log10 spreads of scatter and marker molecules."""

    label: int
    fsc: float
    ssc: float
    cd14: float  # PerCP-Cy5.5 molecules
    hladr: float  # PE molecules (= AB/C)
    fsc_sd: float = 0.06
    ssc_sd: float = 0.08
    cd14_sd: float = 0.2
    hladr_sd: float = 0.2


@dataclass(frozen=True)
class Scenario:
    """One tube of a ``specimen`` (:data:`SPECIMENS`). Fractions are of all events (before
    doublets); granulocytes and lymphocytes share what the others leave (PBMC: lymphocytes only).
    ``saturated_fraction`` of the events are cells pushed to the top of the FSC or SSC scale."""

    specimen: str = "whole_blood"
    n_events: int = 20000
    monocyte_abc: float = 10000.0  # true median HLA-DR AB/C of the monocytes
    monocyte_fraction: float = 0.07
    nonclassical_fraction: float = 0.1  # of monocytes, CD14 dim
    cd14_shift_decades: float = 0.0  # septic CD14-dim shift of all monocytes (0 .. 0.6)
    immature_granulocyte_fraction: float = 0.0
    b_cell_fraction: float = 0.03
    debris_fraction: float = 0.08
    doublet_fraction: float = 0.03
    b_cell_abc: float = 35000.0
    saturated_fraction: float = 0.0
    ghost_fraction: float = 0.0  # red-cell ghosts (lyse-no-wash)
    monocyte_cd14_sd: float = 0.2  # log10 spread of the monocytes' CD14 (wider after stimulation)
    immature_ssc: float = 70000.0  # immature granulocytes' median SSC (septic: down into the monocytes')
    immature_ssc_sd: float = 0.08
    immature_cd14: float = 2500.0  # immature granulocytes' median CD14 molecules
    third_marker: str = ""  # "" (none) or one of THIRD_MARKERS, drawn after every other value

    def __post_init__(self) -> None:
        if self.specimen not in SPECIMENS:
            raise ValueError(f"unknown specimen {self.specimen!r} (one of {', '.join(SPECIMENS)})")
        if self.third_marker and self.third_marker not in THIRD_MARKERS:
            raise ValueError(f"unknown third marker {self.third_marker!r} (one of {', '.join(THIRD_MARKERS)})")


def specimen_scenario(specimen: str, **values: float | int | str) -> Scenario:
    """A Scenario with the typical make-up of ``specimen``: PBMC with monocytes 20 % of events
    and little debris; lyse-no-wash with 35 % debris and 25 % red-cell ghosts; ``values``
    override any field."""
    typical: dict[str, dict[str, float]] = {
        "whole_blood": {},
        "pbmc": {"monocyte_fraction": 0.2, "debris_fraction": 0.05, "b_cell_fraction": 0.08},
        "lyse_no_wash": {"debris_fraction": 0.35, "ghost_fraction": 0.25},
    }
    return Scenario(**{"specimen": specimen, **typical[specimen], **values})  # type: ignore[arg-type]


def septic_scenario(**values: float | int | str) -> Scenario:
    """Septic whole blood at least as hard as issue 29 describes it (an independent simulator's
    septic tubes): 100,000 events, non-classical (CD14-dim) monocytes 12 % of the monocytes, all
    monocytes' CD14 down 0.4 decade, immature granulocytes 5 % of events (about 8 % of the
    granulocytes), HLA-DR negative, their side scatter (median 60,000, 0.08 decade) overlapping
    the monocytes' (42,000) and their CD14 (2,500 molecules) that of the CD14-dim monocytes. A
    Gaussian classifier from the true labels is 3.5-5 % low on such tubes (monocytes 5-10 %), as
    on the independent simulator's (3.5-5.3 %); ``values`` override any field."""
    septic: dict[str, float | int | str] = {
        "n_events": 100000, "nonclassical_fraction": 0.12, "cd14_shift_decades": 0.4,
        "immature_granulocyte_fraction": 0.05, "immature_ssc": 60000.0}
    return Scenario(**{**septic, **values})  # type: ignore[arg-type]


def stimulated_pbmc_scenario(**values: float | int | str) -> Scenario:
    """Stimulated (or cryopreserved) PBMC whose monocytes lost much of their CD14, as the first
    real LSRII tube of issue 29: CD14 down 1.5 decades and twice as spread (0.35 decade), so the
    monocytes' CD14 lies a few lymphocyte SDs above the lymphocytes' and side scatter carries
    most of the separation; monocytes 5 %, 60,000 events; ``values`` override any field."""
    stimulated: dict[str, float | int | str] = {
        "n_events": 60000, "monocyte_fraction": 0.05, "cd14_shift_decades": 1.5, "monocyte_cd14_sd": 0.35}
    return specimen_scenario("pbmc", **{**stimulated, **values})


def _populations(s: Scenario) -> list[tuple[Population, float]]:
    mono_cd14 = 25000.0 / 10 ** s.cd14_shift_decades
    monocytes = s.monocyte_fraction * (1 - s.nonclassical_fraction)
    nonclassical = s.monocyte_fraction * s.nonclassical_fraction
    others = (1.0 - s.debris_fraction - s.ghost_fraction - s.monocyte_fraction - s.b_cell_fraction
              - s.immature_granulocyte_fraction)
    if others <= 0.1:
        raise ValueError("scenario fractions leave too few granulocytes and lymphocytes")
    # whole blood: 30 % of the rest lymphocytes, 66 % neutrophils, 4 % eosinophils; PBMC: lymphocytes only
    pbmc = s.specimen == "pbmc"
    if pbmc and s.immature_granulocyte_fraction:
        raise ValueError("PBMC hold no immature granulocytes")
    ghosts = [(Population(12, 14000, 2500, 40, 30, fsc_sd=0.15, ssc_sd=0.2, cd14_sd=0.4, hladr_sd=0.4),
               s.ghost_fraction)] if s.ghost_fraction else []
    return [
        (Population(4, 80000, 42000, mono_cd14, s.monocyte_abc, cd14_sd=s.monocyte_cd14_sd, hladr_sd=0.15),
         monocytes),
        (Population(5, 72000, 36000, mono_cd14 / 8, s.monocyte_abc * 1.4, cd14_sd=s.monocyte_cd14_sd,
                    hladr_sd=0.15), nonclassical),
        (Population(3, 48000, 11000, 120, s.b_cell_abc, hladr_sd=0.15), s.b_cell_fraction),
        (Population(2, 46000, 10000, 100, 150, hladr_sd=0.3), others if pbmc else others * 0.30),
        (Population(6, 95000, 115000, 600, 120, hladr_sd=0.3), 0.0 if pbmc else others * 0.66),
        (Population(7, 90000, 160000, 200, 200, hladr_sd=0.3), 0.0 if pbmc else others * 0.04),
        (Population(8, 85000, s.immature_ssc, s.immature_cd14, 150, ssc_sd=s.immature_ssc_sd, cd14_sd=0.3,
                    hladr_sd=0.3), s.immature_granulocyte_fraction),
        (Population(0, 9000, 5000, 60, 40, fsc_sd=0.3, ssc_sd=0.35, cd14_sd=0.5, hladr_sd=0.5), s.debris_fraction),
        *ghosts,
    ]


def _counts(weights: Sequence[float], n: int, rng: np.random.Generator) -> np.ndarray:
    probabilities = np.asarray(weights, dtype=np.float64)
    return rng.multinomial(n, probabilities / probabilities.sum())


def _lognormal(rng: np.random.Generator, median: float, sd_log10: float, n: int) -> np.ndarray:
    return median * 10.0 ** (rng.normal(0.0, sd_log10, n))


@dataclass(frozen=True)
class Tube:
    """A simulated tube: events (n x 6, CHANNELS order), per-event labels, and truth."""

    events: np.ndarray
    labels: np.ndarray
    true_abc_median: float  # median AB/C of the simulated monocytes (singlets, both subsets)
    n_monocytes: int
    third_marker: str = ""  # the marker of events' seventh column, if any (THIRD_MARKERS)


def _acquire(
    fsc: np.ndarray, ssc: np.ndarray, pe_molecules: np.ndarray, percp_molecules: np.ndarray,
    fsc_height_ratio: np.ndarray, instrument: Instrument, rng: np.random.Generator,
    signals_out: list[np.ndarray] | None = None,
) -> np.ndarray:
    n = fsc.size
    signals = np.stack([instrument.signal(pe_molecules), instrument.signal(percp_molecules)], axis=1)
    signals *= 10.0 ** rng.normal(0.0, instrument.cv / np.log(10), size=signals.shape)
    if signals_out is not None:  # the emitted PE and PerCP-Cy5.5 signals (a third dye's detector sees their spill)
        signals_out.append(signals.copy())
    detected = signals @ instrument.spillover()
    detected += rng.normal(0.0, instrument.electronic_sd, size=detected.shape)
    events = np.empty((n, len(CHANNELS)), dtype=np.float64)
    events[:, 0] = fsc
    events[:, 1] = fsc * fsc_height_ratio
    events[:, 2] = ssc
    events[:, 3:5] = detected
    events[:, 5] = np.sort(rng.uniform(0, 6000, n))  # 60 s of acquisition in TIMESTEP units
    events[:, :5] = np.minimum(events[:, :5], CHANNEL_MAX)
    return events.astype(np.float32)


def simulate_blood(scenario: Scenario, rng: np.random.Generator, instrument: Instrument | None = None) -> Tube:
    """One tube of stained blood of ``scenario.specimen`` (lysed whole blood by default), its
    per-event labels and the monocytes' true median AB/C."""
    instrument = instrument or Instrument()
    populations = _populations(scenario)
    n_doublets = round(scenario.n_events * scenario.doublet_fraction)
    n_cells = scenario.n_events - n_doublets
    counts = _counts([w for _, w in populations], n_cells + 2 * n_doublets, rng)
    parts = []
    for (pop, _), count in zip(populations, counts, strict=True):
        parts.append(np.column_stack([
            np.full(count, pop.label, dtype=np.float64),
            _lognormal(rng, pop.fsc, pop.fsc_sd, count),
            _lognormal(rng, pop.ssc, pop.ssc_sd, count),
            _lognormal(rng, pop.hladr, pop.hladr_sd, count),
            _lognormal(rng, pop.cd14, pop.cd14_sd, count),
        ]))
    cells = np.concatenate(parts)
    cells = cells[rng.permutation(len(cells))]
    singles = cells[:n_cells]
    pairs = cells[n_cells:].reshape(n_doublets, 2, 5)
    doublets = np.column_stack([np.ones(n_doublets), pairs[:, :, 1:].sum(axis=1)])
    all_cells = np.concatenate([singles, doublets])
    labels = np.concatenate([singles[:, 0], np.ones(n_doublets)]).astype(np.int8)
    height_ratio = np.concatenate([
        _lognormal(rng, 0.85, 0.02, n_cells), _lognormal(rng, 0.55, 0.04, n_doublets)])
    order = rng.permutation(len(all_cells))
    all_cells, labels, height_ratio = all_cells[order], labels[order], height_ratio[order]
    if scenario.saturated_fraction:  # cells pushed past the top of the FSC (half) or SSC (half) scale
        hit = rng.random(len(all_cells)) < scenario.saturated_fraction
        on_ssc = rng.random(len(all_cells)) < 0.5
        all_cells[hit & ~on_ssc, 1] = 1e7
        all_cells[hit & on_ssc, 2] = 1e7
        labels[hit] = 11
    emitted: list[np.ndarray] = []
    events = _acquire(all_cells[:, 1], all_cells[:, 2], all_cells[:, 3], all_cells[:, 4],
                      height_ratio, instrument, rng, emitted)
    if scenario.third_marker:  # drawn after everything else: the other channels' draws are unchanged
        molecules = _third_molecules(scenario.third_marker, cells[:, 0].astype(np.int64), rng)
        molecules = np.concatenate([molecules[:n_cells], molecules[n_cells:].reshape(n_doublets, 2).sum(axis=1)])
        events = _acquire_third(events, molecules[order], emitted[0], scenario.third_marker, instrument, rng)
    monocytes = np.isin(labels, MONOCYTE_LABELS)
    true_median = float(np.median(all_cells[monocytes, 3])) if monocytes.any() else float("nan")
    return Tube(events, labels, true_median, int(monocytes.sum()), scenario.third_marker)


def _third_molecules(marker: str, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Molecules of the third ``marker`` per cell of ``labels`` (:data:`THIRD_MARKER_LEVELS`)."""
    table = THIRD_MARKER_LEVELS[marker]
    median, sd, share, positive = (np.array([table.get(int(k), (100, 0.3, 0, 0))[i] for k in range(16)])[labels]
                                   for i in range(4))
    level = np.where(rng.random(labels.size) < share, positive, median)
    return level * 10.0 ** (rng.normal(0.0, 1.0, labels.size) * sd)


def third_spillover(marker: str, instrument: Instrument | None = None) -> np.ndarray:
    """The 3 x 3 spillover matrix of PE, PerCP-Cy5.5 and the third ``marker``'s dye (rows: dyes;
    columns: their detectors, in that order): ``instrument``'s two-colour matrix and
    :data:`THIRD_SPILLOVER`."""
    into_pe, into_percp, pe_into, percp_into = THIRD_SPILLOVER[marker]
    matrix = np.eye(3)
    matrix[:2, :2] = (instrument or Instrument()).spillover()
    matrix[0, 2], matrix[1, 2], matrix[2, 0], matrix[2, 1] = pe_into, percp_into, into_pe, into_percp
    return matrix


def _acquire_third(events: np.ndarray, molecules: np.ndarray, emitted: np.ndarray, marker: str,
                   instrument: Instrument, rng: np.random.Generator) -> np.ndarray:
    """``events`` with a seventh column, the third ``marker``'s detector: its dye's signal (the
    same response and noise as the others), the PE and PerCP-Cy5.5 spill into it, and its spill
    added to the PE and PerCP-Cy5.5 detectors (:func:`third_spillover`)."""
    signal = instrument.signal(molecules) * 10.0 ** rng.normal(0.0, instrument.cv / np.log(10), size=molecules.size)
    matrix = third_spillover(marker, instrument)
    detected = signal + emitted @ matrix[:2, 2] + rng.normal(0.0, instrument.electronic_sd, size=molecules.size)
    out = np.empty((events.shape[0], len(CHANNELS) + 1), dtype=np.float64)
    out[:, :len(CHANNELS)] = events
    out[:, 3:5] += signal[:, None] * matrix[2, :2]
    out[:, 6] = detected
    out[:, [3, 4, 6]] = np.minimum(out[:, [3, 4, 6]], CHANNEL_MAX)
    return out.astype(np.float32)


def simulate_beads(
    values: Sequence[float], rng: np.random.Generator, n_events: int = 10000,
    instrument: Instrument | None = None, cv: float = 0.04, detector: str = "PE",
) -> Tube:
    """A bead tube: equal peaks at ``values`` fluorochrome molecules per bead (0: a blank peak)
    read in the ``detector`` ("PE", as QuantiBRITE PE, or "PerCP" for rainbow beads read in
    another channel), with 5 % bead doublets and 4 % debris."""
    if detector not in ("PE", "PerCP"):
        raise ValueError(f"detector must be 'PE' or 'PerCP', got {detector!r}")
    instrument = instrument or Instrument()
    n_doublets = int(n_events * 0.05)
    n_debris = int(n_events * 0.04)
    n_single = n_events - n_doublets - n_debris
    peak = rng.integers(0, len(values), size=n_single + 2 * n_doublets)
    pe = np.asarray(values, dtype=np.float64)[peak] * 10 ** rng.normal(0, cv / np.log(10), peak.size)
    fsc = _lognormal(rng, 60000, 0.02, peak.size)
    ssc = _lognormal(rng, 20000, 0.03, peak.size)
    percp = _lognormal(rng, 30, 0.2, peak.size)
    if detector == "PerCP":
        pe, percp = percp, pe
    single = slice(0, n_single)
    pair = slice(n_single, None)

    def doubled(x: np.ndarray) -> np.ndarray:
        return np.concatenate([x[single], x[pair].reshape(n_doublets, 2).sum(axis=1)])

    fsc, ssc, pe, percp = doubled(fsc), doubled(ssc), doubled(pe), doubled(percp)
    debris = (_lognormal(rng, 6000, 0.3, n_debris), _lognormal(rng, 3000, 0.3, n_debris),
              _lognormal(rng, 40, 0.5, n_debris), _lognormal(rng, 20, 0.5, n_debris))
    fsc, ssc, pe, percp = (np.concatenate([a, b]) for a, b in zip((fsc, ssc, pe, percp), debris, strict=True))
    labels = np.concatenate([np.full(n_single, 9), np.full(n_doublets, 10), np.zeros(n_debris)]).astype(np.int8)
    height = np.concatenate([_lognormal(rng, 0.85, 0.02, n_single), _lognormal(rng, 0.55, 0.04, n_doublets),
                             _lognormal(rng, 0.85, 0.05, n_debris)])
    order = rng.permutation(labels.size)
    events = _acquire(fsc[order], ssc[order], pe[order], percp[order], height[order], instrument, rng)
    return Tube(events, labels[order], float("nan"), 0)


# --- restoration model -------------------------------------------------------------------------


def drug_abc(control_abc: float, drug: str, responsiveness: float) -> float:
    """True monocyte AB/C after ex vivo incubation with ``drug``: the fold change shrinks as the
    control approaches the ceiling (healthy monocytes barely respond)."""
    max_fold = DRUG_MAX_FOLD.get(drug, 1.0)
    headroom = max(0.0, 1.0 - control_abc / ABC_CEILING)
    return control_abc * (1.0 + (max_fold - 1.0) * responsiveness * headroom)


# --- a whole run on disk -----------------------------------------------------------------------


@dataclass(frozen=True)
class RunSpec:
    patients: int = 4
    conditions: tuple[str, ...] = ("unstimulated", "IFN-gamma", "GM-CSF", "IL-7")
    events: int = 20000
    seed: int = 1
    timepoint: str = "D3"
    bead_values: tuple[float, ...] = QUANTIBRITE_EXAMPLE_LOT
    instrument: Instrument = field(default_factory=Instrument)
    style: str = "canto"  # a name in STYLES
    monocyte_percent: tuple[float, float] = (4.0, 10.0)  # each patient's monocytes, % of events: uniform in this range
    specimen: str = "whole_blood"  # a name in SPECIMENS (specimen_scenario)
    third_marker: str = ""  # "" (none) or one of THIRD_MARKERS: every blood tube carries it
    replicates: int = 1  # tubes of each sample (replicate column r1, r2 ...): same blood, new acquisition
    healthy: int = 0  # healthy donors HD01 ... (donor_group healthy, normal HLA-DR), control condition only
    healthy_abc: tuple[float, float] = (28000.0, 0.1)  # healthy donors' AB/C: log-normal median and log10 SD


MAX_BLOOD_TUBES = 95
"""Blood tubes of a simulated plate: 96 wells, H12 the bead tube's."""


def blood_tubes(spec: RunSpec) -> int:
    """The blood tubes ``spec`` makes: (patients x conditions + healthy donors) x replicates.

    Parameters
    ----------
    spec : RunSpec
        The run simulated.
    """
    return (spec.patients * len(spec.conditions) + spec.healthy) * spec.replicates


def _well(index: int) -> str:
    return f"{'ABCDEFGH'[index // 12]}{index % 12 + 1}"


def _file_name(well: str, extension: str = ".fcs") -> str:
    # BD FACSDiva style: Specimen_001_A1_A01.fcs (a Navios list-mode file: .LMD)
    return f"Specimen_001_{well}_{well[0]}{int(well[1:]):02d}{extension}"


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _csv_bytes(rows: list[dict], columns: Sequence[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _keywords(well: str, instrument: Instrument, name: str, style: InstrumentStyle | None = None,
              third_marker: str = "") -> dict[str, str]:
    style = style or STYLES["canto"]
    keywords = {
        "$CYT": style.cytometer,
        "$DATE": "22-NOV-2026",
        "$FIL": name,
        "WELL ID": well,
        "CREATOR": "assaykit simulate",
        **dict(style.keywords),
    }
    if style.channels[5] is not None:  # a time channel: its unit
        keywords["$TIMESTEP"] = f"{TIMESTEP / style.time_gain:g}"
    if not style.hardware_compensation and third_marker:
        matrix = np.eye(3) if style.identity_spillover else third_spillover(third_marker, instrument)
        values = ",".join(f"{v:.6g}" for v in matrix.ravel())
        third = style.third_channel(third_marker)[0]
        keywords["$SPILLOVER"] = f"3,{style.channels[3]},{style.channels[4]},{third},{values}"
    elif not style.hardware_compensation:
        matrix = np.eye(2) if style.identity_spillover else instrument.spillover()
        values = ",".join(f"{v:.6g}" for v in matrix.ravel())
        keywords["$SPILLOVER"] = f"2,{style.channels[3]},{style.channels[4]},{values}"
    return keywords


def write_tube(path: str | os.PathLike[str], tube: Tube, well: str = "A1", instrument: Instrument | None = None,
               style: InstrumentStyle | str = "canto") -> Path:
    """Write a simulated tube as an FCS file in an instrument ``style`` (a name in STYLES); a
    tube with a third marker gets its channel as the style names it (``InstrumentStyle.third``)."""
    instrument = instrument or Instrument()
    chosen = STYLES[style] if isinstance(style, str) else style
    keywords = _keywords(well, instrument, Path(path).name, chosen, tube.third_marker)
    return chosen.write(path, tube.events, instrument, keywords, tube.third_marker)


def spillover_csv(style: InstrumentStyle | str, instrument: Instrument | None = None, third_marker: str = "") -> bytes:
    """The spillover matrix the ``style``'s detectors really see (``instrument``'s), as a
    compensation CSV (header: the fluorescence channel names; rows: dyes): what a lab keeps
    when its files carry an identity ``$SPILLOVER``; with a ``third_marker``, its dye's too."""
    chosen = STYLES[style] if isinstance(style, str) else style
    names = [str(chosen.channels[3]), str(chosen.channels[4])]
    if third_marker:
        names.append(chosen.third_channel(third_marker)[0])
        matrix = third_spillover(third_marker, instrument)
    else:
        matrix = (instrument or Instrument()).spillover()
    rows = [",".join(names)] + [",".join(f"{v:.6g}" for v in row) for row in matrix]
    return ("\n".join(rows) + "\n").encode()


def lot_yaml(values: Sequence[float], lot: str, note: str, pe_channel: str = "PE-A") -> str:
    """A bead-lot file (format: `assaykit docs bead-calibration`) holding ``values`` (PE molecules per bead),
    the ``lot`` label and a ``note`` comment; ``pe_channel``, the run's PE channel, joins the
    channel aliases when they lack it (an FC500's ``FL2 Log``)."""
    listed = ", ".join(f"{v:g}" for v in values)
    aliases = ["PE-A", "FL2-H", "FL2-A", "FL2 INT", "PE"]
    if pe_channel not in aliases:
        aliases.insert(-1, pe_channel)
    return (
        f"# {note}\n"
        "kit: BD QuantiBRITE PE\n"
        f"lot: \"{lot}\"\n"
        "unit: PE molecules/bead\n"
        "marker: PE\n"
        f"channel_aliases: [{', '.join(aliases)}]\n"
        f"values: [{listed}]\n"
        "qc:\n"
        "  min_r_squared: 0.99\n"
        "  slope_range: [0.8, 1.2]\n"
        "  min_peaks: 3\n"
    )


def _check_fcs2_size(style: InstrumentStyle, events: int) -> None:
    """AssayKitError, before anything is written, when ``events`` of the ``style`` would not fit
    an FCS 2.0 dataset (its own, ``bits`` per value, or an LMD file's first, 16), at most
    :data:`~assaykit.fcs.writer.FCS2_MAX_DATA_BYTES` of DATA."""
    from .fcs.writer import FCS2_MAX_DATA_BYTES

    if not (style.integer and (style.version == "2.0" or style.lmd_channels)):
        return
    width = 2 if style.lmd_channels else style.bits // 8
    most = FCS2_MAX_DATA_BYTES // (width * len(style.columns))
    if events > most:
        raise AssayKitError(f"--instrument {style.name} writes an FCS 2.0 dataset, which holds at most {most:,} "
                            f"events of {len(style.columns)} channels; give --events {most:,} or fewer")


def _check_run_folder(out: Path, force: bool) -> None:
    """AssayKitError, before anything is simulated, when ``out`` is a file or symlink, or (not
    ``force``) a folder holding anything, or a place where no file can be made."""
    from ._io.atomic import check_output_file, check_output_folder

    if out.is_symlink() or (os.path.lexists(out) and not out.is_dir()):
        raise AssayKitError("the run folder is a file or a symlink; name a new folder", out)
    try:
        busy = out.is_dir() and any(out.iterdir())
    except OSError as exc:
        raise AssayKitError(f"cannot read the folder ({exc.strerror or exc})", out) from None
    if not busy:
        check_output_folder(out)  # a new or empty folder: it can be made and written (not read-only, /proc ...)
    elif not force:
        raise AssayKitError("the folder is not empty (its files could be overwritten): name a new or empty folder, "
                            "or give --force to write the simulated files over any of the same names", out)
    else:
        check_output_file(out / "plate_map.csv")  # the folder takes files


def _write_donor(out: Path, spec: RunSpec, rng: np.random.Generator,
                 donor: tuple[str, str, float, float, float, tuple[str, ...]], index: int,
                 plate_rows: list[dict], truth_rows: list[dict]) -> None:
    """One donor's tubes from well ``index`` on: each condition's ``spec.replicates`` tubes, drawn
    from the same true AB/C (they differ by the cells drawn and the acquisition noise alone)."""
    patient, group, control, responsiveness, monocyte_fraction, conditions = donor
    instrument = spec.instrument
    slope, intercept = STYLES[spec.style].calibration(instrument)
    for condition in conditions:
        abc = control if condition == "unstimulated" else drug_abc(control, condition, responsiveness)
        for replicate in range(spec.replicates):
            well = _well(index)
            index += 1
            name = _file_name(well, STYLES[spec.style].extension)
            scenario = specimen_scenario(spec.specimen, n_events=spec.events, monocyte_abc=abc,
                                         monocyte_fraction=monocyte_fraction, third_marker=spec.third_marker)
            tube = simulate_blood(scenario, rng, instrument)
            write_tube(out / name, tube, well, instrument, spec.style)
            write_atomic(out / f"{Path(name).stem}.labels.npy", _npy_bytes(tube.labels))
            label = f"r{replicate + 1}"
            plate_rows.append({"well": well, "file": name, "patient": patient, "timepoint": spec.timepoint,
                               "condition": condition, "role": "sample", "replicate": label, "donor_group": group})
            truth_rows.append({"file": name, "well": well, "patient": patient, "timepoint": spec.timepoint,
                               "condition": condition, "role": "sample",
                               "true_abc": f"{tube.true_abc_median:.2f}", "model_abc": f"{abc:.2f}",
                               "true_monocytes": tube.n_monocytes, "events": spec.events,
                               "calibration_slope": slope, "calibration_intercept": f"{intercept:.6g}",
                               "replicate": label, "donor_group": group})


def write_run(out_dir: str | os.PathLike[str], spec: RunSpec, force: bool = False) -> Path:
    """Simulate a whole plate run into ``out_dir``: FCS files, plate_map.csv, truth.csv,
    per-event labels (``<file>.labels.npy``), labels.json and the bead lot file.
    The same spec (seed included) gives byte-identical files. A folder that exists and is not
    empty is refused (AssayKitError, nothing written: its files may be a user's) unless
    ``force``, which writes the simulated files over any of the same names and leaves the
    folder's other files as they are."""
    if spec.style not in STYLES:
        raise ValueError(f"unknown instrument style {spec.style!r} (one of {', '.join(STYLES)})")
    if spec.third_marker:
        STYLES[spec.style].third_channel(spec.third_marker)  # ValueError for a marker unknown here
    if spec.replicates < 1 or spec.healthy < 0:
        raise ValueError("replicates must be at least 1 and healthy at least 0")
    if blood_tubes(spec) > MAX_BLOOD_TUBES:
        raise AssayKitError(f"{blood_tubes(spec)} blood tubes ((patients x conditions + healthy donors) x replicates) "
                            f"do not fit a 96-well plate (at most {MAX_BLOOD_TUBES} beside the bead tube)")
    out = Path(out_dir)
    _check_fcs2_size(STYLES[spec.style], max(spec.events, 10000))
    _check_run_folder(out, force)
    slope, intercept = STYLES[spec.style].calibration(spec.instrument)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file in its place, a parent that cannot be made (/proc)
        raise AssayKitError(f"cannot make the run folder ({exc.strerror or exc})", out) from None
    rng = np.random.default_rng(spec.seed)
    instrument = spec.instrument
    plate_rows: list[dict] = []
    truth_rows: list[dict] = []
    index = 0
    donors: list[tuple[str, str, float, float, float, tuple[str, ...]]] = []  # id, group, control, resp., monocytes
    for p in range(spec.patients):
        control = float(10 ** rng.uniform(np.log10(1500), np.log10(20000)))
        responsiveness = float(rng.uniform(0.3, 1.1))
        monocyte_fraction = float(rng.uniform(spec.monocyte_percent[0] / 100, spec.monocyte_percent[1] / 100))
        donors.append((f"P{p + 1:02d}", "septic", control, responsiveness, monocyte_fraction, spec.conditions))
        _write_donor(out, spec, rng, donors[-1], index, plate_rows, truth_rows)
        index += len(spec.conditions) * spec.replicates
    median, spread = spec.healthy_abc
    for h in range(spec.healthy):  # drawn after the patients: a run without healthy donors is as it was
        control = float(min(10 ** rng.normal(np.log10(median), spread), ABC_CEILING))
        monocyte_fraction = float(rng.uniform(spec.monocyte_percent[0] / 100, spec.monocyte_percent[1] / 100))
        donors.append((f"HD{h + 1:02d}", "healthy", control, 0.0, monocyte_fraction, spec.conditions[:1]))
        _write_donor(out, spec, rng, donors[-1], index, plate_rows, truth_rows)
        index += spec.replicates
    well = "H12"
    name = _file_name(well, STYLES[spec.style].extension)
    beads = simulate_beads(spec.bead_values, rng, n_events=10000, instrument=instrument)
    write_tube(out / name, beads, well, instrument, spec.style)
    write_atomic(out / f"{Path(name).stem}.labels.npy", _npy_bytes(beads.labels))
    plate_rows.append({"well": well, "file": name, "patient": "", "timepoint": "", "condition": "",
                       "role": "beads"})
    truth_rows.append({"file": name, "well": well, "patient": "", "timepoint": "", "condition": "",
                       "role": "beads", "true_abc": "", "model_abc": "", "true_monocytes": 0,
                       "events": 10000, "calibration_slope": slope,
                       "calibration_intercept": f"{intercept:.6g}"})
    optional = [c for c, on in (("replicate", spec.replicates > 1), ("donor_group", spec.healthy > 0)) if on]
    for row in [*plate_rows, *truth_rows]:  # the optional columns only when simulated: a plain run is as it was
        for column in ("replicate", "donor_group"):
            if column not in optional:
                row.pop(column, None)
    write_atomic(out / "plate_map.csv",
                  _csv_bytes(plate_rows, ["well", "file", "patient", "timepoint", "condition", "role", *optional]))
    write_atomic(out / "truth.csv", _csv_bytes(truth_rows, list(truth_rows[0])))
    write_atomic(out / "labels.json", (json.dumps({str(k): v for k, v in LABELS.items()}, indent=1) + "\n").encode())
    # the lot names the run's PE channel (FL2 on BD and Beckman Coulter; an lsr run's HLA-DR is PerCP: not PE)
    readout = STYLES[spec.style].channels[3] or ""
    pe_channel = readout if readout.upper().startswith("FL2") else "PE-A"
    note = "Simulated lot: the values the simulator used."
    write_atomic(out / "beads_lot.yaml", lot_yaml(spec.bead_values, "SIMULATED", note, pe_channel).encode())
    compensation = ""
    if STYLES[spec.style].identity_spillover:  # the files' $SPILLOVER is an identity: the lab's matrix beside them
        write_atomic(out / "compensation.csv", spillover_csv(spec.style, instrument, spec.third_marker))
        compensation = "compensation: compensation.csv\n"
    write_atomic(out / "run.yaml", (
        "# Options of `assaykit score` for this run (`assaykit docs scoring`); paths relative to this folder.\n"
        "plate_map: plate_map.csv\n"
        "lot: beads_lot.yaml\n"
        f"control: {spec.conditions[0]}\n{compensation}").encode())
    spec_dict = asdict(spec)
    if not spec.third_marker:  # a run without one writes the simulation.json it always did
        del spec_dict["third_marker"]
    if spec.replicates == 1:
        del spec_dict["replicates"]
    if not spec.healthy:
        del spec_dict["healthy"], spec_dict["healthy_abc"]
    write_atomic(out / "simulation.json", (json.dumps(spec_dict, indent=1, sort_keys=True) + "\n").encode())
    return out
