"""File-system helpers: outputs appear atomically, inputs are never touched; configuration files
(YAML) read one way, by path or by the name of a file that assaykit ships."""

from __future__ import annotations

import hashlib
import math
import os
import re
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


CONFIG_LIMIT = 1 << 20  # bytes: run.yaml, strategies, bead lots
TABLE_LIMIT = 16 << 20  # bytes: plate maps, clinical tables


def read_input(path: str | os.PathLike[str], error: type[AssayKitError], what: str, limit: int) -> bytes:
    """The bytes of the input file ``path``, refused (``error`` naming the file) unless it is a
    regular file (not a directory, FIFO or device) of at most ``limit`` bytes, checked before
    reading; ``what`` names the file's kind in messages."""
    import stat

    file_path = Path(path)
    try:
        info = file_path.stat()
    except FileNotFoundError:
        raise error(f"{what} not found", file_path) from None
    except OSError as exc:
        raise error(f"cannot read the {what} ({exc.strerror})", file_path) from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{what} is a directory, not a file", file_path)
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{what} is not a regular file (a FIFO, socket or device)", file_path)
    if info.st_size > limit:
        raise error(f"{what} is {info.st_size:,} bytes, more than the {limit:,} allowed", file_path)
    try:
        with open(file_path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise error(f"cannot read the {what} ({exc.strerror})", file_path) from None
    if len(data) > limit:  # it grew while being read
        raise error(f"{what} is more than the {limit:,} bytes allowed", file_path)
    return data


def quote(text: Any) -> str:
    """``text`` as it may appear in an error message: its first line, at most 80 characters."""
    line = str(text).splitlines()[0] if str(text) else ""
    return repr(line[:80] + ("..." if len(line) > 80 or "\n" in str(text) else ""))


def unknown_keys(unknown: list[str], allowed: Any) -> str:
    """A message naming the first of the ``unknown`` keys (quoted, cut) and the ``allowed`` ones."""
    more = f" and {len(unknown) - 1} more" if len(unknown) > 1 else ""
    return f"unknown key {quote(unknown[0])}{more} (allowed: {', '.join(sorted(allowed))})"


def typed(value: Any, kind: str, key: str, source: Any, error: type[AssayKitError]) -> Any:
    """``value`` of configuration ``key`` checked to be of ``kind`` ("float": a finite number,
    "int": an integer, "bool": a YAML boolean, "str": text); ``error`` naming ``source``, the key
    and what was expected otherwise. Integers given for a float come back as floats."""
    import math

    if kind == "bool":
        if isinstance(value, bool):
            return value
        expected = "true or false (a YAML boolean, unquoted)"
    elif kind in ("float", "int"):
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value) if kind == "float" else value
        if kind == "float" and isinstance(value, float) and math.isfinite(value):
            return value
        expected = "a finite number" if kind == "float" else "an integer"
    else:
        if isinstance(value, str):
            return value
        expected = "text"
    raise error(f"{key}: expected {expected}, got {quote(value)}", source)


def build(cls: Any, values: Any, source: Any, error: type[AssayKitError], section: str,
          fixed: dict[str, Any] | None = None) -> Any:
    """The frozen dataclass ``cls`` from the mapping ``values`` of configuration ``section``:
    unknown keys refused, each field typed (:func:`typed`, from its annotation), then ``cls``'s
    own checks; every problem raises ``error`` naming ``source`` and the key. ``fixed``: fields
    given by the caller, not read from ``values`` (an automatic gate's dims)."""
    from dataclasses import fields

    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise error(f"{section}: expected a mapping of keys, got {quote(values)}", source)
    fixed = fixed or {}
    kinds = {f.name: str(f.type).split(" ")[0] for f in fields(cls) if f.name not in fixed}
    unknown = sorted(str(k) for k in values if k not in kinds)
    if unknown:
        raise error(f"{section}: {unknown_keys(unknown, kinds)}", source)
    checked = {k: typed(v, kinds[k], f"{section}.{k}" if section else k, source, error) for k, v in values.items()}
    try:
        return cls(**fixed, **checked)
    except (TypeError, ValueError) as exc:
        raise error(f"{section}: {exc}", source) from None


class _AnchorError(Exception):
    def __init__(self, line: int):
        super().__init__(line)
        self.line = line


def _loader() -> Any:
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        """YAML without anchors or aliases (no billion laughs), with 15e3 read as a number."""

        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise _AnchorError(event.start_mark.line + 1)
            return super().compose_node(parent, index)

    Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9]+[eE][-+]?[0-9]+$"),
                                 list("-+0123456789"))
    return Loader


def parse_yaml(data: bytes, source: str | os.PathLike[str], error: type[AssayKitError], what: str) -> Any:
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
    if not path.exists() and not path.is_symlink():
        shipped = ", ".join(shipped_names(folder))
        raise error(f"{what} not found (neither a file nor a shipped name: {shipped})", path)
    data = read_input(path, error, what, CONFIG_LIMIT)
    return ConfigFile(parse_yaml(data, path, error, what), str(path), hashlib.sha256(data).hexdigest())


# --- a folder of outputs, replaced as one unit --------------------------------------------------------


def _lock(out_dir: Path, error: type[AssayKitError]) -> Any:
    """An exclusive lock on ``out_dir`` (a file beside it), or ``error`` when another process
    holds it. None where the platform has no ``fcntl`` (the lock is then not taken)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return None
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    handle = open(out_dir.parent / f".{out_dir.name}.lock", "a+b")  # noqa: SIM115 - held until the unit ends
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise error("another assaykit is writing this output folder; wait for it to end", out_dir) from None
    return handle


def _exchange(a: Path, b: Path) -> bool:
    """Swap the directories ``a`` and ``b`` in one step (Linux renameat2 RENAME_EXCHANGE); False
    where that is not available."""
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        at_fdcwd, rename_exchange = -100, 2
        return libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0
    except (OSError, AttributeError):
        return False


@contextmanager
def output_unit(out_dir: str | os.PathLike[str], error: type[AssayKitError] = AssayKitError) -> Iterator[Path]:
    """Build a folder of outputs as one unit: yields an empty staging folder beside ``out_dir``
    (under an exclusive lock on ``out_dir``; stale staging folders of earlier, killed runs are
    removed first) and, when the block ends without error, puts it in ``out_dir``'s place in one
    rename (an atomic exchange on Linux), the previous folder removed. On any error, interruption
    or kill, ``out_dir`` is left as it was. An existing ``out_dir`` that is not an assaykit output
    folder (no manifest.json) and not empty is refused rather than replaced."""
    import shutil

    target = Path(out_dir)
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise error("the output folder is a symlink or a file; name a folder", target)
    if target.is_dir() and any(target.iterdir()) and not (target / "manifest.json").is_file():
        raise error("the output folder exists and is not an assaykit output folder (no manifest.json); "
                    "name a new or empty folder", target)
    lock = _lock(target, error)
    try:
        for stale in target.parent.glob(f".{target.name}.staging-*"):
            shutil.rmtree(stale, ignore_errors=True)
        stage = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.staging-"))
        try:
            yield stage
            os.chmod(stage, 0o777 & ~_umask())
            if not target.exists():
                os.rename(stage, target)
            elif _exchange(stage, target):
                shutil.rmtree(stage)  # now the previous folder
            else:
                old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.staging-old-"))
                os.rename(target, old / "previous")
                os.rename(stage, target)
                shutil.rmtree(old)
        except OSError as exc:
            shutil.rmtree(stage, ignore_errors=True)
            raise error(f"cannot write the outputs ({exc.strerror or exc}); the previous folder is unchanged",
                        target) from None
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
    finally:
        if lock is not None:
            lock.close()


def file_listing(folder: Path) -> dict[str, dict[str, Any]]:
    """Every regular file under ``folder`` (relative path with '/') with its size and sha256."""
    listing = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        data = path.read_bytes()
        listing[path.relative_to(folder).as_posix()] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return listing


# --- JSON documents read back from an output folder (figure data, the manifest) -----------------
# Each check returns the value when it has the expected shape and raises InvalidError, naming
# where in the document and what was expected, when it does not. A document that passes can be
# drawn without further checks: numbers are finite and in range, arrays have their shapes.

MAX_COUNT = 1e12
"""More events than any tube holds: a count above it is not one assaykit wrote."""


class InvalidError(ValueError):
    """A document value of the wrong type, shape or range; ``str()`` names where and what."""


def mapping(value: Any, where: str) -> dict[str, Any]:
    """``value`` when it is a JSON object."""
    if not isinstance(value, dict):
        raise InvalidError(f"{where}: expected an object, found {type(value).__name__}")
    return value


def field(doc: dict[str, Any], key: str, where: str) -> Any:
    """``doc[key]``; InvalidError naming ``where.key`` when it is absent."""
    if key not in doc:
        raise InvalidError(f"{where}.{key}: missing")
    return doc[key]


def text(value: Any, where: str) -> str:
    """``value`` when it is a string."""
    if not isinstance(value, str):
        raise InvalidError(f"{where}: expected text, found {type(value).__name__}")
    return value


def number(value: Any, where: str, low: float = -math.inf, high: float = math.inf, integer: bool = False) -> float:
    """``value`` as a float when it is a finite JSON number in [``low``, ``high``] (a whole number
    when ``integer``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidError(f"{where}: expected a finite number, found {value!r:.40}")
    if not low <= value <= high or (integer and value != int(value)):
        kind = "a whole number" if integer else "a number"
        raise InvalidError(f"{where}: expected {kind} in [{low:g}, {high:g}], found {value!r:.40}")
    return float(value)


def array(value: Any, where: str, shape: tuple[int | None, ...], low: float = -math.inf, high: float = math.inf,
          integer: bool = False) -> Any:
    """``value`` (nested JSON lists) as a float64 array of ``shape`` (None: any length), every
    element finite and in [``low``, ``high``] (whole numbers when ``integer``)."""
    import numpy as np

    if not isinstance(value, list):
        raise InvalidError(f"{where}: expected a list, found {type(value).__name__}")
    try:
        values = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidError(f"{where}: expected numbers in a regular array") from None
    if values.ndim != len(shape) or any(n is not None and n != m for n, m in zip(shape, values.shape, strict=True)):
        wanted = " x ".join("N" if n is None else str(n) for n in shape)
        raise InvalidError(f"{where}: expected an array of shape {wanted}, found {' x '.join(map(str, values.shape))}")
    if values.size and (not np.isfinite(values).all() or values.min() < low or values.max() > high
                        or (integer and not (values == np.round(values)).all())):
        kind = "whole numbers" if integer else "finite numbers"
        raise InvalidError(f"{where}: expected {kind} in [{low:g}, {high:g}]")
    return values


def items(value: Any, where: str) -> list[Any]:
    """``value`` when it is a JSON list."""
    if not isinstance(value, list):
        raise InvalidError(f"{where}: expected a list, found {type(value).__name__}")
    return value


# --- file names from user text (patient pages, per-tube gate files) ------------------------------

_WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}
MAX_STEM = 48


def safe_stems(names: list[str], fallback: str) -> dict[str, str]:
    """Name -> a file stem (no extension) safe on every file system, unique across ``names``
    (case-insensitively), deterministic: letters, digits, ``-`` and ``_`` only (``fallback`` when
    nothing is left), with a short hash of the full name whenever anything had to change or
    would clash, or the stem is a Windows device name."""
    stems: dict[str, str] = {}
    used: set[str] = set()
    for name in sorted(set(names)):
        stem = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-_")[:MAX_STEM] or fallback
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()
        if stem != name or stem.upper() in _WINDOWS_DEVICES or stem.lower() in used:
            stem = f"{stem}-{digest[:8]}"
        k = 8
        while stem.lower() in used:  # a hash prefix clash: lengthen it
            k += 4
            stem = f"{stem.rsplit('-', 1)[0]}-{digest[:k]}"
        used.add(stem.lower())
        stems[name] = stem
    return stems


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def neutralise(text: str) -> str:
    """``text`` safe in a spreadsheet cell: a leading ``'`` before a text that begins with ``=``,
    ``+``, ``-``, ``@``, tab or carriage return (a formula to LibreOffice and Excel), or with ``'``
    itself (so that :func:`restore` is exact)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def restore(text: str) -> str:
    """The text :func:`neutralise` was given."""
    return text[1:] if text.startswith("'") else text
