"""The layer protocol: one frozen object per layer kind that knows its shapes, init, stacked forward and module.

A layer's ``forward`` runs N members at once: the input is ``(N, B, *in_shape)`` and every parameter tensor is
stacked on a leading member axis ``(N, ...)``.  A parametric layer has exactly a weight and a bias and says which
weight axis is a *neuron* (``neuron_axis``: 0 for Linear and Conv, 1 for ConvTranspose); reshapes, pools and
activations have no parameters.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ..data.dataset import check_data

__all__ = ["Layer", "LAYER_KINDS", "layer_from_dict", "check_rows"]

#: Layer classes by :attr:`Layer.kind` (filled by subclassing).
LAYER_KINDS: dict[str, type[Layer]] = {}


@dataclass(frozen=True)
class Layer:
    """Base of the layer kinds; a subclass is a frozen dataclass of the layer's hyper-parameters."""

    kind: ClassVar[str] = ""
    module_type: ClassVar[type[nn.Module] | None] = None
    neuron_axis: ClassVar[int] = 0
    parametric: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("kind"):
            LAYER_KINDS[cls.kind] = cls

    # -- shapes ---------------------------------------------------------------------------
    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of one output row given one input row's shape (raises ValueError if the input does not fit).

        Parameters
        ----------
        in_shape
            Shape of one input row.
        """
        return in_shape

    def param_shapes(self, in_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        """``[weight shape, bias shape]`` of a parametric layer, ``[]`` otherwise.

        Parameters
        ----------
        in_shape
            Shape of one input row.
        """
        return []

    def fan_in(self, in_shape: tuple[int, ...]) -> int:
        """PyTorch's fan-in of the weight (its init bound is ``1/sqrt(fan_in)``).

        Parameters
        ----------
        in_shape
            Shape of one input row.
        """
        raise NotImplementedError

    def init(self, in_shape: tuple[int, ...], g: np.random.Generator) -> list[torch.Tensor]:
        """PyTorch's default init, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` for weight then bias, drawn from ``g``.

        Parameters
        ----------
        in_shape
            Shape of one input row.
        g
            NumPy generator the values are drawn from.
        """
        if not self.parametric:
            return []
        bound = 1.0 / math.sqrt(self.fan_in(in_shape))
        return [torch.from_numpy(g.uniform(-bound, bound, size=s).astype(np.float32))
                for s in self.param_shapes(in_shape)]

    # -- math -----------------------------------------------------------------------------
    def forward(self, h: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
        """Stacked forward: ``h (N, B, *in_shape)`` and ``(N, ...)`` params to ``(N, B, *out_shape)``.

        Parameters
        ----------
        h
            Input of N members, ``(N, B, *in_shape)``.
        params
            ``[weight, bias]`` stacked ``(N, ...)`` (parametric layers), else ``[]``.
        """
        raise NotImplementedError

    # -- modules and files ----------------------------------------------------------------
    def to_module(self) -> nn.Module:
        """A fresh ``nn.Module`` of this layer (parameters to be copied in by the caller)."""
        raise NotImplementedError

    @classmethod
    def from_module(cls, m: nn.Module) -> Layer:
        """This kind's layer read from module ``m`` (ValueError if a setting is not supported).

        Parameters
        ----------
        m
            The ``nn.Module``.
        """
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description: ``{"kind": ..., <hyper-parameters>}``."""
        return {"kind": self.kind, **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}}


def layer_from_dict(d: dict[str, Any]) -> Layer:
    """The layer :meth:`Layer.to_dict` describes.

    Parameters
    ----------
    d
        ``{"kind": ..., <hyper-parameters>}``.
    """
    d = dict(d)
    kind = d.pop("kind", None)
    if kind not in LAYER_KINDS:
        raise ValueError(f"unknown layer kind {kind!r}; known: {', '.join(LAYER_KINDS)}")
    return LAYER_KINDS[kind](**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def member_batch(h: torch.Tensor, n_lead: int = 2) -> tuple[torch.Tensor, tuple[int, ...]]:
    """``(N, B, ...)`` viewed as ``(N*B, ...)``, and the two leading sizes to restore."""
    lead = tuple(h.shape[:n_lead])
    return h.reshape(-1, *h.shape[n_lead:]), lead


def check_rows(data: Any, shape: tuple[int, ...], name: str = "data") -> torch.Tensor:
    """``data`` as float32 rows ``(samples, prod(shape))`` for an architecture whose input is ``shape``.

    Parameters
    ----------
    data
        Array or tensor, rows shaped ``(samples, *shape)`` or flat ``(samples, prod(shape))``.
    shape
        The shape of one input row (e.g. ``(1, 8, 8)``).
    name
        What the data is, for error messages.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) == 1:
        return check_data(data, name, dim=shape[0])
    got = tuple(data.shape) if hasattr(data, "shape") else tuple(np.asarray(data).shape)
    width = math.prod(shape)
    if got[1:] == shape:
        t = data if isinstance(data, torch.Tensor) else torch.as_tensor(np.asarray(data))
        data = t.reshape(got[0], width)
    elif len(got) != 2 or got[1] != width:
        raise ValueError(f"{name} has shape {got}, but the architecture's input is {shape}: "
                         f"give rows of shape (samples, {', '.join(map(str, shape))}) or (samples, {width})")
    return check_data(data, name, dim=width)
