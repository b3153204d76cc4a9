"""Matplotlib helpers shared by the gating and bead figures: a density drawn as an image, and
one way to save a figure (title, layout, atomic PNG, close)."""

from __future__ import annotations

import os
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


def save_png(fig: Any, out: str | os.PathLike[str], title: str = "") -> Path:
    """Title, lay out and write ``fig`` as a PNG at ``out`` (atomically, 90 dpi), then close it."""
    import matplotlib.pyplot as plt

    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_output(out) as handle:
        fig.savefig(handle, format="png", dpi=90)
    plt.close(fig)
    return Path(out)
