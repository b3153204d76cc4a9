"""Shared fixtures. Paths are resolved from this file, never from the working directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "fcs-corpus"
REFERENCE = Path(__file__).resolve().parent / "data" / "corpus_reference.json"


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"FCS corpus not found at {CORPUS} (../shared beside the project)")
    return CORPUS


@pytest.fixture(scope="session")
def corpus_reference() -> dict:
    return json.loads(REFERENCE.read_text())


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def simulated_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated run (2 patients x 2 conditions + beads), made once per session."""
    from assaykit.simulate import RunSpec, write_run

    folder = tmp_path_factory.mktemp("run")
    return write_run(folder, RunSpec(patients=2, conditions=("unstimulated", "IFN-gamma"), events=30000, seed=11))
