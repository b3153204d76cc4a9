"""FlowJo 10 workspace import (issue 15, point 2): FlowJo's stored counts reproduced on the shared
workspaces (rectangles, quadrants, rectangles on asinh and biex axes, an ellipse on linear axes);
polygons checked against an independent computation, since the shared polygon workspaces hold no
FlowJo result (count -1, or the placeholder 0 of a workspace FlowKit wrote)."""

from __future__ import annotations

import json
from collections.abc import Callable
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
    vertices = np.asarray(sample.document.gates["poly1"].gate.vertices)
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
    gates = json.loads(result.output)["populations"]
    assert len(gates) == 4 and all(g["count"] == g["flowjo_count"] for g in gates)
    missing = CliRunner().invoke(app, ["gate", str(folder / "test_data_diamond_01.fcs"), "--strategy",
                                       str(folder / "simple_diamond_example_quad_gate.wsp"), "--sample", "nope"])
    assert missing.exit_code == 2 and "no sample 'nope' in the workspace" in missing.output


def test_unsupported_workspace_content_is_named(tmp_path: Path) -> None:
    text = (FLOWJO / "simple_line_example" / "single_ellipse_51_events.wsp").read_text()
    log = tmp_path / "log.wsp"  # the ellipse's axes made log: refused, never a skipped gate
    log.write_text(text.replace("<transforms:linear transforms:minRange=\"0\"  transforms:maxRange=\"262144\"  "
                                "gain=\"1\" >", "<transforms:log transforms:offset=\"1\" transforms:decades=\"5\" >")
                   .replace("</transforms:linear>", "</transforms:log>"))
    with pytest.raises(GatingError, match="an ellipse on 'channel_A', a log axis"):
        read_workspace(log)
    exotic = tmp_path / "exotic.wsp"
    exotic.write_text(text.replace("<transforms:linear transforms:minRange=\"0\"  transforms:maxRange=\"262144\"  "
                                   "gain=\"1\" >", "<transforms:exotic transforms:length=\"256\" >")
                      .replace("</transforms:linear>", "</transforms:exotic>"))
    with pytest.raises(GatingError, match=r"an ellipse on 'channel_A'.*cannot evaluate"):
        read_workspace(exotic)
    derived = tmp_path / "derived.wsp"
    derived.write_text(text.replace("<Population name=\"ellipse1\"", "<DerivedParameterNode name=\"either\"", 1)
                       .replace("</Population>", "</DerivedParameterNode>", 1))
    with pytest.raises(GatingError, match="unsupported FlowJo node 'DerivedParameterNode'"):
        read_workspace(derived)
    with pytest.raises(GatingError, match="not a FlowJo workspace"):
        (tmp_path / "x.wsp").write_text("<Other/>")
        read_workspace(tmp_path / "x.wsp")


QUADRANTS = FLOWJO / "simple_diamond_example" / "simple_diamond_example_quad_gate.wsp"
Q1, Q2 = "Q1: channel_A- , channel_B+", "Q2: channel_A+ , channel_B+"


def _with_nodes(tmp_path: Path, root_nodes: str, inside_q2: str = "") -> Path:
    """The quadrant workspace with extra nodes beside the quadrants and under Q2."""
    text = QUADRANTS.read_text()
    end = text.index("</Subpopulations>", text.index("<SampleNode"))
    text = text[:end] + root_nodes + text[end:]
    if inside_q2:
        q2 = text.index(f'<Population name="{Q2}"')
        close = text.index("</Population>", q2)
        text = text[:close] + f"<Subpopulations>{inside_q2}</Subpopulations>" + text[close:]
    path = tmp_path / "nodes.wsp"
    path.write_text(text)
    return path


def _node(kind: str, name: str, *dependents: str, count: int) -> str:
    names = "".join(f'<Dependent name="{d}" />' for d in dependents)
    return f'<{kind} name="{name}" count="{count}"><Dependents>{names}</Dependents></{kind}>'


def test_boolean_nodes_and_outside_gates(tmp_path: Path) -> None:
    """Or/And/Not nodes and a gate drawn 'outside' (eventsInside=0). The quadrants are disjoint and
    cover every event, so the expected counts follow from FlowJo's own quadrant counts (49,671 in
    Q1, 50,596 in Q2, 200,000 events); a Not node holds its parent's events outside its dependent."""
    text = QUADRANTS.read_text()
    q1 = text.index(f'<Population name="{Q1}"')
    outside = (text[q1:text.index("</Population>", q1) + len("</Population>")]
               .replace(Q1, "outside Q1").replace('eventsInside="1"', 'eventsInside="0"')
               .replace('count="49671"', 'count="150329"'))
    nodes = (_node("OrNode", "Q1 or Q2", Q1, Q2, count=100267) + _node("NotNode", "not Q1", Q1, count=150329)
             + _node("AndNode", "Q1 and top", Q1, "Q1 or Q2", count=49671) + outside)
    path = _with_nodes(tmp_path, nodes, inside_q2=_node("NotNode", "Q2 not Q1", Q1, count=50596))
    sample = next(iter(read_workspace(path).samples.values()))
    fcs = read_fcs(QUADRANTS.parent / sample.file_name)
    masks = evaluate(sample.document, fcs)
    counts = {k: int(v.sum()) for k, v in masks.items()}
    assert counts == sample.counts
    assert counts[f"{Q2}/Q2 not Q1"] == 50596 and counts["Q1 or Q2"] == 100267 and counts["outside Q1"] == 150329
    assert np.array_equal(masks["not Q1"], ~masks[Q1]) and np.array_equal(masks["outside Q1"], ~masks[Q1])
    assert np.array_equal(masks["Q1 or Q2"], masks[Q1] | masks[Q2])
    assert sample.population("q2 not q1") == f"{Q2}/Q2 not Q1"


def test_bad_boolean_nodes_are_named(tmp_path: Path) -> None:
    cases = {_node("NotNode", "n", Q1, Q2, count=1): "'not' needs one population",
             _node("OrNode", "o", Q1, count=1): "'or' needs two or more populations",
             _node("AndNode", "a", Q1, "Nowhere", count=1): "depends on 'Nowhere', which is not a population"}
    for nodes, problem in cases.items():
        with pytest.raises(GatingError, match=problem):
            read_workspace(_with_nodes(tmp_path, nodes))
    text = QUADRANTS.read_text().replace('eventsInside="1"', 'eventsInside="2"', 1)
    (tmp_path / "inside.wsp").write_text(text)
    with pytest.raises(GatingError, match="eventsInside='2'"):
        read_workspace(tmp_path / "inside.wsp")


def _flowjo_biex_csv() -> tuple[dict[str, float], np.ndarray]:
    path = next((FLOWJO / "flowjo_xforms").glob("tr_biex_*.csv"))
    params = {part[0]: float(part[1:]) for part in path.stem.split("_")[2:]}  # l256_w-7.94_n1_m4.42_r262144
    return params, np.loadtxt(path, delimiter=",", skiprows=1)


def test_biex_table_reproduces_flowjo() -> None:
    """FlowJo's own biex table (w -7.94, n 1, m 4.42, top 262,144; 4,096 channels, printed to six
    significant digits) is reproduced at every channel within one unit of the sixth significant
    digit (measured: at most 0.77 unit, i.e. a relative 8e-6: FlowJo's printed values are not all
    rounded from the exact curve, so half a unit is not reachable)."""
    from assaykit.interop.flowjo import biex_table

    params, flowjo = _flowjo_biex_csv()
    ours = biex_table(pos=params["m"], neg=params["n"], width=params["w"], top=params["r"])
    assert len(ours) == 4097 and np.array_equal(flowjo[:, 0], np.arange(4096))
    printed = flowjo[:, 1]
    digit = 10.0 ** (np.floor(np.log10(np.maximum(np.abs(printed), 1e-300))) - 5)  # the sixth significant digit
    assert np.all(np.abs(ours[:4096] - printed) <= digit)
    assert ours[2048] != 0 and np.all(np.diff(ours) > 0)
    zero = int(np.argmin(np.abs(ours)))
    assert ours[zero] == 0.0 and np.allclose(ours[:zero], -ours[2 * zero:zero:-1], rtol=1e-12)


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


def _polygon_on_axes(tmp_path: Path, transform: str, display: Callable[[np.ndarray], np.ndarray]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """poly1 of the v2 workspace on axes ``transform`` (XML): the events assaykit puts inside,
    and those inside the vertices and events placed on the axis by ``display`` (computed here)."""
    from flowutils.gating import points_in_polygon

    sample = next(iter(read_workspace(_on_axes(tmp_path, transform)).samples.values()))
    fcs = read_fcs(FLOWJO / "simple_line_example" / sample.file_name)
    inside = evaluate(sample.document, fcs)["poly1"]
    raw = read_workspace(FLOWJO / "simple_line_example" / "simple_poly_and_rect_v2_poly50.wsp")
    vertices = np.asarray(next(iter(raw.samples.values())).document.gates["poly1"].gate.vertices)
    expected = np.asarray(points_in_polygon(display(vertices), display(fcs.events[:, :2])), dtype=bool)
    return inside, expected


def test_a_polygon_on_asinh_axes_is_straight_in_display_coordinates(tmp_path: Path) -> None:
    """FlowJo draws polygon edges straight on the displayed (transformed) axes: the polygon is
    evaluated there. Checked against the GatingML fasinh formula computed here."""
    def asinh(x: np.ndarray) -> np.ndarray:
        return 256 * np.arcsinh(x * np.sinh(4 * np.log(10)) / 262144) / (4 * np.log(10))

    inside, expected = _polygon_on_axes(
        tmp_path, '<transforms:fasinh transforms:length="256" transforms:maxRange="262144" transforms:T="262144" '
                  'transforms:A="0" transforms:M="4" transforms:W="1">{inner}</transforms:fasinh>', asinh)
    assert np.array_equal(inside, expected)


def test_a_polygon_on_biex_axes_is_straight_in_display_coordinates(tmp_path: Path) -> None:
    """The polygon on FlowJo biex axes (the parameters of FlowJo's shared table) holds exactly
    the events inside it when events and vertices are placed by FlowJo's own table."""
    params, flowjo = _flowjo_biex_csv()

    def channel(x: np.ndarray) -> np.ndarray:
        return np.interp(x, flowjo[:, 1], flowjo[:, 0])

    inside, expected = _polygon_on_axes(
        tmp_path, f'<transforms:biex transforms:length="256" transforms:maxRange="{params["r"]}" '
                  f'transforms:neg="{params["n"]}" transforms:width="{params["w"]}" '
                  f'transforms:pos="{params["m"]}">{{inner}}</transforms:biex>', channel)
    assert np.array_equal(inside, expected) and 0 < inside.sum() < len(inside)


def test_other_workspace_versions_are_refused_by_version(tmp_path: Path) -> None:
    """FlowJo 10's GatingML gate elements are read only in FlowJo 10's workspaces: version 2.0 is
    FlowJo 9's own format (tests/interop/test_flowjo9.py), so FlowJo 10 content labelled 2.0 is
    refused as a FlowJo 9 workspace written by FlowJo 10.6.2; version 3.0 (FlowJo 9.7.2 and later
    for Mac) and 1.61 (FlowJo 7 for Windows) are refused by version, each in one line."""
    text = QUADRANTS.read_text()
    expected = {"2.0": r"version 2\.0 written by FlowJo 10\.6\.2: only FlowJo 9's are read",
                "3.0": r"version 3\.0 \(FlowJo 9\.7\.2 or later for Mac\) is not read",
                "1.61": r"version 1\.61 \(FlowJo 7 or earlier\) is not read"}
    for version, message in expected.items():
        path = tmp_path / f"flowjo-{version}.xml"
        path.write_text(text.replace('version="20.0"', f'version="{version}"', 1))
        with pytest.raises(GatingError, match=message) as refused:
            read_workspace(path)
        assert "\n" not in str(refused.value) and str(path) in str(refused.value)


def test_the_polygon_and_ellipse_tolerance_is_measured() -> None:
    """FlowJo's count of a polygon or ellipse may differ from the exact one by the events within one
    display bin of its boundary. Measured: the shared ellipse has 2 such events and FlowJo's count
    equals the exact one (51); every event of the line example lies within a bin of the v2
    polygon's edge (all on y = 131,072, a bin boundary), so its count is not determined by the
    gate there; the first polygon holds none of them, nor any event near its edge."""
    from assaykit.interop.flowjo import edge_events

    expected = {"single_ellipse_51_events.wsp": {"ellipse1": 2}, "simple_poly_and_rect_v2_poly50.wsp": {"poly1": 100},
                "simple_poly_and_rect.wsp": {"poly1": 0}}
    for name, edges in expected.items():
        path = FLOWJO / "simple_line_example" / name
        sample = next(iter(read_workspace(path).samples.values()))
        fcs = read_fcs(path.parent / sample.file_name)
        assert edge_events(sample.document, fcs) == edges
        masks = evaluate(sample.document, fcs)
        for ident, edge in edges.items():
            if sample.counts[ident]:  # FlowJo's own result (0 here is a placeholder, see above)
                assert abs(int(masks[ident].sum()) - sample.counts[ident]) <= edge
    line = FLOWJO / "simple_line_example"
    result = CliRunner().invoke(app, ["gate", str(line / "data_set_simple_line_100.fcs"), "--strategy",
                                      str(line / "single_ellipse_51_events.wsp"), "--json"])
    assert json.loads(result.output)["populations"][0]["edge_events"] == 2


def test_a_group_template_applies_to_any_file(tmp_path: Path) -> None:
    """``--sample GROUP``: the group's gates (FlowJo's template for its samples, which a sample
    may have adjusted since), with the compensation and axes of its first member sample. Checked
    against the template's bounds read from the XML text here."""
    import re

    diamond = FLOWJO / "simple_diamond_example" / "test_data_diamond_asinh_rect.wsp"
    workspace = read_workspace(diamond)
    template = workspace.sample_for("any.fcs", "All Samples")
    member = next(iter(workspace.samples.values()))
    fcs = read_fcs(diamond.parent / member.file_name)
    ours = evaluate(template.document, fcs)["upper_right"]
    text = diamond.read_text()
    group = text[text.index("<Groups>"):text.index("</Groups>")]
    (a0, a1), (b0, b1) = [(float(lo), float(hi)) for lo, hi in
                          re.findall(r'gating:min="([^"]+)"\s+gating:max="([^"]+)"', group)]
    a, b = fcs.events[:, 0], fcs.events[:, 1]
    assert np.array_equal(ours, (a >= a0) & (a < a1) & (b >= b0) & (b < b1))
    assert int(ours.sum()) != member.counts["upper_right"] and template.counts == {"upper_right": None}
    line = FLOWJO / "simple_line_example" / "simple_poly_and_rect_v2_poly50.wsp"
    result = CliRunner().invoke(app, ["gate", str(line.parent / "data_set_simple_line_100.fcs"), "--strategy",
                                      str(line), "--sample", "my_group", "--json"])
    assert result.exit_code == 0, result.output
    text = line.read_text()
    groups = text.index("<Groups>")
    polygon = text[groups:text.index("</gating:PolygonGate>", groups)]
    vertices = np.array(re.findall(r'data-type:value="([^"]+)"', polygon), dtype=float).reshape(-1, 2)
    events = read_fcs(line.parent / "data_set_simple_line_100.fcs").events[:, :2]
    from flowutils.gating import points_in_polygon

    expected = int(np.sum(points_in_polygon(vertices, events)))  # linear axes: scale values as drawn
    assert len(vertices) >= 3 and {g["name"]: g["count"] for g in json.loads(result.output)["populations"]} == \
        {"poly1": expected, "rect1": 0}
    orphan = tmp_path / "orphan.wsp"  # the group's sample references removed: its display axes are unknown
    orphan.write_text(text[:groups] + text[groups:].replace('<SampleRef sampleID="1" />', ""))
    with pytest.raises(GatingError, match="a polygon in a group without member samples"):
        read_workspace(orphan).sample_for("x.fcs", "my_group")
    assert read_workspace(orphan).sample_for("data_set_simple_line_100.fcs").counts["poly1"] == 0  # samples unaffected
    missing = CliRunner().invoke(app, ["gate", str(line.parent / "data_set_simple_line_100.fcs"), "--strategy",
                                       str(line), "--sample", "nope"])
    assert missing.exit_code == 2 and "groups with gates: my_group" in missing.output


def test_a_workspace_gate_and_the_same_strategy_gate_agree(tmp_path: Path) -> None:
    """One gate model: the shared ellipse (FlowJo's count 51 of 100 events) is read as an
    EllipseGate on FlowJo's display bins (linear axes, 256 bins over 0..262,144); the same ellipse
    in a strategy file, on markers whose linear transform maps 1,024 to one bin, applied by
    apply_strategy, holds FlowJo's 51 events, the same ones."""
    from assaykit.gating import EllipseGate, apply_strategy, load_strategy

    path = FLOWJO / "simple_line_example" / "single_ellipse_51_events.wsp"
    sample = next(iter(read_workspace(path).samples.values()))
    fcs = read_fcs(path.parent / sample.file_name)
    read = sample.document.gates["ellipse1"].gate
    assert isinstance(read, EllipseGate) and read.distance == 1.0
    assert [sample.document.dimensions[k].channel for k in read.dims] == ["channel_A", "channel_B"]
    (tmp_path / "s.yaml").write_text(
        "name: ellipse\nmarkers:\n"
        "  A: {aliases: [channel_A], transform: {kind: linear, t: 1024}}\n"
        "  B: {aliases: [channel_B], transform: {kind: linear, t: 1024}}\n"
        "populations:\n  - {name: ellipse1, gate: {type: ellipse, dims: [A, B], "
        f"center: {[c * 1024 for c in read.center]}, covariance: {[list(r) for r in read.covariance]}, "
        "distance: 1}}\n"
        "readout: {population: ellipse1, marker: B}\n")
    result = apply_strategy(fcs, load_strategy(tmp_path / "s.yaml"), None)
    assert result.removed == 0 and result.count("ellipse1") == sample.counts["ellipse1"] == 51
    assert np.array_equal(result.masks["ellipse1"], evaluate(sample.document, fcs)["ellipse1"])
    assert result.gates["ellipse1"].center == read.center and result.gates["ellipse1"].covariance == read.covariance
