"""What the data allow: a Gaussian classifier built from the simulator's true labels (one Gaussian
per population in the gate's CD14 x SSC display coordinates, weighted by its share), the
reference the monocyte gate is held to where populations overlap
(tests/gating/test_specimens.py, benchmarks/monocyte_hard_cases.py)."""

from __future__ import annotations

import numpy as np

from assaykit.fcs import Spillover
from assaykit.simulate import LABELS, MONOCYTE_LABELS, STYLES, Instrument, third_spillover

CODES = {name: code for code, name in LABELS.items()}
"""The simulator's population name -> its label code."""
LSR_MATRIX = Spillover(Instrument().spillover(), ("PerCP-Cy5-5-A", "PE-Cy7-A"), "compensation.csv")
"""The simulated LSR's spillover (its tubes carry none): what the hard cases are compensated with."""


def lsr_matrix(third_marker: str = "") -> Spillover:
    """The simulated LSR's spillover with a ``third_marker``'s dye (:data:`LSR_MATRIX` without one):
    the compensation.csv ``write_run`` writes for such a run."""
    if not third_marker:
        return LSR_MATRIX
    channel = STYLES["lsr"].third_channel(third_marker)[0]
    return Spillover(third_spillover(third_marker), ("PerCP-Cy5-5-A", "PE-Cy7-A", channel), "compensation.csv")


def classify(points: np.ndarray, labels: np.ndarray, keep: np.ndarray, posterior: float = 0.9
             ) -> tuple[np.ndarray, np.ndarray]:
    """The classifier fitted on the events of ``keep`` (``points``: n x 2, ``labels``: the true
    labels; classes with more than 10 events there): the events of ``keep`` it calls monocytes at
    its most accurate (each to its most probable class), and those whose monocyte posterior
    exceeds ``posterior`` (purity before recall)."""
    classes = [c for c in np.unique(labels[keep]) if np.count_nonzero(keep & (labels == c)) > 10]
    logs = []
    for c in classes:
        sample = points[keep & (labels == c)]
        mean, cov = sample.mean(axis=0), np.cov(sample.T)
        d = points - mean
        logs.append(-0.5 * np.einsum("ij,jk,ik->i", d, np.linalg.inv(cov), d) - 0.5 * np.log(np.linalg.det(cov))
                    + np.log(np.mean(labels[keep] == c)))
    scores = np.column_stack(logs)
    scores -= scores.max(axis=1, keepdims=True)
    probability = np.exp(scores)
    probability /= probability.sum(axis=1, keepdims=True)
    monocyte = probability[:, np.isin(classes, MONOCYTE_LABELS)].sum(axis=1)
    best = np.isin(np.asarray(classes)[scores.argmax(axis=1)], MONOCYTE_LABELS) & keep
    return best, (monocyte > posterior) & keep


def f1_error(gated: np.ndarray, truth: np.ndarray, readout: np.ndarray) -> tuple[float, float]:
    """F1 of the mask ``gated`` against the mask ``truth``, and the relative error of the median of
    ``readout`` (per event) over ``gated`` against that over ``truth`` (NaN when ``gated`` is
    empty)."""
    f1 = 2 * np.count_nonzero(gated & truth) / (np.count_nonzero(gated) + np.count_nonzero(truth))
    error = float(np.median(readout[gated]) / np.median(readout[truth]) - 1) if gated.any() else float("nan")
    return float(f1), error
