"""The layered torch backend: any half the layers describe (convolutions, pooling, ...), on any device.

The stacked forward pass (the spec's ``stacked_forward``, members as groups of grouped convolutions) is
differentiated by autograd; the sum of the members' losses has, for each member's parameters, that member's
own gradient.  Adam then runs on the stacked tensors as ``torch.optim.Adam`` would for each member alone.
"""

from __future__ import annotations

import torch

from ..losses import LOSSES
from .base import Backend, Stack, TrainOptions, adam_coefficients, adam_update

__all__ = ["TorchLayered"]


class TorchLayered(Backend):
    """Every architecture, trained through autograd (the general path)."""

    name = "torch-layered"

    def claims(self, specs, device, loss) -> str | None:
        return None

    def train_epoch(self, stack: Stack, data: torch.Tensor, orders: torch.Tensor, batch_size: int,
                    options: TrainOptions, recorder=None) -> torch.Tensor:
        if recorder is not None:
            raise ValueError("recording the training passes' activity needs dense halves (Linear layers)")
        enc_spec, dec_spec = stack.specs
        n_enc = stack.n_enc
        fn = LOSSES[options.loss].fn
        n, n_samples = orders.shape
        n_steps = -(-n_samples // batch_size)
        total = torch.zeros(n, dtype=torch.float64, device=data.device)
        with torch.no_grad():
            coefs = adam_coefficients(stack.lr, stack.steps, n_steps, options.adam_betas, options.eps)
        for s in range(n_steps):
            idx = orders[:, s * batch_size : (s + 1) * batch_size]
            x = data[idx]  # (N, B, features): each member its own rows
            leaves = [p.detach().requires_grad_(True) for p in stack.params]
            with torch.enable_grad():
                z = enc_spec.stacked_forward(leaves[:n_enc], None, x)
                out = dec_spec.stacked_forward(leaves[n_enc:], None, z)
                member_loss = fn(out, x)
                grads = torch.autograd.grad(member_loss.sum(), leaves)
            total += member_loss.detach().double() * idx.shape[1]
            with torch.no_grad():
                adam_update(stack.params, grads, stack.exp_avg, stack.exp_avg_sq, stack.masks, coefs[s], n_enc,
                            options.adam_betas)
        with torch.no_grad():
            for st in stack.steps:
                st.add_(n_steps)
        return (total / n_samples).float().cpu()
