"""FCS file reading (any FCS 2.0-3.2 file) and writing (FCS 3.1, through FlowIO)."""

from .reader import Sample, Spillover, read_fcs, read_fcs_text

__all__ = ["Sample", "Spillover", "read_fcs", "read_fcs_text"]
