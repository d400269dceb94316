"""Evolutionary algorithms in DEAP's style: ``eaX(population, toolbox, ...) -> (population, logbook)``.

The toolbox supplies the operators:

* ``train(ind, rng=...)`` — training as variation (e.g. :func:`evoprune.training.mutTrain`);
* ``mutate(ind, rng=...)`` — optional strategy mutation (e.g. :func:`evoprune.training.mutLearningRate`);
* ``prune(ind, rng=...)`` and ``schedule(t, T, n)`` — optional pruning mutation and its
  :class:`evoprune.schedules.Schedule`;
* ``loss(t, T)`` — optional loss schedule (e.g. :class:`evoprune.training.LossSchedule`):
  at generation t, ``train`` is called with ``loss=toolbox.loss(t, T)``;
* ``mate(ind1, ind2, rng=...)`` — optional crossover;
* ``evaluate(ind)`` — returns a fitness tuple;
* ``select(individuals, k)`` — survivor selection (default: best);
* ``map`` — used for every independent per-individual task, so a process pool or a
  dask client can be registered.

Every random choice comes from the ``rng`` argument (a seed or a NumPy
Generator); tasks sent through ``toolbox.map`` carry their own child seeds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from deap import tools

from .rng import RNGLike, as_generator, child_seeds
from .topology import Grid
from .training import loss_kwargs
from .validation import check_choice, check_probability


@dataclass
class Variation:
    """Picklable per-individual variation task: train, mutate, scheduled prune, evaluate.

    Built from a toolbox (without its ``map``) so that it can be shipped to
    worker processes; returns the varied individual.
    """

    train: Any
    evaluate: Any
    mutate: Any = None
    prune: Any = None
    schedule: Any = None
    prune_first: bool = False
    loss: Any = None

    @classmethod
    def from_toolbox(cls, toolbox, prune_first: bool = False) -> Variation:
        if not hasattr(toolbox, "train") or not hasattr(toolbox, "evaluate"):
            raise ValueError("the toolbox needs 'train' and 'evaluate' registered")
        if hasattr(toolbox, "prune") != hasattr(toolbox, "schedule"):
            raise ValueError("register both 'prune' and 'schedule' (or neither) on the toolbox")
        return cls(
            toolbox.train,
            toolbox.evaluate,
            getattr(toolbox, "mutate", None),
            getattr(toolbox, "prune", None),
            getattr(toolbox, "schedule", None),
            prune_first,
            getattr(toolbox, "loss", None),
        )

    def __call__(self, ind, seed: int, gen: int, ngen: int, n: int):
        g = np.random.default_rng(seed)
        ind.pruned = False
        if self.prune_first:
            self._maybe_prune(ind, g, gen, ngen, n)
        self.train(ind, rng=g, **loss_kwargs(self.loss, gen, ngen))
        if self.mutate is not None:
            self.mutate(ind, rng=g)
        if not self.prune_first:
            self._maybe_prune(ind, g, gen, ngen, n)
        ind.fitness.values = self.evaluate(ind)
        return ind

    def _maybe_prune(self, ind, g, gen, ngen, n) -> None:
        if self.prune is not None and g.random() < self.schedule(gen, ngen, n):
            self.prune(ind, rng=g)
            ind.pruned = True


def _new_logbook(fields: list[str], stats) -> tools.Logbook:
    logbook = tools.Logbook()
    logbook.header = fields + (stats.fields if stats else [])
    for name in getattr(stats, "keys", lambda: [])():
        logbook.chapters[name].header = stats[name].fields
    return logbook


def _record(logbook, stats, population, gen, nevals, extra, verbose):
    record = stats.compile(population) if stats is not None else {}
    logbook.record(gen=gen, nevals=nevals, **extra, **record)
    if verbose:
        print(logbook.stream)


def eaMuPlusLambda(
    population: list,
    toolbox,
    mu: int,
    lambda_: int,
    ngen: int,
    *,
    cxpb: float = 0.0,
    stats: tools.Statistics | None = None,
    halloffame: tools.HallOfFame | None = None,
    verbose: bool = False,
    rng: RNGLike = None,
    prune_first: bool = True,
    checkpoint=None,
    resume_from=None,
):
    """(μ + λ) evolution where offspring are trained, mutated and pruned on a schedule.

    With ``mu = lambda_ = 1`` this is canonical gradient training of one
    autoencoder with scheduled pruning between epochs, made elitist: the parent
    survives a worse child (for plain canonical training, where every epoch's
    result is kept, use :func:`eaMuCommaLambda`).

    Pseudocode::

        evaluate(population)
        for t = 1 .. ngen:
            offspring = []
            repeat lambda_ times:
                with probability cxpb: child = mate(clone(p1), clone(p2))   # p1, p2 random parents
                otherwise:             child = clone(random parent)
                offspring += child
            for child in offspring (through toolbox.map):
                with probability schedule(t, ngen, mu): prune(child)   # if prune_first
                train(child)                         # one epoch (with loss=loss(t, ngen) if registered)
                mutate(child)                        # e.g. learning-rate mutation
                (or prune here, after training, if not prune_first)
                evaluate(child)
            halloffame.update(offspring)
            population = select(population + offspring, mu)
            record stats(population)

    Parameters follow :func:`deap.algorithms.eaMuPlusLambda` (those after
    ``ngen`` are keyword-only); ``rng`` seeds
    every random choice.  With ``prune_first`` (default) a pruned child gets
    its epoch of training to recover before selection, so that selection
    (e.g. :func:`evoprune.selection.selParsimony`) judges the pruning fairly.
    Returns ``(population, logbook)``; the logbook has
    ``gen``, ``nevals``, ``npruned`` (offspring pruned this generation),
    ``time`` (seconds for the generation) and the ``stats`` fields.

    ``checkpoint(gen, population, logbook)``, if given, is called after every
    generation; ``resume_from=(gen, logbook)`` continues a run saved after
    generation ``gen`` (pass the saved population and the restored ``rng``).
    """
    return _ea_mu_lambda(
        population, toolbox, mu, lambda_, ngen, cxpb=cxpb, stats=stats, halloffame=halloffame, verbose=verbose,
        rng=rng, prune_first=prune_first, plus=True, checkpoint=checkpoint, resume_from=resume_from,
    )


def eaMuCommaLambda(
    population: list,
    toolbox,
    mu: int,
    lambda_: int,
    ngen: int,
    *,
    cxpb: float = 0.0,
    stats: tools.Statistics | None = None,
    halloffame: tools.HallOfFame | None = None,
    verbose: bool = False,
    rng: RNGLike = None,
    prune_first: bool = True,
    checkpoint=None,
    resume_from=None,
):
    """(μ, λ) evolution: like :func:`eaMuPlusLambda` but survivors come from the offspring only.

    With ``mu = lambda_ = 1`` this is plain canonical training with pruning:
    every epoch's result is kept, pruned or not (under ``eaMuPlusLambda`` the
    parent survives whenever the trained, pruned child is worse, so pruning
    is accepted only when it does not hurt).

    Pseudocode: as :func:`eaMuPlusLambda` with ``population = select(offspring, mu)``.
    """
    return _ea_mu_lambda(
        population, toolbox, mu, lambda_, ngen, cxpb=cxpb, stats=stats, halloffame=halloffame, verbose=verbose,
        rng=rng, prune_first=prune_first, plus=False, checkpoint=checkpoint, resume_from=resume_from,
    )


def _ea_mu_lambda(
    population: list,
    toolbox,
    mu: int,
    lambda_: int,
    ngen: int,
    *,
    cxpb: float = 0.0,
    stats: tools.Statistics | None = None,
    halloffame: tools.HallOfFame | None = None,
    verbose: bool = False,
    rng: RNGLike = None,
    prune_first: bool = True,
    plus: bool = True,
    checkpoint=None,
    resume_from=None,
):
    if mu < 1 or lambda_ < 1:
        raise ValueError(f"mu and lambda_ must be >= 1, got mu={mu}, lambda_={lambda_}")
    if not plus and lambda_ < mu:
        raise ValueError(f"(mu, lambda) selection needs lambda_ >= mu, got mu={mu}, lambda_={lambda_}")
    if ngen < 0:
        raise ValueError(f"ngen must be >= 0, got {ngen}")
    check_probability("cxpb", cxpb)
    if cxpb > 0 and not hasattr(toolbox, "mate"):
        raise ValueError("cxpb > 0 needs 'mate' registered on the toolbox")
    g = as_generator(rng)
    vary = Variation.from_toolbox(toolbox, prune_first)
    select = getattr(toolbox, "select", tools.selBest)
    if resume_from is None:
        logbook = _new_logbook(["gen", "nevals", "npruned", "time"], stats)
        t0 = time.perf_counter()
        invalid = [ind for ind in population if not ind.fitness.valid]
        for ind, fit in zip(invalid, toolbox.map(toolbox.evaluate, invalid), strict=True):
            ind.fitness.values = fit
        if halloffame is not None:
            halloffame.update(population)
        _record(logbook, stats, population, 0, len(invalid), {"npruned": 0, "time": time.perf_counter() - t0}, verbose)
        start = 1
    else:
        start, logbook = resume_from[0] + 1, resume_from[1]

    for gen in range(start, ngen + 1):
        t0 = time.perf_counter()
        offspring = []
        for _ in range(lambda_):
            if cxpb > 0 and len(population) > 1 and g.random() < cxpb:
                i, j = g.choice(len(population), size=2, replace=False)
                c1, c2 = toolbox.clone(population[i]), toolbox.clone(population[j])
                child = toolbox.mate(c1, c2, rng=g)[0]
            else:
                child = toolbox.clone(population[int(g.integers(len(population)))])
            offspring.append(child)
        seeds = child_seeds(g, len(offspring))
        n = len(offspring)
        offspring = list(toolbox.map(vary, offspring, seeds, [gen] * n, [ngen] * n, [mu] * n))
        if halloffame is not None:
            halloffame.update(offspring)
        population[:] = select(population + offspring if plus else offspring, mu)
        extra = {"npruned": sum(getattr(o, "pruned", False) for o in offspring), "time": time.perf_counter() - t0}
        _record(logbook, stats, population, gen, len(offspring), extra, verbose)
        if checkpoint is not None:
            checkpoint(gen, population, logbook)
    return population, logbook


def eaToroidalGrid(
    population: list,
    toolbox,
    grid,
    ngen: int,
    *,
    stats: tools.Statistics | None = None,
    halloffame: tools.HallOfFame | None = None,
    verbose: bool = False,
    rng: RNGLike = None,
    update: str = "synchronous",
    concept: str = "best",
    tournsize: int = 2,
    eval_size: int = 100,
    batched: bool = True,
    test_data=None,
    checkpoint=None,
    resume_from=None,
    prune_first: bool = False,
):
    """Spatial coevolution of encoders and decoders on a toroidal grid.

    ``population[c]`` is cell c's centre genome (encoder, decoder, learning
    rate); ``grid`` is an :class:`evoprune.topology.Grid` with one cell per
    individual, or its string form (``"ring:10"``, ``"4x5:moore"``, see
    :meth:`~evoprune.topology.Grid.from_string`).  Arguments after ``ngen``
    are keyword-only.  The toolbox needs ``train`` and ``evaluate`` (the latter with
    ``data=<training data>``: pairing batches are drawn from it), optionally
    ``mutate``, ``prune`` + ``schedule``, and ``select``: without it the child
    always replaces the centre (the paper's rule); with it (e.g.
    :func:`evoprune.selection.selParsimony`) the centre survives a worse child.

    Pseudocode::

        evaluate(population)
        for t = 1 .. ngen:
            synchronous:  every cell reads generation t-1 (all cells at once)
            asynchronous: cells in random order, each reading the grid as it is now
            for each cell c:
                N = neighbourhood(c)                         # centre first
                E[i, j] = loss(encoder_i ∘ decoder_j) on a training batch, for i, j in N
                score encoders and decoders by the solution concept
                    (best: min over partners; worst: max; mean)
                enc = tournament(encoders of N), dec = tournament(decoders of N)   # independent
                child = (enc, dec) with cell c's learning rate
                train(child)                                 # one epoch (loss=loss(t, ngen) if registered)
                mutate(child)                                # learning rate
                with probability schedule(t, ngen, |N|): prune(child)   # before train() if prune_first
                evaluate(child)
                centre(c) = child, or select([centre(c), child], 1) if toolbox.select exists
            halloffame.update(population); record stats

    With ``update="synchronous"`` and ``batched=True`` (default) all cells are
    computed together as stacked tensor operations (needs ``train`` registered
    as :func:`evoprune.training.mutTrain` and ``evaluate`` as
    :func:`evoprune.evaluation.evaluate`); ``batched=False`` runs the cells
    through ``toolbox.map`` one task per cell, with identical results.
    Asynchronous update runs the same per-cell step in a random cell order.

    The logbook has ``gen``, ``nevals``, ``npruned``, ``time``, learning-rate
    ``lr_min``/``lr_median``/``lr_max``, ``best`` (index of the centre with
    the best training fitness), ``best_kept`` (its fraction kept),
    ``best_test`` (its error on ``test_data``, if given) and the ``stats``
    fields.  Returns ``(population, logbook)``; :func:`best_centre` picks the
    best centre pair on held-out data.  ``checkpoint`` and ``resume_from`` work
    as in :func:`eaMuPlusLambda`.
    """
    from .coevolution import CONCEPTS, CellStep, batched_generation, training_data

    check_choice("update", update, ("synchronous", "asynchronous"))
    check_choice("solution concept", concept, CONCEPTS)
    if isinstance(grid, str):
        grid = Grid.from_string(grid)
    elif not isinstance(grid, Grid):
        raise TypeError(f"grid must be an evoprune.topology.Grid or a string such as 'ring:10', got {grid!r}")
    if len(population) != grid.n_cells:
        raise ValueError(f"population has {len(population)} individuals but the grid has {grid.n_cells} cells")
    if tournsize < 1 or eval_size < 1 or ngen < 0:
        raise ValueError(f"need tournsize >= 1, eval_size >= 1, ngen >= 0; got {tournsize}, {eval_size}, {ngen}")
    g = as_generator(rng)
    vary = Variation.from_toolbox(toolbox)
    step = CellStep(
        vary.train,
        vary.evaluate,
        training_data(toolbox),
        vary.mutate,
        vary.prune,
        vary.schedule,
        concept,
        tournsize,
        eval_size,
        getattr(toolbox, "select", None),
        prune_first,
        vary.loss,
    )
    hoods = grid.neighbourhoods()
    logbook = _new_logbook(["gen", "nevals", "npruned", "time", "lr_median", "best", "best_test"], stats)

    def record(gen, nevals, npruned, t0):
        lrs = [ind.lr for ind in population]
        best = best_centre(population, index=True)
        extra = {
            "npruned": npruned,
            "lr_min": min(lrs),
            "lr_median": float(np.median(lrs)),
            "lr_max": max(lrs),
            "best": best,
            "best_kept": population[best].fraction_kept,
        }
        if test_data is not None:
            extra["best_test"] = float(_errors([population[best]], test_data)[0])
        if halloffame is not None:
            halloffame.update(population)
        extra["time"] = time.perf_counter() - t0
        _record(logbook, stats, population, gen, nevals, extra, verbose)

    if resume_from is None:
        t0 = time.perf_counter()
        invalid = [ind for ind in population if not ind.fitness.valid]
        for ind, fit in zip(invalid, toolbox.map(toolbox.evaluate, invalid), strict=True):
            ind.fitness.values = fit
        record(0, len(invalid), 0, t0)
        start = 1
    else:
        start, logbook = resume_from[0] + 1, resume_from[1]

    for gen in range(start, ngen + 1):
        t0 = time.perf_counter()
        seeds = child_seeds(g, len(population))
        if update == "asynchronous":
            for c in g.permutation(len(population)):
                population[c] = step(population[c], [population[j] for j in hoods[c]], seeds[c], gen, ngen)
        elif batched:
            population[:] = batched_generation(step, population, hoods, seeds, gen, ngen)
        else:
            n = len(population)
            neighbours = [[population[j] for j in hood] for hood in hoods]
            population[:] = list(toolbox.map(step, list(population), neighbours, seeds, [gen] * n, [ngen] * n))
        record(gen, len(population), sum(getattr(i, "pruned", False) for i in population), t0)
        if checkpoint is not None:
            checkpoint(gen, population, logbook)
    return population, logbook


def _errors(genomes, data):
    from .coevolution import aligned_errors

    return aligned_errors(genomes, data)


def best_centre(population: list, holdout=None, index: bool = False):
    """The centre genome with the lowest error on ``holdout`` (or, without it, the best training fitness)."""
    if holdout is None:
        scores = [ind.fitness.values[0] if ind.fitness.valid else float("inf") for ind in population]
    else:
        scores = _errors(population, holdout).tolist()
    i = int(np.argmin(scores))
    return i if index else population[i]
