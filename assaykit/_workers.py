"""One way to run tasks in worker processes: ``fork`` where the platform has it (workers inherit
the parent's imports), ``spawn`` elsewhere; in this process when one worker is asked for.

Workers never outlive the process that started them, however it ends: they ignore Ctrl-C (the
parent handles it and stops them), and each asks the kernel to kill it when its parent dies
(Linux ``PR_SET_PDEATHSIG``), with a watchdog thread that exits when the parent is gone where
that is not available (a SIGKILL of the parent leaves no orphan working on)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

_WATCH_SECONDS = 0.5
_ALLOCATOR_TUNED = False
_BLAS_LIMIT: Any = None  # the worker's threadpool limit, held for its life


def keep_freed_memory() -> None:
    """Ask glibc's allocator (Linux) to keep freed memory for the next task instead of returning
    it to the kernel: arrays up to 32 MB come from the heap (``M_MMAP_THRESHOLD``) and the heap
    is trimmed only when over 128 MB of it is free (``M_TRIM_THRESHOLD``). A 100,000-event tube
    allocates and frees tens of MB of arrays; mapping fresh pages for them again for every tube
    cost about 6 ms of 50 (docs/benchmarks.md). Once per process; elsewhere nothing."""
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED or not sys.platform.startswith("linux"):
        return
    _ALLOCATOR_TUNED = True
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc, or no mallopt
        return
    mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD (fixed, no longer adapting)
    mallopt(-1, 128 << 20)  # M_TRIM_THRESHOLD


def _orphan_guard(parent: int) -> None:
    """In a worker: die with the parent ``parent`` (pid), ignore SIGINT."""
    import signal
    import sys
    import threading
    import time

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a forked worker inherits the CLI's handler
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the guard was set
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_WATCH_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def one_blas_thread() -> None:
    """Limit this process's BLAS (OpenBLAS, MKL ...) and OpenMP pools to one thread
    (threadpoolctl): the run's parallelism is one worker process per core, and BLAS threads of
    their own in each worker oversubscribe the cores (a plate 0.72-0.77x FlowKit's time instead of
    0.41-0.60x, docs/benchmarks.md). Kept for the life of the worker."""
    global _BLAS_LIMIT
    if _BLAS_LIMIT is None:
        from threadpoolctl import threadpool_limits

        _BLAS_LIMIT = threadpool_limits(limits=1)


def warm_in_background(work: Callable[[], None]) -> Any:
    """Run ``work`` (the imports a later step needs) in a daemon thread of this process while its
    workers are busy, so that they do not run alone after them (SciPy's statistics and the pages'
    drawing backends: about 1.3 s of a plate's 6.6 s, docs/benchmarks.md). Returns the thread: join
    it before forking workers again. An exception in ``work`` is dropped: the later step imports
    for itself and meets it there."""
    import threading

    def run() -> None:
        with contextlib.suppress(Exception):
            work()

    thread = threading.Thread(target=run, name="assaykit-warm", daemon=True)
    thread.start()
    return thread


def _start(parent: int, initializer: Callable[..., None] | None, initargs: tuple) -> None:
    import signal

    _orphan_guard(parent)
    one_blas_thread()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked by the parent while forking
    if initializer is not None:
        initializer(*initargs)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform tells it, else the
    machine's count; at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def crash_log(error: BaseException) -> str:
    """Write ``error``'s traceback (with a worker's own, which travels as its cause) to a new file
    under the temporary folder; its path ("" when it could not be written)."""
    import tempfile
    import traceback

    from .ledger.faults import masked  # a ledger URL's password never reaches a log

    try:
        with tempfile.NamedTemporaryFile("w", prefix="assaykit-crash-", suffix=".log", delete=False,
                                         encoding="utf-8", errors="backslashreplace") as handle:
            handle.write(masked("".join(traceback.format_exception(error))))
        return handle.name
    except OSError:
        return ""


def map_in_workers(function: Callable[[Any], Any], tasks: list[Any], jobs: int,
                   initializer: Callable[..., None] | None = None, initargs: tuple = (),
                   failed: Callable[[Any, Exception], Any] | None = None) -> Iterator[Any]:
    """``function(task)`` for each task, results in task order, in ``jobs`` worker processes
    (each set up once with ``initializer(*initargs)``); in this process when ``jobs`` <= 1 or
    there is at most one task. Never more workers than tasks or than the cores this process may
    use (``jobs`` may be any number a user typed: 100000 or 10**20 is not a pool size).

    With ``failed``, a task whose call raised (or whose worker process died) gives
    ``failed(task, error)`` as its result and the others go on; without it the error is raised.
    Either way the pool is shut down before the error or the last result leaves: every worker
    stopped, none waited for at the interpreter's exit. If the caller stops early or is
    interrupted, the workers are stopped (killed) before the exception goes on."""
    jobs = min(jobs, len(tasks), usable_cores())
    if jobs <= 1:  # one worker asked for, or at most one task
        if initializer is not None:
            initializer(*initargs)
        for task in tasks:
            try:
                result = function(task)
            except Exception as error:
                if failed is None:
                    raise
                result = failed(task, error)
            yield result
        return
    import multiprocessing
    import signal
    from concurrent.futures import ProcessPoolExecutor

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context(method),
                               initializer=_start, initargs=(os.getpid(), initializer, initargs))
    _ACTIVE.add(pool)
    finished = False
    try:
        # workers are forked here: with Ctrl-C blocked, so that none is interrupted before it ignores it
        blocked = hasattr(signal, "pthread_sigmask")
        if blocked:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            futures = [pool.submit(function, task) for task in tasks]
        finally:
            if blocked:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        for task, future in zip(tasks, futures, strict=True):
            try:
                result = future.result()
            except Exception as error:  # raised in the worker (its traceback is the cause), or the worker died
                if failed is None:
                    raise
                result = failed(task, error)
            yield result
        finished = True
    finally:
        _ACTIVE.discard(pool)
        if finished:
            pool.shutdown(wait=True)
        else:  # an error, interrupted or abandoned: stop the workers now, never leave them running
            _stop(pool)


_ACTIVE: set[Any] = set()
"""The pools of map_in_workers calls under way in this process."""


def _stop(pool: Any) -> None:
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:  # SIGKILL: a worker holds nothing to clean up, prints nothing
        process.kill()
    for process in processes:
        process.join(timeout=5)
    manager = getattr(pool, "_executor_manager_thread", None)
    if manager is not None:  # the pool's own thread sees its workers gone and ends: wait for it
        manager.join(timeout=5)  # here, bounded, rather than unbounded at the interpreter's exit


def stop_workers() -> None:
    """Stop every worker of this process now (on Ctrl-C or SIGTERM, before exiting: an
    interrupted map whose generator is still referenced would otherwise make the interpreter
    wait at exit for its remaining tasks)."""
    for pool in list(_ACTIVE):
        _ACTIVE.discard(pool)
        _stop(pool)


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM held back during the block and delivered when it ends, at a safe point.

    Python swallows a KeyboardInterrupt raised inside a garbage-collection callback (it prints
    "Exception ignored" and goes on): a database library's connection objects die in such
    callbacks, so an interruption landing there would be lost. The block collects its garbage
    before the signals are let through. In the main thread only (elsewhere, a plain block)."""
    import gc
    import signal
    import threading

    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
        gc.collect()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
