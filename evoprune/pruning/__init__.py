"""Pruning mutations (DEAP style: modify the individual in place, return a tuple).

One operator, :func:`.mutPrune`, applies any :class:`PruningMethod`; the methods are small subclasses that score
entries or neurons (:class:`Random`, :class:`Variance`, :class:`Conjunctive`, :class:`Magnitude`), and defining
one registers it in :data:`METHODS`.  A pruned entry's mask becomes ``False`` and its weight (and optimizer
moments) exactly zero.  Random choices come from ``rng``; activation statistics from ``data`` (never test data).
"""

from __future__ import annotations

from .base import (
    DEFAULT_P,
    MASKS,
    METHODS,
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
from .published import VARIANCE_STORES, ConjunctivePublished, VariancePublished, published_candidates

__all__ = ["DEFAULT_P", "MASKS", "METHODS", "SCOPES", "VARIANCE_STORES", "Conjunctive", "ConjunctivePublished",
           "Magnitude", "PruneStack", "PruningMethod", "Random", "Variance", "VariancePublished",
           "conjunctive_candidates", "get_method", "method_names", "mutPrune", "neuron_variance",
           "paper_probability", "published_candidates", "register_method", "unregister_method"]
