"""Training as a variation operator, batched over many genomes, and learning-rate mutation.

All training goes through :func:`train_halves`, which stacks the parameters of
N encoder/decoder pairs into ``(N, ...)`` tensors and runs one epoch of
minibatch gradient descent for all of them at once with ``torch.bmm``.  Each
member keeps its own masks, learning rate, minibatch order and Adam state, so
training N members together gives the same weights as training each alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch.nn import functional as F

from .genome import ACTIVATIONS, AutoencoderGenome, Half, HalfSpec
from .rng import RNGLike, as_generator
from .validation import check_choice, check_positive


def _l1(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (out - target).abs().flatten(1).mean(1)


def _mse(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (out - target).pow(2).flatten(1).mean(1)


def _bce(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy(out.clamp(1e-7, 1 - 1e-7), target, reduction="none").flatten(1).mean(1)


#: Per-member reconstruction losses: ``f(out (N,B,D), target (N,B,D)) -> (N,)``.
LOSSES = {"l1": _l1, "mse": _mse, "bce": _bce}


def stacked_forward(
    spec: HalfSpec, params: Sequence[torch.Tensor], masks: Sequence[torch.Tensor], x: torch.Tensor
) -> torch.Tensor:
    """Forward pass of N stacked halves: ``params[k]`` is ``(N, ...)``, ``x`` is ``(N, B, in)``."""
    h = x
    for i, act in enumerate(spec.activations):
        w = params[2 * i] * masks[2 * i]
        b = params[2 * i + 1] * masks[2 * i + 1]
        h = ACTIVATIONS[act](torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2)))
    return h


def _stack(halves: Sequence[Half], attr: str) -> list[torch.Tensor]:
    lists = [getattr(h, attr) for h in halves]
    return [torch.stack(ts) for ts in zip(*lists, strict=True)]


def _stack_state(halves: Sequence[Half], attr: str) -> list[torch.Tensor]:
    lists = [
        getattr(h, attr) if getattr(h, attr) is not None else [torch.zeros_like(p) for p in h.params] for h in halves
    ]
    return [torch.stack(ts) for ts in zip(*lists, strict=True)]


def minibatch_orders(n_samples: int, rngs: Sequence[np.random.Generator]) -> torch.Tensor:
    """One random permutation of the sample indices per member, shape ``(N, n_samples)``."""
    return torch.from_numpy(np.stack([g.permutation(n_samples) for g in rngs]))


def train_halves(
    encoders: Sequence[Half],
    decoders: Sequence[Half],
    lrs: Sequence[float],
    data: torch.Tensor,
    orders: torch.Tensor,
    batch_size: int = 32,
    loss: str = "l1",
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    persistent: bool = True,
) -> tuple[list[Half], list[Half], torch.Tensor]:
    """Train N encoder/decoder pairs for one epoch, batched, with Adam.

    ``orders[n]`` is member n's sample order; minibatches are consecutive slices
    of it (the last may be smaller).  Adam's moments persist across minibatches
    and, with ``persistent=True``, across calls (they are stored on the halves).
    Masked entries get no update and stay exactly zero.

    Returns new halves (inputs are not modified) and each member's mean
    training loss over the epoch, shape ``(N,)``.
    """
    check_choice("loss", loss, LOSSES)
    n = len(encoders)
    if not (len(decoders) == n == len(lrs) == orders.shape[0]):
        raise ValueError(f"got {n} encoders, {len(decoders)} decoders, {len(lrs)} lrs, {orders.shape[0]} orders")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    enc_spec, dec_spec = encoders[0].spec, decoders[0].spec
    n_enc = len(enc_spec.shapes)
    halves = list(encoders) + list(decoders)
    params = [p.requires_grad_(True) for p in _stack(encoders, "params") + _stack(decoders, "params")]
    masks = _stack(encoders, "masks") + _stack(decoders, "masks")
    fmasks = [m.to(params[0].dtype) for m in masks]
    if persistent:
        m1 = _stack_state(encoders, "exp_avg") + _stack_state(decoders, "exp_avg")
        m2 = _stack_state(encoders, "exp_avg_sq") + _stack_state(decoders, "exp_avg_sq")
        steps = torch.tensor([[h.step for h in encoders], [h.step for h in decoders]], dtype=torch.float64)
    else:
        m1 = [torch.zeros_like(p) for p in params]
        m2 = [torch.zeros_like(p) for p in params]
        steps = torch.zeros(2, n, dtype=torch.float64)
    lr = torch.as_tensor(np.asarray(lrs, dtype=np.float64))
    b1, b2 = betas
    loss_fn = LOSSES[loss]
    total = torch.zeros(n, dtype=torch.float64)
    n_samples = orders.shape[1]
    for start in range(0, n_samples, batch_size):
        idx = orders[:, start : start + batch_size]
        x = data[idx]
        out = stacked_forward(
            dec_spec, params[n_enc:], fmasks[n_enc:], stacked_forward(enc_spec, params[:n_enc], fmasks[:n_enc], x)
        )
        per_member = loss_fn(out, x)
        grads = torch.autograd.grad(per_member.sum(), params)
        total += per_member.detach().double() * idx.shape[1]
        with torch.no_grad():
            steps += 1
            # step sizes per member: lr * sqrt(1 - b2^t) / (1 - b1^t), shape (2, N)
            step_size = (lr * torch.sqrt(1 - b2**steps) / (1 - b1**steps)).float()
            for k, (p, g) in enumerate(zip(params, grads, strict=True)):
                half_i = 0 if k < n_enc else 1
                shape = (n,) + (1,) * (p.dim() - 1)
                m1[k].mul_(b1).add_(g, alpha=1 - b1)
                m2[k].mul_(b2).addcmul_(g, g, value=1 - b2)
                denom = m2[k].sqrt().add_(eps * torch.sqrt(1 - b2 ** steps[half_i]).float().view(shape))
                p.addcdiv_(m1[k] * step_size[half_i].view(shape), denom, value=-1.0)
                p.mul_(fmasks[k])
    new_halves = []
    for j, h in enumerate(halves):
        lo, hi = (0, n_enc) if j < n else (n_enc, len(params))
        i = j % n
        nh = Half(
            h.spec,
            [params[k][i].detach().clone() for k in range(lo, hi)],
            [masks[k][i].clone() for k in range(lo, hi)],
        )
        if persistent:
            nh.exp_avg = [m1[k][i].clone() for k in range(lo, hi)]
            nh.exp_avg_sq = [m2[k][i].clone() for k in range(lo, hi)]
            nh.step = int(steps[0 if j < n else 1, i])
        new_halves.append(nh)
    return new_halves[:n], new_halves[n:], (total / n_samples).float()


def mutTrain(
    individual: AutoencoderGenome,
    data: torch.Tensor,
    rng: RNGLike = None,
    batch_size: int = 32,
    loss: str = "l1",
    epochs: int = 1,
    persistent: bool = True,
):
    """Train ``individual`` in place for ``epochs`` epochs (default one) of minibatch Adam.

    Training is a variation: register it on a toolbox, e.g.
    ``toolbox.register("train", mutTrain, data=X_train, batch_size=32, loss="bce")``.
    ``loss`` is ``"l1"`` (the paper's), ``"mse"`` or ``"bce"`` (for data in [0, 1]).
    Returns ``(individual,)`` with its fitness invalidated and the epoch's
    mean training loss in ``individual.train_loss``.
    """
    g = as_generator(rng)
    for _ in range(epochs):
        (enc,), (dec,), losses = train_halves(
            [individual.encoder],
            [individual.decoder],
            [individual.lr],
            data,
            minibatch_orders(data.shape[0], [g]),
            batch_size,
            loss,
            persistent=persistent,
        )
        individual.encoder, individual.decoder = enc, dec
        individual.train_loss = float(losses[0])
    if hasattr(individual, "fitness"):
        del individual.fitness.values
    return (individual,)


def mutLearningRate(
    individual: AutoencoderGenome,
    sigma: float = 0.25,
    low: float = 1e-5,
    high: float = 1e-1,
    rng: RNGLike = None,
):
    """Gaussian step on the log learning rate, clipped to ``[low, high]``.

    ``lr ← clip(lr · exp(N(0, sigma)), low, high)``.  A log scale keeps the
    step relative to the rate (the published additive N(0, 1e-5) step froze cells).
    """
    check_positive("sigma", sigma) if sigma != 0 else None
    if not 0 < low <= high:
        raise ValueError(f"need 0 < low <= high, got low={low!r}, high={high!r}")
    g = as_generator(rng)
    individual.lr = float(min(high, max(low, individual.lr * math.exp(g.normal(0.0, sigma)))))
    return (individual,)
