"""HEADER and TEXT segment parsing (FCS 2.0, 3.0, 3.1, 3.2).

Pure functions over ``bytes``; no file access here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HEADER_SIZE = 58
_VERSIONS = ("FCS2.0", "FCS3.0", "FCS3.1", "FCS3.2")


class TextError(ValueError):
    """Raised by the pure parsers; the reader turns it into an FCSFormatError with the path."""


@dataclass(frozen=True)
class Header:
    """The fixed 58-byte HEADER of one dataset; offsets are relative to the dataset start.

    ``None`` marks a blank offset field (allowed for DATA/ANALYSIS in large files).
    """

    version: str
    text_start: int | None
    text_end: int | None
    data_start: int | None
    data_end: int | None
    analysis_start: int | None
    analysis_end: int | None


def _offset(field: bytes, name: str) -> int | None:
    stripped = field.strip(b" \x00")
    if not stripped:
        return None
    if not stripped.isdigit():
        raise TextError(f"HEADER field {name} is not a number: {field!r}")
    return int(stripped)


def parse_header(buf: bytes) -> Header:
    """Parse the HEADER that starts ``buf`` (at least 58 bytes)."""
    if len(buf) < HEADER_SIZE:
        raise TextError(f"file too short for an FCS HEADER ({len(buf)} bytes, need {HEADER_SIZE})")
    version = buf[:6].decode("latin-1")
    if version not in _VERSIONS:
        if buf[:3] == b"FCS":
            raise TextError(f"unsupported FCS version {version!r}")
        raise TextError("not an FCS file (it does not start with 'FCS2.0'/'FCS3.x')")
    names = ("TEXT start", "TEXT end", "DATA start", "DATA end", "ANALYSIS start", "ANALYSIS end")
    offsets = [_offset(buf[10 + 8 * i : 18 + 8 * i], names[i]) for i in range(6)]
    return Header(version, *offsets)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _tokens_escaped(body: bytes, delim: bytes) -> list[bytes]:
    """Split on the delimiter, reading a doubled delimiter as a literal one (FCS 3.x rule).

    A run of k delimiters holds k // 2 literal delimiters, followed by a separator when k is odd.
    """
    if delim * 2 not in body:  # no escaped delimiter (most files): every delimiter separates
        return _tokens_plain(body, delim)
    tokens: list[bytes] = []
    current = bytearray()
    pos = 0
    for run in re.finditer(re.escape(delim) + b"+", body):
        current += body[pos : run.start()]
        k = run.end() - run.start()
        current += delim * (k // 2)
        if k % 2:
            tokens.append(bytes(current))
            current = bytearray()
        pos = run.end()
    current += body[pos:]
    if current:
        tokens.append(bytes(current))
    return tokens


def _tokens_plain(body: bytes, delim: bytes) -> list[bytes]:
    """Split on every delimiter: a doubled delimiter is an empty value (FCS 2.0 writers)."""
    tokens = body.split(delim)
    if tokens and tokens[-1] == b"":
        tokens.pop()
    return tokens


def _pairs(tokens: list[bytes]) -> tuple[dict[str, str], list[str]]:
    notes: list[str] = []
    if len(tokens) % 2:
        # An odd token is a keyword without value: TEXT that ends one byte late (includes the first
        # DATA byte) or early. It cannot be interpreted; drop it and say so.
        notes.append(f"TEXT ends with a keyword without value ({_decode(tokens[-1])[:20]!r})")
        tokens = tokens[:-1]
    keywords: dict[str, str] = {}
    for i in range(0, len(tokens), 2):
        key = _decode(tokens[i]).strip().upper()
        if not key:
            notes.append("TEXT holds an empty keyword name")
            continue
        if key in keywords:
            notes.append(f"keyword {key} appears twice; the first value is kept")
            continue
        keywords[key] = _decode(tokens[i + 1])
    return keywords, notes


def _is_complete(keywords: dict[str, str]) -> bool:
    """True when the keywords describe every parameter (what a DATA segment needs)."""
    try:
        n_par = int(keywords.get("$PAR", "").strip())
    except ValueError:
        return False
    if n_par < 1 or n_par > len(keywords):
        return False
    return all(f"$P{i}B" in keywords for i in range(1, n_par + 1)) and not any(
        k.startswith("$") and ("\\" in k or "/" in k or "|" in k) for k in keywords
    )


def parse_text(segment: bytes) -> tuple[dict[str, str], list[str]]:
    """Parse a TEXT (or supplemental TEXT) segment into upper-case keywords.

    The first byte is the delimiter. Delimiters doubled inside a value are escapes (FCS 3.x);
    some writers instead leave values empty, which also shows as a doubled delimiter. Both readings
    are tried: the escape reading wins when it describes every parameter and pairs every keyword
    with a value; otherwise the empty-value reading, when it does.
    A missing final delimiter and trailing NUL/space padding are accepted.
    Returns the keywords and notes on anything irregular.
    """
    if not segment:
        raise TextError("the TEXT segment is empty")
    delim = segment[:1]
    if delim in b"0123456789" or delim.isalpha():
        raise TextError(f"TEXT does not start with a delimiter (found {delim!r})")
    padding = bytes(c for c in b"\x00 \r\n" if bytes([c]) != delim)
    body = segment[1:].rstrip(padding)
    escaped_tokens = _tokens_escaped(body, delim)
    escaped = _pairs(escaped_tokens)
    if delim * 2 not in body or (_is_complete(escaped[0]) and len(escaped_tokens) % 2 == 0):
        return escaped
    plain_body = body[:-1] if body.endswith(delim) else body
    plain_tokens = _tokens_plain(plain_body + delim, delim)
    plain = _pairs(plain_tokens)
    if _is_complete(plain[0]) and (len(plain_tokens) % 2 == 0 or not _is_complete(escaped[0])):
        plain[1].append("doubled delimiters read as empty values")
        return plain
    return escaped


_MONTHS = {m: i for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV",
                                        "DEC"), start=1)}


def acquisition_date(keywords: dict[str, str]) -> str:
    """``$DATE`` (+ ``$BTIM``) as ``YYYY-MM-DD[ hh:mm:ss]``. The standard form is dd-mmm-yyyy;
    dd-mmm-yy (FCS 2.0), "dd mmm yyyy" and yyyy-mm-dd are read too. An all-number day-month form
    (28-06-2006) is ambiguous between instruments and is kept as written, as is anything else."""
    raw = keywords.get("$DATE", "").strip()
    if not raw:
        return ""
    date = raw
    match = re.fullmatch(r"(\d{1,2})[- ]([A-Za-z]{3})[- ](\d{2}|\d{4})", raw)
    if match and match.group(2).upper() in _MONTHS:
        year = int(match.group(3))
        year += (1900 if year >= 70 else 2000) if year < 100 else 0
        date = f"{year:04d}-{_MONTHS[match.group(2).upper()]:02d}-{int(match.group(1)):02d}"
    time = re.match(r"\d{1,2}:\d{2}(:\d{2})?", keywords.get("$BTIM", "").strip())
    return f"{date} {time.group(0)}" if time else date
