"""The built-in pruning methods: RANDOM, VARIANCE, CONJUNCTIVE and the magnitude baseline.

Each only scores; :class:`~evoprune.pruning.base.PruningMethod` chooses and prunes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ..util import flat
from ..util.validation import check_positive, check_probability
from .base import PruneStack, PruningMethod


def _check_cases(n_cases: int) -> int:
    if isinstance(n_cases, bool) or not isinstance(n_cases, int | np.integer) or n_cases < 1:
        raise ValueError(f"n_cases must be an integer >= 1, got {n_cases!r}")
    return int(n_cases)


class Random(PruningMethod):
    """RANDOM: prune ``amount`` of the unpruned entries of every tensor, uniformly at random.

    Every entry scores 0, so the choice is the generator's tie-break:
    ``g.choice(alive, size=round(amount * len(alive)), replace=False)``.
    """

    name = "random"
    paper_p = 0.5

    def scores(self, stack: PruneStack, rngs: Sequence[np.random.Generator]) -> list[list[torch.Tensor]]:
        return [[torch.zeros(p.shape, dtype=torch.float64, device=p.device) for p in half] for half in stack.params]


def neuron_variance(activations: torch.Tensor) -> torch.Tensor:
    """Per-neuron activation variance across cases (dim -2), divided by the layer's largest (so in [0, 1]).

    Parameters
    ----------
    activations
        Post-activation outputs, ``(..., cases, neurons)``.
    """
    var = activations.var(dim=-2, unbiased=False)
    top = var.amax(dim=-1, keepdim=True)
    return torch.where(top > 0, var / torch.where(top > 0, top, torch.ones_like(top)), torch.zeros_like(var))


class Variance(PruningMethod):
    """VARIANCE: prune ``amount`` of each tensor's unpruned entries, preferring low-variance neurons.

    A neuron whose output varies little carries little information: each entry of a neuron's weight row and
    bias is drawn without replacement with weight ``1 - v + floor``, ``v`` its :func:`neuron_variance` on
    ``n_cases`` random rows, as an exponential race (score Exp(1) / weight, lowest first).

    Parameters
    ----------
    amount
        Fraction of each tensor's unpruned entries to prune.
    scope
        ``"layer"`` or ``"global"``.
    n_cases
        Rows of the training data the variances are measured on.
    floor
        Added to every draw weight ``1 - v``, so that the most varied neurons can still be drawn.
    """

    name = "variance"
    needs_data = True
    paper_p = 0.1

    def __init__(self, amount: float | None = 0.1, scope: str = "layer", n_cases: int = 100,
                 floor: float = 1e-3) -> None:
        super().__init__(amount, scope)
        self.n_cases = _check_cases(n_cases)
        self.floor = check_positive("floor", floor)

    def scores(self, stack: PruneStack, rngs: Sequence[np.random.Generator]) -> list[list[torch.Tensor]]:
        weights = [[((1.0 - neuron_variance(a)).clamp_min(0).double() + self.floor).cpu() for a in acts]
                   for acts in stack.activations]  # per half, per layer: (N, out)
        out: list[list[list[torch.Tensor]]] = [[[] for _ in half] for half in stack.params]
        for i, g in enumerate(rngs):
            for hi, half in enumerate(stack.params):
                for k, p in enumerate(half):
                    w = stack.per_neuron(hi, k, weights[hi][flat.layer_of(k)][i])
                    out[hi][k].append(torch.from_numpy(g.exponential(size=tuple(p.shape[1:]))) / w)
        return [[torch.stack(ts) for ts in half] for half in out]


def conjunctive_candidates(acts: torch.Tensor, alive: torch.Tensor, threshold: float = 0.1) -> torch.Tensor:
    """Lexicase filter of one layer's neurons (CONJUNCTIVE's core): the indices of the candidates left.

    Per case, activations are min–max normalised across the layer and neurons below ``threshold`` are
    flagged.  Starting from the ``alive`` neurons, candidates are intersected with each case's flagged set in
    order, stopping as soon as one or none is left.  The last alive neuron of a layer is never a candidate.

    Parameters
    ----------
    acts
        One layer's outputs, ``(cases, neurons)``, in case order.
    alive
        Boolean vector of the layer's unpruned neurons.
    threshold
        Normalised activation below which a neuron is flagged on a case.
    """
    cand = alive.clone()
    if int(alive.sum()) <= 1:  # never disconnect a layer entirely
        return torch.zeros(0, dtype=torch.long)
    for a in acts:
        lo, hi = a.min(), a.max()
        norm = (a - lo) / (hi - lo) if hi > lo else torch.zeros_like(a)
        cand &= norm < threshold
        if int(cand.sum()) <= 1:
            break
    if bool((cand == alive).all()):  # every alive neuron flagged: keep the most active one
        cand[int(torch.argmax(torch.where(alive, acts.mean(0), -torch.inf)))] = False
    return torch.nonzero(cand).view(-1)


class Conjunctive(PruningMethod):
    """CONJUNCTIVE: prune whole neurons that are inactive on every one of ``n_cases`` cases.

    For each layer, the candidates of :func:`conjunctive_candidates` on ``n_cases`` random rows (in random
    order) are pruned (incoming weights and bias).

    Parameters
    ----------
    threshold
        Normalised activation below which a neuron counts as inactive on a case.
    n_cases
        Rows of the training data checked.
    """

    name = "conjunctive"
    unit = "neuron"
    needs_data = True
    paper_p = 0.5

    def __init__(self, threshold: float = 0.1, n_cases: int = 100) -> None:
        super().__init__(amount=None, scope="layer")
        self.threshold = check_probability("threshold", threshold)
        self.n_cases = _check_cases(n_cases)

    def scores(self, stack: PruneStack, rngs: Sequence[np.random.Generator]) -> list[list[torch.Tensor]]:
        out = []
        for hi, acts in enumerate(stack.activations):
            layers = []
            for layer, a in enumerate(acts):
                a = a.cpu()
                alive = stack.alive_neurons(hi, layer).cpu()
                s = torch.full(alive.shape, math.inf, dtype=torch.float64)
                for i in range(len(rngs)):
                    s[i, conjunctive_candidates(a[i], alive[i], self.threshold)] = 0.0
                layers.append(s)
            out.append(layers)
        return out


class Magnitude(PruningMethod):
    """Magnitude baseline: prune the ``amount`` unpruned weights of smallest magnitude.

    Ties go by position; no random draw is made.

    Parameters
    ----------
    amount
        Fraction of the unpruned weights to prune.
    scope
        ``"global"``: the weights of both halves ranked together (biases kept), so redundant large layers lose
        most; or ``"layer"``: ``amount`` of every tensor, biases included.
    """

    name = "magnitude"
    paper_p = 0.5
    random_ties = False

    def __init__(self, amount: float | None = 0.1, scope: str = "global") -> None:
        super().__init__(amount, scope)

    def scores(self, stack: PruneStack, rngs: Sequence[np.random.Generator]) -> list[list[torch.Tensor]]:
        return [[p.abs().double() if not flat.is_bias(k) or self.scope == "layer"
                 else torch.full(p.shape, math.inf, dtype=torch.float64, device=p.device)
                 for k, p in enumerate(half)] for half in stack.params]
