"""Names are data, errors quote only our own inputs (issue 28, families 3 and 5; docs/reliability.md
"Names are data" and "Errors quote only our own inputs").

Names are generated over every byte class (C0 controls and DEL, the characters XML cannot carry,
markup, CSV separators and formula starts, bytes that are not UTF-8, lone surrogates, right-to-left,
combining, emoji, CJK, backslash escapes, names near NAME_MAX) and placed in FCS file names,
``$PnN``/``$PnS``/``$FIL``/``$SMNO`` and plate-map patients and conditions; ``score`` and
``gate --gatingml/--json`` run on them, and every output is read back by assaykit's own readers.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pytest

from assaykit._io.names import cell, escape, printable, read_cell, unescape

ASSAYKIT = [sys.executable, "-m", "assaykit.cli"]
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# --- the byte classes -------------------------------------------------------------------------------

CONTROLS = [chr(c) for c in (*range(0x01, 0x20), 0x7F)]
C1 = [chr(c) for c in range(0x80, 0xA0)]
MARKUP = list("<>&\"'")
CSV_CHARS = [",", ";", '"', "\n", "\r"]
FORMULA = ["=", "+", "-", "@"]
NOT_UTF8 = [chr(0xDC00 + b) for b in range(0x80, 0x100)]  # os.fsdecode of a byte 0x80..0xFF
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]
NONCHARACTERS = ["\ufffe", "\uffff"]
LAYOUT = ["\u2028", "\u2029", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068",
          "\u2069", "\u200f", "\u200d"]
SCRIPTS = ["\u05e9\u05dc\u05d5\u05dd", "\u0645\u0631\u062d\u0628\u0627", "e\u0301",
           "\U0001f9ea\U0001f469\u200d\U0001f52c", "\u60a3\u8005", "\ud55c\uad6d", "\u00e9", "\u03b3"]
BACKSLASHES = ["\\", "\\\\", "\\x1b", "\\x41", "\\u202e", "\\udce9", "\\U0001f600", "\\q", "C:\\Data\\x.fcs"]
CLASSES = {"controls": CONTROLS, "c1": C1, "markup": MARKUP, "csv": CSV_CHARS, "formula": FORMULA,
           "not_utf8": NOT_UTF8, "surrogates": SURROGATES, "noncharacters": NONCHARACTERS, "layout": LAYOUT,
           "scripts": SCRIPTS, "backslashes": BACKSLASHES}


def _names() -> list[str]:
    """Every member of every class alone, inside a name, at its start and end, and each class whole."""
    out = ["", "P01", "x" * 255]
    for members in CLASSES.values():
        for m in members:
            out += [m, f"P{m}01", f"{m}P01", f"P01{m}", m * 3]
        out.append("".join(members))
    out += ["\\" + m for ms in CLASSES.values() for m in ms] + [m + "\\" for ms in CLASSES.values() for m in ms]
    return out


def test_escape_is_reversible_and_carried_by_every_format() -> None:
    """escape() gives UTF-8 text XML 1.0 can carry, one line, nothing that moves text about;
    unescape() gives the name back; the CSV cell (formula-neutralised) reads back exactly."""
    for name in _names():
        written = escape(name)
        assert unescape(written) == name, (name, written)
        written.encode("utf-8")
        assert not _XML_FORBIDDEN.search(written) and "\n" not in written and "\r" not in written
        assert not re.search("[\u202a-\u202e\u2066-\u2069\u2028\u2029\x7f-\x9f]", written)
        assert read_cell(cell(name)) == name
        assert not cell(name).startswith(("=", "+", "-", "@", "\t", "\r")) or name == ""
        assert "\n" not in printable(name) and "\x1b" not in printable(name)
    assert escape("Caf\udce9\x01.fcs") == "Caf\\xe9\\x01.fcs" and escape("PE\x1b-A") == "PE\\x1b-A"
    assert escape("C:\\Data\\run.fcs") == "C:\\Data\\run.fcs"  # a backslash stays single where it cannot mislead
    assert unescape("FL1\\x41") == "FL1\\x41"  # a sequence escape() never writes is text


def test_tables_and_the_report_loader_round_trip_every_name(tmp_path: Path) -> None:
    """csv_bytes (every table's writer) and read_table (the report's reader): names as written,
    in cells and in column names (a plate map's own columns)."""
    import pandas as pd

    from assaykit.report.load import read_table
    from assaykit.scoring.tables import csv_bytes

    names = _names()
    frame = pd.DataFrame({"name": names, "n": range(len(names)), **{f"col{n}": ["v"] * len(names)
                                                                    for n in ("=x", "a\x1bb", "\udce9", "\\x41")}})
    (tmp_path / "names.csv").write_bytes(csv_bytes(frame))
    rows = read_table(tmp_path / "names.csv")
    assert [r["name"] for r in rows] == names
    assert list(rows[0]) == ["name", "n", "col=x", "cola\x1bb", "col\udce9", "col\\x41"]


# --- a hostile run --------------------------------------------------------------------------------------


def _fcs(source: Path, overrides: dict[str, bytes]) -> bytes:
    """``source`` (a float FCS 3.1 file) written again with TEXT values given as raw bytes."""
    from assaykit.fcs.reader import read_fcs

    sample = read_fcs(source)
    offsets = ("$BEGINDATA", "$ENDDATA", "$BEGINSTEXT", "$ENDSTEXT", "$BEGINANALYSIS", "$ENDANALYSIS", "$NEXTDATA")
    keywords = {k: v.encode("utf-8") for k, v in sample.keywords.items() if k not in offsets}
    keywords.update(overrides)
    data = sample.events.astype("<f4").tobytes()

    def text(begin: int, end: int) -> bytes:
        pairs = [(b"$BEGINDATA", str(begin).zfill(20).encode()), (b"$ENDDATA", str(end).zfill(20).encode()),
                 (b"$BEGINANALYSIS", b"0"), (b"$ENDANALYSIS", b"0"), (b"$BEGINSTEXT", b"0"), (b"$ENDSTEXT", b"0"),
                 (b"$NEXTDATA", b"0"), *((k.encode(), v) for k, v in keywords.items())]
        return b"/" + b"".join(k.replace(b"/", b"//") + b"/" + v.replace(b"/", b"//") + b"/" for k, v in pairs)

    size = len(text(0, 0))
    body = text(256 + size, 256 + size + len(data) - 1)
    header = b"FCS3.1    " + b"".join(str(o).rjust(8).encode() for o in (256, 256 + size - 1, 0, 0, 0, 0))
    return header.ljust(256, b" ") + body + data


# FCS file names (bytes: Linux takes any byte but '/' and NUL), one per tube; channel names ($PnN) with
# an escape character, a Latin-1 byte (not UTF-8: read as Latin-1), markup and a backslash
FILE_NAMES = [
    b"A1 caf\xe9\x01\x1b[2J<b>&amp;\".fcs",  # Latin-1 byte, ESC, markup
    b"A2 =cmd|' ,;\xff\xfe\x7f\\x41.fcs",  # formula start, CSV separators, bytes not UTF-8, backslash escape
    b"A3 \xe6\x82\xa3\xe8\x80\x85 \xd7\xa9\xd7\x9c\xe2\x80\xae \xf0\x9f\xa7\xaa e\xcc\x81.fcs",  # CJK, RTL, RLO, emoji
    b"A4 " + b"n" * 230 + b"\x80.fcs",  # near NAME_MAX (255 bytes)
    b"H12 beads\x0b\x0c\t.fcs",
]
CHANNELS = {"$P1N": b"FSC\x1b-A", "$P2N": b"FSC-H\xe9", "$P3N": b"SSC-A<&>\\x1b", "$P4N": b"PE\x07-A\x85",
            "$P5N": b"PerCP\x00-Cy5"}
PATIENTS = {"P01": "P\x1b[31m01<script>&\"'\\x41,;\u202e", "P02": "=HYPERLINK(\"x\")\u60a3\u8005\U0001f9ea\u00e9"}
CONDITION = "IFN-\u03b3 \u05e9\u05dc\u05d5\u05dd\x01<i>"


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """A simulated run (2 patients, unstimulated and one drug, beads) whose files, channels and
    plate map hold names of every class; scored once. Returns (run, out, well -> file name)."""
    from assaykit.simulate import RunSpec, write_run

    base = tmp_path_factory.mktemp("names")
    run = write_run(base / "run", RunSpec(patients=2, conditions=("unstimulated", "IFN-gamma"), events=12000,
                                          seed=3))
    files: dict[str, str] = {}
    for source, raw in zip(sorted(run.glob("*.fcs"), key=lambda p: p.name), FILE_NAMES, strict=True):
        well = source.name.split("_")[2]
        overrides = {k: v for k, v in CHANNELS.items()}
        overrides["$P4S"] = b"HLA-DR PE"
        overrides["$P5S"] = b"CD14 PerCP-Cy5.5"
        overrides["$P1S"], overrides["$P2S"], overrides["$P3S"] = b"FSC-A", b"FSC-H", b"SSC-A"
        overrides["$SPILLOVER"] = b"2," + CHANNELS["$P4N"] + b"," + CHANNELS["$P5N"] + b",1,0.12,0.004,1"
        overrides["$P6S"] = b"Time \x1b]0;title\x07\xe9\\x41\xe2\x80\xae"  # OSC, Latin-1, backslash, RLO
        overrides["$FIL"] = raw
        overrides["$SMNO"] = b"S\x1b\xe9<&>"
        target = os.path.join(os.fsencode(run), raw)
        with open(target, "wb") as handle:
            handle.write(_fcs(source, overrides))
        source.unlink()
        files[well] = os.fsdecode(raw)
    rows = [["well", "patient", "timepoint", "condition", "role"]]
    for well, patient, condition in (("A1", "P01", "unstimulated"), ("A2", "P01", CONDITION),
                                     ("A3", "P02", "unstimulated"), ("A4", "P02", CONDITION)):
        rows.append([well, PATIENTS[patient], "D\x1b3", condition, "sample"])
    rows.append(["H12", "", "", "", "beads"])
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    (run / "plate_map.csv").write_text(buffer.getvalue(), encoding="utf-8")
    out = base / "out"
    done = subprocess.run([*ASSAYKIT, "score", str(run), "--out", str(out), "--jobs", "2", "--ledger",
                           str(base / "ledger.sqlite")], capture_output=True, timeout=600)
    assert done.returncode in (0, 1), done.stderr.decode(errors="replace")  # 1: a value withheld, never 2 or 3
    assert b"Traceback" not in done.stderr and b"\x1b" not in done.stdout + done.stderr
    return run, out, files


def test_score_writes_every_output_and_the_tables_read_back(hostile_run: tuple[Path, Path, dict[str, str]]) -> None:
    from assaykit.report.load import load_run

    _run, out, files = hostile_run
    data = load_run(out)  # every table through the report's own reader
    by_well = {r["well"]: r for r in data.samples}
    for well, name in files.items():
        assert by_well[well]["file"] == name
    assert {r["patient"] for r in data.samples if r["role"] == "sample"} == set(PATIENTS.values())
    assert {r["condition"] for r in data.samples if r["role"] == "sample"} == {"unstimulated", CONDITION}
    assert {r["timepoint"] for r in data.samples if r["role"] == "sample"} == {"D\x1b3"}
    assert all(not r["error"] for r in data.samples), [r["error"] for r in data.samples]
    assert {r["patient"] for r in data.restoration} == set(PATIENTS.values())
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(i["file"] for i in manifest["inputs"]) == sorted(files.values())
    assert set(manifest["gate_files"]) == set(files.values()) - {files["H12"]}
    assert subprocess.run([*ASSAYKIT, "verify", str(out)], capture_output=True, timeout=120).returncode == 0


def test_run_wsp_and_gate_files_read_back_and_hold_the_events(hostile_run: tuple[Path, Path, dict[str, str]]) -> None:
    from assaykit.fcs.reader import read_fcs
    from assaykit.interop.flowjo import read_workspace
    from assaykit.interop.gatingml import evaluate, read_gatingml

    run, out, files = hostile_run
    workspace = read_workspace(out / "run.wsp")
    blood = {name for well, name in files.items() if well != "H12"}
    assert set(workspace.samples) == blood
    raw_channels = {os.fsdecode(v) if b"\x00" not in v else None for v in CHANNELS.values()}
    for name, sample in workspace.samples.items():
        assert sample.file_name == name
        fcs = read_fcs(run / name)
        assert {k: int(v.sum()) for k, v in evaluate(sample.document, fcs).items()} == sample.counts
        assert {d.channel for d in sample.document.dimensions.values() if d.channel} & set(fcs.channels)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for name, relative in manifest["gate_files"].items():
        document = read_gatingml(out / relative)
        channels = {d.channel for d in document.dimensions.values() if d.channel}
        fcs = read_fcs(run / name)
        assert channels <= set(fcs.channels) and channels & raw_channels
        assert evaluate(document, fcs)  # every gate evaluates on the tube it was fitted on


class _Page(HTMLParser):
    """Well-formedness: every element closed in order (void elements excepted); the text content."""

    VOID: ClassVar[set[str]] = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
                                "track", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.text: list[str] = []
        self.attributes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attributes += [v for _, v in attrs if v]
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, (tag, self.open[-5:])
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_pages_are_well_formed_and_show_every_name_escaped(hostile_run: tuple[Path, Path, dict[str, str]]) -> None:
    _run, out, files = hostile_run
    pages = [out / "index.html", *sorted((out / "patients").glob("*.html"))]
    assert len(pages) == 1 + len(PATIENTS)
    for page in pages:
        raw = page.read_bytes()
        html = raw.decode("utf-8")  # strict: no byte that is not UTF-8
        assert not _XML_FORBIDDEN.search(html) and "\u202e" not in html and "<script>" not in html
        parser = _Page()
        parser.feed(html)
        parser.close()
        assert parser.open == []
        text = "".join(parser.text)
        shown = [p for p in PATIENTS.values() if escape(p) in text]
        assert len(shown) == (len(PATIENTS) if page.name == "index.html" else 1), (page.name, shown)
    index = "".join((lambda p: (p.feed((out / "index.html").read_text(encoding="utf-8")), p.text)[1])(_Page()))
    for patient in PATIENTS.values():
        assert escape(patient) in index
    for well, name in files.items():
        assert escape(name) in index, well
    assert escape(CONDITION) in index


def _pdf_text(path: Path) -> str:
    done = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return " ".join(done.stdout.decode("utf-8").split())


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) is not installed")
def test_pdfs_hold_each_patient_as_shown(hostile_run: tuple[Path, Path, dict[str, str]]) -> None:
    from assaykit.report.pdf import glyph_note, missing_glyphs, shown

    _run, out, _files = hostile_run
    pdfs = sorted((out / "patients").glob("*.pdf"))
    assert len(pdfs) == len(PATIENTS)
    found = {}
    for pdf in pdfs:
        text = _pdf_text(pdf)
        matches = [p for p in PATIENTS.values() if f"patient {shown(p)}" in text]
        assert len(matches) == 1, (pdf.name, text[:300])
        found[matches[0]] = text
    cjk = PATIENTS["P02"]
    assert "[U+60A3]" in found[cjk] and missing_glyphs(cjk) and " ".join(glyph_note(missing_glyphs(cjk)).split())[:60] \
        in found[cjk]
    assert "\u00e9" in found[cjk]  # a glyph the font has is drawn as itself


def test_inspect_json_carries_every_keyword(hostile_run: tuple[Path, Path, dict[str, str]]) -> None:
    from assaykit.fcs.reader import read_fcs

    run, _out, files = hostile_run
    tube = run / files["A3"]
    code, said = _cli(["inspect", str(tube), "--json"])
    assert code == 0, said
    doc = json.loads(said)
    fcs = read_fcs(tube)
    assert doc["path"] == str(tube)
    assert [c["name"] for c in doc["channels"]] == list(fcs.channels)
    assert [c["marker"] for c in doc["channels"]] == list(fcs.markers) and "\x1b" in fcs.markers[5]
    code, said = _cli(["inspect", str(tube)])
    assert code == 0 and "\x1b" not in said and "\u202e" not in said and printable(fcs.markers[5]) in said


def test_gate_gatingml_and_json_read_back(hostile_run: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> None:
    from assaykit.fcs.reader import read_fcs
    from assaykit.interop.gatingml import evaluate, read_gatingml

    run, _out, files = hostile_run
    for well in ("A1", "A2"):
        tube = run / files[well]
        xml = tmp_path / f"{well}.xml"
        done = subprocess.run([*ASSAYKIT, "gate", str(tube), "--gatingml", str(xml), "--json"], capture_output=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        doc = json.loads(done.stdout)
        assert doc["file"] == str(tube)
        fcs = read_fcs(tube)
        assert set(doc["channels"].values()) <= set(fcs.channels)  # marker -> $PnN, exactly as read
        assert doc["channels"]["SSC-A"] == os.fsdecode(CHANNELS["$P3N"])
        document = read_gatingml(xml)
        masks = evaluate(document, fcs)
        counts = {p["name"]: p["count"] for p in doc["populations"]}
        assert int(masks["monocytes"].sum()) == counts["monocytes"]


# --- errors quote only our own inputs -------------------------------------------------------------------

SECRET = ("root:x:0:0:S3CR3T:/root:/bin/bash\n"
          "_apt:*:20228:0:99999:7::\n"
          "S3CR3Tuser:$6$S3CR3Tsalt$hash:19000:0:99999:7:::\n"
          "hunter2S3CR3T\n")
FOREIGN = {"passwd": SECRET, "word": "S3CR3Tword\n", "yaml": "S3CR3T_key: S3CR3T value\nother: [S3CR3T]\n",
           "shadow": "S3CR3T:*:20228:0:99999:7::\n" * 3, "csv": "S3CR3T,a,b\n1,2,3\n", "binary": "\x00S3CR3T\x1b"}


def _cli(args: list[str]) -> tuple[int, str]:
    """Exit code and everything printed (stdout and stderr) of ``assaykit ARGS``, in process."""
    from typer.testing import CliRunner

    from assaykit.cli import app

    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from assaykit.simulate import RunSpec, write_run

    return write_run(tmp_path_factory.mktemp("small") / "run", RunSpec(patients=1, conditions=("unstimulated",),
                                                                       events=2000, seed=2))


@pytest.mark.parametrize("key", ["plate_map", "strategy", "lot", "clinical", "compensation", "qc_targets"])
def test_a_foreign_file_in_run_yaml_is_never_quoted(key: str, small_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    for name, content in FOREIGN.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
        lines = [line for line in (run / "run.yaml").read_text().splitlines() if not line.startswith(f"{key}:")]
        (run / "run.yaml").write_text("\n".join([*lines, f"{key}: {tmp_path / name}"]) + "\n")
        code, said = _cli(["score", str(run), "--out", str(tmp_path / "out"), "--ledger", str(tmp_path / "l.sqlite"),
                           "--no-report"])
        assert "S3CR3T" not in said and "root:" not in said, (key, name, said)
        assert code in (1, 2), (key, name, said)


@pytest.mark.parametrize(("option", "suffix"), [
    (["gate", "{fcs}", "--strategy"], ".yaml"), (["gate", "{fcs}", "--strategy"], ".wsp"),
    (["gate", "{fcs}", "--strategy"], ".xml"), (["gate", "{fcs}", "--compensation"], ".csv"),
    (["calibrate", "{beads}", "--lot"], ".yaml"), (["inspect", "{fcs}", "--compensation"], ".csv")])
def test_a_foreign_file_given_as_an_option_is_never_quoted(option: list[str], suffix: str, tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parents[2] / "sample_fcs"
    fcs, beads = str(sample / "Specimen_001_A1_A01.fcs"), str(sample / "Specimen_001_H12_H12.fcs")
    if option[0] == "inspect" and "--compensation" not in subprocess.run(
            [*ASSAYKIT, "inspect", "--help"], capture_output=True, text=True).stdout:
        option = ["gate", "{fcs}", "--json", "--compensation"]
    for name, content in FOREIGN.items():
        (tmp_path / (name + suffix)).write_text(content, encoding="utf-8")
        args = [a.format(fcs=fcs, beads=beads) for a in option] + [str(tmp_path / (name + suffix))]
        code, said = _cli(args)
        assert code == 2 and "S3CR3T" not in said and "root:" not in said, (args, said)
        assert len(said.strip().splitlines()) == 1, said
