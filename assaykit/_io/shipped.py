"""The configuration files assaykit ships: strategies (folder "") and bead lots (folder
"beads"), the repository's gating/ folder carried in the wheel as ``assaykit._defaults`` and
read through importlib.resources (never through a path into the source tree)."""

from __future__ import annotations

from typing import Any

SHIPPED_PACKAGE = "assaykit._defaults"


def _folder(folder: str) -> Any:
    from importlib.resources import files

    return files(SHIPPED_PACKAGE).joinpath(folder) if folder else files(SHIPPED_PACKAGE)


def stem(name: str) -> str:
    """``name`` without a ``.yaml`` suffix."""
    return name[:-5] if name.endswith(".yaml") else name


def shipped_names(folder: str = "") -> list[str]:
    """Names (without ``.yaml``) of the YAML files assaykit ships in ``folder`` ("" for the
    strategies, "beads" for the bead lots), sorted."""
    return sorted(stem(p.name) for p in _folder(folder).iterdir() if p.name.endswith(".yaml"))


def shipped_bytes(name: str, folder: str = "") -> bytes | None:
    """The bytes of the shipped file ``name`` (with or without ``.yaml``) in ``folder``, or None."""
    if stem(name) not in shipped_names(folder):
        return None
    return _folder(folder).joinpath(f"{stem(name)}.yaml").read_bytes()
