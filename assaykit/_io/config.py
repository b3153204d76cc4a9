"""Configuration files (YAML: strategies, bead lots, run.yaml, QC targets) read one way: bytes
read within a bound (:mod:`.read`), parsed by a safe loader without anchors or aliases, given by
path or by the name of a file assaykit ships (:mod:`.shipped`). What the parsed document must
hold is checked by :mod:`.validate`."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import AssayKitError
from .read import CONFIG_LIMIT, read_input
from .shipped import shipped_bytes, shipped_names, stem
from .validate import quote


@dataclass(frozen=True)
class ConfigFile:
    """A configuration file's parsed YAML ``doc``, where it came from (``source``: a path, or
    ``shipped:<name>`` for a file assaykit ships) and the sha256 of its bytes."""

    doc: Any
    source: str
    sha256: str


class _AnchorError(Exception):
    def __init__(self, line: int):
        super().__init__(line)
        self.line = line


class _RefusedError(Exception):
    """A document refused for its shape: ``problem`` at ``line``."""

    def __init__(self, problem: str, line: int):
        super().__init__(problem, line)
        self.problem, self.line = problem, line


MAX_DEPTH = 64
"""Nesting of lists and mappings a configuration may have (the deepest shipped file has 6): a
deeper document is refused rather than parsed recursively to the interpreter's limit."""


def _loader() -> Any:
    import yaml

    class Loader(yaml.SafeLoader):
        """YAML without anchors or aliases (no billion laughs), nested at most MAX_DEPTH deep,
        without a key given twice in one mapping, with 15e3 read as a number."""

        depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise _AnchorError(event.start_mark.line + 1)
            if self.depth >= MAX_DEPTH:
                raise _RefusedError(f"nested more than {MAX_DEPTH} deep", event.start_mark.line + 1)
            self.depth += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

        def construct_yaml_int(self, node: Any) -> Any:
            try:
                return super().construct_yaml_int(node)
            except ValueError:  # more digits than Python converts (4300)
                raise _RefusedError("a number with too many digits", node.start_mark.line + 1) from None

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<:` merges; the base class flattens it
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    twice = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: the base class says so
                    break
                if twice:
                    raise _RefusedError(f"the key {quote(key)} is given twice", key_node.start_mark.line + 1)
            return super().construct_mapping(node, deep=deep)

    Loader.add_constructor("tag:yaml.org,2002:int", Loader.construct_yaml_int)
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9]+[eE][-+]?[0-9]+$"),
                                 list("-+0123456789"))
    return Loader


def parse_yaml(data: bytes, source: str | Path, error: type[AssayKitError], what: str) -> Any:
    """``data`` parsed as YAML; a decoding or syntax problem, an anchor or an alias raises
    ``error`` naming ``source`` and the line. ``what`` names the file's kind ("bead lot file")."""
    import yaml

    try:
        return yaml.load(data.decode("utf-8"), Loader=_loader())
    except UnicodeDecodeError:
        raise error(f"not a valid YAML {what}: not UTF-8 text", source) from None
    except _AnchorError as refused:
        raise error(f"YAML anchors and aliases (& and *) are not allowed in a {what} (line {refused.line})",
                    source) from None
    except _RefusedError as refused:
        raise error(f"not a valid YAML {what}: {refused.problem} (line {refused.line})", source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        problem = " ".join(str(getattr(exc, "problem", None) or "").split())  # YAML's reason, one line
        raise error(f"not a valid YAML {what}{line}{': ' + problem if problem else ''}", source) from None


def read_yaml(path: str | os.PathLike[str], error: type[AssayKitError], what: str) -> Any:
    """The YAML document in the file ``path`` (read within :data:`.read.CONFIG_LIMIT`); problems
    raise ``error`` naming the file; ``what`` names the file's kind ("run file")."""
    return parse_yaml(read_input(path, error, what, CONFIG_LIMIT), Path(path), error, what)


def read_config(name_or_path: str | os.PathLike[str], *, folder: str, error: type[AssayKitError],
                what: str) -> ConfigFile:
    """Read a configuration file given as a path, or as the bare name of a file assaykit ships
    in ``folder`` ("" strategies, "beads" bead lots; ``.yaml`` optional). A path that exists
    wins over a shipped name. Problems raise ``error`` naming the file."""
    path = Path(name_or_path)
    if not path.exists() and path.parent == Path(".") and path.suffix in ("", ".yaml"):
        data = shipped_bytes(path.name, folder)
        if data is not None:
            source = f"shipped:{folder + '/' if folder else ''}{stem(path.name)}.yaml"
            return ConfigFile(parse_yaml(data, source, error, what), source, hashlib.sha256(data).hexdigest())
    if not path.exists() and not path.is_symlink():
        shipped = ", ".join(shipped_names(folder))
        raise error(f"{what} not found (neither a file nor a shipped name: {shipped})", path)
    data = read_input(path, error, what, CONFIG_LIMIT)
    return ConfigFile(parse_yaml(data, path, error, what), str(path), hashlib.sha256(data).hexdigest())
