"""Numbers written in XML documents (GatingML 2.0, FlowJo 9 and 10 workspaces), read by the XML
Schema lexical rules, in one place: ``xs:double`` (``12``, ``-1.5``, ``.5``, ``1E3``) and
``xs:integer`` (``-1``, ``+42``), surrounded by XML white space at most. Python's own ``float()``
and ``int()`` also take ``1_000`` (read as 1000), Unicode digits (``١٢``), ``infinity`` and
surrounding Unicode spaces: none of them is an XML number, and a document holding one is refused,
never read as another value."""

from __future__ import annotations

import re

_DOUBLE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_XML_SPACE = " \t\r\n"

MAX_COUNT = 10**12
"""More events than any tube holds: an event count above it is refused (a console column, a
table cell or an integer column would be overrun by it)."""


def xml_double(text: str | None) -> float | None:
    """The finite number ``text`` writes as an ``xs:double`` (XML white space around it allowed),
    None for anything else: absent, ``1_000``, ``0x10``, Unicode digits, ``INF``, ``NaN``, or a
    value beyond the range of a float."""
    if text is None:
        return None
    stripped = text.strip(_XML_SPACE)
    if not _DOUBLE.fullmatch(stripped):
        return None
    value = float(stripped)
    return value if value not in (float("inf"), float("-inf")) else None


def xml_integer(text: str | None, low: int = -MAX_COUNT, high: int = MAX_COUNT) -> int | None:
    """The whole number ``text`` writes as an ``xs:integer`` (XML white space around it allowed)
    when it lies in [``low``, ``high``], None for anything else (``1_000``, ``1.0``, ``1e3``,
    Unicode digits, 10^23)."""
    if text is None:
        return None
    stripped = text.strip(_XML_SPACE)
    if not _INTEGER.fullmatch(stripped) or len(stripped) > 40:
        return None
    value = int(stripped)
    return value if low <= value <= high else None
