"""The split file helpers of assaykit._io: bounded reads, shipped files, YAML configuration,
file names from user text, atomic outputs and the manifest's file listing."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from assaykit._io.atomic import atomic_output, file_listing, output_unit, write_atomic
from assaykit._io.config import parse_yaml, read_config, read_yaml
from assaykit._io.names import MAX_STEM, neutralise, restore, safe_stems
from assaykit._io.read import read_input
from assaykit._io.shipped import shipped_bytes, shipped_names
from assaykit.errors import AssayKitError, CalibrationError, GatingError

# --- read ---------------------------------------------------------------------------------------------


def test_read_input_takes_a_regular_file_up_to_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "ten.txt"
    path.write_bytes(b"0123456789")
    assert read_input(path, AssayKitError, "table", 10) == b"0123456789"
    with pytest.raises(AssayKitError) as refused:
        read_input(path, AssayKitError, "table", 9)
    assert str(refused.value) == f"{path}: table is 10 bytes, more than the 9 allowed"


@pytest.mark.parametrize("kind", ["missing", "directory", "fifo"])
def test_read_input_refuses_what_is_not_a_regular_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "x"
    expected = {"missing": "plate map not found", "directory": "plate map is a directory, not a file",
                "fifo": "plate map is a FIFO (named pipe), not a regular file"}[kind]
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)  # a read would block: refused on its type before opening
    with pytest.raises(CalibrationError) as refused:
        read_input(path, CalibrationError, "plate map", 1 << 20)
    assert str(refused.value) == f"{path}: {expected}"


# --- shipped and config -------------------------------------------------------------------------------


def test_shipped_files_are_the_repository_gating_folder(project_root: Path) -> None:
    folder = project_root / "gating"
    assert shipped_names() == sorted(p.stem for p in folder.glob("*.yaml"))
    assert shipped_names("beads") == sorted(p.stem for p in (folder / "beads").glob("*.yaml"))
    for name in ("quantibrite-pe-example", "quantibrite-pe-example.yaml"):
        assert shipped_bytes(name, "beads") == (folder / "beads" / "quantibrite-pe-example.yaml").read_bytes()
    assert shipped_bytes("no-such-lot", "beads") is None
    assert shipped_bytes("quantibrite-pe-example") is None  # a lot is not a strategy


def test_read_config_by_shipped_name_or_path(project_root: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    data = (project_root / "gating" / "monocyte-hladr.yaml").read_bytes()
    shipped = read_config("monocyte-hladr", folder="", error=GatingError, what="strategy file")
    assert shipped.source == "shipped:monocyte-hladr.yaml"
    assert shipped.sha256 == hashlib.sha256(data).hexdigest() and shipped.doc["readout"]["marker"] == "HLA-DR"
    Path("monocyte-hladr.yaml").write_text("name: mine\n")  # a file that exists wins over the shipped name
    mine = read_config("monocyte-hladr.yaml", folder="", error=GatingError, what="strategy file")
    assert (mine.doc, mine.source) == ({"name": "mine"}, "monocyte-hladr.yaml")
    assert mine.sha256 == hashlib.sha256(b"name: mine\n").hexdigest()
    with pytest.raises(CalibrationError) as refused:
        read_config("nope", folder="beads", error=CalibrationError, what="bead lot file")
    assert str(refused.value) == ("nope: bead lot file not found (neither a file nor a shipped name: "
                                  f"{', '.join(shipped_names('beads'))})")


@pytest.mark.parametrize(("data", "message"), [
    (b"a: &x 1\nb: *x\n", "YAML anchors and aliases (& and *) are not allowed in a run file (line 1)"),
    (b"a: 1\nb: [1, 2\n", "not a valid YAML run file at line 3: expected ',' or ']', but got '<stream end>'"),
    (b"a: \xff\n", "not a valid YAML run file: not UTF-8 text"),
])
def test_parse_yaml_refuses_in_one_line(data: bytes, message: str) -> None:
    with pytest.raises(AssayKitError) as refused:
        parse_yaml(data, "run.yaml", AssayKitError, "run file")
    assert str(refused.value) == f"run.yaml: {message}"


def test_parse_yaml_reads_exponents_as_numbers(tmp_path: Path) -> None:
    (tmp_path / "run.yaml").write_text("a: 15e3\nb: 1.5e-2\nc: '15e3'\nd: 15\n")
    assert read_yaml(tmp_path / "run.yaml", AssayKitError, "run file") == {"a": 15000.0, "b": 0.015, "c": "15e3",
                                                                           "d": 15}


# --- names ----------------------------------------------------------------------------------------------


def test_safe_stems_are_unique_safe_and_stable() -> None:
    def digest(name: str) -> str:
        return hashlib.sha256(name.encode()).hexdigest()[:8]

    names = ["P01", "p01", "a/b", "CON", "", "x" * 60, "ok_name-2", "Pé01", "患者 01", "run 17 nov", ".hidden",
             "end.", "con.txt", "a\x1bb"]
    stems = safe_stems(names, "patient")
    assert stems == {"P01": "P01", "p01": f"p01-{digest('p01')}", "a/b": f"a-b-{digest('a/b')}",
                     "CON": f"CON-{digest('CON')}", "": f"patient-{digest('')}",
                     "x" * 60: f"{'x' * MAX_STEM}-{digest('x' * 60)}", "ok_name-2": "ok_name-2",
                     "Pé01": "Pé01", "患者 01": "患者 01", "run 17 nov": "run 17 nov",  # any script, spaces: kept
                     ".hidden": f"hidden-{digest('.hidden')}", "end.": f"end-{digest('end.')}",
                     "con.txt": f"con.txt-{digest('con.txt')}", "a\x1bb": f"a-b-{digest(chr(97) + chr(27) + 'b')}"}
    assert len({s.lower() for s in stems.values()}) == len(names)
    assert safe_stems(list(reversed(names)), "patient") == stems


def test_neutralise_and_restore() -> None:
    for text, cell in (("=1+1", "'=1+1"), ("-3", "'-3"), ("'quoted", "''quoted"), ("P01", "P01"), ("", "")):
        assert neutralise(text) == cell and restore(cell) == text


# --- atomic outputs ------------------------------------------------------------------------------------


def test_write_atomic_leaves_no_temporary_and_usual_permissions(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.csv"
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new" and os.listdir(target.parent) == ["out.csv"]
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask


def test_atomic_output_keeps_the_old_file_on_error(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(target) as out:
        out.write(b"half")
        raise RuntimeError("stopped")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.csv"]


def test_output_unit_replaces_an_output_folder_whole(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with output_unit(out) as stage:
        (stage / "manifest.json").write_text('{"files": {"a.csv": {}}}')  # a folder of listed files is replaced
        (stage / "a.csv").write_text("first")
    with pytest.raises(RuntimeError), output_unit(out) as stage:
        (stage / "manifest.json").write_text("{}")
        raise RuntimeError("stopped")
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "manifest.json"]
    with output_unit(out) as stage:
        (stage / "manifest.json").write_text("{}")
    assert [p.name for p in out.iterdir()] == ["manifest.json"]
    assert not [p for p in tmp_path.iterdir() if ".staging-" in p.name]


def test_output_unit_never_replaces_a_folder_it_did_not_write(tmp_path: Path) -> None:
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "chapter1.docx").write_text("years of work")
    with pytest.raises(AssayKitError, match="not an assaykit output folder"), output_unit(mine):
        pass
    assert (mine / "chapter1.docx").read_text() == "years of work"


def test_file_listing_sizes_and_digests(tmp_path: Path) -> None:
    (tmp_path / "patients").mkdir()
    (tmp_path / "patients" / "P01.html").write_bytes(b"<p>")
    (tmp_path / "a.csv").write_bytes(b"x,y\n")
    (tmp_path / "link.csv").symlink_to(tmp_path / "a.csv")
    assert file_listing(tmp_path) == {
        "a.csv": {"size": 4, "sha256": hashlib.sha256(b"x,y\n").hexdigest()},
        "patients/P01.html": {"size": 3, "sha256": hashlib.sha256(b"<p>").hexdigest()}}
