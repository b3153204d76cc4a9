"""File-system helpers: outputs appear atomically, inputs are never touched; configuration files
(YAML) read one way, by path or by the name of a file that assaykit ships."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .errors import AssayKitError

SHIPPED_PACKAGE = "assaykit._defaults"  # the repository's gating/ folder, shipped in the wheel


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary handle on a temporary file beside ``path``, renamed onto ``path`` when the block
    ends without error (and removed otherwise), so that a reader never sees a half-written file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            yield out
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; an output gets the usual permissions
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path) as out:
        out.write(data)
    return Path(path)


# --- configuration files ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigFile:
    """A configuration file's parsed YAML ``doc``, where it came from (``source``: a path, or
    ``shipped:<name>`` for a file assaykit ships) and the sha256 of its bytes."""

    doc: Any
    source: str
    sha256: str


def _shipped_folder(folder: str) -> Any:
    from importlib.resources import files

    return files(SHIPPED_PACKAGE).joinpath(folder) if folder else files(SHIPPED_PACKAGE)


def _stem(name: str) -> str:
    return name[:-5] if name.endswith(".yaml") else name


def shipped_names(folder: str = "") -> list[str]:
    """Names (without ``.yaml``) of the YAML files assaykit ships in ``folder`` ("" for the
    strategies, "beads" for the bead lots), sorted."""
    return sorted(_stem(p.name) for p in _shipped_folder(folder).iterdir() if p.name.endswith(".yaml"))


def shipped_bytes(name: str, folder: str = "") -> bytes | None:
    """The bytes of the shipped file ``name`` (with or without ``.yaml``) in ``folder``, or None."""
    if _stem(name) not in shipped_names(folder):
        return None
    return _shipped_folder(folder).joinpath(f"{_stem(name)}.yaml").read_bytes()


def parse_yaml(data: bytes, source: str | os.PathLike[str], error: type[AssayKitError], what: str) -> Any:
    """``data`` parsed as YAML; a decoding or syntax problem raises ``error`` naming ``source``
    and the line. ``what`` names the file's kind in the message ("bead lot file")."""
    import yaml

    try:
        return yaml.safe_load(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise error(f"not a valid YAML {what}: not UTF-8 text", source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise error(f"not a valid YAML {what}{line}", source) from None


def read_config(name_or_path: str | os.PathLike[str], *, folder: str, error: type[AssayKitError],
                what: str) -> ConfigFile:
    """Read a configuration file given as a path, or as the bare name of a file assaykit ships
    in ``folder`` ("" strategies, "beads" bead lots; ``.yaml`` optional). A path that exists
    wins over a shipped name. Problems raise ``error`` naming the file."""
    path = Path(name_or_path)
    if not path.exists() and path.parent == Path(".") and path.suffix in ("", ".yaml"):
        data = shipped_bytes(path.name, folder)
        if data is not None:
            source = f"shipped:{folder + '/' if folder else ''}{_stem(path.name)}.yaml"
            return ConfigFile(parse_yaml(data, source, error, what), source, hashlib.sha256(data).hexdigest())
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        shipped = ", ".join(shipped_names(folder))
        raise error(f"{what} not found (neither a file nor a shipped name: {shipped})", path) from None
    except IsADirectoryError:
        raise error(f"{what} is a directory, not a file", path) from None
    except OSError as exc:
        raise error(f"cannot read the {what} ({exc.strerror})", path) from None
    return ConfigFile(parse_yaml(data, path, error, what), str(path), hashlib.sha256(data).hexdigest())
