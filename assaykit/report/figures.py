"""The report's figures, drawn onto matplotlib axes from the tables and the figure data (never
from events), so the same drawing serves the HTML (PNG) and the PDF pages.

Every function draws on axes or a (sub)figure it is given; colours come from one
:func:`condition_colours` mapping so a drug has the same colour in every figure of a run. Text
from plate maps is drawn with mathtext off, so a ``$`` in a patient ID is just a character.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

import numpy as np

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
DPI = 110
"""Resolution of every report figure: the PNG of the HTML page and the image of the PDF page."""
PNG_LEVEL = 3
"""zlib level of the PNGs (6, the default, took twice the time for files about 5 % smaller)."""


def condition_colours(conditions: Sequence[str], control: str) -> dict[str, str]:
    """The control in grey, each drug (sorted by name) a colour of seaborn's colour-blind palette."""
    drugs = sorted({c for c in conditions if c != control})
    return {control: CONTROL_COLOUR, **{d: PALETTE[i % len(PALETTE)] for i, d in enumerate(drugs)}}


Layout = Literal["constrained", "compressed", "tight"] | None
"""A figure's layout engine (matplotlib's names; None: none)."""


@dataclass(frozen=True)
class Raster:
    """A figure drawn once: its PNG (the HTML page's image) and its pixels (the PDF page's
    image), at ``dpi``; ``breaks`` are the pixel rows where the PDF may cut it across pages."""

    png: bytes
    pixels: np.ndarray = field(repr=False)  # rows x columns x 3, uint8
    dpi: float = DPI
    breaks: tuple[int, ...] = ()

    @property
    def uri(self) -> str:
        """The PNG as an embeddable ``data:image/png;base64,...`` URI."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    @property
    def size_in(self) -> tuple[float, float]:
        """(width, height) in inches."""
        return self.pixels.shape[1] / self.dpi, self.pixels.shape[0] / self.dpi


def encode_png(pixels: np.ndarray) -> bytes:
    """RGB pixels as PNG bytes (no metadata: the same pixels give the same bytes)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG", compress_level=PNG_LEVEL)
    return buffer.getvalue()


def render(draw: Callable[[Any], Sequence[int] | None], width_in: float, height_in: float,
           layout: Layout = None, dpi: float = DPI) -> Raster:
    """Draw a figure of ``width_in`` x ``height_in`` inches with ``draw(figure)`` (which may return
    the pixel rows where it can be cut) and rasterise it once (Agg)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=dpi, layout=layout)
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
    lines = ((thresholds["immunoparalysis_abc"], STATE_COLOURS["immunoparalysis"], "immunoparalysis below"),
             (thresholds["immunosuppressed_abc"], STATE_COLOURS["immunosuppressed"], "immunosuppressed below"),
             (thresholds["normal_abc"], STATE_COLOURS["normal"], "normal from"))
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


def draw_restoration(ax: Any, rows: list[dict[str, Any]], colours: dict[str, str], control: str,
                     thresholds: dict[str, float]) -> None:
    """Per drug: the patient's control AB/C joined to the drug AB/C (log axis), fold change
    written above; filled drug markers for responders; state thresholds as dotted lines."""
    ax.set_yscale("log")
    values = [r["control_abc"] for r in rows] + [r["abc"] for r in rows]
    for i, r in enumerate(rows):
        colour = colours.get(r["condition"], "k")
        c, d = r["control_abc"], r["abc"]
        if c is not None:
            ax.plot([i - 0.2], [c], "o", color=CONTROL_COLOUR, ms=6, zorder=3)
        if d is not None:
            ax.plot([i + 0.2], [d], "o", ms=7, zorder=3, color=colour,
                    markerfacecolor=colour if r["responder"] else "white", markeredgewidth=1.5)
        if c is not None and d is not None:
            ax.plot([i - 0.2, i + 0.2], [c, d], color=colour, lw=1.5, zorder=2)
            words = f"\u00d7{r['fold_change']:.2f}" if r["fold_change"] is not None else ""
            ax.annotate(words + (" responder" if r["responder"] else ""), (i + 0.2, d), textcoords="offset points",
                        xytext=(0, 7), ha="center", fontsize=7, color=colour)
        if d is None:
            words = "withheld" if r.get("verdict") == "withheld" else "no AB/C"
            ax.text(i + 0.2, thresholds["immunosuppressed_abc"], words, ha="center", fontsize=7, color="crimson")
    _threshold_lines(ax, thresholds)
    ax.set_ylim(*_abc_limits(values, thresholds))
    _abc_axis(ax.yaxis)
    ax.set_xticks(range(len(rows)), [r["condition"] for r in rows])
    ax.set_xlim(-0.7, max(len(rows), 1) - 0.3)
    ax.set_ylabel("monocyte HLA-DR (AB/C, log scale)")
    ax.set_title(f"{control} (grey) against each drug; filled = responder")
    ax.grid(axis="y", which="major", color="0.92", lw=0.6)


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


def draw_histograms(ax: Any, tubes: list[dict[str, Any]], edges_log10: np.ndarray,
                    calibration: dict[str, float] | None, colours: dict[str, str],
                    thresholds: dict[str, float]) -> None:
    """Monocyte HLA-DR of each tube of one patient and time point, overlaid (area 1 per tube),
    with each tube's median as a dashed line."""
    from matplotlib.lines import Line2D

    ax.set_xscale("log")
    curves, lines = [], []
    medians: list[tuple[float, str]] = []
    top = 0.0
    for tube in tubes:
        if tube.get("hist") is None:
            continue
        colour = colours.get(tube["condition"], "k")
        x, y = hladr_curve(tube["hist"], edges_log10, calibration)
        withheld = " withheld" if tube.get("withheld") else ""
        # a step line added as an artist: ax.stairs re-computed the data limits through the log
        # transform at every call, and the limits are set below anyway
        lines.append(ax.add_artist(Line2D(np.repeat(x, 2)[1:-1], np.repeat(y, 2), color=colour, lw=1.4,
                                          label=f"{tube['condition']} (n = {tube['hist']['n']:,}){withheld}")))
        top = max(top, float(y.max()) if y.size else 0.0)
        median = tube["abc"] if calibration is not None else tube["mfi"]
        if median is not None and not withheld:
            medians.append((median, colour))
        curves.append((x, np.asarray(tube["hist"]["counts"])))
    if medians:
        ax.vlines([m for m, _ in medians], 0, 1, colors=[c for _, c in medians], lw=0.9, ls="--",
                  transform=ax.get_xaxis_transform())
    ax.set_ylim(0, top * 1.05 if top > 0 else 1.0)
    if calibration is not None:
        _threshold_lines(ax, thresholds, vertical=True, labels=False)
        ax.set_xlabel("HLA-DR (AB/C, log scale); dotted: 5,000 / 8,000 / 15,000; dashed: medians")
    else:
        ax.set_xlabel("HLA-DR (MFI, log scale): no bead calibration, no AB/C")
    if curves:
        ax.legend(handles=lines, loc="upper left", frameon=False)
        ax.set_xlim(*_histogram_limits(curves))
    else:
        ax.text(0.5, 0.5, "no histogram: no tube of this patient was gated", ha="center", va="center",
                transform=ax.transAxes)
    _abc_axis(ax.xaxis)
    ax.set_ylabel("monocytes (fraction per decade)")
    ax.set_title("HLA-DR on monocytes, each condition")


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
    font = _pil_font(round(6 / 72 * px))
    cell_w, cell_h = GATING_CELL_IN
    first: dict[int, Any] = {}
    for _, panels in tubes:
        for j, panel in enumerate(panels):
            first.setdefault(j, panel)
    for j, panel in sorted(first.items()):
        draw.text((px * (_ROW_LABEL_IN + (j + 0.5) * cell_w), px * (_HEADING_IN - 0.04)), _axes_words(panel),
                  fill=(64, 64, 64), font=font, anchor="md")
    breaks = [0]
    for i, (label, panels) in enumerate(tubes):
        top = _HEADING_IN + i * cell_h
        if i:
            breaks.append(round(top * dpi))
        if not panels:
            draw.text((px * (_ROW_LABEL_IN + 0.05), px * (top + cell_h / 2)), f"{label}: not gated",
                      fill=(220, 20, 60), font=_pil_font(round(7 / 72 * px)), anchor="lm")
            continue
        _vertical_text(image, label, font, px * (_ROW_LABEL_IN - 0.06), px * (top + cell_h / 2))
        for j, panel in enumerate(panels):
            left, upper = px * (_ROW_LABEL_IN + j * cell_w + 0.05), px * (top + 0.17)
            right, lower = px * (_ROW_LABEL_IN + (j + 1) * cell_w - 0.05), px * (top + cell_h - 0.06)
            words = f"{panel.population} {panel.percent_of_parent:.1f} %"
            if _axes_words(panel) != _axes_words(first[j]):
                words += f" ({_axes_words(panel)})"
            draw.text(((left + right) / 2, upper - 0.03 * px), words, fill="black", font=font, anchor="md")
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
def _pil_font(pixels: int) -> Any:
    from matplotlib.font_manager import FontProperties, findfont
    from PIL import ImageFont

    return ImageFont.truetype(findfont(FontProperties()), pixels)


@cache
def _viridis() -> np.ndarray:
    import matplotlib

    return np.round(matplotlib.colormaps["viridis"](np.arange(256))[:, :3] * 255).astype(np.uint8)


def _vertical_text(image: Any, text: str, font: Any, right: float, middle: float) -> None:
    """``text`` turned a quarter (reading upwards), its right edge at ``right``, centred on ``middle``."""
    from PIL import Image, ImageDraw

    left, top, end, bottom = font.getbbox(text)
    strip = Image.new("L", (max(1, end - left + 2), max(1, bottom - top + 2)), 0)
    ImageDraw.Draw(strip).text((1 - left, 1 - top), text, fill=255, font=font)
    turned = strip.rotate(90, expand=True)
    image.paste((0, 0, 0), (round(right - turned.width), round(middle - turned.height / 2)), turned)


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
    QC left out), the control first; the figure data of :func:`draw_trajectory`."""
    out: dict[str, list[tuple[float, float]]] = {control: []}
    for r in rows:
        day, abc = r.get("day"), r.get("abc")
        if r.get("qc_status") == "rejected" or day is None or abc is None or not (abc > 0 and math.isfinite(day)):
            continue
        out.setdefault(r["condition"], []).append((float(day), float(abc)))
    return {c: sorted(points) for c, points in out.items() if points}


def draw_trajectory(ax: Any, series: dict[str, list[tuple[float, float]]], colours: dict[str, str], control: str,
                    thresholds: dict[str, float]) -> None:
    """AB/C against day since admission (log axis): the unstimulated control as a thick line, each
    drug beside it, the 5,000 / 8,000 / 15,000 state thresholds as dotted lines."""
    ax.set_yscale("log")
    values = [v for points in series.values() for _, v in points]
    for condition, points in series.items():
        days, abc = zip(*points, strict=True)
        main = condition == control
        ax.plot(days, abc, marker="o", markersize=5 if main else 3.5, linewidth=2.2 if main else 1.0,
                color=colours.get(condition, "#444444"), label=condition, zorder=3 if main else 2)
    _threshold_lines(ax, thresholds)
    ax.set_ylim(*_abc_limits(values, thresholds))
    _abc_axis(ax.yaxis)
    ax.set_xlabel("day since admission")
    ax.set_ylabel("monocyte HLA-DR (AB/C)")
    ax.legend(fontsize=6, loc="upper left", frameon=False)
