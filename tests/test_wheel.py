"""What users install: the sdist and the wheel, built from this checkout by `python -m build` (the
wheel from the sdist) with no C compiler, the wheel pure Python (``py3-none-any``), the sdist
installed by pip with no compiler into a fresh virtual environment outside the checkout, then the
wheel installed over it and run from an empty folder with the shipped strategy and bead lot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

NO_COMPILER = {"CC": "/bin/false", "CXX": "/bin/false"}  # any attempt to compile fails


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def built(project_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """(the sdist, the wheel, an environment without the checkout on any path and without a C
    compiler), both built by `python -m build` from this checkout."""
    base = tmp_path_factory.mktemp("build")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(NO_COMPILER)
    _run([sys.executable, "-m", "venv", str(base / "tools")], base, env)
    tools = base / "tools" / "bin" / "python"
    _run([str(tools), "-m", "pip", "install", "--quiet", "build"], base, env)
    _run([str(tools), "-m", "build", "--outdir", str(base / "dist"), str(project_root)], base, env)
    sdist, = (base / "dist").glob("assaykit-*.tar.gz")
    wheel, = (base / "dist").glob("assaykit-*.whl")
    return sdist, wheel, env


@pytest.fixture(scope="module")
def installed(built: tuple[Path, Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[Path, dict[str, str]]:
    """(bin folder of a fresh venv where the sdist was installed with no compiler, then the
    wheel over it; the environment)."""
    sdist, wheel, env = built
    base = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "venv", str(base / "venv")], base, env)
    bin_dir = base / "venv" / "bin"
    _run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(sdist)], base, env)  # CC=/bin/false
    _run([str(bin_dir / "python"), "-c", "import assaykit.gating, assaykit.scoring"], base, env)
    _run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", str(wheel)],
         base, env)
    return bin_dir, env


def test_the_wheel_is_pure_python(built: tuple[Path, Path, dict[str, str]]) -> None:
    sdist, wheel, _ = built
    assert wheel.name.endswith("-py3-none-any.whl"), wheel.name
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(n for n in names if n.endswith(".dist-info/WHEEL"))
        text = archive.read(metadata).decode()
    assert "Root-Is-Purelib: true" in text and "Tag: py3-none-any" in text
    assert not [n for n in names if n.endswith((".so", ".pyd", ".c", ".dylib"))]
    assert "assaykit/_defaults/monocyte-hladr.yaml" in names and "assaykit/gating/autogates.py" in names
    assert "assaykit/validation/criteria.yaml" in names  # the acceptance criteria's shipped defaults
    # the review app works offline: its templates, script and stylesheet are in the wheel (no CDN)
    assert {"assaykit/review/static/review.js", "assaykit/review/static/review.css",
            "assaykit/review/templates/plate.html", "assaykit/review/templates/tube.html"} <= set(names)
    assert sdist.name == wheel.name.split("-py3")[0] + ".tar.gz"


def test_wheel_ships_the_strategies_and_lots(installed: tuple[Path, dict[str, str]], project_root: Path,
                                             tmp_path: Path) -> None:
    bin_dir, env = installed
    where = _run([str(bin_dir / "python"), "-c", "import assaykit; print(assaykit.__file__)"], tmp_path, env)
    assert str(bin_dir.parent) in where.stdout and str(project_root) not in where.stdout
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
    assert "measured 5 of 5 files" in scored.stdout
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
