"""Figure of a bead calibration: the singlet-bead gate, the bead histogram with its peaks, and the
fit with its residuals."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._mpl import density_plot, save_png
from .pipeline import BeadRun


def _decade_ticks(ax, run: BeadRun, low_u: float, high_u: float) -> None:
    decades = np.arange(int(np.floor(max(low_u, 0))), int(np.ceil(high_u)) + 1)
    ticks = [float(run.search.to_u(10.0**k)) for k in decades]
    ax.set_xticks(ticks, [f"$10^{{{k}}}$" for k in decades])
    ax.set_xlim(low_u, high_u)


def plot_calibration(run: BeadRun, out: str | os.PathLike[str], title: str = "") -> Path:
    """Write a PNG: scatter gate, bead-channel histogram with detected peaks, fit and residuals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cal = run.calibration
    fig = plt.figure(figsize=(14, 4.2))
    grid = fig.add_gridspec(3, 3, width_ratios=(1, 1.4, 1.1))
    ax_gate = fig.add_subplot(grid[:, 0])
    ax_hist = fig.add_subplot(grid[:, 1])
    ax_fit = fig.add_subplot(grid[:2, 2])
    ax_res = fig.add_subplot(grid[2, 2], sharex=ax_fit)

    if run.scatter is not None:
        events = run.sample.events
        fsc = events[:, run.scatter[0]].astype(np.float64)
        ssc = events[:, run.scatter[1]].astype(np.float64)
        ok = (fsc > 0) & (ssc > 0)
        density_plot(ax_gate, np.log10(fsc[ok]), np.log10(ssc[ok]), bins=150)
        if run.gate is not None:
            ellipse = run.gate.outline()
            ax_gate.plot(ellipse[:, 0], ellipse[:, 1], color="crimson", lw=1.5)
        ax_gate.set_xlabel(f"log10 {run.sample.channels[run.scatter[0]]}")
        ax_gate.set_ylabel(f"log10 {run.sample.channels[run.scatter[1]]}")
        ax_gate.set_title(f"singlet beads: {cal.n_singlets:,} of {cal.n_events:,} events", fontsize=9)
    else:
        ax_gate.text(0.5, 0.5, "no scatter channels:\nall events used", ha="center", va="center")
        ax_gate.set_axis_off()

    search = run.search
    if search.grid.size:
        ax_hist.fill_between(search.grid, search.density, color="0.75", lw=0)
        ax_hist.plot(search.grid, search.density, color="0.3", lw=0.8)
        for peak, fitted in zip(search.peaks, cal.peaks, strict=True):
            u = float(search.to_u(peak.mfi))
            colour = "tab:blue" if fitted.used else "0.5"
            ax_hist.axvline(u, color=colour, lw=1.2, ls="-" if fitted.used else "--")
            label = f"{fitted.value:,.0f}" if fitted.value is not None else "-"
            ax_hist.text(u, ax_hist.get_ylim()[1] * 0.97, label, rotation=90, va="top", ha="right", fontsize=7,
                         color=colour)
        _decade_ticks(ax_hist, run, float(search.grid[0]), float(search.grid[-1]))
    ax_hist.set_xlabel(f"{cal.channel} (singlet beads, scale units)")
    ax_hist.set_ylabel("events (smoothed)")
    ax_hist.set_title("peaks: blue used, grey dashed not used; labels = assigned value", fontsize=9)

    used = [p for p in cal.peaks if p.used]
    other = [p for p in cal.peaks if not p.used and p.value and p.mfi > 0]
    ax_fit.loglog([p.mfi for p in used], [p.value for p in used], "o", color="tab:blue", label="used")
    if other:
        ax_fit.loglog([p.mfi for p in other], [p.value for p in other], "x", color="0.5", label="not used")
    mfis = [p.mfi for p in cal.peaks if p.mfi > 0]
    line = np.geomspace(min(mfis) / 1.5, max(mfis) * 1.5, 50)
    ax_fit.loglog(line, cal.convert(line), color="crimson", lw=1,
                  label=f"slope {cal.slope:.3f}, intercept {cal.intercept:.3f}, r$^2$ {cal.r_squared:.4f}")
    ax_fit.set_ylabel(cal.unit or "value")
    ax_fit.legend(fontsize=7)
    ax_fit.set_title(cal.lot_label or "calibration", fontsize=9)
    ax_res.axhline(0, color="crimson", lw=1)
    for group, marker, colour in ((used, "o", "tab:blue"), (other, "x", "0.5")):
        with_res = [p for p in group if p.residual is not None]
        ax_res.semilogx([p.mfi for p in with_res], [100 * (10 ** (p.residual or 0.0) - 1) for p in with_res], marker,
                        color=colour)
    ax_res.set_xlabel(f"MFI ({cal.channel})")
    ax_res.set_ylabel("residual %")
    plt.setp(ax_fit.get_xticklabels(), visible=False)
    return save_png(fig, out, title)
