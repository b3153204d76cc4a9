"""Figures of a gated sample: each gate on its parent's density, and the readout histogram."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .io import atomic_output
from .readout import ReadoutResult
from .strategy import ROOT, GatingResult, Strategy
from .transforms import Transform


def density_plot(ax, x: np.ndarray, y: np.ndarray, bins: int = 200) -> None:
    from matplotlib.colors import LogNorm

    if x.size == 0:
        return
    hist, xe, ye = np.histogram2d(x, y, bins=bins)
    ax.pcolormesh(xe, ye, np.ma.masked_equal(hist.T, 0), norm=LogNorm(), cmap="viridis", rasterized=True)


def _axis_ticks(ax, transform: Transform, axis: str) -> None:
    """Ticks in scale values: round steps on a linear axis, decades on the others."""
    top = transform.top
    if transform.kind == "linear":
        step = 10 ** np.floor(np.log10(top / 5))
        scale_ticks = np.arange(0, top + 1, step * max(1, round(top / 5 / step)))
        labels = [f"{v / 1000:g}k" if v >= 1000 else f"{v:g}" for v in scale_ticks]
    else:
        high = int(np.floor(np.log10(top)))
        low = max(int(np.ceil(np.log10(top) - transform.m)), high - 5) if transform.kind == "log" else high - 3
        scale_ticks = 10.0 ** np.arange(low, high + 1)
        labels = [f"$10^{{{int(k)}}}$" for k in np.arange(low, high + 1)]
        if transform.kind != "log":
            scale_ticks, labels = np.concatenate([[0.0], scale_ticks]), ["0", *labels]
    (ax.set_xticks if axis == "x" else ax.set_yticks)(transform.forward(scale_ticks), labels)


def plot_gating(result: GatingResult, strategy: Strategy, readout: ReadoutResult, out: str | os.PathLike[str],
                title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    populations = list(result.populations)
    fig, axes = plt.subplots(1, len(populations) + 1, figsize=(4.2 * (len(populations) + 1), 4.0))
    frame = result.frame
    root = np.ones(frame.n_events, dtype=bool)
    for ax, population in zip(axes, populations, strict=False):
        gate = result.gates[population.name]
        parent = result.masks.get(population.parent, root) if population.parent != ROOT else root
        dims = list(gate.dims) or []
        kind = gate.to_dict()["type"]
        if len(dims) == 1:
            x = frame.display(dims[0])[parent]
            ax.hist(x, bins=256, color="0.4", histtype="stepfilled")
            for bound in (gate.low, gate.high):
                if bound is not None:
                    ax.axvline(bound, color="crimson", lw=1.5)
            _axis_ticks(ax, frame.transform(dims[0]), "x")
            ax.set_xlabel(f"{dims[0]} ({result.channels[dims[0]]})")
            ax.set_ylabel("events")
        elif len(dims) == 2:
            x, y = frame.display(dims[0])[parent], frame.display(dims[1])[parent]
            density_plot(ax, x, y)
            if kind == "polygon":
                vertices = np.asarray((*gate.vertices, gate.vertices[0]))
                ax.plot(vertices[:, 0], vertices[:, 1], color="crimson", lw=1.5)
            elif kind == "ratio":
                top = float(np.percentile(frame.scale(dims[0])[parent], 99.9)) if parent.any() else 1.0
                xs = np.linspace(0, top, 50)
                for r in (gate.low, gate.high):
                    ax.plot(frame.transform(dims[0]).forward(xs), frame.transform(dims[1]).forward(xs * r),
                            color="crimson", lw=1.5)
            elif kind == "rectangle":
                lo = [v if v is not None else ax.get_xlim()[0] for v in gate.low]
                hi = [v if v is not None else ax.get_xlim()[1] for v in gate.high]
                ax.add_patch(plt.Rectangle(lo, hi[0] - lo[0], hi[1] - lo[1], fill=False, color="crimson", lw=1.5))
            _axis_ticks(ax, frame.transform(dims[0]), "x")
            _axis_ticks(ax, frame.transform(dims[1]), "y")
            ax.set_xlabel(f"{dims[0]} ({result.channels[dims[0]]})")
            ax.set_ylabel(f"{dims[1]} ({result.channels[dims[1]]})")
            if kind == "ratio":
                ax.set_xlim(0, 1.0)
                ax.set_ylim(0, 1.0)
        ax.set_title(f"{population.name}: {population.count:,} ({population.percent_of_parent:.1f} % of "
                     f"{population.parent})", fontsize=9)
    ax = axes[-1]
    marker = readout.marker
    values = frame.display(marker)[result.masks[readout.population]]
    ax.hist(values, bins=128, color="tab:orange", histtype="stepfilled", alpha=0.8)
    if readout.median is not None:
        ax.axvline(frame.transform(marker).forward(readout.median)[0], color="k", lw=1.5,
                   label=f"median {readout.median:,.0f}")
        ax.legend(fontsize=8)
    _axis_ticks(ax, frame.transform(marker), "x")
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
