"""The one validator: every document assaykit reads is checked here, whether lab staff wrote it
(a strategy, a bead lot, run.yaml, QC targets: parsed YAML) or assaykit wrote it and reads it back
(the manifest, the figure data: JSON).

How to use it
-------------
Each check takes a value and ``where`` (its place in the document, as the user would look for
it: ``thresholds.normal_abc``, ``values[2]``, ``tubes['A1.fcs'].panels[0].count``), returns the
value typed (a float, an int, a dict ...) and otherwise raises :class:`InvalidError`, whose text
is one line: ``where: problem``. A reader runs its checks inside :func:`checking`, which turns the
first :class:`InvalidError` into the reader's own error (an :class:`~assaykit.errors.AssayKitError`)
naming the file, so every problem reads ``FILE: KEY: PROBLEM``::

    with checking(AssayKitError, path):
        options = mapping(doc, "")
        known(options, KEYS, "")
        jobs = integer(options["jobs"], "jobs", low=1)
        thresholds = build(Thresholds, options.get("thresholds"), "thresholds")

The failure kinds, one wording each:

- wrong type: ``jobs: expected an integer, got 'four'`` (text is quoted, numbers are not;
  a container is named by its kind: ``got a list``);
- out of range: ``jobs: expected an integer of at least 1, got 0``;
- unknown key: ``thresholds: unknown key 'normal_abcc' (allowed: ...)``;
- missing key: ``beads.u: missing``;
- a dataclass's own check (``__post_init__``): ``thresholds: <its message>``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ..errors import AssayKitError

MAX_COUNT = 1e12
"""More events than any tube holds: a count above it is not one assaykit wrote."""


class InvalidError(ValueError):
    """A document value of the wrong type, shape or range; ``str()`` is one line, ``where: problem``."""


def invalid(where: str, problem: str) -> InvalidError:
    """The :class:`InvalidError` saying ``problem`` about the value at ``where`` ("": the document)."""
    return InvalidError(f"{where}: {problem}" if where else problem)


@contextmanager
def checking(error: type[AssayKitError], source: Any, frame: str = "{}") -> Iterator[None]:
    """Run a reader's checks: an :class:`InvalidError` raised inside becomes ``error`` naming the
    file ``source`` (a path, ``shipped:<name>`` or None), its message ``frame`` with ``{}``
    replaced by the InvalidError's text (``"damaged manifest ({}); score the run again"``)."""
    try:
        yield
    except InvalidError as found:
        raise error(frame.format(" ".join(str(found).splitlines())), source) from None


# --- how values appear in messages -----------------------------------------------------------------


QUOTED = re.compile(r"[-+<>~]?[^\W_]([\w .,+/%()\[\]#-]{0,38}[\w.%)\]#])?|[-+<>~]")
"""What an error message quotes of a file: a value or a key as a person types one in a
configuration (a typo, a word, a number, a path, ``<10``, ``-5``, ``~3``), at most 40 letters,
digits, spaces and ``_ . , + / % ( ) [ ] # -`` after one optional sign of ``- + < > ~``, or such
a sign alone (``-``). Anything else -- a line of some other file (``root:x:0:0:...``, a
password hash), markup, control characters, a long text -- is described by its length only
(docs/reliability.md, "Errors quote only our own inputs")."""
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}:?\d{2})?")
"""A date or time as a clinical table holds one (ISO 8601: ``2026-11-17 06:00``, ``...T06:00:00+01:00``),
also quoted: its colons are a time's, not a foreign file's fields."""


def quote(text: Any) -> str:
    """``text`` as it may appear in an error message: quoted when it is a short value a person
    types (:data:`QUOTED`), else ``a text of N characters``: a message never prints a line of a
    file that is not an assaykit file (``lot: /etc/shadow``)."""
    value = str(text)
    if QUOTED.fullmatch(value) or TIMESTAMP.fullmatch(value):
        return repr(value)
    return f"a text of {len(value)} character{'' if len(value) == 1 else 's'}" if value else "''"


def shown(value: Any, whole: bool = False) -> str:
    """``value`` as a message shows what it got: text quoted (:func:`quote`), a number or
    boolean as written, ``null``, or a container by its kind (``a mapping``, ``a list``). With
    ``whole`` (the value is a whole document: nothing says it is an assaykit file), text is never
    quoted, only its length."""
    if isinstance(value, str) and whole:
        return f"a text of {len(value)} character{'' if len(value) == 1 else 's'}"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and abs(value) >= 10**40:
        return f"an integer of {len(str(abs(value))) if abs(value) < 10**4000 else 'over 4000'} digits"
    if isinstance(value, int | float):
        return f"{value!r:.40}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return quote(value)


MAX_LISTED = 12
"""Problems one error message lists before it says how many more there are."""


def listed(problems: list[str], limit: int = MAX_LISTED) -> str:
    """``problems`` joined by ``; `` into one message of bounded length: the first ``limit``,
    each cut at 160 characters, then ``and N more`` (a table of 200,000 bad rows is one line of
    at most about 2,000 characters, not 40 MB).

    Parameters
    ----------
    problems : list of str
        What is wrong, one item each.
    limit : int
        How many are listed.
    """
    shown_ = [p if len(p) <= 160 else p[:160] + "..." for p in problems[:limit]]
    more = len(problems) - len(shown_)
    return "; ".join(shown_) + (f"; and {more:,} more" if more > 0 else "")


def unknown_keys(unknown: list[str], allowed: Collection[Any], foreign: bool = False) -> str:
    """A message naming the first of the ``unknown`` keys (:func:`quote`) and the ``allowed``
    ones; with ``foreign`` (no key of the mapping is an allowed one: perhaps not an assaykit
    file at all) naming none of them."""
    allowed_text = ", ".join(sorted(map(str, allowed)))
    if foreign:
        return (f"none of its {len(unknown)} key{'' if len(unknown) == 1 else 's'} is one it may have "
                f"(allowed: {allowed_text})")
    more = f" and {len(unknown) - 1} more" if len(unknown) > 1 else ""
    return f"unknown key {quote(unknown[0])}{more} (allowed: {allowed_text})"


def at(where: str, key: Any) -> str:
    """The place of ``key`` inside the value at ``where``: ``where.key`` (``key`` alone at the top)."""
    return f"{where}.{key}" if where else str(key)


def _bounds(low: float, high: float) -> str:
    if math.isinf(low) and math.isinf(high):
        return ""
    if math.isinf(high):
        return f" of at least {low:g}"
    if math.isinf(low):
        return f" of at most {high:g}"
    return f" in [{low:g}, {high:g}]"


# --- the checks --------------------------------------------------------------------------------------


def mapping(value: Any, where: str, optional: bool = False) -> dict[str, Any]:
    """``value`` when it is a mapping (a JSON object); with ``optional``, null reads as ``{}``."""
    if value is None and optional:
        return {}
    if not isinstance(value, dict):
        raise invalid(where, f"expected a mapping, got {shown(value, whole=not where)}")
    return value


def known(doc: Mapping[Any, Any], allowed: Collection[Any], where: str) -> Mapping[Any, Any]:
    """``doc`` when every key of it is one of ``allowed`` (an unknown key is most often a typo;
    when none is allowed, the keys are not quoted: :func:`unknown_keys`)."""
    unknown = sorted(str(k) for k in doc if k not in allowed)
    if unknown:
        raise invalid(where, unknown_keys(unknown, allowed, foreign=len(unknown) == len(doc) and len(doc) > 1))
    return doc


def field(doc: Mapping[str, Any], key: str, where: str) -> Any:
    """``doc[key]`` (``doc`` is the mapping at ``where``); missing when it is absent."""
    if key not in doc:
        raise invalid(at(where, key), "missing")
    return doc[key]


def items(value: Any, where: str) -> list[Any]:
    """``value`` when it is a list."""
    if not isinstance(value, list):
        raise invalid(where, f"expected a list, got {shown(value)}")
    return value


def text(value: Any, where: str) -> str:
    """``value`` when it is text (a quoted number or date stays what YAML made of it: refused)."""
    if not isinstance(value, str):
        raise invalid(where, f"expected text, got {shown(value)}")
    return value


def boolean(value: Any, where: str) -> bool:
    """``value`` when it is true or false as written unquoted (``"false"`` in quotes is text)."""
    if not isinstance(value, bool):
        raise invalid(where, f"expected true or false (unquoted), got {shown(value)}")
    return value


def number(value: Any, where: str, low: float = -math.inf, high: float = math.inf, integer: bool = False) -> float:
    """``value`` as a float when it is a finite number in [``low``, ``high``]; with ``integer``,
    a whole number (``3`` or ``3.0``: JSON written by another tool may have either)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not finite(value):
        raise invalid(where, f"expected a finite number, got {shown(value)}")
    if not low <= value <= high or (integer and value != int(value)):
        kind = "a whole number" if integer else "a number"
        raise invalid(where, f"expected {kind}{_bounds(low, high)}, got {shown(value)}")
    return float(value)


def finite(value: int | float) -> bool:
    """``value`` is finite as a float (an integer of 400 digits is beyond every float: not)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def integer(value: Any, where: str, low: float = -math.inf, high: float = math.inf) -> int:
    """``value`` when it is an integer as written (``3``, not ``3.0``: a count of jobs, peaks,
    events a person types) in [``low``, ``high``]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(where, f"expected an integer, got {shown(value)}")
    if not low <= value <= high:
        raise invalid(where, f"expected an integer{_bounds(low, high)}, got {shown(value)}")
    return value


def array(value: Any, where: str, shape: tuple[int | None, ...], low: float = -math.inf, high: float = math.inf,
          integer: bool = False) -> Any:
    """``value`` (nested lists) as a float64 array of ``shape`` (None: any length), every element
    finite and in [``low``, ``high``] (whole numbers when ``integer``)."""
    import numpy as np

    items(value, where)
    try:
        values = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise invalid(where, "expected numbers in a regular array") from None
    if values.ndim != len(shape) or any(n is not None and n != m for n, m in zip(shape, values.shape, strict=True)):
        wanted = " x ".join("N" if n is None else str(n) for n in shape)
        raise invalid(where, f"expected an array of shape {wanted}, got {' x '.join(map(str, values.shape))}")
    if values.size and (not np.isfinite(values).all() or values.min() < low or values.max() > high
                        or (integer and not (values == np.round(values)).all())):
        kind = "whole numbers" if integer else "finite numbers"
        raise invalid(where, f"expected {kind}{_bounds(low, high)}")
    return values


_BY_ANNOTATION: dict[str, Callable[[Any, str], Any]] = {"float": number, "int": integer, "bool": boolean, "str": text}
"""The check of a dataclass field by its annotation's first word (``float | None`` -> float)."""


def build(cls: Any, values: Any, where: str, fixed: Mapping[str, Any] | None = None) -> Any:
    """The frozen dataclass ``cls`` from the mapping ``values`` found at ``where`` (null: every
    field its default): unknown keys refused, each field checked by its annotation (``float``:
    :func:`number`, integers read as floats; ``int``: :func:`integer`; ``bool``: :func:`boolean`;
    ``str``: :func:`text`), then ``cls``'s own checks (its ``ValueError`` or ``TypeError`` becomes
    an :class:`InvalidError` at ``where``). ``fixed``: fields the caller gives, not read from
    ``values`` (an automatic gate's dims)."""
    from dataclasses import fields

    fixed = fixed or {}
    values = mapping(values, where, optional=True)
    kinds = {f.name: str(f.type).split(" ")[0] for f in fields(cls) if f.name not in fixed}
    known(values, kinds, where)
    unchecked = sorted(k for k, kind in kinds.items() if kind not in _BY_ANNOTATION)
    if unchecked:
        raise TypeError(f"{cls.__name__}: build cannot check the field(s) {', '.join(unchecked)}")
    checked = {k: _BY_ANNOTATION[kinds[k]](v, at(where, k)) for k, v in values.items()}
    try:
        return cls(**fixed, **checked)
    except (TypeError, ValueError) as exc:
        raise invalid(where, str(exc)) from None
