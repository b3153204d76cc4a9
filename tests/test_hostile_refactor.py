"""Hostile inputs against the refactored areas (the CLI package, assaykit/_io, the one gate model),
by family: each failure found is a parametrised family here, each case ending in one line naming
the file and a documented exit code (or the library's AssayKitError), never a traceback, and no
file assaykit did not write deleted or changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from assaykit._io.atomic import atomic_output, output_unit, write_atomic
from assaykit._io.config import read_yaml
from assaykit.errors import AssayKitError, GatingError
from assaykit.gating.strategy import ROOT, Population, order_populations

FLOWJO = Path(__file__).resolve().parents[1].parent / "shared" / "interop" / "flowjo"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assaykit.cli", *args], capture_output=True, text=True, timeout=300)


# --- YAML: nesting beyond the interpreter's recursion, keys given twice -------------------------------

DEEP = {
    "flow lists": "[" * 3000 + "]" * 3000,
    "flow mappings": "{a: " * 3000 + "1" + "}" * 3000,
    "block mappings": "".join("  " * i + f"k{i}:\n" for i in range(400)) + "  " * 400 + "v\n",
    "a list inside a key": "populations:\n  - " + "[" * 2000 + "]" * 2000 + "\n",
}
TWICE = {
    "top level": "name: a\nname: b\n",
    "nested": "thresholds:\n  normal_abc: 1\n  normal_abc: 2\n",
    "in a list item": "populations:\n  - name: a\n    name: b\n",
    "flow mapping": "{jobs: 1, jobs: 8}\n",
    "quoted and unquoted": "jobs: 1\n'jobs': 8\n",
}


@pytest.mark.parametrize("text", DEEP.values(), ids=DEEP)
def test_deeply_nested_yaml_is_refused_in_one_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(AssayKitError, match="nested more than") as raised:
        read_yaml(path, AssayKitError, "run file")
    assert raised.value.path == path and "\n" not in str(raised.value)


@pytest.mark.parametrize("text", TWICE.values(), ids=TWICE)
def test_a_key_given_twice_is_refused_not_silently_the_last(tmp_path: Path, text: str) -> None:
    path = tmp_path / "lot.yaml"
    path.write_text(text)
    with pytest.raises(AssayKitError, match="given twice"):
        read_yaml(path, AssayKitError, "bead lot file")


def test_yaml_that_is_neither_deep_nor_repeated_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("a: {b: [1, 2, {c: 3}]}\nd: 15e3\n")
    assert read_yaml(path, AssayKitError, "run file") == {"a": {"b": [1, 2, {"c": 3}]}, "d": 15000.0}


@pytest.mark.parametrize("option", ["--strategy", "--lot"])
def test_cli_deep_or_repeated_yaml_is_exit_2_one_line(simulated_run: Path, tmp_path: Path, option: str) -> None:
    fcs = sorted(simulated_run.glob("*.fcs"))[0]
    for name, text in (("deep.yaml", DEEP["flow lists"]), ("twice.yaml", TWICE["top level"])):
        (tmp_path / name).write_text(text)
        command = (["gate", str(fcs), "--strategy", str(tmp_path / name)] if option == "--strategy"
                   else ["calibrate", str(fcs), "--lot", str(tmp_path / name)])
        result = _cli(*command)
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and name in result.stderr and "Traceback" not in result.stderr


# --- output folders: a user's own files are never deleted ---------------------------------------------


def _output_folder(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    with output_unit(out) as stage:
        write_atomic(stage / "a.csv", b"x\n")
        write_atomic(stage / "gates" / "t.xml", b"<x/>")
        write_atomic(stage / "manifest.json", json.dumps({"files": {"a.csv": {}, "gates/t.xml": {}}}).encode())
    return out


USER_FILES = ["my_notes.txt", "gates/my_gate.xml", "mine/data.txt", ".hidden", "a.csv.bak"]


@pytest.mark.parametrize("user_file", USER_FILES)
def test_a_users_file_in_an_output_folder_is_kept_and_the_run_refused(tmp_path: Path, user_file: str) -> None:
    out = _output_folder(tmp_path)
    (out / user_file).parent.mkdir(parents=True, exist_ok=True)
    (out / user_file).write_text("years of work")
    with pytest.raises(AssayKitError, match="not listed in its manifest") as raised, output_unit(out) as stage:
        (stage / "manifest.json").write_text("{}")
    assert raised.value.path == out
    assert (out / user_file).read_text() == "years of work" and (out / "a.csv").read_bytes() == b"x\n"


PLANTED = {"empty object": "{}", "a list": "[]", "files a list": '{"files": ["thesis.docx"]}',
           "not JSON": "{", "null": "null", "files empty": '{"files": {}}'}


@pytest.mark.parametrize("manifest", PLANTED.values(), ids=PLANTED)
def test_a_planted_manifest_does_not_license_deleting_a_folder(tmp_path: Path, manifest: str) -> None:
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "thesis.docx").write_text("years of work")
    (mine / "manifest.json").write_text(manifest)
    with pytest.raises(AssayKitError, match=r"thesis\.docx|not a JSON object"), output_unit(mine):
        pass
    assert (mine / "thesis.docx").read_text() == "years of work"


def test_a_folder_holding_only_listed_files_is_replaced(tmp_path: Path) -> None:
    out = _output_folder(tmp_path)
    (out / "patients").mkdir()  # a folder assaykit makes, empty
    with output_unit(out) as stage:
        (stage / "manifest.json").write_text('{"files": {}}')
    assert [p.name for p in out.iterdir()] == ["manifest.json"]
    (out / "patients").symlink_to(tmp_path, target_is_directory=True)  # a user's link: refused, kept (issue 28)
    with pytest.raises(AssayKitError, match="'patients'"), output_unit(out):
        pass
    assert (out / "patients").is_symlink()


@pytest.mark.parametrize("name", ["*", "o?t", "[o]ut", "out*"])
def test_stale_staging_cleanup_never_touches_another_folders_staging(tmp_path: Path, name: str) -> None:
    other = tmp_path / ".out.staging-inuse"
    other.mkdir()
    (other / "table.csv").write_text("another run's output in progress")
    with output_unit(tmp_path / name) as stage:
        (stage / "manifest.json").write_text('{"files": {}}')
    assert (other / "table.csv").is_file()


# --- outputs the file system refuses: one line naming the output ----------------------------------------


def _unwritable(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_dir").mkdir()
    return {"parent is a file": tmp_path / "a_file" / "out", "inside /proc": Path("/proc/assaykit-nope/out"),
            "in /proc/self": Path("/proc/self/out")}


@pytest.mark.parametrize("case", ["parent is a file", "inside /proc", "in /proc/self"])
def test_an_output_folder_that_cannot_be_made_is_one_error(tmp_path: Path, case: str) -> None:
    target = _unwritable(tmp_path)[case]
    with pytest.raises(AssayKitError, match="cannot write the outputs") as raised, output_unit(target):
        pass
    assert raised.value.path == target


@pytest.mark.parametrize("case", ["parent is a file", "inside /proc", "in /proc/self", "a directory"])
def test_an_output_file_that_cannot_be_written_is_one_error(tmp_path: Path, case: str) -> None:
    target = {**_unwritable(tmp_path), "a directory": tmp_path / "a_dir"}[case]
    with pytest.raises(AssayKitError, match="cannot write the output") as raised:
        write_atomic(target, b"data")
    assert raised.value.path == target
    with pytest.raises(AssayKitError), atomic_output(target) as out:
        out.write(b"data")
    if case == "a directory":
        assert target.is_dir() and not list(target.iterdir())


@pytest.mark.parametrize("command", ["gate-gatingml", "convert"])
def test_cli_unwritable_outputs_are_exit_2_one_line(simulated_run: Path, tmp_path: Path, command: str) -> None:
    fcs = sorted(simulated_run.glob("*.fcs"))[0]
    for case, target in {**_unwritable(tmp_path), "a directory": tmp_path / "a_dir.csv"}.items():
        if case == "a directory":
            target.mkdir(exist_ok=True)
        else:
            target = target.with_suffix(".csv")
        args = (["gate", str(fcs), "--gatingml", str(target)] if command == "gate-gatingml"
                else ["convert", str(fcs), str(target)])
        result = _cli(*args)
        assert result.returncode == 2, (case, result.stderr)
        assert result.stderr.count("\n") == 1 and str(target) in result.stderr, (case, result.stderr)


# --- the compensation file: bounded, and every kind of non-file named --------------------------------------


@pytest.mark.parametrize("kind", ["directory", "fifo", "device", "symlink to /dev/zero", "too big", "proc mem"])
@pytest.mark.parametrize("suffix", [".csv", ".wsp"])
def test_a_hostile_compensation_path_is_one_error_naming_it(tmp_path: Path, kind: str, suffix: str) -> None:
    from assaykit.fcs.compensation import read_compensation

    path = tmp_path / f"comp{suffix}"
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path = Path("/dev/null")
    elif kind == "symlink to /dev/zero":
        path.symlink_to("/dev/zero")
    elif kind == "too big":
        with open(path, "wb") as handle:
            handle.truncate(300 << 20)  # sparse: beyond the CSV's and the workspace's bound
    else:
        path = Path("/proc/self/mem")
    with pytest.raises(GatingError) as raised:
        read_compensation(path)
    assert raised.value.path == path and "\n" not in str(raised.value)


# --- the gate model: deep chains and FlowJo trees -----------------------------------------------------------


def _chain(n: int, order: str) -> list[Population]:
    chain = [Population(f"g{i}", f"g{i - 1}" if i else ROOT, None) for i in range(n)]
    return {"parents first": chain, "children first": chain[::-1],
            "shuffled": chain[1::2][::-1] + chain[0::2]}[order]


@pytest.mark.parametrize("order", ["parents first", "children first", "shuffled"])
@pytest.mark.parametrize("n", [2000, 20000])
def test_a_deep_chain_of_gates_is_ordered_without_recursion(n: int, order: str) -> None:
    ordered = order_populations(_chain(n, order))
    assert [p.name for p in ordered] == [f"g{i}" for i in range(n)]


@pytest.mark.parametrize("n", [1, 2, 3000])
def test_a_cycle_of_any_length_is_still_named(n: int) -> None:
    cycle = [Population(f"g{i}", f"g{(i - 1) % n}", None) for i in range(n)]
    with pytest.raises(GatingError, match="cycle"):
        order_populations(cycle)


def _workspace(tmp_path: Path, populations: str) -> Path:
    source = (FLOWJO / "simple_line_example" / "simple_poly_and_rect.wsp").read_text()
    start = source.index("<SampleNode")
    first = source.index("<Subpopulations>", start)
    last = source.index("</Subpopulations>", first) + len("</Subpopulations>")
    path = tmp_path / "hostile.wsp"
    path.write_text(source[:first] + f"<Subpopulations>{populations}</Subpopulations>" + source[last:])
    return path


def _population(name: str, inner: str = "", count: str = "-1") -> str:
    return (f'<Population name="{name}" count="{count}"><Gate gating:id="x"><gating:RectangleGate gating:id="x">'
            '<gating:dimension gating:min="0"><data-type:fcs-dimension data-type:name="channel_A" />'
            f'</gating:dimension></gating:RectangleGate></Gate>{inner}</Population>')


def _nested(depth: int) -> str:
    text = ""
    for i in reversed(range(depth)):
        text = _population(f"p{i}", f"<Subpopulations>{text}</Subpopulations>" if text else "")
    return text


HOSTILE_WORKSPACES = {"nested 2000 deep": lambda: _nested(2000), "nested 20000 deep": lambda: _nested(20000),
                      "count text": lambda: _population("a", count="abc"),
                      "count 1e400": lambda: _population("a", count="1e400"),
                      "count 5000 digits": lambda: _population("a", count="9" * 5000),
                      "count empty": lambda: _population("a", count="")}


@pytest.mark.parametrize("case", HOSTILE_WORKSPACES)
def test_a_hostile_flowjo_population_tree_is_one_error(tmp_path: Path, case: str) -> None:
    if not FLOWJO.is_dir():
        pytest.skip("../shared/interop not beside the project")
    from assaykit.interop import read_workspace

    path = _workspace(tmp_path, HOSTILE_WORKSPACES[case]())
    with pytest.raises(GatingError) as raised:
        read_workspace(path)
    assert raised.value.path == path and "\n" not in str(raised.value)


def test_a_workspace_nested_within_the_limit_still_reads(tmp_path: Path) -> None:
    if not FLOWJO.is_dir():
        pytest.skip("../shared/interop not beside the project")
    from assaykit.interop import read_workspace

    workspace = read_workspace(_workspace(tmp_path, _nested(50)))
    sample = next(iter(workspace.samples.values()))
    assert len(sample.document.populations) == 50


# --- numbers on the command line and in run.yaml: beyond every machine type -------------------------------

HUGE = str(10**20)


@pytest.mark.parametrize(("args", "exit_code"), [
    (["simulate", "{tmp}/s", "--events", HUGE], 2),
    (["simulate", "{tmp}/s", "--seed", "-1", "--patients", "1", "--events", "1000"], 2),
    (["simulate", "{tmp}/a_file/s", "--patients", "1", "--events", "1000"], 2),
    (["simulate", "/proc/assaykit-nope", "--patients", "1", "--events", "1000"], 2),
], ids=["events 1e20", "seed -1", "out under a file", "out in /proc"])
def test_cli_hostile_numbers_and_folders_are_usage_or_input_errors(tmp_path: Path, args: list[str],
                                                                   exit_code: int) -> None:
    (tmp_path / "a_file").write_text("x")
    result = _cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.returncode == exit_code, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


@pytest.mark.parametrize("jobs", [HUGE, str(2**63)])
def test_a_huge_jobs_count_is_never_a_pool_size(jobs: str) -> None:
    from assaykit._workers import map_in_workers

    assert list(map_in_workers(abs, [-1, -2, -3], int(jobs))) == [1, 2, 3]


def test_an_older_runs_manifest_without_a_listing_still_vouches_for_its_folder(tmp_path: Path) -> None:
    out = tmp_path / "old-run"
    out.mkdir()
    (out / "samples.csv").write_text("file\n")
    (out / "manifest.json").write_text(json.dumps({"run_id": "abc", "software": {"assaykit": "0.0.9"}}))
    with output_unit(out) as stage:
        (stage / "manifest.json").write_text('{"files": {}}')
    assert [p.name for p in out.iterdir()] == ["manifest.json"]


@pytest.mark.parametrize("name", ["PE\x01A", "PE\x1bA", "PE\x00A"[:2] + "\x0bA", "PE\ud800A", "PE\ufffeA"])
def test_a_channel_name_xml_cannot_carry_is_one_error_not_an_unreadable_export(name: str) -> None:
    from xml.etree import ElementTree

    from assaykit.interop.export import xml_bytes

    root = ElementTree.Element("Sample")
    ElementTree.SubElement(root, "Parameter", name=name)
    with pytest.raises(GatingError, match="XML cannot carry"):
        xml_bytes(root)
    for fine in ("PE<&>\"'A", "PE]]>A", "PE-Ä€😀", " PE A ", "PE\tA"):
        ElementTree.SubElement(root, "Parameter", name=fine)
    root.remove(root[0])
    from defusedxml import ElementTree as SafeTree

    back = SafeTree.fromstring(xml_bytes(root))
    assert [p.get("name") for p in back] == ["PE<&>\"'A", "PE]]>A", "PE-Ä€😀", " PE A ", "PE\tA"]


HOSTILE_PNN = {"xml specials": "PE<&>\"'A", "cdata end": "PE]]>A", "unicode": "PE-Ä€😀", "spaces": " PE A ",
               "slash": "PE/A", "backslash": "PE\\A", "long": "P" * 300, "control": "PE\x01A", "escape": "PE\x1bA"}


@pytest.mark.parametrize("name", HOSTILE_PNN.values(), ids=HOSTILE_PNN)
def test_gates_exported_for_hostile_pnn_names_read_back(simulated_run: Path, tmp_path: Path,
                                                          name: str) -> None:
    import numpy as np

    from assaykit import read_fcs

    from .fcs_builder import build_fcs

    sample = read_fcs(sorted(simulated_run.glob("*.fcs"))[0])
    # the CD14 channel: gated on, so its $PnN is written into the exported gates
    names = [name if "CD14" in m.upper() else c for c, m in zip(sample.channels, sample.markers, strict=True)]
    fcs = tmp_path / "hostile.fcs"
    fcs.write_bytes(build_fcs(sample.raw.astype(np.float32), names=names, markers=list(sample.markers),
                              ranges=[str(r) for r in sample.channel_ranges()]))
    gates = tmp_path / "gates.xml"
    exported = _cli("gate", str(fcs), "--gatingml", str(gates))
    # a control character too is carried, escaped (issue 28: names are data; _io.names.escape)
    assert exported.returncode == 0, exported.stderr
    again = _cli("gate", str(fcs), "--strategy", str(gates))
    assert again.returncode == 0, again.stderr


# --- ledger commands that read: a user's empty file is not turned into a database ---------------------------


@pytest.mark.parametrize("command", [["runs"], ["patient", "P01"], ["qc", "--out", "{tmp}/qc"],
                                     ["export", "--out", "{tmp}/export"]], ids=["runs", "patient", "qc", "export"])
def test_a_reading_ledger_command_never_writes_into_an_empty_file(tmp_path: Path, command: list[str]) -> None:
    mine = tmp_path / "notes.sqlite"
    mine.write_bytes(b"")
    result = _cli("ledger", *[c.replace("{tmp}", str(tmp_path)) for c in command], "--ledger", str(mine))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "no ledger here" in result.stderr
    assert mine.read_bytes() == b""


# --- numbers beyond a float: integers of hundreds or thousands of digits ----------------------------------

LONG_NUMBERS = {"400 digits": "1" + "0" * 400, "5000 digits": "1" + "0" * 5000, "negative 400": "-1" + "0" * 400}


@pytest.mark.parametrize("number", LONG_NUMBERS.values(), ids=LONG_NUMBERS)
@pytest.mark.parametrize("template", ["thresholds: {{normal_abc: {}}}\n", "preanalytic_limit_h: {}\n",
                                      "bead_values: [{}, 2, 3]\n"])
def test_a_number_beyond_every_float_is_refused_in_one_line(tmp_path: Path, template: str,
                                                            number: str) -> None:
    from assaykit.scoring.options import load_run_yaml

    run = tmp_path / "run"
    run.mkdir()
    (run / "run.yaml").write_text(template.format(number))
    with pytest.raises(AssayKitError) as raised:
        load_run_yaml(run)
    assert raised.value.path == run / "run.yaml" and "\n" not in str(raised.value) and len(str(raised.value)) < 400


@pytest.mark.parametrize("number", [10**400, -(10**400)])
def test_the_validator_says_a_huge_integer_is_not_a_finite_number(number: int) -> None:
    from assaykit._io.validate import InvalidError, array
    from assaykit._io.validate import number as finite

    with pytest.raises(InvalidError, match="finite number"):
        finite(number, "x")
    with pytest.raises(InvalidError):
        array([number, 1.0], "x", (None,))


# --- a crash with a file name that is not UTF-8: still one line and exit 3 --------------------------------


@pytest.mark.parametrize("name", ["out\udcff", "\udcff\x01.fcs", "caf\udce9"])
def test_a_crash_with_a_non_utf8_argument_is_still_one_line(simulated_run: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                            name: str) -> None:
    import assaykit.gating
    from assaykit.cli import main

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"boom near {name}")

    monkeypatch.setattr(assaykit.gating, "apply_strategy", broken)
    monkeypatch.setattr(sys, "argv", ["assaykit", "gate", str(sorted(simulated_run.glob("*.fcs"))[0]),
                                      "--gatingml", str(tmp_path / name)])
    with pytest.raises(SystemExit) as ended:
        main()
    err = capsys.readouterr().err.strip().splitlines()
    assert ended.value.code == 3 and len(err) == 1 and err[0].startswith("internal error (RuntimeError)"), err
    log = Path(err[0].rsplit("traceback is in ", 1)[1])
    assert "boom near" in log.read_text()
    log.unlink()


# --- fixed gates (a strategy's, a gate override's) go to worker processes ------------------------------------

FIXED_SPECS = {"interval": (("CD14",), {"low": 100.0, "high": None}),
               "rectangle": (("CD14", "SSC-A"), {"low": [100, 1000], "high": [5000, None]}),
               "polygon": (("CD14", "SSC-A"), {"vertices": [[100, 1000], [5000, 1000], [5000, 9e4]]}),
               "ellipse": (("CD14", "SSC-A"), {"center": [1000, 5000], "covariance": [[4e4, 0], [0, 4e6]]}),
               "quadrant": (("CD14", "SSC-A"), {"split": [1000, 5000], "quadrant": "++"})}


@pytest.mark.parametrize("kind", FIXED_SPECS)
def test_every_fixed_gate_pickles_to_a_worker_and_places_the_same(kind: str) -> None:
    import pickle

    from assaykit.gating.gates import GATE_TYPES

    dims, spec = FIXED_SPECS[kind]
    cls = GATE_TYPES[kind]
    try:
        fixed = cls.from_spec(dims, {**spec, **({"distance": 4.0} if kind == "ellipse" else {})}, kind)
    except GatingError:
        fixed = cls.from_spec(dims, spec, kind)
    again = pickle.loads(pickle.dumps(fixed))

    def to_display(value: float | None, i: int) -> float | None:
        return None if value is None else value / 10.0

    assert again.place(to_display) == fixed.place(to_display)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 10**400, True, "100", [1]], ids=repr)
def test_a_drawn_gates_coordinates_are_checked_by_the_one_validator(bad: object) -> None:
    from assaykit.gating import load_strategy, parse_gate

    spec = {"type": "polygon", "dims": ["CD14", "SSC-A"], "vertices": [[100, 1000], [5000, bad], [5000, 100000]]}
    with pytest.raises(GatingError) as raised:
        parse_gate(spec, load_strategy(), "gate_overrides: 'A1'")
    message = str(raised.value)
    assert "\n" not in message and len(message) < 200 and message.startswith("gate_overrides: 'A1': vertices[1]")


def test_a_drawn_gate_override_scores_with_worker_processes(simulated_run: Path, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(simulated_run, run)
    (run / "run.yaml").unlink(missing_ok=True)
    (run / "run.yaml").write_text(
        "lot: beads_lot.yaml\ngate_overrides: {A1: {reason: drawn by hand, gate: {type: polygon, dims: [CD14, SSC-A],"
        " vertices: [[100, 1000], [5000, 1000], [5000, 100000], [100, 100000]]}}}\n")
    result = _cli("score", str(run), "--out", str(tmp_path / "out"), "--jobs", "2", "--no-report", "--no-ledger")
    # exit 1: this box holds the lymphocytes too, and a drawn gate is judged as the automatic one (withheld)
    assert result.returncode in (0, 1), result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    import csv

    with open(tmp_path / "out" / "samples.csv", newline="") as handle:
        a1 = next(r for r in csv.DictReader(handle) if r["well"] == "A1")
    assert a1["verdict"] in ("reportable", "reportable_with_warnings", "withheld") and not a1["error"]
    assert (a1["verdict"] == "withheld") == ("drawn_gate_implausible" in a1["verdict_reasons"])
    assert a1["verdict"] != "withheld" or result.returncode == 1  # a withheld value is said by the exit code


@pytest.mark.parametrize(("text", "expected"), [("<<: {jobs: 1}\n", {"jobs": 1}),
                                                ("a: {<<: {b: 1}, c: 2}\n", {"a": {"b": 1, "c": 2}})])
def test_an_inline_merge_key_is_not_taken_for_a_key_given_twice(tmp_path: Path, text: str, expected: dict) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    assert read_yaml(path, AssayKitError, "run file") == expected
