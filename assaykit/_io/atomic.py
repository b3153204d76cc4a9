"""Outputs appear whole: a file written atomically, a folder of outputs swapped in as one unit
(under an exclusive lock), and the file listing a manifest records. Inputs are never touched."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import AssayKitError


def _cannot_write(exc: OSError, target: Path, error: type[AssayKitError]) -> AssayKitError:
    """The one-line ``error`` for an OSError met while writing the output ``target``."""
    if isinstance(exc, IsADirectoryError) or (target.is_dir() and not target.is_symlink()):
        return error("cannot write the output: it is a directory; name a file", target)
    return error(f"cannot write the output ({exc.strerror or exc})", target)


@contextmanager
def atomic_output(path: str | os.PathLike[str], error: type[AssayKitError] = AssayKitError) -> Iterator[BinaryIO]:
    """A binary handle on a temporary file beside ``path``, renamed onto ``path`` when the block
    ends without error (and removed otherwise), so that a reader never sees a half-written file.
    A file system refusal (a directory named, a parent that cannot be made, no space, /proc)
    raises ``error`` naming ``path``."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise _cannot_write(exc, target, error) from None
    try:
        with os.fdopen(handle, "wb") as out:
            yield out
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; an output gets the usual permissions
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _cannot_write(exc, target, error) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike[str], data: bytes, error: type[AssayKitError] = AssayKitError) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path, error) as out:
        out.write(data)
    return Path(path)


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


def _not_ours(folder: Path) -> str:
    """Why the existing output folder ``folder`` cannot be replaced ("" when it can): a file its
    manifest.json does not list (a user's own, which replacing the folder would delete), or a
    manifest.json that is not a JSON object (it then vouches for nothing). An older assaykit's
    manifest (a ``run_id`` and the ``software`` versions with assaykit's, no ``files`` listing
    yet) vouches for the whole folder as before. Symlinks and empty folders hold no data of their
    own and are not counted."""
    import json

    try:
        doc = json.loads((folder / "manifest.json").read_bytes())
    except (OSError, ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict):
        return ("its manifest.json is not a JSON object, so nothing in it is known to be assaykit's; "
                "move the folder away or name another")
    if "files" not in doc and isinstance(doc.get("run_id"), str) and isinstance(doc.get("software"), dict) \
            and "assaykit" in doc["software"]:
        return ""
    listed = set(doc["files"]) if isinstance(doc.get("files"), dict) else set()
    foreign = sorted(rel for p in folder.rglob("*")
                     if not p.is_symlink() and not p.is_dir()
                     and (rel := p.relative_to(folder).as_posix()) != "manifest.json" and rel not in listed)
    if not foreign:
        return ""
    more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
    return (f"the output folder holds {foreign[0][:80]!r}{more}, not listed in its manifest.json (not written "
            "by assaykit): move it away or name another folder")


@contextmanager
def output_unit(out_dir: str | os.PathLike[str], error: type[AssayKitError] = AssayKitError) -> Iterator[Path]:
    """Build a folder of outputs as one unit: yields an empty staging folder beside ``out_dir``
    (under an exclusive lock on ``out_dir``; stale staging folders of earlier, killed runs are
    removed first) and, when the block ends without error, puts it in ``out_dir``'s place in one
    rename (an atomic exchange on Linux), the previous folder removed. On any error, interruption
    or kill, ``out_dir`` is left as it was. An existing ``out_dir`` that is not an assaykit output
    folder (no manifest.json) and not empty, or that holds a file its manifest does not list (a
    user's own file, which replacing the folder would delete), is refused rather than replaced."""
    import glob
    import shutil

    target = Path(out_dir)
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise error("the output folder is a symlink or a file; name a folder", target)
    try:
        if target.is_dir() and any(target.iterdir()):
            if not (target / "manifest.json").is_file():
                raise error("the output folder exists and is not an assaykit output folder (no manifest.json); "
                            "name a new or empty folder", target)
            problem = _not_ours(target)
            if problem:
                raise error(problem, target)
        lock = _lock(target, error)
    except OSError as exc:
        raise error(f"cannot write the outputs ({exc.strerror or exc})", target) from None
    try:
        for stale in target.parent.glob(f".{glob.escape(target.name)}.staging-*"):
            shutil.rmtree(stale, ignore_errors=True)
        try:
            stage = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.staging-"))
        except OSError as exc:
            raise error(f"cannot write the outputs ({exc.strerror or exc})", target) from None
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
