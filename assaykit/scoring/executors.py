"""Where the tubes are measured: local worker processes (the default) or a Dask cluster
(``--executor dask --scheduler ADDRESS``; the ``dask`` extra). An executor maps measuring tasks
(file paths and the strategy: no event arrays travel) to TubeResults, in task order.

On Dask a worker that dies while measuring a tube has the tube retried once on another worker;
a tube that fails again becomes a row with its error, and every other tube is still measured.
Every worker reads the FCS files by their absolute paths (a run named by a relative path is
resolved here first): the cluster shares the run's file system."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import AssayKitError


@dataclass(frozen=True)
class LocalExecutor:
    """``jobs`` worker processes on this machine (one: in this process)."""

    jobs: int = 1

    def map(self, tasks: Sequence[Any]) -> Iterator[Any]:
        """Each task's TubeResult, in task order.

        Parameters
        ----------
        tasks : sequence
            :data:`assaykit.scoring.pipeline.TubeTask` tuples.
        """
        from .._workers import map_in_workers
        from .pipeline import measure_task

        if self.jobs > 1 and len(tasks) > 1:
            preload()  # imported once here, before the workers fork: shared by them, not copied per worker
        yield from map_in_workers(measure_task, list(tasks), self.jobs)


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

    def map(self, tasks: Sequence[Any]) -> Iterator[Any]:
        """Each task's TubeResult, in task order; a tube whose worker died twice is a result
        with that error.

        Parameters
        ----------
        tasks : sequence
            :data:`assaykit.scoring.pipeline.TubeTask` tuples.
        """
        from .pipeline import TubeResult, measure_task

        client, own = self._client()
        # workers read the files by path, from their own working folder: absolute paths travel
        sent = [(Path(path).resolve(), strategy, figure, None if comp is None else Path(comp).resolve())
                for path, strategy, figure, comp in tasks]
        try:
            futures = client.map(measure_task, sent, retries=self.retries, pure=False)
            for task, future in zip(tasks, futures, strict=True):
                try:
                    yield replace(future.result(), path=task[0])  # named as the run names it
                except Exception as error:  # the worker died (twice) or the task could not run there
                    yield TubeResult(path=task[0], error=f"not measured on the Dask cluster "
                                                         f"({type(error).__name__}: {str(error)[:200]})")
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
