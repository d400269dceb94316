"""Evaluation timings, torch path vs the fused C++ decoder+error kernel (``evoprune.backends.fused``).

* ms per genome of :func:`evoprune.evaluation.reconstruction_errors` on 1000×1000 binary data (paper network);
* ms per call of :func:`evoprune.evaluation.neighbourhood_errors` for a ``ring:10`` population with 100-row batches.

One intra-op thread; each figure is the best of several repeats (the machine may be shared).
Run: ``python benchmarks/eval_kernel.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import timeit

import torch

from evoprune.architecture import Architecture
from evoprune.backends import fused
from evoprune.data import binary_clustering
from evoprune.evaluation import neighbourhood_errors, reconstruction_errors
from evoprune.genome import AutoencoderGenome
from evoprune.topology import Grid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--metric", default="l1")
    args = ap.parse_args()
    torch.set_num_threads(1)
    repeats = 3 if args.quick else 7
    x = binary_clustering(n_clusters=10, dim=1000, samples_per_cluster=100, seed=0)
    x = torch.as_tensor(x.train, dtype=torch.float32).contiguous()
    genomes = [AutoencoderGenome(Architecture.paper(), rng=s) for s in range(4 if args.quick else 8)]
    grid = Grid.from_string("ring:10")
    nb = torch.tensor(grid.neighbourhoods())
    pop = [AutoencoderGenome(Architecture.paper(), rng=100 + s) for s in range(grid.n_cells)]
    g = torch.Generator().manual_seed(0)
    batches = torch.stack([torch.randperm(x.shape[0], generator=g)[:100] for _ in range(grid.n_cells)])
    xb = x[batches]
    results = {}
    for mode in ("0", "1"):
        os.environ["EVOPRUNE_FUSED"] = mode
        if mode == "1" and fused.extension() is None:
            print("fused extension unavailable")
            break
        rec = reconstruction_errors(genomes, x, args.metric)
        nbe = neighbourhood_errors(pop, nb, xb, args.metric)
        times = timeit.repeat(lambda: reconstruction_errors(genomes, x, args.metric), number=1, repeat=repeats)
        t_rec = min(times) / len(genomes) * 1e3
        hood = timeit.repeat(lambda: neighbourhood_errors(pop, nb, xb, args.metric), number=1, repeat=repeats)
        t_nb = min(hood) * 1e3
        results[mode] = (rec, nbe)
        name = "fused" if mode == "1" else "torch"
        print(f"{name:6s} reconstruction_errors {t_rec:7.2f} ms/genome   neighbourhood_errors(ring:10, B=100) "
              f"{t_nb:7.2f} ms")
    if len(results) == 2:
        (r0, n0), (r1, n1) = results["0"], results["1"]
        print(f"max rel diff: reconstruction {((r1 - r0).abs() / r0.abs()).max():.2e}, "
              f"neighbourhood {((n1 - n0).abs() / n0.abs()).max():.2e}")


if __name__ == "__main__":
    main()
