"""Finding a marker's channel in a file: by ``$PnS`` label, by ``$PnN`` alias, never by position.

Names are compared as tokens: a label is cut into runs of letters and runs of digits (case and
punctuation ignored), and a marker name matches where consecutive tokens spell it. So ``HLA-DR``,
``HLA DR``, ``HLADR`` and ``hla_dr`` are one name, ``CD14`` is found in ``CD14-PC5.5`` and
``CD14PerCP`` but not in ``CD140``, and ``MHC class II`` spells ``MHCclassII``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import GatingError

SYNONYMS: dict[str, tuple[str, ...]] = {
    "HLA-DR": ("HLA-DR", "MHCII", "MHC class II", "MHC-II"),
    "CD14": ("CD14",),
}
"""Names labs write for a marker, besides its own (by the marker's name); compared as tokens."""

_TOKENS = re.compile(r"[a-z]+|[0-9]+")
_CD_NUMBER = re.compile(r"cd[0-9]+[a-z]?")


def _key(name: str) -> str:
    return "".join(_TOKENS.findall(name.lower()))


def _spells(label: str, names: Sequence[str]) -> bool:
    """True when consecutive tokens of ``label`` spell one of ``names`` (token comparison)."""
    tokens = _TOKENS.findall(label.lower())
    wanted = {_key(n) for n in names if _key(n)}
    return any("".join(tokens[i:j]) in wanted for i in range(len(tokens)) for j in range(i + 1, len(tokens) + 1))


_SCATTER = ("FSC", "SSC", "FS ", "SS ", "FS-", "SS-", "FS_", "SS_")


def is_scatter(channel: str) -> bool:
    """True for a scatter channel name (``$PnN``): FSC-A, SSC-H, FS INT, SS PEAK, ..."""
    name = channel.strip().upper()
    return name in ("FS", "SS") or name.startswith(_SCATTER)


@dataclass(frozen=True)
class Marker:
    """A marker (``CD14``, ``HLA-DR``, ``FSC-A`` ...): ``aliases`` are the channel names
    (``$PnN``) it goes by on different instruments, ``synonyms`` other names labs give it in
    ``$PnS`` (added to :data:`SYNONYMS`)."""

    name: str
    aliases: tuple[str, ...] = ()
    synonyms: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every name this marker is written as in a label: its name, its synonyms and the
        built-in ones (:data:`SYNONYMS`)."""
        builtin = next((v for k, v in SYNONYMS.items() if _key(k) == _key(self.name)), ())
        return tuple(dict.fromkeys((self.name, *self.synonyms, *builtin)))


def _names_other_marker(label: str, marker: Marker, others: Sequence[Marker]) -> str | None:
    """The marker ``label`` names when it is not ``marker``: one of ``others``, a built-in
    synonym or a CD number; None when it names none (empty, a fluorochrome, a channel name)."""
    for other in [*others, *(Marker(k) for k in SYNONYMS)]:
        if _key(other.name) != _key(marker.name) and _spells(label, other.names):
            return other.name
    tokens = _TOKENS.findall(label.lower())
    cd_numbers = ["".join(tokens[i:i + 2]) for i in range(len(tokens) - 1) if tokens[i] == "cd"]
    found = [t for t in cd_numbers if _CD_NUMBER.fullmatch(t) and t != _key(marker.name)]
    return found[0].upper() if found else None


def find_channel(marker: Marker, channels: Sequence[str], labels: Sequence[str],
                 others: Sequence[Marker] = ()) -> int:
    """Index of ``marker``'s channel among ``channels`` (``$PnN``) with their ``labels``
    (``$PnS``, "" when absent).

    Order: a ``$PnS`` label spelling one of the marker's :attr:`Marker.names` (an area channel
    wins among several); then a ``$PnN`` spelling one of its synonyms; then a ``$PnN`` equal to its
    name or an alias (case-insensitive, in the strategy's order). An alias whose channel is
    labelled with another marker (one of ``others``, a built-in synonym or a CD number) is
    refused: GatingError naming both. Raises GatingError when nothing matches."""
    names = marker.names
    # $PnN is searched for the synonyms only: a fluorochrome marker ('PE', for beads) must not
    # match 'PE-Cy7-A' or 'PE-Tx-Red-YG-A'
    for texts, spelled in ((labels, names), (channels, marker.names[1:])):
        matched = [i for i, text in enumerate(texts) if text and _spells(text, spelled)]
        if matched:
            areas = [i for i in matched if channels[i].upper().endswith(("-A", " INT", "-AREA"))]
            return (areas or matched)[0]
    lowered = [c.strip().lower() for c in channels]
    for alias in (a.lower() for a in (marker.name, *marker.aliases)):  # the strategy's order of preference
        if alias in lowered:
            index = lowered.index(alias)
            label = labels[index] if index < len(labels) else ""
            other = _names_other_marker(label, marker, others) if label else None
            if other is not None:
                raise GatingError(
                    f"marker {marker.name!r}: its alias {channels[index]!r} is labelled {label!r}, which names "
                    f"{other}; label the {marker.name} channel or map it by name in the strategy")
            return index
    raise GatingError(
        f"marker {marker.name!r} not found: no $PnS label names it ({' / '.join(names)}) and no channel is named "
        f"{' / '.join(repr(n) for n in [marker.name, *marker.aliases])} "
        f"(channels: {', '.join(channels)})")
