"""Working with claims: run a run under its claim, wait for runs other runners hold, show who holds what."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from .claims import DONE, claim_state, try_claim

#: Seconds between two looks at runs that other runners hold (see :func:`finish_claimed`).
POLL_S = 2.0

T = TypeVar("T")


def run_claimed(run_dir: str | os.PathLike, work: Callable[[], T], done: str = DONE, **claim_kw) -> T | None:
    """``work()`` holding the claim of ``run_dir`` (a finished run: unclaimed); None if another live runner holds it."""
    run_dir = Path(run_dir)
    if (run_dir / done).exists():
        return work()
    claim = try_claim(run_dir, done=done, **claim_kw)
    if claim is None:
        return work() if (run_dir / done).exists() else None
    with claim:
        return work()


def finish_claimed(items: Iterable[T], dir_of: Callable[[T], Path], run: Callable[[list[T]], Any],
                   progress: Callable[[int], Any] | None = None, poll_s: float | None = None,
                   done: str = DONE) -> bool:
    """Wait until every item's run is ``done``, passing to ``run`` those no live runner holds; ``False`` if ``run``
    or ``progress`` said stop first."""
    items = list(items)
    poll_s = POLL_S if poll_s is None else poll_s
    while True:
        left = [s for s in items if not (dir_of(s) / done).exists()]
        if progress is not None and progress(len(items) - len(left)) is False:
            return False
        if not left:
            return True
        free = [s for s in left if (st := claim_state(dir_of(s))) is None or st[0] == "stale"]
        if free:
            if run(free) is False:
                return False
            if any((dir_of(s) / done).exists() for s in free):
                continue
        time.sleep(poll_s)


def describe_claims(runs_dir: str | os.PathLike, run_ids: Iterable[str], now: float | None = None) -> list[str]:
    """One line per claimed run among ``run_ids`` (folders of ``runs_dir``): who holds it, or that it is stale."""
    now = time.time() if now is None else now
    lines = []
    for run_id in run_ids:
        st = claim_state(Path(runs_dir) / run_id, now=now)
        if st is None:
            continue
        state, info = st
        who = f" on {info['host']} pid {info['pid']}" if "host" in info and "pid" in info else ""
        beat = f"heartbeat {info['age']:.0f} s ago"
        if state == "held":
            lines.append(f"running: {run_id}{who} ({beat})")
        else:
            lines.append(f"stale claim: {run_id}{who} ({beat}: {info['reason']}; the next runner takes it over)")
    return lines
