"""Finding a marker's channel in a file: by ``$PnS`` label, by ``$PnN`` alias, never by position."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import GatingError


@dataclass(frozen=True)
class Marker:
    """A marker (``CD14``, ``HLA-DR``, ``FSC-A`` ...) with the channel names (``$PnN``) it goes
    by on different instruments."""

    name: str
    aliases: tuple[str, ...] = ()


def _token_pattern(name: str) -> re.Pattern[str]:
    # the marker as a whole token: 'HLA-DR' in 'HLA-DR PE' and 'HLA-DR-PE', 'CD14' in 'CD14-PC5.5',
    # but not 'CD14' in 'CD140'
    return re.compile(r"(?<![a-z0-9])" + re.escape(name.lower()) + r"(?![a-z0-9])")


def find_channel(marker: Marker, channels: Sequence[str], labels: Sequence[str]) -> int:
    """Index of ``marker``'s channel among ``channels`` (``$PnN``) with their ``labels``
    (``$PnS``, "" when absent): first a ``$PnS`` label holding the marker name as a token,
    then a ``$PnN`` equal to the name or one of the aliases (case-insensitive). Among several
    labelled channels an area channel (``-A``) wins. Raises GatingError when none matches."""
    pattern = _token_pattern(marker.name)
    labelled = [i for i, label in enumerate(labels) if label and pattern.search(label.lower())]
    if labelled:
        areas = [i for i in labelled if channels[i].upper().endswith(("-A", " INT", "-AREA"))]
        return (areas or labelled)[0]
    wanted = [marker.name.lower(), *(a.lower() for a in marker.aliases)]
    lowered = [c.strip().lower() for c in channels]
    for name in wanted:  # aliases in the strategy's order of preference
        if name in lowered:
            return lowered.index(name)
    raise GatingError(
        f"marker {marker.name!r} not found: no $PnS label holds it and no channel is named "
        f"{' / '.join(repr(n) for n in [marker.name, *marker.aliases])} "
        f"(channels: {', '.join(channels)})")
