"""`assaykit report` on tampered output folders (issue 14, point 9): edited so that the manifest's
checksums still agree (the edit the sha256 check cannot catch), every damage is refused in one
line naming the file and the value (exit 2); whatever passes the checks is drawn (exit 0). Never
a traceback, never exit 3."""

from __future__ import annotations

import contextlib
import csv
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assaykit.cli import main
from assaykit.errors import AssayKitError
from assaykit.scoring import score_run
from assaykit.scoring.tables import read_manifest, seal


@pytest.fixture(scope="module")
def scored(simulated_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 2-patient run scored, reports included, with one worker."""
    from assaykit.report import build_reports

    out = score_run(simulated_run, out=tmp_path_factory.mktemp("tampered") / "out", jobs=1).out_dir
    build_reports(out, jobs=1)
    return out


def _edit_table(name: str, column: str, value: str | None) -> Callable[[Path], None]:
    """Set ``column`` of every row of ``name``.csv to ``value`` (None: drop the column)."""
    def edit(folder: Path) -> None:
        path = folder / f"{name}.csv"
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        fields = [f for f in rows[0] if value is not None or f != column]
        for row in rows:
            if value is not None:
                row[column] = value
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fields, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    return edit


def _edit_json(name: str, keys: tuple[str | int, ...], value: Any) -> Callable[[Path], None]:
    """Set the value at ``keys`` of the JSON document ``name`` (no keys: the whole document);
    ints index lists, and "*" stands for the first key of an object."""
    def edit(folder: Path) -> None:
        path = folder / name
        doc = json.loads(path.read_text())
        if not keys:
            doc = value
        else:
            node = doc
            for key in keys[:-1]:
                node = node[next(iter(node)) if key == "*" else key]
            node[next(iter(node)) if keys[-1] == "*" else keys[-1]] = value
        path.write_text(json.dumps(doc))
    return edit


def _report(folder: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """Exit code and stderr of ``assaykit report FOLDER --jobs 1`` run in this process."""
    monkeypatch.setattr(sys, "argv", ["assaykit", "report", str(folder), "--jobs", "1"])
    with pytest.raises(SystemExit) as ended:
        main()
    return ended.value.code, capsys.readouterr().err


def _tampered(scored: Path, where: Path, edit: Callable[[Path], None]) -> Path:
    """A copy of ``scored`` edited by ``edit``, its manifest re-sealed to agree with the edit."""
    folder = where / "out"
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(scored, folder)
    edit(folder)
    with contextlib.suppress(AssayKitError):  # an edit that makes the manifest unreadable: nothing to re-seal
        seal(folder, read_manifest(folder))
    return folder


CASES = {  # the nine tracebacks, and their neighbours
    "infinite count": (_edit_table("samples", "events", "inf"), "samples.csv", "column events: 'inf'"),
    "NaN slope": (_edit_table("calibration", "slope", "nan"), "calibration.csv", "column slope: 'nan'"),
    "slope 1e308": (_edit_table("calibration", "slope", "1e308"), "calibration.csv", "column slope: '1e308'"),
    "text for a number": (_edit_table("samples", "monocytes", "many"), "samples.csv", "column monocytes: 'many'"),
    "missing column": (_edit_table("samples", "hladr_abc", None), "samples.csv", "column hladr_abc missing"),
    "null figure data": (_edit_json("figure_data.json", (), None), "figure_data.json", "expected a mapping, got null"),
    "tubes of the wrong type": (_edit_json("figure_data.json", ("tubes",), []), "figure_data.json",
                                "tubes: expected a mapping, got a list"),
    "histogram of the wrong length": (_edit_json("figure_data.json", ("tubes", "*", "hladr", "counts"), [1, 2]),
                                      "figure_data.json", "hladr.counts: expected an array of shape 260"),
    "panel count as text": (_edit_json("figure_data.json", ("tubes", "*", "panels", 0, "count"), "x"),
                            "figure_data.json", "panels[0].count: expected a finite number"),
    "bead density of another length": (_edit_json("figure_data.json", ("beads", "density"), [1.0]),
                                       "figure_data.json", "beads.density: expected an array of shape"),
    "null manifest": (_edit_json("manifest.json", (), None), "manifest.json", "not a JSON object"),
    "huge threshold": (_edit_json("manifest.json", ("thresholds", "normal_abc"), 1e308), "manifest.json",
                       "thresholds"),
    "thresholds missing": (_edit_json("manifest.json", ("thresholds",), None), "manifest.json",
                           "thresholds: expected a mapping, got null"),
    "options as a list": (_edit_json("manifest.json", ("options",), []), "manifest.json",
                          "options: expected a mapping, got a list"),
    "quoted boolean in the rule": (_edit_json("manifest.json", ("responder_rule", "require_state_improvement"),
                                              "false"), "manifest.json", "require_state_improvement"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_damage_is_refused_in_one_line(scored: Path, tmp_path: Path, case: str, capsys: pytest.CaptureFixture,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    edit, file_name, problem = CASES[case]
    folder = _tampered(scored, tmp_path, edit)
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    code, err = _report(folder, capsys, monkeypatch)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert file_name in err and problem in err, err
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before  # nothing written


def _numeric_leaves(doc: Any, path: tuple = ()) -> list[tuple]:
    """Paths of every number in a JSON document (list indices as ints)."""
    if isinstance(doc, dict):
        return [p for k, v in doc.items() for p in _numeric_leaves(v, (*path, k))]
    if isinstance(doc, list):
        return [p for i, v in enumerate(doc) for p in _numeric_leaves(v, (*path, i))]
    return [path] if isinstance(doc, int | float) and not isinstance(doc, bool) else []


EDGES = [0, -0.0, 1, -1, 0.5, 1e-300, 5e-324, 1e15, -1e15, 1e12, 2**53]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=st.data())
def test_whatever_passes_the_checks_is_drawn(scored: Path, tmp_path_factory: pytest.TempPathFactory,
                                             data: st.DataObject) -> None:
    """Edge values (zero, negative, tiny, huge) put into the figure data, the manifest and the
    number cells of the tables: either refused in one line (exit 2) or drawn (exit 0)."""
    import subprocess

    target = data.draw(st.sampled_from(["figure_data.json", "manifest.json", "samples.csv", "calibration.csv",
                                        "restoration.csv", "patients.csv"]))
    value = data.draw(st.sampled_from(EDGES))
    if target.endswith(".json"):
        doc = json.loads((scored / target).read_text())
        leaves = [p for p in _numeric_leaves(doc) if p[0] != "files"]
        path = data.draw(st.sampled_from(leaves))

        def edit(folder: Path) -> None:
            edited = json.loads((folder / target).read_text())
            node = edited
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
            (folder / target).write_text(json.dumps(edited))
    else:
        from assaykit.report.load import _NUMBERS

        with (scored / target).open(newline="") as handle:
            header = next(csv.reader(handle))
        column = data.draw(st.sampled_from([c for c in header if c in _NUMBERS]))
        edit = _edit_table(target[:-4], column, repr(float(value)))
    folder = _tampered(scored, tmp_path_factory.mktemp("edge"), edit)
    done = subprocess.run([sys.executable, "-m", "assaykit.cli", "report", str(folder), "--jobs", "1"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 2), done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    if done.returncode == 2:
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.parametrize(("column", "value"), [("slope", "1e+15"), ("slope", "-1.0"), ("intercept", "900.0")])
def test_an_impossible_calibration_is_refused(scored: Path, tmp_path: Path, column: str, value: str) -> None:
    """A slope or intercept the scorer never writes (an AB/C would overflow): one line, exit 2
    (hypothesis found slope 1e15 crashing the histogram figure)."""
    import subprocess

    folder = _tampered(scored, tmp_path, _edit_table("calibration", column, value))
    done = subprocess.run([sys.executable, "-m", "assaykit.cli", "report", str(folder), "--jobs", "1"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "is not a bead calibration assaykit writes" in done.stderr + done.stdout
    assert (done.stderr + done.stdout).strip().count("\n") == 0
