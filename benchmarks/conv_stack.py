"""Stacked training of N small convolutional autoencoders on 8×8 images: which batching is fastest?

Compares, for one minibatch forward + backward of N members (each its own rows):

* ``grouped``: evoprune's layered path, one grouped convolution (``groups=N``) per layer;
* ``vmap``: ``torch.func.vmap(functional_call)`` over stacked parameters of one ``nn.Module``;
* ``loop``: a Python loop over the members, one ``nn.Module`` call each;

and one epoch of ``mutTrain`` on a ``Batch`` of N members against N ``mutTrain`` calls.
Run: ``OMP_NUM_THREADS=1 python benchmarks/conv_stack.py``.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from evoprune.architecture import Architecture
from evoprune.backends import stack_halves
from evoprune.genome import AutoencoderGenome
from evoprune.training import mutTrain
from evoprune.util.operator import Batch


def modules():
    enc = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(128, 10))
    dec = nn.Sequential(nn.Linear(10, 128), nn.ReLU(), nn.Unflatten(1, (8, 4, 4)),
                        nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1), nn.Sigmoid())
    return enc, dec


def timeit(fn, reps: int = 30) -> float:
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main(n: int = 10, batch: int = 32) -> None:
    torch.set_num_threads(1)
    enc, dec = modules()
    arch = Architecture.from_modules(enc, dec, input_shape=(1, 8, 8))
    genomes = [AutoencoderGenome(arch, rng=i) for i in range(n)]
    x = torch.rand(n, batch, 1, 8, 8)

    ep = [p.requires_grad_(True) for p in stack_halves([g.encoder for g in genomes])[0]]
    dp = [p.requires_grad_(True) for p in stack_halves([g.decoder for g in genomes])[0]]

    def grouped():
        out = arch.decoder.stacked_forward(dp, None, arch.encoder.stacked_forward(ep, None, x.flatten(2)))
        (out - x.flatten(2)).abs().mean((1, 2)).sum().backward()

    mods = [nn.Sequential(*modules()) for _ in range(n)]
    params, buffers = stack_module_state(mods)
    base = copy.deepcopy(mods[0]).to("meta")

    def one(p, b, xi):
        return (functional_call(base, (p, b), (xi,)) - xi).abs().mean()

    def vmapped():
        vmap(one)(params, buffers, x).sum().backward()

    def loop():
        sum((m(x[i]) - x[i]).abs().mean() for i, m in enumerate(mods)).backward()

    print(f"N={n} members, minibatch {batch}, 1 thread: forward + backward per minibatch")
    for name, fn in (("grouped conv", grouped), ("vmap(functional_call)", vmapped), ("loop of modules", loop)):
        print(f"  {name:24s} {timeit(fn) * 1e3:7.2f} ms")
    data = torch.rand(512, 1, 8, 8)
    stack = [AutoencoderGenome(arch, rng=i) for i in range(n)]
    singles = copy.deepcopy(stack)
    t_stack = timeit(lambda: mutTrain(Batch(stack, [np.random.default_rng(i) for i in range(n)]), data,
                                      batch_size=32), 5)
    t_loop = timeit(lambda: [mutTrain(g, data, rng=i, batch_size=32) for i, g in enumerate(singles)], 5)
    print(f"one epoch of 512 rows: mutTrain on a Batch of {n} {t_stack:.3f} s, {n} mutTrain calls {t_loop:.3f} s")


if __name__ == "__main__":
    main()
