"""Outputs appear whole: a file written atomically, a folder of outputs swapped in as one unit
(under an exclusive lock), and the file listing a manifest records. Inputs are never touched."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
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


# --- where outputs may go: decided once, before any work ---------------------------------------------


OS_LITTER = frozenset({".DS_Store", "Thumbs.db", "ehthumbs.db", "desktop.ini", ".directory"})
"""Files a desktop's file browser leaves in any folder it shows (macOS Finder, Windows Explorer,
KDE's Dolphin), and macOS's ``._*`` companions: :func:`os_litter`."""


def os_litter(name: str) -> bool:
    """Whether the file named ``name`` is one a file browser made by showing its folder
    (:data:`OS_LITTER`, ``._*``): neither the user's data nor assaykit's. An output folder that
    holds one is still replaced (the file carried into the new folder as it was), and no manifest
    lists or misses it (browsing the reports on a Mac share made every re-score refused)."""
    return name in OS_LITTER or name.startswith("._")


def _read_only(path: Path) -> bool:
    """Whether ``path`` (a folder or file) may not be written: no write bit in its mode (a user's
    ``chmod a-w``, honoured even for root, who the kernel would let write) or no write access."""
    try:
        mode = path.lstat().st_mode
    except OSError:
        return False
    return not mode & 0o222 or not os.access(path, os.W_OK, effective_ids=os.access in os.supports_effective_ids)


def _existing_ancestor(path: Path) -> Path:
    """The nearest of ``path``'s ancestors that exists (as anything: a folder, a file, a link)."""
    for parent in path.absolute().parents:
        if os.path.lexists(parent):
            return parent
    return Path(path.absolute().anchor)


NAME_MAX = 255
"""The longest file name (bytes) the common file systems take; an output's temporary names
(``.<name>.staging-XXXXXXXX``, ``.<name>.XXXXXXXX.tmp``) must fit it too."""


def _check_parent(target: Path, error: type[AssayKitError], folder: bool) -> None:
    """``error`` unless files can be made beside ``target`` (an output ``folder``, or a file):
    its folder exists or can be made (its nearest existing ancestor is a writable folder: the
    missing folders are made when the output is written, as ``score --out`` does) and accepts a
    new file (a probe file made and removed at once: the only test that /proc, a read-only mount
    or a full quota answers truly)."""
    what = "cannot write the outputs" if folder else "cannot write the output"
    room = NAME_MAX - (len(".") + len(".staging-old-") + 8 if folder else len("..") + 8 + len(".tmp"))
    if len(os.fsencode(target.name)) > room:
        raise error(f"{what}: its name is too long ({len(os.fsencode(target.name))} bytes; at most {room})", target)
    parent = target.absolute().parent
    if not os.path.lexists(parent):
        parent = _existing_ancestor(target)
    if not parent.is_dir():
        raise error(f"{what}: {parent} is not a folder", target)
    if _read_only(parent):
        raise error(f"{what}: the folder {parent} is read-only", target)
    try:
        handle, probe = tempfile.mkstemp(dir=parent, prefix=".assaykit-probe-")
    except OSError as exc:
        raise error(f"{what}: the folder {parent} takes no new file ({exc.strerror or exc})", target) from None
    os.close(handle)
    os.unlink(probe)


def check_output_file(path: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]] = (),
                      error: type[AssayKitError] = AssayKitError) -> Path:
    """Decide, before any work, whether the file ``path`` a user named as an output may be
    written: its folder accepts files (missing folders are made when it is written), it is not a
    folder, not read-only and not one
    of the command's ``inputs`` (never written over). ``error`` (one line naming ``path``) when it
    may not; the path otherwise. Nothing is left behind either way. An existing file is replaced
    (the user named it); a symlink is replaced by the file, its target untouched."""
    target = Path(path)
    if target.is_dir():
        raise error("cannot write the output: it is a folder; name a file", target)
    if os.path.lexists(target) and not target.is_symlink():
        if not target.is_file():
            raise error("cannot write the output: it is a special file (a device, FIFO or socket); name a file",
                        target)
        if _read_only(target):
            raise error("cannot write the output: the file is read-only; make it writable or name another", target)
    for source in inputs:
        if _same_file(target, Path(source)):
            raise error(f"cannot write the output: it is the input {source}, and inputs are never written over; "
                        "name another file", target)
    _check_parent(target, error, folder=False)
    return target


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or os.path.samefile(a, b)
    except OSError:
        return False


def check_output_folder(out_dir: str | os.PathLike[str], error: type[AssayKitError] = AssayKitError,
                        earlier: tuple[str, ...] = (), kind: str = "") -> bool:
    """Decide, before any work, whether the output folder ``out_dir`` may be (re)placed by
    :func:`output_unit` (which decides again, by this same rule, under its lock): it is not a
    symlink or a file; an existing one is empty or an assaykit output folder holding only the
    files its manifest lists with the bytes it lists (nothing of a user's would be deleted);
    neither it nor any folder or file in it is read-only; its parent accepts files (or can be
    made: missing folders are made only when the outputs are written); no other assaykit is
    writing it. ``error`` (one line naming the folder and the problem) when it may not. True when
    an existing output folder will be replaced. Nothing is made or left behind. ``earlier``: the
    files an older assaykit wrote into such a folder without a manifest (a folder holding those
    alone is its own); ``kind``: the kind of output folder (:data:`RUN_KIND` ...) it must be when
    it exists ("": any), so that one command's outputs never replace another's."""
    target = _folder(out_dir, error)
    _check_not_in_run(target, error)
    replaces = _check_contents(target, error, earlier, kind)
    try:
        if target.is_dir():
            frozen = next((p for p in [target, *_entries(target, error)] if not p.is_symlink() and _read_only(p)),
                          None)
            if frozen is not None:
                what = "output folder" if frozen == target else f"output folder's {frozen.relative_to(target)}"
                raise error(f"cannot write the outputs: the {what} is read-only (replacing the folder would change "
                            "it); make it writable or name another folder", target)
    except OSError as exc:
        raise error(f"cannot read the output folder ({exc.strerror or exc})", target) from None
    _check_parent(target, error, folder=True)
    _check_not_locked(target, error)
    return replaces


RUN_FILES = ("plate_map.csv", "run.yaml")
"""The files that make a folder a run folder (its plate map or its run.yaml): a run's inputs,
where no output folder of any command is ever made or replaced."""


def _check_not_in_run(target: Path, error: type[AssayKitError]) -> None:
    """``error`` when the output folder ``target`` is, or lies inside, a run folder (one holding
    :data:`RUN_FILES`; its real location, symlinks resolved): outputs are never written among a
    run's inputs, whichever command writes them (score, compare, ledger export, ledger qc)."""
    try:
        place = target.absolute().resolve()
    except (OSError, RuntimeError):
        return
    for folder in [place, *place.parents]:
        found = next((name for name in RUN_FILES if (folder / name).is_file()), None)
        if found is not None:
            where = "is" if folder == place else "lies inside"
            raise error(f"the output folder {where} the run folder {folder} (it holds {found}): outputs are never "
                        "written among a run's inputs; name a folder outside it", target)


MANIFEST_NAME = "manifest.json"
"""The file that makes a folder an assaykit output folder (score, compare, export, validate ...)."""


def _is_assaykit_manifest(path: Path) -> bool:
    """Whether ``path`` is an assaykit manifest: a JSON object naming assaykit in ``software``, an
    ``assaykit ...`` kind or a ``files`` listing with SHA-256 (a user's own manifest.json is not one)."""
    import json

    try:
        if not path.is_file() or path.stat().st_size > 64 * 1024 * 1024:
            return False
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, RecursionError, ValueError):
        return False
    if not isinstance(doc, dict):
        return False
    software, kind, files = doc.get("software"), doc.get("kind"), doc.get("files")
    listing = isinstance(files, dict) and any(isinstance(v, dict) and "sha256" in v for v in files.values())
    return (isinstance(software, dict) and "assaykit" in software) or listing or (isinstance(kind, str)
                                                                                  and kind.startswith("assaykit"))


def check_not_in_output(out_dir: str | os.PathLike[str], error: type[AssayKitError] = AssayKitError) -> None:
    """``error`` (one line naming the folder) when the output folder ``out_dir`` lies inside
    another assaykit output folder: one of its parent folders (symlinks resolved) holds an
    assaykit manifest. A folder added there would make that folder fail ``assaykit verify``
    (its manifest lists every file it holds). The folder itself may be an output folder (it is
    replaced as one unit). Used by ``assaykit validate`` and ``assaykit export``.

    Parameters
    ----------
    out_dir : str or PathLike
        The output folder to be written.
    error : type
        The error raised.
    """
    target = _folder(out_dir, error)
    try:
        place = target.absolute().resolve()
    except (OSError, RuntimeError):
        return
    for folder in place.parents:
        if _is_assaykit_manifest(folder / MANIFEST_NAME):
            raise error(f"the output folder lies inside the assaykit output folder {folder} (it holds "
                        f"{MANIFEST_NAME}), which it would change (assaykit verify would fail): name a folder "
                        "outside it", target)


def _folder(out_dir: str | os.PathLike[str], error: type[AssayKitError]) -> Path:
    """The output folder ``out_dir`` as a path with a name of its own (``.``, ``..`` or ``a/..``
    made absolute: the lock and staging folder go beside it, never inside); ``error`` for the
    root of the file system, which has nothing beside it."""
    target = Path(out_dir)
    if target.name in ("", ".", ".."):
        target = Path(os.path.abspath(target))
    if not target.name:
        raise error("the root of the file system cannot be an output folder; name a folder", Path(out_dir))
    return target


def _lock_path(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.lock"


def _check_not_locked(out_dir: Path, error: type[AssayKitError]) -> None:
    """``error`` when another process holds ``out_dir``'s lock (probed without creating it)."""
    path = _lock_path(out_dir)
    if not os.path.lexists(path):
        return
    handle = _open_lock(path, error, create=False)
    if handle is not None:
        os.close(handle)  # released at once: this was only a probe


def _open_lock(path: Path, error: type[AssayKitError], create: bool) -> int | None:
    """A descriptor of the lock file ``path`` locked exclusively (never through a symlink, and
    only a regular file), or ``error`` when another process holds it; None where the platform
    has no ``fcntl`` or (``create`` False) the file is gone."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return None
    flags = os.O_RDWR | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    made = False
    try:
        try:
            handle = os.open(path, flags | (os.O_CREAT | os.O_EXCL if create else 0), 0o666)
            made = create
        except FileExistsError:
            handle = os.open(path, flags)
    except FileNotFoundError:
        if create:
            raise
        return None
    except OSError as exc:
        raise error(f"cannot use the lock file {path.name} beside the output folder ({exc.strerror or exc}); "
                    "remove it if no assaykit is running", path.parent / path.name[1:-5]) from None
    import stat

    if not stat.S_ISREG(os.fstat(handle).st_mode):
        os.close(handle)
        raise error(f"the lock file {path.name} beside the output folder is not a regular file; remove it",
                    path.parent / path.name[1:-5])
    if not made and not _lock_is_ours(handle):
        os.close(handle)
        raise error(f"the file {path.name} beside the output folder is not an assaykit lock (it holds data of its "
                    "own, never deleted): move it away or name another folder", path.parent / path.name[1:-5])
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(handle)
        raise error("another assaykit is writing this output folder; wait for it to end",
                    path.parent / path.name[1:-5]) from None
    if made:
        with contextlib.suppress(OSError):
            os.write(handle, LOCK_MARK)
    return handle


LOCK_MARK = b"assaykit lock\n"
"""What an assaykit lock file holds (written once it is locked): a file named like a lock that
holds anything else is a user's, never used as a lock nor removed."""


def _lock_is_ours(handle: int) -> bool:
    """Whether the open file ``handle`` is an assaykit lock: empty (one being made this moment,
    or left by a killed assaykit) or holding :data:`LOCK_MARK` alone."""
    if os.fstat(handle).st_size > len(LOCK_MARK):
        return False
    data = os.pread(handle, len(LOCK_MARK) + 1, 0)
    return data in (b"", LOCK_MARK)


# --- a folder of outputs, replaced as one unit --------------------------------------------------------


def _lock(out_dir: Path, error: type[AssayKitError]) -> int | None:
    """An exclusive lock on ``out_dir``: the file ``.<name>.lock`` beside it, made and locked (or
    ``error`` when another process holds it), released by :func:`_unlock`, which removes it. A
    lock file removed by its holder between our open and our lock is not the lock any more: then
    taken again on the new file."""
    path = _lock_path(out_dir)
    for _ in range(8):
        handle = _open_lock(path, error, create=True)
        if handle is None:  # pragma: no cover - Windows
            return None
        try:
            same = os.path.samestat(os.fstat(handle), os.lstat(path))
        except FileNotFoundError:
            same = False
        if same:
            return handle
        os.close(handle)
    raise error("another assaykit is writing this output folder; wait for it to end", out_dir)


def _unlock(out_dir: Path, handle: int | None) -> None:
    """Release the lock :func:`_lock` took, its file removed (while still held: no one else can
    hold a file that is being removed)."""
    if handle is None:
        return
    try:
        with contextlib.suppress(OSError):
            if os.path.samestat(os.fstat(handle), os.lstat(_lock_path(out_dir))):
                os.unlink(_lock_path(out_dir))
    finally:
        os.close(handle)


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


RUN_KIND = "assaykit run"
"""The ``kind`` of a scored run's folder (its manifest names none); the other folders' manifests
name theirs (``assaykit compare``, ``assaykit ledger qc``, ``assaykit ledger export``), and an
output replaces only a folder of its own kind."""

KNOWN_OUTPUTS = ("*.csv", "manifest.json", "figure_data.json", "run.wsp", "index.html", "gates/*.xml",
                 "patients/*.html", "patients/*.pdf", "figures/*")
"""The files an assaykit output folder holds: what a manifest of an older assaykit (one that
lists no ``files``) vouches for."""


def _not_ours(folder: Path, error: type[AssayKitError] = AssayKitError, kind: str = "") -> str:
    """Why the existing output folder ``folder`` cannot be replaced ("" when it can): a file its
    manifest.json does not list (a user's own, which replacing the folder would delete), a listed
    file whose size or sha256 is not the one listed (changed since assaykit wrote it), or a
    manifest.json that is not a JSON object (it then vouches for nothing). An older assaykit's
    manifest (a ``run_id`` and the ``software`` versions with assaykit's, no ``files`` listing
    yet) vouches for the files assaykit writes (:data:`KNOWN_OUTPUTS`) only. A symlink (assaykit
    writes none) and a folder that is neither assaykit's (:data:`OUTPUT_FOLDERS`) nor holds a file
    it wrote are a user's, as a user's file is: replacing the folder would lose them."""
    import json

    from .read import OUTPUT_LIMIT, not_regular, read_input

    odd = not_regular(folder / "manifest.json", "its manifest.json", links=False)
    if odd is not None:  # a FIFO or a link to /dev/zero is never read
        return f"{odd}: move the folder away or name another"
    try:
        doc = json.loads(read_input(folder / "manifest.json", error, "manifest.json", OUTPUT_LIMIT, links=False))
    except (AssayKitError, ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict):
        return ("its manifest.json is not a JSON object, so nothing in it is known to be assaykit's; "
                "move the folder away or name another")
    theirs = doc["kind"] if isinstance(doc.get("kind"), str) else RUN_KIND
    if kind and theirs != kind:
        return f"the folder holds another kind of assaykit output ({_shown(theirs)}, not {kind}): name another folder"
    entries = sorted(_entries(folder, error))
    listed = _listed(doc, [p.relative_to(folder).as_posix() for p in entries if p.is_file() and not p.is_symlink()])
    foreign, changed, folders = [], [], []
    for p in entries:
        rel = p.relative_to(folder).as_posix()
        if carried(rel) and not p.is_symlink():
            continue  # the review's records: carried into the replacement (never deleted)
        if p.is_symlink() and rel in listed:  # a link in place of a file assaykit wrote: changed, named so
            changed.append((rel, not_regular(p, "it", links=False) or "it is a symbolic link"))
        elif p.is_symlink():
            foreign.append(rel)  # a user's link: assaykit writes none (removing it would lose it)
        elif p.is_dir() and rel in listed:
            changed.append((rel, "it is a directory, not the file the manifest lists"))
        elif p.is_dir():
            folders.append(rel)
        elif os_litter(p.name) or rel in listed:
            if rel in listed and rel != "manifest.json" and isinstance(doc.get("files"), dict):
                if (odd := not_regular(p, "it", links=False)) is not None:  # a FIFO or device: never opened
                    changed.append((rel, odd))
                elif _differs(p, doc["files"][rel]):
                    changed.append((rel, "this file is not the one the manifest lists (changed since assaykit "
                                         "wrote it"))
        else:
            foreign.append(rel)
    for rel in folders:  # a folder assaykit makes, or one holding its files; any other is a user's (named once)
        if rel not in OUTPUT_FOLDERS and not any(f.startswith(rel + "/") for f in listed) \
                and not any(rel.startswith(f) for f in foreign if f.endswith("/")):
            foreign.append(rel + "/")
    foreign.sort()
    if foreign:
        names = ", ".join(repr(_shown(f)) for f in foreign[:5]) + (f" and {len(foreign) - 5} more"
                                                                  if len(foreign) > 5 else "")
        them = "them" if len(foreign) > 1 else "it"
        return (f"the output folder holds {names}, not listed in its manifest.json (not written by assaykit, so "
                f"never deleted): move {them} out of the folder first, or write the outputs to another folder")
    if changed:
        more = f", as are {len(changed) - 1} more" if len(changed) > 1 else ""
        name, why = changed[0]
        return (f"{_shown(name)}: {why}{more}" + (")" if why.endswith("wrote it") else "")
                + ": move it away or name another folder")
    return ""


CARRIED_FILES = ("audit.jsonl", "signatures.json")
CARRIED_FOLDERS = ("versions",)
"""What ``assaykit review`` keeps in a run's output folder across re-scores (docs/review.md):
the audit trail (append-only, checked by its hash chain), the signatures, and the signed
versions kept after a change. Carried into every replacement of the folder, never listed in
its manifest's ``files`` (``assaykit verify`` checks them by their own rules)."""


def carried(rel: str) -> bool:
    """Whether the output folder's file or folder ``rel`` (relative path, '/') is one a
    replacement carries over (:data:`CARRIED_FILES`, anything under :data:`CARRIED_FOLDERS`).

    Parameters
    ----------
    rel : str
        A path relative to the output folder.
    """
    return rel in CARRIED_FILES or rel.split("/", 1)[0] in CARRIED_FOLDERS


def _carry_over(old: Path, new: Path) -> set[str]:
    """Copy the carried files (:func:`carried`) of the output folder ``old`` into ``new``
    (replacing those there); the relative paths copied."""
    import shutil

    copied: set[str] = set()
    if not old.is_dir():
        return copied
    for path in _entries(old, AssayKitError):
        rel = path.relative_to(old).as_posix()
        if carried(rel) and path.is_file() and not path.is_symlink():
            place = new / rel
            place.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, place)
            copied.add(rel)
    return copied


OUTPUT_FOLDERS = frozenset({"gates", "patients", "figures", *CARRIED_FOLDERS})
"""The folders an assaykit output folder may hold empty; any other folder in one (empty or
holding no file assaykit wrote) is a user's and refuses a replacement, as a user's file does."""


def _listed(doc: dict[str, Any], present: Iterable[str] | None = None) -> set[str]:
    """The relative paths the manifest ``doc`` vouches for: manifest.json and the files it lists;
    an older assaykit's manifest (a ``run_id`` and the ``software`` versions with assaykit's, no
    ``files`` listing yet) vouches for the files assaykit writes (:data:`KNOWN_OUTPUTS`) among
    ``present`` (default: those the caller walks, checked there)."""
    import fnmatch

    listed = set(doc["files"]) if isinstance(doc.get("files"), dict) else set()
    listed.add("manifest.json")
    legacy = "files" not in doc and isinstance(doc.get("run_id"), str) and isinstance(doc.get("software"), dict) \
        and "assaykit" in doc["software"]
    if legacy and present is not None:
        listed.update(rel for rel in present if any(fnmatch.fnmatchcase(rel, k) and k.count("/") == rel.count("/")
                                                    for k in KNOWN_OUTPUTS))
    return listed


def _vouched(folder: Path, earlier: tuple[str, ...] = ()) -> set[str]:
    """The files (relative paths) of the existing output ``folder`` that assaykit wrote, and so
    may remove when it replaces the folder: those its manifest vouches for (:func:`_listed`), or,
    in an older assaykit's folder without a manifest, its ``earlier`` files. Empty when the folder
    is missing or its manifest unreadable (then nothing is removed)."""
    import json

    from .read import OUTPUT_LIMIT, read_input

    if not folder.is_dir():
        return set()
    present = [p.relative_to(folder).as_posix() for p in _entries(folder, AssayKitError)
               if p.is_file() and not p.is_symlink()]
    if not (folder / "manifest.json").exists():
        return {rel for rel in present if rel in earlier}
    try:
        doc = json.loads(read_input(folder / "manifest.json", AssayKitError, "manifest.json", OUTPUT_LIMIT,
                                    links=False))
    except (AssayKitError, ValueError, RecursionError):
        return set()
    return _listed(doc, present) if isinstance(doc, dict) else set()


def _shown(name: str) -> str:
    """A file name in a message: at most 80 characters, anything unprintable escaped."""
    return name[:80] if name[:80].isprintable() else ascii(name[:80])[1:-1]


MAX_DEPTH = 16
"""Folders nested deeper than this in an output folder are not assaykit's (its own go 2 deep)."""


def _entries(folder: Path, error: type[AssayKitError]) -> list[Path]:
    """Every entry under ``folder`` (files, folders, links; links never followed), walked
    without recursion; ``error`` for a folder nested deeper than :data:`MAX_DEPTH`, which no
    assaykit output holds (and which a recursive removal could not remove)."""
    found: list[Path] = []
    stack = [(folder, 0)]
    while stack:
        current, depth = stack.pop()
        with os.scandir(current) as listing:
            for entry in listing:
                path = Path(entry.path)
                found.append(path)
                if entry.is_dir(follow_symlinks=False):
                    if depth + 1 > MAX_DEPTH:
                        raise error(f"the output folder holds folders nested more than {MAX_DEPTH} deep (not "
                                    "written by assaykit): move them away or name another folder", folder)
                    stack.append((path, depth + 1))
    return found


def _differs(path: Path, entry: Any) -> bool:
    """Whether the file ``path`` is not the one a manifest's ``entry`` lists (its size and
    sha256, where the entry records them)."""
    if not isinstance(entry, dict):
        return False
    try:
        if isinstance(entry.get("size"), int) and path.stat().st_size != entry["size"]:
            return True
        if isinstance(entry.get("sha256"), str):
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            return digest.hexdigest() != entry["sha256"]
    except OSError:
        return True
    return False


@contextmanager
def output_unit(out_dir: str | os.PathLike[str], error: type[AssayKitError] = AssayKitError,
                earlier: tuple[str, ...] = (), kind: str = "") -> Iterator[Path]:
    """Build a folder of outputs as one unit: yields an empty staging folder beside ``out_dir``
    (under an exclusive lock on ``out_dir``; stale staging folders of earlier, killed runs are
    removed first) and, when the block ends without error, puts it in ``out_dir``'s place in one
    rename (an atomic exchange on Linux), the previous folder removed. On any error, interruption
    or kill, ``out_dir`` is left as it was, and the lock file, the staging folder and any parent
    folder made for it are removed. Whether ``out_dir`` may be replaced is decided by
    :func:`check_output_folder` (a caller checks first, before its work; this checks again under
    the lock; ``earlier`` and ``kind`` as there)."""
    import glob
    import shutil

    target = _folder(out_dir, error)
    check_output_folder(target, error, earlier, kind)
    made = _make_parents(target, error)
    lock = None
    try:
        lock = _lock(target, error)
        _check_contents(target, error, earlier, kind)  # again under the lock: another process may have written since
        for stale in target.parent.glob(f".{glob.escape(target.name)}.staging-*"):
            if _marked(stale):  # an earlier, killed assaykit's: never a folder of the user's named alike
                shutil.rmtree(stale, ignore_errors=True)
        try:
            stage = _staging(target)
        except OSError as exc:
            raise error(f"cannot write the outputs ({exc.strerror or exc})", target) from None
        try:
            _carry_over(target, stage)  # the review's records, readable by what is drawn into the stage
            yield stage
            os.chmod(stage, 0o777 & ~_umask())
            _check_contents(target, error, earlier, kind)  # nothing of a user's came in while the outputs were made
            ours = _vouched(target, earlier) | _carry_over(target, stage)  # again: appended meanwhile
            _carry_litter(target, stage)
            (stage / STAGING_MARK).unlink()
            _swap(stage, target, ours)
        except OSError as exc:
            _remove_stage(stage)
            raise error(f"cannot write the outputs ({exc.strerror or exc}); the previous folder is unchanged",
                        target) from None
        except BaseException:
            _remove_stage(stage)
            raise
    except BaseException:
        _unlock(target, lock)
        lock = None
        for folder in made:  # the parents made for outputs that never came
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    finally:
        _unlock(target, lock)


def _check_contents(target: Path, error: type[AssayKitError], earlier: tuple[str, ...] = (), kind: str = "") -> bool:
    """The rule on what an output folder may hold to be replaced (``error`` when it may not;
    True when it exists and is not empty): not a symlink or a file; empty, or an assaykit output
    folder (a manifest.json) holding nothing its manifest does not vouch for (:func:`_not_ours`)."""
    if target.is_symlink():
        raise error("the output folder is a symlink; name the folder itself", target)
    if os.path.lexists(target) and not target.is_dir():
        raise error("the output folder is a file; name a folder", target)
    try:
        if not (target.is_dir() and any(not os_litter(p.name) for p in target.iterdir())):
            return False  # empty, or holding only a file browser's files (carried into the new folder)
        if earlier and not (target / "manifest.json").exists() \
                and all(p.name in earlier and p.is_file() and not p.is_symlink() for p in target.iterdir()):
            return True  # an older assaykit's folder of this kind: its files alone
        if not (target / "manifest.json").is_file():
            raise error("the output folder exists and is not an assaykit output folder (no manifest.json); "
                        "name a new or empty folder", target)
        problem = _not_ours(target, error, kind)
    except OSError as exc:
        raise error(f"cannot read the output folder ({exc.strerror or exc})", target) from None
    if problem:
        raise error(problem, target)
    return True


def _make_parents(target: Path, error: type[AssayKitError]) -> list[Path]:
    """Make ``target``'s missing parent folders; those made, deepest first."""
    missing = [p for p in target.absolute().parents if not os.path.lexists(p)]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise error(f"cannot make the output folder's parent ({exc.strerror or exc})", target) from None
    return missing


def _swap(stage: Path, target: Path, ours: set[str]) -> None:
    """Put ``stage`` in ``target``'s place in one rename; of the previous folder, only the files
    assaykit wrote (``ours``: :func:`_vouched`) are removed after, and its folders once empty (a
    file that is not assaykit's stays, in the previous folder left hidden beside, never deleted)."""
    if not os.path.lexists(target):
        os.rename(stage, target)
    elif _exchange(stage, target):
        _remove_ours(stage, ours)  # now the previous folder
    else:
        old = _staging(target, "staging-old-")
        os.rename(target, old / "previous")
        try:
            os.rename(stage, target)
        except OSError:
            os.rename(old / "previous", target)
            _remove_stage(old)
            raise
        _remove_ours(old / "previous", ours)
        with contextlib.suppress(OSError):
            (old / STAGING_MARK).unlink()
            old.rmdir()


STAGING_MARK = ".assaykit-staging"
"""The file assaykit makes first in each staging folder it makes (beside an output folder,
``.<name>.staging-XXXXXXXX``), holding :data:`STAGING_TEXT`: only a folder holding it is
assaykit's to remove (a user's folder named alike is never touched); removed before the folder
becomes the output."""
STAGING_TEXT = b"assaykit staging folder: removed by the next run if this one was killed\n"


def _staging(target: Path, kind: str = "staging-") -> Path:
    """A new, empty staging folder beside ``target`` with assaykit's mark (:data:`STAGING_MARK`)."""
    stage = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.{kind}"))
    try:
        with open(stage / STAGING_MARK, "xb") as out:
            out.write(STAGING_TEXT)
    except OSError:
        stage.rmdir()
        raise
    return stage


def _marked(folder: Path) -> bool:
    """Whether ``folder`` (never a symlink) is a staging folder assaykit made (:func:`_staging`)."""
    from .read import not_regular

    mark = folder / STAGING_MARK
    try:
        if folder.is_symlink() or not folder.is_dir() or not_regular(mark, "mark", links=False) is not None:
            return False
        if mark.lstat().st_size != len(STAGING_TEXT):
            return False
        return mark.read_bytes() == STAGING_TEXT
    except OSError:
        return False


def _remove_stage(stage: Path) -> None:
    """Remove the staging folder this process made (its own, by construction: it was made empty
    by :func:`_staging` and only assaykit wrote into it)."""
    import shutil

    shutil.rmtree(stage, ignore_errors=True)


def _remove_ours(folder: Path, ours: set[str]) -> None:
    """Remove from the replaced output ``folder`` the files assaykit wrote (``ours``, relative
    paths) and a file browser's litter, then its folders once empty, deepest first; anything else
    (which :func:`_check_contents` refused, or that came after) stays where it is."""
    entries = _entries(folder, AssayKitError)
    for path in entries:
        rel = path.relative_to(folder).as_posix()
        if not path.is_symlink() and path.is_file() and (rel in ours or os_litter(path.name)):
            with contextlib.suppress(OSError):
                path.unlink()
    for path in sorted((p for p in entries if p.is_dir() and not p.is_symlink()),
                       key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            path.rmdir()
    with contextlib.suppress(OSError):
        folder.rmdir()


def _carry_litter(old: Path, new: Path) -> None:
    """Move the file browser's files (:func:`os_litter`) of the folder being replaced into the
    same places in its replacement, where those folders exist: they are not assaykit's to delete."""
    if not old.is_dir():
        return
    for path in _entries(old, AssayKitError):
        if os_litter(path.name) and path.is_file() and not path.is_symlink():
            place = new / path.relative_to(old)
            if place.parent.is_dir() and not os.path.lexists(place):
                with contextlib.suppress(OSError):
                    os.replace(path, place)


def file_listing(folder: Path) -> dict[str, dict[str, Any]]:
    """Every regular file under ``folder`` (relative path with '/') with its size and sha256,
    a file browser's own files (:func:`os_litter`), a staging folder's mark (:data:`STAGING_MARK`,
    removed before the folder becomes the output) and the review's carried records
    (:func:`carried`) left out."""
    listing = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink() and not os_litter(p.name)
                       and p != folder / STAGING_MARK and not carried(p.relative_to(folder).as_posix())):
        data = path.read_bytes()
        listing[path.relative_to(folder).as_posix()] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return listing
