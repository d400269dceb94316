import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from evoprune.study import claims
from evoprune.study.claims import CLAIM, HISTORY, claim_state, read_claim, try_claim
from evoprune.study.runner import TIMING_FIELDS, run_study, study_status
from evoprune.study.sharing import describe_claims, finish_claimed, run_claimed

from .test_study import TINY as STUDY_TINY

ROOT = Path(__file__).resolve().parent.parent


def _eventually(condition, timeout: float = 60.0) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` seconds pass (False): no fixed sleep to race."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _write_claim(d: Path, **fields) -> dict:
    now = time.time()
    info = {"host": socket.gethostname(), "pid": os.getpid(), "token": "someone-else", "started": now,
            "heartbeat": now, "heartbeat_s": 30.0, "stale_s": 150.0, **fields}
    d.mkdir(parents=True, exist_ok=True)
    (d / CLAIM).write_text(json.dumps(info))
    return info


def _history(d: Path) -> list[dict]:
    return [json.loads(line) for line in (d / HISTORY).read_text().splitlines()]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_claim_is_exclusive_until_released(tmp_path):
    d = tmp_path / "runs" / "r1"
    with try_claim(d) as c:
        assert c is not None and (d / CLAIM).is_file()
        info = read_claim(d)
        assert info["token"] == c.token and info["pid"] == os.getpid() and info["host"] == socket.gethostname()
        assert {"started", "heartbeat", "heartbeat_s", "stale_s"} <= set(info)
        assert try_claim(d) is None
        state, shown = claim_state(d)
        assert state == "held" and shown["age"] < 5
    assert not (d / CLAIM).exists() and claim_state(d) is None
    c2 = try_claim(d)
    assert c2 is not None and c2.token != c.token
    c2.release()
    c2.release()  # twice is fine
    assert [h["token"] for h in _history(d)] == [c.token, c2.token]
    assert not [p for p in d.iterdir() if p.name not in (HISTORY,)]  # no temporary files left behind


def test_release_keeps_a_claim_that_is_no_longer_ours(tmp_path):
    c = try_claim(tmp_path, heartbeat_s=0.05, stale_s=1)
    _write_claim(tmp_path, token="taken-over")
    assert _eventually(lambda: c.lost)  # the heartbeat noticed and did not overwrite the new owner's claim
    c.release()
    assert read_claim(tmp_path)["token"] == "taken-over"


def test_heartbeat_refreshes_and_stops_on_release(tmp_path):
    c = try_claim(tmp_path, heartbeat_s=0.05, stale_s=1)
    first = read_claim(tmp_path)["heartbeat"]
    assert _eventually(lambda: read_claim(tmp_path)["heartbeat"] > first) and not c.lost
    c.release()
    assert not c._thread.is_alive()  # joined: no late heartbeat can recreate the file
    assert not (tmp_path / CLAIM).exists() and c.beat() is False
    with pytest.raises(ValueError, match="heartbeat_s"):
        try_claim(tmp_path, heartbeat_s=1, stale_s=1)


def test_stale_heartbeat_is_taken_over(tmp_path):
    old = _write_claim(tmp_path, heartbeat=time.time() - 1000)  # a live pid (ours), but no heartbeat for long
    state, info = claim_state(tmp_path)
    assert state == "stale" and "heartbeat older than 150 s" in info["reason"]
    assert claim_state(tmp_path, stale_s=2000)[0] == "held"
    with try_claim(tmp_path) as c:
        assert c is not None and read_claim(tmp_path)["token"] == c.token
        took = _history(tmp_path)[-1]["took_over"]
        assert took["token"] == old["token"] and "heartbeat" in took["reason"]
    assert not list(tmp_path.glob("claim.takeover-*"))


def test_dead_pid_on_this_host_is_taken_over(tmp_path):
    pid = _dead_pid()
    _write_claim(tmp_path, pid=pid)  # fresh heartbeat, but the process is gone
    state, info = claim_state(tmp_path)
    assert state == "stale" and f"process {pid} is gone" in info["reason"]
    with try_claim(tmp_path) as c:
        assert c is not None
    # on another host the pid cannot be checked: a fresh heartbeat means held
    _write_claim(tmp_path, pid=pid, host="some-other-host")
    assert claim_state(tmp_path)[0] == "held" and try_claim(tmp_path) is None


def test_unreadable_claim_counts_as_stale_once_old(tmp_path):
    (tmp_path / CLAIM).write_bytes(b'{"host": "x", "tok')  # half a file, e.g. written by hand
    assert claim_state(tmp_path)[0] == "held"  # young: maybe being written
    assert try_claim(tmp_path) is None
    past = time.time() - 60
    os.utime(tmp_path / CLAIM, (past, past))
    state, info = claim_state(tmp_path)
    assert state == "stale" and "unreadable" in info["reason"] and read_claim(tmp_path) is None
    with try_claim(tmp_path) as c:
        assert c is not None and read_claim(tmp_path)["token"] == c.token


def test_takeover_of_an_already_replaced_claim_fails(tmp_path):
    _write_claim(tmp_path, heartbeat=time.time() - 1000)
    stale_raw = (tmp_path / CLAIM).read_bytes()
    with try_claim(tmp_path) as c:  # the winner replaced the stale claim
        # a slow second taker that read the same stale claim must not replace the winner's
        assert not claims._take_over(tmp_path, stale_raw, b'{"token": "late"}')
        assert read_claim(tmp_path)["token"] == c.token


def test_a_claim_of_a_finished_run_is_not_taken(tmp_path):
    (tmp_path / "result.json").write_text("{}")
    assert try_claim(tmp_path) is None and not (tmp_path / CLAIM).exists()
    assert try_claim(tmp_path, done=None) is not None


@pytest.mark.parametrize("stale", [False, True], ids=["free", "stale"])
def test_racing_threads_have_exactly_one_winner(tmp_path, stale):
    for round_ in range(15):
        d = tmp_path / f"r{round_}"
        if stale:
            _write_claim(d, heartbeat=time.time() - 1000)
        barrier = threading.Barrier(8)
        won = []

        def race(d=d, barrier=barrier, won=won):
            barrier.wait()
            c = try_claim(d)
            if c is not None:
                won.append(c)

        threads = [threading.Thread(target=race) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1, f"round {round_}: {len(won)} winners"
        assert read_claim(d)["token"] == won[0].token
        won[0].release()


RACER = """
import json, sys, time
from pathlib import Path
from evoprune.study import claims
gate = Path(sys.argv[3])
(gate / f"ready-{sys.argv[4]}").touch()
while not (gate / "go").exists():  # a file barrier: all racers have imported evoprune before any claims
    time.sleep(0.005)
c = claims.try_claim(sys.argv[2])
print(json.dumps(c is not None), flush=True)
while not (gate / "release").exists():  # hold it until every racer has looked
    time.sleep(0.005)
if c is not None:
    c.release()
"""


@pytest.mark.slow
@pytest.mark.parametrize("stale", [False, True], ids=["free", "stale"])
def test_racing_processes_have_exactly_one_winner(tmp_path, stale):
    d = tmp_path / "run"
    if stale:
        _write_claim(d, pid=_dead_pid())
    gate = tmp_path / "gate"
    gate.mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", RACER, "-", str(d), str(gate), str(i)],
                              stdout=subprocess.PIPE, text=True) for i in range(6)]
    assert _eventually(lambda: len(list(gate.glob("ready-*"))) == 6, timeout=300)
    (gate / "go").touch()
    wins = [json.loads(p.stdout.readline()) for p in procs]
    (gate / "release").touch()
    for p in procs:
        p.communicate(timeout=120)
    assert all(p.returncode == 0 for p in procs)
    assert sum(wins) == 1
    assert len(_history(d)) == 1 and not (d / CLAIM).exists()


def test_run_claimed_skips_held_runs_and_releases_on_errors(tmp_path):
    calls = []
    with try_claim(tmp_path / "a"):
        assert run_claimed(tmp_path / "a", lambda: calls.append(1)) is None
    assert calls == []
    with pytest.raises(KeyError):
        run_claimed(tmp_path / "a", lambda: {}["boom"])
    assert claim_state(tmp_path / "a") is None
    assert run_claimed(tmp_path / "a", lambda: read_claim(tmp_path / "a")["pid"]) == os.getpid()
    (tmp_path / "a" / "result.json").write_text("{}")
    assert run_claimed(tmp_path / "a", lambda: "read") == "read"  # finished: no claim needed


def test_finish_claimed_waits_for_holders_and_takes_over_stale_runs(tmp_path):
    held, stale = tmp_path / "held", tmp_path / "stale"
    holder = try_claim(held)
    _write_claim(stale, pid=_dead_pid())
    ran, seen = [], []
    stale_done = threading.Event()

    def finish_later():  # the holder finishes only after the waiter has run the stale run and gone on waiting
        stale_done.wait(timeout=300)
        (held / "result.json").write_text("{}")
        holder.release()

    def run(batch):
        for d in batch:
            if run_claimed(d, lambda d=d: (d / "result.json").write_text("{}")) is not None:
                ran.append(d.name)
        stale_done.set()

    t = threading.Thread(target=finish_later)
    t.start()
    finish_claimed([held, stale], lambda d: d, run, progress=seen.append, poll_s=0.05)
    t.join()
    assert ran == ["stale"] and seen[0] == 0 and seen[-1] == 2


def test_status_shows_who_holds_which_run(tmp_path, capsys):
    from evoprune.cli import main

    study = tmp_path / "s.toml"
    study.write_text(TINY)
    out = tmp_path / "out"
    out.mkdir()
    (out / "study.toml").write_text(TINY)
    runs = out / "runs"
    live = try_claim(runs / "grid__none__t00")
    _write_claim(runs / "grid__none__t01", heartbeat=time.time() - 500, host="node9", pid=77)
    try:
        from evoprune.study.studyfile import load_study

        state = study_status(load_study(study), out)
        assert state["running"] == ["grid__none__t00"] and "grid__none__t01" in state["pending"]
        assert main(["status", str(out)]) == 0
        text = capsys.readouterr().out
        assert "0/8 runs finished, 1 running, 0 started, 7 pending" in text
        assert f"running: grid__none__t00 on {socket.gethostname()} pid {os.getpid()} (heartbeat 0 s ago)" in text
        assert "stale claim: grid__none__t01 on node9 pid 77 (heartbeat 500 s ago" in text
        assert describe_claims(runs, ["grid__none__t02"]) == []
    finally:
        live.release()


TINY = STUDY_TINY.replace("generations = 12", "generations = 20")


def _outputs(out):
    strip = lambda r: {k: v for k, v in r.items() if k not in TIMING_FIELDS}  # noqa: E731
    res = {}
    for d in sorted((Path(out) / "runs").iterdir()):
        log = [strip(json.loads(line)) for line in (d / "log.jsonl").read_text().splitlines()]
        res[d.name] = (strip(json.loads((d / "result.json").read_text())), log)
    return res


SPLITTER = """
import sys, time
from pathlib import Path
import evoprune.runs, evoprune.study.runner  # the slow imports, before the barrier
from evoprune.cli import main
gate = Path(sys.argv[1])
(gate / f"ready-{sys.argv[2]}").touch()
while not (gate / "go").exists():
    time.sleep(0.005)
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.slow
def test_two_processes_split_a_study_and_run_each_run_once(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    out = tmp_path / "shared"
    gate = tmp_path / "gate"
    gate.mkdir()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", SPLITTER, str(gate), str(i), "run", str(path), "--out", str(out),
                               "--no-report"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for i in range(2)]
    assert _eventually(lambda: len(list(gate.glob("ready-*"))) == 2, timeout=300)
    (gate / "go").touch()  # both start claiming at one instant, however long their imports took
    logs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    runs = sorted((out / "runs").iterdir())
    assert len(runs) == 8
    owners = {}
    for d in runs:
        history = _history(d)
        assert len(history) == 1, f"{d.name} was run {len(history)} times: {history}"
        owners[d.name] = history[0]["pid"]
        assert not (d / CLAIM).exists() and not list(d.glob("claim.takeover-*"))
    assert set(owners.values()) == {p.pid for p in procs}  # both did some of the runs
    for log in logs:  # each process ends with the whole study done (exit 0: it read every result.json)
        assert len(re.findall(r"\|\s+2 \|", log)) == 4, log  # the summary table: 4 groups of 2 trials
    ref = tmp_path / "ref"
    run_study(path, ref, progress=False)
    assert _outputs(out) == _outputs(ref)
