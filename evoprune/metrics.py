"""Metrics and DEAP Statistics helpers: reconstruction L1, fraction kept, inference time."""

from __future__ import annotations

import hashlib
import time

import numpy as np
import torch
from deap import tools

from .evaluation import reconstruction_errors
from .genome import AutoencoderGenome

__all__ = [
    "fraction_kept",
    "PopulationErrors",
    "BatchStatistics",
    "SharedStatistics",
    "default_stats",
    "inference_time",
]


def fraction_kept(individual: AutoencoderGenome) -> float:
    """Fraction of ``individual``'s parameters not pruned (a statistics key).

    Parameters
    ----------
    individual
        The genome.
    """
    return individual.fraction_kept


def train_error(individual) -> float:
    """The first fitness value of ``individual`` (its training error; a statistics key)."""
    return individual.fitness.values[0]




def _nanmedian(a) -> float:
    return float(np.median(a))


def _digest(individual) -> bytes:
    """A digest of everything an individual's errors depend on: its halves' weights and masks."""
    h = hashlib.sha256()  # hardware-accelerated on most CPUs
    for half in (individual.encoder, individual.decoder):
        for t in (*half.params, *half.masks):
            h.update(t.detach().cpu().contiguous().numpy())
    return h.digest()


class PopulationErrors:
    """Errors of a whole population on ``data`` in one batched pass, kept for the other chapters of the
    same :class:`SharedStatistics` compile; a survivor of the previous call is looked up, not measured again.

    Parameters
    ----------
    data
        The data the errors are measured on.
    metric
        ``l1``, ``mse`` or ``bce``.
    """

    def __init__(self, data: torch.Tensor, metric: str = "l1") -> None:
        self.data, self.metric = data, metric
        self._known: dict[bytes, float] = {}  # digest -> error, for the last population measured
        self.clear()

    def clear(self) -> None:
        """Forget the kept errors (the next call looks them up again, or recomputes them)."""
        self._key: tuple | None = None
        self._values: list[float] = []
        self._given: tuple[tuple, list[bytes]] | None = None

    def give_digests(self, population, digests: list[bytes]) -> None:
        """Hand over the digests of ``population``'s members, computed once for several of these.

        Parameters
        ----------
        population
            The population the next call will measure.
        digests
            One digest per member, in order.
        """
        self._given = (tuple(map(id, population)), digests)

    def __call__(self, population) -> list[float]:
        key = tuple(map(id, population))
        if key != self._key:
            given = self._given
            digests = given[1] if given is not None and given[0] == key else [_digest(ind) for ind in population]
            todo = [i for i, d in enumerate(digests) if d not in self._known]
            fresh = reconstruction_errors([population[i] for i in todo], self.data, self.metric).tolist()
            known = {**self._known, **{digests[i]: e for i, e in zip(todo, fresh, strict=True)}}
            self._values = [known[d] for d in digests]
            self._known = {d: known[d] for d in digests}
            self._key = key
        return self._values


class BatchStatistics(tools.Statistics):
    """:class:`deap.tools.Statistics` whose key maps the whole population at once (e.g. :class:`PopulationErrors`).

    Parameters
    ----------
    batch_key
        Maps a list of individuals to one value per individual.
    """

    def __init__(self, batch_key) -> None:
        super().__init__()
        self.batch_key = batch_key

    def compile(self, data) -> dict:
        """Apply every registered function to the values of the whole population.

        Parameters
        ----------
        data
            The population.
        """
        values = np.asarray(self.batch_key(data))
        return {name: func(values) for name, func in self.functions.items()}


class SharedStatistics(tools.MultiStatistics):
    """:class:`deap.tools.MultiStatistics` whose chapters share :class:`PopulationErrors` within one compile.

    Parameters
    ----------
    shared
        The :class:`PopulationErrors` the chapters share; cleared at each compile.
    statistics
        The chapters, by name (as :class:`deap.tools.MultiStatistics` takes them).
    """

    def __init__(self, shared: list[PopulationErrors] | None = None, **statistics) -> None:
        super().__init__(**statistics)
        self.shared = list(shared or [])

    def compile(self, data) -> dict:
        """Compile every chapter on ``data``, computing shared errors once.

        Parameters
        ----------
        data
            The population.
        """
        digests = [_digest(ind) for ind in data] if len(self.shared) > 1 else None
        for errors in self.shared:
            errors.clear()
            if digests is not None:
                errors.give_digests(data, digests)
        return super().compile(data)


def default_stats(test_data: torch.Tensor | None = None) -> SharedStatistics:
    """``MultiStatistics`` with min/median/max of train fitness, fraction kept and (optionally) test L1.

    The test errors (``stats.shared[0]``) may be shared by other chapters, such as the trade-off.

    Parameters
    ----------
    test_data
        Held-out data for the ``test`` chapter, or ``None`` for no such chapter.
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
    """Median seconds for one forward pass of ``module`` over ``data``.

    Parameters
    ----------
    module
        The network (put in eval mode).
    data
        Input batch.
    repeats
        Number of timed passes (after one warm-up pass).
    """
    module.eval()
    module(data)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        module(data)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))
