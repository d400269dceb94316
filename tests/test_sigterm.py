"""SIGTERM stops ``evoprune run`` at once, ends its workers, and the same command continues to the same results."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from evoprune.cli import main
from evoprune.study.checkpoint import latest_checkpoint
from evoprune.study.claims import CLAIM, HISTORY
from evoprune.study.runner import TIMING_FIELDS, run_study
from evoprune.study.studyfile import load_study

from .test_claims import _eventually, _history
from .test_study import TINY

ROOT = Path(__file__).resolve().parent.parent
STUDY = (TINY.replace('name = "tiny"', 'name = "term"').replace("generations = 12", "generations = 300")
         .replace('setting = ["canonical", "grid"]', 'setting = ["canonical"]')
         .replace("checkpoint_every = 3", "checkpoint_every = 10"))
N_RUNS = 4


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie waiting to be reaped counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state != "Z"


def _in_flight(out: Path) -> dict[Path, int]:
    """Run folders with a checkpoint and no result yet, and the pid of the worker that holds each."""
    held = {}
    for d in (out / "runs").glob("*"):
        if not (d / "result.json").exists() and list(d.glob("ckpt-*")) and (d / HISTORY).is_file():
            held[d] = _history(d)[-1]["pid"]
    return held


def _results(out: Path) -> list[dict]:
    rows = run_study(out / "study.toml", out, progress=False)  # the copy the run keeps
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in rows]


@pytest.mark.slow
def test_sigterm_stops_the_runner_and_its_workers_and_the_same_command_continues(tmp_path):
    path = tmp_path / "term.toml"
    path.write_text(STUDY)
    out = tmp_path / "out"
    cmd = ["run", str(path), "--out", str(out), "--workers", "2", "--trials-per-job", "1", "--no-report"]
    proc = subprocess.Popen([sys.executable, "-m", "evoprune", *cmd], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert _eventually(lambda: bool(_in_flight(out)), timeout=300), "no run got to its first checkpoint"
        held = _in_flight(out)
        proc.send_signal(signal.SIGTERM)
        log = proc.communicate(timeout=60)[0]
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, log
    finished = sum((d / "result.json").exists() for d in (out / "runs").iterdir())
    assert finished < N_RUNS
    assert log.splitlines()[-1] == (f"stopped by SIGTERM: {finished}/{N_RUNS} runs finished; run the same command "
                                    "to continue (unfinished runs resume from their last checkpoint)")
    assert _eventually(lambda: not any(_alive(pid) for pid in held.values()), timeout=10), \
        "a worker went on computing after its runner stopped"
    assert all(pid != proc.pid for pid in held.values())  # they were the workers', not the runner's

    study = load_study(path)
    fingerprints = {s.run_id: s.fingerprint(study.data) for s in study.runs()}
    so_far = {d: latest_checkpoint(d, fingerprints[d.name]).wall_time for d in held}
    assert all(t > 0 for t in so_far.values()), so_far  # each checkpoint carries the run's time so far

    assert main(cmd) == 0  # the same command: takes over the runs the dead workers held, from their checkpoints
    for d, pid in held.items():
        history = _history(d)
        assert history[-2]["pid"] == pid and history[-1]["took_over"]["reason"] == f"process {pid} is gone"
        assert not (d / CLAIM).exists()
        # a resumed run's wall time counts the time before its checkpoint too
        assert json.loads((d / "result.json").read_text())["wall_time"] > so_far[d]
    ref = tmp_path / "ref"
    assert main(["run", str(path), "--out", str(ref), "--no-report"]) == 0
    assert _results(out) == _results(ref)
