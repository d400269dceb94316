"""One minibatch step of N stacked autoencoders: forward, hand-written backward and Adam, as plain tensor ops.

:func:`train_step` is a function of its tensor arguments (updated in place)
and of a static :class:`StepConfig`, so the same code runs eagerly or, as one
fused pass, under ``torch.compile``.  Layer ``i``'s weight is stored either as
``(N, out, in)`` or, when ``transposed[i]``, as ``(N, in, out)`` (the wider
dimension last); biases are ``(N, 1, out)``.  Adam's per-member factors
(from learning rates and per-half step counters, ``(N, 1, 1)``) are computed
once per epoch by :func:`adam_coefficients`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch.nn import functional as F

from .activations import ACTIVATIONS
from .losses import BCE_CLAMP


class StepConfig(NamedTuple):
    """Static description of a stacked step (hashable; a compile cache key part)."""

    activations: tuple[str, ...]  # every layer, encoder then decoder
    transposed: tuple[bool, ...]  # per layer: weight stored as (N, in, out)
    n_enc: int  # encoder layers (their tensors use the encoder's step counter)
    loss: str  # a key of evoprune.losses.LOSSES (bce_logits: BCE on a final sigmoid, from the logits)
    betas: tuple[float, float]
    eps: float


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
        w, b = params[2 * i], params[2 * i + 1]
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
        w = params[2 * i]
        grads[2 * i] = torch.bmm(h.mT, g) if cfg.transposed[i] else torch.bmm(g.mT, h)
        grads[2 * i + 1] = g.sum(1, keepdim=True)
        if i > 0:
            g = torch.bmm(g, w.mT if cfg.transposed[i] else w)
    return grads


def adam_coefficients(
    lr: torch.Tensor,
    step_enc: torch.Tensor,
    step_dec: torch.Tensor,
    n_steps: int,
    betas: tuple[float, float],
    eps: float,
) -> torch.Tensor:
    """Adam's bias-corrected factors for the next ``n_steps`` steps, ``(n_steps, 4, N, 1, 1)``.

    With ``c1 = 1 - b1^t``, ``c2 = sqrt(1 - b2^t)`` for step ``t = step + s + 1``,
    row ``[s]`` holds ``lr * c2 / c1`` and ``eps * c2`` for the encoder, then the
    decoder: ``torch.optim.Adam``'s ``p -= lr / c1 * m / (sqrt(v) / c2 + eps)``
    is ``p -= m * (lr * c2 / c1) / (sqrt(v) + eps * c2)``, one division per
    element.  Computed once per epoch (in a fused step these per-member
    scalars would be recomputed per element).
    """
    b1, b2 = betas
    s = torch.arange(1, n_steps + 1, dtype=step_enc.dtype, device=step_enc.device).view(n_steps, 1, 1, 1)
    rows = []
    for t in (step_enc + s, step_dec + s):
        c2 = torch.sqrt(1 - b2**t)
        rows += [lr * c2 / (1 - b1**t), eps * c2]
    return torch.stack(rows, 1).to(lr.dtype)


def adam_update(
    cfg: StepConfig,
    params: Sequence[torch.Tensor],
    grads: Sequence[torch.Tensor],
    exp_avg: Sequence[torch.Tensor],
    exp_avg_sq: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor],
    coefs: torch.Tensor,
) -> None:
    """``torch.optim.Adam``'s update (no weight decay, no amsgrad) for all members at once.

    ``coefs (4, N, 1, 1)`` is one row of :func:`adam_coefficients`; ``masks``
    are bool or float 0/1 (faster in compiled code); masked gradients are 0.
    """
    b1, b2 = cfg.betas
    for k, (p, g, m, v, mask) in enumerate(zip(params, grads, exp_avg, exp_avg_sq, masks, strict=True)):
        half = 0 if k < 2 * cfg.n_enc else 2
        g = torch.where(mask if mask.dtype == torch.bool else mask != 0, g, 0.0)
        m.lerp_(g, 1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        p.sub_(m * coefs[half] / (v.sqrt() + coefs[half + 1]))


def train_step(
    cfg: StepConfig,
    params: list[torch.Tensor],
    exp_avg: list[torch.Tensor],
    exp_avg_sq: list[torch.Tensor],
    masks: list[torch.Tensor],
    total: torch.Tensor,
    data: torch.Tensor,
    idx: torch.Tensor,
    coefs: torch.Tensor,
) -> None:
    """One minibatch step for every member: ``idx (N, B)`` picks member n's rows of ``data``.

    ``coefs`` is this step's row of :func:`adam_coefficients`.  Updates
    parameters and moments in place and adds each member's minibatch loss
    times ``B`` to ``total (N,)``.
    """
    x = data[idx]
    out, saved = forward(cfg, params, x)
    loss, g = loss_and_grad(cfg.loss, out, x)
    grads = backward(cfg, params, saved, g)
    adam_update(cfg, params, grads, exp_avg, exp_avg_sq, masks, coefs)
    total.add_(loss.to(total.dtype) * idx.shape[1])
