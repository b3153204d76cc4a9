"""A4 PDF pages that flow: text, tables and the page's figures are laid down from the top of a
page and a new page starts only when the next block does not fit (a table continues on the next
page under its header again, the gating thumbnails are cut between tubes), so no page is left
half blank. Drawn with matplotlib's PDF backend (fonts embedded: any character a patient ID
holds), the figures as the very pixels of the HTML page's PNGs: nothing is drawn twice.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any, Literal

from .figures import Raster

A4_PT = (595.28, 841.89)
MARGIN_PT = 34.0  # 12 mm, as the HTML pages' print rules
WIDTH_PT = A4_PT[0] - 2 * MARGIN_PT
LINE_SPACING = 1.3
MIN_SHRINK = 0.6
"""A figure that does not fit the rest of a page is drawn down to this scale there rather than
leave the rest blank."""

Align = Literal["left", "right"]


@cache
def _advances(size: float, bold: bool) -> tuple[Any, dict[str, float]]:
    from matplotlib.font_manager import FontProperties, findfont, get_font

    font = get_font(findfont(FontProperties(weight="bold" if bold else "normal")))
    return font, {}


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Width in points of one line of ``text`` (the sum of the glyphs' advances, cached)."""
    font, widths = _advances(size, bold)
    total = 0.0
    for char in text:
        width = widths.get(char)
        if width is None:
            if font.get_char_index(ord(char)) == 0:  # not in the font: drawn as a box, at most an em
                width = widths[char] = float(size)
            else:
                font.set_size(size, 72)
                width = widths[char] = font.load_char(ord(char)).linearHoriAdvance / 65536
        total += width
    return total * 1.02  # kerning and hinting slack


def shown(text: str) -> str:
    """``text`` as the PDF draws it (:func:`assaykit._mpl.drawn_text`): names escaped, each
    character the PDF's font (DejaVu Sans) has no glyph for as its code point, ``[U+4E2D]``,
    never a box or nothing (the page says so: :func:`missing_glyphs`, :func:`glyph_note`)."""
    from .._mpl import drawn_text

    return drawn_text(text)


def missing_glyphs(*values: Any) -> list[str]:
    """The characters of the texts in ``values`` (nested as for :func:`core_fonts_suffice`) that
    the PDF's font has no glyph for (drawn as their code points by :func:`shown`), in order."""
    from .._io.names import escape
    from .._mpl import has_glyph

    found: dict[str, None] = {}
    for value in _texts(values):
        text = escape(value)
        if not text.isascii():
            found.update(dict.fromkeys(c for c in text if not c.isascii() and not has_glyph(c)))
    return list(found)


def glyph_note(missing: Sequence[str]) -> str:
    """The line a PDF shows when some of its characters are drawn as code points."""
    if not missing:
        return ""
    from .._mpl import no_glyph

    listed = ", ".join(no_glyph(c) for c in missing[:12]) + (", ..." if len(missing) > 12 else "")
    return (f"Characters drawn as their code points ({listed}): the PDF's font (DejaVu Sans) has no glyph for "
            "them; the HTML page shows them as written.")


def text_height(lines: int, size: float, bold: bool = False) -> float:
    """Height in points of ``lines`` lines of text as matplotlib lays them out with a fixed line
    spacing: each line ``LINE_SPACING`` x the font's ascent + descent (DejaVu: 1 em)."""
    return max(lines, 1) * LINE_SPACING * size


def wrap(text: str, width: float, size: float, bold: bool = False) -> list[str]:
    """``text`` broken into lines no wider than ``width`` points (at spaces; a word wider than a
    line is cut)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if text_width(candidate, size, bold) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            while text_width(word, size, bold) > width and len(word) > 1:
                cut = max(1, int(len(word) * width / text_width(word, size, bold)))
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return lines


@cache
def _afm_name(filename: str) -> str:
    from matplotlib._afm import AFM

    with open(filename, "rb") as handle:
        return str(AFM(handle).get_fontname())


def _standard_fonts_once() -> None:
    """matplotlib parses a standard font's whole metrics file (kerning pairs and all) in every
    PDF it writes, only to read the font's name: about 30 ms of a patient's 60 ms PDF. The name is
    read once per process instead (the same font dictionary is written)."""
    from matplotlib.backends import backend_pdf

    if getattr(backend_pdf.PdfFile._write_afm_font, "_assaykit", False):
        return

    def write_afm_font(self: Any, filename: str) -> Any:
        fontdict = {"Type": backend_pdf.Name("Font"), "Subtype": backend_pdf.Name("Type1"),
                    "BaseFont": backend_pdf.Name(_afm_name(filename)),
                    "Encoding": backend_pdf.Name("WinAnsiEncoding")}
        fontdict_object = self.reserveObject("font dictionary")
        self.writeObject(fontdict_object, fontdict)
        return fontdict_object

    write_afm_font._assaykit = True  # type: ignore[attr-defined]
    backend_pdf.PdfFile._write_afm_font = write_afm_font  # type: ignore[method-assign]


_KNOWN_PNG: dict[bytes, bytes] = {}
"""The PNG data (IDAT) of the figures a document places whole, by a digest of their pixels."""


def _digest(pixels: bytes) -> bytes:
    import hashlib

    return hashlib.blake2b(pixels, digest_size=16).digest()


def _idat(png: bytes) -> bytes:
    """The compressed image data of a PNG (its IDAT chunks, joined)."""
    import struct

    out, at = [], 8
    while at < len(png):
        length, kind = struct.unpack(">I4s", png[at:at + 8])
        if kind == b"IDAT":
            out.append(png[at + 8:at + 8 + length])
        at += 12 + length
    return b"".join(out)


def _known_images_once() -> None:
    """matplotlib's PDF backend encodes each image it embeds as a PNG again (zlib level 6, a
    quarter of a patient's PDF time). A figure placed whole already has its PNG (the HTML
    page's): its data is used as it is (the same pixels, PNG predictors as the PDF expects);
    anything else goes the usual way."""
    from matplotlib.backends import backend_pdf

    original = backend_pdf.PdfFile._writePng
    if getattr(original, "_assaykit", False):
        return

    def write_png(self: Any, img: Any) -> Any:
        if img.mode == "RGB" and _KNOWN_PNG:
            found = _KNOWN_PNG.get(_digest(img.tobytes()))
            if found is not None:
                return found, 8, None
        return original(self, img)

    write_png._assaykit = True  # type: ignore[attr-defined]
    backend_pdf.PdfFile._writePng = write_png  # type: ignore[method-assign]


class Pages:
    """A4 pages filled from the top; :meth:`pdf` closes them and returns the document."""

    def __init__(self, title: str, creator: str, core_fonts: bool = False) -> None:
        from matplotlib.backends.backend_pdf import PdfPages

        from .._io.names import escape

        self._core_fonts = core_fonts
        if core_fonts:
            _standard_fonts_once()
        _known_images_once()
        self._buffer = io.BytesIO()
        self._pdf = PdfPages(self._buffer, metadata={"CreationDate": None, "Creator": creator,
                                                     "Title": escape(title)})
        self._fig: Any = None
        self.y = 0.0
        self._new_page()

    def _new_page(self) -> None:
        from matplotlib.figure import Figure

        if self._fig is not None:
            with self._fonts():
                self._pdf.savefig(self._fig)
        self._fig = Figure(figsize=(A4_PT[0] / 72, A4_PT[1] / 72), dpi=72)
        self.y = MARGIN_PT

    @property
    def room(self) -> float:
        """Points left on this page."""
        return A4_PT[1] - MARGIN_PT - self.y

    def need(self, height: float) -> None:
        """A new page unless ``height`` points fit on this one (or it is still empty)."""
        if height > self.room and self.y > MARGIN_PT + 0.5:
            self._new_page()

    def space(self, points: float) -> None:
        self.y = min(self.y + points, A4_PT[1] - MARGIN_PT)

    def _put(self, x: float, y: float, text: str, size: float, bold: bool = False, colour: str = "black",
             align: Align = "left") -> None:
        self._fig.text(x / A4_PT[0], 1 - y / A4_PT[1], text, fontsize=size, va="top", ha=align, color=colour,
                       parse_math=False,
                       fontweight="bold" if bold else "normal", linespacing=LINE_SPACING)

    def _box(self, x: float, y: float, width: float, height: float, colour: str, edge: str = "none") -> None:
        from matplotlib.patches import Rectangle

        self._fig.add_artist(Rectangle((x / A4_PT[0], 1 - (y + height) / A4_PT[1]), width / A4_PT[0],
                                       height / A4_PT[1], transform=self._fig.transFigure, facecolor=colour,
                                       edgecolor=edge, linewidth=0.8, zorder=-1))

    def text(self, text: str, size: float = 8, bold: bool = False, colour: str = "black", after: float = 3,
             box: tuple[str, str] | None = None, indent: float = 0, keep: float = 0) -> None:
        """A paragraph, wrapped to the page; ``box`` (fill, edge colours) draws a banner around it;
        ``keep``: points of what follows that must fit under it (a heading's table or figure)."""
        if not text:
            return
        text = shown(text)
        pad = 4.0 if box else 0.0
        lines = wrap(text, WIDTH_PT - indent - 2 * pad, size, bold)
        height = text_height(len(lines), size, bold) + 2 * pad
        self.need(height + keep)
        if box:
            self._box(MARGIN_PT, self.y, WIDTH_PT, height, *box)
        self._put(MARGIN_PT + indent + pad, self.y + pad, "\n".join(lines), size, bold, colour)
        self.y += height + after

    def items(self, lines: Sequence[str], size: float = 7, colour: str = "black", after: float = 3,
              indent: float = 6) -> None:
        """A list, one item a line (wrapped, hanging), drawn as one text per page."""
        wrapped: list[str] = []
        for line in lines:
            parts = wrap(f"- {shown(line)}", WIDTH_PT - indent, size)
            wrapped += [parts[0], *[f"   {p}" for p in parts[1:]]]
        while wrapped:
            fit = max(1, min(len(wrapped), int(self.room / (LINE_SPACING * size))))
            if fit < min(len(wrapped), 3) and self.y > MARGIN_PT + 0.5:
                self._new_page()
                continue
            self._put(MARGIN_PT + indent, self.y, "\n".join(wrapped[:fit]), size, colour=colour)
            self.y += text_height(fit, size)
            wrapped = wrapped[fit:]
            if wrapped:
                self._new_page()
        self.y += after

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[Align], size: float = 7,
              colours: Sequence[str] | None = None, after: float = 6) -> None:
        """A table of text cells: header in bold on grey, rules between rows; it shrinks its
        font to fit the page's width (down to 5.5 pt), then wraps its widest column; rows that
        do not fit continue on the next page under the header again."""
        from matplotlib.collections import LineCollection

        pad = 3.0
        columns = len(header)
        cells = [[shown(c) for c in header], *[[shown(c) for c in r] for r in rows]]

        def widths(at: float) -> list[float]:
            return [max(text_width(line, at, i == 0) for i, row in enumerate(cells) for line in row[j].split("\n"))
                    + 2 * pad for j in range(columns)]

        natural = sum(widths(size))
        if natural > WIDTH_PT:
            size = max(5.5, size * WIDTH_PT / natural)
        width = widths(size)
        while sum(width) > WIDTH_PT:  # wrap the widest column
            j = max(range(columns), key=lambda k: width[k])
            target = max(width[j] - (sum(width) - WIDTH_PT), 40.0)
            for i, row in enumerate(cells):
                row[j] = "\n".join(wrap(row[j], target - 2 * pad, size, i == 0))
            width = widths(size)
            if width[j] > target + 1:  # cannot wrap narrower
                break
        xs = [MARGIN_PT + sum(width[:j]) for j in range(columns)]
        heights = [text_height(max(c.count("\n") + 1 for c in row), size, i == 0) + 2 * pad
                   for i, row in enumerate(cells)]
        rules: list[list[tuple[float, float]]] = []

        def rule(y: float) -> None:
            rules.append([(xs[0] / A4_PT[0], 1 - y / A4_PT[1]), ((xs[0] + sum(width)) / A4_PT[0], 1 - y / A4_PT[1])])

        def flush() -> None:
            if rules:
                self._fig.add_artist(LineCollection(list(rules), colors="0.65", linewidths=0.5,
                                                    transform=self._fig.transFigure))
                rules.clear()

        def put_row(i: int) -> None:
            row = cells[i]
            if i == 0:
                self._box(xs[0], self.y, sum(width), heights[0], "#eef0f1")
            colour = "black" if i == 0 or colours is None else colours[i - 1]
            for j in range(columns):
                right = align[j] == "right" and i > 0
                self._put(xs[j] + (width[j] - pad if right else pad), self.y + pad, row[j], size, i == 0, colour,
                          "right" if right else "left")
            self.y += heights[i]
            rule(self.y)

        self.need(heights[0] + (heights[1] if len(heights) > 1 else 0))
        rule(self.y)
        put_row(0)
        for i in range(1, len(cells)):
            if heights[i] > self.room:
                flush()
                self._new_page()
                rule(self.y)
                put_row(0)
            put_row(i)
        flush()
        self.y += after

    def figure(self, raster: Raster, after: float = 6, width: float | None = None) -> None:
        """A report figure at its own size (narrowed to the page), as the PNG's pixels; cut at
        ``raster.breaks`` across pages, or drawn smaller (down to :data:`MIN_SHRINK`) to fill the
        rest of a page."""
        w_in = raster.size_in[0]
        scale = min(1.0, (width or WIDTH_PT) / (w_in * 72))
        cuts = list(raster.breaks) or [0, raster.pixels.shape[0]]
        start = 0
        while start < len(cuts) - 1:
            end = start + 1  # as many strips as fit
            pt_per_px = 72 * scale / raster.dpi
            while end < len(cuts) - 1 and (cuts[end + 1] - cuts[start]) * pt_per_px <= self.room:
                end += 1
            height = (cuts[end] - cuts[start]) * pt_per_px
            shrink = 1.0
            if height > self.room:
                if self.room >= MIN_SHRINK * height:
                    shrink = self.room / height
                elif self.y > MARGIN_PT + 0.5:
                    self._new_page()
                    continue
                else:
                    shrink = self.room / height  # taller than a page: fit it
            strip = raster.pixels[cuts[start]:cuts[end]]
            if start == 0 and end == len(cuts) - 1 and raster.pixels.flags.c_contiguous:
                _KNOWN_PNG[_digest(raster.pixels.tobytes())] = _idat(raster.png)
            self._image(strip, w_in * 72 * scale * shrink, height * shrink)
            start = end
        self.y += after

    def _image(self, pixels: Any, width: float, height: float) -> None:
        x = MARGIN_PT + (WIDTH_PT - width) / 2
        self._fig.add_artist(_Picture(pixels, x, A4_PT[1] - self.y - height, width, height))
        self.y += height

    @contextmanager
    def _fonts(self) -> Iterator[None]:
        """The PDF's fonts: the standard Helvetica (nothing to embed, a third of the time) when
        every text of the document is in its Windows-1252 encoding, else DejaVu Sans embedded."""
        import logging

        import matplotlib

        quiet = logging.getLogger("matplotlib.font_manager")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # "Failed to find font weight normal for Helvetica"
        try:
            with matplotlib.rc_context({"pdf.use14corefonts": self._core_fonts}):
                yield
        finally:
            quiet.setLevel(level)

    def pdf(self) -> bytes:
        """Close the document; its bytes."""
        try:
            with self._fonts():
                self._pdf.savefig(self._fig)
                self._pdf.close()
        finally:
            _KNOWN_PNG.clear()
        return self._buffer.getvalue()


def _texts(values: Sequence[Any]) -> Iterator[str]:
    """Every text in ``values`` (nested dicts, lists, tuples; other objects by ``str``)."""
    stack = list(values)
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list | tuple):
            stack.extend(value)
        elif value is not None and not isinstance(value, int | float | Raster):
            yield str(value)


def core_fonts_suffice(*values: Any) -> bool:
    """Whether every text in ``values`` (nested dicts, lists, tuples; other objects by ``str``),
    as the PDF draws it (:func:`shown`), can be written in Windows-1252, the standard PDF fonts'
    encoding."""
    from .._io.names import escape

    for value in _texts(values):
        try:
            escape(value).encode("cp1252")
        except UnicodeEncodeError:
            return False
    return True


def _picture_class() -> type:
    from matplotlib.artist import Artist
    from matplotlib.transforms import Affine2D

    class Picture(Artist):
        """Pixels drawn into a box of the page (points from the bottom left) as they are: the
        PDF holds the PNG's pixels, neither resampled nor inside an axes (an axes per image
        cost more than the image)."""

        def __init__(self, pixels: Any, x: float, y: float, width: float, height: float) -> None:
            super().__init__()
            self._pixels, self._box = pixels[::-1], (x, y, width, height)  # the PDF image is drawn from its bottom row

        def draw(self, renderer: Any) -> None:
            x, y, width, height = self._box
            gc = renderer.new_gc()
            renderer.draw_image(gc, x, y, self._pixels, Affine2D().scale(width, height))
            gc.restore()

    return Picture


def _Picture(pixels: Any, x: float, y: float, width: float, height: float) -> Any:  # noqa: N802
    global _PICTURE
    if _PICTURE is None:
        _PICTURE = _picture_class()
    return _PICTURE(pixels, x, y, width, height)


_PICTURE: Any = None
