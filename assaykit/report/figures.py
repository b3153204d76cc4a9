"""The report's figures, drawn onto matplotlib axes from the tables and the figure data (never
from events), so the same drawing serves the HTML (PNG) and the PDF pages.

Every function draws on axes or a (sub)figure it is given; colours come from one
:func:`condition_colours` mapping so a drug has the same colour in every figure of a run. Text
from plate maps is drawn with mathtext off, so a ``$`` in a patient ID is just a character.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

import numpy as np

from .chart import DPI, Raster, draw_text, encode_png, pil_font, vertical_text

CONTROL_COLOUR = "#555555"
STATE_COLOURS = {"immunoparalysis": "#c0392b", "immunosuppressed": "#e67e22", "intermediate": "#d4ac0d",
                 "normal": "#27ae60"}
RC: dict[Any, Any] = {"text.parse_math": False, "font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8,
                      "xtick.labelsize": 7, "ytick.labelsize": 7, "legend.fontsize": 7, "svg.hashsalt": "assaykit",
                      "pdf.compression": 6}


@contextmanager
def style() -> Iterator[None]:
    """Fixed matplotlib settings for every report figure (the caller's rcParams are untouched)."""
    import matplotlib

    with matplotlib.rc_context(RC):
        yield


PALETTE = ("#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc", "#ca9161", "#fbafe4", "#ece133", "#56b4e9")
"""seaborn's "colorblind" palette without its grey (kept here: importing seaborn cost each report
worker about a second, docs/benchmarks.md)."""
def condition_colours(conditions: Sequence[str], control: str) -> dict[str, str]:
    """The control in grey, each drug (sorted by name) a colour of seaborn's colour-blind palette."""
    drugs = sorted({c for c in conditions if c != control})
    return {control: CONTROL_COLOUR, **{d: PALETTE[i % len(PALETTE)] for i, d in enumerate(drugs)}}


def render(draw: Callable[[Any], Sequence[int] | None], width_in: float, height_in: float,
           dpi: float = DPI) -> Raster:
    """Draw a figure of ``width_in`` x ``height_in`` inches with ``draw(figure)`` (which may return
    the pixel rows where it can be cut) and rasterise it once (Agg)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    canvas = _canvas_class()(fig)
    breaks = draw(fig)
    from .._mpl import draw_names_shown

    draw_names_shown(fig)  # names as every output shows them (escaped; a glyph the font lacks as its code point)
    canvas.draw()
    pixels = np.array(np.asarray(canvas.buffer_rgba())[..., :3])  # the face is opaque white
    return Raster(encode_png(pixels), pixels, dpi, tuple(breaks or ()))


_RENDERERS: dict[tuple[int, int, float], Any] = {}
_CANVAS: Any = None


def _canvas_class() -> Any:
    """An Agg canvas that shares one renderer per figure size within the process: matplotlib
    caches text measurements per renderer, so the tick labels, titles and axis labels every
    patient's figures repeat are measured once per worker instead of once per figure."""
    global _CANVAS
    if _CANVAS is None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg

        class Canvas(FigureCanvasAgg):
            def get_renderer(self) -> Any:
                w, h = self.get_width_height(physical=True)
                key = (w, h, self.figure.dpi)
                if key not in _RENDERERS:
                    if len(_RENDERERS) > 16:
                        _RENDERERS.clear()
                    _RENDERERS[key] = RendererAgg(w, h, self.figure.dpi)
                self.renderer = _RENDERERS[key]
                return self.renderer

        _CANVAS = Canvas
    return _CANVAS


def axes_in(fig: Any, left: float, bottom: float, right: float, top: float) -> Any:
    """Axes with margins in inches (left, bottom, right, top) on ``fig``: a fixed layout, no
    layout engine (constrained layout cost 150 ms a figure)."""
    width, height = fig.get_size_inches()
    return fig.add_axes((left / width, bottom / height, 1 - (left + right) / width, 1 - (bottom + top) / height))


def margins_in(fig: Any, left: float, bottom: float, right: float, top: float, between: float = 0.0) -> None:
    """Fixed subplot margins in inches (``between``: the space between columns), instead of a
    layout engine (constrained layout cost a third of the run summary's drawing)."""
    width, height = fig.get_size_inches()
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height,
                        wspace=between / max((width - left - right) / max(len(fig.axes), 1) - between, 0.1))


def abc_text(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:,.0f}"


def _abc_axis(axis: Any) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator

    low, high = sorted(axis.get_view_interval())
    wide = low > 0 and high / low > 2000
    axis.set_major_locator(LogLocator(base=10, subs=(1.0,) if wide else (1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())
    axis.set_minor_locator(NullLocator())  # minor ticks cost a third of a figure's drawing


def _threshold_lines(ax: Any, thresholds: dict[str, float], vertical: bool = False, labels: bool = True) -> None:
    lines = _thresholds(thresholds)
    draw = ax.vlines if vertical else ax.hlines
    draw([v for v, _, _ in lines], 0, 1, colors=[c for _, c, _ in lines], lw=0.8, ls=":", zorder=0,
         transform=ax.get_xaxis_transform() if vertical else ax.get_yaxis_transform())
    for value, colour, words in lines:
        if not vertical and labels:
            ax.text(1.0, value, f" {words} {value:,.0f}", transform=ax.get_yaxis_transform(), color=colour,
                    fontsize=6, va="center", ha="left", clip_on=False)


def _abc_limits(values: list[float], thresholds: dict[str, float]) -> tuple[float, float]:
    finite = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    low = min([*finite, thresholds["immunoparalysis_abc"]]) / 2
    high = max([*finite, thresholds["normal_abc"]]) * 2
    return low, high


RESTORATION_IN = (6.8, 3.0)
"""The restoration plot's (width, height) in inches."""
HISTOGRAMS_IN = (6.8, 2.8)
"""The HLA-DR histograms' (width, height) in inches."""
_DOTTED, _DASHED = (0.8, 1.3), (3.3, 1.45)  # matplotlib's ":" at 0.8 pt and "--" at 0.9 pt, in points


def _threshold_rules(chart: Any, thresholds: dict[str, float], vertical: bool, labels: bool) -> None:
    for value, colour, words in _thresholds(thresholds):
        chart.rule(value, vertical, colour, 0.8, _DOTTED)
        if labels and not vertical:
            chart.text((chart.x.high, value), f" {words} {value:,.0f}", 6, colour, anchor="lm")


def _thresholds(thresholds: dict[str, float]) -> tuple[tuple[float, str, str], ...]:
    return ((thresholds["immunoparalysis_abc"], STATE_COLOURS["immunoparalysis"], "immunoparalysis below"),
            (thresholds["immunosuppressed_abc"], STATE_COLOURS["immunosuppressed"], "immunosuppressed below"),
            (thresholds["normal_abc"], STATE_COLOURS["normal"], "normal from"))


def restoration_raster(rows: list[dict[str, Any]], colours: dict[str, str], control: str,
                       thresholds: dict[str, float], dpi: float = DPI) -> Raster:
    """Per drug: the patient's control AB/C (grey) joined to the drug AB/C (log axis), the fold
    change written above; filled drug markers for responders; state thresholds as dotted lines,
    labelled on the right; a drug without a value says "withheld" or "no AB/C"."""
    from .chart import Axis, Chart, log_ticks

    values = [r["control_abc"] for r in rows] + [r["abc"] for r in rows]
    y = Axis(*_abc_limits(values, thresholds), scale="log")
    chart = Chart(*RESTORATION_IN, (0.75, 0.35, 1.45, 0.3), Axis(-0.7, max(len(rows), 1) - 0.3), y, dpi)
    y_ticks = log_ticks(y)
    chart.grid([v for v, _ in y_ticks], "#ebebeb")
    _threshold_rules(chart, thresholds, vertical=False, labels=True)
    for i, r in enumerate(rows):
        colour = colours.get(r["condition"], "#000000")
        c, d = r["control_abc"], r["abc"]
        if c is not None and d is not None:
            chart.line([i - 0.2, i + 0.2], [c, d], colour, 1.5)
        if c is not None:
            chart.marker(i - 0.2, c, CONTROL_COLOUR, 6)
        if d is not None:
            chart.marker(i + 0.2, d, colour, 7, face=colour if r["responder"] else "#ffffff", edge_pt=1.5)
        if c is not None and d is not None:
            words = f"\u00d7{r['fold_change']:.2f}" if r["fold_change"] is not None else ""
            chart.text((i + 0.2, d), words + (" responder" if r["responder"] else ""), 7, colour, offset_pt=(0, 7))
        if d is None:
            words = "withheld" if r.get("verdict") == "withheld" else "no AB/C"
            chart.text((i + 0.2, thresholds["immunosuppressed_abc"]), words, 7, "crimson")
    chart.frame([(float(i), r["condition"]) for i, r in enumerate(rows)], y_ticks)
    chart.labels(f"{control} (grey) against each drug; filled = responder", "",
                 "monocyte HLA-DR (AB/C, log scale)")
    return chart.raster()


def hladr_curve(hist: dict[str, Any], edges_log10: np.ndarray, calibration: dict[str, float] | None
                ) -> tuple[np.ndarray, np.ndarray]:
    """(edges on the AB/C axis - or MFI without a calibration -, fraction of monocytes per decade)."""
    counts = np.asarray(hist["counts"], dtype=np.float64)
    n = max(int(hist["n"]), 1)
    if calibration is not None:
        log_edges = calibration["slope"] * edges_log10 + calibration["intercept"]
    else:
        log_edges = edges_log10
    return 10.0**log_edges, counts / n / np.diff(log_edges)


def histograms_raster(tubes: list[dict[str, Any]], edges_log10: np.ndarray, calibration: dict[str, float] | None,
                      colours: dict[str, str], thresholds: dict[str, float], dpi: float = DPI) -> Raster:
    """Monocyte HLA-DR of each tube of one patient and time point, overlaid (area 1 per tube,
    a step line each), with each reportable tube's median as a dashed line and the state
    thresholds dotted (with a calibration); a legend names each tube and its monocytes."""
    from .chart import Axis, Chart, linear_ticks, log_ticks

    shown = []
    for tube in tubes:
        if tube.get("hist") is None:
            continue
        x, y = hladr_curve(tube["hist"], edges_log10, calibration)
        shown.append((tube, x, y))
    top = max([float(y.max()) for _, _, y in shown if y.size] + [0.0])
    curves = [(x, np.asarray(t["hist"]["counts"])) for t, x, _ in shown]
    x_axis = Axis(*(_histogram_limits(curves) if curves else (10.0, 1e6)), scale="log")
    y_axis = Axis(0.0, top * 1.05 if top > 0 else 1.0)
    chart = Chart(*HISTOGRAMS_IN, (0.75, 0.45, 0.2, 0.3), x_axis, y_axis, dpi)
    if calibration is not None:
        _threshold_rules(chart, thresholds, vertical=True, labels=False)
    legend = []
    for tube, x, y in shown:
        colour = colours.get(tube["condition"], "#000000")
        chart.line(np.repeat(x, 2)[1:-1], np.repeat(y, 2), colour, 1.4)
        withheld = " withheld" if tube.get("withheld") else ""
        legend.append((colour, f"{tube['condition']} (n = {tube['hist']['n']:,}){withheld}"))
        median = tube["abc"] if calibration is not None else tube["mfi"]
        if median is not None and not withheld:
            chart.rule(median, True, colour, 0.9, _DASHED)
    if shown:
        chart.legend(legend)
    else:
        chart.text((0.5, 0.5), "no histogram: no tube of this patient was gated", 8, anchor="mm", data=False)
    chart.frame(log_ticks(x_axis), linear_ticks(y_axis))
    chart.labels("HLA-DR on monocytes, each condition",
                 "HLA-DR (AB/C, log scale); dotted: " + " / ".join(f"{v:,.0f}" for v, _, _ in _thresholds(thresholds))
                 + "; dashed: medians" if calibration is not None
                 else "HLA-DR (MFI, log scale): no bead calibration, no AB/C", "monocytes (fraction per decade)")
    return chart.raster()


def _histogram_limits(curves: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float]:
    """The x range holding the central 99.6 % of every curve's monocytes, widened by a factor 2."""
    lows, highs = [], []
    for edges, counts in curves:
        cumulative = np.cumsum(counts)
        if cumulative.size and cumulative[-1] > 0:
            share = cumulative / cumulative[-1]
            lows.append(edges[int(np.searchsorted(share, 0.002))])
            highs.append(edges[int(np.searchsorted(share, 0.998)) + 1])
    if not lows:
        return 10.0, 1e6
    return max(min(lows) / 2, 1.0), max(highs) * 2


GATING_CELL_IN = (1.4, 1.25)
"""Each gating thumbnail's cell (width, height) in inches."""
_ROW_LABEL_IN, _HEADING_IN = 0.3, 0.32


def gating_size(tubes: Sequence[tuple[str, Sequence[Any]]]) -> tuple[float, float]:
    """(width, height) in inches of :func:`gating_raster`'s picture of ``tubes``."""
    columns = max([len(p) for _, p in tubes] + [1])
    return _ROW_LABEL_IN + columns * GATING_CELL_IN[0], _HEADING_IN + max(len(tubes), 1) * GATING_CELL_IN[1]


def gating_raster(tubes: Sequence[tuple[str, Sequence[Any]]], dpi: float = DPI) -> Raster:
    """Gating thumbnails, one row per tube (label, panels), one column per gate (headed by the
    gate's axes): each gate on its parent's density (viridis, log scale, empty bins white), the
    gate in crimson. Drawn straight into pixels (numpy for the densities, Pillow for lines and
    text, at twice the resolution and then reduced, so lines and letters are smooth): through
    matplotlib the same grid cost five times as much. Its breaks are the rows between tubes."""
    from PIL import Image, ImageDraw

    scale = 2
    px = dpi * scale  # pixels per inch while drawing
    width_in, height_in = gating_size(tubes)
    size = (round(width_in * dpi) * scale, round(height_in * dpi) * scale)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = pil_font(round(6 / 72 * px))
    cell_w, cell_h = GATING_CELL_IN
    first: dict[int, Any] = {}
    for _, panels in tubes:
        for j, panel in enumerate(panels):
            first.setdefault(j, panel)
    for j, panel in sorted(first.items()):
        draw_text(draw, (px * (_ROW_LABEL_IN + (j + 0.5) * cell_w), px * (_HEADING_IN - 0.04)), _axes_words(panel),
                  (64, 64, 64), font, "md")
    breaks = [0]
    for i, (label, panels) in enumerate(tubes):
        top = _HEADING_IN + i * cell_h
        if i:
            breaks.append(round(top * dpi))
        if not panels:
            draw_text(draw, (px * (_ROW_LABEL_IN + 0.05), px * (top + cell_h / 2)), f"{label}: not gated",
                      (220, 20, 60), pil_font(round(7 / 72 * px)), "lm")
            continue
        vertical_text(image, label, font, px * (_ROW_LABEL_IN - 0.06), px * (top + cell_h / 2))
        for j, panel in enumerate(panels):
            left, upper = px * (_ROW_LABEL_IN + j * cell_w + 0.05), px * (top + 0.17)
            right, lower = px * (_ROW_LABEL_IN + (j + 1) * cell_w - 0.05), px * (top + cell_h - 0.06)
            words = f"{panel.population} {panel.percent_of_parent:.1f} %"
            if _axes_words(panel) != _axes_words(first[j]):
                words += f" ({_axes_words(panel)})"
            draw_text(draw, ((left + right) / 2, upper - 0.03 * px), words, "black", font, "md")
            box = (round(left), round(upper), round(right), round(lower))
            image.paste(_tile(panel, box[2] - box[0], box[3] - box[1], max(1, round(px / 72))), box[:2])
            draw.rectangle(box, outline=(140, 140, 140), width=max(1, round(0.6 / 72 * px)))
    breaks.append(round(height_in * dpi))
    pixels = np.asarray(image.reduce(scale))
    return Raster(encode_png(pixels), pixels, dpi, tuple(breaks))


def _axes_words(panel: Any) -> str:
    x, y = panel.x_label.split(" (")[0], panel.y_label.split(" (")[0]
    return x if np.asarray(panel.counts).ndim == 1 else f"{x} vs {y}"


@cache
def _viridis() -> np.ndarray:
    import matplotlib

    return np.round(matplotlib.colormaps["viridis"](np.arange(256))[:, :3] * 255).astype(np.uint8)


def _tile(panel: Any, width: int, height: int, line: int) -> Any:
    """One gate on its parent as a ``width`` x ``height`` picture (scale values mapped to its
    pixels; lines outside it are cut off)."""
    from PIL import Image, ImageDraw

    counts = np.asarray(panel.counts)
    x0, x1 = float(panel.x_edges[0]), float(panel.x_edges[-1])

    def sx(x: Any) -> Any:
        return (np.asarray(x, dtype=np.float64) - x0) / (x1 - x0) * width

    crimson = (220, 20, 60)
    if counts.ndim == 1:
        tile = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(tile)
        peak = counts.max() if counts.size and counts.max() > 0 else 1
        edges = sx(panel.x_edges)
        for k, value in enumerate(counts):
            if value > 0:
                draw.rectangle((edges[k], height - value / peak * height * 0.95, edges[k + 1], height),
                               fill=(102, 102, 102))
        for bound in panel.bounds:
            draw.line([(float(sx(bound)), 0), (float(sx(bound)), height)], fill=crimson, width=line)
        return tile
    grid = counts.T[::-1]  # rows from the top (highest y) down
    rgb = np.full((*grid.shape, 3), 255, dtype=np.uint8)
    filled = grid > 0
    if filled.any():  # LogNorm from the least to the most filled bin, as imshow's
        logs = np.log(grid[filled].astype(np.float64))
        low, high = logs.min(), logs.max()
        level = (logs - low) / (high - low) if high > low else np.zeros_like(logs)
        rgb[filled] = _viridis()[np.clip((level * 256).astype(np.int64), 0, 255)]
    tile = Image.fromarray(rgb, "RGB").resize((width, height), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(tile)
    y0, y1 = float(panel.y_edges[0]), float(panel.y_edges[-1])
    for outline in panel.outlines:
        xs = sx(outline[:, 0])
        ys = (1 - (outline[:, 1] - y0) / (y1 - y0)) * height
        draw.line([(float(x), float(y)) for x, y in zip(xs, ys, strict=True)], fill=crimson, width=line,
                  joint="curve")
    return tile


# --- run summary --------------------------------------------------------------------------------------


def _well_position(well: str) -> tuple[int, int] | None:
    import re

    match = re.fullmatch(r"([A-Pa-p])0*(\d{1,2})", well.strip())
    if not match:
        return None
    return ord(match.group(1).upper()) - ord("A"), int(match.group(2)) - 1


def draw_plate(fig: Any, samples: list[dict[str, Any]]) -> None:
    """Plate heat map of monocyte HLA-DR AB/C per well (log colour scale); errors crossed in red,
    bead and blank wells named, empty wells white."""
    from matplotlib.colors import LogNorm

    positions = {s["well"]: _well_position(s["well"]) for s in samples}
    big = any(p is not None and (p[0] >= 8 or p[1] >= 12) for p in positions.values())
    n_rows, n_cols = (16, 24) if big else (8, 12)
    grid = np.full((n_rows, n_cols), np.nan)
    ax = axes_in(fig, 0.35, 0.3, 1.35, 0.35)  # fixed margins: constrained layout cost a third of the figure
    for s in samples:
        pos = positions[s["well"]]
        if pos is None:
            continue
        r, c = pos
        if s["hladr_abc"] is not None and s["hladr_abc"] > 0:
            grid[r, c] = s["hladr_abc"]
    finite = grid[np.isfinite(grid)]
    norm = LogNorm(vmin=float(finite.min()), vmax=float(finite.max())) if finite.size and finite.min() < finite.max() \
        else LogNorm(vmin=1000, vmax=50000)
    mesh = ax.pcolormesh(np.arange(n_cols + 1), np.arange(n_rows + 1), np.ma.masked_invalid(grid), cmap="viridis",
                         norm=norm, edgecolors="0.85", linewidth=0.5)
    for s in samples:
        pos = positions[s["well"]]
        if pos is None:
            continue
        r, c = pos
        if s["error"]:
            ax.plot([c + 0.1, c + 0.9], [r + 0.1, r + 0.9], color="crimson", lw=2)
            ax.plot([c + 0.1, c + 0.9], [r + 0.9, r + 0.1], color="crimson", lw=2)
            words = "error"
        elif s["role"] in ("beads", "blank", "isotype"):
            words = s["role"]
        else:
            words = f"{s['hladr_abc'] / 1000:.1f}k" if s["hladr_abc"] is not None else \
                "withheld" if s.get("verdict") == "withheld" else "no AB/C"
        light = np.isfinite(grid[r, c]) and norm(grid[r, c]) < 0.55
        ax.text(c + 0.5, r + 0.38, words, ha="center", va="center", fontsize=5.5,
                color="white" if light else "black")
        ax.text(c + 0.5, r + 0.72, s["condition"][:9], ha="center", va="center", fontsize=4.5,
                color="white" if light else "0.25")
    ax.set_xticks(np.arange(n_cols) + 0.5, [str(i + 1) for i in range(n_cols)])
    ax.set_yticks(np.arange(n_rows) + 0.5, [chr(ord("A") + i) for i in range(n_rows)])
    ax.set_xlim(0, n_cols)
    ax.set_ylim(n_rows, 0)
    ax.set_aspect("equal")
    ax.tick_params(length=0)
    width = fig.get_size_inches()[0]
    bar = fig.colorbar(mesh, cax=fig.add_axes(((width - 1.05) / width, 0.15, 0.12 / width, 0.7)))
    bar.set_label("monocyte HLA-DR (AB/C)")
    _abc_axis(bar.ax.yaxis)
    ax.set_title("AB/C per well (red cross: the file failed; see the QC table)")


def draw_beads(fig: Any, peaks: list[dict[str, Any]], beads: dict[str, Any] | None) -> None:
    """The bead tube: its histogram with the peaks (assigned values), and the log-log fit with
    residuals (from the calibration table)."""
    from ..beads.peaks import to_u

    ax_hist, ax_fit = fig.subplots(1, 2, width_ratios=(1.3, 1))
    margins_in(fig, 0.6, 0.45, 0.1, 0.3, between=0.75)
    first = peaks[0] if peaks else {}
    if beads is not None:
        u, density = np.asarray(beads["u"]), np.asarray(beads["density"])
        ax_hist.fill_between(u, density, color="0.8", lw=0)
        ax_hist.plot(u, density, color="0.3", lw=0.8)
        top = density.max() if density.size else 1.0
        for p in peaks:
            if p["peak_mfi"] is None:
                continue
            x = float(to_u(p["peak_mfi"], beads["c"]))
            colour = "tab:blue" if p["peak_used"] else "0.5"
            ax_hist.axvline(x, color=colour, lw=1, ls="-" if p["peak_used"] else "--")
            ax_hist.text(x, top, abc_text(p["peak_value"]), rotation=90, va="top", ha="right", fontsize=6,
                         color=colour)
        decades = np.arange(0, 7)
        ticks = to_u(10.0**decades, beads["c"])
        keep = (ticks >= u.min()) & (ticks <= u.max()) if u.size else ticks > 0
        ax_hist.set_xticks(ticks[keep], [f"{10**int(k):,}" for k in decades[keep]])
        ax_hist.set_title(f"{beads['n_singlets']:,} singlet beads of {beads['n_events']:,} events; "
                          "blue: peaks used, grey dashed: left out")
    else:
        ax_hist.text(0.5, 0.5, "no bead histogram kept", ha="center", va="center", transform=ax_hist.transAxes)
    ax_hist.set_xlabel(f"{first.get('channel', '')} MFI (asinh axis)")
    ax_hist.set_ylabel("bead events (smoothed)")
    used = [p for p in peaks if p["peak_used"] and p["peak_mfi"] and p["peak_value"]]
    other = [p for p in peaks if not p["peak_used"] and p["peak_mfi"] and p["peak_value"]]
    ax_fit.loglog([p["peak_mfi"] for p in used], [p["peak_value"] for p in used], "o", color="tab:blue", label="used")
    if other:
        ax_fit.loglog([p["peak_mfi"] for p in other], [p["peak_value"] for p in other], "x", color="0.5",
                      label="left out")
    mfis = [p["peak_mfi"] for p in peaks if p["peak_mfi"] and p["peak_mfi"] > 0]
    if mfis and first.get("slope") is not None:
        line = np.geomspace(min(mfis) / 1.5, max(mfis) * 1.5, 50)
        ax_fit.loglog(line, 10 ** (first["slope"] * np.log10(line) + first["intercept"]), color="crimson", lw=1,
                      label=f"log10 value = {first['slope']:.4f} log10 MFI + {first['intercept']:.4f}\n"
                            f"r\u00b2 = {first['r_squared']:.5f}")
    ax_fit.set_xlabel(f"MFI ({first.get('channel', '')})")
    ax_fit.set_ylabel(first.get("unit") or "value")
    _abc_axis(ax_fit.xaxis)
    _abc_axis(ax_fit.yaxis)
    ax_fit.legend(loc="upper left", frameon=False)
    ax_fit.set_title("calibration fit (log-log least squares)")


def draw_cohort(fig: Any, restoration: list[dict[str, Any]], cohort: list[dict[str, Any]], colours: dict[str, str],
                control: str, thresholds: dict[str, float]) -> None:
    """One panel per drug: each patient's control joined to the drug (log AB/C); responders in
    full colour; the drug's median fold change, its CI and Holm p-value in the title."""
    drugs = sorted({r["condition"] for r in restoration})
    if not drugs:
        ax = fig.subplots()
        ax.text(0.5, 0.5, "no drug with a control to compare", ha="center", va="center")
        ax.set_axis_off()
        return
    stats = {c["condition"]: c for c in cohort}
    axes = fig.subplots(1, len(drugs), sharey=True, squeeze=False)[0]
    margins_in(fig, 0.75, 0.3, 0.1, 0.6, between=0.25)
    values = [v for r in restoration for v in (r["control_abc"], r["abc"])]
    for ax, drug in zip(axes, drugs, strict=True):
        ax.set_yscale("log")
        colour = colours.get(drug, "k")
        for r in restoration:
            if r["condition"] != drug or r["control_abc"] is None or r["abc"] is None or r.get("verdict") == "withheld":
                continue
            ax.plot([0, 1], [r["control_abc"], r["abc"]], "-o", color=colour if r["responder"] else "0.6",
                    ms=3.5, lw=1, alpha=0.9)
        _threshold_lines(ax, thresholds, labels=False)
        ax.set_xticks([0, 1], [control, drug])
        ax.set_xlim(-0.3, 1.3)
        s = stats.get(drug)
        if s is not None and s["median_fold_change"] is not None:
            p = f"{s['holm_p']:.3g}" if s["holm_p"] is not None else "-"
            ax.set_title(f"{drug} (n = {s['n_pairs']:.0f})\nmedian fold change {s['median_fold_change']:.2f}\n"
                         f"CI {s['ci_low']:.2f}-{s['ci_high']:.2f}, Holm p {p}", color=colour)
        else:
            ax.set_title(drug, color=colour)
    axes[0].set_ylim(*_abc_limits(values, thresholds))
    _abc_axis(axes[0].yaxis)
    axes[0].set_ylabel("monocyte HLA-DR (AB/C, log scale)")


def trajectory_data(rows: list[dict[str, Any]], control: str) -> dict[str, list[tuple[float, float]]]:
    """Per condition, the (day, AB/C) points of one patient's trajectories rows (runs rejected by
    QC left out), the control first; the figure data of :func:`trajectory_raster`."""
    out: dict[str, list[tuple[float, float]]] = {control: []}
    for r in rows:
        day, abc = r.get("day"), r.get("abc")
        if r.get("qc_status") == "rejected" or day is None or abc is None or not (abc > 0 and math.isfinite(day)):
            continue
        out.setdefault(r["condition"], []).append((float(day), float(abc)))
    return {c: sorted(points) for c, points in out.items() if points}


TRAJECTORY_IN = (6.8, 2.8)
"""The trajectory plot's (width, height) in inches."""


def trajectory_raster(series: dict[str, list[tuple[float, float]]], colours: dict[str, str], control: str,
                      thresholds: dict[str, float], dpi: float = DPI) -> Raster:
    """AB/C against day since admission (log axis): the unstimulated control as a thick line, each
    drug beside it, the state thresholds as dotted lines labelled on the right; a legend."""
    from .chart import Axis, Chart, linear_ticks, log_ticks

    values = [v for points in series.values() for _, v in points]
    days = [d for points in series.values() for d, _ in points]
    first, last = (min(days), max(days)) if days else (0.0, 1.0)
    pad = max((last - first) * 0.05, 0.5)
    y = Axis(*_abc_limits(values, thresholds), scale="log")
    x = Axis(first - pad, last + pad)
    chart = Chart(*TRAJECTORY_IN, (0.75, 0.45, 1.45, 0.15), x, y, dpi)
    _threshold_rules(chart, thresholds, vertical=False, labels=True)
    for condition in sorted(series, key=lambda c: c == control):  # the control drawn last, on top
        colour, main = colours.get(condition, "#444444"), condition == control
        points = series[condition]
        chart.line([d for d, _ in points], [v for _, v in points], colour, 2.2 if main else 1.0)
        for day, abc in points:
            chart.marker(day, abc, colour, 5 if main else 3.5)
    chart.legend([(colours.get(c, "#444444"), c) for c in series], size_pt=6)
    chart.frame(linear_ticks(x), log_ticks(y))
    chart.labels("", "day since admission", "monocyte HLA-DR (AB/C)")
    return chart.raster()
