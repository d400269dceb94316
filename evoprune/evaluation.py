"""Fitness evaluation: reconstruction errors of genomes, one at a time or batched over a stack.

:func:`.evaluate` and :func:`.evaluate_tradeoff` are DEAP evaluation functions with a batch form the engine calls
once over a whole stack (see :mod:`evoprune.engine.variation`).  The batched errors run on the device of the
data, on the backend :func:`evoprune.backends.select_backend` picks.  A NaN or infinite error becomes
:data:`WORST` (the worst fitness when minimising), never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .backends import select_backend, stack_halves
from .backends.base import error_sums
from .genome import AutoencoderGenome
from .layers import check_rows
from .losses import METRICS
from .util.operator import Operator
from .util.validation import check_choice

__all__ = ["WORST", "evaluate", "evaluate_tradeoff", "reconstruction_error", "reconstruction_errors",
           "pairing_errors", "neighbourhood_errors"]

#: Error given to a genome whose loss is NaN or infinite (worst for minimisation).
WORST = math.inf


def check_metric(metric: str) -> str:
    """``metric`` if it names a metric, else a ValueError listing the valid ones."""
    return check_choice("metric", metric, METRICS)


def _finite(err: torch.Tensor) -> torch.Tensor:
    return torch.nan_to_num(err.float().cpu(), nan=WORST, posinf=WORST)


@torch.no_grad()
def reconstruction_errors(genomes: Sequence, data: torch.Tensor, metric: str = "l1", rows: int = 1000) -> torch.Tensor:
    """Mean reconstruction error of each genome on ``data`` (on ``data``'s device), ``(N,)`` on the CPU.

    Genomes of one architecture run together; the errors equal those of genomes evaluated one at a time.

    Parameters
    ----------
    genomes
        The genomes (anything with ``encoder`` and ``decoder`` halves).
    data
        Evaluation data, ``(samples, input_dim)``.
    metric
        A key of :data:`~evoprune.losses.METRICS`.
    rows
        Rows per chunk.
    """
    check_metric(metric)
    genomes = list(genomes)
    data = data.reshape(data.shape[0], -1)  # shaped rows (layered architectures) as flat rows
    groups: dict[tuple, list[int]] = {}  # genomes of one architecture go together
    for i, g in enumerate(genomes):
        groups.setdefault((g.encoder.spec, g.decoder.spec), []).append(i)
    out = torch.empty(len(genomes))
    for specs, members in groups.items():
        backend = select_backend(specs, data.device, metric).backend
        enc = stack_halves([genomes[i].encoder for i in members], data.device, views=True)
        dec = stack_halves([genomes[i].decoder for i in members], data.device, views=True)
        out[members] = _finite(backend.errors(specs, enc, dec, data, metric, rows) / data.numel())
    return out


@torch.no_grad()
def pairing_errors(encoders: Sequence, decoders: Sequence, data: torch.Tensor, metric: str = "l1") -> torch.Tensor:
    """Error of every encoder×decoder pairing on ``data``: a ``(len(encoders), len(decoders))`` matrix (CPU).

    Parameters
    ----------
    encoders
        The encoder halves.
    decoders
        The decoder halves.
    data
        Evaluation data, ``(samples, input_dim)``.
    metric
        A key of :data:`~evoprune.losses.METRICS`.
    """
    check_metric(metric)
    data = data.reshape(data.shape[0], -1)
    ne, nd = len(encoders), len(decoders)
    backend = select_backend((encoders[0].spec, decoders[0].spec), data.device, metric).backend
    x = data.unsqueeze(0).expand(ne, -1, -1)
    z = backend.forward(encoders[0].spec, *stack_halves(encoders, data.device), x)  # (ne, B, latent)
    dp, dm = stack_halves(decoders, data.device)
    dp = [p.repeat(ne, *([1] * (p.dim() - 1))) for p in dp]
    dm = [m.repeat(ne, *([1] * (m.dim() - 1))) for m in dm]
    out = backend.forward(decoders[0].spec, dp, dm, z.repeat_interleave(nd, 0))  # pairing (i, j): row i*nd + j
    err = error_sums(out, data.unsqueeze(0).expand(ne * nd, -1, -1), metric) / data.numel()
    return _finite(err).view(ne, nd)


@torch.no_grad()
def neighbourhood_errors(population: Sequence, nb: torch.Tensor, x: torch.Tensor, metric: str = "l1") -> torch.Tensor:
    """``errors[c, i, j]`` ``(cells, k, k)`` on the CPU: encoder ``nb[c, i]`` with decoder ``nb[c, j]`` on ``x[c]``.

    Every encoder runs once, then every decoder once over all its cells' latents.  Neighbourhoods of several
    disjoint grids (lockstep trials) can be concatenated with offset indices.

    Parameters
    ----------
    population
        The genomes of the grid (one per cell).
    nb
        Neighbourhoods, ``(cells, k)`` indices into ``population``, centre first.
    x
        One batch per cell, ``(cells, B, D)``, on the device to use.
    metric
        A key of :data:`~evoprune.losses.METRICS`.
    """
    n_cells, k = nb.shape
    inv: list[list[tuple[int, int]]] = [[] for _ in range(n_cells)]  # inv[d]: (cell, position of d there)
    for c, row in enumerate(nb.tolist()):
        for pos, d in enumerate(row):
            inv[d].append((c, pos))
    m = len(inv[0])
    if any(len(v) != m for v in inv):  # neighbourhoods not symmetric: score each cell on its own
        out = torch.empty(n_cells, k, k)
        for c, row in enumerate(nb.tolist()):
            out[c] = pairing_errors([population[j].encoder for j in row], [population[j].decoder for j in row], x[c],
                                    metric)
        return out
    dev = x.device
    specs = (population[0].encoder.spec, population[0].decoder.spec)
    backend = select_backend(specs, dev, metric).backend
    cells = torch.tensor([[c for c, _ in v] for v in inv], device=dev)  # (n, m)
    b, dim = x.shape[1], x.shape[2]
    enc = stack_halves([p.encoder for p in population], dev)
    z = backend.forward(specs[0], *enc, x[cells].reshape(n_cells, m * b, dim)).view(n_cells, m, b, -1)
    slot = torch.empty(n_cells, n_cells, dtype=torch.long)  # slot[d, c]: index of cell c in inv[d]
    for d, v in enumerate(inv):
        for s_, (c, _) in enumerate(v):
            slot[d, c] = s_
    nb_d, slot = nb.to(dev), slot.to(dev)
    lat = z[nb_d, slot[nb_d, torch.arange(n_cells, device=dev)[:, None]]]  # (n, k, B, L)
    dec = stack_halves([p.decoder for p in population], dev)
    sums = backend.decoder_errors(specs[1], *dec, lat[cells], x, cells, metric)  # targets x[cells], read in place
    err_d = _finite(sums.reshape(-1) / (b * dim)).view(n_cells, m, k)
    errors = torch.empty(n_cells, k, k)
    for d, v in enumerate(inv):
        for s_, (c, pos) in enumerate(v):
            errors[c, :, pos] = err_d[d, s_]
    return errors


def _checked(data, genomes: Sequence) -> torch.Tensor:
    return check_rows(data, genomes[0].arch.input_shape, "evaluation data")


def reconstruction_error(individual: AutoencoderGenome, data: torch.Tensor, metric: str = "l1") -> float:
    """Mean reconstruction error of ``individual`` on ``data`` (L1 by default); NaN becomes ``inf``.

    Parameters
    ----------
    individual
        The genome.
    data
        Evaluation data, ``(samples, input_dim)``.
    metric
        ``l1``, ``mse`` or ``bce``.
    """
    check_metric(metric)
    return float(reconstruction_errors([individual], _checked(data, [individual]), metric)[0])


def _evaluate_one(individual: AutoencoderGenome, data: torch.Tensor, metric: str = "l1") -> tuple[float]:
    """DEAP evaluation function: ``(reconstruction error,)``; a NaN loss gives the worst fitness.

    A :class:`~evoprune.util.operator.Batch` of genomes is evaluated in one pass (one tuple per member).

    Parameters
    ----------
    individual
        The genome.
    data
        Evaluation data, ``(samples, input_dim)``; evaluated on its device.
    metric
        ``l1``, ``mse`` or ``bce``.
    """
    return _evaluate_stack([individual], [None], data, metric)[0]


def _evaluate_stack(individuals: Sequence, rngs, data: torch.Tensor, metric: str = "l1") -> list[tuple[float]]:
    check_metric(metric)
    return [(e,) for e in reconstruction_errors(individuals, _checked(data, individuals), metric).tolist()]


evaluate = Operator(_evaluate_one, _evaluate_stack, "evaluate")


def _evaluate_tradeoff_one(individual: AutoencoderGenome, data: torch.Tensor,
                           metric: str = "l1") -> tuple[float, float]:
    """Two-objective DEAP evaluation: ``(reconstruction error, fraction kept)``, both to minimise.

    For e.g. :func:`deap.tools.selNSGA2` with weights ``(-1.0, -1.0)``; a ``Batch`` is evaluated in one pass.

    Parameters
    ----------
    individual
        The genome.
    data
        Evaluation data, ``(samples, input_dim)``.
    metric
        ``l1``, ``mse`` or ``bce``.
    """
    return _evaluate_tradeoff_stack([individual], [None], data, metric)[0]


def _evaluate_tradeoff_stack(individuals: Sequence, rngs, data: torch.Tensor, metric: str = "l1"):
    errors = _evaluate_stack(individuals, rngs, data, metric)
    return [(e, ind.fraction_kept) for (e,), ind in zip(errors, individuals, strict=True)]


evaluate_tradeoff = Operator(_evaluate_tradeoff_one, _evaluate_tradeoff_stack, "evaluate_tradeoff")
