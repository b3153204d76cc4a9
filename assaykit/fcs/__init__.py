"""FCS files: reading (any FCS 2.0-3.2 file), writing (FCS 3.1, through FlowIO), a marker's
channel by ``$PnS`` label or ``$PnN`` alias, and compensation."""

from .channels import Marker, find_channel, find_fluorochrome_channel
from .compensation import compensate, read_compensation
from .reader import Sample, Spillover, read_fcs, read_fcs_text

__all__ = ["Marker", "Sample", "Spillover", "compensate", "find_channel", "find_fluorochrome_channel",
           "read_compensation", "read_fcs", "read_fcs_text"]
