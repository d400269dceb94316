"""The gradual setting: the field's baseline, gradual magnitude pruning (Zhu and Gupta, "To prune, or not to
prune", 2017).

One network under ordinary training, no evolution: each generation is one epoch of Adam with the run's loss at
the fixed ``lr``, and every epoch is kept.  At the pruning steps of a :class:`~evoprune.schedules.GradualSparsity`
(``prune_start``, every ``prune_every`` generations, to ``prune_end``), before that generation's epoch, the
network is pruned to exactly the scheduled sparsity by global weight magnitude (biases neither pruned nor
counted), with permanent masks.  The run records what every run records plus each generation's weight
``sparsity``.  Its study-file fields are ``target_sparsity``, ``initial_sparsity``, ``prune_start``,
``prune_end`` and ``prune_every`` (``studies/baseline.toml`` shows them); ``schedule``, ``p``, ``amount`` and
``lr_sigma`` are not read.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from deap import base, creator

from ..algorithms.common import new_logbook, record
from ..engine.variation import Steps, VaryRequest, evaluate_all
from ..evaluation import evaluate
from ..pruning import Magnitude
from ..rng import RNGLike, as_generator, child_seeds
from ..schedules import GradualSparsity, check_gradual
from .common import base_toolbox, ensure_creator, init_rng, run_architecture, run_stats
from .registry import Setting, register_setting

__all__ = ["Gradual", "gradualSteps", "prune_to_sparsity", "sparsity_schedule", "weight_sparsity"]


def _weight_masks(individual) -> list:
    return [m for half in individual.halves for m in half.masks[0::2]]


def weight_sparsity(individual) -> float:
    """The fraction of the genome's weights that are pruned (biases not counted)."""
    masks = _weight_masks(individual)
    return 1.0 - sum(int(m.sum()) for m in masks) / sum(m.numel() for m in masks)


def prune_to_sparsity(individual, sparsity: float) -> int:
    """Prune ``individual`` in place by global magnitude until ``round(sparsity · weights)`` weights are pruned.

    The smallest-magnitude unpruned weights of both halves go (ties by position; biases are kept), as
    :class:`~evoprune.pruning.Magnitude` with ``scope="global"`` chooses them, with permanent masks.  A genome
    already that sparse is left alone; a layer is never emptied (its last weight stays, so the count can fall
    one short).  Returns the number of weights pruned."""
    masks = _weight_masks(individual)
    total, alive = sum(m.numel() for m in masks), sum(int(m.sum()) for m in masks)
    k = min(round(sparsity * total) - (total - alive), alive - 1)
    if k <= 0:
        return 0
    Magnitude(amount=k / alive, scope="global").prune([individual], [np.random.default_rng(0)])
    return alive - sum(int(m.sum()) for m in _weight_masks(individual))


def sparsity_schedule(cfg) -> GradualSparsity | None:
    """The run's :class:`~evoprune.schedules.GradualSparsity` (``None`` for ``operator = "none"``)."""
    if cfg.operator == "none":
        return None
    end = cfg.generations if cfg.prune_end is None else cfg.prune_end
    return GradualSparsity(cfg.target_sparsity, cfg.initial_sparsity, cfg.prune_start, end, cfg.prune_every)


def gradualSteps(population: list, toolbox, schedule: GradualSparsity | None, ngen: int, *, stats=None,
                 rng: RNGLike = None, checkpoint=None, resume_from=None) -> Steps:
    """Gradual pruning as an ask/tell generator (see :mod:`evoprune.engine.variation`): the one network of
    ``population`` is cloned each generation, pruned to ``schedule(gen)`` at its pruning steps, handed to the
    engine for one epoch of training and evaluation, and kept; returns ``(population, logbook)``.

    The logbook has ``gen``, ``nevals``, ``npruned`` (1 at a pruning step), ``sparsity`` (the network's weight
    sparsity), ``time`` and the ``stats`` fields."""
    if len(population) != 1:
        raise ValueError(f"gradual pruning trains one network, got a population of {len(population)}")
    g = as_generator(rng)
    if resume_from is None:
        logbook = new_logbook(["gen", "nevals", "npruned", "sparsity", "time"], stats)
        t0 = time.perf_counter()
        invalid = [ind for ind in population if not ind.fitness.valid]
        evaluate_all(invalid, toolbox.evaluate, toolbox.map)
        extra = {"npruned": 0, "sparsity": weight_sparsity(population[0]), "time": time.perf_counter() - t0}
        record(logbook, stats, population, 0, len(invalid), extra, False)
        start = 1
    else:
        start, logbook = resume_from[0] + 1, resume_from[1]
    for gen in range(start, ngen + 1):
        t0 = time.perf_counter()
        child = toolbox.clone(population[0])
        prunes = schedule is not None and schedule.prunes_at(gen)
        if prunes:
            prune_to_sparsity(child, schedule(gen))
        rngs = [np.random.default_rng(s) for s in child_seeds(g, 1)]
        population[:] = yield VaryRequest([child], rngs, [1], gen, ngen)
        extra = {"npruned": int(prunes), "sparsity": weight_sparsity(population[0]), "time": time.perf_counter() - t0}
        record(logbook, stats, population, gen, 1, extra, False)
        if checkpoint is not None:
            checkpoint(gen, population, logbook)
    return population, logbook


class Gradual(Setting):
    """Gradual magnitude pruning of one network under ordinary training (see the module docstring)."""

    name = "gradual"
    record_keys = ("test_min", "kept_min")
    fields = {"target_sparsity": None, "initial_sparsity": 0.0, "prune_start": 1, "prune_end": None,
              "prune_every": 1}
    ignores = ("schedule", "p", "amount", "lr_sigma")

    def check_field(self, name: str, value: Any) -> None:
        check_gradual(name, value)

    def check(self, cfg) -> None:
        if cfg.operator not in ("none", "magnitude"):
            raise ValueError(f"operator {cfg.operator!r}: the gradual setting prunes by global magnitude; "
                             "choose operator 'magnitude' (or 'none')")
        if cfg.masks != "permanent":
            raise ValueError(f"masks {cfg.masks!r}: the gradual setting keeps permanent masks")
        given = [k for k, v in self.fields.items() if getattr(cfg, k) != v]
        if cfg.operator == "none":
            if given:
                raise ValueError(f"{given[0]} given for operator 'none', which prunes nothing")
            return
        if cfg.target_sparsity is None:
            raise ValueError("target_sparsity is required by the gradual setting with operator 'magnitude'")
        for name in ("prune_start", "prune_end"):
            if (getattr(cfg, name) or 0) > cfg.generations:
                raise ValueError(f"{name} must be a generation of the run (<= generations = {cfg.generations}), "
                                 f"got {getattr(cfg, name)}")
        sparsity_schedule(cfg)  # checks the parameters together

    def schedule_name(self, cfg) -> str:
        return "gradual"

    def toolbox(self, cfg, data) -> base.Toolbox:
        tb = base_toolbox(cfg, data)
        if hasattr(tb, "mutate"):  # ordinary training: the learning rate stays lr
            tb.unregister("mutate")
        tb.register("evaluate", evaluate, data=data.train)
        return tb

    def population(self, cfg, data, seed: int) -> list:
        ensure_creator()
        return [creator.AEIndividual(run_architecture(cfg, data), rng=init_rng(seed), lr=cfg.lr)]

    def prune_first(self, cfg) -> bool:
        return True

    def stats(self, cfg, data):
        return run_stats(data)

    def steps(self, cfg, data, toolbox, population, rng, stats, checkpoint, resume_from):
        return gradualSteps(population, toolbox, sparsity_schedule(cfg), cfg.generations, stats=stats, rng=rng,
                            checkpoint=checkpoint, resume_from=resume_from)

    def final(self, cfg, population, data):
        return population[0]


GRADUAL = register_setting(Gradual())
