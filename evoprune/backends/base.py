"""The backend interface: how a stack of N autoencoders trains and evaluates, whatever code runs it.

A :class:`Stack` holds N members' parameters, masks and Adam state as ``(N, ...)`` tensors on one device, in
the layout its backend asks for.  A :class:`Backend` trains a stack for an epoch and evaluates stacked halves.
Adam's update is written once here for every torch backend; the fused kernel does the same arithmetic in C++.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch.nn import functional as F

from ..activations import ACTIVATIONS
from ..losses import LOSSES, METRICS
from ..util import flat
from ..util.validation import check_choice

__all__ = ["Backend", "Stack", "TrainOptions", "adam_coefficients", "adam_update", "stacked_forward",
           "layer_outputs", "stack_halves", "stack_members"]

#: Values of :attr:`TrainOptions.optimizer_reset`.
OPTIMIZER_RESETS = ("never", "minibatch")


@dataclass(frozen=True)
class TrainOptions:
    """How one epoch trains: the loss and Adam's settings."""

    loss: str = "l1"
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    optimizer_reset: str = "never"

    def __post_init__(self) -> None:
        check_choice("loss", self.loss, METRICS)
        check_choice("optimizer_reset", self.optimizer_reset, OPTIMIZER_RESETS)
        betas = tuple(float(b) for b in self.betas)
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"adam betas must be two numbers in [0, 1), got {self.betas!r}")
        object.__setattr__(self, "betas", betas)
        if not (isinstance(self.eps, int | float) and 0 < self.eps < math.inf):
            raise ValueError(f"adam eps must be a positive number, got {self.eps!r}")

    @property
    def adam_betas(self) -> tuple[float, float]:
        """The betas the update runs with, ``(0, 0)`` for ``optimizer_reset="minibatch"`` (on every backend)."""
        # A fresh Adam's first step is lr·g/(|g| + eps) whatever its betas (the bias corrections divide the
        # moments' (1-b1) and (1-b2) out); Adam with betas (0, 0) takes that step at every step.
        return (0.0, 0.0) if self.optimizer_reset == "minibatch" else self.betas


def _stack(tensors: Sequence[torch.Tensor], transposed: bool | None, device: torch.device) -> torch.Tensor:
    """One tensor per member to ``(N, ...)``; in the dense layout (``transposed`` not None) weights are
    ``(N, out, in)`` or, transposed, ``(N, in, out)``, and biases ``(N, 1, out)``."""
    tensors = list(tensors)
    if transposed is None:
        t = torch.stack(tensors)
    elif tensors[0].dim() == 2:  # weights: stacked straight into their layout, one copy
        t = torch.stack([w.t() for w in tensors] if transposed else tensors)
    else:
        t = torch.stack(tensors).unsqueeze(1)
    return t.to(device=device, memory_format=torch.contiguous_format)


def stack_members(per_member: Sequence[Sequence[torch.Tensor]], device: torch.device | str | None = None,
                  transposed: Sequence[bool] | None = None) -> list[torch.Tensor]:
    """Members' flat lists as one list of ``(N, ...)`` tensors, in the layout ``transposed`` names (``_stack``)."""
    device = torch.device("cpu" if device is None else device)
    return [_stack(ts, None if transposed is None else transposed[flat.layer_of(k)], device)
            for k, ts in enumerate(zip(*per_member, strict=True))]


def stack_halves(halves: Sequence, device: torch.device | str | None = None,
                 views: bool = False) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """``(params, masks)`` of halves stacked in the genome layout (with ``views``, a stack of one is views)."""
    if views and len(halves) == 1:
        (h,) = halves
        return [t.unsqueeze(0).to(device) for t in h.params], [t.unsqueeze(0).to(device) for t in h.masks]
    return stack_members([h.params for h in halves], device), stack_members([h.masks for h in halves], device)


@dataclass
class Stack:
    """N encoder/decoder pairs as ``(N, ...)`` tensors, pruned entries of params and moments exactly zero."""

    specs: tuple[Any, Any]
    #: The encoder's then the decoder's flat ``[W0, b0, W1, b1, ...]``, stacked.
    params: list[torch.Tensor]
    #: Boolean, in the same order.
    masks: list[torch.Tensor]
    exp_avg: list[torch.Tensor]
    exp_avg_sq: list[torch.Tensor]
    #: ``(N,)``.
    lr: torch.Tensor
    #: Adam's step counters of the encoders and of the decoders, ``(N,)`` each.
    steps: tuple[torch.Tensor, torch.Tensor]
    #: ``None`` for the genome layout, else one flag per layer for the dense layout: weights ``(N, out, in)``,
    #: or ``(N, in, out)`` where the flag is set; biases ``(N, 1, out)``.
    transposed: tuple[bool, ...] | None = None

    def __post_init__(self) -> None:
        with torch.no_grad():  # the invariant the steps rely on: pruned entries are exactly zero everywhere
            for ts in (self.params, self.exp_avg, self.exp_avg_sq):
                for t, m in zip(ts, self.masks, strict=True):
                    t.mul_(m)

    @property
    def n(self) -> int:
        """Number of members."""
        return self.lr.shape[0]

    @property
    def device(self) -> torch.device:
        """Device of the tensors."""
        return self.lr.device

    @property
    def n_enc(self) -> int:
        """Number of encoder tensors (the first ones of every list)."""
        return len(self.specs[0].shapes)

    @classmethod
    def from_halves(cls, encoders: Sequence, decoders: Sequence, lrs: Sequence[float], device=None,
                    transposed: Sequence[bool] | None = None, persistent: bool = True) -> Stack:
        """Stack N members' halves (copies); without ``persistent`` Adam starts afresh."""
        n = len(encoders)
        if n == 0 or len(decoders) != n or len(lrs) != n:
            raise ValueError(f"need N >= 1 encoders, decoders and lrs alike, got {n}, {len(decoders)}, {len(lrs)}")
        specs = (encoders[0].spec, decoders[0].spec)
        for what, halves, spec in (("encoder", encoders, specs[0]), ("decoder", decoders, specs[1])):
            if any(h.spec != spec for h in halves):
                raise ValueError(f"all {what}s of a stack need the same architecture")
        device = torch.device("cpu" if device is None else device)
        tr = None if transposed is None else tuple(transposed)
        n_enc_layers = specs[0].n_layers
        lists: dict[str, list[torch.Tensor]] = {}
        for attr in ("params", "masks", "exp_avg", "exp_avg_sq"):
            lists[attr] = []
            for part, halves in enumerate((encoders, decoders)):
                flags = None if tr is None else tr[n_enc_layers * part:]
                per = [_state(h, attr, persistent) for h in halves]
                lists[attr] += stack_members(per, device, flags)
        steps_dtype = torch.float32 if device.type == "mps" else torch.float64
        steps = tuple(torch.tensor([float(h.step) if persistent else 0.0 for h in hs], dtype=steps_dtype,
                                   device=device) for hs in (encoders, decoders))
        lr = torch.as_tensor(list(lrs), dtype=torch.float32).to(device)
        return cls(specs, **lists, lr=lr, steps=steps, transposed=tr)

    def members(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Each member's encoder and decoder state (``params``, ``masks``, moments, ``step``), CPU copies."""
        cpu = {a: [t.detach().cpu() for t in getattr(self, a)] for a in ("params", "masks", "exp_avg", "exp_avg_sq")}
        steps = [s.flatten().tolist() for s in self.steps]
        parts = ((0, range(self.n_enc)), (1, range(self.n_enc, len(self.params))))
        out = []
        for i in range(self.n):
            pair = []
            for part, ks in parts:
                state: dict[str, Any] = {a: [self._unstack(ts[k], i, k) for k in ks] for a, ts in cpu.items()}
                state["step"] = int(round(steps[part][i]))
                pair.append(state)
            out.append((pair[0], pair[1]))
        return out

    def _unstack(self, t: torch.Tensor, i: int, k: int) -> torch.Tensor:
        if self.transposed is None:
            return t[i].clone()
        if flat.is_bias(k):  # bias (N, 1, out)
            return t[i, 0].clone()
        return (t[i].t() if self.transposed[flat.layer_of(k)] else t[i]).clone(memory_format=torch.contiguous_format)


def _state(h, attr: str, persistent: bool) -> list[torch.Tensor]:
    if attr in ("params", "masks"):
        return getattr(h, attr)
    ts = getattr(h, attr) if persistent else None
    return [torch.zeros_like(p) for p in h.params] if ts is None else ts


def adam_coefficients(lr: torch.Tensor, steps: tuple[torch.Tensor, torch.Tensor], n_steps: int,
                      betas: tuple[float, float], eps: float) -> torch.Tensor:
    """Adam's bias-corrected factors for the next ``n_steps`` steps, ``(n_steps, 4, N)``."""
    # Row [s], for step t = step + s + 1, c1 = 1 - b1^t, c2 = sqrt(1 - b2^t): lr * c2 / c1 and eps * c2 for the
    # encoder, then the decoder.  Adam's p -= lr / c1 * m / (sqrt(v) / c2 + eps) is then
    # p -= m * (lr * c2 / c1) / (sqrt(v) + eps * c2): one division per element.
    b1, b2 = betas
    s = torch.arange(1, n_steps + 1, dtype=steps[0].dtype, device=steps[0].device).view(n_steps, 1)
    rows = []
    for step in steps:
        t = step + s
        c2 = torch.sqrt(1 - b2**t)
        rows += [lr * c2 / (1 - b1**t), eps * c2]
    return torch.stack(rows, 1).to(lr.dtype)


def adam_update(params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], exp_avg: Sequence[torch.Tensor],
                exp_avg_sq: Sequence[torch.Tensor], masks: Sequence[torch.Tensor], coefs: torch.Tensor,
                n_enc: int, betas: tuple[float, float]) -> None:
    """``torch.optim.Adam``'s update of every member in place, ``coefs`` one row of :func:`adam_coefficients`."""
    b1, b2 = betas
    for k, (p, g, m, v, mask) in enumerate(zip(params, grads, exp_avg, exp_avg_sq, masks, strict=True)):
        half = 0 if k < n_enc else 2
        shape = (-1, *([1] * (p.dim() - 1)))
        g = torch.where(mask, g, 0.0)
        m.lerp_(g, 1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        p.sub_(m * coefs[half].view(shape) / (v.sqrt() + coefs[half + 1].view(shape)))


def stacked_forward(spec, params: Sequence[torch.Tensor], masks: Sequence[torch.Tensor] | None, x: torch.Tensor,
                    final_activation: bool = True, outputs: list | None = None) -> torch.Tensor:
    """Forward pass of N stacked halves on flat rows ``x (N, B, in)``; ``outputs`` receives each layer's activity."""
    if not spec.dense:
        if not final_activation:
            raise ValueError("final_activation=False needs a dense half")
        return spec.stacked_forward(params, masks, x, outputs)
    h = x
    last = spec.n_layers - 1
    for i, act in enumerate(spec.activations):
        w, b = flat.pair(params, i)
        if masks is not None:
            mw, mb = flat.pair(masks, i)
            w, b = w * mw, b * mb
        if h.shape[0] == 1:
            h = F.linear(h[0], w[0], b[0]).unsqueeze(0)
        else:
            h = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
        if i < last or final_activation:
            h = ACTIVATIONS[act].fn(h)
        if outputs is not None:
            outputs.append(h)
    return h


def layer_outputs(spec, params, masks, x: torch.Tensor) -> list[torch.Tensor]:
    """Every layer's neuron activity of N stacked halves on ``x`` ``(N, B, in)``."""
    outs: list[torch.Tensor] = []
    stacked_forward(spec, params, masks, x, outputs=outs)
    return outs


def error_sums(out: torch.Tensor, target: torch.Tensor, metric: str) -> torch.Tensor:
    """Per-member sum of elementwise errors ``(N,)`` float64, computed in place on ``out`` (no-grad only)."""
    if metric == "l1":
        return out.sub_(target).abs_().flatten(1).sum(1).double()
    if metric == "mse":
        return out.sub_(target).square_().flatten(1).sum(1).double()
    return LOSSES[metric].fn(out, target).double() * out[0].numel()


class Backend:
    """One way of training and evaluating stacks.  Subclasses set ``name`` and implement the methods."""

    name: ClassVar[str] = ""
    #: Whether :meth:`train_epoch` takes a ``recorder`` (the training passes' activity, for the published VARIANCE).
    records: ClassVar[bool] = False

    def claims(self, specs: tuple[Any, Any], device: torch.device, loss: str) -> str | None:
        """``None`` if this backend runs a stack of ``specs`` on ``device`` with ``loss``, else why not."""
        raise NotImplementedError

    def layout(self, specs: tuple[Any, Any]) -> tuple[bool, ...] | None:
        """The :class:`~evoprune.backends.Stack` layout this backend trains (``None``: the genome layout)."""
        return None

    def train_epoch(self, stack: Stack, data: torch.Tensor, orders: torch.Tensor, batch_size: int,
                    options: TrainOptions, recorder=None) -> torch.Tensor:
        """One epoch of minibatch Adam (slices of ``orders[n]``) in place; the mean training losses, ``(N,)``.

        A ``recorder`` (backends with ``records``) is called on every full minibatch, before its step, with each
        layer's ``(pre-activation, activity)``, both ``(N, B, units)``, encoder layers then decoder layers.
        """
        raise NotImplementedError

    def forward(self, spec, params, masks, x: torch.Tensor, outputs: list | None = None) -> torch.Tensor:
        """Stacked forward pass (and, through ``outputs``, the activations pruning reads)."""
        return stacked_forward(spec, params, masks, x, outputs=outputs)

    def errors(self, specs, enc, dec, data: torch.Tensor, metric: str, rows: int) -> torch.Tensor:
        """Summed reconstruction error of each member on ``data``, ``(N,)`` float64."""
        n = enc[0][0].shape[0]
        total = torch.zeros(n, dtype=torch.float64, device=data.device)
        for s in range(0, data.shape[0], rows):
            x = data[s : s + rows].unsqueeze(0).expand(n, -1, -1)
            out = stacked_forward(specs[1], *dec, stacked_forward(specs[0], *enc, x))
            total += error_sums(out, x, metric)
        return total

    def decoder_errors(self, spec, params, masks, z: torch.Tensor, target: torch.Tensor, index: torch.Tensor,
                       metric: str) -> torch.Tensor:
        """``sums[n, g, k] = Σ_{b, j} err(decoder_n(z[n, g, k, b])[j], target[index[n, g], b, j])``, float64."""
        n, g, k, b = z.shape[:4]
        dim = target.shape[-1]
        out = stacked_forward(spec, params, masks, z.reshape(n, g * k * b, -1))
        tgt = target[index][:, :, None].expand(n, g, k, b, dim).reshape(n, g * k * b, dim)
        return error_sums(out.view(n * g * k, b, dim), tgt.reshape(-1, b, dim), metric).view(n, g, k)
