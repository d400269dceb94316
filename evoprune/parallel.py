"""DEAP-compatible ``map`` functions for process pools and dask clusters.

Register one on a toolbox (``toolbox.register("map", m)``); each variation stack is then cut into one chunk per
worker (``m.workers``).  Results come back in order, so a seeded run gives the same result on any map.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

__all__ = ["ProcessMap", "dask_map"]


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


class ProcessMap:
    """A map over a ``spawn`` process pool; use as a context manager (or call :meth:`close`).

    Parameters
    ----------
    workers
        Number of worker processes (and of chunks per variation stack).
    threads_per_worker
        Torch threads in each worker.
    context
        Multiprocessing start method.
    """

    def __init__(self, workers: int = 2, threads_per_worker: int = 1, context: str = "spawn") -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers  # the engine cuts each variation stack into this many chunks
        self._pool = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context(context), initializer=_init_worker,
            initargs=(threads_per_worker,),
        )

    def __call__(self, func: Callable, *iterables: Iterable) -> list:
        return list(self._pool.map(func, *iterables))

    def imap(self, func: Callable, *iterables: Iterable) -> Iterator:
        """Like the map, but yields each result (in order) as soon as it is ready.

        Parameters
        ----------
        func
            Function to apply (picklable).
        iterables
            Argument sequences, as for the builtin ``map``.
        """
        return self._pool.map(func, *iterables)

    def submit(self, func: Callable, *args) -> Future:
        """Start ``func(*args)`` in a worker; a :class:`concurrent.futures.Future` of its result.

        Parameters
        ----------
        func
            Function to call (picklable).
        args
            Its arguments.
        """
        return self._pool.submit(func, *args)

    def close(self) -> None:
        """Shut the pool down (waits for running tasks)."""
        self._pool.shutdown()

    def __enter__(self) -> ProcessMap:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self):
        raise TypeError("a ProcessMap cannot be pickled; register it on the toolbox only in the parent process")


def dask_map(client) -> Callable:
    """A DEAP-compatible map on a ``dask.distributed.Client`` (``pure=False``); its ``workers``: the cluster's threads.

    Parameters
    ----------
    client
        A connected ``dask.distributed.Client``.
    """

    def map_(func: Callable, *iterables: Iterable) -> list:
        futures = client.map(func, *[list(it) for it in iterables], pure=False)
        return client.gather(futures)

    def imap(func: Callable, *iterables: Iterable) -> Iterator:
        for future in client.map(func, *[list(it) for it in iterables], pure=False):
            yield future.result()

    def submit(func: Callable, *args):
        return client.submit(func, *args, pure=False)

    map_.client = client
    map_.workers = max(1, sum(client.nthreads().values()))  # chunks per variation stack
    map_.imap = imap
    map_.submit = submit  # one task, a dask Future (add_done_callback, result)
    return map_
