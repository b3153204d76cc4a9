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


def test_export_read_back_gives_the_same_gates(tmp_path: Path) -> None:
    """The GatingML export of every gate type, read back, is the same gates (gating.gates objects)
    on the channels and transforms the fit used: the same bounds (an upper bound written as the
    float above it reads back as the bound itself), vertices, ellipse and boolean terms; a
    quadrant reads back as the rectangle it is, an ellipse as the ellipsoid it is, the singlets'
    ratio as a range on an fratio dimension beside FSC-A > 0."""
    from assaykit.gating import BooleanGate, EllipseGate, IntervalGate, PolygonGate, QuadrantGate, RatioGate
    from assaykit.gating.gates import EllipsoidGate, RectangleGate
    from assaykit.interop.export import EVENTS_GATE

    sample, spill = _tube(tmp_path / "run", "canto")
    path = tmp_path / "every.yaml"
    path.write_text(EVERY_GATE)
    strategy = load_strategy(path)
    result = apply_strategy(sample, strategy, spill)
    document_path = tmp_path / "gates.xml"
    document_path.write_bytes(gatingml_bytes(result))
    document = read_gatingml(document_path)
    read = document.gates
    assert set(read) == {p.name for p in result.populations} | ({EVENTS_GATE} if result.removed else set())
    checked = set()
    for population in result.populations:
        ours, theirs = result.gates[population.name], read[population.name].gate
        checked.add(type(ours).__name__)
        assert read[population.name].parent == (population.parent if population.parent != "root" else
                                                (EVENTS_GATE if result.removed else "root"))
        dims = [document.dimensions[key] for key in theirs.dims]
        if isinstance(ours, RatioGate):
            ratio = document.transforms[dims[0].ratio]
            assert ratio.kind == "fratio" and ratio.channels == (result.channels[ours.dims[1]],
                                                                  result.channels[ours.dims[0]])
            assert isinstance(theirs, RectangleGate) and dims[1].channel == result.channels[ours.dims[0]]
            assert theirs.low == (ours.low, 5e-324) and theirs.high == (ours.high, None)
            continue
        if isinstance(ours, BooleanGate):
            assert theirs == ours
            continue
        assert [d.channel for d in dims] == [result.channels[m] for m in ours.dims]
        assert [document.transforms[d.transform].kind for d in dims] == \
            [{"linear": "flin", "log": "flog", "asinh": "fasinh", "logicle": "logicle"}[strategy.transforms[m].kind]
             for m in ours.dims]
        if isinstance(ours, IntervalGate | RectangleGate | PolygonGate):
            assert type(theirs) is type(ours) and {**theirs.to_dict(), "dims": None} == {**ours.to_dict(), "dims": None}
        elif isinstance(ours, EllipseGate):
            assert isinstance(theirs, EllipsoidGate) and theirs.mean == ours.center
            assert theirs.covariance == ours.covariance and theirs.distance_square == ours.distance**2
        else:
            assert isinstance(ours, QuadrantGate) and isinstance(theirs, RectangleGate)
            assert theirs.low == tuple(s if q == "+" else None for s, q in zip(ours.split, ours.quadrant, strict=True))
            assert theirs.high == tuple(None if q == "+" else float(np.nextafter(s, -np.inf))
                                        for s, q in zip(ours.split, ours.quadrant, strict=True))
    assert checked == {"IntervalGate", "RatioGate", "RectangleGate", "EllipseGate", "QuadrantGate", "PolygonGate",
                       "BooleanGate"}
