"""One grid-coevolution run of a :class:`~evoprune.experiment.RunConfig` (used by the study runner and examples)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from deap import base, creator

from .algorithms import best_centre, eaToroidalGrid
from .data import Dataset
from .evaluation import evaluate
from .experiment import (
    RunConfig,
    RunResult,
    _stats_with_progress,
    ensure_creator,
    finish,
    register_pruning,
    resumable,
    run_stats,
)
from .genome import Architecture
from .selection import selParsimony
from .topology import Grid
from .training import mutLearningRate, mutTrain


def grid_toolbox(cfg: RunConfig, data: Dataset) -> base.Toolbox:
    """Toolbox for :func:`eaToroidalGrid` from ``cfg``: batched-compatible train/evaluate, lr mutation, pruning."""
    tb = base.Toolbox()
    tb.register("train", mutTrain, data=data.train, batch_size=cfg.batch_size)
    tb.register("loss", cfg.loss_schedule)
    if cfg.lr_sigma > 0:
        tb.register("mutate", mutLearningRate, sigma=cfg.lr_sigma)
    tb.register("evaluate", evaluate, data=data.train)
    if cfg.replacement == "parsimony":
        tb.register("select", selParsimony, tolerance=cfg.tolerance)
    register_pruning(tb, cfg, data.train)
    return tb


def run_grid(
    cfg: RunConfig,
    data: Dataset,
    seed: int,
    on_generation: Callable[[], None] | None = None,
    checkpoint=None,
    resume=None,
    **algo_kw,
) -> RunResult:
    """Grid coevolution for ``cfg``; the best centre on the validation set is the run's result."""
    ensure_creator()
    grid = Grid.from_string(cfg.grid)
    arch = Architecture.paper(data.dim, cfg.hidden, cfg.latent)
    init = np.random.default_rng([seed, 1])
    pop = [creator.AEIndividual(arch, rng=init, lr=cfg.lr) for _ in range(grid.n_cells)]
    g, pop, callback, resume_from = resumable(seed, pop, checkpoint, resume)
    stats = _stats_with_progress(run_stats(data.test, test_chapter=False), on_generation)
    t0 = time.perf_counter()
    pop, log = eaToroidalGrid(
        pop,
        grid_toolbox(cfg, data),
        grid,
        cfg.generations,
        stats=stats,
        rng=g,
        update=cfg.update,
        concept=cfg.concept,
        test_data=data.test,
        checkpoint=callback,
        resume_from=resume_from,
        prune_first=bool(cfg.prune_first),
        **algo_kw,
    )
    result = finish(cfg.label, seed, best_centre(pop, data.validation), log, data, time.perf_counter() - t0)
    result.population = pop
    return result
