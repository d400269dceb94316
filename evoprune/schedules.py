"""Pruning schedules: the probability that the pruning mutation fires at generation t of T.

``p`` is the base probability and ``n`` the size of the subpopulation the
individual was selected from (μ in the canonical loop, the neighbourhood size
on a grid).  Generations count from 1 to T.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from .util.validation import check_choice, check_probability

__all__ = [
    "Schedule",
    "SCHEDULES",
    "get_schedule",
    "fixed",
    "increase",
    "decrease",
    "decrease_published",
    "exponential",
    "final_n",
    "population",
    "prune_after",
    "PublishedClock",
]


def fixed(p: float, t: int, T: int, n: int = 1, n_frac: float = 0.25) -> float:
    """``p`` at every generation.

    Parameters
    ----------
    p
        Base probability.
    t
        Generation, from 1 to ``T``.
    T
        Number of generations.
    n
        Size of the subpopulation the individual was selected from.
    n_frac
        Final share of the run in which ``final_n`` fires.

    Returns
    -------
    float
        The probability that the pruning mutation fires.
    """
    return p


def increase(p: float, t: int, T: int, n: int = 1, n_frac: float = 0.25) -> float:
    """``p·t/T``: rises linearly to ``p``.

    Parameters
    ----------
    p
        Base probability.
    t
        Generation, from 1 to ``T``.
    T
        Number of generations.
    n
        Size of the subpopulation the individual was selected from.
    n_frac
        Final share of the run in which ``final_n`` fires.

    Returns
    -------
    float
        The probability that the pruning mutation fires.
    """
    return p * t / T


def decrease(p: float, t: int, T: int, n: int = 1, n_frac: float = 0.25) -> float:
    """``p·(1 - t/T)``: falls linearly from ``p`` to 0.

    Parameters
    ----------
    p
        Base probability.
    t
        Generation, from 1 to ``T``.
    T
        Number of generations.
    n
        Size of the subpopulation the individual was selected from.
    n_frac
        Final share of the run in which ``final_n`` fires.

    Returns
    -------
    float
        The probability that the pruning mutation fires.
    """
    return p * (1 - t / T)


def decrease_published(p: float, t: int, T: int, n: int = 1, n_frac: float = 0.25) -> float:
    """The published code's ``1 - p·t/T`` (starts at probability 1); for reproducing it only.

    Parameters
    ----------
    p
        Base probability.
    t
        Generation, from 1 to ``T``.
    T
        Number of generations.
    n
        Size of the subpopulation the individual was selected from.
    n_frac
        Final share of the run in which ``final_n`` fires.

    Returns
    -------
    float
        The probability that the pruning mutation fires.
    """
    return 1 - p * t / T


def exponential(p: float, t: int, T: int, n: int = 1, n_frac: float = 0.25) -> float:
    """``p·(1 - exp(-2t/T))``: rises quickly, then levels off below ``p``.

    Parameters
    ----------
    p
        Base probability.
    t
        Generation, from 1 to ``T``.
    T
        Number of generations.
    n
        Size of the subpopulation the individual was selected from.
    n_frac
        Final share of the run in which ``final_n`` fires.

    Returns
    -------
    float
        The probability that the pruning mutation fires.
    """
    return p * (1 - math.exp(-2 * t / T))


def final_n(p: float, t: int, T: int, n: int = 1, n_frac: float = 0.25) -> float:
    """``p`` in the last ``n_frac`` of the run, 0 before.

    Parameters
    ----------
    p
        Base probability.
    t
        Generation, from 1 to ``T``.
    T
        Number of generations.
    n
        Size of the subpopulation the individual was selected from.
    n_frac
        Final share of the run in which ``final_n`` fires.

    Returns
    -------
    float
        The probability that the pruning mutation fires.
    """
    return p if t >= (1 - n_frac) * T else 0.0


def population(p: float, t: int, T: int, n: int = 1, n_frac: float = 0.25) -> float:
    """``p·t/(T·n)``: :func:`increase` shared over a subpopulation of ``n``.

    Parameters
    ----------
    p
        Base probability.
    t
        Generation, from 1 to ``T``.
    T
        Number of generations.
    n
        Size of the subpopulation the individual was selected from.
    n_frac
        Final share of the run in which ``final_n`` fires.

    Returns
    -------
    float
        The probability that the pruning mutation fires.
    """
    return p * t / (T * n)


def prune_after(p: float, t: int, T: int, n: int = 1, n_frac: float = 0.25) -> float:
    """``p`` at the last generation only (prune once training is done).

    Parameters
    ----------
    p
        Base probability.
    t
        Generation, from 1 to ``T``.
    T
        Number of generations.
    n
        Size of the subpopulation the individual was selected from.
    n_frac
        Final share of the run in which ``final_n`` fires.

    Returns
    -------
    float
        The probability that the pruning mutation fires.
    """
    return p if t >= T else 0.0


#: Schedule functions by name; ``decrease_published`` is the published variant, not one of the seven.
#:
#: :meta hide-value:
SCHEDULES: dict[str, Callable[..., float]] = {
    "fixed": fixed,
    "increase": increase,
    "decrease": decrease,
    "exponential": exponential,
    "final_n": final_n,
    "population": population,
    "prune_after": prune_after,
    "decrease_published": decrease_published,
}


@dataclass(frozen=True)
class Schedule:
    """A named schedule with its base probability; call it as ``schedule(t, T, n)``.

    >>> Schedule("exponential", 0.5)(t=50, T=100)   # doctest: +ELLIPSIS
    0.316...

    Parameters
    ----------
    name
        A key of :data:`SCHEDULES`.
    p
        Base probability.
    n_frac
        Final share of the run for ``final_n``.
    """

    name: str
    p: float = 0.5
    n_frac: float = 0.25

    def __post_init__(self) -> None:
        check_choice("schedule", self.name, SCHEDULES)
        check_probability("schedule probability p", self.p)
        check_probability("n_frac", self.n_frac)

    def __call__(self, t: int, T: int, n: int = 1) -> float:
        if T < 1 or not 0 <= t <= T:
            raise ValueError(f"need 0 <= t <= T and T >= 1, got t={t}, T={T}")
        if n < 1:
            raise ValueError(f"subpopulation size n must be >= 1, got {n}")
        return min(1.0, max(0.0, SCHEDULES[self.name](self.p, t, T, n, self.n_frac)))


@dataclass(frozen=True)
class PublishedClock:
    """``schedule`` on the published code's clock: generation t (1..T) is its t - 1, and the schedules divide
    by T in canonical training (``canonical_ae_training.py``: ``final_epoch = epochs``) and by T - 1 in the
    coevolution (``lipi_ae_update_only_selected.py``: ``last_iteration = epochs - 1``); so ``prune_after``
    never fires in canonical training, and ``decrease_published`` starts at probability 1.

    Parameters
    ----------
    schedule
        The schedule.
    last
        ``"T"`` (canonical) or ``"T-1"`` (coevolution): the denominator.
    """

    schedule: Schedule
    last: str = "T"

    def __post_init__(self) -> None:
        check_choice("published clock's last generation", self.last, ("T", "T-1"))

    def __call__(self, t: int, T: int, n: int = 1) -> float:
        return self.schedule(t - 1, T if self.last == "T" else T - 1, n)


def get_schedule(name: str, p: float = 0.5, n_frac: float = 0.25) -> Schedule:
    """Look a schedule up by name; unknown names raise a ValueError listing the valid ones.

    Parameters
    ----------
    name
        A key of :data:`SCHEDULES`.
    p
        Base probability.
    n_frac
        Final share of the run for ``final_n``.
    """
    return Schedule(name, p, n_frac)
