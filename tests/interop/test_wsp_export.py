"""FlowJo workspace export (issue 15, point 3): run.wsp holds each tube's fitted gates, read back
(assaykit's FlowJo reader, and FlowKit where it is installed) they hold exactly the events
assaykit's gates held, and FlowJo's stored counts are assaykit's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assaykit import read_fcs
from assaykit.gating import apply_strategy, load_strategy
from assaykit.interop import WorkspaceEntry, evaluate, flowjo_sample_bytes, read_workspace, workspace_bytes
from tests.interop.test_export import EVERY_GATE, _tube

NO_BOOLEANS = EVERY_GATE.split("  - {name: either")[0] + "readout: {population: box, marker: HLA-DR}\n"


def _read_back(sample: object, result: object, tmp_path: Path) -> tuple[dict[str, np.ndarray], object]:
    """The workspace of one tube, written and read back: each population's mask by its own name,
    and the workspace sample."""
    path = tmp_path / "run.wsp"
    path.write_bytes(workspace_bytes([WorkspaceEntry(sample.path.resolve().as_uri(), sample.path.name,
                                                     flowjo_sample_bytes(result))]))
    found = read_workspace(path).sample_for(sample.path.name)
    masks = evaluate(found.document, sample)
    return {key.rsplit("/", 1)[-1]: mask for key, mask in masks.items()}, found


def _assert_same(result: object, masks: dict[str, np.ndarray], found: object) -> None:
    stored = {key.rsplit("/", 1)[-1]: count for key, count in found.counts.items()}
    for population in result.populations:
        assert np.array_equal(masks[population.name], result.masks[population.name]), population.name
        assert stored[population.name] == population.count, population.name


@pytest.mark.parametrize(("style", "specimen"), [("canto", "whole_blood"), ("navios", "whole_blood"),
                                                 ("calibur", "whole_blood"), ("lsr", "pbmc"),
                                                 ("canto", "lyse_no_wash")])
def test_fitted_gates_open_as_fitted(tmp_path: Path, style: str, specimen: str) -> None:
    """Debris interval, singlets ratio (a wedge on linear axes; on a FACSCalibur one channel, FSC-H,
    on both axes), monocyte polygon on logicle x log axes, compensation by the Comp- prefix."""
    sample, spill = _tube(tmp_path / "run", style, specimen)
    result = apply_strategy(sample, load_strategy(None), spill)
    masks, found = _read_back(sample, result, tmp_path)
    assert all(p.count > 0 for p in result.populations)
    _assert_same(result, masks, found)
    assert found.total == sample.n_events


def test_every_flowjo_gate_type_round_trips(tmp_path: Path) -> None:
    """Interval, ratio, rectangle on asinh x log axes, ellipse on asinh x logicle (display bins),
    quadrant, polygon: membership identical."""
    sample, spill = _tube(tmp_path / "run", "canto")
    (tmp_path / "s.yaml").write_text(NO_BOOLEANS)
    result = apply_strategy(sample, load_strategy(tmp_path / "s.yaml"), spill)
    masks, found = _read_back(sample, result, tmp_path)
    assert {p.name for p in result.populations} == {"cells", "singlets", "box", "blob", "upper", "poly"}
    assert all(0 < p.count < sample.n_events for p in result.populations)
    _assert_same(result, masks, found)
    read = {key.rsplit("/", 1)[-1]: type(p.gate).__name__ for key, p in found.document.gates.items()
            if key != "assaykit-events"}
    assert read == {"cells": "IntervalGate", "singlets": "PolygonGate", "box": "RectangleGate", "blob": "EllipseGate",
                    "upper": "RectangleGate", "poly": "PolygonGate"}  # the wedge; FlowJo's quadrant: a rectangle


def test_removed_events_are_left_out_first(tmp_path: Path) -> None:
    from dataclasses import replace

    sample, spill = _tube(tmp_path / "run", "canto")
    events, raw = np.array(sample.events), np.array(sample.raw)
    events[::97, 0] = np.nan
    column = sample.channels.index("SSC-A")
    raw[7::53, column] = events[7::53, column] = sample.channel_ranges()[column]
    tampered = replace(sample, events=events, raw=raw)
    result = apply_strategy(tampered, load_strategy(None), spill)
    assert result.nonfinite > 0 and result.removed > 0
    masks, found = _read_back(tampered, result, tmp_path)
    _assert_same(result, masks, found)


def test_boolean_gates_are_written_as_flowjo_nodes(tmp_path: Path) -> None:
    """An or of two populations and a not of it become FlowJo Or/Not nodes naming their
    populations by path: read back, identical membership and counts (with removed events too)."""
    from dataclasses import replace

    sample, spill = _tube(tmp_path / "run", "canto")
    events = np.array(sample.events)
    events[::89, 2] = np.nan
    sample = replace(sample, events=events)
    (tmp_path / "s.yaml").write_text(EVERY_GATE)
    result = apply_strategy(sample, load_strategy(tmp_path / "s.yaml"), spill)
    assert result.nonfinite > 0
    masks, found = _read_back(sample, result, tmp_path)
    _assert_same(result, masks, found)
    kinds = {key.rsplit("/", 1)[-1]: gate.kind for key, gate in found.document.gates.items()}
    assert kinds["either"] == kinds["neither"] == "boolean"
    assert 0 < result.masks["either"].sum() < result.masks["singlets"].sum()
    assert np.array_equal(masks["neither"], result.masks["singlets"] & ~result.masks["either"])


def test_flowkit_reads_run_wsp_identically(tmp_path: Path) -> None:
    """An independent reader of FlowJo's dialect (its log, logicle and linear axes, the Comp-
    prefix) holds the same events."""
    flowkit = pytest.importorskip("flowkit", reason="FlowKit is in the bench extra, not a runtime dependency")
    sample, spill = _tube(tmp_path / "run", "canto")
    result = apply_strategy(sample, load_strategy(None), spill)
    path = tmp_path / "run.wsp"
    path.write_bytes(workspace_bytes([WorkspaceEntry(sample.path.resolve().as_uri(), sample.path.name,
                                                     flowjo_sample_bytes(result))]))
    workspace = flowkit.Workspace(str(path), fcs_samples=str(sample.path))
    workspace.analyze_samples(sample_id=sample.path.name)
    for population in result.populations:
        theirs = np.asarray(workspace.get_gate_membership(sample.path.name, population.name), dtype=bool)
        assert np.array_equal(theirs, result.masks[population.name]), population.name


def test_score_writes_run_wsp(simulated_run: Path, tmp_path: Path) -> None:
    """One sample per gated tube, each referencing its own FCS file; read back, every tube's
    populations hold samples.csv's counts; a rerun writes the same bytes."""
    import csv
    import json
    from urllib.parse import unquote, urlparse
    from xml.etree import ElementTree

    from assaykit.scoring import score_run

    out = score_run(simulated_run, out=tmp_path / "out", jobs=1).out_dir
    with (out / "samples.csv").open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["role"] != "beads"]
    assert "run.wsp" in json.loads((out / "manifest.json").read_text())["files"]
    workspace = read_workspace(out / "run.wsp")
    assert sorted(workspace.samples) == sorted(r["file"] for r in rows)
    root = ElementTree.parse(out / "run.wsp").getroot()
    files = {s.find("SampleNode").get("name"): Path(unquote(urlparse(s.find("DataSet").get("uri")).path))
             for s in root.iter("Sample")}
    assert files == {r["file"]: (simulated_run / r["file"]).resolve() for r in rows}
    for row in rows:
        found = workspace.samples[row["file"]]
        masks = evaluate(found.document, read_fcs(simulated_run / row["file"]))
        by_name = {key.rsplit("/", 1)[-1]: int(mask.sum()) for key, mask in masks.items()}
        assert by_name["monocytes"] == int(row["monocytes"]) == found.counts[
            next(k for k in found.counts if k.endswith("/monocytes"))]
        assert by_name["singlets"] == int(row["singlets"])
    again = score_run(simulated_run, out=tmp_path / "again", jobs=1).out_dir
    assert (again / "run.wsp").read_bytes() == (out / "run.wsp").read_bytes()


def test_a_boolean_complement_is_written_to_gatingml_and_refused_for_flowjo(tmp_path: Path) -> None:
    """A BooleanGate taking a complement (GatingML's use-as-complement; no strategy file writes one,
    a program may): the GatingML export reads back as the same gate holding the same events,
    ``box and not upper``; FlowJo's nodes have no complement, so run.wsp refuses it by name."""
    from assaykit.errors import GatingError
    from assaykit.gating import BooleanGate, replace_gate
    from assaykit.interop import gatingml_bytes, read_gatingml

    sample, spill = _tube(tmp_path / "run", "canto")
    (tmp_path / "s.yaml").write_text(EVERY_GATE)
    gate = BooleanGate("and", ("box", "upper"), complement=(False, True))
    strategy = replace_gate(load_strategy(tmp_path / "s.yaml"), "either", gate)
    result = apply_strategy(sample, strategy, spill)
    expected = result.masks["box"] & ~result.masks["upper"] & result.masks["singlets"]
    assert np.array_equal(result.masks["either"], expected) and 0 < expected.sum() < result.masks["box"].sum()
    (tmp_path / "gates.xml").write_bytes(gatingml_bytes(result))
    document = read_gatingml(tmp_path / "gates.xml")
    assert document.gates["either"].gate == gate
    assert np.array_equal(evaluate(document, sample)["either"], expected)
    with pytest.raises(GatingError, match="boolean population 'either' takes a complement"):
        flowjo_sample_bytes(result)
