"""Argument checks that name the bad value: the one place every module takes them from."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["check_choice", "check_fraction", "check_positive", "check_positive_int", "check_probability"]


def check_probability(name: str, value: Any) -> float:
    """``value`` as a float if it is a probability in [0, 1]."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}") from None
    if not (0.0 <= v <= 1.0) or math.isnan(v):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return v


def check_fraction(name: str, value: Any) -> float:
    """``value`` as a float if it is a fraction in [0, 1) (a pruning amount, a split share, a tolerance)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not 0.0 <= v < 1.0:
        raise ValueError(f"{name} must be a fraction in [0, 1), got {value!r}")
    return v


def check_positive(name: str, value: Any) -> float:
    """``value`` as a float if it is positive and finite."""
    v = float(value)
    if not v > 0 or math.isinf(v):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return v


def check_positive_int(name: str, value: Any) -> int:
    """``value`` as an int if it is an integer >= 1 (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def check_choice(kind: str, name: str, valid) -> str:
    """``name`` if it is one of ``valid``, else a ValueError listing the valid names."""
    if name not in valid:
        raise ValueError(f"unknown {kind} {name!r}; valid: {', '.join(sorted(valid))}")
    return name
