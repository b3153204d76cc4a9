"""Studies (issue 17, points 3 and 4): several runs in one command share one pool of workers,
each run's tables are exactly what scoring it alone gives, a run that cannot be read is a row;
the Dask executor (a LocalCluster of 2 workers) gives tables identical to the local one, and a
tube whose worker dies twice becomes a row with its error."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assaykit.cli import app
from assaykit.scoring import score_run
from assaykit.scoring.study import score_study, study_runs

TABLES = ("samples.csv", "calibration.csv", "restoration.csv", "patients.csv", "cohort.csv", "qc.csv")


@pytest.fixture(autouse=True)
def _no_ledger_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSAYKIT_LEDGER", raising=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, simulated_run: Path) -> Path:
    """A folder of three runs: the simulated run twice (as two plates) and a broken one."""
    folder = tmp_path_factory.mktemp("study") / "runs"
    for name in ("plate-a", "plate-b"):
        shutil.copytree(simulated_run, folder / name)
    (folder / "broken").mkdir()
    (folder / "broken" / "plate_map.csv").write_text("well,patient\nA1,P01\n")
    (folder / "notes").mkdir()  # not a run: ignored
    return folder


def _tables(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in TABLES}


def test_a_study_scores_every_run_in_one_pool(runs: Path, tmp_path: Path) -> None:
    assert [p.name for p in study_runs([runs])] == ["broken", "plate-a", "plate-b"]
    result = CliRunner().invoke(app, ["score", str(runs), "--out", str(tmp_path / "study"), "--jobs", "2",
                                      "--no-report", "--no-ledger"])
    assert result.exit_code == 1, result.output  # the broken run
    assert "scored 2 of 3 runs; summary in" in result.output and "broken: " in result.output
    score_run(runs / "plate-a", out=tmp_path / "alone", jobs=1)
    for name in ("plate-a", "plate-b"):
        assert _tables(tmp_path / "study" / name) == _tables(tmp_path / "alone"), name
    with (tmp_path / "study" / "study.csv").open(newline="") as handle:
        rows = {r["run"]: r for r in csv.DictReader(handle)}
    assert rows["broken"]["error"].endswith(
        "missing column(s): timepoint, condition, role (columns: 'well', 'patient')")
    assert rows["plate-a"]["files"] == "5" and rows["plate-a"]["failed"] == "0" and rows["plate-a"]["patients"] == "2"
    assert rows["plate-b"]["out_dir"] == str(tmp_path / "study" / "plate-b")
    with pytest.raises(Exception, match="named twice in the study"):
        study_runs([runs / "plate-a", runs / "plate-a"])
    nothing = CliRunner().invoke(app, ["score", str(runs / "notes"), "--out", str(tmp_path / "x")])
    assert nothing.exit_code == 2 and "plate map" in nothing.output  # one folder, no runs in it: a run
    both = CliRunner().invoke(app, ["score", str(runs / "plate-a"), str(runs / "notes"), "--out", str(tmp_path / "y")])
    assert both.exit_code == 2 and "neither a run" in both.output
    xlsx = Path(shutil.copytree(runs / "plate-a", tmp_path / "xlsx-run"))
    (xlsx / "plate_map.csv").rename(xlsx / "map.csv")
    (xlsx / "run.yaml").unlink()  # a run folder known only by --plate-map: still one run
    alone = CliRunner().invoke(app, ["score", str(xlsx), "--plate-map", str(xlsx / "map.csv"), "--lot",
                                     str(runs / "plate-a" / "beads_lot.yaml"), "--out", str(tmp_path / "z"),
                                     "--no-report", "--no-ledger"])
    assert alone.exit_code == 0 and "measured 5 of 5 files" in alone.output, alone.output


def test_the_dask_executor_gives_identical_tables(runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    from assaykit.scoring.executors import DaskExecutor

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) \
            as cluster, distributed.Client(cluster) as client:
        study = score_study([runs / "plate-a", runs / "plate-b"], out=tmp_path / "dask",
                            executor=DaskExecutor(client=client))
        # the run named relative to a folder the workers are not in: absolute paths travel
        monkeypatch.chdir(runs)
        cli = CliRunner().invoke(app, ["score", "plate-a", "--out", str(tmp_path / "cli"), "--no-report",
                                       "--no-ledger", "--executor", "dask", "--scheduler", cluster.scheduler_address])
    assert study.exit_code == 0 and cli.exit_code == 0, cli.output
    local = score_run(runs / "plate-a", out=tmp_path / "local", jobs=2)
    assert local.exit_code == 0
    for folder in (tmp_path / "dask" / "plate-a", tmp_path / "dask" / "plate-b", tmp_path / "cli"):
        assert _tables(folder) == _tables(tmp_path / "local"), folder


def _dies(task: object) -> object:
    import os

    os._exit(1)  # the worker process dies mid-tube


def test_a_tube_whose_worker_dies_twice_is_a_row(runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    from assaykit.scoring import executors, pipeline
    from assaykit.scoring.executors import DaskExecutor

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) \
            as cluster, distributed.Client(cluster) as client:
        executor = DaskExecutor(client=client)
        tasks = pipeline.tube_tasks(pipeline.load_inputs(runs / "plate-a", tmp_path / "o"))
        monkeypatch.setattr(executors, "run_task", _dies)
        results = list(executor.map(tasks[:1]))
    assert len(results) == 1 and results[0].path == tasks[0].path
    assert results[0].error.startswith("not measured on the Dask cluster (") and executors is not None
