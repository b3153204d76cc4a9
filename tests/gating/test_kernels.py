"""The compiled kernels (assaykit/gating/_kernels.c) and their numpy equivalents give the same
numbers bit for bit: each kernel on random values, values on bin edges and at the table's ends,
NaN and infinities, and drawn arrays; then a whole tube gated both ways."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assaykit import read_fcs
from assaykit.gating import apply_strategy, kernels, load_strategy, quantiles
from assaykit.gating.transforms import Transform
from assaykit.simulate import simulate_blood, specimen_scenario, write_tube


@pytest.fixture
def numpy_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The package as it runs when the extension is not built."""
    monkeypatch.setattr(kernels, "_kernels", None)
    monkeypatch.setattr(quantiles, "_SMALL", 20_000)


def both(function: Callable[..., Any], *args: Any) -> tuple[Any, Any]:
    """(compiled result, numpy result) of one kernel call."""
    compiled = function(*args)
    module, kernels._kernels = kernels._kernels, None
    try:
        return compiled, function(*args)
    finally:
        kernels._kernels = module


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_the_extension_is_built() -> None:
    """`make` builds it: a checkout measured without it would be measured slower than it runs."""
    assert kernels.compiled()


def _values(rng: np.random.Generator, n: int) -> np.ndarray:
    values = rng.uniform(-0.2, 1.2, n)
    values[: n // 10] = np.round(values[: n // 10] * 64) / 64  # on the edges of 64 bins over 0..1
    values[rng.integers(0, n, 5)] = [np.nan, np.inf, -np.inf, 0.0, 1.0]
    return values


@pytest.mark.parametrize("bins", [1, 7, 64, 200])
def test_bin_counts_equal(bins: int) -> None:
    rng = np.random.default_rng(bins)
    x, y = _values(rng, 50_000), _values(rng, 50_000)
    for x_range, y_range in [((0.0, 1.0), (0.0, 1.0)), ((0.1, 0.9), (-0.05, 1.1)), ((0.3, 0.3000001), (0.0, 1.0))]:
        assert same_bits(*both(kernels.bin_counts_2d, x, y, bins, x_range, y_range))
        assert same_bits(*both(kernels.bin_counts_1d, x, bins, x_range))
    counts = kernels.bin_counts_2d(x, y, bins, (0.0, 1.0), (0.0, 1.0))
    inside = (x >= 0) & (x <= 1) & (y >= 0) & (y <= 1)
    assert counts.sum() == np.count_nonzero(inside)  # NaN and infinities outside


def test_bin_counts_agree_with_numpy_histograms() -> None:
    """Against numpy.histogram2d itself, on values away from the inner edges (where numpy corrects
    its arithmetic against its listed edges)."""
    rng = np.random.default_rng(3)
    x, y = rng.uniform(0, 1, 30_000), rng.uniform(0, 1, 30_000)
    expected, _, _ = np.histogram2d(x, y, bins=50, range=[[0, 1], [0, 1]])
    np.testing.assert_array_equal(kernels.bin_counts_2d(x, y, 50, (0.0, 1.0), (0.0, 1.0)), expected)
    np.testing.assert_array_equal(kernels.bin_counts_1d(x, 50, (0.0, 1.0)), np.histogram(x, 50, (0, 1))[0])


@pytest.mark.parametrize("share", [0.0, 0.001, 0.5, 0.93, 1.0])
def test_select_equal(share: float) -> None:
    rng = np.random.default_rng(int(share * 1000))
    values = _values(rng, 10_001)
    mask = rng.random(values.size) < share
    compiled, plain = both(kernels.select, values, mask)
    assert same_bits(compiled, plain) and same_bits(compiled, values[mask])
    strided = np.column_stack([values, values])[:, 0]  # not contiguous: numpy's path
    assert same_bits(kernels.select(strided, mask), values[mask])
    assert same_bits(kernels.select(values.astype(np.float32), mask), values.astype(np.float32)[mask])


def test_extremes_equal() -> None:
    """Each side's smallest and largest finite value and their counts, compiled and not: NaN and
    infinities skipped, a side without values +inf/-inf, odd lengths."""
    rng = np.random.default_rng(6)
    values = _values(rng, 30_001)
    for mask in (rng.random(values.size) < 0.9, np.zeros(values.size, bool), np.ones(values.size, bool)):
        compiled, plain = both(kernels.extremes, values, mask)
        assert compiled == plain
        finite = np.isfinite(values)
        assert compiled[4] == np.count_nonzero(mask & finite) and compiled[5] == np.count_nonzero(~mask & finite)
    assert both(kernels.extremes, np.zeros(0), np.zeros(0, bool))[0] == (np.inf, -np.inf, np.inf, -np.inf, 0, 0)


def test_count_in_boxes_equal() -> None:
    rng = np.random.default_rng(5)
    x, y = _values(rng, 20_000), _values(rng, 20_000)
    boxes = [(0.5, 0.04, 0.5, 0.05), (0.25, 1 / 64, 0.5, 0.5), (0.0, 0.0, 0.0, 1.0), (0.3, 0.04, 0.9, 0.05)]
    for wx, wy in [(0.04, 0.05), (1 / 64, 0.5), (0.0, 1.0)]:
        cx, cy = np.array([b[0] for b in boxes]), np.array([b[2] for b in boxes])
        compiled, plain = both(kernels.count_in_boxes, x, y, cx, wx, cy, wy)
        assert same_bits(compiled, plain)
        expected = [np.count_nonzero((np.abs(x - a) < wx) & (np.abs(y - b) < wy)) for a, b in zip(cx, cy, strict=True)]
        assert compiled.tolist() == expected
    assert kernels.count_in_boxes(x, y, np.zeros(0), 0.1, np.zeros(0), 0.1).size == 0


def _quantile_arrays(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    return [rng.normal(0, 1, n), rng.lognormal(0, 3, n), np.round(rng.normal(0, 1, n), 2),
            np.concatenate([rng.normal(0, 1e-9, n // 2), rng.normal(1e6, 1, n - n // 2)]),
            rng.integers(0, 5, n).astype(np.float64), rng.uniform(-1, 1, n).astype(np.float32),
            np.concatenate([np.zeros(max(n - 3, 0)), [1.0, 2.0, -1.0]]), np.full(n, 2.5)]


@pytest.mark.parametrize("n", [1, 2, 17, 1000, 20_001, 100_000])
def test_order_statistics_equal(n: int) -> None:
    rng = np.random.default_rng(n)
    for values in _quantile_arrays(rng, n):
        before = values.copy()
        ranks = np.unique(np.concatenate([[0, n - 1, n // 2], rng.integers(0, n, 6)]))
        compiled, plain = both(kernels.order_statistics, values, ranks)
        # the same values (a tie of -0.0 and 0.0 may resolve either way, in numpy too)
        assert compiled.dtype == plain.dtype == values.dtype
        np.testing.assert_array_equal(compiled, plain)
        np.testing.assert_array_equal(compiled, np.sort(values)[ranks])
        np.testing.assert_array_equal(values, before)


def test_order_statistics_refuse_what_numpy_must_do() -> None:
    values = np.array([0.0, np.nan, 2.0] * 10)
    assert kernels.order_statistics(values, np.array([3])) is None
    assert kernels.order_statistics(np.array([-1.7e308, 1.7e308, 0.0]), np.array([1])) is None
    assert kernels.order_statistics(np.resize([0.0, 5e-324, 1e-320], 31), np.array([0, 30])) is None
    with pytest.raises(ValueError, match="ranks"):
        kernels.order_statistics(np.arange(5.0), np.array([3, 1]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=40), st.integers(1, 30_000),
       st.lists(st.floats(0, 100), min_size=1, max_size=5))
def test_quantiles_equal_to_numpy_at_any_size(pool: list[float], n: int, q: list[float]) -> None:
    values = np.resize(np.asarray(pool), n)  # few distinct values: long runs of ties
    assert quantiles.percentiles(values, q) == tuple(float(v) for v in np.percentile(values, q))
    assert quantiles.median(values) == float(np.median(values))


def test_table_interpolation_equal() -> None:
    rng = np.random.default_rng(9)
    table = np.cumsum(rng.uniform(0, 1, 1000))
    u = np.concatenate([rng.uniform(-1, 1001, 20_000), [0.0, 998.0, 999.0, -1e-300, 999.0000001, np.nan, np.inf]])
    (out_c, outside_c), (out_n, outside_n) = both(kernels.table_interpolate, u, table, 0.0, 1.0)
    assert same_bits(outside_c, outside_n)
    assert same_bits(out_c[~outside_c], out_n[~outside_n])
    # 999 is the last point (inside); below 0 or above it, NaN and infinity outside
    assert outside_c[-7:].tolist() == [False, False, False, True, True, True, True]


def test_logicle_equal_to_flowutils_both_ways() -> None:
    from flowutils import transforms

    values = np.concatenate([np.geomspace(1, 262144, 5000), -np.geomspace(1, 5000, 100), [0.0, 1e7, -1e7]])
    logicle = Transform("logicle", t=262144.0, m=4.5, w=0.5)
    expected = transforms.logicle(values.reshape(-1, 1), [0], t=262144.0, m=4.5, w=0.5, a=0.0).ravel()
    compiled, plain = both(logicle.forward, values)
    assert same_bits(compiled, plain)
    np.testing.assert_allclose(compiled, expected, rtol=0, atol=1e-9)


def test_json_integers_equal_to_json() -> None:
    """Counts as JSON text: what json.dumps writes, for 1-D and 2-D, the int64 extremes, empty
    and unsigned arrays, compiled and not."""
    import json

    rng = np.random.default_rng(9)
    arrays = [rng.integers(-(2**62), 2**62, (64, 64)), rng.integers(0, 1000, 4096),
              np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max, 0, -1, 10]), np.zeros((3, 0), np.int64),
              np.zeros(0, np.int64), rng.integers(0, 60_000, (5, 7)).astype(np.uint16),
              np.array([2**64 - 1], dtype=np.uint64)]
    for values in arrays:
        compiled, plain = both(kernels.json_integers, values)
        assert compiled == plain == json.dumps(values.tolist(), separators=(",", ":"))


def test_simplify_equal() -> None:
    """Ramer-Douglas-Peucker compiled and in numpy: the same vertices on random walks, a closed
    ring (its chord of no length), collinear and repeated points, and a NaN vertex."""
    rng = np.random.default_rng(8)
    walk = np.cumsum(rng.normal(0, 0.01, (400, 2)), axis=0)
    angle = np.linspace(0, 2 * np.pi, 300)
    ring = np.column_stack([np.cos(angle), np.sin(angle)]) * 0.1
    line = np.column_stack([np.linspace(0, 1, 50), np.linspace(0, 1, 50)])
    repeated = np.repeat(walk[:20], 3, axis=0)
    broken = walk.copy()
    broken[200] = np.nan
    for points in (walk, ring, line, repeated, broken, walk[:1], walk[:2]):
        for tolerance in (0.0, 5e-4, 0.02):
            compiled, plain = both(kernels.simplify, points, tolerance)
            assert same_bits(compiled, plain)
    assert len(kernels.simplify(line, 1e-9)) == 2


def _mixture_events(rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Events of k Gaussian clusters over a uniform background (display units); starting means
    and covariances a little off the clusters'."""
    centres = rng.uniform(0.3, 0.7, (k, 2))
    sizes = rng.integers(500, 20_000, k)
    points = [rng.normal(c, rng.uniform(0.01, 0.06, 2), (n, 2)) for c, n in zip(centres, sizes, strict=True)]
    points.append(rng.uniform(0.0, 1.0, (2_000, 2)))
    x, y = np.concatenate(points).T
    means = centres + rng.normal(0, 0.02, (k, 2))
    covariances = np.array([np.diag(rng.uniform(0.01, 0.05, 2) ** 2) for _ in range(k)])
    return np.ascontiguousarray(x), np.ascontiguousarray(y), means, covariances


@pytest.mark.parametrize("k", [1, 2, 5])
@pytest.mark.parametrize("bounded", [False, True])
def test_em_fit_equal(k: int, bounded: bool) -> None:
    """The compiled EM loop against mixture's numpy loop: every parameter bit for bit, whether
    it converges early or runs all its steps, with and without bounds on the means."""
    from assaykit.gating import mixture

    rng = np.random.default_rng(10 * k + bounded)
    x, y, means, covariances = _mixture_events(rng, k)
    bounds = np.column_stack([means[:, 0] - 0.01, means[:, 0] + 0.01, means[:, 1] - 0.01, means[:, 1] + 0.01]) \
        if bounded else None
    for iterations, tolerance in [(50, 1e-4), (7, 0.0), (200, 1e-9)]:
        compiled, plain = both(mixture.fit_binned, x, y, (0.1, 0.9, 0.05, 0.95), means, covariances, bounds,
                               64, iterations, 0.02, tolerance)
        for field in ("means", "covariances", "weights"):
            assert same_bits(getattr(compiled, field), getattr(plain, field)), field
        assert compiled.background_weight == plain.background_weight


def test_em_fit_refuses_a_degenerate_start_either_way() -> None:
    """A covariance that is not positive definite: a GatingError, compiled or not (not a
    ValueError from a square root)."""
    from assaykit.errors import GatingError
    from assaykit.gating import mixture

    x, y, means, _ = _mixture_events(np.random.default_rng(1), 2)
    singular = np.array([[[1e-4, 2e-4], [2e-4, 1e-4]]] * 2)
    with pytest.raises(GatingError, match="not positive definite"):
        mixture.fit_binned(x, y, (0.0, 1.0, 0.0, 1.0), means, singular)
    module, kernels._kernels = kernels._kernels, None
    try:
        with pytest.raises(GatingError, match="not positive definite"):
            mixture.fit_binned(x, y, (0.0, 1.0, 0.0, 1.0), means, singular)
    finally:
        kernels._kernels = module
    with pytest.raises(GatingError, match="no events"):
        mixture.fit_binned(x, y, (2.0, 3.0, 2.0, 3.0), means, singular)


@pytest.mark.parametrize("specimen", ["whole_blood", "pbmc"])
def test_a_tube_gates_the_same_without_the_extension(numpy_only: None, monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path, specimen: str) -> None:
    """Every membership, finding and vertex of a tube, compiled and not."""
    path = tmp_path / "tube.fcs"
    write_tube(path, simulate_blood(specimen_scenario(specimen, n_events=60_000), np.random.default_rng(4)))
    sample = read_fcs(path)
    strategy = load_strategy()
    plain = apply_strategy(sample, strategy)
    monkeypatch.undo()
    assert kernels.compiled()
    compiled = apply_strategy(sample, strategy)
    assert compiled.findings == plain.findings
    assert compiled.gates["monocytes"].vertices == plain.gates["monocytes"].vertices
    for name, mask in plain.masks.items():
        assert same_bits(compiled.masks[name], mask), name


def test_the_compiled_module_refuses_wrong_arrays() -> None:
    """A wrong dtype, mismatched lengths, a short or read-only output: an error, never a write
    out of bounds."""
    from assaykit.gating import _kernels

    with pytest.raises(TypeError, match="float64"):
        _kernels.count_in_boxes(np.zeros(3, np.float32), np.zeros(3), np.zeros(1), np.zeros(1), 1.0, 1.0,
                                np.zeros(1, np.int64))
    with pytest.raises(ValueError, match="differ in length"):
        _kernels.count_in_boxes(np.zeros(3), np.zeros(4), np.zeros(1), np.zeros(1), 1.0, 1.0, np.zeros(1, np.int64))
    with pytest.raises(TypeError, match="expected 3 arrays"):
        _kernels.compress(np.zeros(3), np.zeros(3, bool))
    with pytest.raises(ValueError, match="6 long"):
        _kernels.extremes(np.zeros(3), np.zeros(3, bool), np.zeros(5))
    with pytest.raises(ValueError, match="rows"):
        _kernels.json_integers(np.zeros(5, np.int64), 2)
    with pytest.raises(ValueError, match="differ in length"):
        _kernels.simplify(np.zeros(3), np.zeros(3), 0.1, np.zeros(2, dtype=bool))
    with pytest.raises(ValueError, match="wrong size"):
        _kernels.em_fit(*[np.zeros(6)] * 12, np.zeros((6, 1)).T, np.matmul, np.exp, np.log, 5, 1e-4)
    with pytest.raises(ValueError, match="shorter"):
        _kernels.compress(np.arange(4.0), np.ones(4, dtype=bool), np.empty(2))
    with pytest.raises(ValueError, match="bins x bins"):
        _kernels.histogram2d(np.zeros(3), np.zeros(3), np.zeros(15, np.int64), 0.0, 1.0, 4.0, 0.0, 1.0, 4.0, 4)
    frozen = np.zeros(4, np.int64)
    frozen.setflags(write=False)
    with pytest.raises((ValueError, BufferError)):
        _kernels.histogram1d(np.zeros(3), frozen, 0.0, 1.0, 4.0, 4)
    assert frozen.sum() == 0
