"""Gates where the lab already works: GatingML 2.0 documents and FlowJo 10 workspaces, read into
one gate model and evaluated per event."""

from .flowjo import Workspace, WorkspaceSample, read_workspace
from .gatingml import Dimension, GatingDocument, GmlGate, GmlTransform, SpectrumMatrix, evaluate, read_gatingml

__all__ = ["Dimension", "GatingDocument", "GmlGate", "GmlTransform", "SpectrumMatrix", "Workspace", "WorkspaceSample",
           "evaluate", "read_gatingml", "read_workspace"]
