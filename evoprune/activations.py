"""Activation functions: the one table of their names, torch functions, modules, derivatives and kernel codes.

Everything that knows activations by name reads :data:`ACTIVATIONS`; the fused C++ kernel's ``A_<NAME>`` codes
are generated from it at build time.  Adding an entry (a user may) makes an activation usable everywhere; one
without a ``derivative`` is differentiated by autograd, one without a ``kernel`` code runs the torch path.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["Activation", "ACTIVATIONS", "kernel_codes"]

Derivative = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Activation:
    """One activation."""

    fn: Callable[[torch.Tensor], torch.Tensor]
    module: type[nn.Module]
    derivative: Derivative | None = None
    kernel: int | None = None


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _gelu_derivative(g: torch.Tensor, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    cdf = 0.5 * (1 + torch.erf(z * math.sqrt(0.5)))  # exact (erf) GELU: Phi(z) + z * phi(z)
    return g * (cdf + z * torch.exp(-0.5 * z * z) * _INV_SQRT_2PI)


#: Activations by the names layer specs use.
#:
#: :meta hide-value:
ACTIVATIONS: dict[str, Activation] = {
    "identity": Activation(_identity, nn.Identity, lambda g, z, a: g, kernel=0),
    "relu": Activation(torch.relu, nn.ReLU, lambda g, z, a: torch.where(a > 0, g, 0.0), kernel=1),
    "sigmoid": Activation(torch.sigmoid, nn.Sigmoid, lambda g, z, a: g * a * (1 - a), kernel=2),
    "tanh": Activation(torch.tanh, nn.Tanh, lambda g, z, a: g * (1 - a * a), kernel=3),
    # F.leaky_relu's default slope, 0.01
    "leaky_relu": Activation(F.leaky_relu, nn.LeakyReLU, lambda g, z, a: torch.where(z > 0, g, g * 0.01), kernel=4),
    # alpha = 1: d/dz = exp(z) = a + 1 for z <= 0
    "elu": Activation(F.elu, nn.ELU, lambda g, z, a: torch.where(z > 0, g, g * (a + 1)), kernel=5),
    "gelu": Activation(F.gelu, nn.GELU, _gelu_derivative),
}


def kernel_codes() -> dict[str, int]:
    """The fused kernel's activation codes by name (only the activations it implements)."""
    return {name: a.kernel for name, a in ACTIVATIONS.items() if a.kernel is not None}
