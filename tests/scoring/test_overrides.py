"""Gates set by hand (issue 15, point 5): run.yaml ``gate_overrides:`` replaces a tube's automatic
gate with a YAML gate or a population of the lab's FlowJo workspace. The tube is measured on
the events that gate holds (checked against an independent count), its row and the report say
"gate set by hand: <reason>", the manifest records source, hash and reason, the exported
workspace shows the gate used, every other tube is untouched, and bad overrides are refused
before anything is measured."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from assaykit import read_fcs
from assaykit.cli import app
from assaykit.errors import AssayKitError
from assaykit.findings import FindingCode, finding, parse_findings
from assaykit.gating import apply_strategy, load_strategy
from assaykit.interop import evaluate, read_workspace
from assaykit.scoring import score_run

WELL, FILE = "A2", "Specimen_001_A2_A02.fcs"


@pytest.fixture
def run(simulated_run: Path, tmp_path: Path) -> Path:
    """A copy of the session's simulated run (the original is never changed)."""
    return Path(shutil.copytree(simulated_run, tmp_path / "run"))


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with (out / "samples.csv").open(newline="") as handle:
        return {r["file"]: r for r in csv.DictReader(handle)}


def _add(run: Path, text: str) -> None:
    with (run / "run.yaml").open("a") as handle:
        handle.write(text)


def _box(run: Path) -> tuple[list[float], list[float]]:
    """CD14 and SSC-A bounds (scale values) around the automatic monocytes of the tube."""
    result = apply_strategy(read_fcs(run / FILE), load_strategy(None))
    held = result.masks["monocytes"]
    cd14, ssc = result.frame.scale("CD14")[held], result.frame.scale("SSC-A")[held]
    return [float(np.percentile(cd14, 10)), float(np.percentile(cd14, 90))], \
        [float(np.percentile(ssc, 10)), float(np.percentile(ssc, 90))]


def test_a_yaml_gate_replaces_the_monocyte_gate(run: Path, tmp_path: Path) -> None:
    base = score_run(run, out=tmp_path / "base", jobs=1).out_dir
    (x0, x1), (y0, y1) = _box(run)
    _add(run, f"""gate_overrides:
  {WELL}:
    reason: granulocytes inside the automatic gate
    gate: {{type: rectangle, dims: [CD14, SSC-A], low: [{x0!r}, {y0!r}], high: [{x1!r}, {y1!r}]}}
""")
    out = score_run(run, out=tmp_path / "out", jobs=1).out_dir
    rows, before = _rows(out), _rows(base)
    row = rows[FILE]
    # independent count: the automatic singlets (unchanged parents) within the box, in scale values
    result = apply_strategy(read_fcs(run / FILE), load_strategy(None))
    cd14, ssc = result.frame.scale("CD14"), result.frame.scale("SSC-A")
    inside = result.masks["singlets"] & (cd14 >= x0) & (cd14 <= x1) & (ssc >= y0) & (ssc <= y1)
    assert int(row["monocytes"]) == int(inside.sum()) != int(before[FILE]["monocytes"])
    assert float(row["hladr_mfi"]) == pytest.approx(float(np.median(result.frame.scale("HLA-DR")[inside])),
                                                    abs=5e-4)  # tables: 3 decimals
    assert parse_findings(row["qc_flags"])[0] == finding(FindingCode.GATE_SET_BY_HAND,
                                                          "gate set by hand: granulocytes inside the automatic gate")
    for name, other in rows.items():  # every other tube as without the override
        if name != FILE:
            assert {k: v for k, v in other.items()} == before[name], name
    manifest = json.loads((out / "manifest.json").read_text())
    spec = {"type": "rectangle", "dims": ["CD14", "SSC-A"], "low": [x0, y0], "high": [x1, y1]}
    assert manifest["gate_overrides"] == [{
        "file": FILE, "well": WELL, "population": "monocytes", "reason": "granulocytes inside the automatic gate",
        "source": "run.yaml gate",
        "sha256": hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()}]
    # the exported workspace and gate file hold the gate that was used
    sample = read_workspace(out / "run.wsp").samples[FILE]
    masks = evaluate(sample.document, read_fcs(run / FILE))
    assert int(next(m for k, m in masks.items() if k.endswith("/monocytes")).sum()) == int(row["monocytes"])
    # the restoration row of the drug carries the flag; the patient page says so
    with (out / "restoration.csv").open(newline="") as handle:
        drug = next(r for r in csv.DictReader(handle) if r["file"] == FILE)
    assert finding(FindingCode.GATE_SET_BY_HAND, "drug: gate set by hand: granulocytes inside the automatic gate") \
        in parse_findings(drug["qc_flags"])
    from assaykit.report import build_reports

    build_reports(out, jobs=1)
    page = next((out / "patients").glob("P01*.html")).read_text()
    assert "gate set by hand: granulocytes inside the automatic gate" in page


Box = tuple[tuple[float, float], tuple[float, float]]


def lab_workspace(path: Path, boxes: dict[str, Box]) -> None:
    """A lab's FlowJo workspace: per FCS file a sample whose 'Monocytes' is a rectangle on FSC-A x
    SSC-A (uncompensated scale values, ``(low, high)``) inside a 'Cells' gate."""
    def rect(name: str, lo: tuple[float, float], hi: tuple[float, float], inner: str = "") -> str:
        bounds = zip(("FSC-A", "SSC-A"), lo, hi, strict=True)
        dims = "".join(f'<gating:dimension gating:min="{a!r}" gating:max="{b!r}"><data-type:fcs-dimension '
                       f'data-type:name="{c}"/></gating:dimension>' for c, a, b in bounds)
        return (f'<Population name="{name}" count="-1"><Gate gating:id="{name}"><gating:RectangleGate '
                f'gating:id="{name}">{dims}</gating:RectangleGate></Gate>'
                f'{f"<Subpopulations>{inner}</Subpopulations>" if inner else ""}</Population>')

    samples = "".join(f"""<Sample><DataSet uri="file:/C:/lab/{fcs}" sampleID="{i}"/><Keywords/>
<SampleNode name="{fcs}" count="-1" sampleID="{i}"><Subpopulations>
{rect("Cells", (1.0, 1.0), (250000.0, 250000.0), rect("Monocytes", low, high))}
</Subpopulations></SampleNode></Sample>""" for i, (fcs, (low, high)) in enumerate(boxes.items(), start=1))
    path.write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<Workspace version="20.0" xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating"
 xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes"
 xmlns:transforms="http://www.isac-net.org/std/Gating-ML/v2.0/transformations">
<SampleList>{samples}</SampleList></Workspace>
""")


def monocyte_box(path: Path) -> Box:
    """FSC-A and SSC-A bounds (5th-95th percentiles) around the automatic monocytes of a tube."""
    sample = read_fcs(path)
    held = apply_strategy(sample, load_strategy(None)).masks["monocytes"]
    fsc, ssc = sample.events[:, sample.channels.index("FSC-A")], sample.events[:, sample.channels.index("SSC-A")]
    return ((float(np.percentile(fsc[held], 5)), float(np.percentile(ssc[held], 5))),
            (float(np.percentile(fsc[held], 95)), float(np.percentile(ssc[held], 95))))


def test_a_workspace_population_replaces_the_monocyte_gate(run: Path, tmp_path: Path) -> None:
    sample = read_fcs(run / FILE)
    fsc, ssc = sample.events[:, sample.channels.index("FSC-A")], sample.events[:, sample.channels.index("SSC-A")]
    result = apply_strategy(sample, load_strategy(None))
    low, high = monocyte_box(run / FILE)
    lab_workspace(run / "lab.wsp", {FILE: (low, high)})
    _add(run, f"""gate_overrides:
  {FILE}:
    reason: checked by hand (JD)
    workspace: lab.wsp
    workspace_population: monocytes
""")
    out = score_run(run, out=tmp_path / "out", jobs=1).out_dir
    row = _rows(out)[FILE]
    inside = (fsc >= low[0]) & (fsc < high[0]) & (ssc >= low[1]) & (ssc < high[1])
    assert high[0] < 250000 and high[1] < 250000  # below the top of scale: nothing removed from the box
    assert int(row["monocytes"]) == int(inside.sum()) > 0
    assert float(row["hladr_mfi"]) == pytest.approx(float(np.median(result.frame.scale("HLA-DR")[inside])),
                                                    abs=5e-4)
    found = parse_findings(row["qc_flags"])
    assert found[0] == finding(FindingCode.GATE_SET_BY_HAND, "gate set by hand: checked by hand (JD)")
    assert FindingCode.GATES_NOT_EXPORTED in {f.code for f in found}  # a workspace's gates are shown in run.wsp
    manifest = json.loads((out / "manifest.json").read_text())
    source = f"workspace lab.wsp, sample {FILE!r}, population 'Cells/Monocytes'"
    assert manifest["gate_overrides"][0]["source"] == source
    assert manifest["gate_overrides"][0]["sha256"] == hashlib.sha256((run / "lab.wsp").read_bytes()).hexdigest()
    shown = read_workspace(out / "run.wsp").samples[FILE]
    assert list(shown.document.gates) == ["Cells", "Cells/Monocytes"]  # the lab's gates, as drawn
    assert int(evaluate(shown.document, sample)["Cells/Monocytes"].sum()) == int(row["monocytes"])
    panels = json.loads((out / "figure_data.json").read_text())["tubes"][FILE]["panels"]
    hand = next(p for p in panels if p["population"] == "monocytes")  # drawn on CD14 x SSC-A, the hull outlined
    assert hand["count"] == int(row["monocytes"]) and len(hand["outlines"]) == 1
    from assaykit.report import build_reports

    build_reports(out, jobs=1)
    assert "gate set by hand: checked by hand (JD)" in next((out / "patients").glob("P01*.html")).read_text()


def test_a_workspace_population_of_implausible_share_is_withheld(run: Path, tmp_path: Path) -> None:
    """A FlowJo population over the whole FSC/SSC plot (every event "monocytes", its parent all
    events) answers to the automatic gate's share rule: drawn_gate_implausible, withheld."""
    lab_workspace(run / "lab.wsp", {FILE: ((-1e6, -1e6), (1e7, 1e7))})
    _add(run, f"""gate_overrides:
  {FILE}:
    reason: checked by hand (JD)
    workspace: lab.wsp
    workspace_population: monocytes
""")
    out = score_run(run, out=tmp_path / "out", jobs=1).out_dir
    row = _rows(out)[FILE]
    codes = [f.code for f in parse_findings(row["qc_flags"])]
    assert codes[0] == FindingCode.GATE_SET_BY_HAND and FindingCode.DRAWN_GATE_IMPLAUSIBLE in codes
    assert row["verdict"] == "withheld" and row["hladr_abc"] == ""
    assert float(row["monocytes_pct"]) > 99.0
    others = [r for name, r in _rows(out).items() if name != FILE and r["qc_flags"]]
    assert not any("drawn_gate_implausible" in r["qc_flags"] for r in others)


@pytest.mark.parametrize(("text", "problem"), [
    ("  B7: {reason: x, gate: {type: interval, dims: [CD14], low: 1}}\n", "'B7': no tube of the run is that well"),
    ("  H12: {reason: x, gate: {type: interval, dims: [CD14], low: 1}}\n", "names a beads tube"),
    ("  A2: {gate: {type: interval, dims: [CD14], low: 1}}\n", "a reason is required"),
    ("  A2: {reason: x}\n", "give either gate"),
    ("  A2: {reason: x, gate: {type: interval, dims: [CD99], low: 1}}\n", "unknown marker 'CD99'"),
    ("  A2: {reason: x, population: blasts, gate: {type: interval, dims: [CD14], low: 1}}\n",
     "no population 'blasts'"),
    ("  A2: {reason: x, workspace: lab.wsp, workspace_population: Monocytes}\n", "FlowJo workspace not found"),
    ("  A2: {reason: x, workspace: lab.wsp}\n", "workspace_population is required"),
    ("  A2: {reason: x, gate: {type: interval, dims: [CD14], low: 1}, colour: red}\n", "colour"),
    ("  A2: {reason: x, exclude: true, gate: {type: interval, dims: [CD14], low: 1}}\n", "takes no gate"),
    ("  A2: {reason: x, exclude: 'yes'}\n", "exclude must be true or false"),
    ("  A2: {exclude: true}\n", "a reason is required"),
    ("  A2: {reason: x, exclude: true, reviewed: {by: Ann, signed: true}}\n", "signed"),
    ("  A2: {reason: x, exclude: true, reviewed: Ann}\n", "reviewed must be a mapping"),
])
def test_bad_overrides_are_refused_before_measuring(run: Path, tmp_path: Path, text: str, problem: str) -> None:
    _add(run, "gate_overrides:\n" + text)
    with pytest.raises(AssayKitError, match=r"run\.yaml|lab\.wsp") as caught:
        score_run(run, out=tmp_path / "out", jobs=1)
    assert problem in caught.value.message
    result = CliRunner().invoke(app, ["score", str(run), "--out", str(tmp_path / "cli")])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "cli").exists()


def test_a_workspace_population_not_found_is_named(run: Path, tmp_path: Path) -> None:
    lab_workspace(run / "lab.wsp", {FILE: ((1.0, 1.0), (2.0, 2.0))})
    _add(run, "gate_overrides:\n  A2: {reason: x, workspace: lab.wsp, workspace_population: Blasts}\n")
    with pytest.raises(AssayKitError, match="no population 'Blasts' in workspace sample"):
        score_run(run, out=tmp_path / "out", jobs=1)


def test_an_excluded_tube_is_withheld_with_its_own_code_everywhere(run: Path, tmp_path: Path) -> None:
    """``exclude: true`` (issue 30): the tube is measured as before but withheld, its verdict reason
    ``excluded_by_reviewer`` in samples.csv and in its drug's restoration row; ``reviewed:`` is read
    and recorded in the manifest; every other tube is untouched."""
    base = score_run(run, out=tmp_path / "base", jobs=1).out_dir
    _add(run, f"""gate_overrides:
  {WELL}:
    reason: clotted tube
    exclude: true
    reviewed: {{by: Ann, at: '2026-12-05T23:00:00+00:00', audit: 4}}
""")
    result = score_run(run, out=tmp_path / "out", jobs=1)
    rows, before = _rows(result.out_dir), _rows(base)
    row = rows[FILE]
    assert row["verdict"] == "withheld" and row["verdict_reasons"] == "excluded_by_reviewer"
    assert row["hladr_abc"] == "" and before[FILE]["hladr_abc"] != ""
    assert row["hladr_mfi"] == before[FILE]["hladr_mfi"]  # measured as before: only withheld
    assert parse_findings(row["qc_flags"])[0] == finding(FindingCode.EXCLUDED_BY_REVIEWER,
                                                         "excluded by the reviewer: clotted tube")
    assert {f: r for f, r in rows.items() if f != FILE} == {f: r for f, r in before.items() if f != FILE}
    with (result.out_dir / "restoration.csv").open(newline="") as handle:
        drug = next(r for r in csv.DictReader(handle) if r["file"] == FILE)
    assert drug["verdict"] == "withheld" and "excluded_by_reviewer" in drug["verdict_reasons"]
    entry = result.manifest["gate_overrides"][0]
    assert entry["excluded"] is True and entry["reviewed"] == {"by": "Ann", "at": "2026-12-05T23:00:00+00:00",
                                                               "audit": 4}
