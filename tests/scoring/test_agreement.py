"""Agreement with manual gating (issue 15, point 4): the statistics against hand computations and
an independent textbook implementation, and `assaykit compare` on a scored run against a lab
workspace whose gates are counted independently."""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from assaykit import read_fcs
from assaykit.cli import app
from assaykit.gating import apply_strategy, load_strategy
from assaykit.scoring import score_run
from assaykit.scoring.agreement import bland_altman, compare_run, f1_score, passing_bablok
from assaykit.scoring.tables import verify_outputs
from tests.scoring.test_overrides import lab_workspace, monocyte_box

# --- statistics --------------------------------------------------------------------------------------


def test_bland_altman_by_hand() -> None:
    x, y = np.array([100.0, 200.0, 300.0, 400.0]), np.array([110.0, 190.0, 330.0, 410.0])
    ba = bland_altman(x, y)
    d = [10.0, -10.0, 30.0, 10.0]  # mean 10, sample SD sqrt(800 / 3)
    sd = math.sqrt(sum((v - 10.0) ** 2 for v in d) / 3)
    assert ba.bias == pytest.approx(10.0, rel=1e-15) and ba.sd == pytest.approx(sd, rel=1e-15)
    assert (ba.lower, ba.upper) == pytest.approx((10.0 - 1.96 * sd, 10.0 + 1.96 * sd), rel=1e-15)
    pct = [100 * v / m for v, m in zip(d, [105.0, 195.0, 315.0, 405.0], strict=True)]
    assert ba.bias_pct == pytest.approx(sum(pct) / 4, rel=1e-14)


def _textbook_passing_bablok(x: list[float], y: list[float]) -> tuple[float, float, float, float]:
    """Passing & Bablok (1983) written out with loops: slope, intercept, slope CI."""
    from statistics import NormalDist, median

    slopes = []
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            dx, dy = x[j] - x[i], y[j] - y[i]
            if dx == 0 and dy == 0:
                continue
            s = dy / dx if dx != 0 else math.copysign(math.inf, dy)
            if s != -1:
                slopes.append(s)
    slopes.sort()
    n_s, k = len(slopes), sum(1 for s in slopes if s < -1)
    middle = [(n_s + 1) // 2] if n_s % 2 else [n_s // 2, n_s // 2 + 1]  # 1-based ranks, shifted by k
    b = sum(slopes[r + k - 1] for r in middle) / len(middle)
    n = len(x)
    c = NormalDist().inv_cdf(0.975) * math.sqrt(n * (n - 1) * (2 * n + 5) / 18)
    m1 = round((n_s - c) / 2)
    m2 = n_s - m1 + 1
    return b, median(yi - b * xi for xi, yi in zip(x, y, strict=True)), slopes[m1 + k - 1], slopes[m2 + k - 1]


def test_passing_bablok_against_the_textbook_loops() -> None:
    rng = np.random.default_rng(7)
    for n in (5, 12, 31):
        x = rng.uniform(500, 20000, n)
        y = 1.08 * x + 150 + rng.normal(0, 400, n)
        pb = passing_bablok(x, y)
        slope, intercept, low, high = _textbook_passing_bablok(list(x), list(y))
        assert pb.slope == slope and pb.intercept == intercept and pb.slope_ci == (low, high)


def test_passing_bablok_finds_a_line_and_is_symmetric() -> None:
    x = np.array([1000.0, 2500.0, 4000.0, 7000.0, 12000.0, 20000.0])
    exact = passing_bablok(x, 1.25 * x - 300.0)
    assert exact.slope == pytest.approx(1.25, rel=1e-12) and exact.intercept == pytest.approx(-300.0, rel=1e-9)
    assert exact.slope_ci == pytest.approx((1.25, 1.25), rel=1e-12)
    rng = np.random.default_rng(3)
    x = rng.uniform(1000, 30000, 40)
    y = 0.95 * x + rng.normal(0, 800, 40)
    forward, backward = passing_bablok(x, y), passing_bablok(y, x)
    assert forward.slope * backward.slope == pytest.approx(1.0, abs=0.02)  # y on x and x on y agree
    assert forward.slope_ci[0] <= 0.95 <= forward.slope_ci[1]


def test_f1() -> None:
    a = np.array([1, 1, 1, 0, 0], dtype=bool)
    b = np.array([0, 1, 1, 1, 0], dtype=bool)
    assert f1_score(a, b) == pytest.approx(2 * 2 / 6) and f1_score(a & False, b & False) is None


# --- the command ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory, simulated_run: Path) -> tuple[Path, Path]:
    """The simulated run (copied) and its scored output folder."""
    run = Path(shutil.copytree(simulated_run, tmp_path_factory.mktemp("cmp") / "run"))
    return run, score_run(run, out=run.parent / "out", jobs=1).out_dir


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as handle:
        return {r["file"]: r for r in csv.DictReader(handle)}


def test_its_own_workspace_agrees_perfectly(scored: tuple[Path, Path]) -> None:
    """Compare finds each tube's gate file by the manifest's record (``gate_files``), which names
    every gated tube's own file."""
    import json

    from assaykit.interop import read_gatingml

    _, out = scored
    recorded = json.loads((out / "manifest.json").read_text())["gate_files"]
    samples = _rows(out / "samples.csv")
    assert set(recorded) == {f for f, r in samples.items() if not r["error"] and r["role"] != "beads"}
    assert all((out / name).is_file() and read_gatingml(out / name).gates for name in recorded.values())
    agreement = compare_run(out, out / "run.wsp", population="monocytes")
    assert len(agreement.tubes) == 4
    for tube in agreement.tubes:
        assert tube.row["f1"] == 1.0 and tube.row["abc_difference_pct"] == 0.0
    assert agreement.bland_altman.bias == 0.0 and agreement.passing_bablok.slope == 1.0


def test_compare_with_a_lab_workspace(scored: tuple[Path, Path], tmp_path: Path) -> None:
    """The lab gated three of the four tubes with a box on FSC-A x SSC-A: each row's counts, F1,
    median and AB/C equal an independent computation; the fourth tube is a row with a note; the
    scored folder is unchanged."""
    import json

    run, out = scored
    samples = _rows(out / "samples.csv")
    files = sorted(f for f, r in samples.items() if r["role"] == "sample")
    boxes = {f: monocyte_box(run / f) for f in files[:3]}
    lab_workspace(tmp_path / "lab.wsp", boxes)
    result = CliRunner().invoke(app, ["compare", str(out), "--workspace", str(tmp_path / "lab.wsp"),
                                      "--out", str(tmp_path / "agreement")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("compared 3 of 4 tubes; AB/C bias ")
    rows = _rows(tmp_path / "agreement" / "agreement.csv")
    calibration = json.loads((out / "manifest.json").read_text())["calibration"]
    for name, ((x0, y0), (x1, y1)) in boxes.items():
        sample = read_fcs(run / name)
        fsc, ssc = (sample.events[:, sample.channels.index(c)] for c in ("FSC-A", "SSC-A"))
        manual = (fsc >= x0) & (fsc < x1) & (ssc >= y0) & (ssc < y1) & (fsc >= 1) & (ssc >= 1)
        gated = apply_strategy(sample, load_strategy(None))
        ours = gated.masks["monocytes"]
        hladr = gated.frame.scale("HLA-DR")
        row = rows[name]
        assert int(row["manual_count"]) == int(manual.sum()) and int(row["assaykit_count"]) == int(ours.sum())
        assert int(row["assaykit_count"]) == int(samples[name]["monocytes"])
        assert float(row["f1"]) == pytest.approx(2 * (ours & manual).sum() / (ours.sum() + manual.sum()), rel=1e-6)
        median = float(np.median(hladr[manual]))
        assert float(row["manual_hladr"]) == pytest.approx(median, rel=1e-6)
        abc = 10 ** (calibration["slope"] * math.log10(median) + calibration["intercept"])
        assert float(row["manual_abc"]) == pytest.approx(abc, rel=1e-6)
        assert float(row["assaykit_abc"]) == pytest.approx(float(samples[name]["hladr_abc"]), rel=1e-6)
        ours_abc = 10 ** (calibration["slope"] * math.log10(float(np.median(hladr[ours]))) + calibration["intercept"])
        assert float(row["abc_difference_pct"]) == pytest.approx(100 * (ours_abc - abc) / abc, rel=1e-6, abs=1e-9)
    missing = rows[files[3]]
    assert missing["f1"] == "" and "workspace sample matches" in missing["note"]
    html = (tmp_path / "agreement" / "agreement.html").read_text()
    assert "Bland-Altman (n = 3)" in html and "Passing-Bablok (n = 3)" in html
    assert html.count('src="data:image/png;base64,') == 2 + 3  # two plots, three thumbnails
    assert verify_outputs(out) == []


def test_bad_input_is_one_line(scored: tuple[Path, Path], tmp_path: Path) -> None:
    _, out = scored
    result = CliRunner().invoke(app, ["compare", str(out), "--workspace", str(tmp_path / "none.wsp")])
    assert result.exit_code == 2 and "none.wsp: FlowJo workspace not found" in result.output
    assert len(result.output.strip().splitlines()) == 1
    copy = Path(shutil.copytree(out, tmp_path / "copy"))
    (copy / "samples.csv").write_text((copy / "samples.csv").read_text().replace("P01", "P09"))
    result = CliRunner().invoke(app, ["compare", str(copy), "--workspace", str(out / "run.wsp")])
    assert result.exit_code == 2 and "not as scored: samples.csv: changed" in result.output
    assert not (tmp_path / "copy-agreement").exists()


def test_compare_with_no_tube_compared_exits_1(scored: tuple[Path, Path], tmp_path: Path) -> None:
    """A workspace of none of the run's files: the folder is written (each row says why) and the
    command exits 1, not 0: nothing was validated."""
    run, out = scored
    samples = _rows(out / "samples.csv")
    name = sorted(f for f, r in samples.items() if r["role"] == "sample")[0]
    renamed = tmp_path / "other" / "not-this-run.fcs"
    renamed.parent.mkdir()
    shutil.copy(run / name, renamed)
    lab_workspace(tmp_path / "lab.wsp", {"not-this-run.fcs": monocyte_box(renamed)})
    result = CliRunner().invoke(app, ["compare", str(out), "--workspace", str(tmp_path / "lab.wsp"),
                                      "--out", str(tmp_path / "agreement")])
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith(f"compared 0 of {sum(r['role'] == 'sample' for r in samples.values())} tubes")
    rows = _rows(tmp_path / "agreement" / "agreement.csv")
    assert all(r["f1"] == "" and "by its name or data file" in r["note"] for r in rows.values())


def test_run_folder_found_from_any_folder(scored: tuple[Path, Path], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 29 review: score run with a relative run folder records it absolute, so compare run from
    another folder finds the FCS files; an older manifest's relative run_dir is looked for beside the
    output folder, and where it is nowhere the one-line error names the paths tried and --run."""
    import json

    from assaykit.scoring.pipeline import other_run

    run, _ = scored
    base = tmp_path / "lab"
    shutil.copytree(run, base / "c")
    monkeypatch.chdir(base)
    out = score_run(Path("c"), out=Path("oc"), jobs=1).out_dir
    manifest = json.loads((base / "oc" / "manifest.json").read_text())
    assert manifest["run_dir"] == str((base / "c").resolve())
    monkeypatch.chdir("/")
    agreement = compare_run(base / out, base / "oc" / "run.wsp")
    assert [t.row["f1"] for t in agreement.tubes] == [1.0] * 4
    # an older manifest: run_dir "c" as typed in base; found beside the output folder from "/"
    manifest["run_dir"] = "c"
    (base / "oc" / "manifest.json").write_text(json.dumps(manifest))
    assert [t.row["f1"] for t in compare_run(base / "oc", base / "oc" / "run.wsp").tubes] == [1.0] * 4
    assert other_run(base / "oc", base / "c") is None  # the same run, not another one
    moved = Path(shutil.copytree(base / "oc", tmp_path / "elsewhere" / "deep" / "oc"))
    result = CliRunner().invoke(app, ["compare", str(moved), "--workspace", str(moved / "run.wsp"),
                                      "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert f"tried {Path('/c')}, {tmp_path / 'elsewhere' / 'deep' / 'c'}" in result.output and "--run" in result.output
    result = CliRunner().invoke(app, ["compare", str(moved), "--workspace", str(moved / "run.wsp"),
                                      "--run", str(base / "c"), "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 0 and "compared 4 of 4 tubes" in result.output, result.output


# Passing-Bablok against a published fit (data and results, not code): the creatinine data of R's mcr package
# (110 heart-surgery patients, serum vs plasma creatinine, mg/dL; 108 complete pairs),
# mcr::mcreg(method.reg="PaBa", method.ci="analytical") as printed in R. Wicklin, "Passing-Bablok regression in
# SAS", The DO Loop, 2022-02-14: intercept -0.1171729 (-0.2001149, -0.02), slope 1.0880089 (1.0, 1.173005).
CREATININE = """0.82 0.79  1.83 1.62  1.39 1.36  0.81 1.3   1.72 1.88
3.23 3.35  1.23 1.06  1.37 1.34  1.72 1.56  0.96 0.94
0.76 0.69  1.15 1.16  0.95 0.71  1 0.83     1.52 1.44
1.56 1.26  2.45 2.36  1.85 1.9   0.89 0.95  0.82 0.77
1.01 0.82  0.96 0.88  3.38 3.42  1.31 1.15  1.1 0.96
1.26 1.12  1.15 1.02  1.2 1.29   1.01 0.87  1.33 1.13
0.87 0.82  1.66 1.33  1.41 1.14  1.08 0.93  1.17 1.09
0.82 .     1.77 1.89  1.33 1.57  1.23 1.29  1.21 1.13
1.2 1.11   1.49 1.61  0.89 0.79  1.09 1.19  1.03 0.96
1.07 1.25  0.89 0.87  1.39 1.36  0.96 0.86  1.06 1.03
1.17 0.86  0.9 0.8    1.39 1.22  0.91 0.86  2.28 2.25
0.9 0.87   0.83 .     1.34 1.3   1.32 1.04  1.02 0.92
1.04 1.01  1.27 1.21  1.08 1.11  1.1 1.21   1.39 1.54
1.07 0.99  0.79 0.79  1.02 1.06  0.94 1.02  1.99 2.15
0.7 0.56   0.84 1.01  0.66 0.59  1.1 1.17   0.9 0.82
2.06 2.09  1.31 1.44  1.03 1.22  1.61 1.77  1.52 1.6
1.11 1.13  0.85 1.06  1.2 1.38   1.09 1.24  1.27 1.29
2.06 2.08  1.21 1.31  0.77 0.82  1.06 1.28  1.02 1.15
1 1.04     1.47 1.51  0.97 1.13  1.7 1.84   1.78 1.94
0.93 1.32  0.92 1.36  1.59 1.88  0.68 0.73  0.7 0.78
1.08 1.01  0.83 0.9   1.17 1.3   0.98 0.96  0.77 0.61
0.91 1.27  1.1 1.05   0.8 1.12   0.85 0.72  0.82 0.87"""


def _published_pairs(text: str) -> tuple[np.ndarray, np.ndarray]:
    tokens = text.split()
    pairs = [(a, b) for a, b in zip(tokens[::2], tokens[1::2], strict=True) if "." not in (a, b)]
    return np.array([float(a) for a, _ in pairs]), np.array([float(b) for _, b in pairs])


def test_passing_bablok_reproduces_mcr_on_its_creatinine_data() -> None:
    x, y = _published_pairs(CREATININE)
    assert x.size == 108
    fit = passing_bablok(x, y)
    assert fit.slope == pytest.approx(1.0880089, abs=1e-6)
    assert fit.intercept == pytest.approx(-0.1171729, abs=1e-6)
    # mcr measures slopes as angles (slope.measure="radian"): its CI limits differ from the ranked slopes in the
    # fifth decimal
    assert fit.slope_ci == pytest.approx((1.0, 1.173005), abs=1e-4)
    assert fit.intercept_ci == pytest.approx((-0.2001149, -0.02), abs=1e-4)


def test_passing_bablok_is_bounded_in_pairs() -> None:
    """Its n (n - 1) / 2 slopes are held at once: 20,000 pairs took 11 GB (a hostile review); more
    than PASSING_BABLOK_MAX_N pairs are refused, and the most it takes is computed."""
    from assaykit.scoring.agreement import PASSING_BABLOK_MAX_N

    rng = np.random.default_rng(3)
    x = rng.uniform(1000, 30000, PASSING_BABLOK_MAX_N + 1)
    with pytest.raises(ValueError, match=f"at most {PASSING_BABLOK_MAX_N} pairs"):
        passing_bablok(x, 1.1 * x)
    fit = passing_bablok(x[:PASSING_BABLOK_MAX_N], 1.1 * x[:PASSING_BABLOK_MAX_N])
    assert fit.slope == pytest.approx(1.1) and fit.intercept == pytest.approx(0.0, abs=1e-6)
