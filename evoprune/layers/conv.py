"""Parametric layers: Linear, convolutions and transposed convolutions (1-d and 2-d), stacked over members.

Stacked convolutions run as one grouped convolution (member n's channels are group n, ``groups=N``): faster on
CPU than ``torch.func.vmap`` or a loop over members for small autoencoders (``benchmarks/conv_stack.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from .base import Layer

__all__ = ["Linear", "Conv", "ConvTranspose"]


@dataclass(frozen=True)
class Linear(Layer):
    """``nn.Linear(in_features, out_features)`` with bias; a neuron is an output (weight row)."""

    #: Input width.
    in_features: int
    #: Output width (neurons).
    out_features: int

    kind: ClassVar[str] = "Linear"
    module_type: ClassVar[type[nn.Module]] = nn.Linear
    parametric: ClassVar[bool] = True

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        if tuple(in_shape) != (self.in_features,):
            raise ValueError(f"Linear({self.in_features}, {self.out_features}) needs input shape "
                             f"({self.in_features},), got {tuple(in_shape)}")
        return (self.out_features,)

    def param_shapes(self, in_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        return [(self.out_features, self.in_features), (self.out_features,)]

    def fan_in(self, in_shape: tuple[int, ...]) -> int:
        return self.in_features

    def forward(self, h: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
        w, b = params
        if h.shape[0] == 1:
            return F.linear(h[0], w[0], b[0]).unsqueeze(0)
        return torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))

    def to_module(self) -> nn.Module:
        return nn.Linear(self.in_features, self.out_features)

    @classmethod
    def from_module(cls, m: nn.Module) -> Linear:
        if m.bias is None:
            raise ValueError("Linear layers without bias are not supported (use bias=True)")
        return cls(m.in_features, m.out_features)


def _ints(v: int | tuple[int, ...], dims: int) -> tuple[int, ...]:
    return tuple(int(x) for x in v) if isinstance(v, tuple | list) else (int(v),) * dims


_CONV = {1: (F.conv1d, nn.Conv1d), 2: (F.conv2d, nn.Conv2d)}
_CONV_T = {1: (F.conv_transpose1d, nn.ConvTranspose1d), 2: (F.conv_transpose2d, nn.ConvTranspose2d)}


@dataclass(frozen=True)
class Conv(Layer):
    """``nn.Conv1d``/``nn.Conv2d`` (``dims``), bias required, groups 1, dilation 1; a neuron is an output channel."""

    #: 1 or 2 spatial dimensions.
    dims: int
    #: Input channels.
    in_channels: int
    #: Output channels (neurons).
    out_channels: int
    #: Kernel size per spatial dimension.
    kernel_size: tuple[int, ...]
    #: Stride per spatial dimension.
    stride: tuple[int, ...]
    #: Zero padding per spatial dimension.
    padding: tuple[int, ...]

    kind: ClassVar[str] = "Conv"
    parametric: ClassVar[bool] = True
    transposed: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if self.dims not in (1, 2):
            raise ValueError(f"convolutions of 1 or 2 dimensions are supported, got {self.dims}")
        for f in ("kernel_size", "stride", "padding"):
            object.__setattr__(self, f, _ints(getattr(self, f), self.dims))

    @property
    def _name(self) -> str:
        return ("ConvTranspose" if self.transposed else "Conv") + f"{self.dims}d"

    def _spatial(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(in_shape) != 1 + self.dims or in_shape[0] != self.in_channels:
            raise ValueError(f"{self._name}({self.in_channels}, {self.out_channels}) needs input shape "
                             f"({self.in_channels}, {('L', 'H, W')[self.dims - 1]}), "
                             f"got {tuple(in_shape)}")
        return tuple(in_shape[1:])

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        size = [(s + 2 * p - k) // st + 1 for s, k, st, p in
                zip(self._spatial(in_shape), self.kernel_size, self.stride, self.padding, strict=True)]
        if min(size) < 1:
            raise ValueError(f"{self._name} on input {tuple(in_shape)} gives an empty output {tuple(size)}")
        return (self.out_channels, *size)

    def param_shapes(self, in_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        return [(self.out_channels, self.in_channels, *self.kernel_size), (self.out_channels,)]

    def fan_in(self, in_shape: tuple[int, ...]) -> int:
        return self.in_channels * math.prod(self.kernel_size)

    def _kw(self) -> dict:
        return {"stride": self.stride, "padding": self.padding}

    def forward(self, h: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
        w, b = params
        fn = (_CONV_T if self.transposed else _CONV)[self.dims][0]
        n, bsz = h.shape[0], h.shape[1]
        if n == 1:
            return fn(h[0], w[0], b[0], **self._kw()).unsqueeze(0)
        x = h.transpose(0, 1).reshape(bsz, n * h.shape[2], *h.shape[3:])  # member n's channels = group n
        y = fn(x, w.reshape(-1, *w.shape[2:]), b.reshape(-1), groups=n, **self._kw())
        return y.view(bsz, n, -1, *y.shape[2:]).transpose(0, 1)

    def to_module(self) -> nn.Module:
        return (_CONV_T if self.transposed else _CONV)[self.dims][1](
            self.in_channels, self.out_channels, self.kernel_size, **self._kw())

    @classmethod
    def from_module(cls, m: nn.Module) -> Conv:
        name = type(m).__name__
        if m.bias is None:
            raise ValueError(f"{name} without bias is not supported (use bias=True)")
        if m.groups != 1 or any(d != 1 for d in m.dilation):
            raise ValueError(f"{name} with groups={m.groups}, dilation={m.dilation} is not supported "
                             f"(groups 1 and dilation 1 only)")
        if m.padding_mode != "zeros" or isinstance(m.padding, str):
            raise ValueError(f"{name} with padding={m.padding!r}, padding_mode={m.padding_mode!r} is not supported "
                             f"(numeric zero padding only)")
        dims = len(m.kernel_size)
        extra = {"output_padding": tuple(m.output_padding)} if cls.transposed else {}
        return cls(dims, m.in_channels, m.out_channels, tuple(m.kernel_size), tuple(m.stride), tuple(m.padding),
                   **extra)


@dataclass(frozen=True)
class ConvTranspose(Conv):
    """``nn.ConvTranspose1d``/``2d`` (``dims``): weight ``(in, out, *kernel)``, a neuron is an output channel,
    weight axis 1.  Bias required, groups 1, dilation 1.

    Parameters
    ----------
    dims
        1 or 2 spatial dimensions.
    in_channels
        Input channels.
    out_channels
        Output channels (neurons).
    kernel_size
        Kernel size per spatial dimension.
    stride
        Stride per spatial dimension.
    padding
        Zero padding per spatial dimension (taken off the output).
    output_padding
        Extra size added to one side of the output, per spatial dimension.
    """

    #: Extra size added to one side of the output, per spatial dimension.
    output_padding: tuple[int, ...] = (0,)

    kind: ClassVar[str] = "ConvTranspose"
    neuron_axis: ClassVar[int] = 1
    transposed: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        op = self.output_padding
        object.__setattr__(self, "output_padding", _ints(op[0] if len(op) == 1 else op, self.dims))

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        size = [(s - 1) * st - 2 * p + k + op for s, k, st, p, op in
                zip(self._spatial(in_shape), self.kernel_size, self.stride, self.padding, self.output_padding,
                    strict=True)]
        if min(size) < 1:
            raise ValueError(f"{self._name} on input {tuple(in_shape)} gives an empty output {tuple(size)}")
        return (self.out_channels, *size)

    def param_shapes(self, in_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        return [(self.in_channels, self.out_channels, *self.kernel_size), (self.out_channels,)]

    def fan_in(self, in_shape: tuple[int, ...]) -> int:
        return self.out_channels * math.prod(self.kernel_size)  # PyTorch's: weight.size(1) * receptive field

    def _kw(self) -> dict:
        return {**super()._kw(), "output_padding": self.output_padding}

    def forward(self, h: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
        return super().forward(h, params)
