"""Fitness evaluation: reconstruction error of genomes and of encoder×decoder pairings."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .data import check_data
from .genome import AutoencoderGenome, Half
from .training import LOSSES, _stack, stacked_forward
from .validation import check_choice

#: Fitness given to a genome whose loss is NaN or infinite (worst for minimisation).
WORST = math.inf


def _finite(value: float) -> float:
    return value if math.isfinite(value) else WORST


@torch.no_grad()
def reconstruction_error(individual: AutoencoderGenome, data: torch.Tensor, metric: str = "l1") -> float:
    """Mean reconstruction error of ``individual`` on ``data`` (L1 by default); NaN becomes ``inf``."""
    check_choice("metric", metric, LOSSES)
    data = check_data(data, "evaluation data", dim=individual.arch.input_dim)
    out = individual.reconstruct(data)
    return _finite(float(LOSSES[metric](out.unsqueeze(0), data.unsqueeze(0))[0]))


def evaluate(individual: AutoencoderGenome, data: torch.Tensor, metric: str = "l1") -> tuple[float]:
    """DEAP evaluation function: ``(reconstruction error,)``; a NaN loss gives the worst fitness."""
    return (reconstruction_error(individual, data, metric),)


def evaluate_tradeoff(individual: AutoencoderGenome, data: torch.Tensor, metric: str = "l1") -> tuple[float, float]:
    """Two-objective DEAP evaluation: ``(reconstruction error, fraction kept)``, both to minimise.

    For multi-objective selection such as :func:`deap.tools.selNSGA2` (with a
    fitness of weights ``(-1.0, -1.0)``).
    """
    return (reconstruction_error(individual, data, metric), individual.fraction_kept)


@torch.no_grad()
def pairing_errors(
    encoders: Sequence[Half], decoders: Sequence[Half], data: torch.Tensor, metric: str = "l1"
) -> torch.Tensor:
    """Error of every encoder×decoder pairing on ``data``: a ``(len(encoders), len(decoders))`` matrix.

    All encoders run as one batched computation, then all pairings as another.
    """
    check_choice("metric", metric, LOSSES)
    ne, nd = len(encoders), len(decoders)
    enc_spec, dec_spec = encoders[0].spec, decoders[0].spec
    data = check_data(data, "evaluation data", dim=enc_spec.sizes[0])
    x = data.unsqueeze(0).expand(ne, -1, -1)
    z = stacked_forward(enc_spec, _stack(encoders, "params"), _stack(encoders, "masks"), x)  # (ne, B, latent)
    dp, dm = _stack(decoders, "params"), _stack(decoders, "masks")
    dp = [p.repeat(ne, *([1] * (p.dim() - 1))) for p in dp]
    dm = [m.repeat(ne, *([1] * (m.dim() - 1))) for m in dm]
    zz = z.repeat_interleave(nd, 0)  # pairing (i, j) at row i*nd + j
    out = stacked_forward(dec_spec, dp, dm, zz)
    err = LOSSES[metric](out, data.unsqueeze(0).expand(ne * nd, -1, -1)).view(ne, nd)
    return torch.nan_to_num(err, nan=WORST, posinf=WORST)
