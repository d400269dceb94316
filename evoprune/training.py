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
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from .data import check_data
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


@dataclass(frozen=True)
class LossSchedule:
    """Which training loss to use at generation t of T: ``"bce>l1"`` switches from BCE to L1.

    ``stages`` is one name of :data:`LOSSES` or several joined by ``">"``;
    ``switch`` gives, as fractions of the run, where each next stage starts:
    generation t uses stage k, the number of switch fractions s with t > s·T.
    Register it on a toolbox as ``loss``; the algorithms then pass
    ``loss=toolbox.loss(t, T)`` to ``toolbox.train``:

    >>> LossSchedule("bce>l1", switch=0.5)(t=100, T=200), LossSchedule("bce>l1", switch=0.5)(t=101, T=200)
    ('bce', 'l1')

    Binary cross-entropy learns fast but its optimum (calibrated bit
    probabilities) is not L1's; a few epochs of L1 afterwards reach L1's floor.
    """

    stages: str = "bce>l1"
    switch: float | tuple[float, ...] = 0.5

    def __post_init__(self) -> None:
        if not isinstance(self.stages, str):
            raise ValueError(f"loss must be a string such as 'l1' or 'bce>l1', got {self.stages!r}")
        for name in self.names:
            check_choice("loss", name, LOSSES)
        switches = self.switches
        if len(self.names) > 1 and len(switches) != len(self.names) - 1:
            raise ValueError(
                f"loss {self.stages!r} has {len(self.names)} stage(s), so it needs {len(self.names) - 1} "
                f"switch fraction(s); got switch={self.switch!r}"
            )
        for s in switches:
            if isinstance(s, bool) or not isinstance(s, int | float) or not 0 <= s <= 1:
                raise ValueError(f"loss switch must be a fraction of the run in [0, 1], got switch={self.switch!r}")
        if any(b < a for a, b in zip(switches, switches[1:], strict=False)):
            raise ValueError(f"loss switch fractions must not decrease, got switch={self.switch!r}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.strip() for s in self.stages.split(">"))

    @property
    def switches(self) -> tuple[float, ...]:
        if len(self.names) == 1:
            return ()
        return tuple(self.switch) if isinstance(self.switch, tuple | list) else (self.switch,)

    def __call__(self, t: int, T: int) -> str:
        if T < 1 or not 0 <= t <= T:
            raise ValueError(f"need 0 <= t <= T and T >= 1, got t={t}, T={T}")
        return self.names[sum(t > s * T for s in self.switches)]


def loss_kwargs(loss, gen: int, ngen: int) -> dict[str, str]:
    """``{"loss": loss(gen, ngen)}`` for a registered loss schedule, ``{}`` for none (the operator's own loss)."""
    return {} if loss is None else {"loss": loss(gen, ngen)}


def stacked_forward(
    spec: HalfSpec,
    params: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor] | None,
    x: torch.Tensor,
    final_activation: bool = True,
) -> torch.Tensor:
    """Forward pass of N stacked halves: ``params[k]`` is ``(N, ...)``, ``x`` is ``(N, B, in)``.

    ``masks=None`` skips masking (valid when pruned entries are already zero).
    """
    h = x
    last = spec.n_layers - 1
    for i, act in enumerate(spec.activations):
        w, b = params[2 * i], params[2 * i + 1]
        if masks is not None:
            w, b = w * masks[2 * i], b * masks[2 * i + 1]
        h = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
        if i < last or final_activation:
            h = ACTIVATIONS[act](h)
    return h


def _stack(halves: Sequence[Half], attr: str) -> list[torch.Tensor]:
    lists = [getattr(h, attr) for h in halves]
    return [torch.stack(ts) for ts in zip(*lists, strict=True)]


def _stack_t(halves: Sequence[Half], attr: str, zeros_if_none: bool = False) -> list[torch.Tensor]:
    """Stack like :func:`_stack` but with weight matrices transposed to ``(N, in, out)``.

    In this layout the weight gradients of ``bmm`` come out contiguous, as the
    fused Adam kernel needs, with no transposing copy in every step.
    """
    lists = []
    for h in halves:
        ts = getattr(h, attr)
        if ts is None and zeros_if_none:
            ts = [torch.zeros_like(p) for p in h.params]
        lists.append(ts)
    return [torch.stack([t.t() if t.dim() == 2 else t for t in ts]) for ts in zip(*lists, strict=True)]


def _unstack_t(t: torch.Tensor, i: int) -> torch.Tensor:
    x = t[i].detach()
    return x.t().contiguous() if x.dim() == 2 else x.clone()


def _forward_t(spec: HalfSpec, params: Sequence[torch.Tensor], x: torch.Tensor, final_activation: bool = True):
    """Forward pass of stacked halves in the transposed layout of :func:`_stack_t` (no masking)."""
    h = x
    last = spec.n_layers - 1
    for i, act in enumerate(spec.activations):
        h = torch.baddbmm(params[2 * i + 1].unsqueeze(1), h, params[2 * i])
        if i < last or final_activation:
            h = ACTIVATIONS[act](h)
    return h


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
    data = check_data(data, "training data", dim=enc_spec.sizes[0])
    n_enc = len(enc_spec.shapes)
    halves = list(encoders) + list(decoders)
    masks = _stack_t(encoders, "masks") + _stack_t(decoders, "masks")
    fmasks = [m.float() for m in masks]
    # enforce the invariant the unmasked forward pass relies on: pruned entries are exactly zero
    stacked = _stack_t(encoders, "params") + _stack_t(decoders, "params")
    params = [p.mul_(m).requires_grad_(True) for p, m in zip(stacked, fmasks, strict=True)]
    if persistent:
        m1 = _stack_t(encoders, "exp_avg", True) + _stack_t(decoders, "exp_avg", True)
        m2 = _stack_t(encoders, "exp_avg_sq", True) + _stack_t(decoders, "exp_avg_sq", True)
        start_steps = [(e.step, d.step) for e, d in zip(encoders, decoders, strict=True)]
    else:
        m1 = [torch.zeros_like(p) for p in params]
        m2 = [torch.zeros_like(p) for p in params]
        start_steps = [(0, 0)] * n
    for k, fm in enumerate(fmasks):  # pruned entries keep no momentum, so they get no update
        m1[k].mul_(fm)
        m2[k].mul_(fm)
    # step counters per member and half; each tensor of a half reads its half's counter
    counters = [(torch.tensor(float(es)), torch.tensor(float(ds))) for es, ds in start_steps]
    steps = [[ec if k < n_enc else dc for k in range(len(params))] for ec, dc in counters]
    lrs = [float(x) for x in lrs]
    # binary cross-entropy on a sigmoid output is computed from the logits: faster and stable
    logits = loss == "bce" and dec_spec.activations[-1] == "sigmoid"
    loss_fn = _bce_with_logits if logits else LOSSES[loss]
    total = torch.zeros(n, dtype=torch.float64)
    n_samples = orders.shape[1]
    for start in range(0, n_samples, batch_size):
        idx = orders[:, start : start + batch_size]
        x = data[idx]
        # pruned weights are exactly zero, so the forward pass needs no masks; their gradients are masked below
        z = _forward_t(enc_spec, params[:n_enc], x)
        per_member = loss_fn(_forward_t(dec_spec, params[n_enc:], z, final_activation=not logits), x)
        grads = torch.autograd.grad(per_member.sum(), params)
        total += per_member.detach().double() * idx.shape[1]
        with torch.no_grad():
            for g, m in zip(grads, fmasks, strict=True):
                g.mul_(m)
            torch._foreach_add_([t for pair in counters for t in pair], 1)
            _adam_step(params, grads, m1, m2, steps, lrs, betas, eps)
    with torch.no_grad():
        for p, m in zip(params, fmasks, strict=True):
            p.mul_(m)
    new_halves = []
    for j, h in enumerate(halves):
        lo, hi = (0, n_enc) if j < n else (n_enc, len(params))
        i = j % n
        nh = Half(
            h.spec, [_unstack_t(params[k], i) for k in range(lo, hi)], [_unstack_t(masks[k], i) for k in range(lo, hi)]
        )
        if persistent:
            nh.exp_avg = [_unstack_t(m1[k], i) for k in range(lo, hi)]
            nh.exp_avg_sq = [_unstack_t(m2[k], i) for k in range(lo, hi)]
            nh.step = int(steps[i][lo])
        new_halves.append(nh)
    return new_halves[:n], new_halves[n:], (total / n_samples).float()


def _bce_with_logits(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).mean(1)


def _adam_step(params, grads, m1, m2, steps, lrs, betas, eps) -> None:
    """One Adam step for every member, each with its own learning rate and (already incremented) step counters.

    Uses PyTorch's fused CPU kernel (one pass over each tensor) when available;
    the reference implementation below computes the same update.
    """
    b1, b2 = betas
    for i, lr in enumerate(lrs):
        ps, gs = [p[i] for p in params], [g[i] for g in grads]
        ms, vs = [m[i] for m in m1], [v[i] for v in m2]
        if _FUSED_ADAM:
            torch._fused_adam_(
                ps,
                gs,
                ms,
                vs,
                [],
                steps[i],
                amsgrad=False,
                lr=lr,
                beta1=b1,
                beta2=b2,
                weight_decay=0.0,
                eps=eps,
                maximize=False,
            )
            continue
        for p, g, m, v, t in zip(ps, gs, ms, vs, steps[i], strict=True):
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = (v.sqrt() / math.sqrt(1 - b2 ** float(t))).add_(eps)
            p.addcdiv_(m, denom, value=-lr / (1 - b1 ** float(t)))


_FUSED_ADAM = hasattr(torch, "_fused_adam_")


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
    if ">" in str(loss):
        raise ValueError(
            f"mutTrain takes one loss, got {loss!r}; register a loss schedule on the toolbox instead: "
            f"toolbox.register('loss', LossSchedule({loss!r}, switch=0.5))"
        )
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
