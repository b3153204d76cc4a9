"""GatingML export (issue 15, point 3): the gates fitted on a file, written as GatingML 2.0 and
read back, hold exactly the events assaykit's gates held: every population, every instrument
style and specimen, with events at the top of scale and NaN values removed first; every gate
type. FlowKit (the `bench` extra) reading the same document agrees too, where it is installed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from assaykit import read_fcs
from assaykit.cli import app
from assaykit.errors import GatingError
from assaykit.fcs import read_compensation
from assaykit.gating import apply_strategy, load_strategy
from assaykit.interop import evaluate, gatingml_bytes, read_gatingml
from assaykit.simulate import RunSpec, write_run


def _tube(folder: Path, style: str, specimen: str = "whole_blood", seed: int = 5) -> tuple[object, object]:
    run = write_run(folder, RunSpec(patients=1, conditions=("unstimulated",), events=20000, seed=seed, style=style,
                                    specimen=specimen))
    path = sorted(run.glob("*A1*.fcs"))[0]
    spill = read_compensation(run / "compensation.csv", path.name) if (run / "compensation.csv").exists() else "file"
    return read_fcs(path), spill


def _round_trip(sample: object, result: object, tmp_path: Path) -> dict[str, np.ndarray]:
    document = tmp_path / "gates.xml"
    document.write_bytes(gatingml_bytes(result))
    return evaluate(read_gatingml(document), sample)


@pytest.mark.parametrize(("style", "specimen"), [("canto", "whole_blood"), ("navios", "whole_blood"),
                                                 ("calibur", "whole_blood"), ("lsr", "pbmc"),
                                                 ("canto", "lyse_no_wash")])
def test_fitted_gates_round_trip_exactly(tmp_path: Path, style: str, specimen: str) -> None:
    sample, spill = _tube(tmp_path / "run", style, specimen)
    result = apply_strategy(sample, load_strategy(None), spill)
    masks = _round_trip(sample, result, tmp_path)
    for population in result.populations:
        assert population.count > 0
        assert np.array_equal(masks[population.name], result.masks[population.name]), population.name


def test_removed_events_stay_removed(tmp_path: Path) -> None:
    """NaN in one channel of some events and events at the top of scale: removed before gating by
    assaykit, left out by the exported first gate."""
    from dataclasses import replace

    sample, spill = _tube(tmp_path / "run", "canto")
    events = np.array(sample.events)
    events[::97, 0] = np.nan  # FSC-A
    events[5::89, 2] = np.inf
    column = sample.channels.index("SSC-A")
    raw = np.array(sample.raw)
    raw[7::53, column] = events[7::53, column] = sample.channel_ranges()[column]
    tampered = replace(sample, events=events, raw=raw)
    result = apply_strategy(tampered, load_strategy(None), spill)
    assert result.nonfinite > 0 and result.removed > 0
    masks = _round_trip(tampered, result, tmp_path)
    for population in result.populations:
        assert np.array_equal(masks[population.name], result.masks[population.name]), population.name


EVERY_GATE = """
name: every-gate
markers:
  FSC-A: {aliases: [FSC-A], transform: linear}
  FSC-H: {aliases: [FSC-H], transform: linear}
  SSC-A: {aliases: [SSC-A], transform: {kind: log, m: 4.5}}
  CD14: {aliases: [PerCP-Cy5-5-A], transform: {kind: asinh, m: 4.5}}
  HLA-DR: {aliases: [PE-A], transform: {kind: logicle, m: 4.5, w: 0.5}}
populations:
  - {name: cells, parent: root, gate: {type: interval, dims: [FSC-A], low: 20000, high: 240000}}
  - {name: singlets, parent: cells, gate: {type: ratio, dims: [FSC-A, FSC-H], low: 0.6, high: 1.1}}
  - {name: box, parent: singlets, gate: {type: rectangle, dims: [CD14, SSC-A], low: [100, 2000], high: [null, 200000]}}
  - {name: blob, parent: singlets, gate: {type: ellipse, dims: [CD14, HLA-DR], center: [3000, 3000],
     covariance: [[0.01, 0.002], [0.002, 0.02]], distance: 2.5}}
  - {name: upper, parent: singlets, gate: {type: quadrant, dims: [CD14, HLA-DR], split: [1000, 500], quadrant: "+-"}}
  - {name: poly, parent: singlets, gate: {type: polygon, dims: [CD14, SSC-A],
     vertices: [[200, 3000], [50000, 3000], [50000, 100000], [200, 100000]]}}
  - {name: either, parent: singlets, gate: {op: or, populations: [box, upper]}}
  - {name: neither, parent: singlets, gate: {op: not, populations: [either]}}
readout: {population: box, marker: HLA-DR, statistic: median}
"""


def test_every_gate_type_round_trips(tmp_path: Path) -> None:
    sample, spill = _tube(tmp_path / "run", "canto")
    path = tmp_path / "every.yaml"
    path.write_text(EVERY_GATE)
    result = apply_strategy(sample, load_strategy(path), spill)
    masks = _round_trip(sample, result, tmp_path)
    for population in result.populations:
        assert 0 < population.count < sample.n_events, population.name
        assert np.array_equal(masks[population.name], result.masks[population.name]), population.name


def test_a_gate_reaching_below_a_log_floor_is_refused(tmp_path: Path) -> None:
    sample, spill = _tube(tmp_path / "run", "canto")
    path = tmp_path / "floor.yaml"
    path.write_text(EVERY_GATE.replace("low: [100, 2000]", "low: [100, null]"))
    result = apply_strategy(sample, load_strategy(path), spill)
    with pytest.raises(GatingError, match="floor of the log axis of SSC-A"):
        gatingml_bytes(result)


def test_gate_command_writes_gatingml(tmp_path: Path) -> None:
    sample, _ = _tube(tmp_path / "run", "canto")
    out = tmp_path / "gates.xml"
    written = CliRunner().invoke(app, ["gate", str(sample.path), "--gatingml", str(out), "--membership",
                                       str(tmp_path / "ours.csv")])
    assert written.exit_code == 0, written.output
    again = CliRunner().invoke(app, ["gate", str(sample.path), "--strategy", str(out), "--membership",
                                     str(tmp_path / "theirs.csv")])
    assert again.exit_code == 0, again.output
    ours = np.loadtxt(tmp_path / "ours.csv", delimiter=",", skiprows=1)
    theirs = np.loadtxt(tmp_path / "theirs.csv", delimiter=",", skiprows=1)
    assert np.array_equal(ours, theirs[:, 1:])  # theirs starts with the assaykit-events gate


def test_flowkit_reads_the_export_identically(tmp_path: Path) -> None:
    flowkit = pytest.importorskip("flowkit", reason="FlowKit is in the bench extra, not a runtime dependency")
    sample, spill = _tube(tmp_path / "run", "canto")
    result = apply_strategy(sample, load_strategy(None), spill)
    document = tmp_path / "gates.xml"
    document.write_bytes(gatingml_bytes(result))
    strategy = flowkit.parse_gating_xml(str(document))
    fk_sample = flowkit.Sample(str(sample.path))
    results = strategy.gate_sample(fk_sample)
    for population in result.populations:
        theirs = np.asarray(results.get_gate_membership(population.name), dtype=bool)
        assert np.array_equal(theirs, result.masks[population.name]), population.name


def test_score_writes_every_tubes_gates(simulated_run: Path, tmp_path: Path) -> None:
    """gates/<tube>.xml for every gated tube, listed in the manifest; evaluated on its FCS file it
    gives the counts of samples.csv; `assaykit report` keeps the files byte for byte."""
    import csv
    import json

    from assaykit.report import build_reports
    from assaykit.scoring import score_run
    from assaykit.scoring.tables import verify_outputs

    out = score_run(simulated_run, out=tmp_path / "out", jobs=1).out_dir
    with (out / "samples.csv").open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["role"] != "beads"]
    assert rows and all(not r["error"] for r in rows)
    listed = json.loads((out / "manifest.json").read_text())["files"]
    gates = sorted(p.name for p in (out / "gates").iterdir())
    assert gates == sorted(f"{Path(r['file']).stem}.xml" for r in rows)
    for row in rows:
        name = f"gates/{Path(row['file']).stem}.xml"
        assert name in listed
        masks = evaluate(read_gatingml(out / name), read_fcs(simulated_run / row["file"]))
        assert int(masks["monocytes"].sum()) == int(row["monocytes"])
        assert int(masks["singlets"].sum()) == int(row["singlets"])
    before = {name: (out / name).read_bytes() for name in listed if name.startswith("gates/")}
    build_reports(out, jobs=1)
    assert {name: (out / name).read_bytes() for name in before} == before
    assert verify_outputs(out) == []


def test_xml_bytes_are_elementtrees_bytes() -> None:
    from xml.etree import ElementTree

    from assaykit.interop.export import GATING, element, register_namespaces, xml_bytes

    register_namespaces()
    root = ElementTree.Element(f"{{{GATING}}}Gating-ML")
    gate = element(root, f"{{{GATING}}}PolygonGate", g_id="Monocytes µ & <ü> \"q\" 'a'")
    element(gate, "plain", name="é\tb\nc", other="x")
    gate.text, gate.tail = "text & < > ü 𝔘", "tail"
    for declaration in (False, True):
        assert xml_bytes(root, declaration) == ElementTree.tostring(root, encoding="utf-8",
                                                                   xml_declaration=declaration)


def test_xml_serialiser_writes_elementtrees_bytes(tmp_path: Path) -> None:
    """export.xml_bytes against ElementTree.tostring: namespaced and plain tags and attributes,
    registered and unregistered namespaces, escapes in attributes and texts, tails, empty
    elements, and the two exports of real gated tubes."""
    from xml.etree import ElementTree

    from assaykit.interop import flowjo_sample_bytes
    from assaykit.interop.export import GATING, element, register_namespaces, xml_bytes

    register_namespaces()
    root = ElementTree.Element(f"{{{GATING}}}Gating-ML", {"version": "2.0"})
    child = element(root, f"{{{GATING}}}RectangleGate", g_id='a "b" <c> & d', g_parent_id="x\ty\nz\r")
    child.text = "text & <more> \"quoted\" 'single'"
    child.tail = "\n  tail > "
    ElementTree.SubElement(child, "{urn:example:unregistered}Thing", {"{urn:example:other}k": "v"})
    ElementTree.SubElement(root, "plain", {"é": "ü ✓"}).text = ""
    ElementTree.SubElement(root, "{http://www.w3.org/XML/1998/namespace}lang")
    ElementTree.indent(root)
    for declaration in (False, True):
        assert xml_bytes(root, declaration) == ElementTree.tostring(root, encoding="utf-8",
                                                                    xml_declaration=declaration)
    for style, specimen in (("canto", "whole_blood"), ("calibur", "pbmc")):
        sample, spill = _tube(tmp_path / style, style, specimen)
        result = apply_strategy(sample, load_strategy(), spill)
        for document in (gatingml_bytes(result), flowjo_sample_bytes(result)):
            parsed = ElementTree.fromstring(document)
            ElementTree.indent(parsed)
            assert xml_bytes(parsed) == ElementTree.tostring(parsed, encoding="utf-8")
