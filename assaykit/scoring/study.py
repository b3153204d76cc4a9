"""A study: several runs scored by one command (``assaykit score RUN_DIR...`` or a folder of runs),
every tube of every run measured by one worker pool (or one Dask cluster), each run written to its
own output folder as soon as its last tube is measured (memory stays flat in the number of runs),
and a study summary, ``study.csv``, beside the runs' folders (docs/scoring.md, "Studies")."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AssayKitError

SUMMARY = "study.csv"
SUMMARY_COLUMNS = ["run", "run_dir", "out_dir", "files", "failed", "withheld", "patients", "qc_status", "ledger",
                   "error"]


def is_run(folder: Path) -> bool:
    """A run folder: it holds a plate map (``plate_map.csv``) or a ``run.yaml``.

    Parameters
    ----------
    folder : Path
        A folder.
    """
    from .._io.atomic import RUN_FILES

    return folder.is_dir() and any((folder / name).is_file() for name in RUN_FILES)


def is_study(paths: Sequence[Path]) -> bool:
    """Whether ``paths`` name a study: several folders, or one folder that is not a run but holds
    runs (one run folder, whatever its plate map is called, is scored alone).

    Parameters
    ----------
    paths : sequence of Path
        What the command line names.
    """
    if len(paths) != 1:
        return True
    folder = paths[0]
    return not is_run(folder) and folder.is_dir() and any(is_run(p) for p in folder.iterdir())


def study_runs(paths: Sequence[Path]) -> list[Path]:
    """The runs named by ``paths``: each a run folder, or a folder of run folders (its
    sub-folders that are runs, by name). AssayKitError for a path that is neither.

    Parameters
    ----------
    paths : sequence of Path
        What the command line names.
    """
    runs: list[Path] = []
    for path in paths:
        if is_run(path):
            runs.append(path)
            continue
        if not path.is_dir():
            raise AssayKitError("run folder not found", path)
        inner = sorted((p for p in path.iterdir() if is_run(p)), key=lambda p: p.name)
        if not inner:
            raise AssayKitError("neither a run (no plate_map.csv or run.yaml) nor a folder of runs", path)
        runs.extend(inner)
    seen: dict[Path, Path] = {}
    for run in runs:
        key = run.resolve()
        if key in seen:
            raise AssayKitError("named twice in the study", run)
        seen[key] = run
    return runs


@dataclass(frozen=True)
class StudyResult:
    """A scored study: one summary row per run (:data:`SUMMARY_COLUMNS`), the study folder, and
    the runs' output folders that were written."""

    out_dir: Path
    rows: tuple[dict[str, Any], ...]
    written: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def exit_code(self) -> int:
        """0 when every run scored cleanly; 1 otherwise (a run's error, failed files, withheld
        values, QC rejection or a ledger failure)."""
        return 0 if all(not r["error"] and not r["failed"] and not r["withheld"] and r["qc_status"] != "rejected"
                        and not r["ledger_error"] for r in self.rows) else 1


@dataclass
class _Run:
    folder: Path
    name: str
    inputs: Any = None
    beads: Any = None
    tasks: list[Any] = field(default_factory=list)
    outcomes: dict[Path, Any] = field(default_factory=dict)
    timer: Any = None
    row: dict[str, Any] = field(default_factory=dict)
    out_dir: Path | None = None


def score_study(run_dirs: Sequence[str | os.PathLike[str]], *, out: str | os.PathLike[str] | None = None,
                executor: Any = None, progress: Callable[[int, int, str], None] | None = None,
                reports: Callable[[Path], Any] | None = None, use_default_ledger: bool = False,
                **overrides: Any) -> StudyResult:
    """Score every run of a study with one pool of workers.

    Parameters
    ----------
    run_dirs : sequence of path
        Run folders, or folders of runs (:func:`study_runs`).
    out : path or None
        The study folder (default ``reports``): each run is written to ``out/<run name>``, the
        summary to ``out/study.csv``.
    executor : executor or None
        Where the tubes are measured (:mod:`.executors`; default: ``jobs`` local processes, one
        pool for every tube of the study; ``jobs`` from the overrides, else the number of cores).
    progress : callable or None
        ``progress(done, total, name)`` after every tube of the study.
    reports : callable or None
        ``reports(out_dir)`` draws a run's pages once every tube is measured (the CLI:
        :func:`assaykit.report.build_reports`).
    use_default_ledger : bool
        Record in the default ledger when none is named (as :func:`.pipeline.score_run`).
    **overrides
        RunOptions fields over each run's run.yaml (as :func:`.pipeline.score_run`).
    """
    from .._io.atomic import write_atomic
    from .._io.names import safe_stems
    from .executors import LocalExecutor
    from .pipeline import PhaseTimer, calibrate_run, check_out_dir, finish_run, load_inputs, other_run, tube_tasks

    folders = study_runs([Path(p) for p in run_dirs])
    root = Path(out) if out is not None else Path("reports")
    check_summary(root)
    stems = safe_stems([f.resolve().name for f in folders], "run")
    names = _unique([stems[f.resolve().name] for f in folders], folders,
                    lambda name, folder: other_run(root / name, folder) is None)
    runs = [_Run(folder=f, name=n) for f, n in zip(folders, names, strict=True)]
    for run in runs:
        run.timer = PhaseTimer()
        try:
            for other in folders:  # no run's outputs in or over any run's inputs
                check_out_dir(other, root / run.name)
            run.inputs = load_inputs(run.folder, root / run.name, use_default_ledger=use_default_ledger, **overrides)
        except AssayKitError as error:
            run.row = _row(run, error=str(error))
            continue
        run.beads = calibrate_run(run.inputs)
        run.tasks = tube_tasks(run.inputs)
        run.timer.mark("setup")
    if all(run.row for run in runs):
        raise AssayKitError(f"no run of the study can be scored: {runs[0].row['error']}")
    runner = executor if executor is not None else LocalExecutor(overrides.get("jobs") or os.cpu_count() or 1)
    queue = [r for r in runs if not r.row]
    every = [(i, task) for i, run in enumerate(queue) for task in run.tasks]
    written: list[Path] = []

    def finish(run: _Run) -> None:
        run.timer.mark("tubes")
        result = finish_run(run.inputs, run.beads, run.outcomes, run.timer, use_default_ledger=use_default_ledger)
        run.outcomes = {}  # measured and written: memory stays flat in the number of runs
        assert result.out_dir is not None  # finish_run writes (write=True): the run's folder
        run.row, run.out_dir = _row(run, result=result), result.out_dir
        written.append(result.out_dir)

    position = 0
    for done, outcome in enumerate(runner.map([task for _, task in every]), start=1):
        run = queue[every[done - 1][0]]
        run.outcomes[outcome.path] = outcome
        if progress is not None:
            progress(done, len(every), f"{run.name}/{outcome.path.name}" + (f": {outcome.error}" if outcome.error
                                                                             else ""))
        while position < len(queue) and len(queue[position].outcomes) == len(queue[position].tasks):
            finish(queue[position])
            position += 1
    while position < len(queue):  # runs without blood tubes
        finish(queue[position])
        position += 1
    if reports is not None:
        for run in queue:
            assert run.out_dir is not None  # every queued run is finished above
            try:
                reports(run.out_dir)
            except AssayKitError as error:
                run.row["error"] = f"pages not drawn: {error}"
    rows = tuple(run.row for run in runs)
    root.mkdir(parents=True, exist_ok=True)
    write_atomic(root / SUMMARY, _summary_csv(rows))
    return StudyResult(out_dir=root, rows=rows, written=tuple(written))


def _unique(names: list[str], folders: Sequence[Path] = (),
            free: Callable[[str, Path], bool] = lambda name, folder: True) -> list[str]:
    """``names`` made unique (case-insensitively) by construction: the first of each name keeps
    it, a later one gets ``-2``, ``-3`` ... the first suffix that is no other name of the list
    and none given before (runs ``a/run``, ``b/run`` and ``c/run-2`` become run, run-3, run-2);
    and a name whose existing folder holds another run's outputs (``free(name, folder)`` False
    for the run ``folder``: an earlier study's) is never given to this one: the next suffix is."""
    taken = {name.lower() for name in names}
    given: set[str] = set()
    out = []
    for i, name in enumerate(names):
        folder = folders[i] if i < len(folders) else Path()
        chosen, k = name, 1
        while chosen.lower() in given or (k > 1 and chosen.lower() in taken) or not free(chosen, folder):
            k += 1
            chosen = f"{name}-{k}"
        given.add(chosen.lower())
        out.append(chosen)
    return out


def check_summary(root: Path) -> None:
    """AssayKitError, before any work, when the study folder ``root`` cannot take the summary:
    it is a file, or its ``study.csv`` is not one assaykit wrote (a user's file of that name:
    never written over; assaykit's begins with its header).

    Parameters
    ----------
    root : Path
        The study folder.
    """
    summary = root / SUMMARY
    if os.path.lexists(root) and not root.is_dir():
        raise AssayKitError("the study's output folder is a file; name a folder", root)
    if not os.path.lexists(summary):
        return
    header = ",".join(SUMMARY_COLUMNS).encode()
    try:
        if summary.is_symlink() or not summary.is_file():
            raise AssayKitError("not a regular file: the study summary cannot be written here", summary)
        with summary.open("rb") as handle:
            first = handle.read(len(header) + 1)
        ours = first[:len(header)] == header and first[len(header):] in (b"", b"\n", b"\r")  # the header line whole
    except OSError as exc:
        raise AssayKitError(f"cannot read the study summary ({exc.strerror or exc})", summary) from None
    if not ours:
        raise AssayKitError("not a study summary assaykit wrote (a file of yours?): move it away or name another "
                            "--out", summary)


def _row(run: _Run, result: Any = None, error: str = "") -> dict[str, Any]:
    row: dict[str, Any] = {"run": run.name, "run_dir": str(run.folder), "out_dir": "", "files": None,
                           "failed": None, "withheld": None, "patients": None, "qc_status": "", "ledger": "",
                           "ledger_error": "", "error": error}
    if result is not None:
        samples = result.samples
        row.update(out_dir=str(result.out_dir), files=len(samples), failed=result.n_failed, replaced=result.replaced,
                   withheld=result.n_withheld,
                   patients=int(samples[samples["role"] == "sample"]["patient"].nunique()),
                   qc_status=result.qc_status, ledger_error=result.ledger_error or "",
                   ledger=(f"error: {result.ledger_error}" if result.ledger_error else
                           "recorded" if result.recorded is not None else "not used"))
    return row


def _summary_csv(rows: Sequence[dict[str, Any]]) -> bytes:
    import pandas as pd

    from .tables import csv_bytes

    return csv_bytes(pd.DataFrame(list(rows), columns=SUMMARY_COLUMNS))
