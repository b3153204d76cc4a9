"""The gating strategies and bead lots that assaykit ships: YAML files for lab staff to read,
copy and edit (``assaykit strategy show``, ``assaykit lots``). This file holds no code: it only
lets the wheel carry this folder as ``assaykit._defaults`` (docs/architecture.md)."""
