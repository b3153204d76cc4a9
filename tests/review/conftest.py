"""A scored simulated run to review: the run folder copied for each test (its run.yaml is
written by the review), scored with its own ledger; and the review tests' browser: Debian's
Chromium driven by Selenium through Debian's chromedriver (never a driver or browser that Selenium
Manager would download), headless, with a fresh profile."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def browser_missing() -> str:
    """Why the browser tests cannot run here ("" when they can)."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return f"{path} not found (Debian package `{package}`; .ci/run installs it)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (the test extra)"
    return ""


@pytest.fixture
def chrome(tmp_path: Path) -> Iterator[Any]:
    """A headless Chromium (1400 x 1000) driven by Selenium; skipped with the reason when Chromium,
    chromedriver or selenium is missing."""
    missing = browser_missing()
    if missing:
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tmp_path / "chromium-profile"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 "--window-size=1400,1000", "--force-device-scale-factor=1", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    service = Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
