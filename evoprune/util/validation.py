"""Argument checks that name the bad value."""

from __future__ import annotations

import math


def check_probability(name: str, value: float) -> float:
    """Return ``value`` as float if it is a probability in [0, 1]."""
    v = float(value)
    if not (0.0 <= v <= 1.0) or math.isnan(v):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return v


def check_amount(name: str, value: float) -> float:
    """Return ``value`` if it is a pruning fraction in [0, 1)."""
    v = float(value)
    if not (0.0 <= v < 1.0) or math.isnan(v):
        raise ValueError(f"{name} must be a fraction in [0, 1), got {value!r}")
    return v


def check_positive(name: str, value: float) -> float:
    v = float(value)
    if not v > 0 or math.isinf(v):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return v


def check_choice(kind: str, name: str, valid) -> str:
    """Raise a ValueError listing the valid names if ``name`` is not one of them."""
    if name not in valid:
        raise ValueError(f"unknown {kind} {name!r}; valid: {', '.join(sorted(valid))}")
    return name
