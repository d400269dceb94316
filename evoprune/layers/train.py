"""One epoch of minibatch Adam for N stacked layered autoencoders (the general torch path), on any device.

The stacked forward pass (:func:`~evoprune.layers.sequence_forward`) is differentiated by autograd; the
sum of the members' losses has, for each member's parameters, that member's own gradient.  Adam then runs
elementwise on the stacked tensors with per-member learning rates and step counters, as
``torch.optim.Adam`` (no weight decay, no amsgrad) would for each member alone.  Gradients of pruned
entries are zeroed before the update, so pruned weights and their moments stay exactly zero.
"""

from __future__ import annotations

import torch

from ..losses import LOSSES

__all__ = ["train_layered_epoch"]


def _per_member(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``(N,)`` values shaped to broadcast over ``like (N, ...)``."""
    return v.view(-1, *([1] * (like.dim() - 1)))


def train_layered_epoch(
    specs: tuple,
    params: list[torch.Tensor],
    masks: list[torch.Tensor],
    exp_avg: list[torch.Tensor],
    exp_avg_sq: list[torch.Tensor],
    lr: torch.Tensor,
    steps: tuple[torch.Tensor, torch.Tensor],
    data: torch.Tensor,
    orders: torch.Tensor,
    batch_size: int,
    loss: str,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> torch.Tensor:
    """Train N stacked members one epoch in place; returns each member's mean training loss ``(N,)`` (CPU).

    Parameters
    ----------
    specs
        ``(encoder spec, decoder spec)``, layered :class:`~evoprune.architecture.HalfSpec` objects.
    params
        Encoder's then decoder's flat parameter lists, each tensor ``(N, ...)`` (updated in place).
    masks
        Boolean masks of the same shapes.
    exp_avg, exp_avg_sq
        Adam's moments of the same shapes (updated in place).
    lr
        Learning rates ``(N,)``.
    steps
        Adam step counters ``(N,)`` (float64) of the encoders and of the decoders (updated in place).
    data
        Flat training rows ``(samples, features)`` on the stack's device.
    orders
        Per member, a permutation of the rows, ``(N, samples)``.
    batch_size
        Rows per minibatch (the last may be smaller).
    loss
        A key of :data:`~evoprune.losses.LOSSES` (``l1``, ``mse``, ``bce``).
    betas, eps
        Adam's.
    """
    enc_spec, dec_spec = specs
    n_enc = len(enc_spec.shapes)
    b1, b2 = betas
    fn = LOSSES[loss].fn
    n, n_samples = orders.shape
    total = torch.zeros(n, dtype=torch.float64, device=data.device)
    for s in range(0, n_samples, batch_size):
        idx = orders[:, s : s + batch_size]
        x = data[idx]  # (N, B, features): each member its own rows
        leaves = [p.detach().requires_grad_(True) for p in params]
        with torch.enable_grad():
            z = enc_spec.stacked_forward(leaves[:n_enc], None, x)
            out = dec_spec.stacked_forward(leaves[n_enc:], None, z)
            member_loss = fn(out, x)
            grads = torch.autograd.grad(member_loss.sum(), leaves)
        total += member_loss.detach().double() * idx.shape[1]
        with torch.no_grad():
            for st in steps:
                st.add_(1)
            coefs = []
            for st in steps:  # torch.optim.Adam: p -= lr / c1 * m / (sqrt(v) / c2 + eps)
                c1, c2 = 1 - b1**st, torch.sqrt(1 - b2**st)
                coefs.append(((lr.double() * c2 / c1).float(), (eps * c2).float()))
            for k, (p, g, m, v, mask) in enumerate(zip(params, grads, exp_avg, exp_avg_sq, masks, strict=True)):
                step_size, denom_eps = coefs[0 if k < n_enc else 1]
                g = torch.where(mask, g, 0.0)
                m.lerp_(g, 1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                p.sub_(m * _per_member(step_size, p) / (v.sqrt() + _per_member(denom_eps, p)))
    return (total / n_samples).float().cpu()
