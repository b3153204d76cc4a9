"""Gates where the lab already works: GatingML 2.0 documents and FlowJo 10 workspaces read into
assaykit's own gates (:mod:`assaykit.gating.gates`, a population tree as a strategy's) and
evaluated per event, and assaykit's fitted gates written as GatingML and as a FlowJo 10
workspace."""

from .export import gatingml_bytes, write_gatingml
from .flowjo import Workspace, WorkspaceGate, WorkspaceSample, read_workspace
from .gatingml import (
    Dimension,
    DocumentFrame,
    GatingDocument,
    GmlTransform,
    SpectrumMatrix,
    evaluate,
    read_gatingml,
)
from .wsp_export import WorkspaceEntry, flowjo_sample_bytes, workspace_bytes

__all__ = ["Dimension", "DocumentFrame", "GatingDocument", "GmlTransform", "SpectrumMatrix", "Workspace",
           "WorkspaceEntry", "WorkspaceGate", "WorkspaceSample", "evaluate", "flowjo_sample_bytes", "gatingml_bytes",
           "read_gatingml", "read_workspace", "workspace_bytes", "write_gatingml"]
