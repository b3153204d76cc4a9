"""Where the tubes are measured: local worker processes (the default) or a Dask cluster
(``--executor dask --scheduler ADDRESS``; the ``dask`` extra). An executor maps measuring tasks
(file paths and the strategy: no event arrays travel) to their results, in task order. It knows
a task only through the :class:`Task` protocol (:class:`assaykit.scoring.tube.TubeTask` is one):
nothing here imports what measures a tube, nor the run that calls the executor.

On Dask a worker that dies while measuring a tube has the tube retried once on another worker;
a tube that fails again becomes a row with its error, and every other tube is still measured.
Locally, a tube whose measuring raised an unexpected exception (a bug) or whose worker died is a
row saying so (:func:`not_measured`), and the pool still ends: no worker's fault ends the run.
Every worker reads the FCS files by their absolute paths (a run named by a relative path is
resolved here first): the cluster shares the run's file system."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ..errors import AssayKitError

R = TypeVar("R", covariant=True)


class Task(Protocol[R]):
    """What an executor measures: a picklable task that a worker runs (``run``), that can be
    made ``portable`` for a worker in another working folder (absolute paths; its result named as
    the original task names it), and that gives the result standing for it when it could not be
    run at all (``failed``)."""

    def run(self) -> R:
        """Measure, in the worker's process; the result."""
        ...

    def portable(self) -> Task[R]:
        """The same task with absolute paths, its result named as this task's."""
        ...

    def failed(self, reason: str) -> R:
        """The result of a task that could not be run (``reason``: why)."""
        ...


def run_task(task: Task[Any]) -> Any:
    """Run one task (what every worker process calls).

    Parameters
    ----------
    task : Task
        The task to run.
    """
    return task.run()


@dataclass(frozen=True)
class LocalExecutor:
    """``jobs`` worker processes on this machine (one: in this process)."""

    jobs: int = 1

    def map(self, tasks: Sequence[Task[Any]]) -> Iterator[Any]:
        """Each task's result, in task order.

        Parameters
        ----------
        tasks : sequence of Task
            The tasks (:class:`assaykit.scoring.tube.TubeTask`).
        """
        from .._workers import map_in_workers

        if self.jobs > 1 and len(tasks) > 1:
            preload()  # imported once here, before the workers fork: shared by them, not copied per worker
        yield from map_in_workers(run_task, list(tasks), self.jobs, failed=not_measured)


def not_measured(task: Task[Any], error: Exception) -> Any:
    """The result standing for ``task`` when measuring it raised ``error`` (a fault of assaykit's,
    not of the inputs, which measuring turns into the tube's row itself) or its worker process
    died: the tube's row says so and where the traceback was logged, and the other tubes go on.

    Parameters
    ----------
    task : Task
        The task that was not measured.
    error : Exception
        What ended it (in the worker: its traceback travels as the cause).
    """
    from concurrent.futures.process import BrokenProcessPool

    from .._workers import crash_log

    log = crash_log(error)
    where = f"; the traceback is in {log}" if log else ""
    if isinstance(error, BrokenProcessPool):
        return task.failed(f"not measured: a worker process ended abruptly (killed, or out of memory){where}")
    return task.failed(f"not measured: internal error ({type(error).__name__}), a bug in assaykit, "
                       f"not in this file{where}")


def preload() -> None:
    """Import what measuring a tube needs beyond scoring itself (SciPy's image filters, the
    contour generator, FlowUtils, the gate exports)."""
    import contourpy  # noqa: F401
    import flowutils.gating
    import flowutils.transforms  # noqa: F401
    import scipy.ndimage  # noqa: F401

    from ..interop import export, wsp_export  # noqa: F401
    from . import figure_data  # noqa: F401


@dataclass(frozen=True)
class DaskExecutor:
    """A Dask distributed cluster at ``scheduler`` (``tcp://host:8786``), or an existing
    ``client``; each tube retried ``retries`` times when its worker dies."""

    scheduler: str | None = None
    client: Any = None
    retries: int = 1

    def map(self, tasks: Sequence[Task[Any]]) -> Iterator[Any]:
        """Each task's result, in task order; a task whose worker died twice is its ``failed``
        result.

        Parameters
        ----------
        tasks : sequence of Task
            The tasks (:class:`assaykit.scoring.tube.TubeTask`).
        """
        client, own = self._client()
        # workers read the files by path, from their own working folder: absolute paths travel
        sent = [task.portable() for task in tasks]
        try:
            futures = client.map(run_task, sent, retries=self.retries, pure=False)
            for task, future in zip(tasks, futures, strict=True):
                try:
                    yield future.result()
                except Exception as error:  # the worker died (twice) or the task could not run there
                    yield task.failed(f"not measured on the Dask cluster ({type(error).__name__}: "
                                      f"{str(error)[:200]})")
                finally:
                    future.release()
        finally:
            if own:
                client.close()

    def _client(self) -> tuple[Any, bool]:
        if self.client is not None:
            return self.client, False
        try:
            from distributed import Client
        except ImportError:
            raise AssayKitError("--executor dask needs Dask: pip install 'assaykit[dask]'") from None
        if not self.scheduler:
            raise AssayKitError("--executor dask needs --scheduler ADDRESS (tcp://host:8786)")
        try:
            return Client(self.scheduler, timeout=30), True
        except (OSError, TimeoutError) as error:
            raise AssayKitError(f"cannot reach the Dask scheduler at {self.scheduler} ({error})") from None


def make_executor(kind: str, jobs: int | None, scheduler: str | None) -> LocalExecutor | DaskExecutor | None:
    """The executor ``--executor`` names: ``local`` (None: each run's own ``jobs``) or ``dask``.

    Parameters
    ----------
    kind : str
        ``local`` or ``dask``.
    jobs : int or None
        Local worker processes (None: the run's setting).
    scheduler : str or None
        The Dask scheduler's address.
    """
    if kind == "local":
        return None if jobs is None else LocalExecutor(jobs)
    if kind == "dask":
        return DaskExecutor(scheduler=scheduler)
    raise AssayKitError(f"unknown executor {kind!r} (local or dask)")
