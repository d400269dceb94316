"""Fitness evaluation: reconstruction error of genomes.

The DEAP evaluation functions :func:`evaluate` and :func:`evaluate_tradeoff`
carry a ``.batch`` form that the engine calls once over a whole stack of
genomes (see :mod:`evoprune.variation`); the math lives in :mod:`evoprune.kernels`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .genome import AutoencoderGenome
from .kernels import WORST, check_metric, reconstruction_errors
from .layers import check_rows

__all__ = ["WORST", "evaluate", "evaluate_tradeoff", "reconstruction_error"]


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


def evaluate(individual: AutoencoderGenome, data: torch.Tensor, metric: str = "l1") -> tuple[float]:
    """DEAP evaluation function: ``(reconstruction error,)``; a NaN loss gives the worst fitness.

    Parameters
    ----------
    individual
        The genome.
    data
        Evaluation data, ``(samples, input_dim)``; evaluated on its device.
    metric
        ``l1``, ``mse`` or ``bce``.
    """
    return evaluate.batch([individual], data, metric)[0]


def _evaluate_batch(individuals: Sequence, data: torch.Tensor, metric: str = "l1") -> list[tuple[float]]:
    """:func:`evaluate` over a stack of genomes in one batched pass on ``data``'s device."""
    check_metric(metric)
    return [(e,) for e in reconstruction_errors(individuals, _checked(data, individuals), metric).tolist()]


evaluate.batch = _evaluate_batch


def evaluate_tradeoff(individual: AutoencoderGenome, data: torch.Tensor, metric: str = "l1") -> tuple[float, float]:
    """Two-objective DEAP evaluation: ``(reconstruction error, fraction kept)``, both to minimise.

    For multi-objective selection such as :func:`deap.tools.selNSGA2` (with a
    fitness of weights ``(-1.0, -1.0)``).

    Parameters
    ----------
    individual
        The genome.
    data
        Evaluation data, ``(samples, input_dim)``.
    metric
        ``l1``, ``mse`` or ``bce``.
    """
    return evaluate_tradeoff.batch([individual], data, metric)[0]


def _evaluate_tradeoff_batch(individuals: Sequence, data: torch.Tensor, metric: str = "l1"):
    errors = _evaluate_batch(individuals, data, metric)
    return [(e, ind.fraction_kept) for (e,), ind in zip(errors, individuals, strict=True)]


evaluate_tradeoff.batch = _evaluate_tradeoff_batch
