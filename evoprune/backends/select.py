"""The one choice of backend: which code trains and evaluates a stack, and why."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import Backend
from .fused import Fused
from .fused import backend as fused_backend
from .torch_dense import TorchDense
from .torch_layered import TorchLayered

__all__ = ["BACKENDS", "Choice", "get_backend", "select_backend"]

#: The backends, in the order they are asked: the first that claims a stack runs it.
BACKENDS: tuple[Backend, ...] = (Fused(), TorchDense(), TorchLayered())


@dataclass(frozen=True)
class Choice:
    """The backend that runs a stack, and why the ones before it did not."""

    backend: Backend
    reason: str

    @property
    def name(self) -> str:
        """The backend's name, ``fused``, ``torch`` (dense halves) or ``torch-layered``."""
        return self.backend.name


def select_backend(specs, device: torch.device | str = "cpu", loss: str = "l1", record: bool = False) -> Choice:
    """The backend for a stack of ``specs`` (encoder, decoder) on ``device`` with ``loss`` (or metric); with
    ``record``, one that records the training passes' activity."""
    device = torch.device(device)
    skipped = []
    for b in BACKENDS:
        why = b.claims(specs, device, loss)
        if why is None and record and not b.records:
            why = "it does not record the training passes' activity (the published VARIANCE store)"
        if why is None:
            if isinstance(b, Fused):
                return Choice(b, fused_backend()[1])
            return Choice(b, "; ".join(skipped) or "the general path")
        skipped.append(f"not {b.name}: {why}")
    if record:  # the layered path, which claims every stack, records nothing
        raise ValueError("recording the training passes' activity needs dense halves (Linear layers)")
    raise AssertionError("the layered torch backend claims every stack")


def get_backend(name: str) -> Backend:
    """The backend called ``name`` (``fused``, ``torch``, ``torch-layered``)."""
    for b in BACKENDS:
        if b.name == name:
            return b
    raise ValueError(f"unknown backend {name!r}; valid: {', '.join(b.name for b in BACKENDS)}")
