"""Seconds per generation of eaToroidalGrid: batched (stacked bmm) vs cell-by-cell.

Paper setting: 10-cell ring of radius 1, minibatch 5, 1000 training samples of
1000 dimensions, the paper's network, RANDOM pruning on the exponential
schedule.  Also a 4×4 von Neumann grid.

    python benchmarks/grid_generation.py [--generations 5] [--threads 1] [--grids ring:10 4x4:von_neumann]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from evoprune.algorithms import eaToroidalGrid
from evoprune.data import binary_clustering
from evoprune.experiment import RunConfig, ensure_creator
from evoprune.genome import Architecture
from evoprune.grid_run import grid_toolbox
from evoprune.topology import Grid


def seconds_per_generation(grid: str, batched: bool, generations: int, batch_size: int, data) -> float:
    from deap import creator

    ensure_creator()
    cfg = RunConfig(setting="grid", operator="random", generations=generations, batch_size=batch_size, grid=grid)
    g = np.random.default_rng(0)
    topo = Grid.from_string(grid)
    pop = [creator.AEIndividual(Architecture.paper(data.dim), rng=g, lr=cfg.lr) for _ in range(topo.n_cells)]
    _, log = eaToroidalGrid(pop, grid_toolbox(cfg, data), topo, generations, rng=g, batched=batched)
    return statistics.median(log.select("time")[1:])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generations", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=5)
    ap.add_argument("--grids", nargs="+", default=["ring:10", "4x4:von_neumann"])
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    data = binary_clustering(seed=0)  # 1000 samples x 1000 dims per split
    print(f"torch {torch.__version__}, {a.threads} intra-op thread(s), minibatch {a.batch_size}, "
          f"{data.train.shape[0]}x{data.dim} training data, median of {a.generations - 1} generations")
    print("| grid | batched s/gen | cell-by-cell s/gen | speed-up |")
    print("|---|---|---|---|")
    for grid in a.grids:
        t0 = time.perf_counter()
        b = seconds_per_generation(grid, True, a.generations, a.batch_size, data)
        c = seconds_per_generation(grid, False, a.generations, a.batch_size, data)
        print(f"| {grid} | {b:.3f} | {c:.3f} | {c / b:.1f}x |  ({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
