"""A scored simulated run to review: the run folder copied for each test (its run.yaml is
written by the review), scored with its own ledger."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def review_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 patients x 3 conditions x 20,000 events (seed 7), never written."""
    from assaykit.simulate import RunSpec, write_run

    return write_run(tmp_path_factory.mktemp("review-src") / "run",
                     RunSpec(patients=2, conditions=("unstimulated", "IFN-gamma", "GM-CSF"), events=20000, seed=7))


@pytest.fixture
def scored_run(review_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(run folder, output folder): a fresh copy of the run, scored as `assaykit score` does
    (tables and pages, the ledger in tmp_path)."""
    from assaykit.report import build_reports
    from assaykit.scoring import score_run

    monkeypatch.setenv("ASSAYKIT_LEDGER", str(tmp_path / "ledger.sqlite"))
    monkeypatch.setenv("ASSAYKIT_REVIEW_LOCKS", str(tmp_path))
    run = tmp_path / "run"
    shutil.copytree(review_source, run)
    out = tmp_path / "out"
    score_run(run, out=out, jobs=1, use_default_ledger=True)
    build_reports(out, jobs=1)
    return run, out


def bigger(gate: dict, factor: float = 1.3) -> list[list[float]]:
    """The gate's polygon stretched on its second axis (SSC) about its lowest vertex."""
    low = min(v[1] for v in gate["vertices"])
    return [[x, low + (y - low) * factor] for x, y in gate["vertices"]]
