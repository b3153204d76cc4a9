"""Gates where the lab already works: GatingML 2.0 documents read and evaluated per event."""

from .gatingml import Dimension, GatingDocument, GmlGate, GmlTransform, SpectrumMatrix, evaluate, read_gatingml

__all__ = ["Dimension", "GatingDocument", "GmlGate", "GmlTransform", "SpectrumMatrix", "evaluate", "read_gatingml"]
