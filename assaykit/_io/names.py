"""Names made from user data (file names, FCS keywords such as ``$PnN``/``$PnS``/``$FIL``, plate-map
values), written wherever assaykit writes: safe, unique file stems (patient pages, per-tube gate
files), one reversible escape for the characters a text format cannot carry or should not show,
and spreadsheet cells that a spreadsheet will not run as formulas.

The rule for names (docs/reliability.md, "Names are data"). In memory a name is the ``str`` it was
read as: a file name as :func:`os.fsdecode` gives it (a byte that is not UTF-8 is a lone surrogate
U+DC80..U+DCFF, Python's ``surrogateescape``), an FCS keyword as UTF-8 or else Latin-1, a table cell
as decoded. Written to a text file (CSV, XML, HTML, PDF) or shown on the console, a name goes
through :func:`escape`:

- a byte that is not UTF-8 (U+DC80..U+DCFF) -> ``\\xNN``, NN the byte (``Caf\\xe9.fcs``);
- a control character (U+0000..U+001F, U+007F) -> ``\\xNN`` (``PE\\x1b-A``);
- any other character XML cannot carry or that changes how the text around it is shown
  (C1 controls U+0080..U+009F, other surrogates, U+FFFE/U+FFFF, line and paragraph separators
  U+2028/U+2029, bidirectional embeddings, overrides and isolates U+202A..U+202E, U+2066..U+2069)
  -> ``\\uNNNN``;
- a backslash that would otherwise read as one of these escapes (followed by ``\\``, ``xNN``,
  ``uNNNN``) -> ``\\\\``;
- everything else (letters of every script, combining marks, emoji, ``<>&"'``, ``,;``) as is:
  each format's own quoting carries it (CSV quotes, XML and HTML entities).

:func:`unescape` is its exact inverse, used by every reader of assaykit's own files (the report's
table loader, the GatingML and FlowJo readers), so a name read back is the name written. JSON
carries every ``str`` itself (``\\u`` escapes, lone surrogates included) and is written as is.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

_WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}
MAX_STEM = 48

_SPECIAL = ("\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\u2028\u2029\u202a-\u202e\u2066-\u2069")
_ESCAPED = re.compile(f"[{_SPECIAL}]")
_TOUCHED = re.compile(f"[\\\\{_SPECIAL}]")
_PIECES = re.compile(f"\\\\|[{_SPECIAL}]")
_LOOKS_ESCAPED = re.compile(r"\\|x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}")
_ESCAPE = re.compile(r"\\(\\|x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4})")


def _escaped(char: str) -> str:
    code = ord(char)
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def escape(text: str) -> str:
    """``text`` as assaykit writes and shows a name: every character that is not text a file can
    carry or a reader should see (a byte that is not UTF-8, a control character, a lone surrogate,
    U+FFFE/U+FFFF, a line separator, a bidirectional override) replaced by a backslash escape
    (``\\xNN`` for a byte or a C0 control, ``\\uNNNN`` otherwise), a backslash doubled where it
    would read as an escape; anything else unchanged. :func:`unescape` reverses it exactly; the
    result is valid UTF-8 text that XML 1.0 can carry.

    Parameters
    ----------
    text : str
        The name (or any text holding names), as read.
    """
    if not _TOUCHED.search(text):
        return text
    out: list[str] = []
    position = 0
    for found in _PIECES.finditer(text):
        out.append(text[position:found.start()])
        position = found.end()
        char = found.group()
        if char != "\\":
            out.append(_escaped(char))
            continue
        rest = text[position:position + 5]
        following = _ESCAPED.match(rest)  # the next character is escaped: its escape starts with a backslash
        out.append("\\\\" if following or _LOOKS_ESCAPED.match(rest) else "\\")
    out.append(text[position:])
    return "".join(out)


def _unescaped(found: re.Match[str]) -> str:
    body = found.group(1)
    if body == "\\":
        return "\\"
    code = int(body[1:], 16)
    if body[0] == "x":
        if code < 0x20 or code == 0x7F:
            return chr(code)
        if code >= 0x80:
            return chr(0xDC00 + code)
    elif code >= 0x80 and _ESCAPED.fullmatch(chr(code)) and not 0xDC80 <= code <= 0xDCFF:
        return chr(code)
    return found.group()  # not an escape escape() writes: the text as it stands


def unescape(text: str) -> str:
    """The name :func:`escape` was given (``\\xNN`` of a byte 0x80..0xFF: the lone surrogate
    :func:`os.fsencode` turns back into that byte). A backslash sequence that :func:`escape` does
    not write (``\\x41``, ``\\q``) is kept as it stands.

    Parameters
    ----------
    text : str
        Text as :func:`escape` wrote it (a cell, an XML attribute).
    """
    if "\\" not in text:
        return text
    return _ESCAPE.sub(_unescaped, text)


def unescape_tree(root: Any) -> Any:
    """``root`` (an ElementTree element, as parsed) with every attribute value and text read back
    by :func:`unescape`, in place: the names of an XML document assaykit wrote (GatingML, FlowJo
    workspace) as they were before :func:`escape`. Returns ``root``.

    Parameters
    ----------
    root : xml.etree.ElementTree.Element
        The parsed document (or one element of it).
    """
    for node in root.iter():
        for key, value in node.attrib.items():
            if "\\" in value:
                node.set(key, unescape(value))
        if node.text and "\\" in node.text:
            node.text = unescape(node.text)
    return root


def escape_tree(root: Any) -> Any:
    """``root`` with every attribute value and text written by :func:`escape`, in place: the
    inverse of :func:`unescape_tree` (an element read back, to be serialised again). Returns ``root``.

    Parameters
    ----------
    root : xml.etree.ElementTree.Element
        The document (or one element of it) whose names were read back.
    """
    for node in root.iter():
        for key, value in node.attrib.items():
            node.set(key, escape(value))
        if node.text:
            node.text = escape(node.text)
    return root


def printable(text: str) -> str:
    """``text`` for the console or a one-line message: the characters :func:`escape` replaces
    replaced the same way, backslashes left as they are (a message is read by a person, never
    parsed back; it may already hold Python reprs).

    Parameters
    ----------
    text : str
        A message or a line to print.
    """
    return _ESCAPED.sub(lambda found: _escaped(found.group()), text) if _ESCAPED.search(text) else text


def utf8(text: str) -> bytes:
    """``text`` as UTF-8 bytes for a digest or a key: a lone surrogate (a byte that was not
    UTF-8 in a file name) encoded as it stands, never an error.

    Parameters
    ----------
    text : str
        Any ``str``.
    """
    return text.encode("utf-8", "surrogatepass")


def _stem_char(char: str) -> str:
    """``char`` kept in a file stem (a letter or digit of any script, ``-``, ``_``, ``.``, a
    space), else ``-``."""
    return char if char.isalnum() or char in "-_. " else "-"


def safe_stems(names: list[str], fallback: str) -> dict[str, str]:
    """Name -> a file stem (no extension) safe on every file system, unique across ``names``
    (case-insensitively), deterministic: the name itself (Unicode NFC) when it holds only letters
    and digits of any script, ``-``, ``_``, ``.`` and spaces, does not begin with ``.``, ``-`` or
    a space nor end with ``.`` or a space, and is not a Windows device name (``Pé01``, ``run 17
    nov`` stay as they are); otherwise every other character (spaces too) made ``-``, cut at
    :data:`MAX_STEM` characters (``fallback`` when nothing is left), with a short hash of the
    full name (as also when two names would clash)."""
    import unicodedata

    stems: dict[str, str] = {}
    used: set[str] = set()
    for name in sorted(set(names)):
        text = unicodedata.normalize("NFC", name)
        kept = "".join(map(_stem_char, text))
        if kept != text or kept != kept.strip("-_. ") or kept.endswith(".") or len(kept) > MAX_STEM:
            kept = re.sub(r"[-\s]+", "-", kept.replace(" ", "-")).strip("-_.")[:MAX_STEM].rstrip(".-")
        stem = kept or fallback
        digest = hashlib.sha256(utf8(name)).hexdigest()
        if stem != name or stem.split(".")[0].strip().upper() in _WINDOWS_DEVICES or stem.casefold() in used:
            stem = f"{stem}-{digest[:8]}"
        k = 8
        while stem.casefold() in used:  # a hash prefix clash: lengthen it
            k += 4
            stem = f"{stem.rsplit('-', 1)[0]}-{digest[:k]}"
        used.add(stem.casefold())
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


def cell(text: str) -> str:
    """A text cell of a CSV file assaykit writes: :func:`escape` d, then :func:`neutralise` d.
    :func:`read_cell` reads it back.

    Parameters
    ----------
    text : str
        The cell's text, as held in memory.
    """
    return neutralise(escape(text))


def read_cell(text: str) -> str:
    """The text :func:`cell` was given.

    Parameters
    ----------
    text : str
        A text cell as read from the CSV file.
    """
    return unescape(restore(text))
