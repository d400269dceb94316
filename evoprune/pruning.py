"""Pruning mutations (DEAP style: modify the individual in place, return a tuple).

Every operator prunes among the *currently unpruned* entries and makes its
choices permanent through :meth:`Half.prune_entries`: the mask entry becomes
``False`` and the weight (and its optimizer moments) exactly zero.  Random
choices come from the ``rng`` argument; activation statistics come from
``data`` (training data, never test data).
"""

from __future__ import annotations

import numpy as np
import torch

from .data import check_data
from .genome import AutoencoderGenome, Half
from .kernels import layer_outputs, stack_halves
from .rng import RNGLike, as_generator
from .validation import check_amount, check_choice, check_positive, check_probability


def _count(amount: float, n_alive: int) -> int:
    return int(round(amount * n_alive))


def _invalidate(individual) -> None:
    if hasattr(individual, "fitness"):
        del individual.fitness.values


def _sample_cases(data: torch.Tensor, n_cases: int, g: np.random.Generator, dim: int) -> torch.Tensor:
    data = check_data(data, "pruning data", dim=dim)
    k = min(int(n_cases), data.shape[0])
    return data[torch.from_numpy(g.choice(data.shape[0], size=k, replace=False)).to(data.device)]


def _layer_outputs(individual: AutoencoderGenome, x: torch.Tensor) -> list[tuple[Half, int, torch.Tensor]]:
    """``(half, layer, outputs)`` for every layer of encoder then decoder, computed on ``x``'s device.

    Outputs come back to the CPU, where the pruning decisions are made.
    """
    with torch.no_grad():
        enc = layer_outputs(individual.encoder.spec, *stack_halves([individual.encoder], x.device), x[None])
        dec = layer_outputs(individual.decoder.spec, *stack_halves([individual.decoder], x.device), enc[-1])
    return [(individual.encoder, i, a[0].cpu()) for i, a in enumerate(enc)] + [
        (individual.decoder, i, a[0].cpu()) for i, a in enumerate(dec)
    ]


def mutPruneRandom(individual: AutoencoderGenome, amount: float = 0.1, rng: RNGLike = None):
    """RANDOM: prune ``amount`` of the unpruned entries of every tensor, uniformly at random."""
    check_amount("amount", amount)
    g = as_generator(rng)
    for half in individual.halves:
        for k, mask in enumerate(half.masks):
            alive = torch.nonzero(mask.view(-1)).view(-1).numpy()
            n = _count(amount, alive.size)
            if n:
                half.prune_entries(k, g.choice(alive, size=n, replace=False))
    _invalidate(individual)
    return (individual,)


def mutPruneMagnitude(individual: AutoencoderGenome, amount: float = 0.1, scope: str = "global", rng: RNGLike = None):
    """Magnitude baseline: prune the ``amount`` unpruned weights of smallest magnitude.

    ``scope="global"`` ranks the weight matrices of both halves together (biases
    are kept), so redundant large layers lose most; ``scope="layer"`` prunes
    ``amount`` of every tensor, biases included.  ``rng`` is accepted for a
    uniform operator signature and is not used.
    """
    check_amount("amount", amount)
    check_choice("magnitude scope", scope, ("global", "layer"))
    if scope == "layer":
        for half in individual.halves:
            for k, (p, mask) in enumerate(zip(half.params, half.masks, strict=True)):
                alive = torch.nonzero(mask.view(-1)).view(-1)
                n = _count(amount, alive.numel())
                if n:
                    order = torch.argsort(p.view(-1)[alive].abs(), stable=True)[:n]
                    half.prune_entries(k, alive[order])
    else:
        slots = [(half, k) for half in individual.halves for k in range(0, len(half.params), 2)]
        alive = [torch.nonzero(h.masks[k].view(-1)).view(-1) for h, k in slots]
        mags = torch.cat([h.params[k].view(-1)[a].abs() for (h, k), a in zip(slots, alive, strict=True)])
        n = _count(amount, mags.numel())
        if n:
            chosen = torch.zeros(mags.numel(), dtype=torch.bool)
            chosen[torch.argsort(mags, stable=True)[:n]] = True
            for (h, k), part, a in zip(slots, chosen.split([x.numel() for x in alive]), alive, strict=True):
                h.prune_entries(k, a[part])
    _invalidate(individual)
    return (individual,)


def neuron_variance(activations: torch.Tensor) -> torch.Tensor:
    """Per-neuron activation variance across cases, divided by the layer's largest (so in [0, 1])."""
    var = activations.var(dim=0, unbiased=False)
    top = var.max()
    return var / top if top > 0 else torch.zeros_like(var)


def mutPruneVariance(
    individual: AutoencoderGenome,
    data: torch.Tensor,
    amount: float = 0.1,
    n_cases: int = 100,
    floor: float = 1e-3,
    rng: RNGLike = None,
):
    """VARIANCE: prune ``amount`` of each tensor's unpruned entries, preferring low-variance neurons.

    Activations of every layer are recorded on ``n_cases`` random rows of
    ``data``.  A neuron whose output varies little across inputs carries little
    information: each unpruned entry of a neuron's weight row and bias is drawn
    (without replacement) with weight ``1 - v + floor``, where ``v`` is the
    neuron's activation variance normalised by the layer's largest.
    """
    check_amount("amount", amount)
    check_positive("floor", floor)
    g = as_generator(rng)
    x = _sample_cases(data, n_cases, g, individual.arch.input_dim)
    for half, layer, acts in _layer_outputs(individual, x):
        weight = (1.0 - neuron_variance(acts)).clamp_min(0).double() + floor  # (out,)
        for k in (2 * layer, 2 * layer + 1):
            mask = half.masks[k]
            row_weight = weight[:, None].expand_as(mask) if mask.dim() == 2 else weight
            alive = torch.nonzero(mask.reshape(-1)).view(-1)
            n = _count(amount, alive.numel())
            if n:
                w = row_weight.reshape(-1)[alive].numpy()
                chosen = g.choice(alive.numpy(), size=n, replace=False, p=w / w.sum())
                half.prune_entries(k, chosen)
    _invalidate(individual)
    return (individual,)


def conjunctive_candidates(acts: torch.Tensor, alive: torch.Tensor, threshold: float = 0.1) -> torch.Tensor:
    """Lexicase filter of one layer's neurons (CONJUNCTIVE's core).

    ``acts`` is ``(cases, neurons)``.  Per case, activations are min–max
    normalised across the layer and neurons below ``threshold`` are flagged.
    Starting from the ``alive`` neurons, candidates are intersected with each
    case's flagged set in order, stopping as soon as one or none is left.
    The last alive neuron of a layer is never a candidate, so a layer is never
    disconnected.  Returns the indices of the remaining candidates.
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


def mutPruneConjunctive(
    individual: AutoencoderGenome,
    data: torch.Tensor,
    n_cases: int = 100,
    threshold: float = 0.1,
    rng: RNGLike = None,
):
    """CONJUNCTIVE: prune whole neurons that are inactive on every one of ``n_cases`` cases.

    For each layer (encoder and decoder), the candidates of
    :func:`conjunctive_candidates` on ``n_cases`` random rows of ``data``
    (in random order) are pruned as whole neurons: incoming weight row and bias.
    """
    check_probability("threshold", threshold)
    if int(n_cases) < 1:
        raise ValueError(f"n_cases must be >= 1, got {n_cases!r}")
    g = as_generator(rng)
    x = _sample_cases(data, n_cases, g, individual.arch.input_dim)
    for half, layer, acts in _layer_outputs(individual, x):
        half.prune_neurons(layer, conjunctive_candidates(acts, half.alive_neurons(layer), threshold))
    _invalidate(individual)
    return (individual,)


#: Pruning operators by name (as used in study files and on the command line).
PRUNERS = {
    "random": mutPruneRandom,
    "variance": mutPruneVariance,
    "conjunctive": mutPruneConjunctive,
    "magnitude": mutPruneMagnitude,
}
#: Operators that need activation data.
NEEDS_DATA = frozenset({"variance", "conjunctive"})
