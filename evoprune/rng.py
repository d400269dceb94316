"""Explicit random generators: evoprune never touches global RNG state.

Every stochastic function takes ``rng`` (a :class:`numpy.random.Generator`,
an int seed, or ``None`` for fresh entropy).  Work sent to other processes gets
child seeds drawn from the parent generator, so a run is reproducible from one
seed whatever map executes it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["RNGLike"]

#: What an ``rng`` argument takes: a NumPy generator (used as is), an int seed, or ``None`` (fresh entropy).
RNGLike = np.random.Generator | int | np.integer | None


def as_generator(rng: RNGLike) -> np.random.Generator:
    """Return ``rng`` as a NumPy Generator (seeds and ``None`` are wrapped)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, int | np.integer):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy Generator, an int seed or None, got {type(rng).__name__}")


def child_seeds(rng: np.random.Generator, n: int) -> list[int]:
    """Draw ``n`` independent 63-bit seeds for child tasks."""
    return [int(s) for s in rng.integers(0, 2**63 - 1, size=n)]
