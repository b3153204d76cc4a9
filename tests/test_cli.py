"""The command line: output, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from assaykit import read_fcs
from assaykit.cli import app

from .fcs_builder import build_fcs

runner = CliRunner()


def test_help_answers_with_examples() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "inspect" in result.stdout and "simulate" in result.stdout
    for command in ("inspect", "convert", "simulate", "gate", "calibrate"):
        sub = runner.invoke(app, [command, "--help"])
        assert sub.exit_code == 0 and "Example: assaykit " + command in sub.stdout


def test_inspect_text_and_json(simulated_run: Path) -> None:
    path = simulated_run / "Specimen_001_A1_A01.fcs"
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 0, result.output
    assert "FCS 3.1" in result.stdout and "HLA-DR PE" in result.stdout and "spillover: yes" in result.stdout
    as_json = json.loads(runner.invoke(app, ["inspect", str(path), "--json"]).stdout)
    assert as_json["events"] == 30000 and as_json["channels"][3]["marker"] == "HLA-DR PE"
    assert as_json["channels"][3]["range"] == 262144.0
    keywords = runner.invoke(app, ["inspect", str(path), "--keywords"]).stdout
    assert "WELL ID = A1" in keywords


def test_inspect_reports_datasets(corpus: Path) -> None:
    result = runner.invoke(app, ["inspect", str(corpus / "flowkit/coulter.lmd"), "--json"])
    info = json.loads(result.stdout)
    assert (info["dataset"], info["n_datasets"], info["version"]) == (1, 2, "3.0")


def test_bad_file_is_one_line_exit_2(tmp_path: Path, simulated_run: Path) -> None:
    bad = tmp_path / "bad.fcs"
    bad.write_text("not a cytometry file at all, just some text" * 3)
    good = simulated_run / "Specimen_001_A1_A01.fcs"
    result = subprocess.run([sys.executable, "-m", "assaykit.cli", "inspect", str(bad), str(good)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and str(bad) in result.stderr
    assert "Traceback" not in result.stderr
    assert "FCS 3.1" in result.stdout  # the good file is still described
    debug = subprocess.run([sys.executable, "-m", "assaykit.cli", "--debug", "inspect", str(bad)],
                           capture_output=True, text=True)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


@pytest.mark.parametrize("name", ["nope.fcs", ""])
def test_missing_file_exit_2(tmp_path: Path, name: str) -> None:
    result = runner.invoke(app, ["inspect", str(tmp_path / name)])
    assert result.exit_code == 2
    assert "no such file" in result.stderr or "is a directory" in result.stderr


def test_convert_csv_and_npy(tmp_path: Path) -> None:
    values = np.array([[1, 2, 3], [40, 50, 60]])
    blob = build_fcs(values, datatype="I", widths=[16] * 3, names=["FSC-A", "FL1", "FL2"],
                     extra=[("$P2G", "2")])
    blob = blob.replace(b"$P2E/0,0/", b"$P2E/0,0/")
    path = tmp_path / "in.fcs"
    path.write_bytes(blob)
    assert runner.invoke(app, ["convert", str(path), str(tmp_path / "o.csv")]).exit_code == 0
    lines = (tmp_path / "o.csv").read_text().splitlines()
    assert lines[0] == "FSC-A,FL1,FL2" and lines[1] == "1,1,3" and lines[2] == "40,25,60"
    assert runner.invoke(app, ["convert", str(path), str(tmp_path / "r.csv"), "--raw"]).exit_code == 0
    assert (tmp_path / "r.csv").read_text().splitlines()[2] == "40,50,60"
    assert runner.invoke(app, ["convert", str(path), str(tmp_path / "o.npy"), "--raw"]).exit_code == 0
    np.testing.assert_array_equal(np.load(tmp_path / "o.npy"), values)
    bad = runner.invoke(app, ["convert", str(path), str(tmp_path / "o.txt")])
    assert bad.exit_code == 2 and "must end in .csv or .npy" in bad.stderr
    twice = tmp_path / "twice.fcs"  # two channels of one $PnN: refused, as everywhere a file is read
    twice.write_bytes(build_fcs(values, datatype="I", widths=[16] * 3, names=["FSC-A", "FL1", "FL1"]))
    refused = runner.invoke(app, ["convert", str(twice), str(tmp_path / "t.csv")])
    assert refused.exit_code == 2 and "channels 2 and 3 are both named 'FL1'" in refused.stderr
    assert not (tmp_path / "t.csv").exists()


def test_convert_dataset(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "d0.npy"
    result = runner.invoke(app, ["convert", str(corpus / "flowkit/coulter.lmd"), str(out), "--raw", "--dataset", "0"])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.load(out), read_fcs(corpus / "flowkit/coulter.lmd", dataset=0).raw)


def test_simulate_command(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", str(tmp_path / "run"), "--patients", "1", "--events", "2000",
                                 "--conditions", "unstimulated,IL-7", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "plate_map.csv").read_text().count("\n") == 4  # header + 2 + beads


# --- calibrate and gate --beads --------------------------------------------------------------------


def _truth(run: Path) -> dict[str, dict[str, str]]:
    import csv

    with open(run / "truth.csv", newline="") as handle:
        return {row["file"]: row for row in csv.DictReader(handle)}


def test_calibrate_json_and_convert(simulated_run: Path, tmp_path: Path) -> None:
    beads = simulated_run / "Specimen_001_H12_H12.fcs"
    lot = simulated_run / "beads_lot.yaml"
    png = tmp_path / "cal.png"
    result = runner.invoke(app, ["calibrate", str(beads), "--lot", str(lot), "--json", "--convert", "1000,0",
                                 "--plot", str(png)])
    assert result.exit_code == 0, result.output
    both = json.loads(result.stdout)
    assert set(both) == {"calibration", "converted"}
    payload = both["calibration"]
    truth = _truth(simulated_run)["Specimen_001_H12_H12.fcs"]
    assert payload["slope"] == pytest.approx(float(truth["calibration_slope"]), abs=0.01)
    assert payload["channel"] == "PE-A" and payload["unit"] == "PE molecules/bead"
    assert [p["value"] for p in payload["peaks"]] == [474, 5359, 23843, 62336]
    assert all(p["used"] and p["reason"] == "" for p in payload["peaks"])
    for peak in payload["peaks"]:  # fitted value = 10^(slope x log10(MFI) + intercept), near the lot value
        fitted = 10 ** (payload["slope"] * np.log10(peak["mfi"]) + payload["intercept"])
        assert fitted == pytest.approx(peak["value"], rel=0.01)
        assert peak["residual_log10"] == pytest.approx(np.log10(peak["value"] / fitted))
    expected = 10 ** (payload["slope"] * 3 + payload["intercept"])
    assert both["converted"][0] == {"mfi": 1000.0, "value": pytest.approx(expected)}
    assert both["converted"][1] == {"mfi": 0.0, "value": None}
    assert png.stat().st_size > 10000 and png.read_bytes()[:4] == b"\x89PNG"


def test_calibrate_json_is_the_calibrations_to_dict(simulated_run: Path) -> None:
    """One shape per object: ``calibrate --json`` prints exactly ``Calibration.to_dict()`` of the
    library's own calibration of the same tube with its ``verdict`` (and --convert wraps it,
    unchanged)."""
    from assaykit.beads import calibrate_file, load_lot

    beads = simulated_run / "Specimen_001_H12_H12.fcs"
    lot = simulated_run / "beads_lot.yaml"
    result = runner.invoke(app, ["calibrate", str(beads), "--lot", str(lot), "--json"])
    assert result.exit_code == 0, result.output
    expected = calibrate_file(beads, load_lot(lot)).calibration.to_dict()
    expected["verdict"] = {"status": "reportable", "findings": [], "released_reason": ""}
    assert json.loads(result.stdout) == json.loads(json.dumps(expected))
    assert set(json.loads(result.stdout)) == set(expected) and "file_sha256" in expected
    wrapped = runner.invoke(app, ["calibrate", str(beads), "--lot", str(lot), "--json", "--convert", "500"])
    assert json.loads(wrapped.stdout)["calibration"] == json.loads(result.stdout)


def test_calibrate_text_with_bead_values(simulated_run: Path) -> None:
    beads = simulated_run / "Specimen_001_H12_H12.fcs"
    result = runner.invoke(app, ["calibrate", str(beads), "--bead-values", "474,5359,23843,62336",
                                 "--convert", "2000"])
    assert result.exit_code == 0, result.output
    assert "r^2 = 1.0000" in result.stdout or "r^2 = 0.999" in result.stdout
    assert "MFI 2,000.0 ->" in result.stdout


def test_calibrate_refuses_blood_in_one_line(simulated_run: Path) -> None:
    result = runner.invoke(app, ["calibrate", str(simulated_run / "Specimen_001_A1_A01.fcs"),
                                 "--bead-values", "474,5359,23843,62336"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Specimen_001_A1_A01.fcs" in lines[0] and "at least 3" in lines[0]


def test_calibrate_needs_exactly_one_lot(simulated_run: Path) -> None:
    beads = str(simulated_run / "Specimen_001_H12_H12.fcs")
    for extra in ([], ["--lot", "x.yaml", "--bead-values", "1,2,3"]):
        result = runner.invoke(app, ["calibrate", beads, *extra])
        assert result.exit_code == 2 and "--lot FILE or --bead-values" in result.stderr


def test_gate_with_beads_reports_abc(simulated_run: Path) -> None:
    sample = simulated_run / "Specimen_001_A1_A01.fcs"
    result = runner.invoke(app, ["gate", str(sample), "--beads", str(simulated_run / "Specimen_001_H12_H12.fcs"),
                                 "--lot", str(simulated_run / "beads_lot.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    calibrated = json.loads(result.stdout)["calibrated"]
    truth = float(_truth(simulated_run)[sample.name]["true_abc"])
    assert calibrated["unit"] == "AB/C" and calibrated["statistic"] == "median"
    assert calibrated["value"] == pytest.approx(truth, rel=0.03)
    text = runner.invoke(app, ["gate", str(sample), "--beads", str(simulated_run / "Specimen_001_H12_H12.fcs"),
                               "--bead-values", "474,5359,23843,62336"])
    assert text.exit_code == 0 and "AB/C" in text.stdout


def test_gate_lot_without_beads_is_a_usage_error(simulated_run: Path) -> None:
    result = runner.invoke(app, ["gate", str(simulated_run / "Specimen_001_A1_A01.fcs"), "--bead-values", "1,2,3"])
    assert result.exit_code == 2 and "need --beads" in result.stderr


def test_shipped_strategy_and_lots(project_root: Path, simulated_run: Path) -> None:
    shown = runner.invoke(app, ["strategy", "show", "monocyte-hladr"])
    assert shown.exit_code == 0 and shown.output == (project_root / "gating" / "monocyte-hladr.yaml").read_text()
    assert runner.invoke(app, ["strategy", "list"]).output.split()[0] == "monocyte-hladr"
    lot = runner.invoke(app, ["lots", "quantibrite-pe-example"])
    assert lot.output == (project_root / "gating" / "beads" / "quantibrite-pe-example.yaml").read_text()
    listed = runner.invoke(app, ["lots"]).output
    assert "474, 5359, 23843, 62336  [example values]" in listed
    missing = runner.invoke(app, ["strategy", "show", "no-such"])
    assert missing.exit_code == 2 and "no shipped strategy named 'no-such' (shipped: monocyte-hladr)" in missing.output
    sample = str(simulated_run / "Specimen_001_A1_A01.fcs")
    by_name = runner.invoke(app, ["gate", sample, "--strategy", "monocyte-hladr", "--json"])
    by_path = runner.invoke(app, ["gate", sample, "--strategy", str(project_root / "gating" / "monocyte-hladr.yaml"),
                                  "--json"])
    assert by_name.exit_code == 0 and by_path.exit_code == 0
    named, pathed = json.loads(by_name.output), json.loads(by_path.output)
    # the same gating; the strategy named by where it was read from, the same bytes (sha256)
    assert named.pop("strategy")["sha256"] == pathed.pop("strategy")["sha256"] and named == pathed
    unknown = runner.invoke(app, ["gate", sample, "--strategy", "nonexistent"])
    assert unknown.exit_code == 2 and "strategy file not found (neither a file nor a shipped name" in unknown.output


def test_gate_an_lsr_pbmc_tube_with_the_labs_matrix(tmp_path: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(app, ["simulate", str(tmp_path / "lsr"), "--patients", "1", "--conditions", "unstimulated",
                               "--instrument", "lsr", "--specimen", "pbmc", "--monocytes", "15,20", "--seed", "2"])
    assert made.exit_code == 0, made.output
    tube = tmp_path / "lsr" / "Specimen_001_A1_A01.fcs"
    bare = json.loads(runner.invoke(app, ["gate", str(tube), "--json"]).stdout)
    assert bare["compensation"] == "none" and any("identity matrix" in f["message"] for f in bare["findings"])
    matrix = str(tmp_path / "lsr" / "compensation.csv")
    result = runner.invoke(app, ["gate", str(tube), "--json", "--compensation", matrix, "--specimen", "whole_blood"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["compensation"] == "compensation.csv (2 channels)"
    assert payload["specimen"] == {"detected": "pbmc", "declared": "whole_blood"}
    assert {"code": "specimen_mismatch", "severity": "warning",
            "message": "specimen declared whole_blood but the events look like pbmc"} in payload["findings"]
    assert 0.95 <= payload["purity"] <= 1.0 and payload["channels"]["HLA-DR"] == "PerCP-Cy5-5-A"
    bad = runner.invoke(app, ["gate", str(tube), "--specimen", "serum"])  # a choice: Click names the valid ones
    assert bad.exit_code == 2 and "'serum' is not one of 'whole_blood', 'pbmc', 'lyse_no_wash'" in bad.output


def test_exit_codes_crash_is_3_with_the_traceback_logged(simulated_run: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    import assaykit.gating
    from assaykit.cli import EXIT_CODES, main

    assert set(EXIT_CODES) == {0, 1, 2, 3, 130}

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom inside")

    monkeypatch.setattr(assaykit.gating, "apply_strategy", broken)
    monkeypatch.setattr(sys, "argv", ["assaykit", "gate", str(simulated_run / "Specimen_001_A1_A01.fcs")])
    with pytest.raises(SystemExit) as ended:
        main()
    assert ended.value.code == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("internal error (RuntimeError)")
    log = Path(err[0].rsplit("traceback is in ", 1)[1])
    assert "boom inside" in log.read_text() and "Traceback" in log.read_text()
    log.unlink()
    # usage errors are 2, a missing file is 2, success 0
    for argv, code in ((["assaykit", "gate"], 2), (["assaykit", "nosuch"], 2),
                       (["assaykit", "gate", "/nonexistent.fcs"], 2), (["assaykit", "--version"], 0)):
        monkeypatch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit) as ended:
            main()
        assert ended.value.code == code, argv


def _score_with_workers(run: Path, out: Path) -> tuple[subprocess.Popen, list[int]]:
    """A ``score`` subprocess (its own process group) once its workers are running."""
    import time

    proc = subprocess.Popen([sys.executable, "-m", "assaykit.cli", "score", str(run), "--out", str(out),
                             "--jobs", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    workers: list[int] = []
    deadline = time.time() + 30
    while len(workers) < 2 and time.time() < deadline and proc.poll() is None:
        workers = _children(proc.pid)
        time.sleep(0.01)
    return proc, workers


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
@pytest.mark.parametrize("how", ["sigint-main", "sigint-group", "sigterm-main"])
def test_interrupted_score_exits_130_in_one_line(run_8x4: Path, tmp_path: Path, how: str) -> None:
    """Ctrl-C in a terminal signals the whole process group; ``kill`` signals the main process:
    either way one line, exit 130, no traceback from any worker, no worker left. (32 tubes: a
    4-tube run measures its tubes in a few tens of milliseconds, too fast to be caught.)"""
    import os
    import shutil
    import signal
    import time

    run = tmp_path / "run"
    shutil.copytree(run_8x4, run)
    proc, workers = _score_with_workers(run, tmp_path / "o")
    if not workers:
        proc.kill()
        pytest.skip("the run ended before its workers could be seen")
    signum = signal.SIGTERM if how.startswith("sigterm") else signal.SIGINT
    if how.endswith("group"):
        os.killpg(proc.pid, signum)
    else:
        proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the run ended before the signal")
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "interrupted", err
    deadline = time.time() + 10
    while any(_running(w) for w in workers) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(_running(w) for w in workers)
    assert not (tmp_path / "o").exists()  # nothing half-written where the outputs go


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_ctrl_c_at_any_moment_ends_promptly(simulated_run: Path, tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the process group) at staggered moments, tubes or report pages: each run
    ends within 30 s (exit 130, or 0 when it had finished), no traceback. An interruption outside
    the worker map once left the pool waiting at exit for its remaining tasks (a hang)."""
    import os
    import shutil
    import signal
    import time

    run = tmp_path / "run"
    shutil.copytree(simulated_run, run)
    for i, delay in enumerate((0.0, 0.4, 0.8, 1.2, 1.6, 2.0)):
        proc, workers = _score_with_workers(run, tmp_path / f"o{i}")
        time.sleep(delay)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail(f"score did not end within 30 s of Ctrl-C at {delay} s")
        assert proc.returncode in (0, 130) and "Traceback" not in err, (delay, err)
        deadline = time.time() + 10
        while any(_running(w) for w in workers) and time.time() < deadline:
            time.sleep(0.1)
        assert not any(_running(w) for w in workers)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_sigkill_of_score_leaves_no_worker_alive(run_8x4: Path, tmp_path: Path) -> None:
    """SIGKILL of score (no handler runs): its workers see their parent gone and end. 32 tubes,
    so that the workers live long enough to be seen."""
    import os
    import shutil
    import signal
    import time

    run = tmp_path / "run"
    shutil.copytree(run_8x4, run)
    proc = subprocess.Popen([sys.executable, "-m", "assaykit.cli", "score", str(run), "--out", str(tmp_path / "o"),
                             "--jobs", "2", "--no-report"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    deadline = time.time() + 30
    while not workers and time.time() < deadline and proc.poll() is None:
        workers = _children(proc.pid)
        time.sleep(0.01)
    if not workers:
        proc.kill()
        pytest.skip("the run ended before its workers could be seen")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    alive = workers
    while alive and time.time() < deadline:
        time.sleep(0.2)
        alive = [w for w in workers if _running(w)]
    assert not alive


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"  # not a zombie
    except OSError:
        return False


@pytest.mark.parametrize(("allow", "expected"), [(None, "None"), ("1", "not blocked")])
def test_the_command_keeps_pyarrow_out(simulated_run: Path, tmp_path: Path, allow: str | None, expected: str) -> None:
    # pandas imports pyarrow whenever it is installed (40 MB): the command's process blocks it,
    # ASSAYKIT_PYARROW=1 lets it load; the tables are the same either way (CSV)
    import os

    code = ("import sys, atexit; atexit.register(lambda: print('pyarrow:', 'None' if 'pyarrow' in sys.modules and "
            "sys.modules['pyarrow'] is None else 'not blocked')); from assaykit.cli import main; "
            f"sys.argv = ['assaykit', 'score', {str(simulated_run)!r}, '--out', {str(tmp_path / 'o')!r}, "
            "'--no-report', '--no-ledger', '--jobs', '1']; main()")
    env = {k: v for k, v in os.environ.items() if k not in ("ASSAYKIT_PYARROW", "ASSAYKIT_LEDGER")}
    if allow:
        env["ASSAYKIT_PYARROW"] = allow
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"pyarrow: {expected}" in done.stdout
    assert (tmp_path / "o" / "samples.csv").is_file()


# --- one shape per object: gate --json from a strategy, a GatingML document and a workspace ------------

FLOWJO = Path(__file__).resolve().parent.parent.parent / "shared" / "interop" / "flowjo"
GATINGML = FLOWJO.parent / "gatingml-2.0-compliance" / "gml"


def _flowjo_counts(workspace: Path) -> dict[str, int]:
    """FlowJo's own count of every population of a workspace's sample, read from the XML text
    (``<Population name="..." ... count="N">``): the truth, independent of assaykit's reader."""
    import re

    text = workspace.read_text()
    sample = text[text.index("<SampleNode"):]
    return {name: int(count) for name, count in
            re.findall(r'<Population name="([^"]+)"[^>]*?count="(-?\d+)"', sample)}


def test_gate_json_has_one_shape_for_a_strategy_a_document_and_a_workspace(simulated_run: Path,
                                                                             tmp_path: Path) -> None:
    """The same top-level keys and population keys from a strategy YAML, a GatingML document
    (the compliance suite, its truth files) and FlowJo workspaces (FlowJo's stored counts, and a
    scored run's nested run.wsp): names unique and readable, parents among the names."""
    from assaykit.scoring.tube import POPULATION_KEYS, TUBE_KEYS

    if not FLOWJO.is_dir():
        pytest.skip(f"the shared FlowJo workspaces are not at {FLOWJO}")
    tube = simulated_run / "Specimen_001_A1_A01.fcs"
    ours = json.loads(runner.invoke(app, ["gate", str(tube), "--json"]).stdout)
    diamond = FLOWJO / "simple_diamond_example"
    docs = {}
    for name in ("simple_diamond_example_quad_gate.wsp", "test_data_diamond_asinh_rect.wsp"):
        done = runner.invoke(app, ["gate", str(diamond / "test_data_diamond_01.fcs"), "--strategy", str(diamond / name),
                                   "--json"])
        assert done.exit_code == 0, done.output
        docs[name] = json.loads(done.stdout)
    data1 = FLOWJO.parent.parent / "fcs-corpus" / "flowkit" / "data1.fcs"
    gml = runner.invoke(app, ["gate", str(data1), "--strategy", str(GATINGML / "gml_parent_rect1_rect_par1_gate.xml"),
                              "--json"])
    assert gml.exit_code == 0, gml.output
    nested = runner.invoke(app, ["score", str(simulated_run), "--out", str(tmp_path / "out"), "--no-report",
                                 "--no-ledger", "--jobs", "1"])
    assert nested.exit_code == 0, nested.output
    run_wsp = json.loads(runner.invoke(app, ["gate", str(tube), "--strategy", str(tmp_path / "out" / "run.wsp"),
                                             "--json"]).stdout)
    gating_ml = json.loads(gml.stdout)
    documents = [*docs.values(), gating_ml, run_wsp]
    for doc in [ours, *documents]:
        assert tuple(doc) == TUBE_KEYS, doc.keys()
        names = [p["name"] for p in doc["populations"]]
        assert len(set(names)) == len(names)
        for population in doc["populations"]:
            assert tuple(population) == POPULATION_KEYS
            assert population["parent"] in set(names) | {"root"}
            assert population["path"].split("/")[-1] == population["name"] or population["path"] == population["name"]
            parent = next((p["count"] for p in doc["populations"] if p["name"] == population["parent"]),
                          doc["events"])
            if doc is not ours:  # a strategy's top population: of the events left once saturated ones go
                assert population["percent_of_parent"] == round(100.0 * population["count"] / parent, 4)
    assert ours["source"] == "assaykit strategy" and ours["events"] == 30000
    assert [(p["name"], p["path"], p["parent"], p["type"], p["auto"], p["flowjo_count"]) for p in ours["populations"]] \
        == [("cells", "cells", "root", "interval", "debris", None), ("singlets", "cells/singlets", "cells", "ratio",
            "singlets", None), ("not_granulocytes", "cells/singlets/not_granulocytes", "singlets", "interval",
                                "non_granulocytes", None),  # no third marker: every event, an open interval
           ("monocytes", "cells/singlets/not_granulocytes/monocytes", "not_granulocytes", "polygon", "monocytes", None)]
    assert ours["readout"]["population"] == "monocytes" and ours["calibrated"] is None
    for name, doc in docs.items():  # FlowJo's own count beside ours, read independently from the XML
        truth = _flowjo_counts(diamond / name)
        assert {p["name"]: p["flowjo_count"] for p in doc["populations"]} == truth, name
        assert all(p["count"] == p["flowjo_count"] for p in doc["populations"]), name  # rectangles: exact
        assert all(p["parent"] == "root" for p in doc["populations"]) and doc["source"].startswith("FlowJo sample")
        assert doc["readout"] is None and doc["findings"] is None and doc["at_top_of_scale"] is None
    truth_dir = GATINGML.parent / "truth"  # the compliance suite's membership, one 0/1 line per event
    expected = {gate: sum(int(v) for v in (truth_dir / f"Results_{gate}.txt").read_text().split())
                for gate in ("ScalePar1",)}
    shown = {p["name"]: p for p in gating_ml["populations"]}
    assert [(p["name"], p["parent"], p["type"], p["path"]) for p in gating_ml["populations"]] == \
        [("ScaleRect1", "root", "rectangle", "ScaleRect1"), ("ScalePar1", "ScaleRect1", "interval",
                                                              "ScaleRect1/ScalePar1")]
    assert shown["ScalePar1"]["count"] == expected["ScalePar1"] and shown["ScalePar1"]["flowjo_count"] is None
    counts = {p["name"]: p["count"] for p in ours["populations"]}  # the scored run's workspace: nested, own names
    assert [(p["name"], p["parent"], p["path"]) for p in run_wsp["populations"]][-1] == \
        ("monocytes", "not_granulocytes", "assaykit-events/cells/singlets/not_granulocytes/monocytes")
    assert all(p["count"] == p["flowjo_count"] == counts.get(p["name"], p["count"]) for p in run_wsp["populations"])


def test_gate_text_never_cuts_a_workspace_population_name(tmp_path: Path) -> None:
    """Long FlowJo names (the quadrants' 27+ characters) are shown whole, so no two rows look alike;
    two populations of one name are told apart by their paths (JSON, text and --membership)."""
    if not FLOWJO.is_dir():
        pytest.skip(f"the shared FlowJo workspaces are not at {FLOWJO}")
    diamond = FLOWJO / "simple_diamond_example"
    text = runner.invoke(app, ["gate", str(diamond / "test_data_diamond_01.fcs"), "--strategy",
                               str(diamond / "simple_diamond_example_quad_gate.wsp")]).stdout
    for quadrant in ("Q1: channel_A- , channel_B+", "Q2: channel_A+ , channel_B+", "Q3: channel_A+ , channel_B-",
                     "Q4: channel_A- , channel_B-"):
        assert f"  {quadrant}  " in text, text
    source = (diamond / "simple_diamond_example_quad_gate.wsp").read_text()  # Q2 again, inside Q1: one name twice
    start = source.index('<Population name="Q2: channel_A+ , channel_B+"')
    q2 = source[start:source.index("</Population>", start) + len("</Population>")]
    q1_end = source.index("</Population>", source.index('<Population name="Q1: channel_A- , channel_B+"'))
    twice = tmp_path / "twice.wsp"
    twice.write_text(source[:q1_end] + "<Subpopulations>" + q2 + "</Subpopulations>" + source[q1_end:])
    done = runner.invoke(app, ["gate", str(diamond / "test_data_diamond_01.fcs"), "--strategy", str(twice), "--json",
                               "--membership", str(tmp_path / "m.csv")])
    assert done.exit_code == 0, done.output
    names = [p["name"] for p in json.loads(done.stdout)["populations"]]
    assert len(set(names)) == len(names) == 5
    assert "Q1: channel_A- , channel_B+/Q2: channel_A+ , channel_B+" in names
    assert "Q2: channel_A+ , channel_B+" in names  # the top-level one: its path is its name
    header = (tmp_path / "m.csv").read_text().splitlines()[0]
    assert header.count("Q2: channel_A+ , channel_B+") == 2


def test_gate_and_score_measure_a_tube_with_the_same_function(simulated_run: Path) -> None:
    """``gate`` and a ``score`` worker read, gate and measure through scoring.tube.gate_tube: the
    same counts and statistic; and the readout is near the simulator's truth."""
    from assaykit.gating import load_strategy
    from assaykit.scoring import measure_tube

    tube = simulated_run / "Specimen_001_A1_A01.fcs"
    shown = json.loads(runner.invoke(app, ["gate", str(tube), "--json"]).stdout)
    row = measure_tube(tube, load_strategy(), figure=False)
    readout = shown["readout"]
    counts = {p["name"]: p["count"] for p in shown["populations"]}
    assert readout["median"] == row.hladr_mfi and counts[readout["population"]] == row.monocytes
    assert shown["findings"] == [f.to_dict() for f in row.qc_flags] and shown["purity"] == row.purity
    truth = _truth(simulated_run)[tube.name]
    assert row.monocytes == pytest.approx(int(truth["true_monocytes"]), rel=0.05)


# --- the documentation ships with the package ---------------------------------------------------


KNOWN_HEADINGS = {"plate-map": "# Plate maps", "scoring": "# Scoring a run",
                  "gating-strategy": "# Gating strategy files", "bead-calibration": "# Bead calibration",
                  "validation": "# Validation of the automatic monocyte gate",
                  "reliability": "# Reliability", "ledger": "# The results ledger", "interop": "# Gates where the lab"}


def _pages(project_root: Path) -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted((project_root / "docs").glob("*.md"))}


def test_every_docs_page_resolves_through_importlib_resources(project_root: Path) -> None:
    """The pages are read as package data (what an installed wheel holds), never from the checkout."""
    from importlib.resources import files

    pages = _pages(project_root)
    shipped = {p.name[:-3] for p in files("assaykit._docs").iterdir() if p.name.endswith(".md")}
    assert shipped == set(pages) and set(KNOWN_HEADINGS) <= shipped
    for topic, text in pages.items():
        assert files("assaykit._docs").joinpath(f"{topic}.md").read_text(encoding="utf-8") == text, topic


def test_docs_command_lists_and_prints_every_topic(project_root: Path) -> None:
    pages = _pages(project_root)
    listed = runner.invoke(app, ["docs"])
    assert listed.exit_code == 0
    assert [line.split()[0] for line in listed.stdout.splitlines()[:len(pages)]] == sorted(pages)
    for topic, text in pages.items():
        shown = runner.invoke(app, ["docs", topic])
        assert shown.exit_code == 0 and shown.stdout.startswith(text), topic
        rest = shown.stdout[len(text):]  # citations of the source repository's files are said to be
        assert rest == "" or ("https://github.com/assaykit/assaykit" in rest and "tests/" in rest), topic
        heading = KNOWN_HEADINGS.get(topic, "# ")
        assert shown.stdout.splitlines()[0].startswith(heading), topic
    for alias, topic in (("run.yaml", "scoring"), ("strategy", "gating-strategy"), ("bead-lot", "bead-calibration"),
                         ("Plate-Map", "plate-map"), ("plate map", "plate-map"), ("plate_map", "plate-map"),
                         ("Gating Strategy", "gating-strategy"), ("bead_calibration", "bead-calibration")):
        assert runner.invoke(app, ["docs", alias]).stdout.startswith(pages[topic]), alias
    helped = " ".join(runner.invoke(app, ["docs", "--help"]).stdout.split())
    assert all(topic in helped for topic in pages), helped  # the exact names, in --help
    unknown = runner.invoke(app, ["docs", "nope"])
    assert unknown.exit_code == 2
    line = unknown.stderr.strip()
    assert "\n" not in line and "no documentation topic 'nope'" in line and all(t in line for t in pages)


def _helps(command: object, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], str]:
    """Every --help text of the command line, by command path."""
    found = {path: runner.invoke(app, [*path, "--help"]).stdout}
    for name, sub in getattr(command, "commands", {}).items():
        found.update(_helps(sub, (*path, name)))
    return found


def test_every_help_names_a_docs_topic_not_a_file(project_root: Path) -> None:
    import re

    import typer

    from assaykit.cli.docs import ALIASES

    helps = _helps(typer.main.get_command(app))
    assert len(helps) >= 19  # the top level, 13 commands and groups, 6 sub-commands
    pages = set(_pages(project_root))
    named = set()
    for path, text in helps.items():
        flat = re.sub(r"-\s+", "-", " ".join(text.split()))  # Click wraps lines after a hyphen
        assert "docs/" not in flat and ".md" not in flat, (path, flat)
        for topic in re.findall(r"assaykit docs ([a-z.-]+[a-z])", flat):
            assert topic in pages or ALIASES.get(topic) in pages, (path, topic)
            named.add(ALIASES.get(topic, topic))
    assert {"gating-strategy", "bead-calibration", "ledger", "interop", "scoring", "validation"} <= named


def test_every_cross_reference_a_wheel_reader_can_follow(tmp_path: Path) -> None:
    """In what the wheel ships (the pages, the strategy and lot YAML, every --help, the run.yaml
    `simulate` writes) a page is named as a topic of `assaykit docs` (a Markdown link only to a
    page beside it, as in the repository's docs/), never as a path of the source tree."""
    import re
    from importlib.resources import files

    import typer

    from assaykit.cli.docs import page, topics

    known = topics()
    texts = {f"page {t}": runner.invoke(app, ["docs", t]).stdout for t in known}  # as printed
    defaults = files("assaykit._defaults")
    for entry in [*defaults.iterdir(), *defaults.joinpath("beads").iterdir()]:
        if entry.name.endswith(".yaml"):
            texts[f"yaml {entry.name}"] = entry.read_text(encoding="utf-8")
    for path, text in _helps(typer.main.get_command(app)).items():
        texts[f"help {' '.join(path)}"] = re.sub(r"-\s+", "-", " ".join(text.split()))
    assert runner.invoke(app, ["simulate", str(tmp_path / "run"), "--patients", "1", "--events", "2000"]).exit_code == 0
    texts["simulated run.yaml"] = (tmp_path / "run" / "run.yaml").read_text()
    assert len(texts) > len(known) + 20
    followed = set()
    for where, text in texts.items():
        for reference in re.findall(r"[\w./-]*\.md\b", text):
            assert "/" not in reference and reference[:-3] in known, (where, reference)
            assert where.startswith("page ") and f"]({reference})" in text, (where, reference)  # a link beside it
        for topic in re.findall(r"assaykit docs ((?:[\w.-]+[\w]))", text):
            page(topic)  # an AssayKitError for a topic that is not shipped
            followed.add(topic)
        assert "gating/beads/" not in text or "repository" in text, where
        assert "../gating/" not in text, where
        assert "sample_fcs" not in text or "repository" in text, where  # the wheel has no demo run
    assert {"gating-strategy", "bead-calibration", "scoring", "plate-map", "validation", "ledger"} <= followed


def test_usage_messages_name_what_was_given(simulated_run: Path, tmp_path: Path) -> None:
    """A bad choice without pydantic's prefix; --convert named as --convert; the bead lot's
    either/or from run.yaml names its keys and the file, from the command line its flags."""
    import shutil

    bad = runner.invoke(app, ["simulate", str(tmp_path / "x"), "--instrument", "facs"])
    assert bad.exit_code == 2 and "Value error" not in bad.output
    assert "Invalid value for '--instrument': 'facs' is not one of 'canto'" in " ".join(bad.output.split())
    convert = runner.invoke(app, ["calibrate", str(simulated_run / "Specimen_001_H12_H12.fcs"), "--lot",
                                  str(simulated_run / "beads_lot.yaml"), "--convert", "1500,abc"])
    assert convert.exit_code == 2 and "--convert must be numbers" in convert.stderr, convert.output
    run = tmp_path / "run"
    shutil.copytree(simulated_run, run)
    for yaml, says in (("lot: beads_lot.yaml\nbead_values: [1, 2, 3, 4]\n", "both lot: and bead_values: given"),
                       ("control: unstimulated\n", "neither lot: FILE nor bead_values:")):
        (run / "run.yaml").write_text("plate_map: plate_map.csv\n" + yaml)
        done = runner.invoke(app, ["score", str(run), "--out", str(tmp_path / "o"), "--no-ledger", "--no-report"])
        assert done.exit_code == 2 and says in done.stderr and "run.yaml" in done.stderr, done.output
    both = runner.invoke(app, ["score", str(run), "--out", str(tmp_path / "o"), "--no-ledger", "--no-report",
                               "--lot", str(run / "beads_lot.yaml"), "--bead-values", "1,2,3,4"])
    assert both.exit_code == 2 and "either --lot FILE or --bead-values" in both.stderr, both.output
    (run / "run.yaml").unlink()
    none = runner.invoke(app, ["score", str(run), "--out", str(tmp_path / "o"), "--no-ledger", "--no-report"])
    assert none.exit_code == 2 and "no bead lot: give --lot FILE or --bead-values" in none.stderr, none.output


def test_help_lists_every_output_and_what_a_document_refuses() -> None:
    def flat(*command: str) -> str:
        return " ".join(runner.invoke(app, [*command, "--help"]).stdout.split())

    score = flat("score")
    assert all(name in score for name in ("samples.csv", "qc.csv", "trajectories.csv", "gates/<tube>.xml", "run.wsp",
                                          "manifest.json", "figure_data.json"))
    simulate = flat("simulate")
    assert all(name in simulate for name in ("run.yaml", "simulation.json", "compensation.csv", "truth.csv"))
    gate = flat("gate")
    assert all(option in gate for option in ("--plot, --beads", "--isotype", "--compensation", "refused",
                                             "flowjo_count", "percent_of_parent"))
    compare = flat("compare")
    assert all(text in compare for text in ("--workspace", "--manual", "--columns", "--mfi-scale", "hladr_mfi or "
                                            "hladr_abc", "F1 left empty", "decimal comma", "Example: assaykit "
                                            "compare reports/run-2026-11-22 --manual"))


def test_python_m_runs_the_package(simulated_run: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "assaykit.cli", "docs", "plate-map"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("# Plate maps")
