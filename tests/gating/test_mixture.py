"""The binned EM mixture fit and the polygon simplification against known truth."""

from __future__ import annotations

import numpy as np

from assaykit.gating.autogates import simplify
from assaykit.gating.mixture import fit_binned


def test_binned_em_recovers_two_gaussians() -> None:
    rng = np.random.default_rng(0)
    a = rng.multivariate_normal([0.3, 0.5], [[0.004, 0.001], [0.001, 0.002]], 30000)
    b = rng.multivariate_normal([0.6, 0.7], [[0.002, 0.0], [0.0, 0.001]], 10000)
    noise = rng.uniform([0, 0.2], [1, 1], size=(800, 2))
    points = np.vstack([a, b, noise])
    mix = fit_binned(points[:, 0], points[:, 1], (0.0, 1.0, 0.2, 1.0),
                     np.array([[0.25, 0.45], [0.65, 0.75]]), np.array([np.eye(2) * 0.01] * 2),
                     bins=96, iterations=200, tolerance=1e-8)
    np.testing.assert_allclose(mix.means, [[0.3, 0.5], [0.6, 0.7]], atol=0.005)
    np.testing.assert_allclose(mix.covariances[0], [[0.004, 0.001], [0.001, 0.002]], rtol=0.1, atol=2e-4)
    np.testing.assert_allclose(mix.weights, [30000 / 40800, 10000 / 40800], atol=0.02)
    assert 0.005 < mix.background_weight < 0.04  # ~2 % uniform events in the window
    # the posterior splits the two clusters at their centres
    post = mix.posterior(np.array([[0.3, 0.5], [0.6, 0.7]]), [1])
    assert post[0] < 0.01 and post[1] > 0.99


def test_bounds_hold_a_component_in_place() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(0.5, 0.05, 5000), rng.normal(0.5, 0.05, 5000)
    bounds = np.array([[0.0, 0.3, 0.0, 1.0]])  # mean x kept at most 0.3
    mix = fit_binned(x, y, (0, 1, 0, 1), np.array([[0.2, 0.5]]), np.array([np.eye(2) * 0.01]), bounds)
    assert mix.means[0, 0] == 0.3


def test_simplify_keeps_corners_drops_collinear_points() -> None:
    edge = np.linspace(0, 1, 50)
    square = np.concatenate([np.column_stack([edge, np.zeros(50)]), np.column_stack([np.ones(50), edge])[1:],
                             np.column_stack([edge[::-1], np.ones(50)])[1:]])
    kept = simplify(square, 1e-6)
    np.testing.assert_array_equal(kept, [[0, 0], [1, 0], [1, 1], [0, 1]])
