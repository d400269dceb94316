"""Pruning schedules: the probability that the pruning mutation fires at generation t of T.

``p`` is the base probability and ``n`` the size of the subpopulation the individual was selected from (μ in
the canonical loop, the neighbourhood size on a grid).  Generations count from 1 to T.

================== ==========================================================================
name               probability at generation t of T
================== ==========================================================================
fixed              ``p``
increase           ``p·t/T``
decrease           ``p·(1 − t/T)``
exponential        ``p·(1 − exp(−2t/T))``
final_n            ``p`` when ``t ≥ (1 − n_frac)·T``, else 0 (``n_frac`` = 0.25)
population         ``p·t/(T·n)``
prune_after        ``p`` at the last generation only
decrease_published ``1 − p·t/T``: the published code's ``decrease``, which starts at 1 (to reproduce it only)
================== ==========================================================================

:class:`PublishedClock` runs a schedule on the published code's clock (t from 0; T − 1 on the grid).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from .util.validation import check_choice, check_probability

__all__ = ["SCHEDULES", "PublishedClock", "Schedule", "get_schedule"]


def _fixed(p: float, t: int, T: int, n: int, n_frac: float) -> float:
    return p


def _increase(p: float, t: int, T: int, n: int, n_frac: float) -> float:
    return p * t / T


def _decrease(p: float, t: int, T: int, n: int, n_frac: float) -> float:
    return p * (1 - t / T)


def _decrease_published(p: float, t: int, T: int, n: int, n_frac: float) -> float:
    return 1 - p * t / T


def _exponential(p: float, t: int, T: int, n: int, n_frac: float) -> float:
    return p * (1 - math.exp(-2 * t / T))


def _final_n(p: float, t: int, T: int, n: int, n_frac: float) -> float:
    return p if t >= (1 - n_frac) * T else 0.0


def _population(p: float, t: int, T: int, n: int, n_frac: float) -> float:
    return p * t / (T * n)


def _prune_after(p: float, t: int, T: int, n: int, n_frac: float) -> float:
    return p if t >= T else 0.0


#: Schedule functions ``f(p, t, T, n, n_frac)`` by name (the table above).
#:
#: :meta hide-value:
SCHEDULES: dict[str, Callable[..., float]] = {
    "fixed": _fixed,
    "increase": _increase,
    "decrease": _decrease,
    "exponential": _exponential,
    "final_n": _final_n,
    "population": _population,
    "prune_after": _prune_after,
    "decrease_published": _decrease_published,
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
