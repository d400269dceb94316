"""Claims: runners that share an output folder split a study and never run the same run twice.

Before a runner starts a run it claims the run's folder by creating ``claim.json`` in it, so that
of two racing runners (processes, threads, hosts sharing a network folder) exactly one wins::

    {"host": "node7", "pid": 4242, "token": "9f0c...", "started": 1718000000.0,
     "heartbeat": 1718000030.0, "heartbeat_s": 30.0, "stale_s": 150.0}

Times are Unix seconds.  A daemon thread rewrites the file every ``heartbeat_s`` seconds; the owner removes it
when done (also on errors).  Every write is atomic, so a reader sees a whole claim or none.

A claim is *stale*, and another runner may take the run over (resuming it from its checkpoints), when its
heartbeat is older than its ``stale_s``, when its owner ran on this host and its pid is gone, or when the file
cannot be read.  A takeover is exclusive too (through ``claim.takeover-<id>``, ``<id>`` naming the stale file's
content).  Every claim won is appended to the run folder's ``claims.log``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

from ..util.io import create_exclusive, replace_atomic
from .store import layout

__all__ = ["Claim", "try_claim", "claim_state", "read_claim"]

#: Seconds between two heartbeats of a held claim.
HEARTBEAT_S = 30.0
#: A claim whose heartbeat is older than this many heartbeats is stale.
STALE_HEARTBEATS = 5
#: An unreadable claim file younger than this is taken as being written (held), not as stale.
UNREADABLE_GRACE_S = 5.0

CLAIM = layout.CLAIM_FILE
HISTORY = layout.CLAIMS_LOG
#: The file whose presence marks a run finished (a finished run is never claimed).
DONE = layout.RESULT_FILE


def _now() -> float:
    return time.time()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):  # another user's process; or a bad pid: assume alive
        return True
    return True


def _read_raw(run_dir: Path) -> tuple[bytes, float] | None:
    """The claim file's bytes and modification time; None if there is none."""
    path = Path(run_dir) / CLAIM
    try:
        with open(path, "rb") as f:
            return f.read(), os.fstat(f.fileno()).st_mtime
    except FileNotFoundError:
        return None


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        info = json.loads(raw.decode("utf-8"))
    except ValueError:  # also UnicodeDecodeError
        return None
    if not isinstance(info, dict) or not isinstance(info.get("token"), str):
        return None
    return info


def _identity(raw: bytes) -> str:
    """Names one version of a claim file: each heartbeat and each owner gives another."""
    return hashlib.sha256(raw).hexdigest()[:20]


def read_claim(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The claim of ``run_dir`` as a dict; None if there is none or it cannot be read."""
    got = _read_raw(Path(run_dir))
    return None if got is None else _parse(got[0])


def _judge(raw: bytes, mtime: float, stale_s: float | None, now: float) -> tuple[str, dict[str, Any]]:
    info = _parse(raw)
    if info is None:
        age = now - mtime
        state = "held" if age < UNREADABLE_GRACE_S else "stale"
        return state, {"reason": "unreadable claim file", "age": age}
    info = dict(info)
    limit = stale_s if stale_s is not None else info.get("stale_s", HEARTBEAT_S * STALE_HEARTBEATS)
    try:
        beat = float(info.get("heartbeat", info.get("started")))
        limit = float(limit)
    except (TypeError, ValueError):
        return "stale", {**info, "reason": "claim without a heartbeat time", "age": now - mtime}
    info["age"] = age = now - beat
    if info.get("host") == socket.gethostname() and isinstance(info.get("pid"), int) \
            and not _pid_alive(info["pid"]):
        return "stale", {**info, "reason": f"process {info['pid']} is gone"}
    if age > limit:
        return "stale", {**info, "reason": f"heartbeat older than {limit:g} s"}
    return "held", info


def claim_state(run_dir: str | os.PathLike, stale_s: float | None = None,
                now: float | None = None) -> tuple[str, dict[str, Any]] | None:
    """``("held", info)``, ``("stale", info)`` or None (no claim): ``info`` the claim with ``age`` (and ``reason``)."""
    got = _read_raw(Path(run_dir))
    if got is None:
        return None
    return _judge(got[0], got[1], stale_s, _now() if now is None else now)


class Claim:
    """A run folder held by this runner (a context manager); ``lost`` turns True if another took it over."""

    def __init__(self, run_dir: Path, info: dict[str, Any], heartbeat_s: float) -> None:
        self.run_dir = run_dir
        self.path = run_dir / CLAIM
        self.info = info
        self.token: str = info["token"]
        self.heartbeat_s = heartbeat_s
        self.lost = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _start_heartbeat(self) -> None:
        self._thread = threading.Thread(target=self._beat_loop, name=f"claim-heartbeat:{self.run_dir.name}",
                                        daemon=True)
        self._thread.start()

    def _beat_loop(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                if not self.beat():
                    return
            except OSError:  # a network folder away for a while: try again at the next beat
                continue

    def beat(self) -> bool:
        """Refresh the heartbeat time; False (and ``lost``) if the claim is no longer ours."""
        with self._lock:
            if self._stop.is_set():  # released
                return False
            current = read_claim(self.run_dir)
            if current is None or current.get("token") != self.token:
                self.lost = True
                return False
            self.info = {**self.info, "heartbeat": _now()}
            replace_atomic(self.path, json.dumps(self.info).encode())
            return True

    def release(self) -> None:
        """Stop the heartbeat and remove the claim file if it is still ours; safe to call twice."""
        self._stop.set()
        with self._lock:
            try:
                current = read_claim(self.run_dir)
                if current is not None and current.get("token") == self.token:
                    self.path.unlink(missing_ok=True)
            except OSError as e:  # the claim goes stale, and the run is finished or taken over: no reason to fail
                warnings.warn(f"{self.path}: cannot release the claim ({e})", RuntimeWarning, stacklevel=2)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"Claim({str(self.run_dir)!r}, token={self.token[:8]}, lost={self.lost})"


def _take_over(run_dir: Path, raw: bytes, data: bytes) -> bool:
    """Replace the stale claim ``raw`` with ``data``; True for exactly one of several racing takers."""
    marker = run_dir / f"claim.takeover-{_identity(raw)}"
    if not create_exclusive(marker, data):
        with contextlib.suppress(OSError):  # a taker that died holding the marker: free it for the next look
            if _now() - marker.stat().st_mtime > UNREADABLE_GRACE_S:
                marker.unlink(missing_ok=True)
        return False
    try:
        again = _read_raw(run_dir)
        if again is None or again[0] != raw:  # released, refreshed or taken over meanwhile
            return False
        replace_atomic(run_dir / CLAIM, data)
        return True
    finally:
        marker.unlink(missing_ok=True)


def try_claim(run_dir: str | os.PathLike, heartbeat_s: float | None = None, stale_s: float | None = None,
              done: str | None = DONE) -> Claim | None:
    """Claim ``run_dir`` (taking a stale claim over), or None if a live runner holds it or its ``done`` file exists."""
    run_dir = Path(run_dir)
    heartbeat_s = float(HEARTBEAT_S if heartbeat_s is None else heartbeat_s)
    stale_s = float(STALE_HEARTBEATS * heartbeat_s if stale_s is None else stale_s)
    if heartbeat_s <= 0 or stale_s <= heartbeat_s:
        raise ValueError(f"need 0 < heartbeat_s < stale_s, got heartbeat_s={heartbeat_s}, stale_s={stale_s}")
    run_dir.mkdir(parents=True, exist_ok=True)
    now = _now()
    info = {"host": socket.gethostname(), "pid": os.getpid(), "token": uuid.uuid4().hex,
            "started": now, "heartbeat": now, "heartbeat_s": heartbeat_s, "stale_s": stale_s}
    data = json.dumps(info).encode()
    took_over = None
    for _ in range(3):  # a claim can vanish between two looks: look again
        if create_exclusive(run_dir / CLAIM, data):
            break
        got = _read_raw(run_dir)
        if got is None:
            continue
        state, old = _judge(got[0], got[1], None, _now())
        if state == "held":
            return None
        if _take_over(run_dir, got[0], data):
            took_over = {k: old.get(k) for k in ("host", "pid", "token", "reason")}
            break
        return None
    else:
        return None
    claim = Claim(run_dir, info, heartbeat_s)
    if done is not None and (run_dir / done).exists():
        claim.release()
        return None
    with contextlib.suppress(OSError):  # the history is for people: never fail a run over it
        with open(run_dir / HISTORY, "a", encoding="utf-8") as f:
            f.write(json.dumps({k: info[k] for k in ("host", "pid", "token", "started")}
                               | {"took_over": took_over}) + "\n")
    claim._start_heartbeat()
    return claim
