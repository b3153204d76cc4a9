"""Gates, strategies, marker resolution, the automatic gates' accuracy against the simulator's
per-event labels, the readout and its QC flags."""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from assaykit import GatingError, read_fcs
from assaykit.cli import app
from assaykit.fcs.channels import Marker, find_channel
from assaykit.fcs.writer import write_fcs
from assaykit.gating import apply_strategy, load_strategy, parse_strategy
from assaykit.gating.gates import BooleanGate, EllipseGate, IntervalGate, PolygonGate, QuadrantGate, RectangleGate
from assaykit.gating.readout import measure, qc_findings, qc_flags, statistics
from assaykit.simulate import (
    CHANNELS,
    LABELS,
    MARKERS,
    MONOCYTE_LABELS,
    STYLES,
    Instrument,
    Scenario,
    _keywords,
    simulate_blood,
    write_tube,
)


class Frame:
    """A minimal GateData: display coordinates given directly."""

    def __init__(self, columns: dict[str, np.ndarray]):
        self.columns = columns
        self.n_events = len(next(iter(columns.values())))
        self.masks: dict[str, np.ndarray] = {}

    def display(self, marker: str) -> np.ndarray:
        return self.columns[marker]


GRID = np.array([[x, y] for x in np.linspace(0, 1, 11) for y in np.linspace(0, 1, 11)])
FRAME = Frame({"x": GRID[:, 0], "y": GRID[:, 1]})


def test_interval_and_rectangle() -> None:
    assert IntervalGate(("x",), 0.25, None).apply(FRAME).sum() == 8 * 11
    rect = RectangleGate(("x", "y"), (0.15, None), (0.55, 0.35)).apply(FRAME)
    np.testing.assert_array_equal(rect, (GRID[:, 0] >= 0.15) & (GRID[:, 0] <= 0.55) & (GRID[:, 1] <= 0.35))


def test_polygon_against_an_independent_test() -> None:
    triangle = ((0.05, 0.05), (0.95, 0.05), (0.05, 0.95))
    inside = PolygonGate(("x", "y"), triangle).apply(FRAME)
    expected = (GRID[:, 0] > 0.05) & (GRID[:, 1] > 0.05) & (GRID[:, 0] + GRID[:, 1] < 1.0)
    np.testing.assert_array_equal(inside, expected)
    with pytest.raises(GatingError):
        PolygonGate(("x", "y"), ((0, 0), (1, 1)))


def test_ellipse_quadrant_boolean() -> None:
    # radius sqrt(0.045): no grid point lies on the boundary
    circle = EllipseGate(("x", "y"), (0.5, 0.5), ((0.045, 0.0), (0.0, 0.045)), 1.0).apply(FRAME)
    np.testing.assert_array_equal(circle, (GRID[:, 0] - 0.5) ** 2 + (GRID[:, 1] - 0.5) ** 2 <= 0.045)
    quadrant = QuadrantGate(("x", "y"), (0.5, 0.5), "+-").apply(FRAME)
    np.testing.assert_array_equal(quadrant, (GRID[:, 0] >= 0.5) & (GRID[:, 1] < 0.5))
    FRAME.masks.update({"a": circle, "b": quadrant})
    np.testing.assert_array_equal(BooleanGate("and", ("a", "b")).apply(FRAME), circle & quadrant)
    np.testing.assert_array_equal(BooleanGate("or", ("a", "b")).apply(FRAME), circle | quadrant)
    np.testing.assert_array_equal(BooleanGate("not", ("a",)).apply(FRAME), ~circle)


@pytest.mark.parametrize("labels,channels,expected", [
    (["", "HLA-DR PE", "CD14 PerCP-Cy5.5"], ["FSC-A", "PE-A", "PerCP-Cy5-5-A"], (1, 2)),
    (["", "HLA-DR-PE", "CD14-PC5.5"], ["FS INT", "FL2 INT", "FL4 INT"], (1, 2)),
    (["", "", ""], ["FSC-H", "FL2-H", "FL3-H"], (1, 2)),  # FACSCalibur: aliases only
    (["", "", ""], ["FS INT", "FL2 INT", "FL4 INT"], (1, 2)),  # Navios
    (["CD140", "HLA-DR", "CD14"], ["FL1-H", "FL2-H", "FL3-H"], (1, 2)),  # CD140 is not CD14
])
def test_markers_found_by_label_or_alias(labels: list[str], channels: list[str], expected: tuple) -> None:
    strategy = load_strategy()
    hladr, cd14 = strategy.markers["HLA-DR"], strategy.markers["CD14"]
    assert (find_channel(hladr, channels, labels), find_channel(cd14, channels, labels)) == expected


def test_missing_marker_is_named() -> None:
    with pytest.raises(GatingError, match="marker 'CD14' not found"):
        find_channel(Marker("CD14", ("FL3-H",)), ["FSC-A", "PE-A"], ["", ""])


BASE = {
    "markers": {"FSC-A": {"transform": "linear"}, "CD14": {"transform": "logicle"}},
    "populations": [{"name": "cells", "parent": "root", "gate": {"type": "interval", "dims": ["FSC-A"], "low": 1000}}],
    "readout": {"population": "cells", "marker": "CD14"},
}


@pytest.mark.parametrize("change,message", [
    ({"populations": [{"name": "a", "parent": "nowhere", "gate": {"type": "interval", "dims": ["FSC-A"]}}]},
     "population 'a': unknown parent 'nowhere'"),
    ({"populations": [{"name": "a", "gate": {"type": "interval", "dims": ["CD45"]}}]},
     "population 'a': unknown marker 'CD45'"),
    ({"populations": [{"name": "a", "parent": "b", "gate": {"type": "interval", "dims": ["FSC-A"]}},
                      {"name": "b", "parent": "a", "gate": {"type": "interval", "dims": ["FSC-A"]}}]},
     "cycle"),
    ({"populations": [{"name": "a", "gate": {"type": "polygon", "dims": ["FSC-A", "CD14"],
                                             "vertices": [[1, 2], [3, 4]]}}]},
     "population 'a': a polygon needs at least 3 vertices"),
    ({"populations": [{"name": "a", "gate": {"type": "rectangle", "dims": ["FSC-A", "CD14"], "low": [1, "x"],
                                             "high": [2, 3]}}]},
     "population 'a': low: 'x' is not a number"),
    ({"populations": [{"name": "a", "gate": {"auto": "magic", "dims": ["FSC-A"]}}]}, "unknown automatic gate"),
    ({"readout": {"population": "cells", "marker": "HLA-DR"}}, "readout: unknown marker"),
])
def test_bad_strategies_refused_with_the_population_named(change: dict, message: str) -> None:
    doc = {**BASE, **change}
    if "readout" not in change:
        doc["readout"] = {"population": doc["populations"][0]["name"], "marker": "CD14"}
    with pytest.raises(GatingError, match=message):
        parse_strategy(doc, "test.yaml")


def test_default_strategy_loads() -> None:
    strategy = load_strategy()
    assert [p.name for p in strategy.populations] == ["cells", "singlets", "not_granulocytes", "monocytes"]
    assert strategy.optional == {"FSC-H", "CD15", "CD45", "CD16"}  # the third markers: found by label only
    assert strategy.readout.marker == "HLA-DR" and strategy.readout.statistic == "median"


def test_statistics_against_direct_computation() -> None:
    values = np.random.default_rng(1).lognormal(7, 0.4, 5001)
    stats = statistics(values, threshold=1500.0)
    assert stats["median"] == pytest.approx(np.median(values))
    assert stats["geometric_mean"] == pytest.approx(np.exp(np.log(values).mean()))
    assert stats["robust_cv"] == pytest.approx(100 * np.sinh(0.4), rel=0.05)  # lognormal: (e^s - e^-s) / 2
    assert stats["percent_positive"] == pytest.approx(100 * np.mean(values > 1500))


LABEL_CODES = {name: code for code, name in LABELS.items()}


# --- accuracy against the simulator -------------------------------------------------------------

SCENARIOS = (
    [Scenario(n_events=100000, monocyte_fraction=f, monocyte_abc=abc, nonclassical_fraction=0.0)
     for f in (0.005, 0.02, 0.07, 0.15) for abc in (500, 5000, 60000)]
    + [Scenario(n_events=100000, monocyte_fraction=f, monocyte_abc=2000, nonclassical_fraction=0.15,
                cd14_shift_decades=shift) for f in (0.01, 0.07) for shift in (0.0, 0.3, 0.6)]
    + [Scenario(n_events=100000, doublet_fraction=d, debris_fraction=0.3) for d in (0.01, 0.1)]
    + [Scenario(n_events=100000, doublet_fraction=0.05, monocyte_abc=abc, debris_fraction=deb)
       for abc in (800, 30000) for deb in (0.02, 0.2)]
)
# the same populations written as a Navios (integer, 0-1,048,576) and a FACSCalibur (FCS 2.0,
# log-amplified, heights only: doublets cannot be excluded, so at most 3 % of them here)
NAVIOS = [Scenario(n_events=100000, monocyte_fraction=0.005, monocyte_abc=500, nonclassical_fraction=0.0),
          Scenario(n_events=100000, monocyte_fraction=0.07, monocyte_abc=60000, doublet_fraction=0.1),
          Scenario(n_events=100000, monocyte_fraction=0.02, monocyte_abc=2000, nonclassical_fraction=0.15,
                   cd14_shift_decades=0.6),
          Scenario(n_events=100000, monocyte_fraction=0.15, monocyte_abc=5000, debris_fraction=0.3)]
CALIBUR = [Scenario(n_events=100000, monocyte_fraction=0.07, monocyte_abc=500),
           Scenario(n_events=100000, monocyte_fraction=0.07, monocyte_abc=60000),
           Scenario(n_events=100000, monocyte_fraction=0.02, monocyte_abc=5000, doublet_fraction=0.01),
           Scenario(n_events=100000, monocyte_fraction=0.15, monocyte_abc=5000, nonclassical_fraction=0.15,
                    cd14_shift_decades=0.3)]
STYLE_GRID = ([(s, "canto") for s in SCENARIOS] + [(s, "navios") for s in NAVIOS] + [(s, "calibur") for s in CALIBUR])

# septic confounders together: non-classical monocytes (15 %) and immature granulocytes, with
# and without a CD14-dim shift
CONFOUNDED = [Scenario(n_events=100000, monocyte_fraction=f, monocyte_abc=2000, nonclassical_fraction=0.15,
                       immature_granulocyte_fraction=ig, cd14_shift_decades=shift)
              for f, ig, shift in [(0.03, 0.05, 0.0), (0.03, 0.1, 0.0), (0.07, 0.05, 0.0), (0.07, 0.1, 0.0),
                                   (0.07, 0.05, 0.3), (0.07, 0.1, 0.3), (0.15, 0.1, 0.0), (0.15, 0.1, 0.3),
                                   (0.15, 0.05, 0.6)]]




def grid() -> list[tuple[str, Scenario, str, int]]:
    """(key, scenario, instrument style, seed) of every accuracy-grid tube: STYLE_GRID with seeds
    0.., CONFOUNDED (Canto) with seeds 100.. (tests/data/make_fit_reference.py gates the same)."""
    tubes = [(f"{style}-{seed}", scenario, style, seed) for seed, (scenario, style) in enumerate(STYLE_GRID)]
    tubes += [(f"canto-{seed}", scenario, "canto", seed) for seed, scenario in enumerate(CONFOUNDED, start=100)]
    return tubes


@dataclass(frozen=True)
class GridTube:
    """One gated accuracy-grid tube: the monocyte mask, its F1 against the simulator's labels,
    the relative error of the gated HLA-DR median against the true monocytes', the B cells
    gated, and the gated median (scale units)."""

    gated: np.ndarray
    f1: float
    error: float
    b_cells: int
    median: float


@functools.cache
def gate_grid_tube(scenario: Scenario, style: str, seed: int) -> GridTube:
    """Simulate one grid tube (``scenario``, ``seed``), write it as ``style`` and gate it with
    the default strategy; gated once per test session (the accuracy and non-regression tests
    read the same gates)."""
    tube = simulate_blood(scenario, np.random.default_rng(seed))
    with tempfile.TemporaryDirectory() as folder:
        result = apply_strategy(read_fcs(write_tube(Path(folder) / f"s{seed}.fcs", tube, style=style)),
                                load_strategy())
    gated = result.masks["monocytes"]
    truth = np.isin(tube.labels, MONOCYTE_LABELS)
    pe = result.frame.scale("HLA-DR")
    return GridTube(gated=gated, f1=float(2 * (gated & truth).sum() / (gated.sum() + truth.sum())),
                    error=float(np.median(pe[gated]) / np.median(pe[truth]) - 1),
                    b_cells=int((gated & (tube.labels == LABEL_CODES["b_cell"])).sum()),
                    median=float(np.median(pe[gated])))


# --- accuracy against the simulator's true labels (permanent: a better gate must pass them too) --

def test_monocyte_gate_accuracy_grid() -> None:
    assert len(STYLE_GRID) >= 30 and {style for _, style in STYLE_GRID} == {"canto", "navios", "calibur"}
    for seed, (scenario, style) in enumerate(STYLE_GRID):
        tube = gate_grid_tube(scenario, style, seed)
        assert tube.f1 >= 0.97, (style, scenario, tube.f1)
        assert abs(tube.error) <= 0.02, (style, scenario, tube.error)
        assert tube.b_cells == 0, (style, scenario, tube.b_cells)


def test_monocyte_gate_with_immature_granulocytes() -> None:
    for seed, scenario in enumerate(CONFOUNDED, start=100):
        tube = gate_grid_tube(scenario, "canto", seed)
        assert tube.f1 >= 0.95, (scenario, tube.f1)  # issue 13: F1 >= 0.95 in every scenario (lowest 0.956)
        assert abs(tube.error) <= 0.02, (scenario, tube.error)
        assert tube.b_cells == 0, (scenario, tube.b_cells)


# --- non-regression: the gates as the current algorithm gives them ------------------------------

FIT_REFERENCE = json.loads((Path(__file__).parent.parent / "data" / "fit_reference.json").read_text())


def unpack_reference(entry: dict) -> np.ndarray:
    """The monocyte mask of one tube of fit_reference.json (packed bits, zlib, base64)."""
    packed = np.frombuffer(zlib.decompress(base64.b64decode(entry["mask"])), dtype=np.uint8)
    return np.unpackbits(packed, count=entry["events"]).astype(bool)


def test_monocyte_gates_match_the_fit_reference() -> None:
    """Every grid tube's monocyte gate against tests/data/fit_reference.json, which `make
    fit-reference` regenerates from this tree: the same membership for at least 99.9 % of the
    events and the gated HLA-DR median within 0.2 % (issue 17's terms: on the machine that made
    the file the gates are identical; another CPU's SIMD exp/log and BLAS may round the mixture's
    last bits otherwise). A change of the gate made on purpose regenerates the file in the same
    commit; the accuracy tests above hold it to the truth."""
    tubes = grid()
    assert sorted(FIT_REFERENCE["tubes"]) == sorted(key for key, *_ in tubes)
    for key, scenario, style, seed in tubes:
        tube, reference = gate_grid_tube(scenario, style, seed), FIT_REFERENCE["tubes"][key]
        agreement = float(np.mean(tube.gated == unpack_reference(reference)))
        assert agreement >= 0.999, (key, agreement)
        assert abs(tube.median / reference["median"] - 1) <= 0.002, (key, tube.median, reference["median"])


def _log_gaussian(points: np.ndarray, sample: np.ndarray) -> np.ndarray:
    mean, cov = sample.mean(axis=0), np.cov(sample.T)
    d = points - mean
    return -0.5 * np.einsum("ij,jk,ik->i", d, np.linalg.inv(cov), d) - 0.5 * np.log(np.linalg.det(cov))


def test_immature_granulocyte_limit_is_in_the_data(tmp_path: Path) -> None:
    # docs/gating-strategy.md names the limit: 1 % monocytes among 5 % immature granulocytes with
    # a 0.3-decade CD14 shift. There even the Bayes classifier built from the true labels (a
    # Gaussian per population in the same CD14 x SSC coordinates) misses the accuracy targets, so
    # no CD14 x SSC gate can meet them.
    scenario = Scenario(n_events=100000, monocyte_fraction=0.01, monocyte_abc=2000, nonclassical_fraction=0.15,
                        immature_granulocyte_fraction=0.05, cd14_shift_decades=0.3)
    tube = simulate_blood(scenario, np.random.default_rng(100))
    path = write_tube(tmp_path / "limit.fcs", tube)
    # the readout's check (docs/gating-strategy.md step 9) refuses this tube: its HLA-DR-negative
    # events pull the median an estimated 2.7 % low (truly 2.3 %; on seed 102 the gate lands on the
    # immature granulocytes, 91 % low, and is refused too); the gate without the check is studied here
    with pytest.raises(GatingError, match=r"HLA-DR-negative cells under the monocytes' HLA-DR, which pulls the "
                                          r"median 2\.7 % low"):
        apply_strategy(read_fcs(path), load_strategy())
    strategy = load_strategy()
    monocytes = next(p for p in strategy.populations if p.name == "monocytes")
    unchecked = dataclasses.replace(monocytes, gate=dataclasses.replace(monocytes.gate, dims=("CD14", "SSC-A")))
    strategy = dataclasses.replace(strategy, populations=tuple(unchecked if p is monocytes else p
                                                               for p in strategy.populations))
    result = apply_strategy(read_fcs(path), strategy)
    points = np.column_stack([result.frame.display("CD14"), result.frame.display("SSC-A")])
    labels = tube.labels
    classes = [c for c in np.unique(labels) if c != LABEL_CODES["doublet"]]
    scores = np.column_stack([_log_gaussian(points, points[labels == c]) + np.log(np.mean(labels == c))
                              for c in classes])
    oracle = np.isin(np.asarray(classes)[scores.argmax(axis=1)], MONOCYTE_LABELS)
    truth = np.isin(labels, MONOCYTE_LABELS)
    pe = result.frame.scale("HLA-DR")
    oracle_f1 = 2 * (oracle & truth).sum() / (oracle.sum() + truth.sum())
    oracle_error = np.median(pe[oracle]) / np.median(pe[truth]) - 1
    assert oracle_f1 < 0.93 or abs(oracle_error) > 0.02, (oracle_f1, oracle_error)
    gated = result.masks["monocytes"]
    f1 = 2 * (gated & truth).sum() / (gated.sum() + truth.sum())
    assert f1 >= oracle_f1 - 0.05  # the automatic gate stays close to what the data allow
    error = np.median(pe[gated]) / np.median(pe[truth]) - 1
    assert -0.03 < error < -0.02, error  # within 3 %, but near it: the check's 2.5 % refuses it


def test_readout_and_qc_flags(tmp_path: Path) -> None:
    scenario = Scenario(n_events=20000, monocyte_fraction=0.02, doublet_fraction=0.15, monocyte_abc=3000)
    tube = simulate_blood(scenario, np.random.default_rng(4))
    path = write_fcs(tmp_path / "q.fcs", tube.events, CHANNELS, MARKERS, _keywords("A1", Instrument(), "q"))
    strategy = load_strategy()
    result = apply_strategy(read_fcs(path), strategy)
    readout = measure(result, strategy)
    assert readout.channel == "PE-A" and readout.n_events == result.count("monocytes")
    flags = qc_flags(result, strategy, readout)
    assert any("unreliable" in f for f in flags)
    assert any("doublets are" in f for f in flags)
    abc = Instrument().molecules(readout.median)
    assert abc == pytest.approx(tube.true_abc_median, rel=0.04)


def test_gate_command(simulated_run: Path, tmp_path: Path) -> None:
    path = simulated_run / "Specimen_001_A1_A01.fcs"
    runner = CliRunner()
    result = runner.invoke(app, ["gate", str(path), "--json", "--membership", str(tmp_path / "m.csv"),
                                 "--plot", str(tmp_path / "g.png")])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert [p["name"] for p in payload["populations"]] == ["cells", "singlets", "not_granulocytes", "monocytes"]
    assert set(payload["readout"]) >= {"population", "marker", "channel", "median", "geometric_mean", "robust_cv",
                                       "percent_positive"}
    membership = np.loadtxt(tmp_path / "m.csv", delimiter=",", skiprows=1, dtype=np.int8)
    labels = np.load(simulated_run / "Specimen_001_A1_A01.labels.npy")
    assert membership.shape == (labels.size, 4)  # cells, singlets, not_granulocytes, monocytes
    monocytes = membership[:, 3].astype(bool)
    truth = np.isin(labels, MONOCYTE_LABELS)
    assert 2 * (monocytes & truth).sum() / (monocytes.sum() + truth.sum()) > 0.97
    assert (tmp_path / "g.png").stat().st_size > 10000
    text = runner.invoke(app, ["gate", str(path)])
    assert "monocytes" in text.stdout and "HLA-DR (PE-A)" in text.stdout
    bad = runner.invoke(app, ["gate", str(path), "--strategy", str(tmp_path / "none.yaml")])
    assert bad.exit_code == 2 and "strategy file not found" in bad.stderr


def test_fixed_gates_from_yaml_select_in_scale_values(simulated_run: Path) -> None:
    # bounds are written in scale values; with monotone transforms the gate must select exactly
    # the events whose compensated scale values lie within them
    sample = read_fcs(simulated_run / "Specimen_001_A1_A01.fcs")
    doc = {
        "markers": {"FSC-A": {"transform": "linear"}, "SSC-A": {"transform": {"kind": "log"}},
                    "CD14": {"aliases": ["PerCP-Cy5-5-A"], "transform": "logicle"}},
        "populations": [
            {"name": "big", "gate": {"type": "interval", "dims": ["FSC-A"], "low": 30000, "high": 120000}},
            {"name": "box", "parent": "big", "gate": {"type": "rectangle", "dims": ["CD14", "SSC-A"],
                                                      "low": [2000, 20000], "high": [None, 70000]}},
            {"name": "tri", "gate": {"type": "polygon", "dims": ["FSC-A", "SSC-A"],
                                     "vertices": [[30000, 20000], [120000, 20000], [30000, 200000]]}},
        ],
        "readout": {"population": "box", "marker": "CD14"},
    }
    result = apply_strategy(sample, parse_strategy(doc))
    fsc, ssc, cd14 = (result.frame.scale(m) for m in ("FSC-A", "SSC-A", "CD14"))
    # events at the top of scale on a scatter or the readout channel are removed before gating
    at_top = np.any(sample.raw[:, [sample.channels.index(c) for c in ("FSC-A", "SSC-A", "PerCP-Cy5-5-A")]]
                    >= 262143, axis=1)
    assert result.removed == at_top.sum() > 0
    big = (fsc >= 30000) & (fsc <= 120000) & ~at_top
    np.testing.assert_array_equal(result.masks["big"], big)
    np.testing.assert_array_equal(result.masks["box"], big & (cd14 >= 2000) & (ssc >= 20000) & (ssc <= 70000))
    tri = result.masks["tri"]
    assert tri.any() and np.all(fsc[tri] >= 30000 - 1) and np.all(ssc[tri] >= 20000 - 1)


@pytest.mark.parametrize("style", ["navios", "calibur"])
def test_fixed_gates_follow_the_file_range(tmp_path: Path, style: str) -> None:
    # transforms left to the channel (no t) take each file's top of scale; gates written in scale
    # values still select exactly the events whose values lie within them
    tube = simulate_blood(Scenario(n_events=20000), np.random.default_rng(12))
    sample = read_fcs(write_tube(tmp_path / f"{style}.fcs", tube, style=style))
    doc = {
        "markers": {"SSC-A": {"aliases": ["SS INT", "SSC-H"], "transform": {"kind": "log"}},
                    "CD14": {"aliases": ["FL4 INT", "FL3-H"], "transform": "logicle"}},
        "populations": [{"name": "box", "gate": {"type": "rectangle", "dims": ["CD14", "SSC-A"],
                                                 "low": [100, 50], "high": [None, 400000]}}],
        "readout": {"population": "box", "marker": "CD14"},
    }
    result = apply_strategy(sample, parse_strategy(doc))
    cd14, ssc = result.frame.scale("CD14"), result.frame.scale("SSC-A")
    top = sample.scale_tops()[result.frame.channels["CD14"]]
    assert result.frame.transform("CD14").t == top
    ranges = sample.channel_ranges()
    at_top = np.any([sample.raw[:, c] >= ranges[c] - 1 for c in result.frame.channels.values()], axis=0)
    expected = (cd14 >= 100) & (ssc >= 50) & (ssc <= 400000) & ~at_top
    assert np.sum(result.masks["box"] != expected) <= 2  # float rounding at the edges only
    assert result.masks["box"].sum() > 1000


def test_automatic_gates_are_deterministic(simulated_run: Path) -> None:
    path = simulated_run / "Specimen_001_A2_A02.fcs"
    first = apply_strategy(read_fcs(path), load_strategy())
    second = apply_strategy(read_fcs(path), load_strategy())
    assert [g.to_dict() for g in first.gates.values()] == [g.to_dict() for g in second.gates.values()]
    for name, mask in first.masks.items():
        np.testing.assert_array_equal(mask, second.masks[name])


def test_each_gate_type_is_one_class(simulated_run: Path) -> None:
    """Strategy parsing, to_dict and the gating figure all go through the gate's own class."""
    from assaykit.gating import gating_panels
    from assaykit.gating.gates import GATE_TYPES

    specs = {
        "interval": {"dims": ["FSC-A"], "low": 20000},
        "rectangle": {"dims": ["FSC-A", "SSC-A"], "low": [20000, 1000], "high": [None, 200000]},
        "polygon": {"dims": ["FSC-A", "SSC-A"], "vertices": [[20000, 1000], [250000, 1000], [250000, 200000]]},
        "ellipse": {"dims": ["FSC-A", "SSC-A"], "center": [80000, 40000], "covariance": [[0.01, 0], [0, 0.01]],
                    "distance": 2},
        "quadrant": {"dims": ["FSC-A", "SSC-A"], "split": [50000, 20000], "quadrant": "++"},
        "ratio": {"dims": ["FSC-A", "FSC-H"], "low": 0.7, "high": 1.0},
    }
    assert set(specs) == set(GATE_TYPES)
    from assaykit._io.config import read_config

    doc = read_config("monocyte-hladr", folder="", error=GatingError, what="strategy file").doc
    doc["populations"] = [{"name": kind, "parent": "root", "gate": {"type": kind, **spec}}
                          for kind, spec in specs.items()]
    doc["readout"] = {"population": "interval", "marker": "HLA-DR"}
    result = apply_strategy(read_fcs(simulated_run / "Specimen_001_A1_A01.fcs"), parse_strategy(doc))
    panels = {p.population: p for p in gating_panels(result)}
    for kind in specs:
        gate = result.gates[kind]
        assert type(gate) is GATE_TYPES[kind] and gate.to_dict()["type"] == kind
        assert 0 < result.count(kind) < result.frame.n_events, kind
        outlines = panels[kind].outlines
        assert (len(outlines) == 0) == (kind == "interval") and all(o.shape[1] == 2 for o in outlines), kind
    with pytest.raises(GatingError, match="unknown gate type 'hexagon'"):
        parse_strategy({**doc, "populations": [{"name": "x", "gate": {"type": "hexagon", "dims": ["FSC-A"]}}]})


def test_monocyte_gate_parameters_are_named_fields(simulated_run: Path) -> None:
    """Every number of the monocyte fit is a documented field, settable from a strategy."""
    import dataclasses

    from assaykit._io.config import read_config
    from assaykit.gating import MonocyteGate

    fields = [f.name for f in dataclasses.fields(MonocyteGate) if f.name != "dims"]
    assert len(fields) >= 30
    for name in fields:
        assert f"``{name}``" in MonocyteGate.__doc__, name
    doc = read_config("monocyte-hladr", folder="", error=GatingError, what="strategy file").doc
    sample = read_fcs(simulated_run / "Specimen_001_A1_A01.fcs")
    default = apply_strategy(sample, parse_strategy(doc)).count("monocytes")
    doc["populations"][-1]["gate"]["ssc_top_sds"] = 1.0
    assert apply_strategy(sample, parse_strategy(doc)).count("monocytes") < default
    doc["populations"][-1]["gate"]["no_such_number"] = 1.0
    with pytest.raises(GatingError, match="population 'monocytes'"):
        parse_strategy(doc)


def test_top_of_scale_where_events_pile_up_under_the_range(corpus: Path) -> None:
    # a Beckman LMD's FCS 3.0 copy stores 15-bit values x 32: its top is 1,048,544 of $PnR 1,048,576
    # (the review of issue 29: at $PnR - 1 only, coulter.lmd's 10.4 % at the top of FS and 21.6 % of
    # SS went unseen and its monocyte gate was the saturated SS band); the FCS 2.0 dataset of the
    # same file stores the same events at 1,023 of 1,024
    from assaykit.gating.apply import at_top_of_scale

    for name, tops in [("flowkit/coulter.lmd", {"FS": 1881, "SS": 3918, "FL2": 0, "FL4": 0}),
                       ("cytoflow/instruments/Beckman Coulter - Cytomics FC500.LMD", {"FS": 217, "SS": 5299}),
                       ("cytoflow/instruments/Beckman Coulter - Gallios.LMD", {"FS-A": 1872, "SS-A": 8})]:
        sample = read_fcs(corpus / name)
        found = at_top_of_scale(sample, [sample.channels.index(c) for c in tops])
        assert {sample.channels[c]: int(m.sum()) for c, m in found.items()} == tops, name
        # the 10-bit dataset (forward scatter first in both) has them at its $PnR - 1, with at most one
        # more: an unsaturated event in its top channel (coulter.lmd's at 1,048,384 in the copy)
        ten_bit_top = read_fcs(corpus / name, dataset=0).raw[:, 0] >= 1023
        assert not (found[0] & ~ten_bit_top).any() and np.count_nonzero(ten_bit_top & ~found[0]) <= 1


def test_top_of_scale_of_a_rescaled_file(tmp_path: Path) -> None:
    # 10-bit values x 1,024 in a 20-bit range: the top is 1,047,552, 1,024 under $PnR; a channel
    # whose largest value lies lower (nothing piles up at the top) has no event at its top
    from assaykit.fcs.writer import write_fcs_integer
    from assaykit.gating.apply import at_top_of_scale

    rng = np.random.default_rng(5)
    tenbit = np.column_stack([rng.integers(100, 1024, 5000), rng.integers(100, 1000, 5000)])
    tenbit[:300, 0] = 1023
    path = write_fcs_integer(tmp_path / "rescaled.fcs", tenbit * 1024, ["FS", "SS"], bits=32,
                             ranges=[1048576, 1048576])
    found = at_top_of_scale(read_fcs(path), [0, 1])
    assert int(found[0].sum()) == int((tenbit[:, 0] == 1023).sum()) >= 300
    assert not found[1].any()


@pytest.mark.parametrize("style", ["canto", "navios", "navios-lmd", "fc500", "calibur"])
def test_saturated_events_are_written_and_found_at_the_top_in_every_style(tmp_path: Path, style: str) -> None:
    # the simulator's Navios styles wrote a saturated detector as 4 x 262,143 = 1,048,572, under the
    # top a real Gallios copy stores (1,048,575 = $PnR - 1): 0 removed, no flag, saturated events gated
    tube = simulate_blood(Scenario(n_events=30000, saturated_fraction=0.06), np.random.default_rng(3))
    sample = read_fcs(write_tube(tmp_path / f"sat{STYLES[style].extension}", tube, style=style))
    strategy = load_strategy()
    result = apply_strategy(sample, strategy)
    saturated = tube.labels == LABEL_CODES["saturated"]
    ssc = result.frame.channels["SSC-A"]
    assert sample.raw[saturated, ssc].max() == sample.channel_ranges()[ssc] - 1
    assert saturated.sum() > 0.05 * saturated.size
    assert saturated.sum() <= result.removed <= 1.25 * saturated.sum()
    assert not (result.masks["monocytes"] & saturated).any()
    codes = [f.code for f in qc_findings(result, strategy, measure(result, strategy))]
    assert "saturated_events" in codes
