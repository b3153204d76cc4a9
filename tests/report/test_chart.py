"""The patient plots drawn straight into pixels (assaykit.report.chart): ticks against matplotlib's
locators, data placed where the axes say, and a withheld value never drawn as one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from assaykit.report import figures as fg
from assaykit.report.chart import SCALE, Axis, Chart, linear_ticks, log_ticks

THRESHOLDS = {"immunoparalysis_abc": 5000.0, "immunosuppressed_abc": 8000.0, "normal_abc": 15000.0}


@pytest.mark.parametrize(("low", "high"), [(1000, 60000), (2.5, 40), (0.3, 7), (100, 1e6), (40, 8e6), (1, 262144)])
def test_log_ticks_are_matplotlibs(low: float, high: float) -> None:
    from matplotlib.ticker import LogLocator

    subs = (1.0,) if high / low > 2000 else (1.0, 2.0, 5.0)
    expected = [v for v in LogLocator(base=10, subs=subs).tick_values(low, high) if low <= v <= high]
    ticks = log_ticks(Axis(low, high, "log"))
    assert [v for v, _ in ticks] == pytest.approx(expected, rel=1e-12)
    for value, label in ticks:
        assert float(label.replace(",", "")) == pytest.approx(value)


@pytest.mark.parametrize(("low", "high"), [(0, 1), (0, 2.73), (0, 0.0041), (0, 17.5), (0, 1234.0), (-3, 3), (0.2, 0.9)])
def test_linear_ticks_are_round_few_and_inside(low: float, high: float) -> None:
    ticks = linear_ticks(Axis(low, high))
    values = [v for v, _ in ticks]
    assert 2 <= len(values) <= 6
    assert all(low - 1e-12 <= v <= high + 1e-9 for v in values)
    steps = np.diff(values)
    assert np.allclose(steps, steps[0])
    mantissa = steps[0] / 10.0 ** math.floor(math.log10(steps[0]))
    assert any(math.isclose(mantissa, m) for m in (1.0, 2.0, 2.5, 5.0))
    for value, label in ticks:  # each label reads back as its value
        assert float(label) == pytest.approx(value, abs=steps[0] * 1e-6)
    assert len({label for _, label in ticks}) == len(ticks)


def test_data_land_where_the_axes_put_them() -> None:
    """A marker at a data point is centred on the pixel the axes' arithmetic gives."""
    chart = Chart(4.0, 3.0, (0.5, 0.5, 0.5, 0.5), Axis(0, 10), Axis(100, 100000, "log"), dpi=100)
    chart.marker(2.5, 1000, "#ff0000", 8)
    pixels = chart.raster().pixels
    # independent arithmetic: box 0.5 in from each side at 100 dpi; x 2.5 of 10, y 1 of 3 decades up
    x = 50 + 0.25 * 300
    y = 250 - (1 / 3) * 200
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)
    rows, columns = np.nonzero(red)
    assert columns.mean() == pytest.approx(x, abs=1.0) and rows.mean() == pytest.approx(y, abs=1.0)
    assert 8 / 72 * 100 * 0.8 < columns.max() - columns.min() + 1 <= 8 / 72 * 100 + 2  # 8 pt across
    assert SCALE == 2


def test_data_outside_the_axes_are_cut_off() -> None:
    chart = Chart(4.0, 3.0, (0.5, 0.5, 0.5, 0.5), Axis(0, 10), Axis(0, 1), dpi=100)
    chart.line([-5, 15], [0.5, 0.5], "#ff0000", 2)
    pixels = chart.raster().pixels
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 60)
    columns = np.nonzero(red)[1]
    assert columns.min() >= 50 and columns.max() <= 350


def _colour_pixels(pixels: np.ndarray, hex_colour: str) -> np.ndarray:
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return np.all(np.abs(pixels.astype(int) - rgb) <= 12, axis=-1)


def test_restoration_plot_draws_values_and_never_a_withheld_one() -> None:
    """The measured drug's marker sits at its AB/C; the withheld drug (no AB/C in its row) has no
    marker of its colour anywhere, only the words."""
    colours = fg.condition_colours(["unstimulated", "IFN-gamma", "GM-CSF"], "unstimulated")
    rows = [{"condition": "GM-CSF", "control_abc": 4000.0, "abc": 9000.0, "fold_change": 2.25, "responder": True},
            {"condition": "IFN-gamma", "control_abc": 4000.0, "abc": None, "fold_change": None, "responder": False,
             "verdict": "withheld"}]
    raster = fg.restoration_raster(rows, colours, "unstimulated", THRESHOLDS)
    pixels = raster.pixels
    assert not _colour_pixels(pixels, colours["IFN-gamma"]).any()
    gm = _colour_pixels(pixels, colours["GM-CSF"])
    rows_, columns = np.nonzero(gm)
    # the drug marker: x = 0.2 on an axis from -0.7 to 1.7, y = 9,000 on the log axis of _abc_limits
    low, high = fg._abc_limits([4000.0, 9000.0, 4000.0], THRESHOLDS)
    dpi = raster.dpi
    left, right, top, bottom = 0.75 * dpi, (6.8 - 1.45) * dpi, 0.3 * dpi, (3.0 - 0.35) * dpi
    x = left + (0.2 + 0.7) / 2.4 * (right - left)
    y = bottom - (math.log10(9000) - math.log10(low)) / (math.log10(high) - math.log10(low)) * (bottom - top)
    near = (np.abs(columns - x) < 6) & (np.abs(rows_ - y) < 6)
    assert near.sum() > 20  # a filled marker (a responder) of the drug's colour at its value


def test_histograms_without_calibration_show_no_abc() -> None:
    edges = np.linspace(1, 5, 65)
    counts = np.zeros(64)
    counts[30:34] = [10, 40, 40, 10]
    tube = {"condition": "unstimulated", "hist": {"counts": counts.tolist(), "n": 100}, "abc": None, "mfi": 10 ** 2.97,
            "withheld": False}
    raster = fg.histograms_raster([tube], edges, None, {"unstimulated": fg.CONTROL_COLOUR}, THRESHOLDS)
    grey = _colour_pixels(raster.pixels, fg.CONTROL_COLOUR)
    assert grey.sum() > 50
    # the curve's columns lie within the histogram's nonzero bins (10^2.875 .. 10^3.125 MFI)
    x_axis = Axis(*fg._histogram_limits([(10.0 ** edges, counts)]), "log")
    dpi = raster.dpi
    left, right = 0.75 * dpi, (6.8 - 0.2) * dpi
    top, bottom = 0.3 * dpi, (2.8 - 0.45) * dpi  # below the legend, above the zero line
    inside = grey[int(top + 0.3 * (bottom - top)):int(bottom - 0.1 * (bottom - top)), int(left) + 3:int(right) - 3]
    columns = np.nonzero(inside)[1] + int(left) + 3
    span = x_axis.fraction([10 ** edges[30], 10 ** edges[34]]) * (right - left) + left
    assert columns.min() >= span[0] - 3 and columns.max() <= span[1] + 3
    # the dashed median (between two steps of the curve): grey over most of the height there only
    median = round(float(x_axis.fraction(10 ** 2.97)) * (right - left) + left) - int(left) - 3
    share = inside.mean(axis=0)
    assert share[median - 1:median + 2].max() > 0.5
    assert share[median - 12:median - 3].max() < 0.2 and share[median + 4:median + 13].max() < 0.2


def test_trajectory_points_at_their_days_and_rejected_runs_left_out() -> None:
    """trajectory_data drops a run rejected by QC; each remaining point is a marker at (day, AB/C)."""
    rows = [{"condition": "unstimulated", "day": 1.0, "abc": 3000.0, "qc_status": "accepted"},
            {"condition": "unstimulated", "day": 5.0, "abc": 9000.0, "qc_status": "accepted"},
            {"condition": "IFN-gamma", "day": 3.0, "abc": 12000.0, "qc_status": "rejected"}]
    series = fg.trajectory_data(rows, "unstimulated")
    assert series == {"unstimulated": [(1.0, 3000.0), (5.0, 9000.0)]}
    colours = fg.condition_colours(["unstimulated", "IFN-gamma"], "unstimulated")
    raster = fg.trajectory_raster(series, colours, "unstimulated", THRESHOLDS)
    assert not _colour_pixels(raster.pixels, colours["IFN-gamma"]).any()
    dpi = raster.dpi
    left, right, top, bottom = 0.75 * dpi, (6.8 - 1.45) * dpi, 0.15 * dpi, (2.8 - 0.45) * dpi
    low, high = fg._abc_limits([3000.0, 9000.0], THRESHOLDS)
    grey = _colour_pixels(raster.pixels, fg.CONTROL_COLOUR)
    for day, abc in series["unstimulated"]:  # x from 0.5 to 5.5 (padded by half a day)
        x = left + (day - 0.5) / 5.0 * (right - left)
        y = bottom - (math.log10(abc) - math.log10(low)) / (math.log10(high) - math.log10(low)) * (bottom - top)
        assert grey[round(y) - 1:round(y) + 2, round(x) - 1:round(x) + 2].all()


def test_names_in_pixel_figures_are_drawn_as_every_output_shows_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """A condition with an escape character and a CJK letter (DejaVu has no glyph for it): every text
    Pillow draws in the restoration plot and the gating thumbnails is escaped and shows the letter
    as its code point, never the raw characters (a box, or a terminal escape in a PNG's text)."""
    from PIL import ImageDraw

    drawn: list[str] = []
    original = ImageDraw.ImageDraw.text
    monkeypatch.setattr(ImageDraw.ImageDraw, "text", lambda self, xy, text, *a, **k: (
        drawn.append(text), original(self, xy, text, *a, **k))[1])
    name = "IFN\x1b患"
    colours = fg.condition_colours(["unstimulated", name], "unstimulated")
    rows = [{"condition": name, "control_abc": 4000.0, "abc": 9000.0, "fold_change": 2.25, "responder": True}]
    fg.restoration_raster(rows, colours, "unstimulated", THRESHOLDS)
    fg.gating_raster([(f"{name} (A2)", [])])
    shown = [t for t in drawn if "IFN" in t]
    assert len(shown) >= 2 and all("IFN\\x1b[U+60A3]" in t for t in shown), shown
    assert not any("\x1b" in t or "患" in t for t in drawn)
