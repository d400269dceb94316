"""Operators with a stacked form: one object that varies one individual, or a whole stack at once.

``mutTrain``, ``mutPrune``, ``evaluate`` and ``evaluate_tradeoff`` are :class:`Operator` objects.  Called on an
individual they act as DEAP operators; called on a :class:`Batch` (members and one generator each) they act on
the whole stack in one pass and return one result per member.  The engine calls a registered operator
(``toolbox.register("train", mutTrain, data=X)``) with a :class:`Batch`, so its registered keywords apply too.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Batch", "Operator", "is_batched"]


@dataclass
class Batch:
    """Members of a stack, and one NumPy generator per member (``None`` for operators that draw nothing)."""

    members: list
    rngs: Sequence[np.random.Generator] | None = None

    def __post_init__(self) -> None:
        self.members = list(self.members)
        if self.rngs is not None and len(self.rngs) != len(self.members):
            raise ValueError(f"a batch needs one generator per member, got {len(self.members)} members and "
                             f"{len(self.rngs)} generators")


class Operator:
    """``op(individual, ...)`` calls ``one``, ``op(Batch(members, rngs), ...)`` calls ``stacked(members, rngs, ...)``.

    Both must be module-level functions: the operator pickles by its name.
    """

    def __init__(self, one: Callable, stacked: Callable, name: str) -> None:
        self.one, self.stacked, self.batched = one, stacked, True
        self.__name__ = self.__qualname__ = name
        self.__module__, self.__doc__ = one.__module__, one.__doc__
        self.__signature__ = inspect.signature(one)

    def __call__(self, individual: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(individual, Batch):
            rngs = individual.rngs if individual.rngs is not None else [None] * len(individual.members)
            return self.stacked(individual.members, rngs, *args, **kwargs)
        return self.one(individual, *args, **kwargs)

    def __reduce__(self) -> str:
        return self.__qualname__

    def __repr__(self) -> str:
        return f"<operator {self.__module__}.{self.__name__}>"


def is_batched(op: Callable | None) -> bool:
    """Whether a (registered) operator takes a :class:`Batch` (DEAP's ``register`` keeps the flag)."""
    return bool(getattr(op, "batched", False))
