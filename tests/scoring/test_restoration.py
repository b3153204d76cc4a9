"""States, restoration measures and ImmunoSep classes at and around their thresholds."""

from __future__ import annotations

import pytest

from assaykit.scoring.restoration import ResponderRule, Thresholds, immunosep_class, restoration, state

T = Thresholds()


@pytest.mark.parametrize(("abc", "expected"), [
    (4999.9, "immunoparalysis"), (5000.0, "immunosuppressed"), (7999.0, "immunosuppressed"),
    (8000.0, "intermediate"), (14999.0, "intermediate"), (15000.0, "normal"), (None, ""), (float("nan"), "")])
def test_state_boundaries(abc, expected) -> None:
    assert state(abc, T) == expected


def test_thresholds_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="thresholds"):
        Thresholds(normal_abc=4000)


def test_restoration_measures() -> None:
    r = restoration(4000.0, 10000.0, T, ResponderRule())
    assert (r.fold_change, r.delta_abc) == (2.5, 6000.0)
    assert r.log2_fold_change == pytest.approx(1.3219281)
    assert r.gap_closed == pytest.approx(6000 / 11000)
    assert (r.state_control, r.state_drug, r.responder) == ("immunoparalysis", "intermediate", True)
    # fold change reached but the state did not improve
    same = restoration(9000.0, 14000.0, T, ResponderRule())
    assert same.fold_change >= 1.5 and not same.responder
    assert restoration(9000.0, 14000.0, T, ResponderRule(require_state_improvement=False)).responder
    # a control already normal: no gap to close
    assert restoration(16000.0, 20000.0, T, ResponderRule()).gap_closed is None


@pytest.mark.parametrize(("ferritin", "abc", "expected"), [
    (5000.0, 3000.0, "hyperinflammation"),  # both findings: hyper-inflammation wins
    (5000.0, 20000.0, "hyperinflammation"),
    (4420.0, 4999.0, "immunoparalysis"),  # ferritin at the cut-off is not above it
    (4420.0, 5000.0, "intermediate"),
    (None, 3000.0, ""),
    (1000.0, None, ""),
])
def test_immunosep(ferritin, abc, expected) -> None:
    klass, rule = immunosep_class(ferritin, abc, T)
    assert klass == expected and rule
