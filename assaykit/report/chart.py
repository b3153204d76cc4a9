"""A plot drawn straight into pixels: one pair of axes (linear or log), lines, markers, text.

The patient page's plots (restoration, the HLA-DR histograms, the trajectory) are drawn here rather than
through matplotlib: a matplotlib figure of one axes cost 60-70 ms to build and rasterise (most of
it fixed: the figure, the axes, their ticks and their text), this about a tenth of that, and 23
patients pay it two or three times each (docs/benchmarks.md, issue 27). The page's gating thumbnails are drawn
the same way (:func:`.figures.gating_raster`); the run summary's figures stay matplotlib (drawn
once a run).

Everything is drawn at twice the resolution and then reduced (lines and letters smooth), sizes
are given as matplotlib's (points, 1/72 inch), and the text is DejaVu Sans, matplotlib's font.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

import numpy as np

DPI = 110
"""Resolution of every report figure: the PNG of the HTML page and the image of the PDF page."""
PNG_LEVEL = 3
"""zlib level of the PNGs (6, the default, took twice the time for files about 5 % smaller)."""


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


@cache
def pil_font(pixels: int) -> Any:
    from matplotlib.font_manager import FontProperties, findfont
    from PIL import ImageFont

    return ImageFont.truetype(findfont(FontProperties()), pixels)


def draw_text(draw: Any, xy: tuple[float, float], text: str, fill: Any, font: Any, anchor: str = "la") -> None:
    """``text`` drawn with Pillow's ``draw`` as every figure shows names
    (:func:`assaykit._mpl.drawn_text`: escaped, a glyph the font lacks as its code point, never a
    box): every text of the pixel-drawn figures goes through here or :func:`vertical_text`."""
    from .._mpl import drawn_text

    draw.text(xy, drawn_text(text), fill=fill, font=font, anchor=anchor)


def vertical_text(image: Any, text: str, font: Any, right: float, middle: float) -> None:
    """``text`` turned a quarter (reading upwards), its right edge at ``right``, centred on
    ``middle`` (shown as :func:`draw_text` shows it)."""
    from PIL import Image, ImageDraw

    from .._mpl import drawn_text

    text = drawn_text(text)
    left, top, end, bottom = font.getbbox(text)
    strip = Image.new("L", (max(1, end - left + 2), max(1, bottom - top + 2)), 0)
    ImageDraw.Draw(strip).text((1 - left, 1 - top), text, fill=255, font=font)
    turned = strip.rotate(90, expand=True)
    image.paste((0, 0, 0), (round(right - turned.width), round(middle - turned.height / 2)), turned)


SCALE = 2
"""Drawing resolution over the output's (the image is reduced by this factor at the end)."""

Anchor = Literal["la", "lm", "ls", "ld", "ma", "mm", "ms", "md", "ra", "rm", "rs", "rd"]
"""A text's anchor (Pillow's: horizontal l/m/r, vertical a(scender)/m(iddle)/s/d(escender))."""


@dataclass(frozen=True)
class Axis:
    """One axis of a chart: its ``scale`` ("linear" or "log") and its limits (data units;
    ``low`` < ``high``, both positive on a log axis)."""

    low: float
    high: float
    scale: Literal["linear", "log"] = "linear"

    def fraction(self, values: Any) -> np.ndarray:
        """Where ``values`` fall between the limits (0 at ``low``, 1 at ``high``)."""
        v = np.asarray(values, dtype=np.float64)
        if self.scale == "log":
            with np.errstate(divide="ignore", invalid="ignore"):
                return (np.log10(v) - math.log10(self.low)) / (math.log10(self.high) - math.log10(self.low))
        return (v - self.low) / (self.high - self.low)


def log_ticks(axis: Axis) -> list[tuple[float, str]]:
    """Major ticks of a log axis and their labels: 1, 2 and 5 per decade, or 1 per decade when
    the axis spans more than a factor 2,000 (as the report's matplotlib axes); labels with
    thousands separators (``15,000``), below 1 as ``0.5``."""
    subs = (1.0,) if axis.high / axis.low > 2000 else (1.0, 2.0, 5.0)
    ticks = []
    for decade in range(math.floor(math.log10(axis.low)), math.ceil(math.log10(axis.high)) + 1):
        for sub in subs:
            value = sub * 10.0**decade
            if axis.low * (1 - 1e-9) <= value <= axis.high * (1 + 1e-9):
                ticks.append((value, f"{value:,.0f}" if value >= 1 else f"{value:g}"))
    return ticks


def linear_ticks(axis: Axis, most: int = 6) -> list[tuple[float, str]]:
    """At most ``most`` round ticks (steps of 1, 2, 2.5 or 5 times a power of ten) between the
    limits of a linear axis, labelled with as many decimals as the step needs."""
    span = axis.high - axis.low
    if not span > 0 or not math.isfinite(span):
        return []
    step = span
    for power in range(math.floor(math.log10(span / most)), math.floor(math.log10(span)) + 2):
        candidates = [m * 10.0**power for m in (1.0, 2.0, 2.5, 5.0) if span / (m * 10.0**power) <= most - 1]
        if candidates:
            step = candidates[0]
            break
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) + (1 if round(step / 10.0 ** math.floor(
        math.log10(step) + 1e-9), 6) == 2.5 else 0)
    first = math.ceil(axis.low / step - 1e-9)
    ticks = []
    k = first
    while k * step <= axis.high + span * 1e-9:
        value = k * step
        ticks.append((value, f"{value:.{decimals}f}"))
        k += 1
    return ticks


def _rgb(colour: str) -> tuple[int, int, int]:
    from PIL import ImageColor

    return ImageColor.getrgb(colour)[:3]


class Chart:
    """A ``width_in`` x ``height_in`` inch picture at ``dpi`` holding one pair of axes placed by
    its margins (``left``, ``bottom``, ``right``, ``top``, inches); ``x`` and ``y`` are its
    axes (:class:`Axis`). Data are drawn clipped to the axes; text anywhere. :meth:`raster`
    ends the drawing."""

    def __init__(self, width_in: float, height_in: float, margins: tuple[float, float, float, float], x: Axis,
                 y: Axis, dpi: float) -> None:
        from PIL import Image, ImageDraw

        self.dpi, self.x, self.y = dpi, x, y
        self.px = dpi * SCALE  # drawing pixels per inch
        self.size = (round(width_in * dpi) * SCALE, round(height_in * dpi) * SCALE)
        left, bottom, right, top = margins
        self.box = (round(left * self.px), round(top * self.px), self.size[0] - round(right * self.px),
                    self.size[1] - round(bottom * self.px))
        self.image = Image.new("RGB", self.size, "white")
        self.draw = ImageDraw.Draw(self.image)
        self.plot = Image.new("RGB", (self.box[2] - self.box[0], self.box[3] - self.box[1]), "white")
        self.plot_draw = ImageDraw.Draw(self.plot)
        self._texts: list[tuple[tuple[float, float], str, tuple[int, int, int], Any, str]] = []

    # --- coordinates --------------------------------------------------------------------------------

    def points(self, size_pt: float) -> float:
        """A length in points as drawing pixels."""
        return size_pt / 72 * self.px

    def at(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Data coordinates as drawing pixels of the whole picture."""
        w, h = self.box[2] - self.box[0], self.box[3] - self.box[1]
        return self.box[0] + self.x.fraction(x) * w, self.box[3] - self.y.fraction(y) * h

    def _in_plot(self, x: Any, y: Any) -> list[tuple[float, float]]:
        xs, ys = self.at(x, y)
        return [(float(a) - self.box[0], float(b) - self.box[1]) for a, b in zip(xs, ys, strict=True)
                if math.isfinite(a) and math.isfinite(b)]

    # --- data (clipped to the axes) -----------------------------------------------------------------

    def line(self, x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, colour: str,
             width_pt: float = 1.0) -> None:
        """A polyline through the data points (x, y)."""
        points = self._in_plot(x, y)
        if len(points) > 1:
            self.plot_draw.line(points, fill=_rgb(colour), width=max(1, round(self.points(width_pt))),
                                joint="curve")

    def rule(self, value: float, vertical: bool, colour: str, width_pt: float = 0.8,
             dash_pt: tuple[float, float] | None = None) -> None:
        """A line across the axes at data ``value`` (vertical: an x value), dashed by (on, off)
        points when ``dash_pt`` is given."""
        w, h = self.plot.size
        if vertical:
            offset = float(self.x.fraction(value)) * w
            start, end = (offset, 0.0), (offset, float(h))
        else:
            offset = (1 - float(self.y.fraction(value))) * h
            start, end = (0.0, offset), (float(w), offset)
        if not math.isfinite(offset):
            return
        fill, width = _rgb(colour), max(1, round(self.points(width_pt)))
        if dash_pt is None:
            self.plot_draw.line([start, end], fill=fill, width=width)
            return
        on, off = self.points(dash_pt[0]), self.points(dash_pt[1])
        length = float(h if vertical else w)
        position = 0.0
        while position < length:
            stop = min(position + on, length)
            if vertical:
                self.plot_draw.line([(offset, position), (offset, stop)], fill=fill, width=width)
            else:
                self.plot_draw.line([(position, offset), (stop, offset)], fill=fill, width=width)
            position += on + off

    def marker(self, x: float, y: float, colour: str, size_pt: float, face: str | None = None,
               edge_pt: float = 0.0) -> None:
        """A round marker of diameter ``size_pt`` at (x, y), filled with ``face`` (default
        ``colour``) and edged in ``colour`` ``edge_pt`` wide."""
        points = self._in_plot([x], [y])
        if not points:
            return
        (cx, cy), r = points[0], self.points(size_pt) / 2 + self.points(edge_pt) / 2
        self.plot_draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=_rgb(face or colour), outline=_rgb(colour),
                               width=max(1, round(self.points(edge_pt))) if edge_pt else 0)

    # --- text and frame ---------------------------------------------------------------------------------

    def text(self, position: tuple[float, float], words: str, size_pt: float, colour: str = "#000000",
             anchor: Anchor = "ms", data: bool = True, offset_pt: tuple[float, float] = (0.0, 0.0)) -> None:
        """``words`` at ``position`` (data coordinates, or the axes' fractions when ``data`` is
        False: (0, 0) bottom left, (1, 1) top right), moved by ``offset_pt`` (points, up is
        positive), anchored as Pillow's ``anchor``."""
        if data:
            xs, ys = self.at([position[0]], [position[1]])
            x, y = float(xs[0]), float(ys[0])
        else:
            x = self.box[0] + position[0] * (self.box[2] - self.box[0])
            y = self.box[3] - position[1] * (self.box[3] - self.box[1])
        if not (math.isfinite(x) and math.isfinite(y)):
            return
        x, y = x + self.points(offset_pt[0]), y - self.points(offset_pt[1])
        self._texts.append(((x, y), words, _rgb(colour), _font(round(self.points(size_pt))), anchor))

    def legend(self, entries: Sequence[tuple[str, str]], size_pt: float = 7) -> None:
        """A legend in the axes' upper left corner: per (colour, words) a line sample and the words."""
        step, sample = self.points(size_pt * 1.45), self.points(size_pt * 2)
        left, top = self.points(6), self.points(6) + self.points(size_pt) / 2
        for k, (colour, words) in enumerate(entries):
            y = top + k * step
            self.plot_draw.line([(left, y), (left + sample, y)], fill=_rgb(colour),
                                width=max(1, round(self.points(1.4))))
            self._texts.append(((self.box[0] + left + sample + self.points(size_pt * 0.6), self.box[1] + y), words,
                                (0, 0, 0), _font(round(self.points(size_pt))), "lm"))

    def grid(self, y_values: Sequence[float], colour: str, width_pt: float = 0.6) -> None:
        """Horizontal grid lines at the data values ``y_values`` (draw them before the data: they
        go under it)."""
        for value in y_values:
            self.rule(value, False, colour, width_pt)

    def frame(self, x_ticks: list[tuple[float, str]], y_ticks: list[tuple[float, str]], tick_pt: float = 7) -> None:
        """The axes' ticks (3.5 pt outwards) and tick labels (``tick_pt``); the box is drawn by
        :meth:`raster`."""
        x0, _, _, y1 = self.box
        dark, width, length = (0, 0, 0), max(1, round(self.points(0.8))), self.points(3.5)
        font = _font(round(self.points(tick_pt)))
        for value, label in x_ticks:
            x = float(self.at([value], [self.y.low])[0][0])
            self.draw.line([(x, y1), (x, y1 + length)], fill=dark, width=width)
            draw_text(self.draw, (x, y1 + length + self.points(2)), label, dark, font, "ma")
        for value, label in y_ticks:
            y = float(self.at([self.x.low], [value])[1][0])
            self.draw.line([(x0 - length, y), (x0, y)], fill=dark, width=width)
            draw_text(self.draw, (x0 - length - self.points(2), y), label, dark, font, "rm")

    def labels(self, title: str, x_label: str, y_label: str, title_pt: float = 9, label_pt: float = 8) -> None:
        """The title above the axes, the x label below the tick labels, the y label turned a
        quarter left of them."""
        x0, y0, x1, y1 = self.box
        black = (0, 0, 0)
        if title:
            draw_text(self.draw, ((x0 + x1) / 2, y0 - self.points(4)), title, black,
                      _font(round(self.points(title_pt))), "md")
        if x_label:
            draw_text(self.draw, ((x0 + x1) / 2, self.size[1] - self.points(2)), x_label, black,
                      _font(round(self.points(label_pt))), "md")
        if y_label:
            vertical_text(self.image, y_label, _font(round(self.points(label_pt))), self.points(14),
                           (y0 + y1) / 2)

    def raster(self, breaks: Sequence[int] = ()) -> Any:
        """The finished picture as a :class:`.figures.Raster` (the axes' content pasted in its
        box, the box outlined, reduced to ``dpi``)."""
        x0, y0, x1, y1 = self.box
        self.image.paste(self.plot, (x0, y0))
        self.draw.rectangle((x0, y0, x1, y1), outline=(0, 0, 0), width=max(1, round(self.points(0.8))))
        for xy, words, fill, font, anchor in self._texts:  # over the data, as matplotlib's texts
            draw_text(self.draw, xy, words, fill, font, anchor)
        pixels = np.asarray(self.image.reduce(SCALE))
        return Raster(encode_png(pixels), pixels, self.dpi, tuple(breaks))


def _font(pixels: int) -> Any:
    return pil_font(pixels)
