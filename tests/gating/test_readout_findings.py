"""The third marker's QC finding says what it did (issue 29 review): a CD16 tube with nothing at the
neutrophils' level at or below the monocytes' side scatter says why nothing was excluded, instead of
"0 granulocytic events excluded"; a CD15 tube that excludes events counts them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from assaykit import read_fcs
from assaykit.gating import apply_strategy, load_strategy
from assaykit.gating.readout import measure, qc_findings
from assaykit.simulate import Scenario, septic_scenario, simulate_blood, write_tube


def _findings(tmp_path: Path, scenario: Scenario, seed: int) -> tuple[dict, list[str]]:
    tube = simulate_blood(scenario, np.random.default_rng(seed))
    result = apply_strategy(read_fcs(write_tube(tmp_path / f"t{seed}.fcs", tube, style="canto")), load_strategy())
    strategy = load_strategy()
    found = [f for f in qc_findings(result, strategy, measure(result, strategy)) if f.code == "granulocytes_excluded"]
    return result.findings["granulocytes"], [f.message for f in found]


def test_cd16_with_nothing_to_exclude_says_why(tmp_path: Path) -> None:
    found, messages = _findings(tmp_path, dataclasses.replace(Scenario(n_events=20000), third_marker="CD16"), 8)
    assert found["granulocytes"] and found["excluded"] == 0 and found["ssc_limited"]
    assert messages == ["no event excluded on CD16: it excludes only events at the neutrophils' level at or below "
                        "the monocytes' side scatter (CD16 is also on non-classical monocytes), and none lay there"]


def test_cd15_counts_what_it_excluded(tmp_path: Path) -> None:
    found, messages = _findings(tmp_path, dataclasses.replace(septic_scenario(monocyte_fraction=0.05),
                                                              third_marker="CD15"), 40)
    assert found["excluded"] > 0
    assert len(messages) == 1 and messages[0].startswith(f"{found['excluded']} granulocytic events excluded on CD15")
