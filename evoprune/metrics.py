"""Metrics and DEAP Statistics helpers: reconstruction L1, fraction kept, inference time."""

from __future__ import annotations

import time
from functools import partial

import numpy as np
import torch
from deap import tools

from .evaluation import reconstruction_error
from .genome import AutoencoderGenome


def fraction_kept(individual: AutoencoderGenome) -> float:
    return individual.fraction_kept


def train_error(individual) -> float:
    return individual.fitness.values[0]


def test_error(individual: AutoencoderGenome, data: torch.Tensor, metric: str = "l1") -> float:
    return reconstruction_error(individual, data, metric)


def _nanmedian(a) -> float:
    return float(np.median(a))


def default_stats(test_data: torch.Tensor | None = None) -> tools.MultiStatistics:
    """``MultiStatistics`` with min/median/max of train fitness, fraction kept and (optionally) test L1."""
    parts = {"train": tools.Statistics(train_error), "kept": tools.Statistics(fraction_kept)}
    if test_data is not None:
        parts["test"] = tools.Statistics(partial(test_error, data=test_data))
    stats = tools.MultiStatistics(**parts)
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
