"""Convolutional autoencoders trained as one stack against a plain PyTorch loop, in the same run.

N copies of the issue's convolutional autoencoder (Conv2d 1→8, stride 2 / Linear 128→10; Linear 10→128 /
ConvTranspose2d 8→1, Sigmoid) train one epoch of L1 with Adam on the 8×8 ``digits`` images:

* **stack**: evoprune's ``mutTrain`` on a ``Batch`` of N genomes (one grouped convolution per layer for all members,
  per-member Adam, masks kept), each member with its own minibatch order;
* **plain loop**: N ``nn.Sequential`` models, each with its own ``torch.optim.Adam``, trained one after the other.

Prints the median epoch time of each over a few epochs (after one warm-up epoch), and the ratio.
The evaluation of the N trained members (test L1) is timed the same way, against ``model(x)`` in a loop.

    OMP_NUM_THREADS=1 python benchmarks/conv.py                  # N=10, minibatch 32
    OMP_NUM_THREADS=1 python benchmarks/conv.py --n 10 30 --batch 5 32
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from torch import nn

from evoprune.data import digits
from evoprune.evaluation import reconstruction_errors
from evoprune.genome import AutoencoderGenome
from evoprune.training import mutTrain
from evoprune.util.operator import Batch


def conv_ae() -> tuple[nn.Sequential, nn.Sequential]:
    """The issue's convolutional autoencoder on 1×8×8 images."""
    enc = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(128, 10))
    dec = nn.Sequential(nn.Linear(10, 128), nn.ReLU(), nn.Unflatten(1, (8, 4, 4)),
                        nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1), nn.Sigmoid())
    return enc, dec


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(n: int, batch: int, repeats: int) -> dict[str, float]:
    data = digits(images=True)
    x, test = data.train, data.test
    torch.manual_seed(0)
    models = [nn.Sequential(*conv_ae()) for _ in range(n)]
    opts = [torch.optim.Adam(m.parameters(), lr=1e-3) for m in models]
    gens = [torch.Generator().manual_seed(i) for i in range(n)]

    def plain_epoch() -> None:
        for model, opt, g in zip(models, opts, gens, strict=True):
            for idx in torch.randperm(x.shape[0], generator=g).split(batch):
                xb = x[idx]
                loss = (model(xb) - xb).abs().mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

    @torch.no_grad()
    def plain_eval() -> None:
        for model in models:
            (model(test) - test).abs().mean().item()

    genomes = [AutoencoderGenome.from_modules(*conv_ae()) for _ in range(n)]
    rngs = [np.random.default_rng(i) for i in range(n)]

    def stack_epoch() -> None:
        mutTrain(Batch(genomes, rngs), x, batch_size=batch, loss="l1")

    return {
        "plain": median_seconds(plain_epoch, repeats),
        "stack": median_seconds(stack_epoch, repeats),
        "plain_eval": median_seconds(plain_eval, repeats),
        "stack_eval": median_seconds(lambda: reconstruction_errors(genomes, test), repeats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10], help="autoencoders trained together")
    parser.add_argument("--batch", type=int, nargs="+", default=[32], help="minibatch sizes")
    parser.add_argument("--repeats", type=int, default=5, help="timed epochs per measurement")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} intra-op thread(s), digits 1x8x8 (1258 training rows), "
          f"one epoch of L1 + Adam per autoencoder; median of {args.repeats} epochs")
    print("| N | minibatch | plain loop s | stack s | speed-up | eval: plain loop ms | stack ms | speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for n in args.n:
        for batch in args.batch:
            r = measure(n, batch, args.repeats)
            print(f"| {n} | {batch} | {r['plain']:.3f} | {r['stack']:.3f} | {r['plain'] / r['stack']:.1f}x | "
                  f"{r['plain_eval'] * 1e3:.1f} | {r['stack_eval'] * 1e3:.1f} | "
                  f"{r['plain_eval'] / r['stack_eval']:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
