"""Outputs never cost a user's file: every writing command x every hostile output location
(missing parent, read-only parent, read-only existing output, a folder of a user's files, an
assaykit folder with a user's file added, a file where a folder is expected, a folder where a
file is expected, /proc, a symlink to elsewhere, an input named as the output). A refusal is
exit 2 with one line naming the output, decided before any work, and leaves the place exactly as
it was (no lock, staging folder, probe or ledger); every user file keeps its bytes
(docs/reliability.md, "Outputs")."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assaykit.cli import app

runner = CliRunner()
USER_BYTES = b"years of work\n\x00\xff"


def _cli(*args: str | Path) -> object:
    return runner.invoke(app, [str(a) for a in args])


def _tree(root: Path) -> dict[str, object]:
    """Everything under ``root`` (names, kinds, bytes, modes, link targets): equal before and
    after a refused command when it left nothing behind and changed nothing."""
    found: dict[str, object] = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            mode = path.lstat().st_mode
            if path.is_symlink():
                found[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                found[rel] = ("dir", mode)
            elif not path.is_file():  # a FIFO or device: never opened
                found[rel] = ("special", mode)
            else:
                found[rel] = ("file", mode, path.read_bytes())
    return found


def _ours(folder: Path, kind: str | None = None) -> Path:
    """An assaykit output folder (of ``kind``; None: a scored run's, whose manifest names none):
    a manifest listing its one table (size and sha256)."""
    import hashlib

    folder.mkdir(parents=True)
    data = b"a,b\n1,2\n"
    (folder / "a.csv").write_bytes(data)
    doc: dict[str, object] = {"files": {"a.csv": {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}}}
    if kind is not None:
        doc["kind"] = kind
    (folder / "manifest.json").write_text(json.dumps(doc))
    return folder


# --- the writing commands and their output options ----------------------------------------------------


@pytest.fixture(scope="module")
def scored(simulated_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A scored folder of the session's run (tables only) and the ledger it was recorded in."""
    base = tmp_path_factory.mktemp("scored")
    ledger = base / "ledger.sqlite"
    result = _cli("score", simulated_run, "--out", base / "out", "--jobs", "1", "--no-report", "--ledger", ledger)
    assert result.exit_code in (0, 1), result.output
    return base / "out", ledger


KINDS = {"score --out": None, "report OUT_DIR": None, "compare --out": "assaykit compare",
         "ledger qc --out": "assaykit ledger qc", "ledger export --out": "assaykit ledger export"}
FOLDER_COMMANDS = ["score --out", "report OUT_DIR", "compare --out", "ledger qc --out", "ledger export --out",
                   "simulate OUT_DIR"]
FILE_COMMANDS = ["gate --plot", "gate --membership", "gate --gatingml", "calibrate --plot", "convert OUT"]
SUFFIX = {"gate --plot": ".png", "calibrate --plot": ".png", "gate --gatingml": ".xml"}


def _argv(command: str, target: Path, run: Path, scored: tuple[Path, Path]) -> list[str | Path]:
    out, ledger = scored
    fcs = sorted(run.glob("*A01.fcs"))[0]
    return {
        "score --out": ["score", run, "--out", target, "--jobs", "1", "--no-report"],
        "report OUT_DIR": ["report", target, "--jobs", "1"],
        "compare --out": ["compare", out, "-w", out / "run.wsp", "--population", "monocytes", "--out", target],
        "ledger qc --out": ["ledger", "qc", "--ledger", ledger, "--out", target],
        "ledger export --out": ["ledger", "export", "--ledger", ledger, "--out", target],
        "simulate OUT_DIR": ["simulate", target, "--patients", "1", "--conditions", "unstimulated",
                             "--events", "1000"],
        "gate --plot": ["gate", fcs, "--plot", target],
        "gate --membership": ["gate", fcs, "--membership", target],
        "gate --gatingml": ["gate", fcs, "--gatingml", target],
        "calibrate --plot": ["calibrate", sorted(run.glob("*H12.fcs"))[0], "--lot", run / "beads_lot.yaml",
                             "--plot", target],
        "convert OUT": ["convert", fcs, target],
    }[command]


# --- the hostile places: each makes the place and says what must hold ------------------------------------


def _missing_parent(place: Path, name: str, existing: Callable[[Path], Path]) -> Path:
    return place / "no" / "such" / name


def _read_only_parent(place: Path, name: str, existing: Callable[[Path], Path]) -> Path:
    parent = place / "locked"
    parent.mkdir()
    (parent / "mine.txt").write_bytes(USER_BYTES)
    parent.chmod(0o555)
    return parent / name


def _read_only_output(place: Path, name: str, existing: Callable[[Path], Path]) -> Path:
    target = existing(place / name)
    for path in [target, *target.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    return target


def _users_folder(place: Path, name: str, existing: Callable[[Path], Path]) -> Path:
    target = place / name
    (target / "thesis").mkdir(parents=True)
    (target / "thesis" / "chapter1.docx").write_bytes(USER_BYTES)
    return target


def _ours_with_a_users_file(place: Path, name: str, existing: Callable[[Path], Path]) -> Path:
    target = existing(place / name)
    (target / "NOTES.txt").write_bytes(USER_BYTES)
    return target


def _file_in_place(place: Path, name: str, existing: Callable[[Path], Path]) -> Path:
    place.mkdir(exist_ok=True)
    (place / name).write_bytes(USER_BYTES)
    return place / name


def _under_a_file(place: Path, name: str, existing: Callable[[Path], Path]) -> Path:
    (place / "a_file").write_bytes(USER_BYTES)
    return place / "a_file" / name


def _in_proc(place: Path, name: str, existing: Callable[[Path], Path]) -> Path:
    return Path("/proc/assaykit-hostile") / name


def _symlink_elsewhere(place: Path, name: str, existing: Callable[[Path], Path]) -> Path:
    elsewhere = place / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "mine.txt").write_bytes(USER_BYTES)
    (place / name).symlink_to(elsewhere / "mine.txt" if "." in name else elsewhere)
    return place / name


FOLDER_PLACES = {"missing parent": _missing_parent, "read-only parent": _read_only_parent,
                 "read-only output": _read_only_output, "a user's folder": _users_folder,
                 "ours + a user's file": _ours_with_a_users_file, "a file where a folder is expected": _file_in_place,
                 "under a file": _under_a_file, "/proc": _in_proc, "symlink to elsewhere": _symlink_elsewhere}
FILE_PLACES = {"missing parent": _missing_parent, "read-only parent": _read_only_parent,
               "read-only output": _read_only_output, "a folder where a file is expected": _users_folder,
               "under a file": _under_a_file, "/proc": _in_proc}


def _restore_modes(place: Path) -> None:
    for folder, dirs, files in os.walk(place):
        for name in dirs + files:
            path = Path(folder) / name
            if not path.is_symlink():
                path.chmod(0o755 if path.is_dir() else 0o644)


def _refused(result: object, target: Path) -> None:
    output = result.output.strip()  # type: ignore[attr-defined]
    assert result.exit_code == 2, output  # type: ignore[attr-defined]
    assert "\n" not in output and output.startswith("error: ") and str(target) in output, output
    assert "Traceback" not in output and "unchanged" not in output


@pytest.mark.parametrize("case", FOLDER_PLACES)
@pytest.mark.parametrize("command", FOLDER_COMMANDS)
def test_every_folder_output_in_every_hostile_place(simulated_run: Path, scored: tuple[Path, Path],
                                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    command: str, case: str) -> None:
    monkeypatch.delenv("ASSAYKIT_LEDGER", raising=False)  # the default ledger beside the output: none may appear
    place = tmp_path / "place"
    place.mkdir()

    def existing(target: Path) -> Path:  # the command's own earlier output at target
        if command == "report OUT_DIR":
            shutil.copytree(scored[0], target)
            return target
        if command == "simulate OUT_DIR":
            target.mkdir()
            return target
        return _ours(target, KINDS[command])

    if case == "missing parent" and command != "report OUT_DIR":  # made, and written
        target = FOLDER_PLACES[case](place, "out", existing)
        result = _cli(*_argv(command, target, simulated_run, scored))
        assert result.exit_code in ((0, 1) if command == "score --out" else (0,)), result.output
        assert target.is_dir() and (target / ("plate_map.csv" if command.startswith("simulate") else "manifest.json")
                                    ).is_file()
        assert not [p for p in place.rglob(".*")], "a lock, staging folder or probe was left"
        return
    target = FOLDER_PLACES[case](place, "out", existing)
    before = _tree(place)
    try:
        result = _cli(*_argv(command, target, simulated_run, scored))
        _refused(result, target)
        assert _tree(place) == before  # every byte kept, nothing made (no lock, staging, probe, ledger)
    finally:
        _restore_modes(place)


@pytest.mark.parametrize("case", [*FILE_PLACES, "symlink to elsewhere", "an input as the output"])
@pytest.mark.parametrize("command", FILE_COMMANDS)
def test_every_file_output_in_every_hostile_place(simulated_run: Path, scored: tuple[Path, Path],
                                                  tmp_path: Path, command: str, case: str) -> None:
    place = tmp_path / "place"
    place.mkdir()
    name = "out" + SUFFIX.get(command, ".csv")

    def existing(target: Path) -> Path:
        target.write_bytes(USER_BYTES)
        return target

    if case == "symlink to elsewhere":  # the link is replaced by the output; what it pointed to is kept
        target = _symlink_elsewhere(place, name, existing)
        result = _cli(*_argv(command, target, simulated_run, scored))
        assert result.exit_code == 0, result.output
        assert (place / "elsewhere" / "mine.txt").read_bytes() == USER_BYTES
        assert target.is_file() and not target.is_symlink() and target.stat().st_size > 0
        return
    if case == "an input as the output":
        inputs = shutil.copytree(simulated_run, place / "run")
        argv = _argv(command, place / "x", inputs, scored)
        argv[-1] = argv[1]  # the FCS file read is named as the output too
        before = _tree(place)
        _refused(_cli(*argv), Path(argv[1]))
        assert _tree(place) == before
        return
    target = FILE_PLACES[case](place, name, existing)
    if case == "missing parent":  # made, and written, as score --out makes its folder
        result = _cli(*_argv(command, target, simulated_run, scored))
        assert result.exit_code == 0, result.output
        assert target.is_file() and target.stat().st_size > 0
        assert not [p for p in place.rglob(".*")], "a temporary file or probe was left"
        return
    before = _tree(place)
    try:
        _refused(_cli(*_argv(command, target, simulated_run, scored)), target)
        assert _tree(place) == before
    finally:
        _restore_modes(place)


def test_two_outputs_naming_one_file_are_refused(simulated_run: Path, tmp_path: Path) -> None:
    fcs = sorted(simulated_run.glob("*A01.fcs"))[0]
    for first, second in [("--plot", "--membership"), ("--membership", "--gatingml"), ("--plot", "--gatingml")]:
        result = _cli("gate", fcs, first, tmp_path / "same.csv", second, tmp_path / "same.csv")
        _refused(result, tmp_path / "same.csv")
        assert first in result.output and second in result.output
    assert not list(tmp_path.iterdir())


# --- replacing an output folder ------------------------------------------------------------------------


def test_a_rescore_replaces_its_own_folder_says_so_and_never_a_users_file(simulated_run: Path,
                                                                          tmp_path: Path) -> None:
    out, ledger = tmp_path / "reports" / "run", tmp_path / "ledger.sqlite"
    argv = ["score", simulated_run, "--out", out, "--jobs", "1", "--no-report", "--ledger", ledger]
    first = _cli(*argv)
    assert first.exit_code in (0, 1) and "replacing the earlier outputs" not in first.output
    second = _cli(*argv)
    assert second.exit_code in (0, 1)
    said = [line for line in second.output.splitlines() if "replacing the earlier outputs" in line]
    assert len(said) == 1 and f"results in {out}/ (replacing the earlier outputs there)" in said[0], second.output
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(".")]  # no lock or staging left
    for user_file in ["NOTES.txt", "gates/mine.xml", "patients/letter.pdf", ".hidden"]:
        (out / user_file).parent.mkdir(exist_ok=True)
        (out / user_file).write_bytes(USER_BYTES)
        for command in (argv, ["report", out]):
            before = _tree(tmp_path / "reports")
            result = _cli(*command)
            _refused(result, out)
            assert user_file[:40] in result.output and _tree(tmp_path / "reports") == before
        (out / user_file).unlink()


def test_a_file_browsers_own_files_never_block_a_rescore_and_are_kept(scored: tuple[Path, Path],
                                                                       tmp_path: Path) -> None:
    """Each file a desktop's file browser leaves (Finder, Explorer, Dolphin, macOS's ._ files), in
    the folder and in its patients/: `report` replaces the folder all the same, the file carried
    over with its bytes, verify whole (no manifest lists or misses it)."""
    from assaykit._io.atomic import OS_LITTER

    out = Path(shutil.copytree(scored[0], tmp_path / "out"))
    placed = [*(out / name for name in sorted(OS_LITTER)), out / "._index.html", out / "patients" / ".DS_Store"]
    (out / "patients").mkdir(exist_ok=True)  # as a first `report` leaves it
    for path in placed:
        path.write_bytes(USER_BYTES)
    result = _cli("report", out)
    assert result.exit_code == 0 and (out / "index.html").is_file(), result.output
    for path in placed:
        assert path.read_bytes() == USER_BYTES, path
    verified = _cli("verify", out)
    assert verified.exit_code == 0, verified.output


def test_a_changed_table_is_not_replaced(scored: tuple[Path, Path], tmp_path: Path) -> None:
    out = shutil.copytree(scored[0], tmp_path / "out")
    (out / "samples.csv").write_bytes((out / "samples.csv").read_bytes() + b"my own row\n")
    before = _tree(tmp_path)
    result = _cli("report", out)
    _refused(result, out)
    assert "samples.csv" in result.output and _tree(tmp_path) == before


@pytest.mark.parametrize("where", ["OUT/ledger.sqlite", "OUT", "OUT/sub/l.sqlite", "sqlite:///OUT/l.sqlite",
                                   "env OUT/ledger.sqlite", "run.yaml OUT/ledger.sqlite"])
def test_a_ledger_inside_the_output_folder_is_refused_before_work(simulated_run: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   where: str) -> None:
    run = shutil.copytree(simulated_run, tmp_path / "run")
    out = _ours(tmp_path / "out")
    location = where.split()[-1].replace("OUT", str(out))
    argv: list[str | Path] = ["score", run, "--out", out, "--jobs", "1", "--no-report"]
    if where.startswith("env"):
        monkeypatch.setenv("ASSAYKIT_LEDGER", location)
    elif where.startswith("run.yaml"):
        with open(run / "run.yaml", "a") as handle:
            handle.write(f"ledger: {location}\n")
    else:
        argv += ["--ledger", location]
    before = _tree(tmp_path)
    result = _cli(*argv)
    _refused(result, out)
    assert "ledger" in result.output and _tree(tmp_path) == before


def test_a_held_lock_refuses_before_work_and_is_left_to_its_holder(simulated_run: Path, tmp_path: Path) -> None:
    import fcntl

    out = tmp_path / "out"
    lock = tmp_path / ".out.lock"
    with open(lock, "wb") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        before = _tree(tmp_path)
        result = _cli("score", simulated_run, "--out", out, "--jobs", "1", "--no-report", "--no-ledger")
        _refused(result, out)
        assert "another assaykit" in result.output and _tree(tmp_path) == before
    lock.unlink()
    lock.symlink_to(tmp_path / "victim")  # a planted lock link: never followed, never made
    result = _cli("ledger", "export", "--ledger", tmp_path / "l.sqlite", "--out", out)
    assert result.exit_code == 2 and not (tmp_path / "victim").exists()


# --- studies -------------------------------------------------------------------------------------------


NAME_SETS = [["run", "run", "run-2"], ["run-2", "run", "run"], ["Run", "run", "RUN-2", "run-3"],
             ["a", "a", "a", "a-2", "a-3", "a-4"], ["x-2", "x", "x-2", "x"]]


@pytest.mark.parametrize("names", NAME_SETS)
def test_study_run_names_are_unique_by_construction(names: list[str]) -> None:
    from itertools import permutations

    from assaykit.scoring.study import _unique

    for order in set(permutations(names)):
        made = _unique(list(order))
        assert len({n.lower() for n in made}) == len(made), (order, made)
        seen: set[str] = set()
        for given, chosen in zip(order, made, strict=True):  # the first keeps its name; a later one takes none given
            assert chosen == given if given.lower() not in seen else chosen.lower() not in {n.lower() for n in order}
            seen.add(given.lower())


def test_a_study_of_runs_sharing_names_writes_each_to_its_own_folder(simulated_run: Path, tmp_path: Path) -> None:
    import csv

    runs = [tmp_path / "a" / "run", tmp_path / "b" / "run", tmp_path / "c" / "run-2"]
    for run in runs:
        shutil.copytree(simulated_run, run)
    out = tmp_path / "reports"
    result = _cli("score", *runs, "--out", out, "--jobs", "1", "--no-report", "--no-ledger")
    assert result.exit_code in (0, 1), result.output
    with open(out / "study.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["run_dir"] for r in rows) == sorted(str(r) for r in runs)
    folders = [Path(r["out_dir"]) for r in rows]
    assert len({f.resolve() for f in folders}) == 3 and all((f / "manifest.json").is_file() for f in folders)
    for row in rows:  # each folder holds the run it names
        manifest = json.loads((Path(row["out_dir"]) / "manifest.json").read_text())
        assert Path(manifest["run_dir"]).resolve() == Path(row["run_dir"]).resolve()
    (out / "study.csv").write_bytes(USER_BYTES)  # a user's study.csv: never written over
    before = _tree(out)
    _refused(_cli("score", *runs, "--out", out, "--jobs", "1", "--no-report", "--no-ledger"), out / "study.csv")
    assert _tree(out) == before


# --- simulate and compare ------------------------------------------------------------------------------


@pytest.mark.parametrize("content", ["plate_map.csv", "Specimen_001_A1_A01.fcs", ".hidden", "sub/deep.txt", "fifo"])
def test_simulate_refuses_a_folder_that_is_not_empty(tmp_path: Path, content: str) -> None:
    folder = tmp_path / "data"
    (folder / content).parent.mkdir(parents=True)
    if content == "fifo":
        os.mkfifo(folder / content)
    else:
        (folder / content).write_bytes(USER_BYTES)
    before = _tree(tmp_path)
    result = _cli("simulate", folder, "--patients", "1", "--conditions", "unstimulated", "--events", "1000")
    _refused(result, folder)
    assert "--force" in result.output and _tree(tmp_path) == before
    if content in ("sub/deep.txt", ".hidden"):  # --force writes its own files, leaves the others
        forced = _cli("simulate", folder, "--patients", "1", "--conditions", "unstimulated", "--events", "1000",
                      "--force")
        assert forced.exit_code == 0 and (folder / content).read_bytes() == USER_BYTES
        assert (folder / "plate_map.csv").is_file()


def test_simulate_help_example_names_a_new_folder(project_root: Path) -> None:
    import re

    text = _cli("simulate", "--help").output
    examples = re.findall(r"assaykit simulate (\S+)", text)
    assert examples and all(not (project_root / e).exists() for e in examples), examples


def test_compare_replaces_its_own_earlier_folder(scored: tuple[Path, Path], tmp_path: Path) -> None:
    out = scored[0]
    target = tmp_path / "agreement"
    argv = ["compare", out, "-w", out / "run.wsp", "--population", "monocytes", "--out", target]
    first = _cli(*argv)
    assert first.exit_code == 0 and "replacing" not in first.output, first.output
    second = _cli(*argv)
    assert second.exit_code == 0 and second.output.count("replacing the earlier comparison") == 1, second.output
    (target / "manifest.json").unlink()  # an older assaykit's agreement folder: its two files alone
    assert sorted(p.name for p in target.iterdir()) == ["agreement.csv", "agreement.html"]
    assert _cli(*argv).exit_code == 0 and (target / "manifest.json").is_file()
    for inside in (out, out / "sub", out.parent):  # the scored folder is never replaced
        before = _tree(out)
        _refused(_cli(*argv[:-1], inside), inside)
        assert _tree(out) == before


# --- neighbours: names too long for the temporary names, nesting no output has, a planted lock ------------


@pytest.mark.parametrize("length", [200, 233, 234, 255])
def test_output_names_too_long_for_their_temporary_names_are_refused_before_work(simulated_run: Path,
                                                                                  scored: tuple[Path, Path],
                                                                                  tmp_path: Path,
                                                                                  length: int) -> None:
    fcs = sorted(simulated_run.glob("*A01.fcs"))[0]
    folder, file = tmp_path / ("o" * length), tmp_path / ("f" * (length - 4) + ".csv")
    result = _cli("ledger", "export", "--ledger", scored[1], "--out", folder)
    converted = _cli("convert", fcs, file)
    if length <= 233:
        assert result.exit_code == 0 and (folder / "manifest.json").is_file(), result.output
    else:
        _refused(result, folder)
        assert "too long" in result.output and not folder.exists()
    if length <= 241:
        assert converted.exit_code == 0, converted.output
    else:
        _refused(converted, file)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("depth", [3, 16, 17, 400])
def test_an_output_folder_nested_deeper_than_assaykit_writes_is_refused(scored: tuple[Path, Path], tmp_path: Path,
                                                                        depth: int) -> None:
    out = _ours(tmp_path / "out", "assaykit ledger export")
    deep = out.joinpath(*["d"] * depth)
    deep.mkdir(parents=True)
    before = _tree(tmp_path)
    result = _cli("ledger", "export", "--ledger", scored[1], "--out", out)
    _refused(result, out)  # a user's folders, empty or not, are never removed: refused, named, kept
    assert _tree(tmp_path) == before
    assert ("nested" if depth > 16 else "'d/'") in result.output


@pytest.mark.parametrize("planted", ["a folder", "a FIFO", "a link to a file", "a dangling link"])
def test_a_planted_lock_is_never_followed_or_opened_as_a_file(scored: tuple[Path, Path], tmp_path: Path,
                                                              planted: str) -> None:
    lock, victim = tmp_path / ".out.lock", tmp_path / "victim.txt"
    victim.write_bytes(USER_BYTES)
    {"a folder": lambda: lock.mkdir(), "a FIFO": lambda: os.mkfifo(lock),
     "a link to a file": lambda: lock.symlink_to(victim),
     "a dangling link": lambda: lock.symlink_to(tmp_path / "made")}[planted]()
    before = _tree(tmp_path)
    result = _cli("ledger", "export", "--ledger", scored[1], "--out", tmp_path / "out")
    _refused(result, tmp_path / "out")
    assert _tree(tmp_path) == before and not (tmp_path / "made").exists()


def test_an_output_folder_named_by_dot_or_dotdot_is_replaced_beside_never_inside(scored: tuple[Path, Path],
                                                                                  tmp_path: Path,
                                                                                  monkeypatch: pytest.MonkeyPatch
                                                                                  ) -> None:
    out = shutil.copytree(scored[0], tmp_path / "out")
    (out / "figures").mkdir(exist_ok=True)  # a folder assaykit makes (a user's own would refuse the run: kept)
    for name, cwd in ((".", out), ("..", out / "figures")):
        monkeypatch.chdir(cwd)
        result = _cli("report", name, "--jobs", "1")
        assert result.exit_code == 0, result.output
        monkeypatch.chdir(tmp_path)
        assert (out / "index.html").is_file() and not [p for p in out.rglob(".*")]
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
        (out / "figures").mkdir(exist_ok=True)
    _refused(_cli("ledger", "export", "--ledger", scored[1], "--out", "/"), Path("/"))


@pytest.mark.parametrize("command", ["score --out", "compare --out", "ledger qc --out", "ledger export --out"])
def test_one_commands_outputs_never_replace_another_kind_of_output(simulated_run: Path, scored: tuple[Path, Path],
                                                                  tmp_path: Path, command: str) -> None:
    for other in {k for c, k in KINDS.items() if c != command and k != KINDS[command]}:
        target = _ours(tmp_path / "place" / str(other).replace(" ", "-"), other)
        before = _tree(tmp_path / "place")
        result = _cli(*_argv(command, target, simulated_run, scored))
        _refused(result, target)
        assert "another kind of assaykit output" in result.output and _tree(tmp_path / "place") == before


# --- issue 28, the hostile review: only what proves assaykit's own is ever removed -----------------------

REPLACING = ["score --out", "report OUT_DIR", "compare --out", "ledger qc --out", "ledger export --out"]


def _existing(command: str, target: Path, scored: tuple[Path, Path]) -> Path:
    """The command's own earlier output at ``target`` (report: a scored folder)."""
    if command == "report OUT_DIR":
        return Path(shutil.copytree(scored[0], target))
    return _ours(target, KINDS[command])


def _plant_lookalikes(place: Path) -> dict[str, object]:
    """Beside the output folder ``place/out``: every kind of thing named like assaykit's staging
    folders that is NOT assaykit's (a user's folder, a read-only one, one holding a file named
    like the mark with other bytes, a file), and one that is (the mark, as assaykit writes it)."""
    from assaykit._io.atomic import STAGING_MARK, STAGING_TEXT

    (place / ".out.staging-mine").mkdir()
    (place / ".out.staging-mine" / "thesis.txt").write_bytes(USER_BYTES)
    (place / ".out.staging-x").mkdir()
    (place / ".out.staging-x").chmod(0o555)
    (place / ".out.staging-old-y" / "previous").mkdir(parents=True)
    (place / ".out.staging-old-y" / "previous" / "NOTES.txt").write_bytes(USER_BYTES)
    (place / ".out.staging-fake").mkdir()
    (place / ".out.staging-fake" / STAGING_MARK).write_bytes(STAGING_TEXT + USER_BYTES)
    (place / ".out.staging-file").write_bytes(USER_BYTES)
    (place / ".out.staging-link").symlink_to(place / ".out.staging-mine")
    stale = place / ".out.staging-killed"  # an earlier, killed assaykit's: removed
    stale.mkdir()
    (stale / STAGING_MARK).write_bytes(STAGING_TEXT)
    (stale / "samples.csv").write_bytes(b"half,written\n")
    return {k: v for k, v in _tree(place).items() if k.startswith(".out.") and "killed" not in k}


@pytest.mark.parametrize("command", REPLACING)
def test_folders_named_like_assaykits_staging_are_removed_only_with_its_mark(simulated_run: Path,
                                                                            scored: tuple[Path, Path],
                                                                            tmp_path: Path, command: str) -> None:
    place = tmp_path / "place"
    place.mkdir()
    target = _existing(command, place / "out", scored)
    planted = _plant_lookalikes(place)
    try:
        result = _cli(*_argv(command, target, simulated_run, scored))
        assert result.exit_code in ((0, 1) if command in ("score --out", "compare --out") else (0,)), result.output
        assert {k: v for k, v in _tree(place).items() if k.startswith(".out.")} == planted  # every byte kept
        assert not (place / ".out.staging-killed").exists() and not (place / ".out.lock").exists()
        assert (target / "manifest.json").is_file()
    finally:
        _restore_modes(place)


@pytest.mark.parametrize("data", [USER_BYTES, b"x", b"assaykit lock\nmore", b"\n"])
@pytest.mark.parametrize("command", REPLACING)
def test_a_file_of_data_named_like_the_lock_refuses_the_run_and_is_kept(simulated_run: Path,
                                                                       scored: tuple[Path, Path], tmp_path: Path,
                                                                       command: str, data: bytes) -> None:
    place = tmp_path / "place"
    place.mkdir()
    target = _existing(command, place / "out", scored)
    (place / ".out.lock").write_bytes(data)
    before = _tree(place)
    result = _cli(*_argv(command, target, simulated_run, scored))
    _refused(result, target)
    assert ".out.lock" in result.output and "not an assaykit lock" in result.output
    assert _tree(place) == before


@pytest.mark.parametrize("data", [b"", b"assaykit lock\n"])
def test_a_stale_assaykit_lock_is_taken_and_removed(scored: tuple[Path, Path], tmp_path: Path, data: bytes) -> None:
    (tmp_path / ".out.lock").write_bytes(data)  # left by a killed assaykit (empty: killed while making it)
    result = _cli("ledger", "export", "--ledger", scored[1], "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / ".out.lock").exists() and (tmp_path / "out" / "manifest.json").is_file()


def _link_outside(out: Path) -> str:
    (out.parent / "userdir").mkdir(exist_ok=True)
    (out / "linkdir").symlink_to(out.parent / "userdir")
    return "linkdir"


def _dangling_link(out: Path) -> str:
    (out / "dangling").symlink_to(out.parent / "nowhere")
    return "dangling"


def _link_to_a_listed_name(out: Path) -> str:
    (out / "b.csv").symlink_to(out / "a.csv" if (out / "a.csv").exists() else out / "manifest.json")
    return "b.csv"


def _empty_folder(out: Path) -> str:
    (out / "emptydir").mkdir()
    return "emptydir/"


def _folder_in_an_assaykit_folder(out: Path) -> str:
    (out / "gates" / "sub").mkdir(parents=True, exist_ok=True)
    return "gates/sub/"


def _folder_of_litter(out: Path) -> str:
    (out / "mine").mkdir()
    (out / "mine" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    return "mine/"


USER_THINGS = {"a link to a folder outside": _link_outside, "a dangling link": _dangling_link,
               "a link beside a listed file": _link_to_a_listed_name, "an empty folder": _empty_folder,
               "a folder inside gates/": _folder_in_an_assaykit_folder, "a folder of litter": _folder_of_litter}


@pytest.mark.parametrize("thing", USER_THINGS)
@pytest.mark.parametrize("command", REPLACING)
def test_a_users_link_or_folder_in_an_output_folder_refuses_the_replacement(simulated_run: Path,
                                                                           scored: tuple[Path, Path],
                                                                           tmp_path: Path, command: str,
                                                                           thing: str) -> None:
    place = tmp_path / "place"
    place.mkdir()
    target = _existing(command, place / "out", scored)
    named = USER_THINGS[thing](target)
    before = _tree(place)
    result = _cli(*_argv(command, target, simulated_run, scored))
    _refused(result, target)
    assert repr(named) in result.output and _tree(place) == before  # named, kept: links, folders, bytes


def test_replacing_removes_only_the_files_the_manifest_vouches_for(scored: tuple[Path, Path],
                                                                   tmp_path: Path) -> None:
    from assaykit._io.atomic import _remove_ours

    old = tmp_path / "previous"
    (old / "gates").mkdir(parents=True)
    for rel in ("a.csv", "gates/t.xml", "manifest.json", "late.txt", "gates/late.xml", ".DS_Store"):
        (old / rel).write_bytes(USER_BYTES)
    _remove_ours(old, {"a.csv", "gates/t.xml", "manifest.json"})  # late.*: came after the check
    assert sorted(p.relative_to(old).as_posix() for p in old.rglob("*")) == ["gates", "gates/late.xml", "late.txt"]
    assert (old / "late.txt").read_bytes() == USER_BYTES


# --- studies: the automatic names never take another run's outputs; a study re-scores into its folder ----


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from assaykit.simulate import RunSpec, write_run

    return write_run(tmp_path_factory.mktemp("small"), RunSpec(patients=1, conditions=("unstimulated",),
                                                                events=3000, seed=5))


def _run_of(out: Path) -> str:
    """The run folder ``out``'s manifest records (absolute, resolved), relative to the current folder."""
    recorded = Path(json.loads((out / "manifest.json").read_text())["run_dir"])
    assert recorded.is_absolute()
    return recorded.relative_to(Path.cwd().resolve()).as_posix()


def test_a_study_never_replaces_another_runs_outputs(small_run: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for folder in ("a/run", "b/run", "c/run-2", "d/other"):
        shutil.copytree(small_run, tmp_path / folder)
    base = ["--out", "R", "--no-report", "--no-ledger", "--jobs", "1"]
    for _ in range(2):  # a study re-scored into its own folder (study.csv is assaykit's own)
        result = _cli("score", "a/run", "b/run", "c/run-2", *base)
        assert result.exit_code in (0, 1), result.output
        assert {_run_of(tmp_path / "R" / n) for n in ("run", "run-2", "run-3")} == {"a/run", "b/run", "c/run-2"}
        assert _run_of(tmp_path / "R" / "run-2") == "c/run-2"  # a run's own name is never given to another
    earlier = {n: _tree(tmp_path / "R" / n) for n in ("run", "run-2")}
    result = _cli("score", "b/run", "d/other", *base)  # b/run was run-3: its folder again, never run's
    assert result.exit_code in (0, 1), result.output
    assert {n: _tree(tmp_path / "R" / n) for n in ("run", "run-2")} == earlier
    assert _run_of(tmp_path / "R" / "run-3") == "b/run" and _run_of(tmp_path / "R" / "other") == "d/other"
    before = _tree(tmp_path / "R")
    refused = _cli("score", "b/run", "--out", "R/run", "--no-report", "--no-ledger", "--jobs", "1")
    _refused(refused, Path("R/run"))  # one run into another run's folder: refused, both named
    assert "a/run" in refused.output and "b/run" in refused.output and _tree(tmp_path / "R") == before


@pytest.mark.parametrize("first", [b"", b"\n", b"\r\n", b"\r", b"\nrun,x\n", b"x", b",error"])
def test_study_summary_is_told_by_its_whole_header_line(tmp_path: Path, first: bytes) -> None:
    from assaykit.errors import AssayKitError
    from assaykit.scoring.study import SUMMARY_COLUMNS, check_summary

    (tmp_path / "study.csv").write_bytes(",".join(SUMMARY_COLUMNS).encode() + first)
    if first[:1] in (b"", b"\n", b"\r"):
        check_summary(tmp_path)  # assaykit's own, whatever follows its header line
    else:
        with pytest.raises(AssayKitError, match="not a study summary"):
            check_summary(tmp_path)


# --- one file named twice; outputs among a run's inputs; a user's file as the ledger; names on the console -


@pytest.mark.parametrize("spelling", ["d/../{}", "self/{}", "./{}", "self/d/../{}"])
@pytest.mark.parametrize("pair", [("--membership", "--gatingml"), ("--membership", "--plot"), ("--plot", "--gatingml")])
def test_two_gate_outputs_naming_one_file_are_refused(simulated_run: Path, tmp_path: Path, monkeypatch:
                                                      pytest.MonkeyPatch, pair: tuple[str, str],
                                                      spelling: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    (tmp_path / "self").symlink_to(".")
    fcs = sorted(simulated_run.glob("*A01.fcs"))[0]
    before = _tree(tmp_path)
    result = _cli("gate", fcs, pair[0], "m.out", pair[1], spelling.format("m.out"))
    assert result.exit_code == 2 and "name the same file" in result.output, result.output
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("depth", ["", "sub", "sub/deeper"])
@pytest.mark.parametrize("command", REPLACING)
def test_no_folder_output_is_made_among_a_runs_inputs(simulated_run: Path, scored: tuple[Path, Path],
                                                      tmp_path: Path, command: str, depth: str) -> None:
    run = Path(shutil.copytree(simulated_run, tmp_path / "run"))
    target = run / depth / "out" if depth else run / "out"
    if command == "report OUT_DIR":
        shutil.copytree(scored[0], target)
    before = _tree(tmp_path)
    result = _cli(*_argv(command, target, run, scored))
    _refused(result, target)
    assert "run folder" in result.output and _tree(tmp_path) == before


@pytest.mark.parametrize("name", ["notes.txt", "notes", "ledger.sqlite.txt", "NOTES.TXT", "link.sqlite"])
def test_an_empty_file_not_named_like_a_ledger_is_never_made_a_database(simulated_run: Path, tmp_path: Path,
                                                                        name: str) -> None:
    user = tmp_path / "notes.txt"
    user.write_bytes(b"")
    ledger = tmp_path / name
    if name == "link.sqlite":
        ledger.symlink_to(user)  # named like a ledger, but the file is the user's notes
    elif ledger != user:
        ledger.write_bytes(b"")
    before = _tree(tmp_path)
    result = _cli("score", simulated_run, "--out", tmp_path / "out", "--ledger", ledger, "--jobs", "1")
    _refused(result, ledger)
    assert "empty file" in result.output and _tree(tmp_path) == before


@pytest.mark.parametrize("code", [c for c in range(1, 32) if c != 0x2F] + [0x7F])
def test_a_control_character_in_an_output_name_never_reaches_the_console_raw(scored: tuple[Path, Path],
                                                                             tmp_path: Path, code: int) -> None:
    out = tmp_path / f"o{chr(code)}ut"
    result = _cli("ledger", "export", "--ledger", scored[1], "--out", out)
    assert result.exit_code == 0, result.output
    printed = result.output.rstrip("\n")
    assert "\n" not in printed and chr(code) not in printed and f"\\x{code:02x}" in printed, printed
    assert (out / "manifest.json").is_file()
