"""GatingML 2.0 import (issue 15, point 1): every gate of every document of the ISAC compliance
suite gives exactly the truth file's membership on data1.fcs; malformed or unsupported documents
are refused in one line naming the file and the element."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from assaykit import read_fcs
from assaykit.cli import app
from assaykit.errors import GatingError
from assaykit.interop import evaluate, read_gatingml

SUITE = Path(__file__).resolve().parents[2].parent / "shared" / "interop" / "gatingml-2.0-compliance"
DATA1 = Path(__file__).resolve().parents[2].parent / "shared" / "fcs-corpus" / "flowkit" / "data1.fcs"
DOCUMENTS = sorted(p.name for p in (SUITE / "gml").glob("*.xml")) if SUITE.is_dir() else []
TRUTH_NAME = {"ParRectangle1": "ParQuadRect"}  # the suite names this gate's truth file differently
NO_TRUTH = {"myEllipse2"}  # no truth file: checked against the half-axes its custom_info states


@pytest.fixture(scope="module")
def data1() -> object:
    if not DATA1.is_file() or not SUITE.is_dir():
        pytest.skip("../shared/interop and ../shared/fcs-corpus not beside the project")
    return read_fcs(DATA1)


def _truth(gate_id: str) -> np.ndarray:
    path = SUITE / "truth" / f"Results_{TRUTH_NAME.get(gate_id, gate_id)}.txt"
    return np.loadtxt(path, dtype=np.int64).astype(bool)


def test_the_suite_is_complete() -> None:
    if not SUITE.is_dir():
        pytest.skip("../shared/interop not beside the project")
    assert len(DOCUMENTS) == 47
    gate_ids = {g for name in DOCUMENTS for g in read_gatingml(SUITE / "gml" / name).gates}
    truths = {p.stem.removeprefix("Results_") for p in (SUITE / "truth").glob("*.txt")}
    covered = {TRUTH_NAME.get(g, g) for g in gate_ids}
    assert truths <= covered, truths - covered  # every truth file is checked by some document


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_gate_of_the_document_matches_the_truth(data1, document: str) -> None:
    masks = evaluate(read_gatingml(SUITE / "gml" / document), data1)
    assert masks
    for gate_id, mask in masks.items():
        assert mask.shape == (data1.n_events,) and mask.dtype == bool
        if gate_id in NO_TRUTH:
            continue
        truth = _truth(gate_id)
        assert np.array_equal(mask, truth), (gate_id, int((mask != truth).sum()), int(mask.sum()), int(truth.sum()))


def test_ellipse_without_truth_file_against_its_stated_axes(data1) -> None:
    """myEllipse2: custom_info states half-axes 37 and 30, rotated -45 degrees, at (40, 40); its
    covariance (1134.5, -234.5) has eigenvalues 37^2 and 30^2. An independent computation."""
    mask = evaluate(read_gatingml(SUITE / "gml" / "gml_ellipse2_gate.xml"), data1)["myEllipse2"]
    x = data1.events[:, data1.channels.index("FSC-H")] - 40.0
    y = data1.events[:, data1.channels.index("SSC-H")] - 40.0
    angle = math.radians(-45.0)
    u = x * math.cos(angle) + y * math.sin(angle)  # along the 37 axis
    v = -x * math.sin(angle) + y * math.cos(angle)
    inside = (u / 37.0) ** 2 + (v / 30.0) ** 2 <= 1.0
    edge = np.abs((u / 37.0) ** 2 + (v / 30.0) ** 2 - 1.0) < 1e-9  # rounding may differ exactly on the edge
    assert inside.sum() > 100
    assert np.array_equal(mask[~edge], inside[~edge])


def test_gate_command_writes_one_column_per_gate(data1, tmp_path: Path) -> None:
    out = tmp_path / "members.csv"
    result = CliRunner().invoke(app, ["gate", str(DATA1), "--strategy", str(SUITE / "gml" / "gml_all_gates.xml"),
                                      "--membership", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(newline="") as handle:
        rows = list(csv.reader(handle))
    header, table = rows[0], np.asarray(rows[1:], dtype=np.int64).astype(bool)
    assert table.shape == (data1.n_events, len(header)) and len(header) == 49
    for i, gate_id in enumerate(header):
        if gate_id not in NO_TRUTH:
            assert np.array_equal(table[:, i], _truth(gate_id)), gate_id
    as_json = CliRunner().invoke(app, ["gate", str(DATA1), "--strategy", str(SUITE / "gml" / "gml_rect1_gate.xml"),
                                       "--json"])
    assert as_json.exit_code == 0 and '"count": ' + str(int(_truth("Rectangle1").sum())) in as_json.output
    refused = CliRunner().invoke(app, ["gate", str(DATA1), "--strategy", str(SUITE / "gml" / "gml_rect1_gate.xml"),
                                       "--plot", str(tmp_path / "x.png")])
    assert refused.exit_code == 2 and "--plot: not with a GatingML document" in refused.output


HEAD = ('<gating:Gating-ML xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating" '
        'xmlns:transforms="http://www.isac-net.org/std/Gating-ML/v2.0/transformations" '
        'xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes">')
DIM = ('<gating:dimension gating:compensation-ref="uncompensated" gating:min="1"{extra}>'
       '<data-type:fcs-dimension data-type:name="{name}"/></gating:dimension>')


@pytest.mark.parametrize(("body", "message"), [
    ('<gating:CircleGate gating:id="C1"/>', "<CircleGate C1>: unsupported gate type 'CircleGate'"),
    ('<transforms:transformation transforms:id="t1"><transforms:fbiex transforms:T="1"/></transforms:transformation>',
     "unsupported transformation 'fbiex'"),
    ('<gating:RectangleGate gating:id="R1">' + DIM.format(name="FL1-H", extra=' gating:transformation-ref="nope"')
     + '</gating:RectangleGate>', "transformation-ref 'nope' names no transformation"),
    (f'<gating:RectangleGate gating:id="R1" gating:parent_id="P">{DIM.format(name="FL1-H", extra="")}'
     '</gating:RectangleGate>', "refers to gate 'P'"),
    ('<gating:BooleanGate gating:id="B1"><gating:and><gating:gateReference gating:ref="B1"/>'
     '<gating:gateReference gating:ref="B1"/></gating:and></gating:BooleanGate>', "cycle"),
    (f'<gating:RectangleGate gating:id="R1">{DIM.format(name="FL1-H", extra="").replace("1", "x", 1)}'
     '</gating:RectangleGate>', "min='x' is not a finite number"),
    ('<other xmlns="urn:x"/>', "unsupported element"),
])
def test_unsupported_or_malformed_documents_are_refused(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "doc.xml"
    path.write_text(f'<?xml version="1.0"?>{HEAD}{body}</gating:Gating-ML>')
    with pytest.raises(GatingError) as refused:
        read_gatingml(path)
    assert message in str(refused.value) and str(path) in str(refused.value)
    assert "\n" not in str(refused.value)


def test_entities_and_foreign_roots_are_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xml"
    bomb.write_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
                    f'{HEAD}<gating:RectangleGate gating:id="&b;"/></gating:Gating-ML>')
    with pytest.raises(GatingError, match="not a readable XML document"):
        read_gatingml(bomb)
    foreign = tmp_path / "foreign.xml"
    foreign.write_text('<?xml version="1.0"?><Workspace/>')
    with pytest.raises(GatingError, match=r"not a GatingML 2\.0 document"):
        read_gatingml(foreign)


def test_a_channel_the_file_lacks_is_named(data1, tmp_path: Path) -> None:
    path = tmp_path / "doc.xml"
    path.write_text(f'{HEAD}<gating:RectangleGate gating:id="R1">{DIM.format(name="PE-A", extra="")}'
                    '</gating:RectangleGate></gating:Gating-ML>')
    with pytest.raises(GatingError, match=r"names channel .PE-A., which data1\.fcs does not have"):
        evaluate(read_gatingml(path), data1)


def _below(value: float) -> float:
    return float(np.nextafter(value, -np.inf))


EQUIVALENT = f"""
name: compliance-equivalent
markers:  # linear with t = 1: display coordinates are the scale values, as in the GatingML documents
  SSC: {{aliases: [SSC-H], transform: {{kind: linear, t: 1}}}}
  FL1: {{aliases: [FL1-H], transform: {{kind: linear, t: 1}}}}
  FL2: {{aliases: [FL2-H], transform: {{kind: linear, t: 1}}}}
  FL3: {{aliases: [FL3-H], transform: {{kind: linear, t: 1}}}}
  FL4: {{aliases: [FL4-H], transform: {{kind: linear, t: 1}}}}
populations:
  - {{name: Rectangle1, gate: {{type: rectangle, dims: [SSC, FL1], low: [20, 70],
      high: [{_below(80.0)!r}, {_below(200.0)!r}]}}}}
  - {{name: Polygon1, gate: {{type: polygon, dims: [FL2, FL3], vertices: [[5, 5], [500, 5], [500, 500]]}}}}
  - {{name: Ellipse1, gate: {{type: ellipse, dims: [FL3, FL4], center: [12.99701, 16.22941],
      covariance: [[62.5, 37.5], [37.5, 62.5]], distance: 1}}}}
  - {{name: FL2P-FL4P, gate: {{type: quadrant, dims: [FL2, FL4], split: [12.14748, 14.22417], quadrant: "++"}}}}
  - {{name: FL2N-FL4N, gate: {{type: quadrant, dims: [FL2, FL4], split: [12.14748, 14.22417], quadrant: "--"}}}}
  - {{name: either, gate: {{op: or, populations: [Rectangle1, Polygon1]}}}}
readout: {{population: Rectangle1, marker: FL1}}
"""


def test_gatingml_gates_and_the_same_strategy_gates_agree(data1, tmp_path: Path) -> None:
    """One gate model: the compliance suite's rectangle, polygon, ellipse and quadrants, written as
    a strategy file (the same numbers; GatingML's exclusive upper bound as the float below it)
    and applied by apply_strategy to data1.fcs, hold the truth files' events; the gates read from
    the documents are the strategy's gates (same class and geometry). apply_strategy first removes
    the 23 events at the top of scale on SSC-H: they are left out of the comparison. The file's
    stain labels ($PnS: 'CD8 B PE' and 'CD8 APC' on two channels) are set aside so that the
    strategy names the channels as the documents do."""
    from dataclasses import replace

    from assaykit.gating import apply_strategy, load_strategy

    path = tmp_path / "equivalent.yaml"
    path.write_text(EQUIVALENT)
    result = apply_strategy(replace(data1, markers=("",) * len(data1.channels)), load_strategy(path))
    column = data1.channels.index("SSC-H")
    kept = data1.raw[:, column] < data1.channel_ranges()[column] - 1
    assert result.removed == int((~kept).sum()) == 23
    truths = {name: _truth(name) for name in ("Rectangle1", "Polygon1", "Ellipse1", "FL2P-FL4P", "FL2N-FL4N")}
    truths["either"] = truths["Rectangle1"] | truths["Polygon1"]
    for name, truth in truths.items():
        assert 0 < truth.sum() < data1.n_events, name
        assert np.array_equal(result.masks[name], truth & kept), name
    documents = {"Rectangle1": "gml_rect1_gate.xml", "Polygon1": "gml_poly1_gate.xml",
                 "Ellipse1": "gml_ellipse1_gate.xml", "FL2P-FL4P": "gml_quadrant1_gate.xml",
                 "FL2N-FL4N": "gml_quadrant1_gate.xml"}
    for name, document in documents.items():
        read = read_gatingml(SUITE / "gml" / document)
        theirs, ours = read.gates[name].gate, result.gates[name]
        assert np.array_equal(evaluate(read, data1)[name] & kept, result.masks[name]), name
        if name in ("Rectangle1", "Polygon1"):
            assert type(theirs) is type(ours) and {**theirs.to_dict(), "dims": None} == {**ours.to_dict(), "dims": None}
            assert [read.dimensions[k].channel for k in theirs.dims] == [result.channels[m] for m in ours.dims]
