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

:class:`GradualSparsity` is another kind of schedule: the sparsity of gradual magnitude pruning (Zhu and Gupta
2017) at each generation, which the ``gradual`` setting (:mod:`evoprune.runs.gradual`) prunes to exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from .util.validation import check_choice, check_probability

__all__ = ["SCHEDULES", "GradualSparsity", "PublishedClock", "Schedule", "get_schedule"]


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


@dataclass(frozen=True)
class GradualSparsity:
    """Gradual pruning's sparsity schedule (Zhu and Gupta, "To prune, or not to prune", 2017).

    At the pruning steps ``t = t0, t0 + Δt, ..., t0 + nΔt`` (``t0 = prune_start``, ``t0 + nΔt = prune_end``,
    ``Δt = prune_every``, in generations), the network is pruned to the sparsity

    ``s_t = s_f + (s_i - s_f) (1 - (t - t0) / (nΔt))³``

    (``s_i = initial_sparsity``, ``s_f = target_sparsity``): fast at first, slower as fewer weights are left.
    Between steps the sparsity holds; before ``t0`` nothing is pruned, after ``prune_end`` it stays ``s_f``.

    >>> s = GradualSparsity(0.9, prune_start=1, prune_end=11, prune_every=2)
    >>> [round(s(t), 4) for t in s.steps]
    [0.0, 0.4392, 0.7056, 0.8424, 0.8928, 0.9]

    Parameters
    ----------
    target_sparsity
        ``s_f``, in (0, 1).
    initial_sparsity
        ``s_i``, in [0, ``s_f``).
    prune_start
        ``t0``, the first pruning step (a generation >= 1).
    prune_end
        ``t0 + nΔt``, the last pruning step (> ``prune_start``).
    prune_every
        ``Δt``, generations between pruning steps; ``prune_end - prune_start`` must be a multiple of it.
    """

    target_sparsity: float
    initial_sparsity: float = 0.0
    prune_start: int = 1
    prune_end: int = 2
    prune_every: int = 1

    def __post_init__(self) -> None:
        for name in ("target_sparsity", "initial_sparsity", "prune_start", "prune_end", "prune_every"):
            check_gradual(name, getattr(self, name))
        if self.initial_sparsity >= self.target_sparsity:
            raise ValueError(f"initial_sparsity must be below target_sparsity ({self.target_sparsity!r}), got "
                             f"{self.initial_sparsity!r}")
        if self.prune_end <= self.prune_start:
            raise ValueError(f"prune_end must be after prune_start ({self.prune_start}), got {self.prune_end}")
        if (self.prune_end - self.prune_start) % self.prune_every:
            raise ValueError(f"prune_every must divide prune_end - prune_start ({self.prune_end} - "
                             f"{self.prune_start}), got {self.prune_every}")

    @property
    def steps(self) -> range:
        """The pruning steps ``t0, t0 + Δt, ..., t0 + nΔt``."""
        return range(self.prune_start, self.prune_end + 1, self.prune_every)

    def prunes_at(self, t: int) -> bool:
        """Whether generation ``t`` is a pruning step.

        Parameters
        ----------
        t
            The generation.
        """
        return self.prune_start <= t <= self.prune_end and (t - self.prune_start) % self.prune_every == 0

    def __call__(self, t: int) -> float:
        """The scheduled sparsity at generation ``t`` (0 before ``prune_start``, ``s_f`` after ``prune_end``)."""
        if t < self.prune_start:
            return 0.0
        done = (min(t, self.prune_end) - self.prune_start) / (self.prune_end - self.prune_start)
        return self.target_sparsity + (self.initial_sparsity - self.target_sparsity) * (1 - done) ** 3


def check_gradual(name: str, value) -> None:
    """Refuse a bad value of the :class:`GradualSparsity` parameter ``name`` alone (a ValueError naming it)."""
    if name in ("target_sparsity", "initial_sparsity"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not (
                0 < value < 1 if name == "target_sparsity" else 0 <= value < 1):
            raise ValueError(f"{name} must be a number in {'(0, 1)' if name == 'target_sparsity' else '[0, 1)'}, "
                             f"got {value!r}")
    elif name in ("prune_start", "prune_end", "prune_every"):
        low = 2 if name == "prune_end" else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    else:
        raise ValueError(f"GradualSparsity has no parameter {name!r}")
