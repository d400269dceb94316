"""The (test L1, fraction kept) trade-off of a run: Pareto fronts, hypervolume, L1 at matched sparsity.

A pruning run produces models along a trade-off: fewer parameters, usually a
higher error.  Comparing operators by their final model alone hides that (a
run that never prunes has the lowest loss).  Every generation the study runs
record the population's non-dominated ``(test L1, fraction kept)`` points
(:class:`TradeoffStatistics`, a DEAP statistics chapter); a run's trade-off is
the Pareto front of all of them, summarised by

* its **hypervolume** (DEAP's :func:`deap.benchmarks.tools.hypervolume`), the
  area it dominates up to the reference point ``(0.5, 1.0)``: test L1 0.5 is
  what a constant output of 0.5 scores at worst on data in [0, 1], and 1.0 is
  the unpruned model, so an unpruned run has hypervolume 0;
* its **L1 at matched sparsity** s: the lowest test L1 it reached with at
  most s of its parameters kept (the reference L1, 0.5, if it never got that
  sparse).

Both are compared between operators like the final numbers (Kruskal–Wallis,
Holm-corrected Mann–Whitney U, A12) in the study report.  The points are
measured on test data, so they describe what the run produced, not a model
chosen by it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import SimpleNamespace

import torch
from deap import base
from deap.benchmarks.tools import hypervolume as _deap_hypervolume

from .kernels import reconstruction_errors

#: Reference point (test L1, fraction kept) of the hypervolume.
REFERENCE = (0.5, 1.0)
#: Sparsity levels (fraction kept) at which runs are compared by default.
LEVELS = (0.5, 0.25)

Point = tuple[float, float]


class _FitnessMin2(base.Fitness):
    weights = (-1.0, -1.0)


def pareto_front(points: Iterable[Sequence[float]]) -> list[Point]:
    """Non-dominated points when minimising both coordinates, sorted by the first."""
    front: list[Point] = []
    for x, y in sorted((float(p[0]), float(p[1])) for p in points):
        if not front or y < front[-1][1]:
            front.append((x, y))
    return front


def hypervolume(points: Iterable[Sequence[float]], ref: Sequence[float] = REFERENCE) -> float:
    """Area dominated by ``(test L1, fraction kept)`` points up to ``ref`` (both minimised), by DEAP."""
    ref = (float(ref[0]), float(ref[1]))
    inside = [p for p in pareto_front(points) if p[0] < ref[0] and p[1] < ref[1]]
    if not inside:
        return 0.0
    front = [SimpleNamespace(fitness=_FitnessMin2(p)) for p in inside]
    return float(_deap_hypervolume(front, ref=list(ref)))


def l1_at_kept(points: Iterable[Sequence[float]], level: float, worst: float = REFERENCE[0]) -> float:
    """Lowest L1 among points with at most ``level`` of the parameters kept (``worst`` if there is none)."""
    return min((float(p[0]) for p in points if float(p[1]) <= level + 1e-12), default=float(worst))


def level_key(level: float) -> str:
    """Result column of the L1 at matched sparsity ``level``, e.g. ``l1_at_kept_0.25``."""
    return f"l1_at_kept_{level:g}"


def summarise(points: Iterable[Sequence[float]], ref: Sequence[float] = REFERENCE,
              levels: Sequence[float] = LEVELS) -> dict[str, float | list]:
    """``front``, ``hypervolume`` and ``l1_at_kept_<s>`` of a run's trade-off points."""
    front = pareto_front(points)
    out: dict[str, float | list] = {"front": [list(p) for p in front], "hypervolume": hypervolume(front, ref)}
    for s in levels:
        out[level_key(s)] = l1_at_kept(front, s, worst=ref[0])
    return out


def run_points(records: Iterable[dict], final: Point | None = None) -> list[Point]:
    """All trade-off points a run logged (``tradeoff_front`` per generation), plus its final model's point."""
    points = [tuple(p) for r in records for p in (r.get("tradeoff_front") or [])]
    if final is not None:
        points.append(final)
    return pareto_front(points)


class TradeoffStatistics:
    """A DEAP statistics chapter: the population's non-dominated (test L1, fraction kept) points.

    Add it to a :class:`deap.tools.MultiStatistics` (after registering the
    other chapters' functions) as ``stats["tradeoff"] = TradeoffStatistics(test)``;
    each record then has ``front``, a list of ``[test L1, fraction kept]``.
    Test errors of the whole population are computed in one batched pass;
    ``errors`` (a :class:`~evoprune.metrics.PopulationErrors`) shares them with
    another chapter of the same statistics.
    """

    fields = ["front"]

    def __init__(self, data: torch.Tensor, metric: str = "l1", errors=None) -> None:
        self.data, self.metric, self.errors = data, metric, errors

    def compile(self, population: Sequence) -> dict[str, list]:
        if self.errors is not None:
            errors = self.errors(population)
        else:
            errors = reconstruction_errors(list(population), self.data, self.metric).tolist()
        kept = [i.fraction_kept for i in population]
        return {"front": [list(p) for p in pareto_front(zip(errors, kept, strict=True))]}
