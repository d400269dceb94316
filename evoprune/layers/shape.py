"""Parameter-free layers: activations, Flatten, Unflatten, max/average pooling and nearest upsampling.

Each runs N members at once on ``(N, B, *in_shape)`` by folding the member
axis into the batch; module dimensions (which count the batch as dim 0) move
one place right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from ..activations import ACTIVATIONS
from ..util.validation import check_choice
from .base import Layer, member_batch

__all__ = ["Act", "Flatten", "Unflatten", "Pool", "Upsample"]


@dataclass(frozen=True)
class Act(Layer):
    """An elementwise activation by name (a key of :data:`~evoprune.activations.ACTIVATIONS`)."""

    #: The activation's name.
    name: str

    kind: ClassVar[str] = "Act"

    def __post_init__(self) -> None:
        check_choice("activation", self.name, ACTIVATIONS)

    def forward(self, h: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
        return ACTIVATIONS[self.name].fn(h)

    def to_module(self) -> nn.Module:
        return ACTIVATIONS[self.name].module()


def _row_dim(d: int, rank: int, what: str) -> int:
    """Module dim ``d`` (dim 0 = batch) of a ``rank``-dim row as a dim of the row (0 = the row's first)."""
    r = d - 1 if d >= 0 else rank + d
    if not 0 <= r < rank:
        raise ValueError(f"{what}: dim {d} does not index a row of {rank} dimension(s) after the batch")
    return r


@dataclass(frozen=True)
class Flatten(Layer):
    """``nn.Flatten(start_dim, end_dim)`` (dims count the batch as 0, as the module's do)."""

    #: First dimension to flatten (0 is the batch).
    start_dim: int = 1
    #: Last dimension to flatten.
    end_dim: int = -1

    kind: ClassVar[str] = "Flatten"

    def _span(self, in_shape: tuple[int, ...]) -> tuple[int, int]:
        s = _row_dim(self.start_dim, len(in_shape), "Flatten")
        e = _row_dim(self.end_dim, len(in_shape), "Flatten")
        if e < s:
            raise ValueError(f"Flatten({self.start_dim}, {self.end_dim}): end before start on input {in_shape}")
        return s, e

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        s, e = self._span(in_shape)
        return (*in_shape[:s], math.prod(in_shape[s : e + 1]), *in_shape[e + 1 :])

    def forward(self, h: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
        return h.reshape(*h.shape[:2], *self.out_shape(tuple(h.shape[2:])))

    def to_module(self) -> nn.Module:
        return nn.Flatten(self.start_dim, self.end_dim)

    @classmethod
    def from_module(cls, m: nn.Module) -> Flatten:
        return cls(m.start_dim, m.end_dim)


@dataclass(frozen=True)
class Unflatten(Layer):
    """``nn.Unflatten(dim, unflattened_size)`` (``dim`` counts the batch as 0)."""

    #: Dimension to split (0 is the batch).
    dim: int
    #: The sizes it is split into.
    unflattened_size: tuple[int, ...]

    kind: ClassVar[str] = "Unflatten"

    def __post_init__(self) -> None:
        object.__setattr__(self, "unflattened_size", tuple(int(s) for s in self.unflattened_size))

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        d = _row_dim(self.dim, len(in_shape), "Unflatten")
        if math.prod(self.unflattened_size) != in_shape[d]:
            raise ValueError(f"Unflatten({self.dim}, {self.unflattened_size}) cannot split size {in_shape[d]} "
                             f"of input {tuple(in_shape)}")
        return (*in_shape[:d], *self.unflattened_size, *in_shape[d + 1 :])

    def forward(self, h: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
        return h.reshape(*h.shape[:2], *self.out_shape(tuple(h.shape[2:])))

    def to_module(self) -> nn.Module:
        return nn.Unflatten(self.dim, self.unflattened_size)

    @classmethod
    def from_module(cls, m: nn.Module) -> Unflatten:
        if isinstance(m.unflattened_size, tuple) and m.unflattened_size and isinstance(m.unflattened_size[0], tuple):
            raise ValueError("Unflatten with named dimensions is not supported")
        return cls(int(m.dim), tuple(m.unflattened_size))


_POOLS = {("max", 1): (F.max_pool1d, nn.MaxPool1d), ("max", 2): (F.max_pool2d, nn.MaxPool2d),
          ("avg", 1): (F.avg_pool1d, nn.AvgPool1d), ("avg", 2): (F.avg_pool2d, nn.AvgPool2d)}


def _tuple(v, dims: int) -> tuple[int, ...]:
    return tuple(int(x) for x in v) if isinstance(v, tuple | list) else (int(v),) * dims


@dataclass(frozen=True)
class Pool(Layer):
    """``nn.MaxPool1d/2d`` or ``nn.AvgPool1d/2d`` (``mode`` ``"max"``/``"avg"``): kernel, stride, padding;
    no dilation, ceil_mode off (average pooling counts padding, as the module's default)."""

    #: ``"max"`` or ``"avg"``.
    mode: str
    #: 1 or 2 spatial dimensions.
    dims: int
    #: Window per spatial dimension.
    kernel_size: tuple[int, ...]
    #: Stride per spatial dimension.
    stride: tuple[int, ...]
    #: Padding per spatial dimension.
    padding: tuple[int, ...] = (0,)

    kind: ClassVar[str] = "Pool"

    def __post_init__(self) -> None:
        check_choice("pooling mode", self.mode, ("max", "avg"))
        if self.dims not in (1, 2):
            raise ValueError(f"pooling of 1 or 2 dimensions is supported, got {self.dims}")
        for f in ("kernel_size", "stride", "padding"):
            v = getattr(self, f)
            object.__setattr__(self, f, _tuple(v[0] if isinstance(v, tuple | list) and len(v) == 1 else v,
                                               self.dims))

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(in_shape) != 1 + self.dims:
            raise ValueError(f"{self.mode} pooling ({self.dims}-d) needs (channels, {self.dims} sizes), "
                             f"got {tuple(in_shape)}")
        size = [(s + 2 * p - k) // st + 1 for s, k, st, p in
                zip(in_shape[1:], self.kernel_size, self.stride, self.padding, strict=True)]
        if min(size) < 1:
            raise ValueError(f"{self.mode} pooling on input {tuple(in_shape)} gives an empty output")
        return (in_shape[0], *size)

    def forward(self, h: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
        x, lead = member_batch(h)
        y = _POOLS[(self.mode, self.dims)][0](x, self.kernel_size, self.stride, self.padding)
        return y.view(*lead, *y.shape[1:])

    def to_module(self) -> nn.Module:
        return _POOLS[(self.mode, self.dims)][1](self.kernel_size, self.stride, self.padding)

    @classmethod
    def from_module(cls, m: nn.Module) -> Pool:
        name = type(m).__name__
        mode, dims = ("max" if "Max" in name else "avg"), int(name[-2])
        if getattr(m, "ceil_mode", False) or getattr(m, "return_indices", False):
            raise ValueError(f"{name} with ceil_mode or return_indices is not supported")
        dil = getattr(m, "dilation", 1)
        if any(d != 1 for d in _tuple(dil, dims)):
            raise ValueError(f"{name} with dilation {dil} is not supported")
        if mode == "avg" and (not m.count_include_pad or getattr(m, "divisor_override", None)):
            raise ValueError(f"{name} with count_include_pad=False or divisor_override is not supported")
        stride = m.stride if m.stride is not None else m.kernel_size
        return cls(mode, dims, _tuple(m.kernel_size, dims), _tuple(stride, dims), _tuple(m.padding, dims))


@dataclass(frozen=True)
class Upsample(Layer):
    """``nn.Upsample(scale_factor=s, mode="nearest")`` with an integer scale per spatial dimension."""

    #: Integer scale, one for all spatial dimensions or one per dimension.
    scale_factor: tuple[int, ...]

    kind: ClassVar[str] = "Upsample"

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale_factor", tuple(int(s) for s in self.scale_factor))

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        sf = self.scale_factor * (len(in_shape) - 1) if len(self.scale_factor) == 1 else self.scale_factor
        if len(in_shape) not in (2, 3) or len(sf) != len(in_shape) - 1:
            raise ValueError(f"Upsample{self.scale_factor} needs (channels, L) or (channels, H, W), got {in_shape}")
        return (in_shape[0], *(s * f for s, f in zip(in_shape[1:], sf, strict=True)))

    def forward(self, h: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
        x, lead = member_batch(h)
        sf = self.scale_factor * (x.dim() - 2) if len(self.scale_factor) == 1 else self.scale_factor
        y = F.interpolate(x, scale_factor=tuple(float(s) for s in sf), mode="nearest")
        return y.view(*lead, *y.shape[1:])

    def to_module(self) -> nn.Module:
        sf = self.scale_factor[0] if len(self.scale_factor) == 1 else self.scale_factor
        return nn.Upsample(scale_factor=sf, mode="nearest")

    @classmethod
    def from_module(cls, m: nn.Module) -> Upsample:
        sf = m.scale_factor
        sf = tuple(sf) if isinstance(sf, tuple | list) else (sf,)
        if m.mode != "nearest" or m.size is not None or sf[0] is None or any(float(s) != int(s) for s in sf):
            raise ValueError(f"Upsample(size={m.size}, scale_factor={m.scale_factor}, mode={m.mode!r}) is not "
                             f"supported (nearest, integer scale_factor only)")
        return cls(tuple(int(s) for s in sf))
