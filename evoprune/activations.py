"""Activation functions by the names that layer specs use."""

from __future__ import annotations

import torch
from torch.nn import functional as F

#: Activations by name, as layer specs name them.
ACTIVATIONS = {
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "identity": lambda x: x,
    "leaky_relu": F.leaky_relu,
    "elu": F.elu,
    "gelu": F.gelu,
}
