"""A half as a sequence of layers: reading ``nn.Sequential`` stacks, and the stacked forward pass of a sequence.

The flat parameter list is ``[W0, b0, W1, b1, ...]`` over the parametric layers, as for a dense half.  The
forward pass takes and returns flat rows ``(N, B, features)`` and works on shaped rows inside.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..activations import ACTIVATIONS
from .base import Layer
from .conv import Conv, ConvTranspose, Linear
from .shape import Act, Flatten, Pool, Unflatten, Upsample

__all__ = ["layers_from_sequential", "sequence_forward", "neuron_activity"]

_MODULES: dict[type[nn.Module], type[Layer]] = {
    nn.Linear: Linear, nn.Conv1d: Conv, nn.Conv2d: Conv, nn.ConvTranspose1d: ConvTranspose,
    nn.ConvTranspose2d: ConvTranspose, nn.Flatten: Flatten, nn.Unflatten: Unflatten, nn.MaxPool1d: Pool,
    nn.MaxPool2d: Pool, nn.AvgPool1d: Pool, nn.AvgPool2d: Pool, nn.Upsample: Upsample,
}


def layers_from_sequential(seq: nn.Module, what: str) -> tuple[Layer, ...]:
    """The layers of an ``nn.Sequential`` (or of a single module); ValueError naming ``what[i]`` and the type of
    any module that is not supported.

    Parameters
    ----------
    seq
        The stack.
    what
        ``"encoder"`` or ``"decoder"``, for messages.
    """
    acts = {a.module: name for name, a in ACTIVATIONS.items()}
    modules = list(seq.children()) if isinstance(seq, nn.Sequential) else [seq]
    out: list[Layer] = []
    for i, m in enumerate(modules):
        t = type(m)
        try:
            if (t is nn.LeakyReLU and m.negative_slope != 0.01) or (t is nn.ELU and m.alpha != 1):
                raise ValueError(f"{t.__name__} with a non-default parameter is not supported")
            if t in acts:
                out.append(Act(acts[t]))
            elif t in _MODULES:
                out.append(_MODULES[t].from_module(m))
            else:
                raise ValueError(f"unsupported module {t.__name__}; supported: "
                                 f"{', '.join(sorted({k.__name__ for k in _MODULES} | {k.__name__ for k in acts}))}")
        except ValueError as e:
            raise ValueError(f"{what}[{i}]: {e}") from None
    if not out:
        raise ValueError(f"{what}: an empty stack")
    return tuple(out)


def sequence_forward(
    layers: Sequence[Layer],
    in_shape: tuple[int, ...],
    params: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor] | None,
    x: torch.Tensor,
    outputs: list | None = None,
) -> torch.Tensor:
    """Stacked forward pass: ``x (N, B, features)`` to ``(N, B, out features)``.

    Parameters
    ----------
    layers
        The half's layers.
    in_shape
        Shape of one input row.
    params
        The flat ``(N, ...)`` parameter list.
    masks
        Masks of the same shapes, or ``None`` (pruned entries are already zero).
    x
        Flat input rows ``(N, B, features)``.
    outputs
        List to receive each parametric layer's :func:`neuron_activity` ``(N, B, neurons)``, taken after the
        activations that directly follow it; or ``None``.
    """
    n, b = x.shape[0], x.shape[1]
    h = x.reshape(n, b, *in_shape)
    k = 0
    pending = False
    for layer in layers:
        if pending and not isinstance(layer, Act):
            outputs.append(neuron_activity(h))
            pending = False
        if layer.parametric:
            w, bias = params[k], params[k + 1]
            if masks is not None:
                w, bias = w * masks[k], bias * masks[k + 1]
            h = layer.forward(h, [w, bias])
            k += 2
            pending = outputs is not None
        else:
            h = layer.forward(h, [])
    if pending:
        outputs.append(neuron_activity(h))
    return h.reshape(n, b, -1).contiguous()


def neuron_activity(h: torch.Tensor) -> torch.Tensor:
    """``(N, B, units, *positions)`` to ``(N, B, units)``: a channel's activity on a case is its mean over positions.

    So VARIANCE and CONJUNCTIVE see one value per channel and input, as for a dense neuron in the paper (taking
    every position as a case would end CONJUNCTIVE's lexicase filter within the first image).

    Parameters
    ----------
    h
        Layer outputs ``(N, B, units)`` or ``(N, B, channels, *positions)``.
    """
    return h if h.dim() == 3 else h.flatten(3).mean(3)
