"""Reports: self-contained HTML that parses, renders in a headless Chromium and prints to PDF;
values on the pages equal the tables; hostile IDs stay escaped and inside the output folder;
``assaykit report`` re-draws the same bytes from the tables alone."""

from __future__ import annotations

import base64
import csv
import io
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from assaykit.cli import app
from assaykit.fcs.text import acquisition_date
from assaykit.findings import FindingCode, finding, parse_findings, worst
from assaykit.gating.panels import Panel
from assaykit.report import build_reports
from assaykit.report.load import load_run
from assaykit.report.names import page_names
from assaykit.scoring.figure_data import HLADR_LOG10_EDGES, hladr_histogram

from ..conftest import score_and_report

HOSTILE = '../../<script>alert("x")</script> $a^b$ & P/1'
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PDFTOPPM = shutil.which("pdftoppm")


class _Resources(HTMLParser):
    """Every URL-bearing attribute and every tag of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "poster", "data", "action") and value is not None:
                self.urls.append((tag, name, value))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(path: Path) -> _Resources:
    parser = _Resources()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def _non_blank(png: bytes) -> float:
    """Share of pixels that are not (near) white."""
    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
    return float(np.mean(image < 200))


def _assert_self_contained(path: Path) -> _Resources:
    page = _parse(path)
    html = path.read_text(encoding="utf-8")
    assert "<link" not in html and "@import" not in html and "<script" not in html, path
    assert "url(" not in html, path  # the CSS loads nothing
    for tag, attribute, url in page.urls:
        if tag == "img":
            assert url.startswith("data:image/png;base64,"), (path, url[:60])
            png = base64.b64decode(url.split(",", 1)[1])
            assert png.startswith(b"\x89PNG") and _non_blank(png) > 0.01, (path, attribute)
        else:
            assert attribute == "href" and "://" not in url and not url.startswith("//"), (path, url)
            assert (path.parent / url).resolve().is_file(), (path, url)  # every link leads to a written file
    return page


# --- the 8-patient run ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def out_dir(scored) -> Path:
    return scored.out_dir


def test_score_writes_a_page_and_pdf_per_patient(out_dir: Path, scored) -> None:
    patients = sorted(set(scored.samples["patient"][scored.samples["role"] == "sample"]))
    assert (out_dir / "index.html").is_file() and (out_dir / "figure_data.json").is_file()
    for patient in patients:  # plain IDs keep their own name
        assert (out_dir / "patients" / f"{patient}.html").is_file()
        assert (out_dir / "patients" / f"{patient}.pdf").read_bytes().startswith(b"%PDF-")


def test_pages_are_self_contained_and_link_every_patient(out_dir: Path, scored) -> None:
    index = _assert_self_contained(out_dir / "index.html")
    links = {url for tag, _, url in index.urls if tag == "a"}
    for patient in set(scored.samples["patient"][scored.samples["role"] == "sample"]):
        assert f"patients/{patient}.html" in links and f"patients/{patient}.pdf" in links
    for page in sorted((out_dir / "patients").glob("*.html")):
        parsed = _assert_self_contained(page)
        assert sum(1 for t in parsed.tags if t == "img") == 3  # restoration, histograms, gating


def test_patient_page_values_equal_the_tables(out_dir: Path, scored) -> None:
    text = " ".join(_parse(out_dir / "patients" / "P02.html").text)
    restoration = scored.restoration[scored.restoration["patient"] == "P02"]
    patient = scored.patients[scored.patients["patient"] == "P02"].iloc[0]
    assert f"{patient['control_abc']:,.0f}" in text and patient["state"] in text
    assert patient["immunosep_class"] == "hyperinflammation" and "hyperinflammation" in text  # ferritin 6,000
    assert "6,000 ng/mL" in text
    for _, row in restoration.iterrows():
        assert f"{row['abc']:,.0f}" in text and f"{row['fold_change']:,.2f}" in text
        assert f"{row['delta_abc']:,.0f}" in text
    for name in ("Gating: automatic", "monocyte-hladr", "fold change >= 1.5 and state improved", "5,000",
                 "15,000", "Acquired"):
        assert name in text, name
    tubes = scored.samples[(scored.samples["patient"] == "P02") & (scored.samples["role"] == "sample")]
    for _, tube in tubes.iterrows():  # estimated purity per tube, as in samples.csv
        assert f"{tube['monocyte_purity_pct']:,.1f} %" in text
    assert "Purity (est.)" in text and "compensation: $SPILLOVER (2 channels)" in text


def test_figure_data_histograms_agree_with_the_measured_medians(out_dir: Path, scored) -> None:
    """The histogram kept for the report is the monocytes' HLA-DR: its median (from the binned
    counts) is the table's median MFI within one bin (0.025 decade)."""
    run = load_run(out_dir)
    samples = scored.samples[scored.samples["role"] == "sample"]
    edges = np.asarray(run.figures["hladr_log10_edges"])
    for _, row in samples.iterrows():
        hist = run.figures["tubes"][row["file"]]["hladr"]
        assert hist["n"] == row["monocytes"]
        counts = np.asarray(hist["counts"])
        position = np.searchsorted(np.cumsum(counts), (hist["n"] + 1) / 2 - hist["below"])
        median_log10 = edges[position]
        assert abs(median_log10 - np.log10(row["hladr_mfi"])) <= 0.026, row["file"]


def test_report_redraws_identical_files_from_the_tables_alone(out_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("samples.csv", "calibration.csv", "restoration.csv", "patients.csv", "cohort.csv", "manifest.json",
                 "figure_data.json"):
        shutil.copy(out_dir / name, copy / name)
    written = build_reports(copy, jobs=1)
    assert {p.relative_to(copy) for p in written} == {Path("index.html")} | {
        p.relative_to(out_dir) for p in (out_dir / "patients").iterdir()}
    for path in written:
        assert path.read_bytes() == (out_dir / path.relative_to(copy)).read_bytes(), path.name


@pytest.fixture(scope="module")
def small_out(simulated_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 2-patient run scored (reports included) with one worker."""
    return score_and_report(simulated_run, out=tmp_path_factory.mktemp("small") / "out", jobs=1).out_dir


def test_report_without_figure_data_still_renders(small_out: Path, tmp_path: Path) -> None:
    copy = tmp_path / "nofig"
    shutil.copytree(small_out, copy)
    (copy / "figure_data.json").unlink()
    build_reports(copy, jobs=1)
    assert "figure_data.json is missing" in (copy / "patients" / "P01.html").read_text()


def test_report_command(small_out: Path, tmp_path: Path) -> None:
    copy = tmp_path / "cli"
    shutil.copytree(small_out, copy)
    result = CliRunner().invoke(app, ["report", str(copy), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "wrote 5 files" in result.output  # index + 2 x (html + pdf)
    missing = CliRunner().invoke(app, ["report", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "output folder not found" in missing.output
    (copy / "samples.csv").unlink()
    broken = CliRunner().invoke(app, ["report", str(copy)])
    assert broken.exit_code == 2 and "samples.csv" in broken.output and "table not found" in broken.output
    assert "--no-report" in CliRunner().invoke(app, ["score", "--help"]).output
    assert "Example" in CliRunner().invoke(app, ["report", "--help"]).output


def test_no_report_keeps_tables_and_figure_data(simulated_run: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["score", str(simulated_run), "--out", str(tmp_path / "o"), "--jobs", "1",
                                      "--no-report"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o" / "figure_data.json").is_file() and (tmp_path / "o" / "samples.csv").is_file()
    assert not (tmp_path / "o" / "index.html").exists() and not (tmp_path / "o" / "patients").exists()


# --- headless browser and PDF rasteriser ------------------------------------------------------------


def _screenshot(page: Path, out: Path) -> bytes:
    profile = out.parent / f"{out.stem}-profile"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={profile}", "--hide-scrollbars", "--window-size=1000,1400",
                    f"--screenshot={out}", page.as_uri()], check=True, capture_output=True, timeout=120)
    return out.read_bytes()


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (Debian package `chromium`; .ci/run "
                                             "installs it)")
@pytest.mark.parametrize("page", ["index.html", "patients/P01.html"])
def test_chromium_renders_pages(out_dir: Path, tmp_path: Path, page: str) -> None:
    png = _screenshot(out_dir / page, tmp_path / "shot.png")
    assert _non_blank(png) > 0.02


@pytest.mark.skipif(PDFTOPPM is None, reason="no pdftoppm on this machine (Debian package `poppler-utils`; .ci/run "
                                             "installs it)")
def test_pdf_renders(out_dir: Path, tmp_path: Path) -> None:
    result = subprocess.run([PDFTOPPM, "-png", "-r", "40", str(out_dir / "patients" / "P01.pdf"), str(tmp_path / "p")],
                            check=True, capture_output=True, timeout=120)
    assert result.returncode == 0
    pages = sorted(tmp_path.glob("p-*.png"))
    assert 1 <= len(pages) <= 3  # one time point, flowing
    for page in pages:
        assert _non_blank(page.read_bytes()) > 0.02, page.name


def _blank_below(png: bytes) -> float:
    """Share of the page's height below its last drawn row."""
    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    drawn = np.flatnonzero((image < 200).any(axis=1))
    return 1.0 if drawn.size == 0 else 1 - (drawn[-1] + 1) / image.shape[0]


@pytest.mark.skipif(PDFTOPPM is None, reason="no pdftoppm on this machine (Debian package `poppler-utils`; .ci/run "
                                             "installs it)")
def test_no_pdf_page_but_the_last_is_two_fifths_blank(out_dir: Path, tmp_path: Path) -> None:
    for pdf in sorted((out_dir / "patients").glob("*.pdf")):
        prefix = tmp_path / pdf.stem
        subprocess.run([PDFTOPPM, "-png", "-r", "30", str(pdf), str(prefix)], check=True, capture_output=True,
                       timeout=120)
        pages = sorted(tmp_path.glob(f"{pdf.stem}-*.png"))
        assert pages, pdf.name
        for page in pages[:-1]:
            assert _blank_below(page.read_bytes()) < 0.4, (pdf.name, page.name)


def _pdf_text(pdf: Path) -> str:
    """The PDF's text: pdftotext where installed, else the strings of its text objects (the
    standard fonts write them as they are)."""
    import re
    import zlib

    tool = shutil.which("pdftotext")
    if tool:
        out = subprocess.run([tool, "-layout", str(pdf), "-"], check=True, capture_output=True, text=True, timeout=60)
        return " ".join(out.stdout.split())
    data = pdf.read_bytes()
    texts = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.DOTALL):
        try:
            content = zlib.decompress(stream)
        except zlib.error:
            continue
        texts += [re.sub(rb"\\(.)", rb"\1", t).decode("cp1252")
                  for t in re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", content, re.DOTALL)]
    return " ".join(" ".join(texts).split())


def test_the_pdf_carries_the_tubes_table_methods_and_research_use_line(out_dir: Path, scored) -> None:
    text = _pdf_text(out_dir / "patients" / "P02.pdf")
    tubes = scored.samples[scored.samples["patient"] == "P02"]
    assert len(tubes) >= 4
    for _, tube in tubes.iterrows():  # each tube's row: well, file, condition, events, MFI, AB/C
        row = (f"{tube['well']} {tube['file']} {tube['condition']} {tube['events']:,.0f} {tube['monocytes']:,.0f} "
               f"{tube['monocytes_pct']:,.1f} % {tube['monocyte_purity_pct']:,.1f} % {tube['hladr_mfi']:,.0f} "
               f"{tube['hladr_abc']:,.0f}")
        assert row in text, row
    for words in ("Research use; not a diagnostic device.", "Methods", "Gating: automatic, strategy",
                  "values reportable", "above 100 % the drug brought the patient above the normal limit",
                  "Restoration per drug", "Tubes"):
        assert words in text, words
    verdicts = json.loads((out_dir / "manifest.json").read_text())["verdicts"]  # the demo run: all reportable
    assert verdicts["withheld"] == 0 and f"{verdicts['reportable']} of {verdicts['values']} values reportable" in text
    assert "No verdicts recorded" not in text


# --- hostile IDs and a patient whose files all failed ------------------------------------------------


@pytest.fixture(scope="module")
def hostile_out(simulated_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("hostile")
    run = base / "run"
    shutil.copytree(simulated_run, run)
    plate = pd.read_csv(run / "plate_map.csv", dtype=str, keep_default_na=False)
    patients = sorted(set(plate["patient"][plate["role"] == "sample"]))
    plate.loc[plate["patient"] == patients[0], "patient"] = HOSTILE
    plate.loc[plate["patient"] == patients[1], "patient"] = "CON"
    plate.loc[plate["role"] == "sample", "condition"] = plate.loc[plate["role"] == "sample", "condition"].where(
        plate["condition"] == "unstimulated", "<b>IFN</b>")
    plate.to_csv(run / "plate_map.csv", index=False, quoting=csv.QUOTE_MINIMAL)
    for name in plate["file"][plate["patient"] == "CON"]:  # every file of this patient is broken
        (run / name).write_bytes((run / name).read_bytes()[:2000])
    result = score_and_report(run, out=base / "out", jobs=2)
    assert result.n_failed == 2
    return base / "out"


def test_hostile_ids_get_safe_unique_names_inside_the_output(hostile_out: Path) -> None:
    names = page_names([HOSTILE, "CON"])
    files = sorted(p.name for p in (hostile_out / "patients").iterdir())
    assert files == sorted(f"{names[p]}.{ext}" for p in names for ext in ("html", "pdf"))
    safe = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")  # a changed name: ASCII
    assert all(set(n) <= safe for n in names.values())
    assert names["CON"] != "CON"  # a Windows device name
    outside = [p for p in hostile_out.parent.rglob("*") if "out" not in p.relative_to(hostile_out.parent).parts
               and "run" not in p.relative_to(hostile_out.parent).parts]
    assert outside == []  # nothing beside the output folder: its lock file goes with the lock (docs/reliability.md)


def test_hostile_text_is_escaped_everywhere(hostile_out: Path) -> None:
    pages = [hostile_out / "index.html", *sorted((hostile_out / "patients").glob("*.html"))]
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert "<script>" not in html and "<b>IFN</b>" not in html, page.name
        _assert_self_contained(page)
    index = (hostile_out / "index.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; $a^b$ &amp; P/1" in index
    assert "&lt;b&gt;IFN&lt;/b&gt;" in index
    assert any(HOSTILE in "".join(_parse(p).text) for p in pages[1:])  # shown as text on its own page


def test_a_patient_whose_files_all_failed_gets_a_page_saying_why(hostile_out: Path) -> None:
    page = hostile_out / "patients" / f"{page_names(['CON'])['CON']}.html"
    text = " ".join(_parse(page).text)
    assert "Every file of this patient failed" in text
    samples = pd.read_csv(hostile_out / "samples.csv", dtype=str, keep_default_na=False)
    errors = samples["error"][samples["patient"] == "CON"]
    assert len(errors) == 2 and all(errors)
    for error in errors:
        assert f"failed: {error}" in text
    assert (page.with_suffix(".pdf")).read_bytes().startswith(b"%PDF-")


# --- pure parts ---------------------------------------------------------------------------------------


def test_page_names() -> None:
    names = page_names(["P01", "p01", "a/b", "a b", "..", "", "CON", "x" * 80])
    assert names["P01"] == "P01"
    assert len({n.lower() for n in names.values()}) == len(names)  # unique, also case-insensitively
    assert names["a/b"].startswith("a-b-") and names["a b"] == "a b"  # a space is kept, a slash never
    assert names[".."].startswith("patient-") and names[""].startswith("patient-")
    assert len(names["x" * 80]) <= 48 + 9
    assert page_names(["a/b", "P01"]) == {k: names[k] for k in ("a/b", "P01")}  # does not depend on the others


def test_hladr_histogram_counts_every_event() -> None:
    values = np.array([-5.0, 0.5, 1.0, 10.0, 10.0, 1000.0, 10**7])
    hist = hladr_histogram(values)
    assert hist["n"] == 7 and hist["below"] == 3 and hist["above"] == 1 and sum(hist["counts"]) == 3
    assert hist["counts"][int(np.searchsorted(HLADR_LOG10_EDGES, 1.0, side="right")) - 1] == 2


def test_hladr_histogram_counts_as_numpy_histogram() -> None:
    """Counted by a search per value: numpy.histogram's counts with the same edges, values on
    every edge (the top one closes the last bin), beyond the grid, NaN and infinities included."""
    rng = np.random.default_rng(2)
    on_edges = 10.0 ** HLADR_LOG10_EDGES
    values = np.concatenate([10 ** rng.uniform(-1, 7, 20_000), on_edges, np.nextafter(on_edges, 0),
                             [np.nan, np.inf, -np.inf, 10**6.5, 1.0, 0.0]])
    hist = hladr_histogram(values)
    positive = values[values > 1.0]
    expected, _ = np.histogram(np.log10(positive), bins=HLADR_LOG10_EDGES)
    assert hist["counts"] == expected.tolist()
    assert hist["below"] + hist["above"] + sum(hist["counts"]) == hist["n"] == values.size


def test_panel_round_trip() -> None:
    panel = Panel("monocytes", "singlets", 10, 5.0, "CD14 (PerCP)", "SSC-A (SSC-A)", np.linspace(0, 1, 5),
                  np.linspace(0, 1, 4), np.arange(12).reshape(4, 3), (np.array([[0, 0], [1, 1.5]]),), (),
                  ((0.5, "1e3"),), ())
    back = Panel.from_dict(panel.to_dict())
    assert back.population == "monocytes" and back.x_ticks == ((0.5, "1e3"),)
    np.testing.assert_array_equal(back.counts, panel.counts)
    np.testing.assert_array_equal(back.outlines[0], panel.outlines[0])


@pytest.mark.parametrize(("date", "time", "expected"), [
    ("22-NOV-2026", "10:31:05", "2026-11-22 10:31:05"), ("11-Jun-98", "07:56:18", "1998-06-11 07:56:18"),
    ("28 Jun 2010", "16:37:03.5", "2010-06-28 16:37:03"), ("2024-07-03", "", "2024-07-03"),
    ("03-07-2024", "13:46", "03-07-2024 13:46"), ("", "10:00:00", "")])
def test_acquisition_date(date: str, time: str, expected: str) -> None:
    assert acquisition_date({"$DATE": date, "$BTIM": time}) == expected


def test_reports_of_a_run_whose_bead_tube_failed(simulated_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(simulated_run, run)
    plate = pd.read_csv(run / "plate_map.csv", dtype=str, keep_default_na=False)
    beads = run / plate["file"][plate["role"] == "beads"].iloc[0]
    beads.write_bytes(beads.read_bytes()[:2500])
    result = score_and_report(run, out=tmp_path / "out", jobs=1)
    error = result.calibration["error"].iloc[0]
    assert error and result.samples["hladr_abc"].isna().all()
    index = " ".join(_parse(tmp_path / "out" / "index.html").text)
    assert f"could not be calibrated: {error}" in index
    page = sorted((tmp_path / "out" / "patients").glob("*.html"))[0]
    _assert_self_contained(page)
    text = " ".join(_parse(page).text)
    assert "no AB/C: the bead tube could not be calibrated" in text and f"no calibration: {error}" in text
    # the findings read back from the tables are the ones scored: codes, severities and messages
    data = load_run(tmp_path / "out")
    blood = [r for r in data.samples if r["role"] in ("sample", "isotype", "control")]
    assert blood and all(r["qc_flags"][-1] == finding(FindingCode.NO_CALIBRATION,
                                                       "no AB/C: the bead tube could not be calibrated")
                         for r in blood)
    assert [parse_findings(c) for c in result.samples["qc_flags"].fillna("")] == [r["qc_flags"] for r in data.samples]
    drug = data.restoration[0]["qc_flags"]
    assert {FindingCode.CONTROL_NO_VALUE, FindingCode.DRUG_NO_VALUE, FindingCode.NO_CALIBRATION} <= {
        f.code for f in drug}
    assert [f.message for f in drug if f.code == FindingCode.NO_CALIBRATION] == [
        "control: no AB/C: the bead tube could not be calibrated",
        "drug: no AB/C: the bead tube could not be calibrated"]
    assert worst(drug) == "error"


def test_histogram2d_equals_numpy() -> None:
    from assaykit.gating.panels import histogram2d

    rng = np.random.default_rng(3)
    x, y = rng.normal(0.5, 0.3, 100_000), rng.normal(0.4, 0.25, 100_000)
    x[:5] = [0.0, 1.0, 0.5, 1.0, -0.2]  # both edges and an outside point
    y[:5] = [0.0, 1.0, 1.0, 0.3, 0.5]
    for bins, xr, yr in ((64, (0.0, 1.0), (0.0, 1.0)), (200, (-0.3, 1.2), (0.1, 0.9))):
        ours, xe, ye = histogram2d(x, y, bins, xr, yr)
        theirs, xe2, ye2 = np.histogram2d(x, y, bins=bins, range=(xr, yr))
        np.testing.assert_array_equal(ours, theirs.astype(np.int64))
        np.testing.assert_allclose(xe, xe2)
        np.testing.assert_allclose(ye, ye2)
