"""Milliseconds per network per minibatch step: stacked training (dense torch, fused C++) vs a plain PyTorch loop.

Paper network (1000→30→10 / 10→30→1000), 1000 binary rows, minibatch 5, L1
loss, one intra-op thread.  Each figure is the best of several repeats (the
machine may be shared).  The columns are the backends ``torch`` (:mod:`evoprune.backends.torch_dense`) and
``fused`` (:mod:`evoprune.backends.fused`).  Run: ``python benchmarks/train_kernel.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import time
import timeit

import numpy as np
import torch

from evoprune.architecture import Architecture
from evoprune.backends import Stack, TrainOptions, fused, get_backend
from evoprune.data import binary_clustering
from evoprune.genome import AutoencoderGenome

BATCH = 5


def plain_loop(x: torch.Tensor, steps: int, repeats: int, fused: bool) -> float:
    """ms per step of one ``nn.Sequential`` autoencoder with ``torch.optim.Adam``."""
    module = AutoencoderGenome(Architecture.paper(), rng=0).to_module()
    opt = torch.optim.Adam(module.parameters(), lr=1e-3, fused=fused or None)
    order = torch.from_numpy(np.random.default_rng(0).permutation(x.shape[0]))

    def run():
        for s in range(steps):
            xb = x[order[s * BATCH : (s + 1) * BATCH]]
            opt.zero_grad()
            (module(xb) - xb).abs().mean().backward()
            opt.step()

    run()
    return min(timeit.repeat(run, number=1, repeat=repeats)) / steps * 1e3


def stacked(x: torch.Tensor, n: int, steps: int, repeats: int, backend: str) -> float:
    """ms per network-step for N stacked members on ``backend`` (``torch`` or ``fused``)."""
    os.environ["EVOPRUNE_FUSED"] = "1" if backend == "fused" else "0"
    inds = [AutoencoderGenome(Architecture.paper(), rng=s, lr=1e-3) for s in range(n)]
    b = get_backend(backend)
    specs = (inds[0].encoder.spec, inds[0].decoder.spec)
    stack = Stack.from_halves([i.encoder for i in inds], [i.decoder for i in inds], [i.lr for i in inds], "cpu",
                              b.layout(specs))
    orders = torch.from_numpy(np.stack([np.random.default_rng(s).permutation(x.shape[0]) for s in range(n)]))
    orders = orders[:, : steps * BATCH]
    options = TrainOptions("l1")
    b.train_epoch(stack, x, orders, BATCH, options)
    times = timeit.repeat(lambda: b.train_epoch(stack, x, orders, BATCH, options), number=1, repeat=repeats)
    return min(times) / steps / n * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    parser.add_argument("--sizes", default="1,4,10,30", help="stack sizes N")
    args = parser.parse_args()
    torch.set_num_threads(1)
    steps, repeats = (20, 3) if args.quick else (50, 7)
    x = binary_clustering(seed=0).train
    print(f"torch {torch.__version__}, 1 thread, data {tuple(x.shape)}, minibatch {BATCH}, {steps} steps x {repeats}")
    plain = plain_loop(x, steps, repeats, fused=False)
    plain_fused = plain_loop(x, steps, repeats, fused=True)
    print(f"plain nn.Sequential + Adam:             {plain:.3f} ms/step")
    print(f"plain nn.Sequential + Adam(fused=True): {plain_fused:.3f} ms/step")
    t = time.perf_counter()
    has_fused = fused.extension() is not None
    print(f"fused C++ kernel: {'built/loaded' if has_fused else 'unavailable'} in {time.perf_counter() - t:.1f} s")
    print(f"{'N':>4} {'torch ms':>9} {'fused ms':>9} {'torch/plain':>12} {'fused/plain':>12}")
    for n in (int(s) for s in args.sizes.split(",")):
        dense = stacked(x, n, steps, repeats, "torch")
        fast = stacked(x, n, steps, repeats, "fused") if has_fused else float("nan")
        print(f"{n:>4} {dense:>9.3f} {fast:>9.3f} {plain / dense:>11.1f}x {plain / fast:>11.1f}x")


if __name__ == "__main__":
    main()
