"""Training as a variation operator, batched over many genomes, and learning-rate mutation.

:func:`train_halves` trains N encoder/decoder pairs as one stack on the backend
:func:`evoprune.backends.select_backend` picks.  Each member keeps its own masks, learning rate, minibatch order
and Adam state, so training N members together gives the same weights as training each alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .backends import Stack, TrainOptions, select_backend
from .genome import AutoencoderGenome
from .half import Half
from .layers import check_rows
from .losses import METRICS
from .rng import RNGLike, as_generator
from .util.moments import Moments
from .util.operator import Operator
from .util.validation import check_choice, check_positive, check_positive_int

__all__ = ["LR_MUTATIONS", "RECORDS", "LossSchedule", "LRDecay", "mutTrain", "mutLearningRate", "train_halves",
           "lr_decay_factor"]

#: Learning-rate mutations, a step on the log scale (evoprune's) or the published additive step.
LR_MUTATIONS = ("log", "additive")

#: What :func:`mutTrain` records of its passes in ``Half.activity``: nothing, every pass since the half's last
#: pruning (the published canonical store), or the passes of this call only (the published grid's, whose cells
#: clone their halves, and so empty the store, every generation).
RECORDS = ("none", "since_pruning", "generation")


@dataclass(frozen=True)
class LossSchedule:
    """Which training loss to use at generation t of T: ``"bce>l1"`` switches from BCE to L1.

    Register it on a toolbox as ``loss``; the algorithms then pass ``loss=toolbox.loss(t, T)`` to
    ``toolbox.train``.  BCE learns fast, but its optimum is not L1's: a few epochs of L1 afterwards reach L1's floor.

    >>> loss = LossSchedule("bce>l1", switch=0.5)
    >>> loss(t=100, T=200), loss(t=101, T=200)
    ('bce', 'l1')

    Parameters
    ----------
    stages
        Names of :data:`~evoprune.losses.METRICS` (``l1``, ``mse``, ``bce``) joined by ``">"``, in order of use.
    switch
        Per stage after the first, the fraction s of the run after which it starts (generation t > s·T).
    """

    stages: str = "bce>l1"
    switch: float | tuple[float, ...] = 0.5

    def __post_init__(self) -> None:
        if not isinstance(self.stages, str):
            raise ValueError(f"loss must be a string such as 'l1' or 'bce>l1', got {self.stages!r}")
        for name in self.names:
            check_choice("loss", name, METRICS)
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
        """The stages' loss names, in order."""
        return tuple(s.strip() for s in self.stages.split(">"))

    @property
    def switches(self) -> tuple[float, ...]:
        """The switch fractions, one per stage after the first (empty for one stage)."""
        if len(self.names) == 1:
            return ()
        return tuple(self.switch) if isinstance(self.switch, tuple | list) else (self.switch,)

    def __call__(self, t: int, T: int) -> str:
        if T < 1 or not 0 <= t <= T:
            raise ValueError(f"need 0 <= t <= T and T >= 1, got t={t}, T={T}")
        return self.names[sum(t > s * T for s in self.switches)]


def lr_decay_factor(decay: str, t: int, T: int) -> float:
    """The learning rate's factor at generation ``t`` under ``decay``, as ``torch.optim.lr_scheduler.StepLR``.

    Parameters
    ----------
    decay
        ``"none"`` (1), or ``"step:<every>:<gamma>"``: ``gamma ** ((t - 1) // max(1, int(every·T)))`` (the
        published canonical training's is ``step:0.25:0.1``).
    t
        Generation, 1..T.
    T
        Number of generations.
    """
    if decay == "none":
        return 1.0
    parts = decay.split(":") if isinstance(decay, str) else []
    try:
        every, gamma = float(parts[1]), float(parts[2])
        ok = len(parts) == 3 and parts[0] == "step" and 0 < every <= 1 and 0 < gamma <= 1
    except (IndexError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"lr_decay must be 'none' or 'step:<every>:<gamma>' with 0 < every <= 1 and "
                         f"0 < gamma <= 1 (e.g. 'step:0.25:0.1'), got {decay!r}")
    return gamma ** ((t - 1) // max(1, int(every * T)))


@dataclass(frozen=True)
class LRDecay:
    """A learning-rate decay to register on a toolbox as ``lr_schedule``: ``LRDecay("step:0.25:0.1")(t, T)``
    is the factor :func:`lr_decay_factor` gives; the algorithms then train with ``lr · factor``.

    Parameters
    ----------
    decay
        ``"none"`` or ``"step:<every>:<gamma>"``.
    """

    decay: str = "none"

    def __post_init__(self) -> None:
        lr_decay_factor(self.decay, 1, 1)

    def __call__(self, t: int, T: int) -> float:
        return lr_decay_factor(self.decay, t, T)


def train_kwargs(loss, lr_schedule, gen: int, ngen: int) -> dict:
    """``train``'s ``loss`` and ``lr_scale`` at generation ``gen`` from the registered schedules (if any)."""
    kw: dict = {} if loss is None else {"loss": loss(gen, ngen)}
    if lr_schedule is not None:
        kw["lr_scale"] = lr_schedule(gen, ngen)
    return kw


class _Recorder:
    """Stacked moments of every layer's activity over an epoch's full minibatches (the decoder's output layer
    before its activation, as the published forward hooks see it)."""

    def __init__(self) -> None:
        self.moments: list[Moments] | None = None

    def __call__(self, layers: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> None:
        values = [a for _, a in layers[:-1]] + [layers[-1][0]]
        if self.moments is None:
            self.moments = [Moments.empty(tuple(v.shape), v.device) for v in values]
        for m, v in zip(self.moments, values, strict=True):
            m.add(v)

    def member(self, i: int, layers: range, before: list[Moments] | None) -> list[Moments] | None:
        """Member i's moments of ``layers``, after the ``before`` ones (``None``: no full minibatch seen)."""
        if self.moments is None:
            return before
        now = [self.moments[k][i].cpu() for k in layers]
        return now if before is None else [b.merged(m) for b, m in zip(before, now, strict=True)]


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
    optimizer_reset: str = "never",
    record: bool = False,
) -> tuple[list[Half], list[Half], torch.Tensor]:
    """Train N encoder/decoder pairs for one epoch of minibatch Adam, batched; new halves (the inputs are not
    modified) and each member's mean training loss ``(N,)``.  Masked entries stay exactly zero.

    Parameters
    ----------
    encoders
        The N encoder halves (one shape).
    decoders
        The N decoder halves (one shape).
    lrs
        One learning rate per pair.
    data
        Training data, ``(samples, input_dim)``; training runs on its device.
    orders
        Per pair, a permutation of the rows, ``(N, samples)``: its minibatches are consecutive slices.
    batch_size
        Rows per minibatch.
    loss
        ``l1``, ``mse`` or ``bce``.
    betas
        Adam's betas.
    eps
        Adam's epsilon.
    persistent
        Start from and keep the halves' Adam state (across calls).
    optimizer_reset
        ``"never"``, or ``"minibatch"`` (a fresh Adam for every minibatch, :class:`~evoprune.backends.TrainOptions`).
    record
        Add this epoch's activity to each half's ``activity`` (else the new halves have none).
    """
    options = TrainOptions(loss, betas, eps, optimizer_reset)
    n = len(encoders)
    if not (len(decoders) == n == len(lrs) == orders.shape[0]):
        raise ValueError(f"got {n} encoders, {len(decoders)} decoders, {len(lrs)} lrs, {orders.shape[0]} orders")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    specs = (encoders[0].spec, decoders[0].spec)
    data = check_rows(data, specs[0].in_shape, "training data")
    orders = torch.as_tensor(orders).to(device=data.device, dtype=torch.long)
    if orders.dim() != 2:
        raise ValueError(f"orders must have shape ({n}, samples), got {tuple(orders.shape)}")
    backend = select_backend(specs, data.device, loss, record).backend
    stack = Stack.from_halves(encoders, decoders, lrs, data.device, backend.layout(specs), persistent)
    recorder = _Recorder() if record else None
    extra = {} if recorder is None else {"recorder": recorder}
    losses = backend.train_epoch(stack, data, orders, batch_size, options, **extra)
    out: tuple[list[Half], list[Half]] = ([], [])
    layers = (range(specs[0].n_layers), range(specs[0].n_layers, specs[0].n_layers + specs[1].n_layers))
    for i, states in enumerate(stack.members()):
        for part, state in enumerate(states):
            h = Half(specs[part], state["params"], [m.bool() for m in state["masks"]])
            if recorder is not None:
                h.activity = recorder.member(i, layers[part], (encoders, decoders)[part][i].activity)
            if persistent:
                h.exp_avg, h.exp_avg_sq, h.step = state["exp_avg"], state["exp_avg_sq"], state["step"]
            out[part].append(h)
    return out[0], out[1], losses


def _train_one(
    individual: AutoencoderGenome,
    data: torch.Tensor,
    rng: RNGLike = None,
    batch_size: int = 32,
    loss: str = "l1",
    epochs: int = 1,
    persistent: bool = True,
    betas: tuple[float, float] = (0.9, 0.999),
    optimizer_reset: str = "never",
    lr_scale: float = 1.0,
    record: str = "none",
):
    """Train ``individual`` in place with minibatch Adam; ``(individual,)``, fitness invalidated, its mean
    training loss in ``individual.train_loss``.  E.g. ``toolbox.register("train", mutTrain, data=X_train)``.

    Parameters
    ----------
    individual
        The genome to train (modified in place).
    data
        Training data, ``(samples, input_dim)``; training runs on its device.
    rng
        Seed or NumPy generator for the minibatch order.
    batch_size
        Rows per minibatch (the last may be smaller).
    loss
        Training loss: ``l1`` (the paper's), ``mse`` or ``bce`` (for data in [0, 1]).
    epochs
        Number of passes over ``data``.
    persistent
        Keep Adam's moments on the genome so the next call continues from them.
    betas
        Adam's betas.
    optimizer_reset
        ``"never"``, or ``"minibatch"``: a fresh Adam for every minibatch (see
        :class:`~evoprune.backends.TrainOptions`).
    lr_scale
        Factor on the genome's learning rate for these epochs (a registered ``lr_schedule`` sets it).
    record
        What the halves' ``activity`` keeps of the training passes (:data:`RECORDS`): ``"none"``,
        ``"since_pruning"`` or ``"generation"``; the published VARIANCE's ``store = "training"`` reads it.
    """
    return _train_batch([individual], [as_generator(rng)], data, batch_size, loss, epochs, persistent, betas,
                        optimizer_reset, lr_scale, record)[0]


def _train_batch(
    individuals: Sequence[AutoencoderGenome],
    rngs: Sequence[np.random.Generator],
    data: torch.Tensor,
    batch_size: int = 32,
    loss: str = "l1",
    epochs: int = 1,
    persistent: bool = True,
    betas: tuple[float, float] = (0.9, 0.999),
    optimizer_reset: str = "never",
    lr_scale: float = 1.0,
    record: str = "none",
) -> list[tuple[AutoencoderGenome]]:
    """:func:`mutTrain` over a stack, each member with its own generator: what N single calls give."""
    check_choice("record", record, RECORDS)
    if ">" in str(loss):
        raise ValueError(
            f"mutTrain takes one loss, got {loss!r}; register a loss schedule on the toolbox instead: "
            f"toolbox.register('loss', LossSchedule({loss!r}, switch=0.5))"
        )
    check_positive_int("epochs", epochs)
    if not individuals:
        return []
    if record == "generation":
        for ind in individuals:
            for h in ind.halves:
                h.activity = None
    for _ in range(epochs):
        encs, decs, losses = train_halves(
            [ind.encoder for ind in individuals],
            [ind.decoder for ind in individuals],
            [ind.lr * lr_scale for ind in individuals],
            data,
            minibatch_orders(data.shape[0], rngs),
            batch_size,
            loss,
            betas=betas,
            persistent=persistent,
            optimizer_reset=optimizer_reset,
            record=record != "none",
        )
        for ind, enc, dec, value in zip(individuals, encs, decs, losses.tolist(), strict=True):
            ind.encoder, ind.decoder, ind.train_loss = enc, dec, value
    for ind in individuals:
        if hasattr(ind, "fitness"):
            del ind.fitness.values
    return [(ind,) for ind in individuals]


mutTrain = Operator(_train_one, _train_batch, "mutTrain")


def mutLearningRate(
    individual: AutoencoderGenome,
    sigma: float = 0.25,
    low: float = 1e-5,
    high: float = 1e-1,
    rng: RNGLike = None,
    scale: str = "log",
):
    """A Gaussian step on the log learning rate, in place: ``lr ← clip(lr · exp(N(0, sigma)), low, high)``.

    ``scale="additive"`` is the published ``update_learning_rate`` (``lipi_ae_base.py``),
    ``lr ← clip(lr + N(0, sigma), low, high)``, there with ``sigma = 1e-5``, ``low = 1e-9``, ``high = 10``.

    Parameters
    ----------
    individual
        The genome whose ``lr`` is mutated (in place).
    sigma
        Standard deviation of the step on the log learning rate (0: no change).
    low
        Smallest learning rate.
    high
        Largest learning rate.
    rng
        Seed or NumPy generator.
    scale
        ``"log"`` or ``"additive"``.
    """
    check_positive("sigma", sigma) if sigma != 0 else None
    check_choice("learning-rate mutation scale", scale, LR_MUTATIONS)
    if not 0 < low <= high:
        raise ValueError(f"need 0 < low <= high, got low={low!r}, high={high!r}")
    g = as_generator(rng)
    if scale == "additive":
        individual.lr = float(min(high, max(low, individual.lr + g.normal(0.0, sigma))))
    else:
        individual.lr = float(min(high, max(low, individual.lr * math.exp(g.normal(0.0, sigma)))))
    return (individual,)
