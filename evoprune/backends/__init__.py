"""Backends: every way a stack of autoencoders trains and evaluates, behind one interface.

:func:`select_backend` picks one for a stack's architecture, device and loss and says why: the fused C++ CPU
kernel (:mod:`~evoprune.backends.fused`, built by :mod:`~evoprune.backends.build`), the dense torch path
(:mod:`~evoprune.backends.torch_dense`) or the layered torch path (:mod:`~evoprune.backends.torch_layered`).
"""

from .base import (
    Backend,
    Stack,
    TrainOptions,
    adam_coefficients,
    adam_update,
    layer_outputs,
    stack_halves,
    stack_members,
    stacked_forward,
)
from .select import BACKENDS, Choice, get_backend, select_backend

__all__ = ["BACKENDS", "Backend", "Choice", "Stack", "TrainOptions", "adam_coefficients", "adam_update", "get_backend",
           "layer_outputs",
           "select_backend", "stack_halves", "stack_members", "stacked_forward"]
