"""One run of one configuration: build the DEAP toolbox, run the algorithm, collect the numbers.

This is the glue used by the demo, the study runner and the examples; users
who want full control build their own toolbox the same way (see the tutorial).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from deap import base, creator

from .algorithms import eaMuPlusLambda
from .data import Dataset
from .evaluation import evaluate, reconstruction_error
from .genome import Architecture, AutoencoderGenome
from .io import logbook_records
from .metrics import default_stats, inference_time
from .pruning import NEEDS_DATA, PRUNERS
from .schedules import PAPER_PROBABILITY, SCHEDULES, Schedule
from .selection import selParsimony
from .training import LOSSES, mutLearningRate, mutTrain
from .validation import check_amount, check_choice, check_probability

OPERATORS = ("none", *PRUNERS)


def ensure_creator() -> None:
    """Create ``creator.FitnessMin`` and ``creator.AEIndividual`` once per process."""
    if not hasattr(creator, "FitnessMin"):
        creator.create("FitnessMin", base.Fitness, weights=(-1.0,))
    if not hasattr(creator, "AEIndividual"):
        creator.create("AEIndividual", AutoencoderGenome, fitness=creator.FitnessMin)


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one run (besides the data and the seed)."""

    setting: str = "canonical"
    operator: str = "none"
    schedule: str = "exponential"
    p: float | None = None  # None: the paper's probability for the operator
    amount: float = 0.1
    generations: int = 100
    batch_size: int = 32
    loss: str = "bce"
    lr: float = 1e-3
    lr_sigma: float = 0.1
    tolerance: float = 0.05
    hidden: int = 30
    latent: int = 10
    n_cases: int = 100
    grid: str = "ring:10"
    update: str = "synchronous"
    concept: str = "best"
    replacement: str = "always"
    prune_first: bool | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_choice("setting", self.setting, ("canonical", "grid"))
        check_choice("operator", self.operator, OPERATORS)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("loss", self.loss, LOSSES)
        check_choice("replacement", self.replacement, ("always", "parsimony"))
        if self.p is not None:
            check_probability("p", self.p)
        check_amount("amount", self.amount)
        check_amount("tolerance", self.tolerance)
        for name in ("generations", "batch_size", "hidden", "latent", "n_cases"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")

    @property
    def probability(self) -> float:
        return PAPER_PROBABILITY[self.operator] if self.p is None and self.operator != "none" else (self.p or 0.0)

    @property
    def label(self) -> str:
        return "none" if self.operator == "none" else f"{self.operator}-{self.schedule}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def register_pruning(toolbox: base.Toolbox, cfg: RunConfig, train_data: torch.Tensor) -> None:
    """Register ``prune`` and ``schedule`` for ``cfg.operator`` (nothing for ``"none"``)."""
    if cfg.operator == "none":
        return
    kw: dict[str, Any] = {"amount": cfg.amount}
    if cfg.operator in NEEDS_DATA:
        kw["data"] = train_data
        kw["n_cases"] = cfg.n_cases
    if cfg.operator == "conjunctive":
        kw.pop("amount")
    toolbox.register("prune", PRUNERS[cfg.operator], **kw)
    toolbox.register("schedule", Schedule(cfg.schedule, cfg.probability))


def canonical_toolbox(cfg: RunConfig, data: Dataset) -> base.Toolbox:
    """The (1 + 1) canonical-training toolbox for ``cfg``."""
    tb = base.Toolbox()
    tb.register("train", mutTrain, data=data.train, batch_size=cfg.batch_size, loss=cfg.loss)
    if cfg.lr_sigma > 0:
        tb.register("mutate", mutLearningRate, sigma=cfg.lr_sigma)
    tb.register("evaluate", evaluate, data=data.train)
    tb.register("select", selParsimony, tolerance=cfg.tolerance)
    register_pruning(tb, cfg, data.train)
    return tb


@dataclass
class RunResult:
    """Final numbers and per-generation records of one run."""

    label: str
    seed: int
    records: list[dict]
    test_l1: float
    train_l1: float
    fraction_kept: float
    kept_encoder: float
    kept_decoder: float
    wall_time: float
    inference_time: float
    best: Any = None
    population: Any = None

    def summary(self) -> dict[str, Any]:
        """The scalar results (no records, genomes or population)."""
        skip = ("records", "best", "population")
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in skip}


def _stats_with_progress(stats, on_generation: Callable[[], None] | None):
    if on_generation is None:
        return stats

    compile_ = stats.compile

    def compile_and_tick(pop):
        out = compile_(pop)
        on_generation()
        return out

    stats.compile = compile_and_tick
    return stats


def resumable(seed: int, population: list, checkpoint, resume):
    """The run's generator, population, ``checkpoint`` callback and ``resume_from`` argument.

    ``resume`` is a :class:`~evoprune.study.checkpoint.Checkpoint` (or None);
    ``checkpoint(gen, population, logbook, rng)`` receives the run's generator
    so that its state can be saved.
    """
    g = np.random.default_rng(seed)
    resume_from = None
    if resume is not None:
        population = resume.population
        g.bit_generator.state = resume.rng_state
        resume_from = (resume.gen, resume.logbook)
    callback = None if checkpoint is None else (lambda gen, pop, log: checkpoint(gen, pop, log, g))
    return g, population, callback, resume_from


def run_canonical(
    cfg: RunConfig,
    data: Dataset,
    seed: int,
    on_generation: Callable[[], None] | None = None,
    checkpoint=None,
    resume=None,
) -> RunResult:
    """Canonical training with scheduled pruning: ``eaMuPlusLambda`` with μ = λ = 1."""
    ensure_creator()
    arch = Architecture.paper(data.dim, cfg.hidden, cfg.latent)
    init = np.random.default_rng([seed, 1])
    g, pop, callback, resume_from = resumable(
        seed, [creator.AEIndividual(arch, rng=init, lr=cfg.lr)], checkpoint, resume
    )
    stats = _stats_with_progress(default_stats(data.test), on_generation)
    t0 = time.perf_counter()
    pop, log = eaMuPlusLambda(
        pop,
        canonical_toolbox(cfg, data),
        1,
        1,
        cfg.generations,
        stats=stats,
        rng=g,
        checkpoint=callback,
        resume_from=resume_from,
        prune_first=True if cfg.prune_first is None else cfg.prune_first,
    )
    return finish(cfg.label, seed, pop[0], log, data, time.perf_counter() - t0)


def finish(label: str, seed: int, best, logbook, data: Dataset, wall: float) -> RunResult:
    return RunResult(
        label=label,
        seed=seed,
        records=logbook_records(logbook),
        test_l1=reconstruction_error(best, data.test),
        train_l1=reconstruction_error(best, data.train),
        fraction_kept=best.fraction_kept,
        kept_encoder=best.encoder.fraction_kept,
        kept_decoder=best.decoder.fraction_kept,
        wall_time=wall,
        inference_time=inference_time(best.to_module(), data.test),
        best=best,
    )


def run(
    cfg: RunConfig,
    data: Dataset,
    seed: int,
    on_generation: Callable[[], None] | None = None,
    checkpoint=None,
    resume=None,
) -> RunResult:
    """Run ``cfg`` on ``data`` with ``seed`` (canonical or grid), optionally checkpointed / resumed."""
    if cfg.setting == "canonical":
        return run_canonical(cfg, data, seed, on_generation, checkpoint, resume)
    from .grid_run import run_grid

    return run_grid(cfg, data, seed, on_generation, checkpoint=checkpoint, resume=resume)


def single_thread() -> None:
    """Small matrix products run fastest on one intra-op thread (measured in benchmarks/)."""
    torch.set_num_threads(1)
