"""Matplotlib helpers shared by the gating and bead figures: a density drawn as an image, one way
to save a figure (title, layout, atomic PNG, close), and names drawn as assaykit shows them."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ._io.atomic import atomic_output


def draw_density(ax: Any, counts: np.ndarray, x_edges: np.ndarray, y_edges: np.ndarray) -> None:
    """Draw event counts on uniform bins as an image on a log colour scale, empty bins blank
    (an image draws fastest, in PNG and PDF alike).

    ``counts`` is (x bins, y bins); ``x_edges`` and ``y_edges`` are the bin edges (axis units).
    """
    from matplotlib.colors import LogNorm

    if counts.any():
        extent = (x_edges[0], x_edges[-1], y_edges[0], y_edges[-1])
        ax.imshow(np.ma.masked_equal(counts.T, 0), origin="lower", extent=extent, aspect="auto", norm=LogNorm(),
                  cmap="viridis", interpolation="nearest")


def density_plot(ax: Any, x: np.ndarray, y: np.ndarray, bins: int = 200) -> None:
    """Draw events (``x``, ``y`` in axis units) as a density over their own range, in ``bins``
    x ``bins`` bins (see :func:`draw_density`)."""
    if x.size == 0:
        return
    hist, xe, ye = np.histogram2d(x, y, bins=bins)
    draw_density(ax, hist, xe, ye)


@cache
def has_glyph(char: str) -> bool:
    """Whether the font matplotlib draws text in (DejaVu Sans, which it ships) has a glyph for ``char``."""
    from matplotlib.font_manager import FontProperties, findfont, get_font

    return bool(get_font(findfont(FontProperties())).get_char_index(ord(char)))


def no_glyph(char: str) -> str:
    """How a character without a glyph is drawn: its code point, ``[U+4E2D]``."""
    return f"[U+{ord(char):04X}]"


def drawn_text(text: str) -> str:
    """``text`` as a figure or PDF draws it: names escaped as everywhere
    (:func:`assaykit._io.names.escape`: a byte that is not UTF-8, a control character, a
    bidirectional override as a backslash escape), then each character the font has no glyph
    for (DejaVu Sans: Latin, Greek, Cyrillic, Hebrew, Arabic, many symbols; no CJK, no emoji)
    as its code point (:func:`no_glyph`), never a box or nothing."""
    from ._io.names import escape

    text = escape(text)
    if text.isascii():
        return text
    return "".join(c if c.isascii() or has_glyph(c) else no_glyph(c) for c in text)


def draw_names_shown(fig: Any) -> None:
    """Every text of ``fig`` (titles, labels, legends, annotations, tick labels given as text)
    set to :func:`drawn_text`."""
    from matplotlib.text import Text
    from matplotlib.ticker import FixedFormatter, FuncFormatter

    def needed(text: str) -> bool:
        return bool(text) and (not text.isascii() or any(c < " " or c in "\\\x7f" for c in text))

    def lines(text: str) -> str:  # a figure's own line breaks kept (a title on two lines)
        return "\n".join(drawn_text(line) for line in text.split("\n"))

    for artist in fig.findobj(Text):
        if needed(text := artist.get_text()):
            artist.set_text(lines(text))
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for formatter in (axis.get_major_formatter(), axis.get_minor_formatter()):
                if isinstance(formatter, FixedFormatter):
                    formatter.seq = [lines(str(t)) for t in formatter.seq]
                elif isinstance(formatter, FuncFormatter):  # labels given with set_ticks(ticks, labels)
                    formatter.func = (lambda f: lambda *a: lines(str(f(*a))))(formatter.func)


def save_png(fig: Any, out: str | os.PathLike[str], title: str = "") -> Path:
    """Title, lay out and write ``fig`` as a PNG at ``out`` (atomically, 90 dpi), then close it."""
    import matplotlib.pyplot as plt

    if title:
        fig.suptitle(title, fontsize=10)
    draw_names_shown(fig)
    fig.tight_layout()
    with atomic_output(out) as handle:
        fig.savefig(handle, format="png", dpi=90)
    plt.close(fig)
    return Path(out)
