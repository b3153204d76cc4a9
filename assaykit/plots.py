"""Figures of a gated sample: each gate on its parent's density, and the readout histogram."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .gatingview import axis_ticks, draw_density, draw_panel, gating_panels
from .io import atomic_output
from .readout import ReadoutResult
from .strategy import GatingResult, Strategy


def density_plot(ax, x: np.ndarray, y: np.ndarray, bins: int = 200) -> None:
    """Events as a density over their own range (see :func:`gatingview.draw_density`)."""
    if x.size == 0:
        return
    hist, xe, ye = np.histogram2d(x, y, bins=bins)
    draw_density(ax, hist, xe, ye)


def plot_gating(result: GatingResult, strategy: Strategy, readout: ReadoutResult, out: str | os.PathLike[str],
                title: str = "") -> Path:
    """Write a PNG: each gate on its parent's density, then the readout histogram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = gating_panels(result)
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(4.2 * (len(panels) + 1), 4.0))
    for ax, panel in zip(axes, panels, strict=False):
        draw_panel(ax, panel)
    ax = axes[-1]
    frame = result.frame
    marker = readout.marker
    values = frame.display(marker)[result.masks[readout.population]]
    ax.hist(values, bins=128, color="tab:orange", histtype="stepfilled", alpha=0.8)
    if readout.median is not None:
        ax.axvline(frame.transform(marker).forward(readout.median)[0], color="k", lw=1.5,
                   label=f"median {readout.median:,.0f}")
        ax.legend(fontsize=8)
    ticks = axis_ticks(frame.transform(marker))
    ax.set_xticks([v for v, _ in ticks], [s for _, s in ticks])
    ax.set_xlabel(f"{marker} ({readout.channel}), compensated")
    ax.set_ylabel(f"{readout.population}")
    ax.set_title(f"{marker} on {readout.population} (n = {readout.n_events:,})", fontsize=9)
    return save_png(fig, out, title)


def save_png(fig, out: str | os.PathLike[str], title: str = "") -> Path:
    """Title, lay out and write a figure as PNG (atomically), then close it."""
    import matplotlib.pyplot as plt

    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_output(out) as handle:
        fig.savefig(handle, format="png", dpi=90)
    plt.close(fig)
    return Path(out)
