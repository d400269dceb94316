"""(μ + λ) and (μ, λ) evolution with training, learning-rate mutation and scheduled pruning as variation."""

from __future__ import annotations

import time

import numpy as np
from deap import tools

from ..engine.variation import Operators, Steps, VaryRequest, evaluate_all, run_steps
from ..rng import RNGLike, as_generator, child_seeds
from ..util.validation import check_probability
from .common import new_logbook, record


def muLambdaSteps(
    population: list,
    toolbox,
    mu: int,
    lambda_: int,
    ngen: int,
    *,
    cxpb: float = 0.0,
    plus: bool = True,
    stats: tools.Statistics | None = None,
    halloffame: tools.HallOfFame | None = None,
    verbose: bool = False,
    rng: RNGLike = None,
    checkpoint=None,
    resume_from=None,
) -> Steps:
    """The (μ +/, λ) loop as an ask/tell generator: yields a :class:`~evoprune.engine.variation.VaryRequest`
    per generation, receives the varied offspring, returns ``(population, logbook)``.

    :func:`~evoprune.engine.variation.lockstep` drives many together.  Other parameters: as :func:`eaMuPlusLambda`.

    Parameters
    ----------
    plus
        ``True`` for (μ + λ), ``False`` for (μ, λ).
    """
    _check(toolbox, mu, lambda_, ngen, cxpb, plus)
    g = as_generator(rng)
    select = getattr(toolbox, "select", tools.selBest)
    if resume_from is None:
        logbook = new_logbook(["gen", "nevals", "npruned", "time"], stats)
        t0 = time.perf_counter()
        invalid = [ind for ind in population if not ind.fitness.valid]
        evaluate_all(invalid, toolbox.evaluate, toolbox.map)
        if halloffame is not None:
            halloffame.update(population)
        record(logbook, stats, population, 0, len(invalid), {"npruned": 0, "time": time.perf_counter() - t0}, verbose)
        start = 1
    else:
        start, logbook = resume_from[0] + 1, resume_from[1]

    for gen in range(start, ngen + 1):
        t0 = time.perf_counter()
        offspring = [_child(population, toolbox, cxpb, g) for _ in range(lambda_)]
        rngs = [np.random.default_rng(s) for s in child_seeds(g, len(offspring))]
        offspring = yield VaryRequest(offspring, rngs, [mu] * len(offspring), gen, ngen)
        if halloffame is not None:
            halloffame.update(offspring)
        population[:] = select(population + offspring if plus else offspring, mu)
        extra = {"npruned": sum(getattr(o, "pruned", False) for o in offspring), "time": time.perf_counter() - t0}
        record(logbook, stats, population, gen, len(offspring), extra, verbose)
        if checkpoint is not None:
            checkpoint(gen, population, logbook)
    return population, logbook


def _check(toolbox, mu: int, lambda_: int, ngen: int, cxpb: float, plus: bool) -> None:
    if mu < 1 or lambda_ < 1:
        raise ValueError(f"mu and lambda_ must be >= 1, got mu={mu}, lambda_={lambda_}")
    if not plus and lambda_ < mu:
        raise ValueError(f"(mu, lambda) selection needs lambda_ >= mu, got mu={mu}, lambda_={lambda_}")
    if ngen < 0:
        raise ValueError(f"ngen must be >= 0, got {ngen}")
    check_probability("cxpb", cxpb)
    if cxpb > 0 and not hasattr(toolbox, "mate"):
        raise ValueError("cxpb > 0 needs 'mate' registered on the toolbox")


def _child(population: list, toolbox, cxpb: float, g: np.random.Generator):
    """One offspring: with probability ``cxpb`` the mate of two random parents' clones, else a random clone."""
    if cxpb > 0 and len(population) > 1 and g.random() < cxpb:
        i, j = g.choice(len(population), size=2, replace=False)
        return toolbox.mate(toolbox.clone(population[i]), toolbox.clone(population[j]), rng=g)[0]
    return toolbox.clone(population[int(g.integers(len(population)))])


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
    """(μ + λ) evolution where offspring are trained, mutated and pruned on a schedule; ``(population, logbook)``.

    With ``mu = lambda_ = 1`` this is canonical training of one autoencoder with scheduled pruning, made
    elitist: the parent survives a worse child (:func:`eaMuCommaLambda` keeps every epoch's result).

    Pseudocode::

        evaluate(population)
        for t = 1 .. ngen:
            offspring = []
            repeat lambda_ times:
                with probability cxpb: child = mate(clone(p1), clone(p2))  # random parents
                otherwise:             child = clone(random parent)
                offspring += child
            vary(offspring):                         # evoprune.engine.variation.vary, one stack
                with probability schedule(t, ngen, mu): prune(child)  # if prune_first
                train(child)                         # one epoch (loss(t, ngen) if registered)
                mutate(child)                        # e.g. learning-rate mutation
                (or prune here, after training, if not prune_first)
                evaluate(child)
            halloffame.update(offspring)
            population = select(population + offspring, mu)
            record stats(population)

    Unlike :func:`deap.algorithms.eaMuPlusLambda` there is no ``mutpb``: every offspring is varied by training,
    and mutation and pruning are registered as ``mutate`` and ``prune`` + ``schedule``.  The logbook has ``gen``,
    ``nevals``, ``npruned`` (offspring pruned this generation), ``time`` (seconds) and the ``stats`` fields.

    Parameters
    ----------
    population
        Initial individuals (the list is updated in place).
    toolbox
        A :class:`deap.base.Toolbox` with the operators (see :mod:`evoprune.algorithms`).
    mu
        Number of survivors per generation.
    lambda_
        Number of offspring per generation.
    ngen
        Number of generations.
    cxpb
        Probability that a child comes from ``toolbox.mate`` of two parents.
    stats
        Statistics recorded each generation, or ``None``.
    halloffame
        Hall of fame updated with every evaluated individual, or ``None``.
    verbose
        Print the logbook as it grows.
    rng
        Seed or NumPy generator of every random choice.
    prune_first
        Prune before training, so a pruned child trains for an epoch before selection judges it, instead of after.
    checkpoint
        ``checkpoint(gen, population, logbook)``, called after every generation, or ``None``.
    resume_from
        ``(gen, logbook)`` of a run saved after generation ``gen``, with the saved population and the restored
        ``rng``; or ``None``.
    """
    steps = muLambdaSteps(population, toolbox, mu, lambda_, ngen, cxpb=cxpb, plus=True, stats=stats,
                          halloffame=halloffame, verbose=verbose, rng=rng, checkpoint=checkpoint,
                          resume_from=resume_from)
    return run_steps(steps, Operators.from_toolbox(toolbox, prune_first), toolbox.map)


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

    With ``mu = lambda_ = 1`` this is plain canonical training with pruning: every epoch's result is kept.
    Pseudocode: as :func:`eaMuPlusLambda` with ``population = select(offspring, mu)``; parameters: as
    :func:`eaMuPlusLambda`.
    """
    steps = muLambdaSteps(population, toolbox, mu, lambda_, ngen, cxpb=cxpb, plus=False, stats=stats,
                          halloffame=halloffame, verbose=verbose, rng=rng, checkpoint=checkpoint,
                          resume_from=resume_from)
    return run_steps(steps, Operators.from_toolbox(toolbox, prune_first), toolbox.map)
