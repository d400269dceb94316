"""Pruning mutations (DEAP style: modify the individual in place, return a tuple).

One operator, :func:`mutPrune`, applies any :class:`PruningMethod`; the
methods are small subclasses that score entries or neurons
(:class:`Random`, :class:`Variance`, :class:`Conjunctive`, :class:`Magnitude`), and defining one registers it in
:data:`METHODS`.  Every method prunes among the *currently unpruned* entries
and makes its choices permanent through :meth:`Half.prune_entries
<evoprune.half.Half.prune_entries>`: the mask entry becomes ``False`` and
the weight (and its optimizer moments) exactly zero.  Random choices come from
the ``rng`` argument; activation statistics come from ``data`` (training data,
never test data).

The ``mutPruneX`` functions are thin aliases kept for existing code.
"""

from __future__ import annotations

import torch

from ..genome import AutoencoderGenome
from ..rng import RNGLike
from .base import (
    DEFAULT_P,
    METHODS,
    NEEDS_DATA,
    SCOPES,
    PruneStack,
    PruningMethod,
    get_method,
    method_names,
    paper_probability,
    register_method,
    unregister_method,
)
from .methods import Conjunctive, Magnitude, Random, Variance, conjunctive_candidates, neuron_variance
from .operator import mutPrune

#: The registry under its historical name (the same dict as :data:`METHODS`: name → method class).
PRUNERS = METHODS

__all__ = ["DEFAULT_P", "METHODS", "NEEDS_DATA", "PRUNERS", "SCOPES", "Conjunctive", "Magnitude", "PruneStack",
           "PruningMethod", "Random", "Variance", "conjunctive_candidates", "get_method", "method_names", "mutPrune",
           "mutPruneConjunctive", "mutPruneMagnitude", "mutPruneRandom", "mutPruneVariance", "neuron_variance",
           "paper_probability", "register_method", "unregister_method"]


def mutPruneRandom(individual: AutoencoderGenome, amount: float = 0.1, rng: RNGLike = None):
    """RANDOM (alias of ``mutPrune(individual, Random(amount), rng=rng)``).

    Parameters
    ----------
    individual
        The genome to prune (in place).
    amount
        Fraction of each tensor's unpruned entries to prune.
    rng
        Seed or NumPy generator.
    """
    return mutPrune(individual, Random(amount), rng=rng)


def mutPruneMagnitude(individual: AutoencoderGenome, amount: float = 0.1, scope: str = "global", rng: RNGLike = None):
    """Magnitude baseline (alias of ``mutPrune(individual, Magnitude(amount, scope))``; ``rng`` is not used).

    Parameters
    ----------
    individual
        The genome to prune (in place).
    amount
        Fraction of the unpruned weights to prune.
    scope
        ``"global"`` or ``"layer"``.
    rng
        Not used.
    """
    return mutPrune(individual, Magnitude(amount, scope), rng=rng)


def mutPruneVariance(individual: AutoencoderGenome, data: torch.Tensor, amount: float = 0.1, n_cases: int = 100,
                     floor: float = 1e-3, rng: RNGLike = None):
    """VARIANCE (alias of ``mutPrune(individual, Variance(amount, n_cases=..., floor=...), data, rng)``).

    Parameters
    ----------
    individual
        The genome to prune (in place).
    data
        Training data.
    amount
        Fraction of each tensor's unpruned entries to prune.
    n_cases
        Rows the variances are measured on.
    floor
        Added to every draw weight.
    rng
        Seed or NumPy generator.
    """
    return mutPrune(individual, Variance(amount, n_cases=n_cases, floor=floor), data=data, rng=rng)


def mutPruneConjunctive(individual: AutoencoderGenome, data: torch.Tensor, n_cases: int = 100,
                        threshold: float = 0.1, rng: RNGLike = None):
    """CONJUNCTIVE (alias of ``mutPrune(individual, Conjunctive(threshold, n_cases), data, rng)``).

    Parameters
    ----------
    individual
        The genome to prune (in place).
    data
        Training data.
    n_cases
        Rows checked.
    threshold
        Normalised activation below which a neuron counts as inactive.
    rng
        Seed or NumPy generator.
    """
    return mutPrune(individual, Conjunctive(threshold, n_cases), data=data, rng=rng)
