"""The fast paths of the per-tube work give FlowUtils' and numpy's own results: the tabulated
logicle within 1e-9 display units of FlowUtils' logicle (and exactly FlowUtils' outside the
table), the bin-index histogram numpy's histogram2d counts, the non-finite check numpy's."""

from __future__ import annotations

import numpy as np
import pytest
from flowutils import transforms

from assaykit.gating.apply import nonfinite
from assaykit.gating.mixture import histogram1d, histogram2d
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
