"""Sending a study's jobs out in their order, and stopping cleanly before a wall-clock limit.

Jobs come in trial-major order (:func:`evoprune.study.jobs.make_jobs`): a study stopped at any
point holds balanced blocks.  :func:`dispatch` starts them in that order, at most ``workers`` at a
time, and with a :class:`Deadline` starts none that its estimate says would not finish in time;
jobs already running always finish.
"""

from __future__ import annotations

import queue
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .checks import StudyError
from .studyfile import RunSpec

__all__ = ["Deadline", "dispatch", "parse_duration"]

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")


def parse_duration(text: str | float | int) -> float:
    """Seconds of a positive duration such as ``2h30m``, ``45m``, ``90s``, ``1h`` or plain seconds (``5400``)."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        s = str(text).strip().lower()
        try:
            seconds = float(s)
        except ValueError:
            m = _DURATION.fullmatch(s)
            if not s or m is None or not any(m.groups()):
                raise StudyError(f"time limit {text!r} does not parse: write e.g. 2h30m, 45m, 90s, 1h or "
                                 "seconds (5400)") from None
            seconds = sum(float(v) * _UNITS[u] for v, u in zip(m.groups(), "hms", strict=True) if v)
    if not seconds > 0 or seconds == float("inf"):
        raise StudyError(f"time limit {text!r} must be a finite duration above zero")
    return seconds


def _job_key(job: Sequence[RunSpec]) -> tuple:
    cfg = job[0].config
    return cfg.setting, cfg.generations, len(job)


@dataclass
class Deadline:
    """A wall-clock limit, and a job's estimated duration: the longest finished job of its kind (else setting)."""

    seconds: float
    clock: Callable[[], float] | None = None
    end: float = field(init=False)
    done: dict[tuple, float] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.clock = self.clock or time.monotonic
        self.end = self.clock() + self.seconds

    def estimate(self, job: Sequence[RunSpec]) -> float:
        """Seconds the job is expected to take (0 when nothing comparable has finished)."""
        key = _job_key(job)
        for match in (lambda k: k == key, lambda k: k[0] == key[0], lambda k: True):
            found = [v for k, v in self.done.items() if match(k)]
            if found:
                return max(found)
        return 0.0

    def allows(self, job: Sequence[RunSpec]) -> bool:
        """Whether the job, started now, is expected to finish before the limit."""
        now = self.clock()
        return now < self.end and now + self.estimate(job) <= self.end

    def record(self, job: Sequence[RunSpec], seconds: float) -> None:
        """A job of this kind took ``seconds``."""
        key = _job_key(job)
        self.done[key] = max(self.done.get(key, 0.0), seconds)


def dispatch(task: Callable[[list[RunSpec]], Any], jobs: Sequence[list[RunSpec]], map_: Any | None,
             on_done: Callable[[Any], Any], deadline: Deadline | None = None) -> bool:
    """Run ``jobs`` in order through ``map_`` (``None``: here) as the ``deadline`` allows; False if it stopped them."""
    clock = deadline.clock if deadline is not None else time.monotonic
    allowed = (lambda job: True) if deadline is None else deadline.allows

    def timed(job: list[RunSpec], start: float) -> None:
        if deadline is not None:
            deadline.record(job, clock() - start)

    pending = list(jobs)
    if map_ is None or not hasattr(map_, "submit"):
        width = 1 if map_ is None else max(1, int(getattr(map_, "workers", 1)))
        while pending:
            if not allowed(pending[0]):
                return False
            batch, pending = pending[:width], pending[width:]
            start = clock()
            results = [task(j) for j in batch] if map_ is None else map_(task, batch)
            for job, result in zip(batch, results, strict=True):
                timed(job, start)
                on_done(result)
        return True
    finished: queue.Queue = queue.Queue()
    width, in_flight, stopped = max(1, int(getattr(map_, "workers", 1))), 0, False
    try:
        while pending or in_flight:
            while pending and in_flight < width and not stopped:
                if not allowed(pending[0]):
                    stopped = True
                    break
                job, start = pending.pop(0), clock()
                future = map_.submit(task, job)
                future.add_done_callback(lambda f, job=job, start=start: finished.put((f, job, start)))
                in_flight += 1
            if not in_flight:
                break
            future, job, start = finished.get()
            in_flight -= 1
            timed(job, start)
            on_done(future.result())
    finally:
        while in_flight:  # an error: let what runs finish (its results are on disk), then raise
            finished.get()
            in_flight -= 1
    return not stopped and not pending
