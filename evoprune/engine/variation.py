"""The variation step, written once, over a stack of genomes; and the ask/tell driver of the algorithms.

Every algorithm of evoprune ((μ+λ), (μ,λ), NSGA-II selection, the toroidal
grid in both update modes) produces offspring and hands them to
:func:`vary`, which applies, per member::

    with probability schedule(t, T, n): prune(child)        # if prune_first
    train(child)                                            # one epoch, loss=loss(t, T) and
                                                            # lr_scale=lr_schedule(t, T) if registered
    mutate(child)                                           # learning-rate mutation
    with probability schedule(t, T, n): prune(child)        # if not prune_first
    child.fitness.values = evaluate(child)

Each member draws from its own :class:`numpy.random.Generator`, in that order, so its decisions do not depend on
what else is in the stack.  An :class:`~evoprune.util.operator.Operator` (``mutTrain``, ``mutPrune``,
``evaluate``, ``evaluate_tradeoff``) is called once with a :class:`~evoprune.util.operator.Batch` of the whole
stack; any other operator member by member.  A member's ``pruned`` attribute says whether this step pruned it.

The algorithms are generators (ask/tell): they yield a :class:`VaryRequest` and receive the varied offspring;
:func:`lockstep` drives several (independent trials) as one stack.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from ..training import train_kwargs
from ..util.operator import Batch, is_batched

__all__ = ["Operators", "VaryRequest", "vary", "vary_stack", "lockstep", "run_steps", "evaluate_all"]


@dataclass
class Operators:
    """The variation operators of a toolbox (picklable, so a stack can be varied in another process)."""

    train: Callable
    evaluate: Callable
    mutate: Callable | None = None
    prune: Callable | None = None
    schedule: Callable | None = None
    loss: Callable | None = None
    prune_first: bool = False
    lr_schedule: Callable | None = None

    @classmethod
    def from_toolbox(cls, toolbox, prune_first: bool = False) -> Operators:
        """The operators registered on ``toolbox`` (``train``, ``evaluate``; ``prune`` needs ``schedule``)."""
        if not hasattr(toolbox, "train") or not hasattr(toolbox, "evaluate"):
            raise ValueError("the toolbox needs 'train' and 'evaluate' registered")
        if hasattr(toolbox, "prune") != hasattr(toolbox, "schedule"):
            raise ValueError("register both 'prune' and 'schedule' (or neither) on the toolbox")
        if not isinstance(prune_first, bool):
            raise ValueError(f"prune_first must be True or False, got {prune_first!r}")
        return cls(toolbox.train, toolbox.evaluate, getattr(toolbox, "mutate", None), getattr(toolbox, "prune", None),
                   getattr(toolbox, "schedule", None), getattr(toolbox, "loss", None), prune_first,
                   getattr(toolbox, "lr_schedule", None))


def evaluate_all(individuals: Sequence, evaluate: Callable, map_: Callable = map) -> None:
    """Set the fitness of ``individuals``: one batched call if ``evaluate`` has a batch form, else through ``map_``."""
    if not individuals:
        return
    fits = evaluate(Batch(individuals)) if is_batched(evaluate) else list(map_(evaluate, individuals))
    for ind, fit in zip(individuals, fits, strict=True):
        ind.fitness.values = fit


def _scheduled_prune(ops: Operators, individuals, rngs, gen: int, ngen: int, sizes) -> None:
    if ops.prune is None:
        return
    fire = [g.random() < ops.schedule(gen, ngen, n) for g, n in zip(rngs, sizes, strict=True)]
    chosen = [(ind, g) for ind, g, f in zip(individuals, rngs, fire, strict=True) if f]
    if is_batched(ops.prune) and chosen:  # one call over the members to prune (each still draws from its own rng)
        ops.prune(Batch([ind for ind, _ in chosen], [g for _, g in chosen]))
    else:
        for ind, g in chosen:
            ops.prune(ind, rng=g)
    for ind, _ in chosen:
        ind.pruned = True


def vary_stack(individuals: list, rngs: Sequence[np.random.Generator], ops: Operators, gen: int, ngen: int,
               sizes: Sequence[int]) -> list:
    """The variation step over one stack, in place (``sizes``: each member's schedule ``n``); the individuals."""
    for ind in individuals:
        ind.pruned = False
    if ops.prune_first:
        _scheduled_prune(ops, individuals, rngs, gen, ngen, sizes)
    kw = train_kwargs(ops.loss, ops.lr_schedule, gen, ngen)
    if is_batched(ops.train):
        ops.train(Batch(individuals, list(rngs)), **kw)
    else:
        for ind, g in zip(individuals, rngs, strict=True):
            ops.train(ind, rng=g, **kw)
    if ops.mutate is not None:
        for ind, g in zip(individuals, rngs, strict=True):
            ops.mutate(ind, rng=g)
    if not ops.prune_first:
        _scheduled_prune(ops, individuals, rngs, gen, ngen, sizes)
    evaluate_all(individuals, ops.evaluate)
    return individuals


@dataclass
class VaryTask:
    """:func:`vary_stack` as a picklable task for ``toolbox.map`` (one chunk of a stack per task)."""

    ops: Operators
    gen: int
    ngen: int

    def __call__(self, individuals, rngs, sizes):
        return vary_stack(list(individuals), rngs, self.ops, self.gen, self.ngen, sizes)


def vary(individuals: list, rngs: Sequence[np.random.Generator], ops: Operators, gen: int, ngen: int,
         sizes: Sequence[int], map_: Callable = map, chunks: int | None = None) -> list:
    """The variation step over a stack, in ``chunks`` (default: one per worker of ``map_``) sent through ``map_``.

    Chunking does not change any decision or weight.
    """
    n = len(individuals)
    if n == 0:
        return []
    if chunks is None:
        chunks = 1 if _serial(map_) else getattr(map_, "workers", n)
    chunks = max(1, min(int(chunks), n))
    if chunks == 1:
        return vary_stack(list(individuals), rngs, ops, gen, ngen, sizes)
    bounds = np.linspace(0, n, chunks + 1).astype(int)
    parts = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    out = map_(VaryTask(ops, gen, ngen), [individuals[s] for s in parts], [list(rngs[s]) for s in parts],
               [list(sizes[s]) for s in parts])
    return [ind for part in out for ind in part]


def _serial(map_: Callable) -> bool:
    """The builtin ``map``, or DEAP's default ``toolbox.map`` (``partial(map)`` with nothing bound)."""
    if isinstance(map_, partial):
        return map_.func is map and not map_.args and not map_.keywords
    return map_ is map


@dataclass
class VaryRequest:
    """What an algorithm asks the engine for: vary ``offspring`` at generation ``gen`` of ``ngen``."""

    offspring: list
    rngs: list[np.random.Generator]
    sizes: list[int]
    gen: int
    ngen: int


Steps = Generator[VaryRequest, list, Any]


def lockstep(runs: Sequence[Steps], ops: Operators, map_: Callable = map, chunks: int | None = None) -> list:
    """Drive ask/tell algorithms together as one stack per generation; each one's return value.

    Runs resumed from different checkpoints catch up first; a run gives the same result alone as in any group.
    """
    results: list[Any] = [None] * len(runs)
    pending: dict[int, VaryRequest] = {}

    def advance(k: int, value=None) -> None:
        try:
            pending[k] = runs[k].send(value) if value is not None else next(runs[k])
        except StopIteration as stop:
            results[k] = stop.value
            pending.pop(k, None)

    for k in range(len(runs)):
        advance(k)
    while pending:
        gen = min(r.gen for r in pending.values())
        keys = [k for k, r in pending.items() if r.gen == gen]
        reqs = [pending[k] for k in keys]
        ngens = {r.ngen for r in reqs}
        if len(ngens) != 1:
            raise ValueError(f"lockstep runs must have the same number of generations, got {sorted(ngens)}")
        out = vary([o for r in reqs for o in r.offspring], [g for r in reqs for g in r.rngs], ops, gen, ngens.pop(),
                   [s for r in reqs for s in r.sizes], map_, chunks)
        start = 0
        for k, r in zip(keys, reqs, strict=True):
            part, start = out[start : start + len(r.offspring)], start + len(r.offspring)
            advance(k, part)
    return results


def run_steps(steps: Steps, ops: Operators, map_: Callable = map, chunks: int | None = None):
    """Drive one ask/tell algorithm to its end and return its result."""
    return lockstep([steps], ops, map_, chunks)[0]
