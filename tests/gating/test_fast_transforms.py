"""The fast paths of the per-tube work give FlowUtils' and numpy's own results: the tabulated
logicle within 1e-9 display units of FlowUtils' logicle (and exactly FlowUtils' outside the
table), the bin-index histogram numpy's histogram2d counts, the non-finite check numpy's; the
exports' extremes, the polygon simplification and the mixture's refusals against direct
computation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from flowutils import transforms

from assaykit.errors import GatingError
from assaykit.gating.apply import nonfinite
from assaykit.gating.autogates import simplify
from assaykit.gating.kernels import extremes
from assaykit.gating.mixture import fit_binned, histogram1d, histogram2d
from assaykit.gating.transforms import Transform


@pytest.mark.parametrize(("t", "m", "w", "a"), [(262144.0, 4.5, 0.5, 0.0), (1048576.0, 5.0, 1.0, 0.0),
                                                (10000.0, 4.0, 0.25, 0.5), (262144.0, 4.5, 0.0, 0.0)])
def test_tabulated_logicle_matches_flowutils(t: float, m: float, w: float, a: float) -> None:
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.lognormal(6, 2.5, 200_000), rng.normal(0, t / 500, 50_000),
                        [0.0, -t, 4 * t, -2 * t, 9 * t], np.linspace(-t, 4 * t, 10_001)])
    ours = Transform("logicle", t=t, m=m, w=w, a=a).forward(x)
    theirs = transforms.logicle(x.reshape(-1, 1), [0], t=t, m=m, w=w, a=a).ravel()
    assert np.max(np.abs(ours - theirs)) <= 1e-9
    outside = (x < -t) | (x > 4 * t)
    assert outside.any() and np.array_equal(ours[outside], theirs[outside])


def test_histogram_and_nonfinite_match_numpy() -> None:
    rng = np.random.default_rng(4)
    x, y = rng.normal(0.5, 0.3, 100_000), rng.normal(0.5, 0.3, 100_000)
    x[:10] = [0.0, 1.0, 0.25, 0.5, -0.1, 1.1, 0.999999999, 0.5, np.nextafter(1.0, 2.0), 0.125]
    ours = histogram2d(x, y, 64, (0.0, 1.0), (0.0, 1.0))[0]
    assert np.array_equal(ours, np.histogram2d(x, y, bins=64, range=((0.0, 1.0), (0.0, 1.0)))[0])
    for bins, value_range in [(64, (0.0, 1.0)), (256, (-0.2, 1.3)), (7, (0.1, 0.9))]:
        counts, edges = histogram1d(x, bins, value_range)
        expected, expected_edges = np.histogram(x, bins=bins, range=value_range)
        assert np.array_equal(counts, expected) and np.array_equal(edges, expected_edges)
    events = rng.normal(0, 1, (5000, 6)).astype(np.float32)
    events[[3, 10, 99], [0, 5, 2]] = [np.nan, np.inf, -np.inf]
    huge = np.full((3, 6), 1.7e308)  # finite values whose sum overflows
    huge32 = np.full((3, 6), 3e38, dtype=np.float32)  # the same in single precision (summed as stored)
    assert not nonfinite(huge32).any() and not nonfinite(huge32, axis=0).any()
    assert np.array_equal(nonfinite(events), ~np.isfinite(events).all(axis=1))
    assert np.array_equal(nonfinite(events, axis=0), ~np.isfinite(events).all(axis=0))
    assert not nonfinite(huge).any() and not nonfinite(huge, axis=0).any()
    assert not nonfinite(np.ones((4, 2), dtype=np.int32)).any()


def test_histograms_leave_out_nan_infinities_and_the_outside() -> None:
    rng = np.random.default_rng(5)
    x, y = rng.uniform(-0.2, 1.2, 50_000), rng.uniform(-0.2, 1.2, 50_000)
    x[:4], y[4:8] = [np.nan, np.inf, -np.inf, 1.0], [np.nan, np.inf, -np.inf, 0.0]
    counts = histogram2d(x, y, 64, (0.0, 1.0), (0.0, 1.0))[0]
    with np.errstate(invalid="ignore"):
        inside = (x >= 0) & (x <= 1) & (y >= 0) & (y <= 1)
    assert counts.sum() == np.count_nonzero(inside)
    assert histogram1d(x, 64, (0.0, 1.0))[0].sum() == np.count_nonzero((x >= 0) & (x <= 1))


def test_extremes_against_direct_minima_and_maxima() -> None:
    """Each side's smallest and largest finite value and their counts (NaN and infinities
    skipped, a side without values +inf/-inf)."""
    rng = np.random.default_rng(6)
    values = rng.uniform(-1, 1, 30_001)
    values[[3, 50, 700]] = [np.nan, np.inf, -np.inf]
    mask = rng.random(values.size) < 0.9
    finite = np.isfinite(values)
    held, left = values[mask & finite], values[~mask & finite]
    assert extremes(values, mask) == (held.min(), held.max(), left.min(), left.max(), held.size, left.size)
    assert extremes(values, np.ones(values.size, bool))[2:] == (np.inf, -np.inf, np.count_nonzero(finite), 0)
    assert extremes(np.zeros(0), np.zeros(0, bool)) == (np.inf, -np.inf, np.inf, -np.inf, 0, 0)


def _distance_to_line(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of each point to the line through a and b, by projection onto it."""
    ab = b - a
    t = ((points - a) @ ab) / float(ab @ ab)
    return np.hypot(*(points - (a + t[:, None] * ab)).T)


@pytest.mark.parametrize("tolerance", [5e-4, 0.02])
def test_simplify_keeps_every_vertex_within_the_tolerance(tolerance: float) -> None:
    """Ramer-Douglas-Peucker on a random walk: the ends kept, the vertices kept in order, every
    dropped vertex within ``tolerance`` of the line through the kept vertices around it."""
    walk = np.cumsum(np.random.default_rng(8).normal(0, 0.01, (400, 2)), axis=0)
    kept = simplify(walk, tolerance)
    index = [int(np.flatnonzero((walk == v).all(axis=1))[0]) for v in kept]
    assert index[0] == 0 and index[-1] == len(walk) - 1 and index == sorted(index) and len(kept) < len(walk)
    for first, last in itertools.pairwise(index):
        chord_distance = _distance_to_line(walk[first + 1:last], walk[first], walk[last])
        assert (chord_distance <= tolerance + 1e-12).all()
    line = np.column_stack([np.linspace(0, 1, 50), np.linspace(0, 1, 50)])
    assert len(simplify(line, 1e-9)) == 2


def test_mixture_refuses_a_degenerate_start_and_an_empty_window() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(0.5, 0.05, 5000), rng.normal(0.5, 0.05, 5000)
    means = np.array([[0.5, 0.5], [0.4, 0.4]])
    singular = np.array([[[1e-4, 2e-4], [2e-4, 1e-4]]] * 2)
    with pytest.raises(GatingError, match="not positive definite"):
        fit_binned(x, y, (0.0, 1.0, 0.0, 1.0), means, singular)
    with pytest.raises(GatingError, match="no events"):
        fit_binned(x, y, (2.0, 3.0, 2.0, 3.0), means, singular)
