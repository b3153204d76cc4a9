"""Writing one ``gate_overrides:`` entry into a run folder's run.yaml, surgically: the entry's
bytes are replaced or added, every other byte of the file is kept (comments, order, quoting,
blank lines). Nodes are located through ``yaml.compose`` marks; the user's YAML is never
re-dumped. A ``gate_overrides`` the review cannot edit in place (flow style, anchors, aliases or
tags, a document that is not a mapping) is refused by name. The result is checked by reading it
back: the entry is as meant and every other value is unchanged, or nothing is written."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import AssayKitError

KEY = "gate_overrides"


CHANGED_ON_DISK = ("run.yaml changed on disk since the review read it; reload the page to read it anew (the review "
                   "is closed and opened again; in the library: close the review and open it again)")
"""What a change refused over a run.yaml edited on disk says (the one message, wherever it is found)."""


class RunYamlError(AssayKitError):
    """run.yaml cannot be edited in place by the review (the message says why)."""


@dataclass(frozen=True)
class Edit:
    """An edit of run.yaml: the new ``text``, and the bytes the entry occupies in it
    (``start``, ``end``: characters of the new text)."""

    text: str
    start: int
    end: int
    replaced: str = ""  # the entry's text before (comments included), when an entry was replaced or removed


def sha256(data: bytes) -> str:
    """The SHA-256 (hex) of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _compose(text: str, path: Path) -> Any:
    import yaml

    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise RunYamlError(f"run.yaml is not valid YAML ({type(exc).__name__}); fix it first", path) from None


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _trim_end(text: str, start: int, end: int) -> int:
    """``end`` moved back over trailing blank and comment lines (they belong to what follows)."""
    while end > start:
        line_start = _line_start(text, end - 1 if text[end - 1] == "\n" else end)
        line = text[line_start:end].strip()
        if line and not line.startswith("#"):
            break
        if line_start <= start:
            break
        end = line_start
    return end


def _refuse_anchors(text: str, node: Any, path: Path) -> None:
    """RunYamlError when ``node``'s span of ``text`` holds an anchor or an alias (an entry the
    review replaced could be the target of an alias elsewhere, or share one)."""
    import yaml

    start, end = node.start_mark.index, node.end_mark.index
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        mark = event.start_mark
        anchor = getattr(event, "anchor", None)
        if mark is not None and start <= mark.index <= end and (isinstance(event, yaml.AliasEvent) or anchor):
            raise RunYamlError(f"{KEY} holds an anchor or alias ({anchor}) the review cannot edit in place; "
                               "write it without anchors and aliases (review is still possible read-only)", path)


def entry_text(key: str, value: Mapping[str, Any], indent: int) -> str:
    """The YAML lines of one entry (``key: value`` in block style, the gate's coordinates in flow
    lists), indented by ``indent`` spaces, ending in a line end."""
    import yaml

    body = yaml.safe_dump({key: _plain(value)}, default_flow_style=None, sort_keys=False, allow_unicode=False,
                          width=100)
    return "".join(" " * indent + line + "\n" for line in body.splitlines())


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def set_entry(text: str, key: str, value: Mapping[str, Any] | None, path: Path) -> Edit:
    """``text`` (run.yaml) with ``gate_overrides: key`` set to ``value`` (None: the entry removed),
    every byte outside that entry kept; a file whose every line ends in CR LF gets the entry's
    lines with CR LF too. RunYamlError when run.yaml cannot be edited in place."""
    if "\r\n" in text and text.count("\n") == text.count("\r\n"):  # a Windows file: kept one
        edit = _set_entry(text.replace("\r\n", "\n"), key, value, path)

        def crlf(part: str) -> str:
            return part.replace("\n", "\r\n")

        return Edit(text=crlf(edit.text), start=len(crlf(edit.text[:edit.start])),
                    end=len(crlf(edit.text[:edit.end])), replaced=crlf(edit.replaced))
    return _set_entry(text, key, value, path)


def _set_entry(text: str, key: str, value: Mapping[str, Any] | None, path: Path) -> Edit:
    import yaml

    root = _compose(text, path)
    if root is not None and not isinstance(root, yaml.MappingNode):
        raise RunYamlError("run.yaml is not a mapping of options; the review cannot add gate overrides", path)
    found = None
    for k, v in (root.value if root is not None else []):
        if isinstance(k, yaml.ScalarNode) and k.value == KEY:
            found = (k, v)
    if found is None:
        if value is None:
            return Edit(text=text, start=len(text), end=len(text))
        prefix = text if not text or text.endswith("\n") else text + "\n"
        block = f"{KEY}:\n" + entry_text(key, value, 2)
        return Edit(text=prefix + block, start=len(prefix), end=len(prefix) + len(block))
    knode, vnode = found
    _refuse_anchors(text, vnode, path)
    if isinstance(vnode, yaml.ScalarNode) and vnode.tag == "tag:yaml.org,2002:null":
        if value is None:
            return Edit(text=text, start=vnode.start_mark.index, end=vnode.start_mark.index)
        # `gate_overrides:` with nothing after it: the entry goes on the lines below the key
        if vnode.end_mark.index != vnode.start_mark.index:
            raise RunYamlError(f"{KEY} is set to null ({text[vnode.start_mark.index:vnode.end_mark.index]}); "
                               f"leave it empty (`{KEY}:`) or remove it, then review", path)
        line_end = text.find("\n", knode.end_mark.index)
        if line_end < 0:
            text, line_end = text + "\n", len(text)
        block = entry_text(key, value, 2)
        return Edit(text=text[:line_end + 1] + block + text[line_end + 1:], start=line_end + 1,
                    end=line_end + 1 + len(block))
    if not isinstance(vnode, yaml.MappingNode):
        raise RunYamlError(f"{KEY} is not a mapping of tubes; the review cannot add to it", path)
    if vnode.flow_style:
        raise RunYamlError(f"{KEY} is written in flow style ({{...}}), which the review cannot edit in place: "
                           "write it as a block mapping (one tube per line; review is still possible read-only)",
                           path)
    entries = list(vnode.value)
    indent = entries[0][0].start_mark.column if entries else 2
    for k, v in entries:
        if not isinstance(k, yaml.ScalarNode):
            raise RunYamlError(f"{KEY} has a key that is not plain text", path)
        if k.value == key or (isinstance(k.value, str) and k.value.casefold() == key.casefold()):
            start = _line_start(text, k.start_mark.index)
            if text[start:k.start_mark.index].strip():
                raise RunYamlError(f"{KEY}: {k.value!r} does not start its own line", path)
            end = _trim_end(text, start, v.end_mark.index)
            if end < len(text) and text[end - 1] != "\n":
                nl = text.find("\n", end)
                if text[end:nl if nl >= 0 else len(text)].strip().startswith("#") or not \
                        text[end:nl if nl >= 0 else len(text)].strip():
                    end = len(text) if nl < 0 else nl + 1
            new_entry = entry_text(key, value, indent) if value is not None else ""
            return Edit(text=text[:start] + new_entry + text[end:], start=start, end=start + len(new_entry),
                        replaced=text[start:end])
    if value is None:
        return Edit(text=text, start=len(text), end=len(text))
    last_key, last_value = entries[-1]
    last_end = _trim_end(text, _line_start(text, last_key.start_mark.index), last_value.end_mark.index)
    if last_end > 0 and text[last_end - 1] != "\n":
        nl = text.find("\n", last_end)
        tail = text[last_end:nl if nl >= 0 else len(text)]
        if tail.strip() and not tail.strip().startswith("#"):
            raise RunYamlError(f"{KEY}: its last entry is followed by text on the same line", path)
        if nl < 0:  # the file ends here without a line end: one added before the new entry
            new_entry = "\n" + entry_text(key, value, indent)
            return Edit(text=text + new_entry, start=len(text) + 1, end=len(text) + len(new_entry))
        last_end = nl + 1
    new_entry = entry_text(key, value, indent)
    return Edit(text=text[:last_end] + new_entry + text[last_end:], start=last_end, end=last_end + len(new_entry))


def check_edit(before: str, after: str, key: str, value: Mapping[str, Any] | None, path: Path) -> None:
    """RunYamlError unless ``after`` reads as ``before`` with only ``gate_overrides: key`` set to
    ``value`` (removed when None)."""
    import yaml

    try:
        old = yaml.safe_load(before) or {}
        new = yaml.safe_load(after) or {}
    except yaml.YAMLError:
        raise RunYamlError("the edited run.yaml would not read back; nothing written", path) from None
    if not isinstance(new, dict) or not isinstance(old, dict):
        raise RunYamlError("the edited run.yaml would not be a mapping; nothing written", path)
    old_overrides = dict(old.pop(KEY, None) or {})
    new_overrides = dict(new.pop(KEY, None) or {})
    for existing in list(old_overrides):
        if str(existing).casefold() == key.casefold():
            del old_overrides[existing]
    if value is not None:
        old_overrides[key] = _plain(value)
    if old != new or old_overrides != new_overrides:
        raise RunYamlError("the edited run.yaml would change more than the review's entry; nothing written", path)


def write_entry(path: Path, read_sha256: str, key: str, value: Mapping[str, Any] | None) -> tuple[str, str]:
    """Set ``gate_overrides: key`` of the run.yaml at ``path`` to ``value`` (None: remove it),
    atomically; RunYamlError when the file changed on disk since it was read (its SHA-256 then
    was ``read_sha256``: restart the review) or cannot be edited in place. Returns the file's
    SHA-256 before and after."""
    from .._io.read import read_input

    data = read_input(path, RunYamlError, "run.yaml", 1 << 20) if path.exists() else b""
    if sha256(data) != read_sha256:
        raise RunYamlError(CHANGED_ON_DISK, path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise RunYamlError("run.yaml is not UTF-8 text; the review cannot edit it", path) from None
    edit = set_entry(text, key, value, path)
    check_edit(text, edit.text, key, value, path)
    new = edit.text.encode("utf-8")
    write_run_yaml(path, data, new)
    return sha256(data), sha256(new)


def unwritable(path: Path) -> str:
    """Why the review may not replace the run.yaml at ``path`` ("" when it may): no write bit
    (a user's ``chmod a-w``, honoured even for root: :func:`assaykit._io.atomic._read_only`), or
    more than one hard link (a replacement would give it a new inode: the other names would keep
    the old text). Checked when the review opens (the review is then read-only) and before
    every write.

    Parameters
    ----------
    path : Path
        The run folder's run.yaml (absent: "").
    """
    import os

    from .._io.atomic import _read_only

    try:
        st = os.lstat(path)
    except OSError:
        return ""
    if _read_only(path):
        return "run.yaml is read-only: the review cannot record changes"
    if st.st_nlink > 1:
        return (f"run.yaml has {st.st_nlink} hard links: the review would replace only this name (the others "
                "keeping the old text) and cannot record changes; copy it (cp, not ln) to give it one name")
    return ""


def write_run_yaml(path: Path, before: bytes, after: bytes) -> None:
    """Replace the run.yaml at ``path`` (holding ``before``) by ``after`` atomically, keeping its
    permission bits; RunYamlError, nothing written, when ``path`` is a symbolic link (it would be
    replaced by a regular file: edit the file it points to, or review a run folder whose run.yaml
    is its own) or its bytes are no longer ``before``.

    Parameters
    ----------
    path : Path
        The run folder's run.yaml.
    before : bytes
        Its bytes as the review read them (b"": no file).
    after : bytes
        The bytes to write.
    """
    import os
    import stat

    from .._io.atomic import write_atomic

    if path.is_symlink():
        raise RunYamlError("run.yaml is a symbolic link; the review does not replace it (edit the file it points "
                           "to by hand, or copy it into the run folder)", path)
    problem = unwritable(path)
    if problem:
        raise RunYamlError(problem, path)
    mode = None
    if path.exists():
        current = path.read_bytes()
        if current != before:
            raise RunYamlError(CHANGED_ON_DISK, path)
        mode = stat.S_IMODE(path.stat().st_mode)
    written = write_atomic(path, after, RunYamlError)
    if mode is not None:
        try:
            os.chmod(written, mode)
        except OSError as error:
            raise RunYamlError(f"run.yaml's permissions could not be kept ({error.strerror})", path) from None
