"""One way to run tasks in worker processes: ``fork`` where the platform has it (workers inherit
the parent's imports), ``spawn`` elsewhere; in this process when one worker is asked for."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any


def map_in_workers(function: Callable[[Any], Any], tasks: list[Any], jobs: int,
                   initializer: Callable[..., None] | None = None, initargs: tuple = ()) -> Iterator[Any]:
    """``function(task)`` for each task, results in task order, in ``jobs`` worker processes
    (each set up once with ``initializer(*initargs)``); in this process when ``jobs`` <= 1 or
    there is at most one task."""
    if jobs <= 1 or len(tasks) <= 1:
        if initializer is not None:
            initializer(*initargs)
        yield from map(function, tasks)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context(method),
                             initializer=initializer, initargs=initargs) as pool:
        results: Iterable[Any] = pool.map(function, tasks, chunksize=1)
        yield from results
