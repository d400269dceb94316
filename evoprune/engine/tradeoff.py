"""The (L1, fraction kept) trade-off of a run: Pareto fronts, hypervolume, L1 at matched sparsity.

Comparing pruning operators by their final model alone hides the trade-off (a run that never prunes has the
lowest loss).  Every generation the study runs record the population's non-dominated ``(validation L1, fraction
kept)`` points (:class:`TradeoffStatistics`); a run's trade-off is the Pareto front of all of them, summarised by

* its **hypervolume** up to the reference point ``(0.5, 1.0)``: L1 0.5 is what a constant output of 0.5 scores
  at worst on data in [0, 1], and 1.0 is the unpruned model, so an unpruned run has hypervolume 0;
* its **L1 at matched sparsity** s: the lowest validation L1 it reached with at most s of its parameters kept
  (0.5 if it never got that sparse), and ``test_l1_at_kept_<s>``, the test L1 of that same model.

**No quantity that ranks or selects models reads test data**: the front, the hypervolume and the model chosen
at each sparsity come from validation errors; test L1 (``front_test``) is recorded only to report them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import SimpleNamespace

import torch
from deap import base
from deap.benchmarks.tools import hypervolume as _deap_hypervolume

from ..evaluation import reconstruction_errors

__all__ = [
    "REFERENCE",
    "LEVELS",
    "pareto_front",
    "hypervolume",
    "l1_at_kept",
    "run_points",
    "summarise",
    "TradeoffStatistics",
]

#: Reference point (L1, fraction kept) of the hypervolume.
REFERENCE = (0.5, 1.0)
#: Sparsity levels (fraction kept) at which runs are compared by default.
LEVELS = (0.5, 0.25)

Point = tuple[float, ...]


class _FitnessMin2(base.Fitness):
    weights = (-1.0, -1.0)


def pareto_front(points: Iterable[Sequence[float]]) -> list[Point]:
    """Non-dominated points by the first two coordinates (minimised; others carried along), sorted by the first."""
    front: list[Point] = []
    for p in sorted((tuple(float(v) for v in p) for p in points), key=lambda p: (p[0], p[1])):
        if not front or p[1] < front[-1][1]:
            front.append(p)
    return front


def hypervolume(points: Iterable[Sequence[float]], ref: Sequence[float] = REFERENCE) -> float:
    """Area dominated by ``(L1, fraction kept)`` points up to ``ref`` (both minimised), by DEAP."""
    ref = (float(ref[0]), float(ref[1]))
    inside = [p[:2] for p in pareto_front(points) if p[0] < ref[0] and p[1] < ref[1]]
    if not inside:
        return 0.0
    front = [SimpleNamespace(fitness=_FitnessMin2(p)) for p in inside]
    return float(_deap_hypervolume(front, ref=list(ref)))


def _at_kept(points: Iterable[Sequence[float]], level: float) -> Point | None:
    sparse = [tuple(float(v) for v in p) for p in points if float(p[1]) <= level + 1e-12]
    return min(sparse, key=lambda p: (p[0], p[1])) if sparse else None


def l1_at_kept(points: Iterable[Sequence[float]], level: float, worst: float = REFERENCE[0]) -> float:
    """Lowest L1 among points with at most ``level`` of the parameters kept (``worst`` if there is none)."""
    best = _at_kept(points, level)
    return float(worst) if best is None else best[0]


def level_key(level: float, prefix: str = "") -> str:
    """Result column of the L1 at matched sparsity ``level``, e.g. ``l1_at_kept_0.25``."""
    return f"{prefix}l1_at_kept_{level:g}"


def summarise(points: Iterable[Sequence[float]], ref: Sequence[float] = REFERENCE,
              levels: Sequence[float] = LEVELS) -> dict[str, float | list]:
    """``front``, ``hypervolume``, ``l1_at_kept_<s>`` (and, with test L1 points, their test columns) of points."""
    front = pareto_front(points)
    out: dict[str, float | list] = {"front": [list(p[:2]) for p in front], "hypervolume": hypervolume(front, ref)}
    with_test = bool(front) and all(len(p) > 2 for p in front)
    if with_test:
        out["front_test"] = [p[2] for p in front]
    for s in levels:
        out[level_key(s)] = l1_at_kept(front, s, worst=ref[0])
        if with_test:
            chosen = _at_kept(front, s)
            out[level_key(s, "test_")] = float(ref[0]) if chosen is None else chosen[2]
    return out


def run_points(records: Iterable[dict], final: Sequence[float] | None = None) -> list[Point]:
    """The front of all trade-off points a run logged (test L1 as a third coordinate), plus its final model's."""
    points: list[Point] = []
    for r in records:
        front, test = r.get("tradeoff_front") or [], r.get("tradeoff_front_test")
        if test is not None and len(test) == len(front):
            points += [(*p, t) for p, t in zip(front, test, strict=True)]
        else:
            points += [tuple(p) for p in front]
    if final is not None:
        points.append(tuple(final))
    if points and len({len(p) for p in points}) > 1:  # mixed records (an old log): drop the test coordinate
        points = [p[:2] for p in points]
    return pareto_front(points)


class TradeoffStatistics:
    """A DEAP statistics chapter (``stats["tradeoff"] = TradeoffStatistics(validation, test=test)``): the
    population's non-dominated ``front`` of ``[L1 on data, fraction kept]``, and its ``front_test``."""

    fields = ["front", "front_test"]

    def __init__(self, data: torch.Tensor, metric: str = "l1", errors=None, test: torch.Tensor | None = None,
                 test_errors=None) -> None:
        self.data, self.metric, self.errors = data, metric, errors
        self.test, self.test_errors = test, test_errors

    def compile(self, population: Sequence) -> dict[str, list]:
        """The record of ``population``: ``front`` and, with test data, ``front_test``."""
        population = list(population)
        if self.errors is not None:
            errors = self.errors(population)
        else:
            errors = reconstruction_errors(population, self.data, self.metric).tolist()
        points = [(e, i.fraction_kept, k) for k, (e, i) in enumerate(zip(errors, population, strict=True))]
        front = pareto_front(points)
        out: dict[str, list] = {"front": [list(p[:2]) for p in front]}
        if self.test is not None or self.test_errors is not None:
            chosen = [population[int(p[2])] for p in front]
            if self.test_errors is not None:
                all_test = self.test_errors(population)
                out["front_test"] = [float(all_test[int(p[2])]) for p in front]
            else:
                out["front_test"] = reconstruction_errors(chosen, self.test, self.metric).tolist()
        return out
