"""Hostile inputs (issue 28, families 3, 4 and 10): every input kind x every special file is one
line naming the file and what it is, within seconds; structured formats nested to any depth are
one line, never a RecursionError; degenerate event data is a row with a finding, never a crash;
chained FCS datasets and gate chains cost bounded time and memory; a worker's fault is a row and
the pool still ends. Each family is generated, not listed."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from assaykit.cli import app

pytestmark = pytest.mark.skipif(not hasattr(signal, "setitimer") or not hasattr(os, "mkfifo"),
                                reason="POSIX only: FIFOs and an interval timer")

SECONDS = 10  # a refused input ends well within this; a read that blocks or never ends is cut here


@contextlib.contextmanager
def deadline(seconds: float = SECONDS) -> Iterator[None]:
    """Fail (TimeoutError) instead of hanging when the block runs longer than ``seconds``: a
    blocking open of a FIFO or an endless read of /dev/zero is interrupted by SIGALRM."""
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s: a read that blocks or never ends")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def cli(*args: str) -> tuple[int, str, float]:
    """(exit code, stderr, seconds) of the command, run in this process under :func:`deadline`."""
    started = time.monotonic()
    with deadline():
        result = CliRunner().invoke(app, list(args))
    assert not isinstance(result.exception, TimeoutError), f"{args}: {result.exception}"
    return result.exit_code, result.stderr, time.monotonic() - started


# --- special files ------------------------------------------------------------------------------------

KINDS = ("fifo", "link to /dev/zero", "device", "directory", "broken link", "missing")
WORDS = {"fifo": ("FIFO",), "link to /dev/zero": ("character device",), "device": ("character device",),
         "directory": ("directory",), "broken link": ("broken symbolic link",),
         "missing": ("not found", "no such file")}
"""What the one line must say each kind is (any of the words)."""
OWN_WORDS = {**WORDS, "link to /dev/zero": ("symbolic link",), "device": ("symbolic link",),
             "broken link": ("symbolic link",),
             "missing": ("not found", "missing")}
"""The same for a file assaykit wrote and reads back: a symbolic link in its place is refused as one."""


def special(path: Path, kind: str, free: bool = True) -> Path:
    """Make ``path`` the special file ``kind`` and return the path to name it by: with ``free`` (an
    input named by any path), a device is /dev/null itself, else a link to it at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "link to /dev/zero":
        path.symlink_to("/dev/zero")
    elif kind == "device":
        if free:
            return Path("/dev/null")
        path.symlink_to("/dev/null")
    elif kind == "directory":
        path.mkdir()
    elif kind == "broken link":
        path.symlink_to(path.parent / "nowhere" / "nothing")
    return path


def one_line(err: str, path: Path, words: tuple[str, ...]) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert str(path) in lines[0] or path.name in lines[0], lines[0]
    assert any(w in lines[0] for w in words), lines[0]
    assert "Traceback" not in err and len(lines[0]) < 600


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from assaykit.simulate import RunSpec, write_run

    return write_run(tmp_path_factory.mktemp("run") / "run",
                     RunSpec(patients=1, conditions=("unstimulated", "IFN-gamma"), events=3000, seed=3))


@pytest.fixture(scope="module")
def scored(run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scored") / "out"
    code, err, _ = cli("score", str(run), "--out", str(out), "--no-ledger", "--jobs", "1")
    assert code in (0, 1), err
    return out


def _copy(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run, copy, symlinks=True)
    return copy


RUN_KEYS = ("plate_map", "strategy", "lot", "clinical", "compensation", "qc_targets")
"""The inputs run.yaml names by path (each read before any tube is measured)."""


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("key", RUN_KEYS)
def test_every_input_run_yaml_names_as_a_special_file_is_one_line(run: Path, tmp_path: Path, key: str,
                                                                   kind: str) -> None:
    copy = _copy(run, tmp_path)
    target = special(tmp_path / f"{key}.input", kind)
    lines = [f"{key}: {target}"] + ([] if key == "lot" else ["lot: beads_lot.yaml"])
    lines += [] if key == "plate_map" else ["plate_map: plate_map.csv"]
    (copy / "run.yaml").write_text("\n".join(lines) + "\n")
    code, err, seconds = cli("score", str(copy), "--out", str(tmp_path / "out"), "--no-ledger", "--jobs", "1")
    assert code == 2, err
    one_line(err, target, WORDS[kind])
    assert seconds < SECONDS and not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "missing"])  # no run.yaml: a run without options
def test_run_yaml_as_a_special_file_is_one_line(run: Path, tmp_path: Path, kind: str) -> None:
    copy = _copy(run, tmp_path)
    target = special(copy / "run.yaml", kind, free=False)
    code, err, _ = cli("score", str(copy), "--out", str(tmp_path / "out"), "--no-ledger", "--jobs", "1")
    assert code == 2, err
    one_line(err, target, WORDS[kind])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("suffix", [".yaml", ".xml", ".wsp"])
def test_a_strategy_gatingml_or_workspace_as_a_special_file_is_one_line(run: Path, tmp_path: Path, suffix: str,
                                                                        kind: str) -> None:
    target = special(tmp_path / f"document{suffix}", kind)
    tube = next(run.glob("*A1_A01.fcs"))
    code, err, _ = cli("gate", str(tube), "--strategy", str(target))
    assert code == 2, err
    one_line(err, target, WORDS[kind])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", ["inspect", "gate", "calibrate-lot"])
def test_an_fcs_file_or_bead_lot_as_a_special_file_is_one_line(run: Path, tmp_path: Path, command: str,
                                                               kind: str) -> None:
    if command == "calibrate-lot":
        target = special(tmp_path / "lot.yaml", kind)
        args = ["calibrate", str(next(run.glob("*H12*.fcs"))), "--lot", str(target)]
    else:
        target = special(tmp_path / "tube.fcs", kind)
        args = [command, str(target)]
    code, err, _ = cli(*args)
    assert code == 2, err
    one_line(err, target, WORDS[kind])


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "missing"])
def test_a_special_fcs_entry_in_the_run_folder_is_a_row_saying_what_it_is(run: Path, tmp_path: Path,
                                                                          kind: str) -> None:
    import pandas as pd

    copy = _copy(run, tmp_path)
    tube = next(copy.glob("*A2_A02.fcs"))
    special(tube, kind, free=False)
    code, err, _ = cli("score", str(copy), "--out", str(tmp_path / "out"), "--no-ledger", "--jobs", "1",
                       "--no-report")
    assert code == 1, err
    samples = pd.read_csv(tmp_path / "out" / "samples.csv", dtype=str, keep_default_na=False)
    error = samples.loc[samples["file"] == tube.name, "error"].item()
    assert any(w in error for w in WORDS[kind]) and "not found" not in error, error


OUTPUT_FILES = ("manifest.json", "samples.csv", "calibration.csv", "figure_data.json")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", OUTPUT_FILES)
def test_report_and_verify_on_a_special_output_file_are_one_line(scored: Path, tmp_path: Path, name: str,
                                                                 kind: str) -> None:
    folder = tmp_path / "out"
    shutil.copytree(scored, folder, symlinks=True)
    target = special(folder / name, kind, free=False)
    code, err, _ = cli("report", str(folder), "--jobs", "1")
    if kind == "missing" and name == "figure_data.json":
        assert code == 0, err  # the figures are drawn from the tables alone
    else:
        assert code == 2, err
        if name != "manifest.json":  # a folder whose manifest is gone is not replaced (the output folder's rule)
            one_line(err, target, OWN_WORDS[kind])
    result = CliRunner().invoke(app, ["verify", str(folder)])  # verify reads no more than its manifest says
    with deadline():
        result = CliRunner().invoke(app, ["verify", str(folder)])
    if name == "manifest.json":
        assert result.exit_code == 2
        one_line(result.stderr, target, OWN_WORDS[kind])
    elif kind == "missing" and name == "figure_data.json":
        assert result.exit_code == 0, result.stdout  # report wrote a whole folder without it
    else:
        assert result.exit_code == 1
        said = [line for line in result.stdout.splitlines() if f": {name}: " in line]
        assert len(said) == 1 and any(w in said[0] for w in OWN_WORDS[kind]), result.stdout


def test_compare_reads_its_samples_table_bounded(scored: Path, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    shutil.copytree(scored, folder, symlinks=True)
    special(folder / "samples.csv", "fifo", free=False)
    manual = tmp_path / "manual.csv"
    manual.write_text("file,manual_abc\nx.fcs,1000\n")
    code, err, _ = cli("compare", str(folder), str(manual))
    assert code == 2 and "Traceback" not in err


# --- nesting depth: YAML, GatingML, FlowJo, JSON ----------------------------------------------------------

DEPTHS = (10, 63, 65, 200, 1000, 1100, 5000, 100_000)

GML = ('<?xml version="1.0" encoding="UTF-8"?><gating:Gating-ML '
       'xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating" '
       'xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes">{}</gating:Gating-ML>')
GATE = ('<gating:RectangleGate gating:id="g{i}"{parent}><gating:dimension gating:min="0" '
        'gating:compensation-ref="uncompensated"><data-type:fcs-dimension data-type:name="FSC-A"/>'
        '</gating:dimension></gating:RectangleGate>')


def _yaml(depth: int, style: str) -> str:
    if style == "block":
        return "".join("  " * i + f"k{i}:\n" for i in range(depth)) + "  " * depth + "v: 1\n"
    return "a: " + "[" * depth + "]" * depth + "\n"


NESTED: dict[str, Callable[[int], tuple[str, bytes]]] = {
    "strategy YAML (mappings)": lambda d: ("strategy.yaml", _yaml(min(d, 1100), "block").encode()),
    "strategy YAML (flow lists)": lambda d: ("strategy.yaml", _yaml(d, "flow").encode()),
    "GatingML wrappers": lambda d: ("gates.xml", GML.format("<w>" * d + GATE.format(i=0, parent="")
                                                            + "</w>" * d).encode()),
    "GatingML UTF-16": lambda d: ("gates.gml", GML.replace("UTF-8", "UTF-16").format(
        "<w>" * d + GATE.format(i=0, parent="") + "</w>" * d).encode("utf-16")),
}


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("case", NESTED)
def test_a_document_nested_to_any_depth_is_read_or_one_line(run: Path, tmp_path: Path, case: str,
                                                            depth: int) -> None:
    name, data = NESTED[case](depth)
    path = tmp_path / name
    path.write_bytes(data)
    code, err, seconds = cli("gate", str(next(run.glob("*A1_A01.fcs"))), "--strategy", str(path))
    assert "RecursionError" not in err and "Traceback" not in err and seconds < SECONDS
    if code != 0:
        assert code == 2
        one_line(err, path, ("nested more than", "not a valid", "expected", "missing", "unknown key", "YAML",
                             "more than the"))
    if case.startswith("GatingML"):  # read as XML whatever its encoding, never as YAML
        assert "YAML" not in err
        assert (code == 0) == (depth < 1024), err  # within the XML bound: the gate is applied


@pytest.mark.parametrize("depth", DEPTHS)
def test_a_flowjo_tree_nested_to_any_depth_is_one_line(tmp_path: Path, depth: int) -> None:
    from assaykit.errors import GatingError
    from assaykit.interop import read_workspace

    path = tmp_path / "deep.wsp"
    path.write_text('<?xml version="1.0"?><Workspace><SampleList><Sample><SampleNode name="s">'
                    + "<Subpopulations><Population name='p'>" * depth
                    + "</Population></Subpopulations>" * depth + "</SampleNode></Sample></SampleList></Workspace>")
    with deadline(), contextlib.suppress(GatingError):
        read_workspace(path)


@pytest.mark.parametrize("depth", DEPTHS)
def test_a_manifest_nested_to_any_depth_is_one_line(scored: Path, tmp_path: Path, depth: int) -> None:
    folder = tmp_path / "out"
    shutil.copytree(scored, folder, symlinks=True)
    (folder / "manifest.json").write_text('{"files": ' + "[" * depth + "]" * depth + "}")
    with deadline():
        result = CliRunner().invoke(app, ["verify", str(folder)])
    assert result.exit_code in (1, 2) and "Traceback" not in result.output


# --- degenerate event data ---------------------------------------------------------------------------------

DEGENERATE: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "all identical": lambda e: np.repeat(e[:1], len(e), axis=0),
    "all zero": np.zeros_like,
    "one distinct value per channel": lambda e: np.tile(e[len(e) // 2], (len(e), 1)),
    "two distinct values": lambda e: np.where(np.arange(len(e))[:, None] % 2 == 0, e[0], e[1]),
    "scatter constant": lambda e: np.column_stack([np.full(len(e), e[0, 0]), np.full(len(e), e[0, 1]),
                                                   np.full(len(e), e[0, 2]), e[:, 3:]]),
    "negative": lambda e: -np.abs(e) - 1,
    "two events": lambda e: e[:2],
    "one event": lambda e: e[:1],
}


def _degenerate(source: Path, target: Path, case: str) -> None:
    from assaykit import read_fcs
    from assaykit.fcs.writer import write_fcs

    sample = read_fcs(source)
    keywords = {k: v for k, v in sample.keywords.items() if not k.startswith("$") or k == "$SPILLOVER"}
    write_fcs(target, DEGENERATE[case](np.array(sample.events, dtype=np.float64)), sample.channels,
              sample.markers, keywords)


@pytest.mark.parametrize("case", DEGENERATE)
def test_degenerate_blood_tube_is_a_row_with_a_finding_not_a_crash(run: Path, tmp_path: Path, case: str) -> None:
    from assaykit.gating import load_strategy
    from assaykit.scoring.tube import measure_tube

    path = tmp_path / "tube.fcs"
    _degenerate(next(run.glob("*A1_A01.fcs")), path, case)
    row = measure_tube(path, load_strategy(), figure=True)
    assert row.error or row.qc_flags, row  # a finding says why: never a crash, never silence
    assert row.events is None or row.events == (1 if case == "one event" else 2 if case == "two events" else 3000)


@pytest.mark.parametrize("case", DEGENERATE)
def test_degenerate_bead_tube_is_a_calibration_with_a_finding_not_a_crash(run: Path, tmp_path: Path,
                                                                          case: str) -> None:
    from assaykit.beads.lot import load_lot
    from assaykit.beads.pipeline import calibrate_file
    from assaykit.errors import AssayKitError

    path = tmp_path / "beads.fcs"
    _degenerate(next(run.glob("*H12_H12.fcs")), path, case)
    try:
        bead_run = calibrate_file(path, load_lot(run / "beads_lot.yaml"))
    except AssayKitError as refused:  # the tube's calibration refused, saying why
        assert "\n" not in str(refused) and "peak" in str(refused)
    else:
        assert bead_run.calibration.findings or case == "scatter constant", bead_run.calibration


def test_a_plate_with_an_identical_events_tube_scores_with_workers_and_ends(run: Path, tmp_path: Path) -> None:
    import pandas as pd

    copy = _copy(run, tmp_path)  # the example: ZeroDivisionError, then a hang at the pool's exit
    tube = next(copy.glob("*A1_A01.fcs"))
    _degenerate(tube, tube, "all identical")
    code, err, seconds = cli("score", str(copy), "--out", str(tmp_path / "out"), "--no-ledger", "--jobs", "2",
                             "--no-report")
    assert code == 1 and "internal error" not in err, err
    samples = pd.read_csv(tmp_path / "out" / "samples.csv", dtype=str, keep_default_na=False)
    assert samples.loc[samples["file"] == tube.name, "error"].item().startswith("population ")
    assert seconds < SECONDS


# --- unbounded work -----------------------------------------------------------------------------------------


def _nextdata_chain(n: int, block: int = 256) -> bytes:
    """``n`` datasets of ``block`` bytes, each $NEXTDATA to the next, each TEXT running to the end."""
    size, parts = n * block, []
    for k in range(n):
        text = (b"/$NEXTDATA/%08d/$TOT/0/$PAR/1/$P1N/FSC-A/$P1B/32/$DATATYPE/F/$BYTEORD/1,2,3,4/$MODE/L/" % block)
        text += b"K/V/" * ((block - 58 - len(text)) // 4)
        header = b"FCS3.1    " + b"%8d%8d%8d%8d%8d%8d" % (58, size - k * block - 1, 0, 0, 0, 0)
        parts.append(header + text.ljust(block - 58))
    return b"".join(parts)


@pytest.mark.parametrize("n", [10, 2000, 8000])
def test_chained_datasets_overlapping_to_the_end_cost_bounded_time_and_memory(tmp_path: Path, n: int) -> None:
    from assaykit.errors import FCSFormatError
    from assaykit.fcs import read_fcs_text

    path = tmp_path / "chain.fcs"
    path.write_bytes(_nextdata_chain(n))
    tracemalloc.start()
    started = time.monotonic()
    try:
        with deadline(), pytest.raises(FCSFormatError, match="overlapping datasets"):
            read_fcs_text(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # linear: the first dataset's TEXT parsed once (its keywords take ~25x its bytes); before, every
    # dataset's TEXT was read to the end again: 6 GB and over a minute for 512 KB
    assert time.monotonic() - started < 4 and peak < 40 * path.stat().st_size + (4 << 20)


def test_a_forward_chain_with_text_to_the_end_is_bounded_too(tmp_path: Path) -> None:
    from assaykit.errors import FCSFormatError
    from assaykit.fcs import read_fcs_text
    from assaykit.fcs.reader import MAX_TEXT_BYTES

    block, n = 256, 4000  # supplemental TEXT of each dataset: the whole rest of the file
    parts = []
    for k in range(n):
        text = b"/$NEXTDATA/%08d/$BEGINSTEXT/58/$ENDSTEXT/%d/$TOT/0/$PAR/1/$P1N/A/$P1B/32/$DATATYPE/F/" % (
            block, n * block - k * block - 2)
        parts.append(b"FCS3.1    " + b"%8d%8d%8d%8d%8d%8d" % (58, 58 + len(text) - 1, 0, 0, 0, 0)
                     + text.ljust(block - 58))
    path = tmp_path / "chain.fcs"
    path.write_bytes(b"".join(parts))
    tracemalloc.start()
    try:
        with deadline(), pytest.raises(FCSFormatError, match="bytes of TEXT"):
            read_fcs_text(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 12 * MAX_TEXT_BYTES


@pytest.mark.parametrize("n", [1000, 20000])
def test_a_gatingml_chain_of_parent_gates_is_linear(run: Path, tmp_path: Path, n: int) -> None:
    path = tmp_path / "chain.xml"
    path.write_text(GML.format("".join(GATE.format(i=i, parent=f' gating:parent_id="g{i - 1}"' if i else "")
                                       for i in range(n))))
    code, err, seconds = cli("gate", str(next(run.glob("*A1_A01.fcs"))), "--strategy", str(path))
    assert code == 0, err
    assert seconds < 0.5 + n * 2e-4  # 20,000 gates: about 1.5 s here (quadratic: 34 s)


@pytest.mark.parametrize(("jobs", "tasks", "cores", "expected"), [
    (100_000, 6, 2, 2), (10**20, 6, 3, 3), (100_000, 2, 8, 2), (4, 6, 8, 4)])
def test_jobs_beyond_the_cores_start_no_more_workers_than_cores_or_tasks(
        monkeypatch: pytest.MonkeyPatch, jobs: int, tasks: int, cores: int, expected: int) -> None:
    import concurrent.futures

    from assaykit import _workers

    sizes: list[int] = []
    real = concurrent.futures.ProcessPoolExecutor

    def pool(*args: object, max_workers: int, **kwargs: object) -> object:
        sizes.append(max_workers)
        return real(*args, max_workers=max_workers, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_workers, "usable_cores", lambda: cores)
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", pool)
    assert list(_workers.map_in_workers(abs, list(range(-tasks, 0)), jobs)) == list(range(tasks, 0, -1))
    assert sizes == [expected]


def _faulty(task: int) -> int:
    if task == 3:
        return 1 // 0
    if task == 5:
        os._exit(1)  # the worker dies
    return task


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_worker_fault_is_a_row_and_the_pool_still_ends(jobs: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from assaykit import _workers
    from assaykit._workers import map_in_workers

    monkeypatch.setattr(_workers, "usable_cores", lambda: 2)  # two workers even on a one-core machine
    tasks = [0, 1, 2, 3] + ([] if jobs == 1 else [4, 5, 6])
    with deadline(30):
        results = list(map_in_workers(_faulty, tasks, jobs, failed=lambda t, e: f"failed {t}: {type(e).__name__}"))
    assert results[:4] == [0, 1, 2, "failed 3: ZeroDivisionError"]
    if jobs > 1:
        assert results[5] == "failed 5: BrokenProcessPool"  # a dead worker: its tube is a row


def _broken_task(task: object) -> object:
    raise ZeroDivisionError("float division by zero")


def test_the_local_executor_turns_a_tube_s_fault_into_its_row(run: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from assaykit.scoring import executors
    from assaykit.scoring.tube import TubeTask

    monkeypatch.setattr(executors, "run_task", _broken_task)
    tasks = [TubeTask(path=p, strategy=None) for p in sorted(run.glob("*A*.fcs"))]  # type: ignore[arg-type]
    with deadline(30):
        rows = list(executors.LocalExecutor(jobs=2).map(tasks))
    assert [r.path for r in rows] == [t.path for t in tasks]
    assert all(r.error.startswith("not measured: internal error (ZeroDivisionError)") for r in rows), rows
    for row in rows:
        Path(row.error.rsplit("the traceback is in ", 1)[1]).unlink()


# --- smaller ones: what a file is, $TOT, .xls, XLSX -----------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", "NaN", "12.5", "3e9999", "0x10", "1,000"])
def test_a_tot_that_is_not_a_whole_number_is_said_so(run: Path, tmp_path: Path, value: str) -> None:
    from assaykit import read_fcs

    source = next(run.glob("*A1_A01.fcs")).read_bytes()
    total = source[source.index(b"$TOT/") + 5:].split(b"/", 1)[0]
    path = tmp_path / "tot.fcs"
    path.write_bytes(source.replace(b"$TOT/" + total + b"/", b"$TOT/" + value.encode() + b"/", 1))
    try:
        sample = read_fcs(path)
    except Exception as error:  # the DATA length no longer fits: still says what $TOT is
        assert "not a whole number" in str(error) or "DATA" in str(error), error
        return
    assert any(f"$TOT is not a whole number ({value!r})" in n for n in sample.notes), sample.notes
    assert sample.n_events == int(total)


@pytest.mark.parametrize("content", ["ole2", "csv"])
def test_an_xls_plate_map_says_to_save_it_as_xlsx_or_csv(run: Path, tmp_path: Path, content: str) -> None:
    copy = _copy(run, tmp_path)
    ole2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    data = ole2 if content == "ole2" else (copy / "plate_map.csv").read_bytes()
    (copy / "plate_map.xls").write_bytes(data)
    (copy / "run.yaml").write_text("plate_map: plate_map.xls\nlot: beads_lot.yaml\n")
    code, err, _ = cli("score", str(copy), "--out", str(tmp_path / "out"), "--no-ledger")
    assert code == 2
    one_line(err, copy / "plate_map.xls", ("save it as .xlsx",))
    assert "ImportError" not in err and "calamine" not in err


def _workbook(path: Path, rows: int, width: int) -> None:
    import io
    import zipfile

    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["well", "file", "patient", "timepoint", "condition", "role"])
    buffer = io.BytesIO()
    book.save(buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    body = b"".join(b'<row r="%d"><c r="A%d" t="inlineStr"><is><t>%s</t></is></c></row>' % (i, i, b"A1" * width)
                    for i in range(2, rows))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"</sheetData>", body + b"</sheetData>")
            out.writestr(info, data)


@pytest.mark.parametrize(("rows", "width", "expected"), [
    (200_000, 50, "bytes once uncompressed"),  # 1.2 MB of workbook, 34 MB of XML
    (150_000, 1, "cells"),
    (6_000, 50, " more"),  # within the bounds: read, its thousands of problems listed twelve at a time
])
def test_a_huge_xlsx_plate_map_is_refused_before_parsing_in_one_short_line(run: Path, tmp_path: Path, rows: int,
                                                                          width: int, expected: str) -> None:
    copy = _copy(run, tmp_path)
    _workbook(copy / "plate_map.xlsx", rows, width)
    (copy / "run.yaml").write_text("plate_map: plate_map.xlsx\nlot: beads_lot.yaml\n")
    tracemalloc.start()
    try:
        code, err, seconds = cli("score", str(copy), "--out", str(tmp_path / "out"), "--no-ledger")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 2 and expected in err and len(err) < 2000, err[:300]
    assert seconds < SECONDS and peak < 400 << 20


OVERRIDE_GATES = {
    "polygon": "{type: polygon, dims: [CD14, SSC-A], vertices: [[900, 20000], [60000, 20000], [60000, 120000], "
               "[900, 120000]]}",
    "rectangle": "{type: rectangle, dims: [CD14, SSC-A], low: [900, 20000], high: [60000, 120000]}",
}


@pytest.mark.parametrize("kind", OVERRIDE_GATES)
def test_a_gate_override_travels_to_every_worker(run: Path, tmp_path: Path, kind: str) -> None:
    import json

    copy = _copy(run, tmp_path)  # the documented example, with more than one worker: "can't pickle" once
    overrides = "".join(f"  {well}:\n    reason: checked by hand\n    gate: {OVERRIDE_GATES[kind]}\n"
                        for well in ("A1", "A2"))
    (copy / "run.yaml").write_text("lot: beads_lot.yaml\njobs: 2\ngate_overrides:\n" + overrides)
    code, err, _ = cli("score", str(copy), "--out", str(tmp_path / "out"), "--no-ledger", "--no-report")
    assert code in (0, 1) and "Traceback" not in err and "internal error" not in err, err
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert len(manifest["gate_overrides"]) == 2
