"""The pruning mutation as a DEAP operator: :func:`mutPrune` and its stacked form."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..rng import RNGLike, as_generator
from ..util.operator import Operator
from .base import PruningMethod, get_method

__all__ = ["mutPrune"]


def _prune_one(individual, method: str | PruningMethod = "random", data: torch.Tensor | None = None,
             rng: RNGLike = None, masks: str = "permanent", **params: Any):
    """Prune ``individual`` in place with ``method``; ``(individual,)``, its fitness invalidated.

    Register it as ``toolbox.register("prune", mutPrune, method=Variance(amount=0.2), data=X)``; the engine
    then calls it once with a :class:`~evoprune.util.operator.Batch` of the members to prune.

    Parameters
    ----------
    individual
        The genome to prune (modified in place).
    method
        A registered name or a :class:`PruningMethod` instance.
    data
        Training rows (never test rows) for methods with ``needs_data``.
    rng
        Seed or NumPy generator.
    masks
        ``"permanent"`` (pruned weights stay 0), or ``"transient"``: weights are zeroed but may regrow, as
        in the published code (see :data:`~evoprune.pruning.MASKS`).
    params
        Hyper-parameters when ``method`` is a name.
    """
    return get_method(method, **params).prune([individual], [as_generator(rng)], data, masks)[0]


def _prune_batch(individuals: Sequence, rngs: Sequence[np.random.Generator], method: str | PruningMethod = "random",
                 data: torch.Tensor | None = None, masks: str = "permanent", **params: Any) -> list:
    """:func:`mutPrune` over a stack (member i draws from ``rngs[i]``); gives what N single calls give."""
    return get_method(method, **params).prune(individuals, rngs, data, masks)


mutPrune = Operator(_prune_one, _prune_batch, "mutPrune")
