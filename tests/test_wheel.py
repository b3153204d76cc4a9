"""What users install is the wheel: built from this checkout, installed into a fresh virtual
environment outside it, and run from an empty folder with the shipped strategy and bead lot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(project_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """(bin folder of a fresh venv holding the wheel, environment without the checkout on any path)."""
    base = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(base / "dist"), str(project_root)],
         base, env)
    wheel = next((base / "dist").glob("assaykit-*.whl"))
    _run([sys.executable, "-m", "venv", str(base / "venv")], base, env)
    bin_dir = base / "venv" / "bin"
    _run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(wheel)], base, env)
    return bin_dir, env


def test_wheel_ships_the_strategies_and_lots(installed: tuple[Path, dict[str, str]], project_root: Path,
                                             tmp_path: Path) -> None:
    bin_dir, env = installed
    where = _run([str(bin_dir / "python"), "-c", "import assaykit; print(assaykit.__file__)"], tmp_path, env)
    assert str(bin_dir.parent) in where.stdout and str(project_root) not in where.stdout
    kernels = _run([str(bin_dir / "python"), "-c", "from assaykit.gating import kernels; print(kernels.compiled())"],
                   tmp_path, env)
    assert kernels.stdout.strip() == "True"  # the wheel carries the compiled kernels
    shown = _run([str(bin_dir / "assaykit"), "strategy", "show"], tmp_path, env)
    assert shown.stdout == (project_root / "gating" / "monocyte-hladr.yaml").read_text()
    listed = _run([str(bin_dir / "assaykit"), "lots"], tmp_path, env).stdout
    assert "quantibrite-pe-example" in listed and "spherotech-rcp-30-5a-mepe-example" in listed


def test_installed_commands_work_from_an_empty_folder(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    bin_dir, env = installed
    assaykit = str(bin_dir / "assaykit")
    work = tmp_path / "empty"
    work.mkdir()
    _run([assaykit, "simulate", "run", "--patients", "2", "--conditions", "unstimulated,IFN-gamma",
          "--events", "20000", "--seed", "3"], work, env)
    scored = _run([assaykit, "score", "run", "--lot", "quantibrite-pe-example", "--jobs", "1", "--out", "out"],
                  work, env)
    assert "scored 5 of 5 files" in scored.stdout
    assert (work / "out" / "index.html").is_file() and (work / "out" / "samples.csv").is_file()
    assert f"ledger: recorded in {work.resolve() / 'assaykit-ledger.sqlite'}" in scored.stdout  # the migrations ship
    runs = _run([assaykit, "ledger", "runs", "--ledger", "assaykit-ledger.sqlite", "--json"], work, env)
    assert [r["run_name"] for r in json.loads(runs.stdout)] == ["run"]
    gated = _run([assaykit, "gate", "run/Specimen_001_A1_A01.fcs", "--beads", "run/Specimen_001_H12_H12.fcs",
                  "--lot", "quantibrite-pe-example"], work, env)
    assert "AB/C" in gated.stdout
    calibrated = _run([assaykit, "calibrate", "run/Specimen_001_H12_H12.fcs", "--lot", "quantibrite-pe-example"],
                      work, env)
    assert "r^2" in calibrated.stdout
