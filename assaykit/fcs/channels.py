"""Finding a marker's channel in a file: by ``$PnS`` label, by ``$PnN`` alias, never by position.

Names are compared as tokens: a label is cut into runs of letters and runs of digits (case and
punctuation ignored), and a marker name matches where consecutive tokens spell it. So ``HLA-DR``,
``HLA DR``, ``HLADR`` and ``hla_dr`` are one name, ``CD14`` is found in ``CD14-PC5.5`` and
``CD14PerCP`` but not in ``CD140`` (nor ``CD45`` in its isoforms ``CD45RA``, ``CD45RO``), and
``MHC class II`` spells ``MHCclassII``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import ChannelNotFoundError, GatingError

SYNONYMS: dict[str, tuple[str, ...]] = {
    "HLA-DR": ("HLA-DR", "MHCII", "MHC class II", "MHC-II"),
    "CD14": ("CD14", "Anti-Monocyte"),  # BD QuantiBRITE's reagent: Anti-HLA-DR PE / Anti-Monocyte (CD14) PerCP-Cy5.5
}
"""Names labs write for a marker, besides its own (by the marker's name); compared as tokens."""

SHARED_CHANNEL_NAMES: tuple[str, ...] = ("lineage", "Lin", "dump", "viability", "fixable viability", "Live/Dead",
                                         "Vivid", "Zombie", "7-AAD", "DAPI", "FVS")
"""Words that mark a channel as shared by several stains (a lineage or dump cocktail, a viability
dye): a channel whose label holds one of them and a marker cannot measure that marker alone."""

_SHARED_KIND = {"lineage": "a lineage cocktail", "lin": "a lineage cocktail", "dump": "a dump channel"}
"""What a shared-channel word names in a message (the others: a viability dye)."""


def _named(other: str) -> str:
    """``other`` (:func:`_names_other_marker`) as a message names it: a marker by its name, a
    shared-channel word by what it marks (``Lin``: a lineage cocktail)."""
    if other in SHARED_CHANNEL_NAMES:
        return f"{_SHARED_KIND.get(other.casefold(), 'a viability dye')} ({other})"
    return other


_TOKENS = re.compile(r"[a-z]+|[0-9]+")
_ISOFORMS = frozenset({"r", "ra", "rb", "rc", "ro", "rabc"})
"""Tokens that, right after a marker's name, make it another marker: CD45RA, CD45RO (isoforms
of CD45 on T-cell subsets, CD45R0 as often typed, CD45R: not the pan-leukocyte CD45)."""
_CD_NUMBER = re.compile(r"cd[0-9]+[a-z]?")


def _key(name: str) -> str:
    return "".join(_TOKENS.findall(name.lower()))


_ISOFORM_GLUED = ("ra", "rb", "rc", "ro")
"""An isoform written without a separator before its fluorochrome (``CD45RAFITC``: the tokens
``cd 45 rafitc``): a token starting with one of these, right after the name, is the isoform."""


def _spells(label: str, names: Sequence[str], not_before: frozenset[str] = frozenset()) -> bool:
    """True when consecutive tokens of ``label`` spell one of ``names`` (token comparison) and
    the token after them, if any, is not one of ``not_before`` (with :data:`_ISOFORMS`: nor glued
    to its fluorochrome, :data:`_ISOFORM_GLUED`)."""
    tokens = _TOKENS.findall(label.lower())
    wanted = {_key(n) for n in names if _key(n)}
    glued = _ISOFORM_GLUED if not_before is _ISOFORMS else ()

    def free(j: int) -> bool:
        return j == len(tokens) or not (tokens[j] in not_before or (glued and tokens[j].startswith(glued)))

    return any("".join(tokens[i:j]) in wanted and free(j)
               for i in range(len(tokens)) for j in range(i + 1, len(tokens) + 1))


def _is_area(channel: str) -> bool:
    """True for a pulse-area channel name: ``-A``, ``-Area``, Beckman's ``INT`` (``FL4 INT``,
    ``FL4 INT LOG``), Stratedigm's ``LinA``/``LogA``."""
    tokens = _TOKENS.findall(channel.lower())
    return bool(tokens) and (tokens[-1] in ("a", "area", "lina", "loga") or "int" in tokens[1:])


_PULSE_WORDS = frozenset({"a", "h", "w", "area", "height", "width", "int", "peak", "tof", "integral"})
_AMPLIFIER_OF = {"lina": "lin", "linh": "lin", "loga": "log", "logh": "log"}


def _signal(channel: str) -> tuple[str, ...]:
    """What a channel name says it records, pulse measure aside: its tokens without the pulse
    words (``PE-A`` and ``PE-H`` are one signal, ``FL4 INT LOG`` and ``FL4 PEAK LOG`` one), the
    amplifier kept (``FL2 Lin`` and ``FL2 Log`` are two: the linear and the log copy of one
    detector, on different scales)."""
    tokens = [_AMPLIFIER_OF.get(t, t) for t in _TOKENS.findall(channel.lower())]
    return tuple(t for t in tokens if t not in _PULSE_WORDS) or tuple(tokens)


def _area_first(matched: list[int], channels: Sequence[str], what: str, labels: Sequence[str] = ()) -> int:
    """Of the channel indices ``matched``, all recording one signal (:func:`_signal`: the area,
    height and width of one detector), the first area channel (:func:`_is_area`), else the first.
    Channels recording different signals -- two detectors labelled alike, or the Lin and Log
    copies of one detector -- are refused (GatingError naming each with its label from ``labels``:
    ``what`` says what they name); file order never decides."""
    signals = {_signal(channels[i]) for i in matched}
    if len(signals) > 1:
        listed = ", ".join(repr(channels[i]) + (f" ({labels[i]!r})" if i < len(labels) and labels[i] else "")
                           for i in matched)
        lin_log = len({s[:-1] for s in signals if s and s[-1] in ("lin", "log")} | {
            s for s in signals if not s or s[-1] not in ("lin", "log")}) == 1
        kind = ("the linear and the log copies of one detector, on different scales" if lin_log
                else "different detectors")
        raise GatingError(f"{what}: {len(matched)} channels name it, {listed}: {kind}; which one measures it is "
                          "never decided by file order: label it on one channel only")
    areas = [i for i in matched if _is_area(channels[i])]
    return (areas or matched)[0]


_TANDEM_PARTNERS = frozenset({"cy", "cyanine", "tx", "tr", "texas", "dazzle", "cf", "vio", "efluor", "alexa", "fire",
                              "spark", "atto"})
"""Tokens that make a fluorochrome the donor of a tandem dye (PE-Cy7, PE-Cyanine7, PE-Texas Red,
PE-TR, PE-Dazzle 594, PE-CF594, PE-Vio770, PE-eFluor 610, PE-Alexa Fluor 610, PE-Fire 640,
PE-Atto 594): another fluorochrome."""

FLUOROCHROME_NAMES: dict[str, tuple[str, ...]] = {
    "PE": ("PE", "RD1"),
    "PE-Cy5": ("PE-Cy5", "PC5", "Cy-Chrome"),
    "PE-Cy5.5": ("PE-Cy5.5", "PC5.5"),
    "PE-Cy7": ("PE-Cy7", "PC7", "PE-Cyanine7"),
    "PE-Texas Red": ("PE-Texas Red", "ECD", "PE-TR", "PE-Tx-Red"),
}
"""Names of one fluorochrome (compared as tokens): Beckman Coulter writes its PE tandems PC5
(PE-Cy5), PC5.5 (PE-Cy5.5), PC7 (PE-Cy7) and ECD (PE-Texas Red), and PE as RD1 on older
instruments; Cy-Chrome is BD's old PE-Cy5."""

def fluorochrome_names(name: str) -> tuple[str, ...]:
    """Every name of the fluorochrome ``name`` (:data:`FLUOROCHROME_NAMES`, ``name`` first);
    ``(name,)`` for a fluorochrome with no other name.

    Parameters
    ----------
    name : str
        A fluorochrome as a bead lot or a strategy writes it (``PE``, ``PC7``, ``PE-Cy7`` ...).
    """
    for names in FLUOROCHROME_NAMES.values():
        if _key(name) in {_key(n) for n in names}:
            return tuple(dict.fromkeys((name, *names)))
    return (name,)


_DETECTORS = frozenset({"fs", "fsc", "ss", "ssc", "fl"})
"""Tokens that name a detector in a channel name: forward and side scatter, FL1 ... FL10."""

_AMPLIFIER_WORDS = frozenset({"lin", "log", "int", "peak", "tof", "area", "height", "width", "a", "h", "w",
                              "linh", "lina", "logh", "loga", "integral"})
"""Tokens that name a channel's amplifier (``Lin``, ``Log``) or pulse measure (``INT``, ``PEAK``,
``TOF``, ``-A``/``-H``/``-W``, ``Height`` ...; Stratedigm's ``LinH``, ``LogA``)."""


def _detector(tokens: Sequence[str]) -> tuple[str, ...]:
    """The detector a channel name's tokens start with (``fs``/``ss`` for every scatter
    spelling, ``fl`` with its number), or () when it names none."""
    if not tokens or tokens[0] not in _DETECTORS:
        return ()
    head = {"fsc": "fs", "ssc": "ss"}.get(tokens[0], tokens[0])
    if head == "fl" and len(tokens) > 1 and tokens[1].isdigit():
        return head, tokens[1]
    return (head,)


def _without_channel(label: str, channel: str) -> list[str]:
    """The tokens of ``label`` once every restatement of its ``channel`` is taken out: the whole
    channel name, or the channel's detector followed by amplifier or pulse words (``FS Lin``,
    ``FL4 INT LOG``, ``FSC-Height``); what is left is what the label says beyond its channel."""
    tokens = _TOKENS.findall(label.lower())
    if not label or _key(label) == _key(channel):
        return []
    own = _detector(_TOKENS.findall(channel.lower()))
    kept: list[str] = []
    i = 0
    while i < len(tokens):
        detector = _detector(tokens[i:])
        if own and detector == own:
            j, spelled = i + len(detector), set(tokens[i:i + len(detector)])
            # then amplifier and pulse words, or the detector again (MoFlo: 'FL1-Log_Height FL-Log_Height')
            while j < len(tokens) and (tokens[j] in _AMPLIFIER_WORDS or tokens[j] in spelled):
                j += 1
            i = j
            continue
        kept.append(tokens[i])
        i += 1
    return kept


def restates_channel(label: str, channel: str) -> bool:
    """True when the ``$PnS`` ``label`` only restates its ``channel`` (``$PnN``) or the channel's
    amplifier: the same name (``FSC-H`` on ``FSC-H``, ``FSC.H`` on ``FSC-H``), or the channel's
    detector followed by amplifier or pulse words only (``FSC-Height`` on ``FSC-H``, ``FS Lin`` on
    ``FS``, ``SS Log``, ``FL3 INT LOG``, ``FL1-Lin`` on ``FL1``). Such a label names no marker, so it
    never blocks an alias; a bare ``Lin`` (no detector) is a lineage cocktail, not an amplifier.

    Parameters
    ----------
    label : str
        The channel's ``$PnS`` label.
    channel : str
        The channel's ``$PnN`` name.
    """
    return bool(label) and not _without_channel(label, channel)


_SCATTER = ("FSC", "SSC", "FS ", "SS ", "FS-", "SS-", "FS_", "SS_", "FS.", "SS.")


def companion_labels(first: Mapping[str, str], copy: Mapping[str, str]) -> dict[int, str]:
    """Labels for the channels of ``copy`` (TEXT keywords of an FCS 3.x dataset) taken from
    ``first`` (those of the FCS 2.0 dataset of the same events, as a Beckman Coulter LMD file
    holds them): the 2.0 dataset labels its channels (``$P3S = CD3-FITC`` on ``FL1 Log``), the
    3.x copy names detectors only (``FL1``, no ``$PnS``). A channel of ``copy`` without a label of
    its own takes the one label the channels of its detector carry in ``first`` beyond restating
    themselves (:func:`restates_channel`; ``FL1 Log`` labelled ``CD3-FITC``, ``FL1 Lin`` not
    labelled: ``CD3-FITC``); none when they carry two. Returns ``{n: label}`` for the ``$PnS``
    keywords to set.

    Parameters
    ----------
    first : mapping
        The FCS 2.0 dataset's keywords.
    copy : mapping
        The FCS 3.x copy's keywords.
    """
    def channels(keywords: Mapping[str, str]) -> list[tuple[int, str, str]]:
        try:
            count = min(int(keywords.get("$PAR", "0").strip() or 0), 10_000)
        except ValueError:
            return []
        return [(i, keywords.get(f"$P{i}N", ""), keywords.get(f"$P{i}S", "").strip()) for i in range(1, count + 1)]

    labels: dict[tuple[str, ...], set[str]] = {}
    for _, name, label in channels(first):
        detector = _detector(_TOKENS.findall(name.lower()))
        if detector and label and not restates_channel(label, name):
            labels.setdefault(detector, set()).add(label)
    carried = {}
    for i, name, label in channels(copy):
        found = labels.get(_detector(_TOKENS.findall(name.lower())), set())
        if not label and len(found) == 1:  # two different labels on one detector: none is carried
            carried[i] = next(iter(found))
    return carried


def is_scatter(channel: str) -> bool:
    """True for a scatter channel name (``$PnN``): FSC-A, SSC-H, FS INT, SS PEAK, FS Lin, R's FSC.H ..."""
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


CONTROL_NAMES: tuple[str, ...] = ("isotype", "iso", "IgG", "IgM", "IgA", "IgE", "FMO", "unstained", "control", "ctrl")
"""Words that mark a channel's label as a control's (an isotype, a fluorescence-minus-one or an
unstained tube): such a channel measures no marker, and a label naming one blocks every alias."""

_COMBINED_CD = re.compile(r"(?<![a-z0-9])cd[\s_-]*\d+[a-z]?((?:\s*[+/&,]\s*(?:cd[\s_-]*)?\d+[a-z]?(?![a-z]))+)")
_COMBINED_HLA = re.compile(r"hla[\s_-]*d[rqp](?:\s*[+/&,]\s*|[\s_-]+)(?:hla[\s_-]*)?(d[rqp])(?![a-z])")

FLUOROCHROME_WORDS: frozenset[str] = frozenset({
    "pe", "rpe", "fitc", "apc", "percp", "cy", "cyanine", "pc", "ecd", "rd", "bv", "buv", "bb", "bup", "v", "af",
    "alexa", "fluor", "efluor", "ef", "pacific", "blue", "orange", "green", "red", "violet", "krome", "ko", "kro",
    "amcyan", "qdot", "nir", "sb", "super", "bright", "horizon", "brilliant", "vio", "vioblue", "viogreen",
    "viobright", "dazzle", "spark", "fire", "atto", "cf", "texas", "tx", "tr", "h", "pb", "po", "dylight", "gfp",
    "pacblue", "pecy", "apccy", "percpcy"})
"""Letter tokens of fluorochrome names (``PE``, ``PerCP-Cy5.5``, ``APC-H7``, ``BV421``,
``Alexa Fluor 488``, Beckman's ``PC7``, ``ECD``, ``RD1``, ``Krome Orange`` ...)."""

_DESCRIPTIVE_WORDS = frozenset({"nm", "lp", "bp", "sp", "laser", "filter", "anti", "human", "hu", "comp", "mab",
                                "forward", "side", "scatter", "light"})
"""Letter tokens that describe a detector or a reagent without naming what it binds (``488nm``,
``740LP``, ``Anti-``, ``Comp-``, ``Forward Scatter``)."""

_FLUOROCHROME_KEYS = frozenset(
    [_key(n) for names in FLUOROCHROME_NAMES.values() for n in names]
    + [_key(n) for n in ("FITC", "APC", "PerCP", "PerCP-Cy5.5", "APC-Cy7", "APC-H7", "APC-Alexa Fluor 750",
                         "APC-A750", "APC-A700", "Pacific Blue", "Pacific Orange", "Krome Orange", "AmCyan",
                         "Alexa Fluor", "Cy5", "Cy5.5", "Cy7")])


def _amplifier_after_fluorochrome(tokens: Sequence[str]) -> list[str]:
    """``tokens`` without a ``Lin``/``Log`` that follows a fluorochrome's name (``CD14
    PerCP-Cy5.5 Lin``, ``HLA-DR PE Log``): on a Beckman Coulter cytometer that word names the
    amplifier the channel was recorded through, not a lineage cocktail (issue 29)."""
    kept = []
    for i, token in enumerate(tokens):
        if token in ("lin", "log") and any("".join(tokens[k:i]) in _FLUOROCHROME_KEYS for k in range(i)):
            continue
        kept.append(token)
    return kept


def _names_other_marker(label: str, marker: Marker, others: Sequence[Marker], channel: str = "") -> str | None:
    """What ``label`` names besides ``marker``: one of ``others``, a built-in synonym or a CD
    number (one written in a combination too: ``CD16+56``, ``CD14/16``, ``HLA-DR/DQ``), a shared
    stain (:data:`SHARED_CHANNEL_NAMES`) or a control (:data:`CONTROL_NAMES`); None when it names
    none (empty, a fluorochrome, a label that only restates its ``channel`` or the channel's
    amplifier: :func:`restates_channel`; a ``Lin``/``Log`` after a fluorochrome is its amplifier)."""
    words = " ".join(_amplifier_after_fluorochrome(_without_channel(label, channel)))
    own = _key(marker.name)
    lower = label.lower()

    def quoted(match: re.Match[str]) -> str:
        text = label[match.start():match.end()] if len(lower) == len(label) else match.group(0)
        return repr(text.strip())

    for combined in _COMBINED_CD.finditer(lower):
        numbers = ["cd" + n for n in re.findall(r"\d+[a-z]?", combined.group(0))]
        extra = [n.upper() for n in numbers if n != own]
        if extra:
            return f"{', '.join(extra)} (a combination: {quoted(combined)})"
    combined_hla = _COMBINED_HLA.search(lower)
    if combined_hla and own == _key("HLA-DR") and combined_hla.group(1) != "dr":
        return f"HLA-{combined_hla.group(1).upper()} (a combination: {quoted(combined_hla)})"
    for other in [*others, *(Marker(k) for k in SYNONYMS)]:
        if _key(other.name) != own and _spells(words, other.names):
            return other.name
    tokens = words.split()
    cd_numbers = ["".join(tokens[i:i + 2]) for i in range(len(tokens) - 1) if tokens[i] == "cd"]
    for i in range(len(tokens) - 2):  # an isoform of a CD number (CD45RA, CD45RO, CD45RAFITC)
        after = tokens[i + 2]
        isoform = after if after in _ISOFORMS else next((g for g in _ISOFORM_GLUED if after.startswith(g)), "")
        if tokens[i] == "cd" and tokens[i + 1].isdigit() and isoform:
            return f"CD{tokens[i + 1]}{isoform.upper()} (an isoform, another marker)"
    found = [t for t in cd_numbers if _CD_NUMBER.fullmatch(t) and t != own]
    if found:
        return found[0].upper()
    control = next((name for name in CONTROL_NAMES if _spells(words, [name])), None)
    if control is not None:
        return f"a control ({control!r}: an isotype, FMO or unstained tube's label)"
    return next((name for name in SHARED_CHANNEL_NAMES if _spells(words, [name])), None)


def _unknown_words(label: str, marker: Marker, channel: str) -> list[str]:
    """The words of ``label`` that name nothing assaykit knows (not the ``channel``'s
    restatement, a fluorochrome, ``marker``'s own names, a detector description): a clone
    (``Leu-11``, ``L243``), another reagent, letters that only look like Latin ones (``СD16``
    with a Cyrillic С). Such a label may name another marker: it blocks an alias."""
    if any(ord(c) > 127 and c.isalpha() for c in label):
        return [w for w in label.split() if any(ord(c) > 127 and c.isalpha() for c in w)][:1] or [label]
    tokens = _amplifier_after_fluorochrome(_without_channel(label, channel))
    mine = {_key(n) for n in marker.names}
    for i in range(len(tokens)):  # the marker's own names taken out (HLA-DR on its PE-A alias)
        for j in range(len(tokens), i, -1):
            if "".join(tokens[i:j]) in mine:
                tokens[i:j] = [""] * (j - i)
    return [t for t in tokens if t and t.isalpha() and t not in FLUOROCHROME_WORDS and t not in _DESCRIPTIVE_WORDS
            and t not in _AMPLIFIER_WORDS]


def channel_index(name: str, channels: Sequence[str]) -> int | None:
    """Index of the channel called ``name`` among ``channels`` (``$PnN``): the one spelled
    exactly, else the first cut into the same tokens (``PE-A``, ``pe-a``, R's ``PE.A``; ``FS INT``
    and ``FS-INT``; ``PerCP-Cy5.5-A`` and ``PerCP-Cy5-5-A``; not ``FSCA``, a name of its own);
    None when none is.

    Parameters
    ----------
    name : str
        A channel name as a strategy, a spillover matrix or a compensation file writes it.
    channels : sequence of str
        The file's ``$PnN`` names.
    """
    if name in channels:
        return list(channels).index(name)
    wanted = _TOKENS.findall(name.lower())  # the same tokens in the same runs: FSCA is not FSC-A
    return next((i for i, channel in enumerate(channels) if wanted and _TOKENS.findall(channel.lower()) == wanted),
                None)


def find_fluorochrome_channel(fluorochrome: Marker, channels: Sequence[str], labels: Sequence[str]) -> int:
    """Index of a fluorochrome's channel (a bead lot's ``PE``, ``FITC`` ...) among ``channels``
    (``$PnN``) with their ``labels`` (``$PnS``): a ``$PnN`` equal to its name or an alias, in
    order, whatever the label says (a bead tube acquired with the blood panel's labels has
    ``HLA-DR`` on ``PE-A``); else a label naming the fluorochrome by any of its names
    (:func:`fluorochrome_names`: ``PC7`` is PE-Cy7) but not as the donor of a tandem dye
    (``HLA-DR PE``, not ``CD14 PE-Cy7``) nor as the start of a longer name (``PE-Cy5`` is not
    ``PE-Cy5.5``, ``PC5`` not ``PC5.5``). GatingError when neither is found."""
    for alias in (fluorochrome.name, *fluorochrome.aliases):
        index = channel_index(alias, channels)
        if index is not None:
            return index
    names = fluorochrome_names(fluorochrome.name)
    digits = frozenset(str(d) for d in range(10))
    matched = [i for i, label in enumerate(labels)
               if label and any(_spells(label, [name], not_before=_TANDEM_PARTNERS | (digits if name[-1:].isdigit()
                                                                                         else frozenset()))
                                for name in names)]
    if matched:
        return _area_first(matched, channels, f"bead fluorochrome {fluorochrome.name}", labels)
    raise GatingError(
        f"{fluorochrome.name} channel not found: no channel is named "
        f"{' / '.join(repr(n) for n in [fluorochrome.name, *fluorochrome.aliases])} and no $PnS label names "
        f"{fluorochrome.name} (channels: {', '.join(channels)})")


def find_channel(marker: Marker, channels: Sequence[str], labels: Sequence[str],
                 others: Sequence[Marker] = ()) -> int:
    """Index of ``marker``'s channel among ``channels`` (``$PnN``) with their ``labels``
    (``$PnS``, "" when absent); see :func:`_find_channel` (answers kept per panel: the tubes of
    a run share one).

    Parameters
    ----------
    marker : Marker
        The marker to find.
    channels : sequence of str
        The file's ``$PnN`` names.
    labels : sequence of str
        The file's ``$PnS`` labels, "" where absent.
    others : sequence of Marker
        The strategy's other markers (a label naming one of them is not this marker's).
    """
    return _find_channel(marker, tuple(channels), tuple(labels), tuple(others))


@functools.lru_cache(maxsize=256)
def _find_channel(marker: Marker, channels: tuple[str, ...], labels: tuple[str, ...],
                  others: tuple[Marker, ...]) -> int:
    """Index of ``marker``'s channel among ``channels`` (``$PnN``) with their ``labels``
    (``$PnS``, "" when absent).

    Order: a ``$PnS`` label spelling one of the marker's :attr:`Marker.names` (an area channel
    wins among several); then a ``$PnN`` spelling one of its synonyms; then a ``$PnN`` equal to its
    name or an alias (compared as tokens, so ``FSC.H`` is ``FSC-H``; in the strategy's order). A
    label that only restates its channel or amplifier names no marker (:func:`restates_channel`).
    A label or name that also names
    another marker (one of ``others``, a built-in synonym, a CD number) or a shared stain (a
    lineage cocktail, a viability dye: :data:`SHARED_CHANNEL_NAMES`) is passed over: such a
    channel cannot measure the marker alone, and when it is the only one naming the marker,
    GatingError says so. An alias whose channel is labelled with another marker is refused:
    GatingError naming both. Raises GatingError when nothing matches."""
    names = marker.names
    # $PnN is searched for the synonyms only: a fluorochrome marker ('PE', for beads) must not
    # match 'PE-Cy7-A' or 'PE-Tx-Red-YG-A'
    for texts, spelled in ((labels, names), (channels, marker.names[1:])):
        matched = [i for i, text in enumerate(texts) if text and _spells(text, spelled, not_before=_ISOFORMS)]
        shared = {i: _names_other_marker(texts[i], marker, others, channels[i] if texts is labels else "")
                  for i in matched}
        alone = [i for i in matched if shared[i] is None]
        if alone:
            return _area_first(alone, channels, f"marker {marker.name!r}", texts if texts is labels else ())
        if matched:
            first = matched[0]
            raise GatingError(
                f"marker {marker.name!r}: the only channel naming it, {channels[first]!r} ({texts[first]!r}), also "
                f"holds {shared[first]}: a channel shared with other stains cannot measure {marker.name} alone")
    for alias in (marker.name, *marker.aliases):  # the strategy's order of preference
        index = channel_index(alias, channels)
        if index is not None:
            label = labels[index] if index < len(labels) else ""
            other = _names_other_marker(label, marker, others, channels[index]) if label else None
            if other is not None:
                raise GatingError(
                    f"marker {marker.name!r}: its alias {channels[index]!r} is labelled {label!r}, which names "
                    f"{_named(other)}; label the {marker.name} channel or map it by name in the strategy")
            unknown = _unknown_words(label, marker, channels[index]) if label else []
            if unknown:
                raise GatingError(
                    f"marker {marker.name!r}: its alias {channels[index]!r} is labelled {label!r}, whose "
                    f"{unknown[0]!r} is neither {marker.name} nor a fluorochrome (a clone, another marker, a "
                    f"look-alike letter?); label the {marker.name} channel or map it by name in the strategy")
            return index
    raise ChannelNotFoundError(
        f"marker {marker.name!r} not found: no $PnS label names it ({' / '.join(names)}) and no channel is named "
        f"{' / '.join(repr(n) for n in [marker.name, *marker.aliases])} "
        f"(channels: {', '.join(channels)})")
