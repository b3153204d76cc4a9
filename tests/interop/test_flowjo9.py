"""FlowJo 9 XML workspaces (issue 29, point 2): ``<!DOCTYPE Workspace>``, ``version="2.0"``
``flowJoVersion="9.2"``, FlowJo's own gate, compensation, calibration-table and population
elements. No FlowJo 9 file is shared, so the workspaces are written here in that format for real
FCS files (an LSR with 13 fluorescence detectors and its $SPILLOVER; a FACS with mixed-case
channel names), each population's FlowJo count set to an independent computation (numpy
compensation, an even-odd ray test of our own, the ellipse from its centre, half-axes and angle,
a log display computed analytically), and assaykit's reading must reproduce every count."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import pytest
from typer.testing import CliRunner

from assaykit import read_fcs
from assaykit.cli import app
from assaykit.errors import GatingError
from assaykit.interop import evaluate, read_workspace
from assaykit.interop.flowjo9 import ellipse_from_axes

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "fcs-corpus"
LSR = CORPUS / "flowkit" / "100715.fcs"
FACS = CORPUS / "flowcal" / "Data004.fcs"
DECADES, BINS = 5.0, 4096  # the calibration table written here: 0..4096 channels over 5 decades


@pytest.fixture(scope="module", autouse=True)
def _shared() -> None:
    if not LSR.is_file() or not FACS.is_file():
        pytest.skip("../shared/fcs-corpus not beside the project")


# --- independent computations -------------------------------------------------------------------


def inside_polygon(vertices: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Even-odd ray casting (a horizontal ray to the right), written for this test."""
    inside = np.zeros(len(x), dtype=bool)
    n = len(vertices)
    for i in range(n):
        (x1, y1), (x2, y2) = vertices[i], vertices[(i + 1) % n]
        if y1 == y2:
            continue
        crosses = (y1 > y) != (y2 > y)
        at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < at)
    return inside


def log_display(values: np.ndarray) -> np.ndarray:
    """The log axis the calibration table tabulates: channel = 4096 log10(v) / 5, clamped to the
    table (1 to 10^5)."""
    return BINS * np.log10(np.clip(values, 1.0, 10**DECADES)) / DECADES


def from_display(channel: np.ndarray) -> np.ndarray:
    return 10 ** (np.asarray(channel) * DECADES / BINS)


def ellipse_ends(centre: tuple[float, float], a: float, b: float, angle: float) -> np.ndarray:
    u = np.array([math.cos(angle), math.sin(angle)])
    v = np.array([-math.sin(angle), math.cos(angle)])
    c = np.asarray(centre)
    return np.array([c + a * u, c - a * u, c + b * v, c - b * v])


def inside_ellipse(centre: tuple[float, float], a: float, b: float, angle: float, x: np.ndarray,
                   y: np.ndarray) -> np.ndarray:
    dx, dy = x - centre[0], y - centre[1]
    along = dx * math.cos(angle) + dy * math.sin(angle)
    across = -dx * math.sin(angle) + dy * math.cos(angle)
    return (along / a) ** 2 + (across / b) ** 2 <= 1


# --- writing FlowJo 9 ----------------------------------------------------------------------------


def vertices_xml(points: np.ndarray, nested: bool = True) -> str:
    inner = "".join(f'<Vertex x="{float(x)!r}" y="{float(y)!r}"/>' for x, y in points)
    return f"<Polygon>{inner}</Polygon>" if nested else inner


def gate_xml(shape: str, axes: tuple[str, ...], points: np.ndarray, negated: bool = False,
             nested: bool = True) -> str:
    names = "".join(f"<String>{escape(a)}</String>" for a in axes)  # '<PE-CY7-A>' is written &lt;PE-CY7-A&gt;
    attrs = f"xAxisName={quoteattr(axes[0])}" + (f" yAxisName={quoteattr(axes[1])}" if len(axes) > 1 else "") + \
        (' negated="1"' if negated else "")
    return (f"<PolygonGate><ParameterNames><StringArray>{names}</StringArray></ParameterNames>"
            f'<Graph smoothing="0"/><{shape} {attrs}>'
            f"{vertices_xml(points, nested)}</{shape}></PolygonGate>")


def population_xml(name: str, count: int, gate: str, children: str = "") -> str:
    return f'<Population name="{name}" count="{count}">{gate}{children}</Population>'


def table_xml(name: str) -> str:
    channels = np.arange(BINS + 1)
    pairs = ",".join(f"{c},{v!r}" for c, v in zip(channels, from_display(channels).tolist(), strict=True))
    return f'<Table name={quoteattr(name)} biexponentialDecades="4.5">{pairs}</Table>'


def workspace_xml(fcs: Path, sample_attrs: str, populations: str, *, matrices: str = "", tables: str = "",
                  parameters: str = "", total: int = 0, version: str = 'version="2.0" flowJoVersion="9.2"') -> str:
    sample = read_fcs(fcs)
    keywords = "".join(f'<Keyword name="$P{i + 1}N" value="{c}"/>' for i, c in enumerate(sample.channels))
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE Workspace>\n<Workspace {version}>'
            f"<CompensationMatrices>{matrices}</CompensationMatrices><CalibrationTables>{tables}</CalibrationTables>"
            f'<SampleList><Sample name="{fcs.name}" sampleID="1" {sample_attrs}>'
            f'<Keywords><Keyword name="$FIL" value="{fcs.name}"/>{keywords}</Keywords>{parameters}'
            f'<SampleNode name="{fcs.name}" count="{total}" sampleID="1">{populations}</SampleNode>'
            "</Sample></SampleList></Workspace>")


def matrix_xml(name: str, channels: tuple[str, ...], spill: np.ndarray, prefix: str, suffix: str) -> str:
    rows = "".join(f'<Channel name="{c}">' + "".join(f'<ChannelValue name="{d}" value="{float(spill[i, j])!r}"/>'
                                                      for j, d in enumerate(channels)) + "</Channel>"
                   for i, c in enumerate(channels))
    return (f"<CompensationMatrix name={quoteattr(name)} prefix={quoteattr(prefix)} suffix={quoteattr(suffix)}>"
            f"{rows}</CompensationMatrix>")


# --- the LSR workspace ---------------------------------------------------------------------------


def lsr_workspace(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    """Nested populations on 100715.fcs under a lab matrix (prefix '<', suffix '>', names upper
    case as FlowJo 9 writes them): a polygon on FSC-A/SSC-A, a rectangle, a range on a
    compensated channel, a polygon and an ellipse on log axes (calibration tables, one found by
    its name, one by calibrationIndex), a rotated ellipse on linear axes, a negated rectangle."""
    sample = read_fcs(LSR)
    raw = {c: sample.events[:, i].astype(np.float64) for i, c in enumerate(sample.channels)}
    detectors = sample.spillover.channels
    spill = sample.spillover.matrix.copy()
    spill[detectors.index("B515-A"), detectors.index("G560-A")] = 0.25  # the lab's own matrix, not the file's
    comp = np.column_stack([raw[d] for d in detectors]) @ np.linalg.inv(spill)
    comped = {d: comp[:, i] for i, d in enumerate(detectors)}
    fsc, ssc, fsch = raw["FSC-A"], raw["SSC-A"], raw["FSC-H"]
    expected: dict[str, int] = {}

    cells_v = np.array([[30000, 20], [90000, 40], [100000, 1500], [60000, 3000], [28000, 1200]], dtype=float)
    cells = inside_polygon(cells_v, fsc, ssc)
    singlets_lo, singlets_hi = (30000.0, 28000.0), (90000.0, 80000.0)
    singlets = cells & (fsc >= 30000) & (fsc < 90000) & (fsch >= 28000) & (fsch < 80000)
    g780_pos = singlets & (comped["G780-A"] >= 3000) & (comped["G780-A"] < 60000)
    mono_display = np.array([[2600, 100], [3600, 100], [3600, 1800], [2900, 2500]], dtype=float)
    mono_v = np.column_stack([from_display(mono_display[:, 0]), mono_display[:, 1]])  # scale values
    mono = singlets & inside_polygon(mono_display, log_display(comped["G780-A"]), ssc)
    ell_lin_in = singlets & inside_ellipse((60000.0, 700.0), 15000.0, 500.0, math.radians(30), fsc, ssc)
    ell_log = ((2700.0, 2900.0), 300.0, 150.0, math.radians(-40))
    ends = ellipse_ends(*ell_log)
    ell_log_v = np.column_stack([from_display(ends[:, 0]), from_display(ends[:, 1])])
    ell_log_in = singlets & inside_ellipse(*ell_log, log_display(comped["B515-A"]), log_display(comped["G560-A"]))
    debris = ~((fsc >= 0) & (fsc < 25000) & (ssc >= -1000) & (ssc < 5000))
    ends_lin = ellipse_ends((60000.0, 700.0), 15000.0, 500.0, math.radians(30))

    children = "".join([
        population_xml("G780+", int(g780_pos.sum()),
                       gate_xml("Range", ("<G780-A>",), np.array([[60000.0, 0.0], [3000.0, 0.0]]))),
        population_xml("Mono-like", int(mono.sum()), gate_xml("Polygon", ("<G780-A>", "SSC-A"), mono_v)),
        population_xml("Round", int(ell_lin_in.sum()), gate_xml("Ellipse", ("FSC-A", "SSC-A"), ends_lin)),
        population_xml("Log ellipse", int(ell_log_in.sum()),
                       gate_xml("Ellipse", ("<B515-A>", "<G560-A>"), ell_log_v, nested=False)),
    ])
    rect = np.array([[singlets_lo[0], singlets_lo[1]], [singlets_hi[0], singlets_lo[1]],
                     [singlets_hi[0], singlets_hi[1]], [singlets_lo[0], singlets_hi[1]]])
    populations = population_xml(
        "Cells", int(cells.sum()), gate_xml("Polygon", ("FSC-A", "SSC-A"), cells_v),
        population_xml("Singlets", int(singlets.sum()), gate_xml("PolyRect", ("FSC-A", "FSC-H"), rect), children))
    populations += population_xml("Not debris", int(debris.sum()), gate_xml(
        "PolyRect", ("FSC-A", "SSC-A"), np.array([[0.0, -1000], [25000, -1000], [25000, 5000], [0, 5000]]),
        negated=True))
    expected.update({"Cells": int(cells.sum()), "Cells/Singlets": int(singlets.sum()),
                     "Cells/Singlets/G780+": int(g780_pos.sum()), "Cells/Singlets/Mono-like": int(mono.sum()),
                     "Cells/Singlets/Round": int(ell_lin_in.sum()),
                     "Cells/Singlets/Log ellipse": int(ell_log_in.sum()), "Not debris": int(debris.sum())})
    parameters = "".join(f'<Parameter name="{c}" log="{1 if c in ("G780-A", "B515-A", "G560-A") else 0}" '
                         f'range="262144" highValue="262144" calibrationIndex="{3 if c == "G560-A" else 0}"/>'
                         for c in sample.channels)
    tables = table_xml("Lab matrix <G780-A>") + table_xml("Lab matrix <B515-A>") + table_xml("Generic 3")
    matrices = matrix_xml("Other", ("X-A",), np.eye(1), "Comp-", "") + \
        matrix_xml("Lab matrix", tuple(d.upper() for d in detectors), spill, "<", ">")
    path = tmp_path / "lab-flowjo9.xml"
    path.write_text(workspace_xml(LSR, 'compensationID="2"', populations, matrices=matrices, tables=tables,
                                  parameters=parameters, total=sample.n_events))
    return path, expected


def test_a_flowjo9_workspace_reproduces_independent_counts(tmp_path: Path) -> None:
    path, expected = lsr_workspace(tmp_path)
    assert path.read_text().count("<!DOCTYPE Workspace>") == 1
    workspace = read_workspace(path)
    sample = workspace.sample_for("100715.fcs")
    masks = evaluate(sample.document, read_fcs(LSR))
    counts = {k: int(v.sum()) for k, v in masks.items()}
    assert counts == expected == sample.counts and sample.total == 65016
    assert all(0 < c < 65016 for c in counts.values()), counts  # every gate holds some events, not all
    kinds = {p.name: type(p.gate).__name__ for p in sample.document.populations}
    assert kinds == {"Cells": "PolygonGate", "Cells/Singlets": "RectangleGate", "Cells/Singlets/G780+": "IntervalGate",
                     "Cells/Singlets/Mono-like": "PolygonGate", "Cells/Singlets/Round": "EllipseGate",
                     "Cells/Singlets/Log ellipse": "EllipseGate", "Not debris": "OutsideGate"}
    dims = sample.document.dimensions
    compensated = {d.channel for d in dims.values() if d.compensation.startswith("flowjo9:")}
    assert compensated == {"<G780-A>", "<B515-A>", "<G560-A>"}  # the matrix's names, the FCS file's case


def test_the_command_line_shows_flowjo9_counts(tmp_path: Path) -> None:
    path, expected = lsr_workspace(tmp_path)
    result = CliRunner().invoke(app, ["gate", str(LSR), "--strategy", str(path), "--json"])
    assert result.exit_code == 0, result.output
    populations = json.loads(result.output)["populations"]
    assert {p["path"]: (p["count"], p["flowjo_count"]) for p in populations} == \
        {k: (v, v) for k, v in expected.items()}


def test_acquisition_defined_compensation_and_channel_case(tmp_path: Path) -> None:
    """compensationID -1: the FCS file's own $SPILLOVER, parameters written '<MCHERRY-A>' for the
    file's 'mCherry-A' (FlowJo 9 upper-cases them); a polygon on linear axes nested directly in
    the shape (no inner <Polygon>)."""
    sample = read_fcs(FACS)
    raw = {c: sample.events[:, i].astype(np.float64) for i, c in enumerate(sample.channels)}
    spill = sample.spillover
    comp = np.column_stack([raw[c] for c in spill.channels]) @ np.linalg.inv(spill.matrix)
    gfp, cherry = comp[:, spill.channels.index("GFP-A")], comp[:, spill.channels.index("mCherry-A")]
    vertices = np.array([[0.0, -200], [4000, -200], [4000, 100], [0, 300]])
    inside = inside_polygon(vertices, gfp, cherry)
    gated = raw["SSC-A"] >= 5000
    ssc_range = gate_xml("Range", ("SSC-A",), np.array([[5000.0, 0], [1e9, 0]]))
    polygon = gate_xml("Polygon", ("<GFP-A>", "<MCHERRY-A>"), vertices, nested=False)
    populations = population_xml("SSC", int(gated.sum()), ssc_range,
                                 population_xml("GFP", int((gated & inside).sum()), polygon))
    path = tmp_path / "facs.xml"
    path.write_text(workspace_xml(FACS, 'compensationID="-1"', populations, total=sample.n_events))
    read = read_workspace(path).sample_for(FACS.name)
    counts = {k: int(v.sum()) for k, v in evaluate(read.document, sample).items()}
    assert counts == read.counts == {"SSC": int(gated.sum()), "SSC/GFP": int((gated & inside).sum())}
    assert 0 < counts["SSC/GFP"] < counts["SSC"]
    assert {d.channel for d in read.document.dimensions.values()} == {"SSC-A", "GFP-A", "mCherry-A"}


def test_ellipse_from_its_axes_against_a_direct_computation() -> None:
    rng = np.random.default_rng(29)
    for _ in range(50):
        centre = tuple(rng.uniform(-100, 100, 2))
        a, b, angle = rng.uniform(1, 50), rng.uniform(1, 50), rng.uniform(-math.pi, math.pi)
        ends = ellipse_ends(centre, a, b, angle)[rng.permutation(4)]  # in any order
        found_centre, covariance = ellipse_from_axes(ends)
        points = rng.uniform(-160, 160, (4000, 2))
        d = points - found_centre
        mine = np.einsum("ij,jk,ik->i", d, np.linalg.inv(covariance), d) <= 1
        direct = inside_ellipse(centre, a, b, angle, points[:, 0], points[:, 1])
        margin = np.abs(np.einsum("ij,jk,ik->i", d, np.linalg.inv(covariance), d) - 1) > 1e-9
        assert np.array_equal(mine[margin], direct[margin]) and direct.any()
    bent = np.array([[0.0, 0], [10, 0], [5, 5], [6, -5]])  # the two segments do not share a midpoint
    assert ellipse_from_axes(bent) == (None, None)


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t.replace("<!DOCTYPE Workspace>", '<!DOCTYPE Workspace [<!ENTITY e "x">]>'), "internal subset"),
    (lambda t: t.replace("<!DOCTYPE Workspace>", '<!DOCTYPE Workspace SYSTEM "http://x/w.dtd">'), "external DTD"),
    (lambda t: t.replace('flowJoVersion="9.2"', 'flowJoVersion="8.8.6"'), r"written by FlowJo 8\.8\.6"),
    (lambda t: t.replace('version="2.0"', 'version="3.0"'), r"version 3\.0 \(FlowJo 9\.7\.2 or later"),
    (lambda t: t.replace("<PolygonGate>", '<BooleanGate specification="G0"><GatePaths/></BooleanGate><X>', 1)
     .replace("</PolygonGate>", "</X>", 1), r"<BooleanGate>"),
    (lambda t: t.replace("<Polygon xAxisName", "<Spline xAxisName", 1).replace("</Polygon></Polygon>",
                                                                              "</Polygon></Spline>", 1),
     r"found <Spline>"),
    (lambda t: t.replace('calibrationIndex="3"', 'calibrationIndex="0"'),
     r"an ellipse on '<G560-A>', a log axis without a calibration table"),
    (lambda t: t.replace('compensationID="2"', 'compensationID="7"'), r"compensationID='7' names no"),
])
def test_what_is_not_read_is_refused_by_name(tmp_path: Path, change, message: str) -> None:
    path, _ = lsr_workspace(tmp_path)
    path.write_text(change(path.read_text()))
    with pytest.raises(GatingError, match=message) as refused:
        read_workspace(path)
    assert str(path) in str(refused.value) and "\n" not in str(refused.value)


def test_an_ellipse_whose_vertices_are_no_axes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bent.xml"
    bent = np.array([[50000.0, 200], [70000, 200], [60000, 900], [61000, 100]])
    path.write_text(workspace_xml(LSR, "", population_xml("E", 1, gate_xml("Ellipse", ("FSC-A", "SSC-A"), bent))))
    with pytest.raises(GatingError, match=r"FlowJo 9 <Ellipse>: population 'E': the 4 vertices are not the ends"):
        read_workspace(path)


def test_a_flowjo9_population_as_an_override_is_not_shown_in_run_wsp(tmp_path: Path) -> None:
    """A FlowJo 9 sample has no FlowJo 10 <Sample> to copy into run.wsp: the tube is left out of
    it with the reason (scoring flags NOT_IN_WORKSPACE), never written as FlowJo 9 XML."""
    from types import SimpleNamespace

    from assaykit.interop import WorkspaceGate, flowjo_sample_bytes

    path, _ = lsr_workspace(tmp_path)
    sample = read_workspace(path).sample_for("100715.fcs")
    assert sample.xml == b""
    gate = WorkspaceGate(dims=("FSC-A", "SSC-A"), document=sample.document, population="Cells",
                         source=f"{path.name}: {sample.name}: Cells", sample_xml=sample.xml)
    assert int(gate.apply(SimpleNamespace(sample=read_fcs(LSR))).sum()) == sample.counts["Cells"]
    with pytest.raises(GatingError, match=r"comes from a FlowJo 9 workspace, whose sample FlowJo 10 cannot read"):
        flowjo_sample_bytes(SimpleNamespace(gates={"Monocytes": gate}))


def test_compensation_on_the_sample_node_and_tables_split_by_lines(tmp_path: Path) -> None:
    """compensationID read from <SampleNode> when <Sample> has none; a calibration table whose
    pairs are separated by newlines and spaces, and shapes without xAxisName/yAxisName (their
    parameters from <ParameterNames>), read the same."""
    import re

    path, expected = lsr_workspace(tmp_path)
    text = path.read_text().replace(' compensationID="2"', "", 1)
    text, dropped = re.subn(r' [xy]AxisName="[^"]*"', "", text)
    assert dropped == 13
    text = text.replace('count="65016" sampleID="1">', 'count="65016" sampleID="1" compensationID="2">', 1)
    start = text.index('<Table name="Lab matrix &lt;G780-A&gt;"')
    end = text.index("</Table>", start)
    head, pairs = text[start:end].split(">", 1)
    text = text[:start] + head + ">\n" + pairs.replace(",", ", ").replace(", ", ",\n", 7) + text[end:]
    path.write_text(text)
    sample = read_workspace(path).sample_for("100715.fcs")
    assert {k: int(v.sum()) for k, v in evaluate(sample.document, read_fcs(LSR)).items()} == expected


def test_compare_takes_a_flowjo9_workspace(simulated_run: Path, tmp_path: Path) -> None:
    """`assaykit compare OUT --workspace LAB.xml` with a FlowJo 9 workspace: per tube a polygon
    'Monocytes' inside a 'Cells' rectangle; each row's manual count and F1 equal an independent
    computation (the ray test above)."""
    import csv
    import shutil

    from assaykit.gating import apply_strategy, load_strategy
    from assaykit.scoring import score_run
    from tests.scoring.test_overrides import monocyte_box

    run = Path(shutil.copytree(simulated_run, tmp_path / "run"))
    out = score_run(run, out=tmp_path / "out", jobs=1).out_dir
    with (out / "samples.csv").open(newline="") as handle:
        files = sorted(r["file"] for r in csv.DictReader(handle) if r["role"] == "sample")[:2]
    samples, expected = "", {}
    for i, name in enumerate(files, start=1):
        (x0, y0), (x1, y1) = monocyte_box(run / name)
        hexagon = np.array([[x0, (y0 + y1) / 2], [(2 * x0 + x1) / 3, y0], [(x0 + 2 * x1) / 3, y0],
                            [x1, (y0 + y1) / 2], [(x0 + 2 * x1) / 3, y1], [(2 * x0 + x1) / 3, y1]])
        cells_rect = np.array([[1.0, 1.0], [250000, 1.0], [250000, 250000], [1.0, 250000]])
        monocytes = population_xml("Monocytes", -1, gate_xml("Polygon", ("FSC-A", "SSC-A"), hexagon))
        populations = population_xml("Cells", -1, gate_xml("PolyRect", ("FSC-A", "SSC-A"), cells_rect), monocytes)
        samples += (f'<Sample name="{name}" sampleID="{i}"><Keywords><Keyword name="$FIL" value="{name}"/></Keywords>'
                    f'<SampleNode name="{name}" count="-1" sampleID="{i}">{populations}</SampleNode></Sample>')
        sample = read_fcs(run / name)
        fsc, ssc = (sample.events[:, sample.channels.index(c)].astype(np.float64) for c in ("FSC-A", "SSC-A"))
        manual = inside_polygon(hexagon, fsc, ssc) & (fsc >= 1) & (fsc < 250000) & (ssc >= 1) & (ssc < 250000)
        ours = apply_strategy(sample, load_strategy(None)).masks["monocytes"]
        expected[name] = (int(manual.sum()), 2 * (ours & manual).sum() / (ours.sum() + manual.sum()))
    lab = tmp_path / "lab.xml"
    lab.write_text('<?xml version="1.0"?>\n<!DOCTYPE Workspace>\n<Workspace version="2.0" flowJoVersion="9.2">'
                   f"<SampleList>{samples}</SampleList></Workspace>")
    result = CliRunner().invoke(app, ["compare", str(out), "--workspace", str(lab), "--out", str(tmp_path / "agr")])
    assert result.exit_code == 0, result.output
    with (tmp_path / "agr" / "agreement.csv").open(newline="") as handle:
        rows = {r["file"]: r for r in csv.DictReader(handle)}
    for name, (count, f1) in expected.items():
        assert int(rows[name]["manual_count"]) == count > 0
        assert float(rows[name]["f1"]) == pytest.approx(f1, rel=1e-6) and 0.5 < f1 < 1


def test_the_lab_matrix_of_a_flowjo9_workspace_as_compensation(tmp_path: Path) -> None:
    """`--compensation LAB.xml` (and run.yaml `compensation:`) reads the FlowJo 9 sample's
    <CompensationMatrix> (by compensationID), channels named as the FCS file names them."""
    from assaykit.fcs.compensation import read_compensation

    path, _ = lsr_workspace(tmp_path)
    sample = read_fcs(LSR)
    lab = sample.spillover.matrix.copy()
    detectors = sample.spillover.channels
    lab[detectors.index("B515-A"), detectors.index("G560-A")] = 0.25
    spill = read_compensation(path, "100715.fcs")
    assert spill.channels == detectors and spill.keyword == path.name
    np.testing.assert_array_equal(spill.matrix, lab)
    path.write_text(path.read_text().replace('compensationID="2"', 'compensationID="-1"'))
    with pytest.raises(GatingError, match="gives no sample a compensation matrix of its own"):
        read_compensation(path, "100715.fcs")


def _first_vertex_x(text: str, new: str) -> str:
    found = re.search(r'<Vertex x="([^"]+)"', text)
    assert found is not None
    return text[:found.start(1)] + new + text[found.end(1):]


@pytest.mark.parametrize("written", ["1_000", "\u0661\u0662", "infinity", "0x10", "1e999", " 1 000"])
def test_a_vertex_not_written_as_an_xml_number_is_refused(tmp_path: Path, written: str) -> None:
    # Python's float() read x="1_000" as 1000 and Arabic-Indic digits as 12: not XML numbers
    path, _ = lsr_workspace(tmp_path)
    path.write_text(_first_vertex_x(path.read_text(), written), encoding="utf-8")
    with pytest.raises(GatingError, match=r"<Vertex>: x=.* is not a finite number") as refused:
        read_workspace(path)
    assert str(path) in str(refused.value)


@pytest.mark.parametrize("written", ["\t1.5E2 ", "+150", "150.", ".15e3"])
def test_xml_numbers_are_read(tmp_path: Path, written: str) -> None:
    from assaykit._io.xmlnumbers import xml_double

    assert xml_double(written) == 150.0


@pytest.mark.parametrize("written", ["99999999999999999999999", "1_000", "1e3", "-2"])
def test_a_count_beyond_any_tube_is_refused(tmp_path: Path, written: str) -> None:
    # count="99999999999999999999999" overran the console table's events column
    path, _ = lsr_workspace(tmp_path)
    text = path.read_text()
    found = re.search(r'<Population name="[^"]*" count="(\d+)"', text)
    assert found is not None
    path.write_text(text[:found.start(1)] + written + text[found.end(1):])
    with pytest.raises(GatingError, match=r"count=.* is not a whole number of events from -1 \(none stored\) to "
                                          r"1,000,000,000,000") as refused:
        read_workspace(path)
    assert "\n" not in str(refused.value)


def test_the_console_columns_fit_the_largest_count(tmp_path: Path) -> None:
    path, _ = lsr_workspace(tmp_path)
    text = path.read_text()
    found = re.search(r'<Population name="[^"]*" count="(\d+)"', text)
    assert found is not None
    path.write_text(text[:found.start(1)] + "999999999999" + text[found.end(1):])
    shown = CliRunner().invoke(app, ["gate", str(LSR), "--strategy", str(path)])
    assert shown.exit_code == 0, shown.output
    rows = [line for line in shown.output.splitlines() if "999,999,999,999" in line]
    assert len(rows) == 1
    header = next(line for line in shown.output.splitlines() if line.startswith("  gate "))
    # the FlowJo column's right edge is the header's: the count does not push the row out of line
    assert rows[0].index("999,999,999,999") + len("999,999,999,999") == header.index("FlowJo") + len("FlowJo")
