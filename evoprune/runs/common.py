"""What the settings share: creator classes, pruning registration, a run's result and how it is finished."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from deap import base, creator, tools

from ..backends import select_backend
from ..data import check_row_shape
from ..engine.tradeoff import TradeoffStatistics, run_points, summarise
from ..evaluation import reconstruction_error, reconstruction_errors
from ..genome import Architecture
from ..metrics import PopulationErrors, default_stats, inference_time
from ..pruning import mutPrune
from ..schedules import PublishedClock, Schedule
from ..training import LRDecay, mutLearningRate, mutTrain
from ..util.io import logbook_records
from ..util.plugins import user_model
from .registry import get_setting


def ensure_creator() -> None:
    """Create the study runs' ``creator`` classes once per process: ``FitnessMin``/``AEIndividual`` (training
    L1) and ``FitnessTradeoff``/``AETradeoffIndividual`` (training L1 and fraction kept, for NSGA-II)."""
    from ..genome import AutoencoderGenome

    if not hasattr(creator, "FitnessMin"):
        creator.create("FitnessMin", base.Fitness, weights=(-1.0,))
    if not hasattr(creator, "AEIndividual"):
        creator.create("AEIndividual", AutoencoderGenome, fitness=creator.FitnessMin)
    if not hasattr(creator, "FitnessTradeoff"):
        creator.create("FitnessTradeoff", base.Fitness, weights=(-1.0, -1.0))
    if not hasattr(creator, "AETradeoffIndividual"):
        creator.create("AETradeoffIndividual", AutoencoderGenome, fitness=creator.FitnessTradeoff)


def base_toolbox(cfg, data) -> base.Toolbox:
    """What every setting registers: ``train``, ``loss``, ``lr_schedule`` and ``mutate`` (where configured)."""
    tb = base.Toolbox()
    tb.register("train", mutTrain, data=data.train, batch_size=cfg.batch_size, betas=cfg.adam_betas,
                optimizer_reset=cfg.optimizer_reset, record=training_record(cfg))
    tb.register("loss", cfg.loss_schedule)
    if cfg.lr_decay != "none":
        tb.register("lr_schedule", LRDecay(cfg.lr_decay))
    if cfg.lr_sigma > 0:
        tb.register("mutate", mutLearningRate, sigma=cfg.lr_sigma, scale=cfg.lr_mutation, low=cfg.lr_bounds[0],
                    high=cfg.lr_bounds[1])
    return tb


def records(cfg) -> bool:
    """Whether the run's pruning method reads the training passes (so training records them)."""
    method = cfg.method()
    return method is not None and method.reads_training


def training_record(cfg) -> str:
    """What the run's training records of its passes (:data:`~evoprune.training.RECORDS`)."""
    return get_setting(cfg.setting).training_record if records(cfg) else "none"


def register_pruning(toolbox: base.Toolbox, cfg, data, last: str = "T") -> None:
    """Register ``prune`` and ``schedule`` for ``cfg.operator`` (``last``: the published clock's denominator)."""
    method = cfg.method()
    if method is None:
        return
    rows = getattr(data, method.reads or cfg.pruning_data) if method.needs_data else None
    masks = {} if cfg.masks == "permanent" else {"masks": cfg.masks}
    toolbox.register("prune", mutPrune, method=method, data=rows, **masks)
    schedule = Schedule(cfg.schedule, cfg.probability)
    toolbox.register("schedule", schedule if cfg.schedule_clock == "evoprune" else PublishedClock(schedule, last))


@dataclass
class RunResult:
    """Final numbers and per-generation records of one run.

    Parameters
    ----------
    label
        ``none`` or ``<operator>-<schedule>``.
    seed
        The run's seed.
    records
        The logbook, one dict per generation.
    test_l1, train_l1
        Test and training L1 of the reported model.
    fraction_kept
        Fraction of the reported model's parameters kept.
    kept_encoder, kept_decoder
        Fraction of its encoder and of its decoder kept.
    wall_time
        Seconds the run took.
    inference_time
        Median seconds of one forward pass of the reported model over the test data.
    backend
        What trained it: ``"fused"``, ``"torch"`` or ``"torch-layered"`` (:func:`~evoprune.backends.select_backend`).
    tradeoff
        The run's trade-off summary (see :func:`~evoprune.engine.tradeoff.summarise`).
    best
        The reported model (a genome), or ``None``.
    population
        The final population, or ``None``.
    published
        With ``report_metric = "published"``: ``published_train_l1`` and ``published_kept``.
    """

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
    backend: str = "torch"
    tradeoff: dict = field(default_factory=dict)
    best: Any = None
    population: Any = None
    published: dict = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The results to save: scalars, the trade-off summary and the published numbers (if recorded)."""
        skip = ("records", "best", "population", "tradeoff", "published")
        return {**{k: getattr(self, k) for k in self.__dataclass_fields__ if k not in skip}, **self.tradeoff,
                **self.published}


def run_stats(data, test_chapter: bool = True) -> tools.MultiStatistics:
    """:func:`~evoprune.metrics.default_stats` plus the ``tradeoff`` chapter (its front chosen on validation data)."""
    stats = default_stats(data.test if test_chapter else None)
    validation = PopulationErrors(data.validation)  # cleared at each compile, and looks up surviving genomes
    stats.shared.append(validation)
    stats["tradeoff"] = TradeoffStatistics(data.validation, errors=validation, test=data.test,
                                           test_errors=stats.shared[0] if test_chapter else None)
    return stats


def select_final(population: list, holdout: torch.Tensor, tolerance: float):
    """The model a run with several (μ > 1) reports: the sparsest within ``tolerance`` of the best holdout L1.

    Parameters
    ----------
    population
        Candidate genomes.
    holdout
        Held-out (validation) data.
    tolerance
        Relative L1 tolerance.
    """
    errors = [reconstruction_error(ind, holdout) for ind in population]
    bar = min(errors) * (1 + tolerance)
    near = [i for i, e in enumerate(errors) if e <= bar]
    return population[min(near, key=lambda i: (population[i].n_kept, errors[i]))]


def finish(label: str, seed: int, best, logbook, data, wall: float, loss: str = "l1",
           record: bool = False) -> RunResult:
    """The :class:`RunResult` of a finished run whose reported model is ``best`` (trained last with ``loss``,
    recording its training passes if ``record``)."""
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
        inference_time=inference_time(best.to_module(), data.test.cpu()),
        backend=select_backend((best.encoder.spec, best.decoder.spec), data.test.device, loss, record).name,
        tradeoff=summarise(run_points(records, (reconstruction_error(best, data.validation), kept, test_l1))),
        best=best,
    )


def published_numbers(population: list, data) -> dict[str, float]:
    """The published figures' mean training L1 and mean fraction kept (each half's zeros at its own last pruning,
    biases included) over a final population, as ``paper_plots.ipynb`` computes them."""
    train = reconstruction_errors(population, data.train)
    kept = [1 - sum(getattr(ind, "zeros_at_prune", ())) / ind.n_params for ind in population]
    return {"published_train_l1": float(train.mean()), "published_kept": float(np.mean(kept))}


def single_thread() -> None:
    """Use one intra-op thread: small matrix products run fastest so (measured in benchmarks/)."""
    torch.set_num_threads(1)


def run_architecture(cfg, data) -> Architecture:
    """A run's architecture: the user model's (its shape only), else the paper's with ``hidden``/``latent``."""
    if cfg.model is None:
        arch = Architecture.paper(data.dim, cfg.hidden, cfg.latent)
    else:
        arch = Architecture.from_modules(*user_model(cfg.model, [Path.cwd()]))
    check_row_shape(data.shape, arch.input_shape, f"{data.name} data")
    return arch


def init_rng(seed: int) -> np.random.Generator:
    """The generator of a run's initial weights (independent of the run's own generator)."""
    return np.random.default_rng([seed, 1])
