"""Milliseconds per network per minibatch step: each backend's stacked training against a plain PyTorch loop.

Paper network (1000→30→10 / 10→30→1000), 1000 binary rows, minibatch 5, L1 loss, one intra-op thread.  Each
figure is the best of several repeats (the machine may be shared).  The backends are those of
:func:`evoprune.backends.select_backend`: ``fused`` (the C++ CPU kernel), ``torch`` (the dense hand-written
step) and ``torch-layered`` (autograd, any architecture).  Run: ``python benchmarks/train_kernel.py [--quick]``.
"""

from __future__ import annotations

import argparse
import timeit

import numpy as np
import torch

from evoprune.architecture import Architecture
from evoprune.backends import BACKENDS, Stack, TrainOptions
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


def stacked(backend, x: torch.Tensor, n: int, steps: int, repeats: int) -> float:
    """ms per network-step of N stacked members on ``backend``."""
    inds = [AutoencoderGenome(Architecture.paper(), rng=s, lr=1e-3) for s in range(n)]
    specs = (inds[0].encoder.spec, inds[0].decoder.spec)
    stack = Stack.from_halves([i.encoder for i in inds], [i.decoder for i in inds], [i.lr for i in inds],
                              transposed=backend.layout(specs))
    orders = torch.from_numpy(np.stack([np.random.default_rng(s).permutation(x.shape[0]) for s in range(n)]))
    orders = orders[:, : steps * BATCH]
    options = TrainOptions("l1")
    backend.train_epoch(stack, x, orders, BATCH, options)
    times = timeit.repeat(lambda: backend.train_epoch(stack, x, orders, BATCH, options), number=1, repeat=repeats)
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
    specs = (Architecture.paper().encoder, Architecture.paper().decoder)
    usable = [b for b in BACKENDS if b.claims(specs, torch.device("cpu"), "l1") is None]
    print(f"{'N':>4} " + " ".join(f"{b.name + ' ms':>16}" for b in usable) + "  vs plain (fused Adam)")
    for n in (int(s) for s in args.sizes.split(",")):
        ms = [stacked(b, x, n, steps, repeats) for b in usable]
        print(f"{n:>4} " + " ".join(f"{m:>16.3f}" for m in ms) + "  "
              + ", ".join(f"{b.name} {plain_fused / m:.1f}x" for b, m in zip(usable, ms, strict=True)), flush=True)


if __name__ == "__main__":
    main()
