"""Figures of a gated sample: each gate on its parent's density (a :class:`~.panels.Panel`), and
the readout histogram."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .._mpl import draw_density, save_png
from .apply import GatingResult
from .panels import Panel, axis_label, axis_ticks, gating_panels
from .readout import ReadoutResult
from .strategy import Strategy


def plot_gating(result: GatingResult, strategy: Strategy, readout: ReadoutResult, out: str | os.PathLike[str],
                title: str = "") -> Path:
    """Write a PNG at ``out`` (titled ``title``): each gate of the gated sample ``result`` on its
    parent's density, then the histogram of ``strategy``'s readout (``readout``)."""
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
    ax.set_xlabel(axis_label(result, marker))
    ax.set_ylabel(f"{readout.population}")
    ax.set_title(f"{marker} on {readout.population} (n = {readout.n_events:,})", fontsize=9)
    return save_png(fig, out, title)


def draw_panel(ax: Any, panel: Panel, thumbnail: bool = False) -> None:
    """Draw ``panel`` on ``ax``: density (log colour scale) or histogram, gate in crimson, ticks in
    scale values; a ``thumbnail`` has no ticks and small labels."""
    width = 1.0 if thumbnail else 1.5
    if panel.counts.ndim == 1:
        ax.stairs(panel.counts, panel.x_edges, color="0.4", fill=True)
        for bound in panel.bounds:
            ax.axvline(bound, color="crimson", lw=width)
    else:
        draw_density(ax, panel.counts, panel.x_edges, panel.y_edges)
        for outline in panel.outlines:
            ax.plot(outline[:, 0], outline[:, 1], color="crimson", lw=width)
        ax.set_xlim(panel.x_edges[0], panel.x_edges[-1])
        ax.set_ylim(panel.y_edges[0], panel.y_edges[-1])
    if thumbnail:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(panel.x_label.split(" (")[0], fontsize=6, labelpad=1)
        ax.set_ylabel(panel.y_label.split(" (")[0], fontsize=6, labelpad=1)
        ax.set_title(f"{panel.population} {panel.percent_of_parent:.1f} %", fontsize=6, pad=2)
        return
    if panel.x_ticks:
        ax.set_xticks([v for v, _ in panel.x_ticks], [s for _, s in panel.x_ticks])
    if panel.y_ticks:
        ax.set_yticks([v for v, _ in panel.y_ticks], [s for _, s in panel.y_ticks])
    ax.set_xlabel(panel.x_label)
    ax.set_ylabel(panel.y_label)
    ax.set_title(panel.title, fontsize=9)
