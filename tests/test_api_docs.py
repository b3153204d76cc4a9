"""The public API of every subpackage is documented: each name in a subpackage's ``__all__``
has its own docstring, and a function's (or a class method's) docstring names each of its
parameters. Also: the dependencies point one way (fcs -> gating, beads -> interop, ledger -> scoring
-> report -> cli)."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

PACKAGES = ("assaykit", "assaykit.fcs", "assaykit.gating", "assaykit.beads", "assaykit.interop", "assaykit.ledger",
            "assaykit.scoring", "assaykit.report")
# parameters a reader needs no words for
OBVIOUS = {"self", "cls", "args", "kwargs", "ax"}


def _public(package: str) -> list[tuple[str, object]]:
    module = importlib.import_module(package)
    return [(f"{package}.{name}", getattr(module, name)) for name in module.__all__ if not name.startswith("_")]


def _undocumented(name: str, obj: object) -> list[str]:
    problems = []
    doc = inspect.getdoc(obj) if (inspect.isfunction(obj) or inspect.isclass(obj)) else None
    if inspect.isclass(obj) or inspect.isfunction(obj):
        own = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
        if not own or not own.strip():
            return [f"{name}: no docstring"]
    if inspect.isfunction(obj):
        for parameter in inspect.signature(obj).parameters:
            if parameter not in OBVIOUS and parameter not in (doc or ""):
                problems.append(f"{name}: parameter {parameter!r} not described")
    return problems


@pytest.mark.parametrize("package", PACKAGES)
def test_public_api_is_documented(package: str) -> None:
    problems = [p for name, obj in _public(package) for p in _undocumented(name, obj)]
    assert not problems, "\n".join(problems)


ORDER = {"fcs": 0, "gating": 1, "beads": 1, "interop": 2, "ledger": 2, "scoring": 3, "report": 4, "cli": 5}


def _imports(path: Path) -> set[str]:
    """Subpackages (or cli) that a module imports, relative or absolute."""
    found = set()
    package = path.parent.name
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 1 and package == "assaykit":
                found.add(module.split(".")[0])
            elif node.level == 2 or (node.level == 0 and module.startswith("assaykit.")):
                found.add(module.split(".")[1 if node.level == 0 else 0] if module else "")
            if node.level == 2 and not module:
                found.update(alias.name for alias in node.names)
    return found


def test_dependencies_point_one_way(project_root: Path) -> None:
    problems = []
    for path in sorted((project_root / "assaykit").rglob("*.py")):
        here = path.parent.name if path.parent.name != "assaykit" else path.stem
        if here not in ORDER:
            continue
        for other in _imports(path):
            if other in ORDER and other != here and ORDER[other] >= ORDER[here]:
                problems.append(f"{path.relative_to(project_root)} imports {other}")
    assert not problems, "\n".join(problems)


def test_layout_one_subpackage_per_concern(project_root: Path) -> None:
    """At most 9 modules directly under assaykit/ (8 once cli.py is a package); each subpackage
    names its public API."""
    top = sorted(p.name for p in (project_root / "assaykit").glob("*.py"))
    assert len(top) <= 9, top
    for package in PACKAGES[1:]:
        assert importlib.import_module(package).__all__, package


def test_every_subpackage_is_in_the_wheel(project_root: Path) -> None:
    """Each folder of assaykit/ that is a package is listed in pyproject.toml's packages (the wheel
    holds only those: a missing one imports from the checkout and fails once installed)."""
    import tomllib

    listed = set(tomllib.loads((project_root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {f"assaykit.{p.parent.name}" for p in (project_root / "assaykit").glob("*/__init__.py")}
    assert found <= listed, found - listed
    assert {p for p in PACKAGES if p != "assaykit"} <= listed
