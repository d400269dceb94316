"""Reconstruction losses: the one table of their names, torch functions and fused-kernel codes.

Training, evaluation, validation of loss and metric names, and the fused C++
kernel (its ``L_<NAME>`` codes are generated from ``kernel``) all read
:data:`LOSSES`.  ``bce_logits`` is internal: training's binary cross-entropy on
a sigmoid output, computed from the logits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn import functional as F

__all__ = ["Loss", "LOSSES", "METRICS"]

#: Outputs are clamped to ``[BCE_CLAMP, 1 - BCE_CLAMP]`` before binary cross-entropy.
BCE_CLAMP = 1e-7


@dataclass(frozen=True)
class Loss:
    """One loss."""

    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    kernel: int | None = None
    public: bool = True


def _l1(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (out - target).abs().flatten(1).mean(1)


def _mse(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (out - target).pow(2).flatten(1).mean(1)


def _bce(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy(out.clamp(BCE_CLAMP, 1 - BCE_CLAMP), target, reduction="none").flatten(1).mean(1)


def _bce_logits(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(out, target, reduction="none").flatten(1).mean(1)


#: Losses by name.
#:
#: :meta hide-value:
LOSSES: dict[str, Loss] = {
    "l1": Loss(_l1, kernel=0),
    "mse": Loss(_mse, kernel=1),
    "bce": Loss(_bce, kernel=2),
    "bce_logits": Loss(_bce_logits, kernel=3, public=False),
}

#: The names users may give as a loss or a metric.
METRICS: tuple[str, ...] = tuple(name for name, loss in LOSSES.items() if loss.public)
