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


FERRITIN = {"P01": 900.0, "P02": 6000.0, "P03": 4420.0, "P04": 300.0, "P05": 12000.0, "P06": 2500.0,
            "P07": 4000.0, "P08": 5000.0}


@pytest.fixture(scope="session")
def run_8x4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 patients x 4 conditions x 60,000 events (seed 5) with a clinical.csv of ferritin values."""
    import csv

    from assaykit.simulate import RunSpec, write_run

    folder = write_run(tmp_path_factory.mktemp("run8x4") / "run", RunSpec(patients=8, events=60000, seed=5))
    with open(folder / "clinical.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["patient", "ferritin_ng_ml"])
        writer.writerows(FERRITIN.items())
    return folder


@pytest.fixture(scope="session")
def scored(run_8x4: Path, tmp_path_factory: pytest.TempPathFactory):
    """run_8x4 scored with 2 workers, reports included."""
    return score_and_report(run_8x4, out=tmp_path_factory.mktemp("out") / "run", jobs=2,
                            clinical=run_8x4 / "clinical.csv")


def score_and_report(run: Path, **options):
    """What ``assaykit score`` does: the tables (``score_run``), then the pages (``build_reports``)."""
    from assaykit.report import build_reports
    from assaykit.scoring import score_run

    result = score_run(run, **options)
    build_reports(result.out_dir, jobs=options.get("jobs"))
    return result
