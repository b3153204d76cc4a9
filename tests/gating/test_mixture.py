"""The binned EM mixture fit and the polygon simplification against known truth; the EM computed
from quadratic features (two matrix products per step) against the EM written out from each
component's deviations, and the mixture's densities against scipy's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from assaykit import read_fcs
from assaykit.gating import apply_strategy, autogates, load_strategy
from assaykit.gating.autogates import simplify
from assaykit.gating.mixture import fit_binned, histogram2d
from assaykit.simulate import Scenario, simulate_blood, specimen_scenario, write_tube


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


def reference_em(x, y, window, means, covs, bounds, bins=64, iterations=50, background=0.02, tolerance=1e-4):
    """The EM step by step from deviations (mean, then covariance about the new mean)."""
    x_low, x_high, y_low, y_high = window
    counts, xe, ye = histogram2d(x, y, bins, (x_low, x_high), (y_low, y_high))
    ix, iy = np.nonzero(counts)
    w = counts[ix, iy].astype(float)
    px, py = (xe[ix] + xe[ix + 1]) / 2, (ye[iy] + ye[iy + 1]) / 2
    k = len(means)
    mu, cov = np.array(means, float), np.array(covs, float)
    weights, bg, bg_density = np.full(k, (1 - background) / k), background, 1 / ((x_high - x_low) * (y_high - y_low))
    previous = -np.inf
    for _ in range(iterations):
        dens = np.empty((len(w), k))
        for j in range(k):
            inv = np.linalg.inv(cov[j])
            d = np.column_stack([px - mu[j, 0], py - mu[j, 1]])
            quad = np.einsum("ni,ij,nj->n", d, inv, d)
            dens[:, j] = weights[j] * np.exp(-0.5 * quad) / (2 * np.pi * np.sqrt(np.linalg.det(cov[j])))
        norm = dens.sum(axis=1) + bg * bg_density
        ll = float(np.sum(w * np.log(norm))) / w.sum()
        if ll - previous < tolerance:
            break
        previous = ll
        resp = dens * (w / norm)[:, None]
        n_k = resp.sum(axis=0)
        weights = n_k / w.sum()
        bg = bg * bg_density * float(np.sum(w / norm)) / w.sum()
        for j in range(k):
            mu[j] = [np.sum(resp[:, j] * px) / n_k[j], np.sum(resp[:, j] * py) / n_k[j]]
            if bounds is not None:
                mu[j] = np.clip(mu[j], bounds[j, [0, 2]], bounds[j, [1, 3]])
            dx, dy = px - mu[j, 0], py - mu[j, 1]
            cov[j] = [[max(np.sum(resp[:, j] * dx * dx) / n_k[j], 1e-6), np.sum(resp[:, j] * dx * dy) / n_k[j]],
                      [np.sum(resp[:, j] * dx * dy) / n_k[j], max(np.sum(resp[:, j] * dy * dy) / n_k[j], 1e-6)]]
    return mu, cov, weights, bg


@pytest.mark.parametrize("scenario", [Scenario(n_events=60000, monocyte_fraction=0.05),
                                      specimen_scenario("pbmc", n_events=60000, monocyte_fraction=0.2)],
                         ids=["whole-blood", "pbmc"])
def test_feature_em_equals_the_em_from_deviations(tmp_path: Path, scenario: Scenario,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def recording(*args, **kwargs):
        calls.append(args)
        return fit_binned(*args, **kwargs)

    monkeypatch.setattr(autogates, "fit_binned", recording)
    path = write_tube(tmp_path / "t.fcs", simulate_blood(scenario, np.random.default_rng(8)))
    apply_strategy(read_fcs(path), load_strategy())
    # whole blood: the gate's fit, then the purity check's (pinned: tested below); PBMC: the gate's
    assert len(calls) == (2 if scenario.specimen == "whole_blood" else 1)
    x, y, window, means, covs, bounds = calls[0]
    assert len(means) == (5 if scenario.specimen == "whole_blood" else 3)
    fitted = fit_binned(x, y, window, means, covs, bounds)
    mu, cov, weights, bg = reference_em(x, y, window, means, covs, bounds)
    np.testing.assert_allclose(fitted.means, mu, rtol=0, atol=1e-10)
    np.testing.assert_allclose(fitted.covariances, cov, rtol=1e-7, atol=1e-13)
    np.testing.assert_allclose(fitted.weights, weights, rtol=1e-8, atol=1e-13)
    assert fitted.background_weight == pytest.approx(bg, rel=1e-8, abs=1e-13)
    # the densities and posteriors the gate is drawn from are scipy's
    points = np.column_stack([x[:2000], y[:2000]])
    expected = np.column_stack([w * multivariate_normal(m, c).pdf(points)
                                for m, c, w in zip(fitted.means, fitted.covariances, fitted.weights, strict=True)])
    np.testing.assert_allclose(fitted.component_densities(points), expected, rtol=1e-9, atol=1e-300)
    total = expected.sum(axis=1) + fitted.background_weight * fitted.background_density
    np.testing.assert_allclose(fitted.posterior(points, [0, 1]), expected[:, :2].sum(axis=1) / total, rtol=1e-9)


def test_fixed_components_and_caps() -> None:
    # a fixed component keeps its start (mean, covariance, weight); the others are capped in SD
    # (correlation kept) and in correlation after every step
    rng = np.random.default_rng(3)
    a = rng.multivariate_normal([0.3, 0.5], [[0.004, 0.0], [0.0, 0.001]], 4000)
    b = rng.multivariate_normal([0.6, 0.5], [[0.01, 0.008], [0.008, 0.01]], 8000)
    x, y = np.concatenate([a[:, 0], b[:, 0]]), np.concatenate([a[:, 1], b[:, 1]])
    means, covs = np.array([[0.3, 0.5], [0.6, 0.5]]), np.array([np.diag([0.004, 0.001]), np.diag([0.01, 0.01])])
    fit = fit_binned(x, y, (-0.2, 1.1, 0.0, 1.0), means, covs, fixed=np.array([True, False]),
                     weights=np.array([0.2, 0.78]), max_sds=np.array([[np.inf, np.inf], [0.05, np.inf]]),
                     max_correlation=np.array([1.0, 0.3]))
    np.testing.assert_array_equal(fit.means[0], means[0])
    np.testing.assert_array_equal(fit.covariances[0], covs[0])
    assert fit.weights[0] == 0.2
    sd_x, sd_y = np.sqrt(np.diag(fit.covariances[1]))
    assert sd_x == pytest.approx(0.05) and sd_y > 0.08  # free: about 0.1
    assert fit.covariances[1][0, 1] / (sd_x * sd_y) == pytest.approx(0.3)  # 0.8 free
