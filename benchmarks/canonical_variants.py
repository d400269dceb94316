"""Median over seeds of the five canonical variants (none + four operators) on the paper's data.

    python benchmarks/canonical_variants.py --seeds 5 --generations 200 --workers 2
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

from evoprune.data import binary_clustering
from evoprune.experiment import OPERATORS, RunConfig, run_canonical, single_thread


def one(args):
    single_thread()
    op, seed, gens, schedule = args
    r = run_canonical(RunConfig(operator=op, schedule=schedule, generations=gens), binary_clustering(seed=seed), seed)
    at100 = r.records[min(100, gens)]["test_min"]
    return op, seed, r.test_l1, r.fraction_kept, at100, r.wall_time / gens


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--generations", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--schedule", default="exponential")
    a = ap.parse_args(argv)
    jobs = [(op, s, a.generations, a.schedule) for op in OPERATORS for s in range(a.seeds)]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(a.workers) as ex:
        rows = list(ex.map(one, jobs))
    print(f"{a.seeds} seeds x {a.generations} epochs, {a.schedule} schedule, {time.perf_counter() - t0:.0f} s")
    print("| variant | median test L1 | median fraction kept | median test L1 @100 | s/epoch | per-seed L1 |")
    print("|---|---|---|---|---|---|")
    for op in OPERATORS:
        r = [x for x in rows if x[0] == op]
        med = lambda i, r=r: statistics.median(x[i] for x in r)  # noqa: E731
        print(f"| {op} | {med(2):.4f} | {med(3):.3f} | {med(4):.4f} | {med(5):.3f} | "
              f"{' '.join(f'{x[2]:.3f}' for x in r)} |")


if __name__ == "__main__":
    main()
