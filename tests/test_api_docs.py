"""The public API of every subpackage is documented: each name in a subpackage's ``__all__``
has its own docstring, and a function's (or a class method's) docstring names each of its
parameters. Also: the dependencies point one way (fcs -> gating, beads -> interop, ledger -> scoring
-> report -> cli), and no two modules of one package import each other (even inside functions)."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

PACKAGES = ("assaykit", "assaykit.fcs", "assaykit.gating", "assaykit.beads", "assaykit.interop", "assaykit.ledger",
            "assaykit.scoring", "assaykit.report", "assaykit.review")
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


ORDER = {"fcs": 0, "gating": 1, "beads": 1, "interop": 2, "ledger": 2, "scoring": 3, "report": 4, "validation": 5,
         "export": 5, "review": 6, "cli": 7}


def _module_name(path: Path, source: Path) -> str:
    """``assaykit/scoring/tube.py`` -> ``assaykit.scoring.tube`` (a package: its ``__init__``'s folder)."""
    parts = list(path.relative_to(source.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(tree: ast.AST) -> set[int]:
    """The nodes under ``if TYPE_CHECKING:`` (never run: no import at run time)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for statement in node.body for inner in ast.walk(statement))
    return skipped


def module_graph(source: Path) -> dict[str, set[str]]:
    """Every module of the package at ``source`` -> the modules of that package it imports, at
    module level or inside a function or method (every ``import``/``from ... import`` of the
    syntax tree, relative or absolute, but those under ``if TYPE_CHECKING:``). ``from . import x``
    is the module ``x`` when there is one, else the package's ``__init__``; a compiled extension
    (no ``.py``) is no module here."""
    modules = {_module_name(p, source): p for p in sorted(source.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = _type_checking_only(tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                target = ".".join([*base, node.module] if node.module else base)
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in modules:
                        found.add(sub)
                    elif not (node.module is None and target in modules and any(
                            p.name.split(".")[0] == alias.name for p in modules[target].parent.iterdir())):
                        found.add(target)  # a name of the module (or of the package's __init__)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def _package_of(module: str, graph: dict[str, set[str]]) -> str:
    """The package a module is directly inside (a package: itself, its ``__init__`` with its modules)."""
    return module if any(m.startswith(module + ".") for m in graph) else module.rpartition(".")[0]


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles between modules of one package (strongly connected components of more
    than one module, Tarjan's algorithm), each sorted; edges to another package are left out."""
    inside = {m: sorted(t for t in targets if _package_of(t, graph) == _package_of(m, graph))
              for m, targets in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in inside[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(inside):
        if module not in index:
            visit(module)
    return sorted(cycles)


def _layer(module: str) -> str:
    """``assaykit.scoring.tube`` -> ``scoring``; a module directly under assaykit: its own name."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_dependencies_point_one_way(project_root: Path) -> None:
    problems = []
    for module, targets in module_graph(project_root / "assaykit").items():
        here = _layer(module)
        if here not in ORDER:
            continue
        for target in sorted(targets):
            other = _layer(target)
            if other in ORDER and other != here and ORDER[other] >= ORDER[here]:
                problems.append(f"{module} imports {target}")
    assert not problems, "\n".join(problems)


def test_no_import_cycle_inside_a_package(project_root: Path) -> None:
    """No module of a package imports, even inside a function, a module that imports it back
    (directly or around a longer loop); a module importing its own package's ``__init__`` is one."""
    cycles = import_cycles(module_graph(project_root / "assaykit"))
    assert not cycles, "\n".join(" <-> ".join(c) for c in cycles)


def test_the_graph_sees_imports_inside_functions(tmp_path: Path, project_root: Path) -> None:
    """The cycle check itself: two modules importing each other only inside functions are a
    cycle, a third importing one of them is not in it, an ``if TYPE_CHECKING:`` import is no edge,
    and the project's own function-level imports are seen (pipeline -> executors in measure_tubes)."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from .a import f\n")
    (package / "sub" / "a.py").write_text("def f():\n    from .b import g\n    return g\n")
    (package / "sub" / "b.py").write_text("def g():\n    from . import a\n    return a\n")
    (package / "sub" / "c.py").write_text("from typing import TYPE_CHECKING\nfrom .a import f\n"
                                          "if TYPE_CHECKING:\n    from .d import h\n")
    (package / "sub" / "d.py").write_text("import pkg.sub.c\n")
    graph = module_graph(package)
    assert graph["pkg.sub.a"] == {"pkg.sub.b"} and graph["pkg.sub.b"] == {"pkg.sub.a"}
    assert graph["pkg.sub.c"] == {"pkg.sub.a"} and graph["pkg.sub"] == {"pkg.sub.a"}
    assert import_cycles(graph) == [["pkg.sub.a", "pkg.sub.b"]]
    (package / "sub" / "b.py").write_text("def g():\n    from . import f\n    return f\n")  # via __init__
    assert import_cycles(module_graph(package)) == [["pkg.sub", "pkg.sub.a", "pkg.sub.b"]]
    ours = module_graph(project_root / "assaykit")
    assert "assaykit.scoring.executors" in ours["assaykit.scoring.pipeline"]  # imported inside measure_tubes
    assert "assaykit.scoring.pipeline" not in ours["assaykit.scoring.executors"]
    assert "assaykit.scoring.pipeline" not in ours["assaykit.scoring.tube"]


def test_layout_one_subpackage_per_concern(project_root: Path) -> None:
    """At most 8 modules directly under assaykit/; each subpackage names its public API."""
    top = sorted(p.name for p in (project_root / "assaykit").glob("*.py"))
    assert len(top) <= 8, top
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
