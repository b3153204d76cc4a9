"""The names cli.py imports from here, now in :mod:`assaykit._io` (split by concern).

# transitional: removed at merge (the CLI package imports from assaykit._io directly)
"""

# transitional: removed at merge
from ._io.atomic import atomic_output, output_unit, write_atomic
from ._io.names import neutralise
from ._io.shipped import shipped_bytes, shipped_names

__all__ = ["atomic_output", "neutralise", "output_unit", "shipped_bytes", "shipped_names", "write_atomic"]
