"""Metrics and DEAP Statistics helpers: reconstruction L1, fraction kept, inference time."""

from __future__ import annotations

import time

import numpy as np
import torch
from deap import tools

from .evaluation import reconstruction_error
from .genome import AutoencoderGenome
from .kernels import reconstruction_errors

__all__ = [
    "fraction_kept",
    "train_error",
    "test_error",
    "PopulationErrors",
    "BatchStatistics",
    "SharedStatistics",
    "default_stats",
    "inference_time",
]


def fraction_kept(individual: AutoencoderGenome) -> float:
    return individual.fraction_kept


def train_error(individual) -> float:
    return individual.fitness.values[0]


def test_error(individual: AutoencoderGenome, data: torch.Tensor, metric: str = "l1") -> float:
    return reconstruction_error(individual, data, metric)


def _nanmedian(a) -> float:
    return float(np.median(a))


class PopulationErrors:
    """Errors of a whole population on ``data`` in one batched pass, kept for the other chapters of the
    same :class:`SharedStatistics` compile (so test errors are computed once per generation)."""

    def __init__(self, data: torch.Tensor, metric: str = "l1") -> None:
        self.data, self.metric = data, metric
        self.clear()

    def clear(self) -> None:
        self._key: tuple | None = None
        self._values: list[float] = []

    def __call__(self, population) -> list[float]:
        key = tuple(map(id, population))
        if key != self._key:
            self._values = reconstruction_errors(list(population), self.data, self.metric).tolist()
            self._key = key
        return self._values


class BatchStatistics(tools.Statistics):
    """:class:`deap.tools.Statistics` whose key maps the whole population at once (e.g. :class:`PopulationErrors`)."""

    def __init__(self, batch_key) -> None:
        super().__init__()
        self.batch_key = batch_key

    def compile(self, data) -> dict:
        values = np.asarray(self.batch_key(data))
        return {name: func(values) for name, func in self.functions.items()}


class SharedStatistics(tools.MultiStatistics):
    """:class:`deap.tools.MultiStatistics` whose chapters share :class:`PopulationErrors` within one compile."""

    def __init__(self, shared: list[PopulationErrors] | None = None, **statistics) -> None:
        super().__init__(**statistics)
        self.shared = list(shared or [])

    def compile(self, data) -> dict:
        for errors in self.shared:
            errors.clear()
        return super().compile(data)


def default_stats(test_data: torch.Tensor | None = None) -> SharedStatistics:
    """``MultiStatistics`` with min/median/max of train fitness, fraction kept and (optionally) test L1.

    Test errors are computed for the whole population in one batched pass
    (``stats.shared[0]``, reusable by other chapters such as the trade-off).
    """
    parts = {"train": tools.Statistics(train_error), "kept": tools.Statistics(fraction_kept)}
    shared = []
    if test_data is not None:
        shared.append(PopulationErrors(test_data))
        parts["test"] = BatchStatistics(shared[0])
    stats = SharedStatistics(shared, **parts)
    stats.register("min", np.min)
    stats.register("median", _nanmedian)
    stats.register("max", np.max)
    return stats


@torch.no_grad()
def inference_time(module: torch.nn.Module, data: torch.Tensor, repeats: int = 20) -> float:
    """Median seconds for one forward pass of ``module`` over ``data``."""
    module.eval()
    module(data)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        module(data)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))
