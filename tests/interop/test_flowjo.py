"""FlowJo 10 workspace import (issue 15, point 2): FlowJo's stored counts reproduced on the shared
workspaces (rectangles, quadrants, rectangles on asinh and biex axes, an ellipse on linear axes);
polygons checked against an independent computation, since the shared polygon workspaces hold no
FlowJo result (count -1, or the placeholder 0 of a workspace FlowKit wrote)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from assaykit import read_fcs
from assaykit.cli import app
from assaykit.errors import GatingError
from assaykit.interop import evaluate, read_workspace

FLOWJO = Path(__file__).resolve().parents[2].parent / "shared" / "interop" / "flowjo"
WITH_COUNTS = ["simple_diamond_example/simple_diamond_example_quad_gate.wsp",
               "simple_diamond_example/test_data_diamond_asinh_rect.wsp",
               "simple_diamond_example/test_data_diamond_asinh_rect2.wsp",
               "simple_diamond_example/test_data_diamond_biex_rect.wsp",
               "simple_line_example/single_ellipse_51_events.wsp"]


@pytest.fixture(scope="module", autouse=True)
def _shared() -> None:
    if not FLOWJO.is_dir():
        pytest.skip("../shared/interop not beside the project")


@pytest.mark.parametrize("workspace", WITH_COUNTS)
def test_flowjo_counts_are_reproduced_exactly(workspace: str) -> None:
    path = FLOWJO / workspace
    for sample in read_workspace(path).samples.values():
        fcs = read_fcs(path.parent / sample.file_name)
        assert sample.total == fcs.n_events
        masks = evaluate(sample.document, fcs)
        assert set(masks) == set(sample.counts) and all(c is not None for c in sample.counts.values())
        assert {k: int(v.sum()) for k, v in masks.items()} == sample.counts


def test_polygon_against_an_independent_computation() -> None:
    """poly1 of the v2 workspace: four vertices, the events on the line y = 131072 (x from 65536 to
    131072). Its top edge crosses the line at one x: the events left of it are inside."""
    path = FLOWJO / "simple_line_example" / "simple_poly_and_rect_v2_poly50.wsp"
    sample = next(iter(read_workspace(path).samples.values()))
    fcs = read_fcs(path.parent / sample.file_name)
    inside = evaluate(sample.document, fcs)["poly1"]
    vertices = sample.document.gates["poly1"].geometry["vertices"]
    (x0, y0), (x1, y1) = vertices[1], vertices[2]  # the top edge
    x, y = fcs.events[:, 0], fcs.events[:, 1]
    crossing = x0 + (y[0] - y0) * (x1 - x0) / (y1 - y0)
    assert np.all(y == y[0]) and vertices[:, 0].min() < x.min()
    assert np.array_equal(inside, x < crossing) and inside.sum() == 50
    assert sample.counts["poly1"] == 0  # a placeholder, not FlowJo's result: see docs/interop.md


def test_gate_command_with_a_workspace(tmp_path: Path) -> None:
    folder = FLOWJO / "simple_diamond_example"
    result = CliRunner().invoke(app, ["gate", str(folder / "test_data_diamond_01.fcs"), "--strategy",
                                      str(folder / "simple_diamond_example_quad_gate.wsp"), "--json"])
    assert result.exit_code == 0, result.output
    gates = json.loads(result.output)["gates"]
    assert len(gates) == 4 and all(g["count"] == g["flowjo_count"] for g in gates)
    missing = CliRunner().invoke(app, ["gate", str(folder / "test_data_diamond_01.fcs"), "--strategy",
                                       str(folder / "simple_diamond_example_quad_gate.wsp"), "--sample", "nope"])
    assert missing.exit_code == 2 and "no sample 'nope' in the workspace" in missing.output


def test_unsupported_workspace_content_is_named(tmp_path: Path) -> None:
    text = (FLOWJO / "simple_line_example" / "single_ellipse_51_events.wsp").read_text()
    biex = tmp_path / "biex.wsp"  # the ellipse's axes made biex: refused, never a skipped gate
    biex.write_text(text.replace("<transforms:linear transforms:minRange=\"0\"  transforms:maxRange=\"262144\"  "
                                 "gain=\"1\" >", "<transforms:biex transforms:maxRange=\"262144\" >")
                    .replace("</transforms:linear>", "</transforms:biex>"))
    with pytest.raises(GatingError, match="an ellipse on 'channel_A'"):
        read_workspace(biex)
    boolean = tmp_path / "boolean.wsp"
    boolean.write_text(text.replace("<Population name=\"ellipse1\"", "<OrNode name=\"either\"", 1)
                       .replace("</Population>", "</OrNode>", 1))
    with pytest.raises(GatingError, match="unsupported FlowJo node 'OrNode'"):
        read_workspace(boolean)
    with pytest.raises(GatingError, match="not a FlowJo workspace"):
        (tmp_path / "x.wsp").write_text("<Other/>")
        read_workspace(tmp_path / "x.wsp")


def _on_axes(tmp_path: Path, transform: str) -> Path:
    """The v2 polygon workspace with the sample's two axes replaced by ``transform`` (XML)."""
    import re

    text = (FLOWJO / "simple_line_example" / "simple_poly_and_rect_v2_poly50.wsp").read_text()
    start = text.index("<SampleList>")
    sample = re.sub(r"<transforms:linear [^>]*>(.*?)</transforms:linear>",
                    lambda m: transform.format(inner=m.group(1)), text[start:], flags=re.S)
    path = tmp_path / "axes.wsp"
    path.write_text(text[:start] + sample)
    return path


def test_a_polygon_on_asinh_axes_is_straight_in_display_coordinates(tmp_path: Path) -> None:
    """FlowJo draws polygon edges straight on the displayed (transformed) axes: the polygon is
    evaluated there. Checked against the GatingML fasinh formula computed here."""
    from flowutils.gating import points_in_polygon

    path = _on_axes(tmp_path, '<transforms:fasinh transforms:length="256" transforms:maxRange="262144" '
                              'transforms:T="262144" transforms:A="0" transforms:M="4" transforms:W="1">{inner}'
                              '</transforms:fasinh>')
    sample = next(iter(read_workspace(path).samples.values()))
    fcs = read_fcs(FLOWJO / "simple_line_example" / sample.file_name)
    inside = evaluate(sample.document, fcs)["poly1"]
    raw = read_workspace(FLOWJO / "simple_line_example" / "simple_poly_and_rect_v2_poly50.wsp")
    vertices = next(iter(raw.samples.values())).document.gates["poly1"].geometry["vertices"]

    def asinh(x: np.ndarray) -> np.ndarray:
        return 256 * np.arcsinh(x * np.sinh(4 * np.log(10)) / 262144) / (4 * np.log(10))

    expected = np.asarray(points_in_polygon(asinh(vertices), asinh(fcs.events[:, :2])), dtype=bool)
    assert np.array_equal(inside, expected)
    biex = _on_axes(tmp_path, '<transforms:biex transforms:length="256" transforms:maxRange="262144" '
                              'transforms:neg="0" transforms:width="-10" transforms:pos="4.4">{inner}'
                              '</transforms:biex>')
    with pytest.raises(GatingError, match="a polygon on 'channel_A', a biex axis"):
        read_workspace(biex)
