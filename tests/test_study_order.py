"""Trial-major job order, the time limit's dispatch, durations, and the report on a partly finished study."""

import itertools
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from evoprune.report.analyse import analyse
from evoprune.report.report import report
from evoprune.study.dispatch import Deadline, dispatch, parse_duration
from evoprune.study.jobs import make_jobs
from evoprune.study.studyfile import StudyError, parse_study

STUDY = """
name = "order"
trials = 5
[run]
generations = 4
[factors]
setting = ["canonical", "grid"]
operator = ["none", "random"]
schedule = ["fixed"]
"""


def _jobs(k):
    return make_jobs(parse_study(STUDY).runs(), k)


def test_jobs_are_trial_major():
    jobs = _jobs(2)
    configs = ["canonical__none", "canonical__random-fixed", "grid__none", "grid__random-fixed"]
    ids = [[s.run_id for s in job] for job in jobs]
    # block 0 (trials 0-1) of every configuration, then block 1 (2-3), then block 2 (4)
    assert ids == [[f"{c}__t{t:02d}" for t in trials] for trials in ([0, 1], [2, 3], [4]) for c in configs]
    # any prefix of the jobs holds trials 0..k-1 of every configuration before trial k of any
    for n in range(1, len(jobs) + 1):
        done = [s for job in jobs[:n] for s in job]
        per = {c: sorted(s.trial for s in done if s.run_id.startswith(c + "__")) for c in configs}
        full = min(len(v) for v in per.values())
        assert all(v[:full] == list(range(full)) for v in per.values())
        assert max(len(v) for v in per.values()) - full <= 2  # at most one block apart


def test_jobs_of_a_resumed_study_keep_their_blocks():
    runs = [s for s in parse_study(STUDY).runs() if s.trial not in (0, 3)]  # trials 0 and 3 done
    ids = [[s.trial for s in job] for job in make_jobs(runs, 2)]
    assert ids == [[1]] * 4 + [[2]] * 4 + [[4]] * 4


class ThreadMap:
    """A map with ``submit`` (as ProcessMap and dask_map) over 4 threads, claiming 2 workers: records the
    order jobs were submitted and the most in flight at once."""

    workers = 2

    def __init__(self):
        self.pool, self.lock = ThreadPoolExecutor(4), threading.Lock()
        self.submitted, self.in_flight, self.most = [], 0, 0

    def submit(self, func, job):
        def run():
            with self.lock:
                self.in_flight += 1
                self.most = max(self.most, self.in_flight)
            time.sleep(0.01)
            with self.lock:
                self.in_flight -= 1
            return func(job)

        self.submitted.append(job)
        return self.pool.submit(run)


def test_dispatch_submits_in_order_at_most_workers_at_a_time():
    jobs, pool, got = _jobs(2), ThreadMap(), []
    assert dispatch(lambda job: [s.run_id for s in job], jobs, pool, got.append) is True
    assert pool.submitted == jobs and pool.most == 2
    assert sorted(map(tuple, got)) == sorted(tuple(s.run_id for s in j) for j in jobs)


def test_deadline_stops_before_a_job_that_would_not_finish():
    ticks = itertools.count()
    clock = lambda: float(next(ticks))  # noqa: E731  every look at the clock: one second later
    deadline = Deadline(10, clock)  # t=0: ends at 10
    ran = []
    complete = dispatch(lambda job: ran.append(job) or job, _jobs(2), None, lambda rows: None, deadline)
    # each job: allowed at t, started t+1, finished t+2 -> takes 1 s; next allowed while now + 1 <= 10
    assert complete is False and 2 <= len(ran) < len(_jobs(2))
    assert ran == _jobs(2)[: len(ran)]  # in order, a prefix
    assert deadline.estimate(_jobs(2)[0]) == 1.0


def test_estimate_is_per_kind_of_job():
    d = Deadline(100, lambda: 0.0)
    canonical, grid = _jobs(2)[0], _jobs(2)[2]
    assert d.estimate(canonical) == 0.0  # nothing done yet: may start
    d.record(canonical, 5.0)
    assert d.estimate(grid) == 5.0  # nothing of its setting yet: the longest of any
    d.record(grid, 50.0)
    assert d.estimate(canonical) == 5.0 and d.estimate(grid) == 50.0


@pytest.mark.parametrize("text, seconds", [("2h30m", 9000), ("45m", 2700), ("90s", 90), ("1h", 3600), ("5400", 5400),
                                           ("1h0m30s", 3630), (" 2H ", 7200), ("0.5h", 1800), (12, 12)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2x", "h", "1d", "30 m", "-5", "0", "0s", "1h-5m", "inf", "nan", "m30"])
def test_parse_duration_rejects_naming_the_value(text):
    with pytest.raises(StudyError, match="time limit"):
        parse_duration(text)
    with pytest.raises(StudyError, match=repr(text).replace("(", r"\(")):
        parse_duration(text)


def _partial_frame():
    """Three groups of one schedule: random has trials 0-5, variance 0-3, magnitude 0-4."""
    rng = np.random.default_rng(1)
    rows = []
    for op, n in (("random", 6), ("variance", 4), ("magnitude", 5)):
        for t in range(n):
            rows.append({"run_id": f"canonical__{op}-fixed__t{t:02d}", "setting": "canonical", "group": f"{op}-fixed",
                         "operator": op, "schedule": "fixed", "trial": t, "seed": 100 + t,
                         "test_l1": 0.2 + rng.normal(0, 0.01), "fraction_kept": 0.5 + rng.normal(0, 0.01),
                         "hypervolume": 0.3 + rng.normal(0, 0.01), "l1_at_kept_0.5": 0.3 + rng.normal(0, 0.01),
                         "l1_at_kept_0.25": 0.5, "wall_time": 1.0, "generations": 4})
    return rows


def test_partial_study_compares_equal_blocks():
    df = pd.DataFrame(_partial_frame())
    out = analyse(df)
    (fam,) = {r["family"] for r in out["results"]}
    for r in out["results"]:
        assert r["blocked"] and r["trials"] == [0, 1, 2, 3] and r["n"] == 4 and r["left_out"] == 3
    assert out["partial"] == [f"{fam}: trials 0–3 (4 finished in every group compared; 3 runs of other trials left "
                              "out of its tests)"]


def test_report_of_a_partial_study_says_which_trials(tmp_path):
    for row in _partial_frame():
        d = tmp_path / "runs" / row["run_id"]
        d.mkdir(parents=True)
        (d / "result.json").write_text(json.dumps(row))
    md = report(tmp_path, formats=("md", "csv")).read_text()
    assert "**Partial study, blocks compared:** operators, schedule fixed: trials 0–3" in md
    pairwise = pd.read_csv(tmp_path / "report" / "pairwise.csv")
    assert set(pairwise["n"]) == {4} and set(pairwise["trials"]) == {"0 1 2 3"} and pairwise["blocked"].all()


def test_dispatch_through_dask_keeps_the_order():
    distributed = pytest.importorskip("distributed")
    from evoprune.parallel import dask_map

    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None)
    with cluster, distributed.Client(cluster) as client:
        dmap = dask_map(client)
        submitted, submit = [], dmap.submit
        dmap.submit = lambda func, job: submitted.append(job) or submit(func, job)
        got = []
        jobs = _jobs(2)
        assert dispatch(lambda job: [s.run_id for s in job], jobs, dmap, got.append) is True
        assert submitted == jobs and dmap.workers == 2
        assert sorted(map(tuple, got)) == sorted(tuple(s.run_id for s in j) for j in jobs)
