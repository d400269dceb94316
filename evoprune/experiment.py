"""One run of one configuration: build the DEAP toolbox, run the algorithm, collect the numbers.

This is the glue used by the demo, the study runner and the examples; users
who want full control build their own toolbox the same way (see the tutorial).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from deap import base, creator, tools

from .algorithms import eaMuPlusLambda
from .coevolution import CONCEPTS
from .data import Dataset
from .evaluation import evaluate, evaluate_tradeoff, reconstruction_error
from .genome import Architecture, AutoencoderGenome
from .io import logbook_records
from .metrics import default_stats, inference_time
from .pruning import NEEDS_DATA, PRUNERS
from .schedules import PAPER_PROBABILITY, SCHEDULES, Schedule
from .selection import selParsimony
from .topology import Grid
from .tradeoff import TradeoffStatistics, run_points, summarise
from .training import LossSchedule, mutLearningRate, mutTrain
from .validation import check_amount, check_choice, check_probability

OPERATORS = ("none", *PRUNERS)
#: Survivor selections of the canonical setting.
SELECTIONS = ("parsimony", "best", "nsga2")


def ensure_creator() -> None:
    """Create the ``creator`` classes of the study runs once per process.

    ``FitnessMin``/``AEIndividual`` (fitness: training L1) and
    ``FitnessTradeoff``/``AETradeoffIndividual`` (fitness: training L1 and
    fraction kept, both minimised, for NSGA-II).
    """
    if not hasattr(creator, "FitnessMin"):
        creator.create("FitnessMin", base.Fitness, weights=(-1.0,))
    if not hasattr(creator, "AEIndividual"):
        creator.create("AEIndividual", AutoencoderGenome, fitness=creator.FitnessMin)
    if not hasattr(creator, "FitnessTradeoff"):
        creator.create("FitnessTradeoff", base.Fitness, weights=(-1.0, -1.0))
    if not hasattr(creator, "AETradeoffIndividual"):
        creator.create("AETradeoffIndividual", AutoencoderGenome, fitness=creator.FitnessTradeoff)


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
    loss: str = "bce>l1"
    loss_switch: float = 0.5  # fraction of the generations trained with the first stage of a loss schedule
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
    selection: str = "parsimony"  # canonical survivor selection: parsimony, best or nsga2
    mu: int = 1
    lambda_: int = 1
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_choice("setting", self.setting, ("canonical", "grid"))
        check_choice("operator", self.operator, OPERATORS)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("replacement", self.replacement, ("always", "parsimony"))
        check_choice("update", self.update, ("synchronous", "asynchronous"))
        check_choice("selection", self.selection, SELECTIONS)
        check_choice("solution concept", self.concept, CONCEPTS)
        Grid.from_string(self.grid)
        if self.p is not None:
            check_probability("p", self.p)
        check_amount("amount", self.amount)
        check_amount("tolerance", self.tolerance)
        check_probability("loss_switch", self.loss_switch)
        if isinstance(self.loss, str) and self.loss.count(">") > 1:
            raise ValueError(f"loss {self.loss!r}: a run configuration takes at most two stages (one loss_switch)")
        LossSchedule(self.loss, self.loss_switch)  # checks the loss names
        for name in ("generations", "batch_size", "hidden", "latent", "n_cases", "mu", "lambda_"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, int | float) or not (0 < self.lr < math.inf):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        if isinstance(self.lr_sigma, bool) or not isinstance(self.lr_sigma, int | float) or not (
            0 <= self.lr_sigma < math.inf
        ):
            raise ValueError(f"lr_sigma must be a finite number >= 0, got {self.lr_sigma!r}")
        if self.prune_first is not None and not isinstance(self.prune_first, bool):
            raise ValueError(f"prune_first must be true or false, got {self.prune_first!r}")

    @property
    def probability(self) -> float:
        return PAPER_PROBABILITY[self.operator] if self.p is None and self.operator != "none" else (self.p or 0.0)

    @property
    def label(self) -> str:
        return "none" if self.operator == "none" else f"{self.operator}-{self.schedule}"

    @property
    def loss_schedule(self) -> LossSchedule:
        """The training loss by generation: ``loss`` (e.g. ``"bce>l1"``) switching after ``loss_switch`` of the run."""
        return LossSchedule(self.loss, self.loss_switch)

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
    """The (μ + λ) canonical-training toolbox for ``cfg`` (selection: parsimony, best or NSGA-II)."""
    tb = base.Toolbox()
    tb.register("train", mutTrain, data=data.train, batch_size=cfg.batch_size)
    tb.register("loss", cfg.loss_schedule)
    if cfg.lr_sigma > 0:
        tb.register("mutate", mutLearningRate, sigma=cfg.lr_sigma)
    if cfg.selection == "nsga2":
        tb.register("evaluate", evaluate_tradeoff, data=data.train)
        tb.register("select", tools.selNSGA2)
    else:
        tb.register("evaluate", evaluate, data=data.train)
        if cfg.selection == "parsimony":
            tb.register("select", selParsimony, tolerance=cfg.tolerance)
        else:
            tb.register("select", tools.selBest)
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
    tradeoff: dict = field(default_factory=dict)
    best: Any = None
    population: Any = None

    def summary(self) -> dict[str, Any]:
        """The results to save: scalars and the trade-off summary (no records, genomes or population)."""
        skip = ("records", "best", "population", "tradeoff")
        return {**{k: getattr(self, k) for k in self.__dataclass_fields__ if k not in skip}, **self.tradeoff}


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
    cls = creator.AETradeoffIndividual if cfg.selection == "nsga2" else creator.AEIndividual
    g, pop, callback, resume_from = resumable(
        seed, [cls(arch, rng=init, lr=cfg.lr) for _ in range(cfg.mu)], checkpoint, resume
    )
    stats = _stats_with_progress(run_stats(data.test), on_generation)
    t0 = time.perf_counter()
    pop, log = eaMuPlusLambda(
        pop,
        canonical_toolbox(cfg, data),
        cfg.mu,
        cfg.lambda_,
        cfg.generations,
        stats=stats,
        rng=g,
        checkpoint=callback,
        resume_from=resume_from,
        prune_first=True if cfg.prune_first is None else cfg.prune_first,
    )
    best = pop[0] if len(pop) == 1 else select_final(pop, data.validation, cfg.tolerance)
    result = finish(cfg.label, seed, best, log, data, time.perf_counter() - t0)
    result.population = pop
    return result


def select_final(population: list, holdout: torch.Tensor, tolerance: float):
    """The model a run reports: the sparsest whose ``holdout`` L1 is within ``tolerance`` (relative) of the best.

    Used when a run ends with several models (μ > 1, e.g. an NSGA-II trade-off front).
    """
    errors = [reconstruction_error(ind, holdout) for ind in population]
    bar = min(errors) * (1 + tolerance)
    near = [i for i, e in enumerate(errors) if e <= bar]
    return population[min(near, key=lambda i: (population[i].n_kept, errors[i]))]


def run_stats(test_data: torch.Tensor, test_chapter: bool = True) -> tools.MultiStatistics:
    """The study runs' statistics: :func:`~evoprune.metrics.default_stats` plus the ``tradeoff`` chapter."""
    stats = default_stats(test_data if test_chapter else None)
    stats["tradeoff"] = TradeoffStatistics(test_data)
    return stats


def finish(label: str, seed: int, best, logbook, data: Dataset, wall: float) -> RunResult:
    records = logbook_records(logbook)
    test_l1, kept = reconstruction_error(best, data.test), best.fraction_kept
    return RunResult(
        label=label,
        seed=seed,
        records=records,
        test_l1=test_l1,
        train_l1=reconstruction_error(best, data.train),
        fraction_kept=kept,
        kept_encoder=best.encoder.fraction_kept,
        kept_decoder=best.decoder.fraction_kept,
        wall_time=wall,
        inference_time=inference_time(best.to_module(), data.test),
        tradeoff=summarise(run_points(records, (test_l1, kept))),
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
