"""Spatial coevolution of encoders and decoders on a toroidal grid (Lipizzaner-style)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from deap import tools

from ..engine.variation import Operators, Steps, VaryRequest, evaluate_all, run_steps
from ..evaluation import WORST, neighbourhood_errors, pairing_errors, reconstruction_errors
from ..layers import check_rows
from ..rng import RNGLike, as_generator, child_seeds
from ..topology import Grid
from ..util.validation import check_choice
from .common import new_logbook, record

#: Solution concepts by name (``best``, ``worst``, ``mean``): how an encoder (decoder) is scored from
#: its errors against the neighbourhood's decoders (encoders), as ``score(errors, dim)``.
#:
#: :meta hide-value:
CONCEPTS: dict[str, Callable[[torch.Tensor, int], torch.Tensor]] = {
    "best": lambda e, dim: e.min(dim=dim).values,
    "worst": lambda e, dim: e.max(dim=dim).values,
    "mean": lambda e, dim: e.mean(dim=dim),
}


def tournament(scores: torch.Tensor, tournsize: int, g: np.random.Generator) -> int:
    """Index of the best (lowest score) of ``tournsize`` entries drawn with replacement.

    Parameters
    ----------
    scores
        One score per entry (lower is better).
    tournsize
        Entries drawn (with replacement).
    g
        NumPy generator.
    """
    picks = g.integers(0, scores.numel(), size=tournsize)
    return int(picks[int(torch.argmin(scores[torch.from_numpy(picks)]))])


#: How a cell picks its pair: ``independent`` tournaments for the encoder and the decoder, or ``same_index``: the
#: encoder by the solution concept over its pairings, and the decoder of the same neighbour with it (as published).
PAIRINGS = ("independent", "same_index")


def select_pair(errors: torch.Tensor, concept: str, tournsize: int, g: np.random.Generator,
                pairing: str = "independent") -> tuple[int, int]:
    """Tournament-select ``(encoder index, decoder index)`` from a pairing-error matrix.

    Parameters
    ----------
    errors
        Pairing errors, ``(encoders, decoders)``; NaN counts as the worst.
    concept
        A key of :data:`CONCEPTS`.
    tournsize
        Tournament size.
    g
        NumPy generator.
    pairing
        A name of :data:`PAIRINGS` (``same_index`` is the published ``select``, ``lipi_ae_update_only_selected.py``).
    """
    score = CONCEPTS[concept]
    errors = torch.nan_to_num(errors, nan=WORST)
    enc = tournament(score(errors, 1), tournsize, g)
    return (enc, enc) if pairing == "same_index" else (enc, tournament(score(errors, 0), tournsize, g))


def gridSteps(
    population: list,
    toolbox,
    grid: Grid | str,
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
    data=None,
    test_data=None,
    checkpoint=None,
    resume_from=None,
    pairing: str = "independent",
) -> Steps:
    """The grid algorithm as an ask/tell generator (see :func:`eaToroidalGrid`); returns ``(population, logbook)``.

    Synchronous update asks for one stack of all cells per generation; asynchronous update asks for one stack
    of one cell at a time.  Parameters: as :func:`eaToroidalGrid`.
    """
    grid = _checked_grid(grid, population, update, concept, pairing, tournsize, eval_size, ngen)
    shape = population[0].arch.input_shape
    if data is None:
        raise ValueError("the grid needs data=<training rows> (the rows its pairing batches are drawn from)")
    test_data = None if test_data is None else check_rows(test_data, shape, "test data")
    g = as_generator(rng)
    cells = _Cells(population, grid.neighbourhoods(), check_rows(data, shape, "pairing data"), eval_size, concept,
                   tournsize, pairing, getattr(toolbox, "select", None))
    logbook = new_logbook(["gen", "nevals", "npruned", "time", "lr_median", "best", "best_test"], stats)
    if resume_from is None:
        t0 = time.perf_counter()
        invalid = [ind for ind in population if not ind.fitness.valid]
        evaluate_all(invalid, toolbox.evaluate, toolbox.map)
        _log(logbook, stats, population, 0, len(invalid), t0, test_data, halloffame, verbose)
        start = 1
    else:
        start, logbook = resume_from[0] + 1, resume_from[1]
    for gen in range(start, ngen + 1):
        t0 = time.perf_counter()
        rngs = [np.random.default_rng(s) for s in child_seeds(g, len(population))]
        if update == "asynchronous":
            yield from cells.asynchronous(g.permutation(len(population)), rngs, gen, ngen)
        else:
            yield from cells.synchronous(rngs, gen, ngen)
        _log(logbook, stats, population, gen, len(population), t0, test_data, halloffame, verbose)
        if checkpoint is not None:
            checkpoint(gen, population, logbook)
    return population, logbook


def _checked_grid(grid, population, update, concept, pairing, tournsize, eval_size, ngen) -> Grid:
    """The grid (from its string form) once every argument of :func:`gridSteps` is checked."""
    check_choice("update", update, ("synchronous", "asynchronous"))
    check_choice("solution concept", concept, CONCEPTS)
    check_choice("pairing", pairing, PAIRINGS)
    if isinstance(grid, str):
        grid = Grid.from_string(grid)
    elif not isinstance(grid, Grid):
        raise TypeError(f"grid must be an evoprune.topology.Grid or a string such as 'ring:10', got {grid!r}")
    if len(population) != grid.n_cells:
        raise ValueError(f"population has {len(population)} individuals but the grid has {grid.n_cells} cells")
    if tournsize < 1 or eval_size < 1 or ngen < 0:
        raise ValueError(f"need tournsize >= 1, eval_size >= 1, ngen >= 0; got {tournsize}, {eval_size}, {ngen}")
    return grid


@dataclass
class _Cells:
    """A grid's cells and how each forms its child (the state of :func:`gridSteps`)."""

    population: list
    hoods: list[list[int]]
    data: torch.Tensor
    eval_size: int
    concept: str
    tournsize: int
    pairing: str
    select: Callable | None

    def batch(self, rng: np.random.Generator) -> np.ndarray:
        return rng.choice(self.data.shape[0], size=min(self.eval_size, self.data.shape[0]), replace=False)

    def child_of(self, c: int, errors: torch.Tensor, rng: np.random.Generator):
        hood, centre = self.hoods[c], self.population[c]
        ei, di = select_pair(errors, self.concept, self.tournsize, rng, self.pairing)
        enc, dec = self.population[hood[ei]], self.population[hood[di]]
        child = type(centre).from_halves(enc.encoder.clone(), dec.decoder.clone(), centre.lr)
        if hasattr(enc, "zeros_at_prune") or hasattr(dec, "zeros_at_prune"):  # each half keeps its own count
            child.zeros_at_prune = [getattr(enc, "zeros_at_prune", (0, 0))[0],
                                    getattr(dec, "zeros_at_prune", (0, 0))[1]]
        return child

    def replace(self, centre, child):
        if self.select is None:
            return child
        centre.pruned = False
        return self.select([centre, child], 1)[0]

    def asynchronous(self, order, rngs, gen: int, ngen: int) -> Steps:
        """Cells in ``order``, each reading the grid as it is now: one stack of one per cell."""
        pop = self.population
        for c in order:
            hood = self.hoods[c]
            batch = self.data[torch.from_numpy(self.batch(rngs[c])).to(self.data.device)]
            errors = pairing_errors([pop[j].encoder for j in hood], [pop[j].decoder for j in hood], batch)
            (child,) = yield VaryRequest([self.child_of(c, errors, rngs[c])], [rngs[c]], [len(hood)], gen, ngen)
            pop[c] = self.replace(pop[c], child)

    def synchronous(self, rngs, gen: int, ngen: int) -> Steps:
        """Every cell reads the previous generation: all cells form one stack."""
        pop = self.population
        batches = torch.from_numpy(np.stack([self.batch(r) for r in rngs])).to(self.data.device)
        nb = torch.as_tensor(np.asarray(self.hoods), dtype=torch.long)
        errors = neighbourhood_errors(pop, nb, self.data[batches])
        children = [self.child_of(c, errors[c], rngs[c]) for c in range(len(pop))]
        children = yield VaryRequest(children, rngs, [len(self.hoods[0])] * len(children), gen, ngen)
        pop[:] = [self.replace(centre, child) for centre, child in zip(pop, children, strict=True)]


def _log(logbook, stats, population, gen, nevals, t0, test_data, halloffame, verbose) -> None:
    """Record a generation: the learning rates, the best centre (and its test error), the statistics."""
    lrs = [ind.lr for ind in population]
    best = best_centre(population, index=True)
    extra = {"npruned": sum(getattr(i, "pruned", False) for i in population) if gen else 0, "lr_min": min(lrs),
             "lr_median": float(np.median(lrs)), "lr_max": max(lrs), "best": best,
             "best_kept": population[best].fraction_kept}
    if test_data is not None:
        extra["best_test"] = float(reconstruction_errors([population[best]], test_data)[0])
    if halloffame is not None:
        halloffame.update(population)
    extra["time"] = time.perf_counter() - t0
    record(logbook, stats, population, gen, nevals, extra, verbose)


def eaToroidalGrid(
    population: list,
    toolbox,
    grid: Grid | str,
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
    data=None,
    test_data=None,
    checkpoint=None,
    resume_from=None,
    prune_first: bool = False,
    pairing: str = "independent",
):
    """Spatial coevolution of encoders and decoders on a toroidal grid; returns ``(population, logbook)``.

    The toolbox needs ``train`` and ``evaluate``, optionally ``mutate``, ``prune`` + ``schedule``, ``loss`` and
    ``select``: without ``select`` the child always replaces the centre (the paper's rule); with it (e.g.
    :func:`evoprune.selection.selParsimony`) the centre survives a worse child.

    Pseudocode::

        evaluate(population)
        for t = 1 .. ngen:
            synchronous:  every cell reads generation t-1; all cells form one stack
            asynchronous: cells in random order, each reading the grid as it is now
                          (a stack of one)
            for each cell c:
                N = neighbourhood(c)                     # centre first
                E[i, j] = loss(encoder_i ∘ decoder_j) on a training batch, i, j in N
                score encoders and decoders by the solution concept
                    (best: min over partners; worst: max; mean)
                enc = tournament(encoders of N)          # independent draws
                dec = tournament(decoders of N)
                child = (enc, dec) with cell c's learning rate
            vary(children):                              # evoprune.engine.variation.vary
                p = schedule(t, ngen, |N|)
                with probability p: prune(child)         # if prune_first
                train(child)                             # one epoch (loss(t, ngen))
                mutate(child)                            # learning rate
                with probability p: prune(child)         # if not prune_first
                evaluate(child)
            centre(c) = child, or select([centre(c), child], 1) if toolbox.select exists
            halloffame.update(population); record stats

    The logbook has ``gen``, ``nevals``, ``npruned``, ``time``, ``lr_min``/``lr_median``/``lr_max``, ``best``
    (index of the centre with the best training fitness), ``best_kept`` (its fraction kept), ``best_test`` (its
    error on ``test_data``, if given) and the ``stats`` fields.  :func:`best_centre` picks the best centre pair on
    held-out data.

    Parameters
    ----------
    population
        One genome per cell, cell c's the centre of c (the list is updated in place).
    toolbox
        A :class:`deap.base.Toolbox` with the operators (see :mod:`evoprune.algorithms`).
    grid
        A :class:`~evoprune.topology.Grid` with one cell per individual, or its string form (``"ring:10"``,
        ``"4x5:moore"``: :meth:`~evoprune.topology.Grid.from_string`).
    ngen
        Number of generations.
    stats
        Statistics recorded each generation, or ``None``.
    halloffame
        Hall of fame updated with the population, or ``None``.
    verbose
        Print the logbook as it grows.
    rng
        Seed or NumPy generator of every random choice.
    update
        ``"synchronous"`` or ``"asynchronous"``.
    concept
        Solution concept, a key of :data:`CONCEPTS`.
    tournsize
        Tournament size of the encoder and decoder selection.
    eval_size
        Rows of the pairing batch each cell draws.
    data
        Training rows the pairing batches are drawn from (required).
    test_data
        Held-out data for the logbook's ``best_test``, or ``None``.
    checkpoint
        ``checkpoint(gen, population, logbook)``, called after every generation, or ``None``.
    resume_from
        ``(gen, logbook)`` of a saved run to continue, or ``None`` (as in :func:`~evoprune.algorithms.eaMuPlusLambda`).
    prune_first
        Prune before training instead of after.
    pairing
        ``"independent"`` tournaments, or ``"same_index"`` (see :data:`PAIRINGS`).
    """
    steps = gridSteps(population, toolbox, grid, ngen, stats=stats, halloffame=halloffame, verbose=verbose, rng=rng,
                      update=update, concept=concept, tournsize=tournsize, eval_size=eval_size, data=data,
                      test_data=test_data, checkpoint=checkpoint, resume_from=resume_from, pairing=pairing)
    return run_steps(steps, Operators.from_toolbox(toolbox, prune_first), toolbox.map)


def best_centre(population: list, holdout=None, index: bool = False):
    """The centre genome with the lowest error on ``holdout`` (or, without it, the best training fitness).

    Parameters
    ----------
    population
        The grid's centre genomes.
    holdout
        Held-out data, or ``None`` to use the training fitness.
    index
        Return the cell index instead of the genome.
    """
    if holdout is None:
        scores = [ind.fitness.values[0] if ind.fitness.valid else float("inf") for ind in population]
    else:
        holdout = check_rows(holdout, population[0].arch.input_shape, "holdout data")
        scores = reconstruction_errors(population, holdout).tolist()
    i = int(np.argmin(scores))
    return i if index else population[i]
