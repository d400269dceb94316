"""Run a configuration: one trial, or K independent trials in lockstep through one engine."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from ..data import Dataset
from ..engine.variation import Operators, Steps, lockstep
from ..util.device import resolve_device
from .common import RunResult, finish, published_numbers, records
from .config import RunConfig
from .registry import get_setting


def _ticking(steps: Steps, tick: Callable[[], None], skip_first: bool) -> Steps:
    """``steps`` with ``tick()`` after every recorded generation (each yield, and the end)."""
    value, first = None, True
    try:
        while True:
            request = next(steps) if first else steps.send(value)
            if not (first and skip_first):
                tick()
            first = False
            value = yield request
    except StopIteration as stop:
        tick()
        return stop.value


def run_trials(
    cfg: RunConfig,
    data: Dataset,
    seeds: Sequence[int],
    *,
    device=None,
    on_generation: Callable[[int], None] | None = None,
    checkpoints: Sequence[Callable | None] | None = None,
    resumes: Sequence | None = None,
    map_: Callable = map,
) -> list[RunResult]:
    """Run ``cfg`` once per seed, the trials' offspring varied as one stack; one :class:`RunResult` per seed.

    A trial gives the result it gives alone: the same decisions, and weights within float tolerance.

    Parameters
    ----------
    cfg, data
        The configuration and the data set (moved to ``device`` once).
    seeds
        One seed per trial.
    device
        Device to run on (default: ``cfg.device``).
    on_generation
        ``on_generation(k)``, called after each generation of trial k, or ``None``.
    checkpoints
        Per trial, ``checkpoint(gen, population, logbook, rng)``, called after each generation, or ``None``.
    resumes
        Per trial, a checkpoint to continue from (``population``, ``rng_state``, ``gen``, ``logbook`` and
        ``wall_time``, the seconds it had taken, added to the result's), or ``None``.
    map_
        Map the variation chunks go through.
    """
    setting = get_setting(cfg.setting)
    if not len(seeds):
        raise ValueError("run_trials needs at least one seed")
    data = data.to(resolve_device(cfg.device if device is None else device))
    toolbox = setting.toolbox(cfg, data)
    ops = Operators.from_toolbox(toolbox, setting.prune_first(cfg))
    runs = [_steps(setting, cfg, data, toolbox, seed, None if checkpoints is None else checkpoints[k],
                   None if resumes is None else resumes[k], on_generation, k) for k, seed in enumerate(seeds)]
    priors = [float(getattr(r, "wall_time", 0.0)) for r in (resumes or [None] * len(seeds))]
    t0 = time.perf_counter()
    outcomes = lockstep(runs, ops, map_)
    share = (time.perf_counter() - t0) / len(seeds)  # trials in lockstep share the job's time
    results = []
    for seed, (population, logbook), prior in zip(seeds, outcomes, priors, strict=True):
        result = finish(cfg.label, int(seed), setting.final(cfg, population, data), logbook, data, prior + share,
                        cfg.loss_schedule.names[-1], records(cfg))
        result.population = population
        if cfg.report_metric == "published":
            result.published = published_numbers(population, data)
        results.append(result)
    return results


def _steps(setting, cfg, data, toolbox, seed: int, save, resume, on_generation, k: int) -> Steps:
    """Trial k's algorithm generator: from its checkpoint ``resume``, else a new population from ``seed``."""
    g = np.random.default_rng(seed)
    resume_from = None
    if resume is not None:
        population = resume.population
        g.bit_generator.state = resume.rng_state
        resume_from = (resume.gen, resume.logbook)
    else:
        population = setting.population(cfg, data, seed)
    callback = None if save is None else (lambda gen, pop, log: save(gen, pop, log, g))
    steps = setting.steps(cfg, data, toolbox, population, g, setting.stats(cfg, data), callback, resume_from)
    if on_generation is not None:
        steps = _ticking(steps, lambda: on_generation(k), skip_first=resume is not None)
    return steps


def run(cfg: RunConfig, data: Dataset, seed: int, on_generation: Callable[[], None] | None = None,
        checkpoint=None, resume=None, device=None) -> RunResult:
    """Run ``cfg`` on ``data`` with ``seed`` (any setting), optionally checkpointed / resumed.

    Parameters
    ----------
    cfg, data
        The configuration and the data set.
    seed
        The run's seed.
    on_generation
        Called after every generation, or ``None``.
    checkpoint
        ``checkpoint(gen, population, logbook, rng)`` after every generation, or ``None``.
    resume
        A checkpoint to continue from, or ``None``.
    device
        Device to run on (default: ``cfg.device``).
    """
    tick = None if on_generation is None else (lambda _k: on_generation())
    return run_trials(cfg, data, [seed], device=device, on_generation=tick, checkpoints=[checkpoint],
                      resumes=[resume])[0]
