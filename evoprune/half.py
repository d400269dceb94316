"""One half of an autoencoder genome: weights, permanent masks and Adam's moments."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .activations import ACTIVATIONS
from .architecture import HalfSpec
from .backends import layer_outputs as _layer_outputs
from .backends import stacked_forward
from .rng import RNGLike, as_generator
from .util import flat
from .util.moments import Moments

__all__ = ["Half"]


@dataclass
class Half:
    """Parameters, masks and optimizer moments of one half (encoder or decoder).

    Parameters
    ----------
    spec
        Shape of the half.
    params
        Weights and biases ``[W0, b0, W1, b1, ...]`` (a Linear ``W`` is ``(out, in)``); pruned entries are 0.
    masks
        Boolean masks of the same shapes (``False``: pruned).
    exp_avg
        Adam's first moments, kept across generations (``None`` until first trained).
    exp_avg_sq
        Adam's second moments, or ``None``.
    step
        Adam steps taken so far.
    activity
        Per parametric layer, the moments of its activity at each minibatch position over the training passes
        recorded since the last pruning (``mutTrain(record=...)``, for the published VARIANCE), or ``None``.
    """

    spec: HalfSpec
    params: list[torch.Tensor]
    masks: list[torch.Tensor]
    exp_avg: list[torch.Tensor] | None = None
    exp_avg_sq: list[torch.Tensor] | None = None
    step: int = 0
    activity: list[Moments] | None = None

    @classmethod
    def init(cls, spec: HalfSpec, rng: RNGLike = None) -> Half:
        """PyTorch's default init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn from ``rng``.

        Parameters
        ----------
        spec
            Shape of the half.
        rng
            Seed or NumPy generator for the weights.
        """
        g = as_generator(rng)
        params = []
        for i, shape in enumerate(spec.shapes):
            bound = 1.0 / math.sqrt(spec.fan_in(i // 2))
            params.append(torch.from_numpy(g.uniform(-bound, bound, size=shape).astype(np.float32)))
        return cls(spec, params, [torch.ones_like(p, dtype=torch.bool) for p in params])

    def clone(self) -> Half:
        """A deep copy (tensors cloned)."""
        def c(ts):
            return None if ts is None else [t.clone() for t in ts]

        activity = None if self.activity is None else [m.clone() for m in self.activity]
        return Half(self.spec, c(self.params), c(self.masks), c(self.exp_avg), c(self.exp_avg_sq), self.step,
                    activity)

    def __deepcopy__(self, memo) -> Half:
        return self.clone()

    @property
    def n_params(self) -> int:
        """Number of weights and biases."""
        return sum(p.numel() for p in self.params)

    @property
    def n_kept(self) -> int:
        """Number of unpruned weights and biases."""
        return int(sum(int(m.sum()) for m in self.masks))

    @property
    def fraction_kept(self) -> float:
        """Fraction of weights and biases not pruned."""
        return self.n_kept / self.n_params

    @property
    def sparsity(self) -> float:
        """Fraction of weights and biases pruned."""
        return 1.0 - self.fraction_kept

    def prune_entries(self, index: int, flat: torch.Tensor | np.ndarray, permanent: bool = True) -> None:
        """Prune entries ``flat`` (flat indices) of tensor ``index``.

        Parameters
        ----------
        index
            Position of the tensor in ``params`` (see :mod:`evoprune.util.flat`).
        flat
            Flat indices into that tensor.
        permanent
            Keep them pruned (mask entry ``False``, moments zero); else only zero them, so training may regrow
            them (the published code's ``prune.remove``).
        """
        flat = torch.as_tensor(flat, dtype=torch.long)
        if flat.numel() == 0:
            return
        self.params[index].view(-1)[flat] = 0.0
        if not permanent:
            return
        self.masks[index].view(-1)[flat] = False
        for state in (self.exp_avg, self.exp_avg_sq):
            if state is not None:
                state[index].view(-1)[flat] = 0.0

    def prune_neurons(self, layer: int, neurons: Sequence[int] | torch.Tensor, permanent: bool = True) -> None:
        """Prune whole output neurons (or channels) of ``layer``: their incoming weights and biases.

        Parameters
        ----------
        layer
            Layer index.
        neurons
            Output neurons of that layer to prune.
        permanent
            As in :meth:`prune_entries`.
        """
        neurons = torch.as_tensor(neurons, dtype=torch.long)
        if neurons.numel() == 0:
            return
        w_idx, b_idx = flat.weight(layer), flat.bias(layer)
        if not self.spec.dense:  # a neuron is a slice along the layer's neuron axis (an output channel)
            axis = self.spec.neuron_axis(layer)
            for k, ax in ((w_idx, axis), (b_idx, 0)):
                if permanent:
                    self.masks[k].index_fill_(ax, neurons, False)
                for ts in (self.params, self.exp_avg, self.exp_avg_sq) if permanent else (self.params,):
                    if ts is not None:
                        ts[k].index_fill_(ax, neurons, 0.0)
            return
        n_in = self.params[w_idx].shape[1]
        rows = (neurons[:, None] * n_in + torch.arange(n_in)[None, :]).reshape(-1)
        self.prune_entries(w_idx, rows, permanent)
        self.prune_entries(b_idx, neurons, permanent)

    def alive_neurons(self, layer: int) -> torch.Tensor:
        """Boolean vector: output neurons of ``layer`` with at least one unpruned weight or bias.

        Parameters
        ----------
        layer
            Layer index.
        """
        w, b = flat.pair(self.masks, layer)
        w = w.movedim(self.spec.neuron_axis(layer), 0)
        return w.reshape(w.shape[0], -1).any(dim=1) | b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Masked forward pass of this half: ``(batch, *spec.out_shape)``.

        Parameters
        ----------
        x
            Input of shape ``(batch, *spec.in_shape)`` (or flat rows ``(batch, in_features)``).
        """
        if not self.spec.dense:
            x = x.reshape(x.shape[0], -1)
        out = stacked_forward(self.spec, [p[None] for p in self.params], [m[None] for m in self.masks], x[None])[0]
        return out if self.spec.dense else out.reshape(out.shape[0], *self.spec.out_shape)

    def layer_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Post-activation outputs of every layer, one ``(batch, neurons)`` tensor each (a channel's mean over
        positions, :func:`evoprune.layers.neuron_activity`), for activation-guided pruning.

        Parameters
        ----------
        x
            Input of shape ``(batch, *spec.in_shape)``.
        """
        x = x.reshape(x.shape[0], -1)
        outs = _layer_outputs(self.spec, [p[None] for p in self.params], [m[None] for m in self.masks], x[None])
        return [h[0] for h in outs]

    def to_sequential(self, prune_layout: bool = False) -> nn.Sequential:
        """This half as an ``nn.Sequential`` (Linear and activation modules, or its layers), pruned weights zero.

        Parameters
        ----------
        prune_layout
            Attach ``weight_mask``/``bias_mask`` buffers as :mod:`torch.nn.utils.prune` does.
        """
        if not self.spec.dense:
            return self._layered_sequential(prune_layout)
        layers: list[nn.Module] = []
        for i, act in enumerate(self.spec.activations):
            lin = nn.Linear(self.spec.sizes[i], self.spec.sizes[i + 1])
            _copy_masked(lin, flat.pair(self.params, i), flat.pair(self.masks, i))
            if prune_layout:
                _attach_masks(lin, flat.pair(self.masks, i))
            layers += [lin, ACTIVATIONS[act].module()]
        return nn.Sequential(*layers)

    @classmethod
    def from_sequential(cls, seq: nn.Module, spec: HalfSpec) -> Half:
        """Read a half from an ``nn.Sequential`` (its ``weight_mask``/``bias_mask`` buffers, if any, become the masks).

        Parameters
        ----------
        seq
            A stack of Linear and activation modules (or of a layered spec's layers).
        spec
            The stack's shape (see :meth:`~evoprune.architecture.Architecture.from_modules`).
        """
        params, masks = [], []
        modules = list(seq.children()) if isinstance(seq, nn.Sequential) else [seq]
        found = ([m for m in seq.modules() if isinstance(m, nn.Linear)] if spec.dense
                 else [modules[pos] for pos, _, _ in spec.param_layers])
        for lin in found:
            for name in ("weight", "bias"):
                value = getattr(lin, name).detach().clone().float()
                mask = getattr(lin, name + "_mask", None)
                mask = torch.ones_like(value, dtype=torch.bool) if mask is None else mask.detach().bool().clone()
                params.append(value * mask)
                masks.append(mask)
        return cls(spec, params, masks)

    def _layered_sequential(self, prune_layout: bool) -> nn.Sequential:
        modules = [layer.to_module() for layer in self.spec.layers]
        for k, (pos, _, _) in enumerate(self.spec.param_layers):
            m = modules[pos]
            _copy_masked(m, flat.pair(self.params, k), flat.pair(self.masks, k))
            if prune_layout:
                _attach_masks(m, flat.pair(self.masks, k))
        return nn.Sequential(*modules)


def _copy_masked(module: nn.Module, params, masks) -> None:
    """Set a Linear or convolution module's weight and bias to the masked ``(weight, bias)`` values."""
    with torch.no_grad():
        module.weight.copy_(params[0] * masks[0])
        module.bias.copy_(params[1] * masks[1])


def _attach_masks(module: nn.Module, masks) -> None:
    """Attach ``(weight, bias)`` masks as :mod:`torch.nn.utils.prune` does (``weight_orig``/``weight_mask``)."""
    from torch.nn.utils import prune

    prune.custom_from_mask(module, "weight", masks[0].clone())
    prune.custom_from_mask(module, "bias", masks[1].clone())
