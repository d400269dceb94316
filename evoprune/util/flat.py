"""The flat parameter list of a half, ``[W0, b0, W1, b1, ...]``: where layer i's weight and bias are."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["bias", "is_bias", "layer_of", "pair", "weight"]

def weight(layer: int) -> int:
    """Index of ``layer``'s weight in the flat list."""
    return 2 * layer


def bias(layer: int) -> int:
    """Index of ``layer``'s bias in the flat list."""
    return 2 * layer + 1


def layer_of(k: int) -> int:
    """The layer of the flat list's ``k``-th tensor."""
    return k // 2


def is_bias(k: int) -> bool:
    """Whether the flat list's ``k``-th tensor is a bias."""
    return k % 2 == 1


def pair(tensors: Sequence[Any], layer: int) -> tuple[Any, Any]:
    """``(weight, bias)`` of ``layer`` in a flat list (of tensors, masks or moments)."""
    return tensors[2 * layer], tensors[2 * layer + 1]
