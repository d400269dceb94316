"""The dense torch backend: stacks of Linear layers, a hand-written backward pass and Adam, on any device.

Layer ``i``'s weight is stored ``(N, out, in)`` or, where the layout transposes it, ``(N, in, out)`` (the
wider dimension last); biases are ``(N, 1, out)``.  A minibatch step is plain tensor operations
(``torch.baddbmm``/``torch.bmm``), so it runs wherever torch runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch.nn import functional as F

from ..activations import ACTIVATIONS
from ..losses import BCE_CLAMP
from ..util import flat
from .base import Backend, Stack, TrainOptions, adam_coefficients, adam_update, error_sums, stacked_forward

__all__ = ["TorchDense", "StepConfig"]


class StepConfig(NamedTuple):
    """Static description of a stacked minibatch step."""

    activations: tuple[str, ...]  # every layer, encoder then decoder
    transposed: tuple[bool, ...]  # per layer: weight stored as (N, in, out)
    n_enc: int  # encoder layers
    loss: str  # a key of evoprune.losses.LOSSES (bce_logits: BCE on a final sigmoid, from the logits)
    betas: tuple[float, float]


def layout(specs) -> tuple[bool, ...]:
    """Per layer of both halves: store the weight transposed, ``(in, out)``, where the output is wider."""
    return tuple(spec.sizes[i + 1] > spec.sizes[i] for spec in specs for i in range(spec.n_layers))


def step_config(stack: Stack, options: TrainOptions) -> StepConfig:
    """The step's configuration (binary cross-entropy on a sigmoid output is computed from the logits)."""
    enc, dec = stack.specs
    loss = options.loss
    if loss == "bce" and dec.activations[-1] == "sigmoid":
        loss = "bce_logits"
    return StepConfig(enc.activations + dec.activations, stack.transposed, enc.n_layers, loss, options.adam_betas)


def _act_backward(name: str, g: torch.Tensor, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Gradient w.r.t. the pre-activation ``z`` given the gradient ``g`` w.r.t. ``a = act(z)``."""
    act = ACTIVATIONS[name]
    if act.derivative is not None:
        return act.derivative(g, z, a)
    with torch.enable_grad():  # an activation without a hand-written derivative: autograd for this layer
        zz = z.detach().requires_grad_(True)
        (gz,) = torch.autograd.grad(act.fn(zz), zz, g)
    return gz


def forward(cfg: StepConfig, params: Sequence[torch.Tensor], x: torch.Tensor):
    """Output ``(N, B, D)`` (logits for ``"bce_logits"``) and per layer ``(input, pre-activation, output)``."""
    h, saved = x, []
    last = len(cfg.activations) - 1
    for i, (act, tr) in enumerate(zip(cfg.activations, cfg.transposed, strict=True)):
        w, b = flat.pair(params, i)
        z = torch.baddbmm(b, h, w if tr else w.mT)
        a = z if i == last and cfg.loss == "bce_logits" else ACTIVATIONS[act].fn(z)
        saved.append((h, z, a))
        h = a
    return h, saved


def loss_and_grad(kind: str, out: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-member loss ``(N,)`` (mean over minibatch and features) and its gradient w.r.t. ``out``."""
    scale = 1.0 / (out.shape[1] * out.shape[2])
    if kind == "bce_logits":
        loss = F.binary_cross_entropy_with_logits(out, x, reduction="none").mean((1, 2))
        return loss, (torch.sigmoid(out) - x) * scale
    d = out - x
    if kind == "l1":
        return d.abs().mean((1, 2)), torch.sign(d) * scale
    if kind == "mse":
        return d.square().mean((1, 2)), d * (2 * scale)
    p = out.clamp(BCE_CLAMP, 1 - BCE_CLAMP)  # as LOSSES["bce"]
    loss = F.binary_cross_entropy(p, x, reduction="none").mean((1, 2))
    inside = (out >= BCE_CLAMP) & (out <= 1 - BCE_CLAMP)
    return loss, torch.where(inside, (p - x) / (p * (1 - p)).clamp_min(1e-12), 0.0) * scale


def backward(cfg: StepConfig, params: Sequence[torch.Tensor], saved, g: torch.Tensor) -> list[torch.Tensor]:
    """Gradients of every stacked parameter, in the storage layout, from the gradient ``g`` of the output."""
    grads: list[torch.Tensor] = [g] * len(params)
    last = len(cfg.activations) - 1
    for i in range(last, -1, -1):
        h, z, a = saved[i]
        if not (i == last and cfg.loss == "bce_logits"):
            g = _act_backward(cfg.activations[i], g, z, a)
        w = params[flat.weight(i)]
        grads[flat.weight(i)] = torch.bmm(h.mT, g) if cfg.transposed[i] else torch.bmm(g.mT, h)
        grads[flat.bias(i)] = g.sum(1, keepdim=True)
        if i > 0:
            g = torch.bmm(g, w.mT if cfg.transposed[i] else w)
    return grads


def train_step(cfg: StepConfig, stack: Stack, total: torch.Tensor, data: torch.Tensor, idx: torch.Tensor,
               coefs: torch.Tensor, recorder=None) -> None:
    """One minibatch step of every member on its rows ``idx[n]``, adding its loss times ``B`` to ``total``
    (and showing ``recorder`` every layer's ``(pre-activation, activity)`` first)."""
    x = data[idx]
    out, saved = forward(cfg, stack.params, x)
    if recorder is not None:
        last = len(saved) - 1
        recorder([(z, ACTIVATIONS[cfg.activations[i]].fn(z) if i == last and cfg.loss == "bce_logits" else a)
                  for i, (_, z, a) in enumerate(saved)])
    loss, g = loss_and_grad(cfg.loss, out, x)
    grads = backward(cfg, stack.params, saved, g)
    adam_update(stack.params, grads, stack.exp_avg, stack.exp_avg_sq, stack.masks, coefs, 2 * cfg.n_enc, cfg.betas)
    total.add_(loss.to(total.dtype) * idx.shape[1])


class TorchDense(Backend):
    """Dense halves (Linear layers) with the hand-written step, on any device."""

    name = "torch"
    records = True

    def claims(self, specs, device, loss) -> str | None:
        return None if all(s.dense for s in specs) else "a layered half (convolutions, pooling, ...)"

    def layout(self, specs) -> tuple[bool, ...]:
        return layout(specs)

    def train_epoch(self, stack: Stack, data: torch.Tensor, orders: torch.Tensor, batch_size: int,
                    options: TrainOptions, recorder=None) -> torch.Tensor:
        return self._epoch(stack, data, orders, batch_size, options, first=0, recorder=recorder)

    def _epoch(self, stack, data, orders, batch_size, options, first: int, total=None, coefs=None,
               recorder=None) -> torch.Tensor:
        """Steps ``first..`` of the epoch on the torch path (a subclass may have run the ones before)."""
        cfg = step_config(stack, options)
        n_samples = orders.shape[1]
        n_steps = -(-n_samples // batch_size)
        with torch.no_grad():
            if total is None:
                total = torch.zeros(stack.n, dtype=stack.steps[0].dtype, device=stack.device)
            if coefs is None:
                coefs = adam_coefficients(stack.lr, stack.steps, n_steps, cfg.betas, options.eps)
            full = n_samples // batch_size  # a short last minibatch is not recorded
            for s in range(first, n_steps):
                train_step(cfg, stack, total, data, orders[:, s * batch_size : (s + 1) * batch_size], coefs[s],
                           recorder if s < full else None)
            for st in stack.steps:
                st.add_(n_steps)
        return (total / n_samples).float().cpu()

    def errors(self, specs, enc, dec, data, metric, rows) -> torch.Tensor:
        if data.device.type != "cpu":
            return super().errors(specs, enc, dec, data, metric, rows)
        n = enc[0][0].shape[0]
        enc_spec, dec_spec = specs
        total = torch.zeros(n, dtype=torch.float64)
        ep = [p * m for p, m in zip(*enc, strict=True)]  # masked once: pruned entries are zero from here on
        w0 = ep[0].reshape(n * ep[0].shape[1], -1)
        b0 = ep[1].reshape(-1, 1)
        dec_masked = self._masked_decoder(dec)
        index = torch.zeros(n, 1, dtype=torch.long)
        for s in range(0, data.shape[0], rows):
            x = data[s : s + rows]
            # every member's first layer at once, as (N * h1, B): the same sums as F.linear, and faster for few
            first = torch.addmm(b0, w0, x.t()).view(n, -1, x.shape[0])
            z = []
            for i in range(n):
                h = ACTIVATIONS[enc_spec.activations[0]].fn(first[i].t().contiguous())
                rest = [t[i : i + 1] for t in ep[2:]]
                z.append(_forward_rest(enc_spec, rest, h.unsqueeze(0)) if rest else h.unsqueeze(0))
            z = torch.cat(z)  # (N, B, latent)
            sums = self._cpu_decoder_sums(dec_spec, dec, dec_masked, z, x, index, metric)
            total += sums
        return total

    def _masked_decoder(self, dec):
        """The decoder's params with masks applied once, if the CPU decoder pass wants them (else ``None``)."""
        return None

    def _cpu_decoder_sums(self, dec_spec, dec, dec_masked, z, x, index, metric) -> torch.Tensor:
        """Per member, the error sums of the decoders on latents ``z (N, B, L)`` against rows ``x``."""
        out = torch.empty(z.shape[0], dtype=torch.float64)
        for i in range(z.shape[0]):  # member by member: each one's weights stay in cache
            one = ([t[i : i + 1] for t in dec[0]], [t[i : i + 1] for t in dec[1]])
            out[i] = error_sums(stacked_forward(dec_spec, *one, z[i : i + 1]), x.unsqueeze(0), metric)[0]
        return out


def _forward_rest(spec, params: Sequence[torch.Tensor], h: torch.Tensor) -> torch.Tensor:
    """Layers 1.. of a half (masked ``params``, stack of one) on the first layer's output ``h`` ``(1, B, h1)``."""
    for i, act in enumerate(spec.activations[1:]):
        w, b = flat.pair(params, i)
        h = ACTIVATIONS[act].fn(F.linear(h[0], w[0], b[0]).unsqueeze(0))
    return h
