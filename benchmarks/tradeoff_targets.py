"""Issue check: which configurations reach test L1 <= 0.055 at <= 30% kept (paper data and network).

Every run trains with the BCE-then-L1 loss schedule (``RunConfig`` defaults:
``loss = "bce>l1"``, ``loss_switch = 0.5``) on the exponential schedule, 200
generations; prints per configuration the test L1, fraction kept and
trade-off hypervolume of each seed::

    python benchmarks/tradeoff_targets.py canonical --seeds 5      # (1+1), parsimony selection
    python benchmarks/tradeoff_targets.py nsga2 --seeds 2          # (8+8), NSGA-II over (L1, kept)
    python benchmarks/tradeoff_targets.py grid --seeds 2           # paper ring, parsimony replacement, prune first
    python benchmarks/tradeoff_targets.py canonical --loss bce     # BCE only, as before the loss schedule
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

from evoprune.data import binary_clustering
from evoprune.runs import RunConfig, run_trials, single_thread

OPERATORS = ("none", "random", "variance", "conjunctive", "magnitude")
PRESETS = {
    "canonical": {"setting": "canonical"},
    "nsga2": {"setting": "canonical", "selection": "nsga2", "mu": 8, "lambda_": 8},
    "grid": {"setting": "grid", "grid": "ring:10:1", "batch_size": 5, "replacement": "parsimony", "prune_first": True},
    "grid_paper_rule": {"setting": "grid", "grid": "ring:10:1", "batch_size": 5},
}


def one(args):
    """All seeds of one configuration, in lockstep."""
    single_thread()
    kw, seeds = args
    rows = []
    for seed, r in zip(seeds, run_trials(RunConfig(**kw), binary_clustering(seed=0), seeds), strict=True):
        s = r.summary()
        rows.append((kw["operator"], seed, r.test_l1, r.fraction_kept, s["hypervolume"], s["l1_at_kept_0.25"],
                     r.wall_time))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("preset", choices=sorted(PRESETS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--generations", type=int, default=200)
    ap.add_argument("--operators", default=",".join(OPERATORS))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--loss", default="bce>l1", help="training loss or loss schedule (default: bce>l1)")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto")
    a = ap.parse_args(argv)
    ops = a.operators.split(",")
    base = {**PRESETS[a.preset], "generations": a.generations, "loss": a.loss}
    jobs = [({**base, "operator": op, "device": a.device}, list(range(a.seeds))) for op in ops]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(a.workers) as ex:
        rows = [row for job in ex.map(one, jobs) for row in job]
    print(f"{a.preset}, loss {a.loss}: {a.seeds} seeds x {a.generations} generations, {time.perf_counter() - t0:.0f} s")
    print("| operator | median test L1 | median kept | median HV | median L1 at kept<=0.25 | per-seed (L1, kept) |")
    print("|---|---|---|---|---|---|")
    for op in ops:
        r = [x for x in rows if x[0] == op]
        med = lambda i, r=r: statistics.median(x[i] for x in r)  # noqa: E731
        seeds = " ".join(f"({x[2]:.4f}, {x[3]:.3f})" for x in r)
        print(f"| {op} | {med(2):.4f} | {med(3):.3f} | {med(4):.4f} | {med(5):.4f} | {seeds} |", flush=True)


if __name__ == "__main__":
    main()
