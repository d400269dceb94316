"""Spatial coevolution of encoders and decoders on a toroidal grid (Lipizzaner-style).

Each cell holds one genome: its centre encoder, centre decoder and learning
rate.  Per generation every cell gathers the halves of its neighbourhood,
scores every encoder×decoder pairing on a batch of training data, picks an
encoder and a decoder by tournament, trains that pair one epoch, mutates the
learning rate, applies the scheduled pruning mutation, evaluates, and replaces
its centre.  :func:`evoprune.algorithms.eaToroidalGrid` is the public entry
point; this module holds the per-cell step and its batched twin.

Randomness: each cell draws from its own generator, seeded per generation from
the run's generator, and both code paths consume it in the same order
(pairing batch, tournaments, minibatch order, learning rate, pruning), so the
batched and the cell-by-cell paths compute the same run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch

from .data import check_data
from .evaluation import WORST, evaluate, pairing_errors
from .genome import Half
from .training import LOSSES, _stack, loss_kwargs, minibatch_orders, mutTrain, stacked_forward, train_halves
from .validation import check_choice

#: How an encoder (decoder) is scored from its errors against the neighbourhood's decoders (encoders).
CONCEPTS: dict[str, Callable[[torch.Tensor, int], torch.Tensor]] = {
    "best": lambda e, dim: e.min(dim=dim).values,
    "worst": lambda e, dim: e.max(dim=dim).values,
    "mean": lambda e, dim: e.mean(dim=dim),
}


def _partial_keywords(func, base: Callable, role: str) -> dict[str, Any]:
    if not (isinstance(func, partial) and func.func is base and not func.args):
        raise ValueError(
            f"batched grid training needs toolbox.{role} registered as {base.__module__}.{base.__name__} "
            f"with keyword arguments (got {func!r}); use batched=False for custom operators"
        )
    return dict(func.keywords)


def training_data(toolbox) -> torch.Tensor:
    """The training data behind ``toolbox.evaluate`` (pairing batches are drawn from it)."""
    ev = getattr(toolbox, "evaluate", None)
    if not (isinstance(ev, partial) and "data" in ev.keywords):
        raise ValueError("eaToroidalGrid needs toolbox.evaluate registered with data=<training data>")
    return ev.keywords["data"]


def tournament(scores: torch.Tensor, tournsize: int, g: np.random.Generator) -> int:
    """Index of the best (lowest score) of ``tournsize`` entries drawn with replacement."""
    picks = g.integers(0, scores.numel(), size=tournsize)
    return int(picks[int(torch.argmin(scores[torch.from_numpy(picks)]))])


def select_pair(errors: torch.Tensor, concept: str, tournsize: int, g: np.random.Generator) -> tuple[int, int]:
    """Tournament-select an encoder and a decoder (independently) from a pairing-error matrix."""
    score = CONCEPTS[concept]
    errors = torch.nan_to_num(errors, nan=WORST)
    return tournament(score(errors, 1), tournsize, g), tournament(score(errors, 0), tournsize, g)


@dataclass
class CellStep:
    """One cell's generation (the cell-by-cell path); picklable, so it can go through ``toolbox.map``."""

    train: Any
    evaluate: Any
    data: torch.Tensor
    mutate: Any = None
    prune: Any = None
    schedule: Any = None
    concept: str = "best"
    tournsize: int = 2
    eval_size: int = 100
    select: Any = None
    prune_first: bool = False
    loss: Any = None

    def __call__(self, centre, neighbours: Sequence, seed: int, gen: int, ngen: int):
        g = np.random.default_rng(seed)
        encs = [n.encoder for n in neighbours]
        decs = [n.decoder for n in neighbours]
        batch = self.data[torch.from_numpy(draw_batch(g, self.data.shape[0], self.eval_size))]
        ei, di = select_pair(pairing_errors(encs, decs, batch), self.concept, self.tournsize, g)
        child = type(centre).from_halves(encs[ei].clone(), decs[di].clone(), centre.lr)
        child.pruned = False
        if self.prune_first:
            maybe_prune(self, child, g, gen, ngen, len(neighbours))
        self.train(child, rng=g, **loss_kwargs(self.loss, gen, ngen))
        child = finish_cell(self, child, g, gen, ngen, len(neighbours), evaluate_now=True)
        return replace(self, centre, child)


def draw_batch(g: np.random.Generator, n: int, size: int) -> np.ndarray:
    return g.choice(n, size=min(size, n), replace=False)


def maybe_prune(step, child, g, gen: int, ngen: int, n: int) -> None:
    """Apply the pruning mutation with the schedule's probability (``n``: neighbourhood size)."""
    if step.prune is not None and g.random() < step.schedule(gen, ngen, n):
        step.prune(child, rng=g)
        child.pruned = True


def finish_cell(step, child, g, gen: int, ngen: int, n: int, evaluate_now: bool):
    """Learning-rate mutation, scheduled pruning (unless done before training) and evaluation of a trained child."""
    if step.mutate is not None:
        step.mutate(child, rng=g)
    if not step.prune_first:
        maybe_prune(step, child, g, gen, ngen, n)
    if evaluate_now:
        child.fitness.values = step.evaluate(child)
    return child


def replace(step, centre, child):
    """The cell's new centre: the child, or ``select([centre, child], 1)`` if a selection is registered."""
    if step.select is None:
        return child
    centre.pruned = False
    return step.select([centre, child], 1)[0]


def batched_generation(
    step: CellStep,
    population: list,
    neighbourhoods: Sequence[Sequence[int]],
    seeds: Sequence[int],
    gen: int,
    ngen: int,
) -> list:
    """Every cell's generation at once (synchronous update), as stacked tensor computations.

    Pairings of all neighbourhoods are scored in two batched passes (encoders,
    then decoders on the gathered latents), the selected pairs are trained
    together by :func:`evoprune.training.train_halves`, and the children are
    evaluated together.  Same result as running :class:`CellStep` per cell.
    """
    train_kw = _partial_keywords(step.train, mutTrain, "train")
    eval_kw = _partial_keywords(step.evaluate, evaluate, "evaluate")
    data, metric = step.data, eval_kw.get("metric", "l1")
    n_cells = len(population)
    gens = [np.random.default_rng(s) for s in seeds]
    k = len(neighbourhoods[0])
    nb = torch.as_tensor(np.asarray(neighbourhoods), dtype=torch.long)  # (cells, k)
    batches = torch.from_numpy(np.stack([draw_batch(g, data.shape[0], step.eval_size) for g in gens]))
    x = data[batches]  # (cells, B, D)
    errors = _neighbourhood_errors(population, nb, x, metric)  # (cells, k, k)
    chosen = [select_pair(errors[c], step.concept, step.tournsize, gens[c]) for c in range(n_cells)]
    encs = [population[int(nb[c, ei])].encoder for c, (ei, _) in enumerate(chosen)]
    decs = [population[int(nb[c, di])].decoder for c, (_, di) in enumerate(chosen)]
    lrs = [ind.lr for ind in population]
    cls = type(population[0])
    pruned = [False] * n_cells
    if step.prune_first:
        for c in range(n_cells):
            pre = cls.from_halves(encs[c].clone(), decs[c].clone(), lrs[c])
            pre.pruned = False
            maybe_prune(step, pre, gens[c], gen, ngen, k)
            encs[c], decs[c], pruned[c] = pre.encoder, pre.decoder, pre.pruned
    train_kw.update(loss_kwargs(step.loss, gen, ngen))
    for _ in range(train_kw.get("epochs", 1)):  # as mutTrain: a fresh minibatch order per epoch
        encs, decs, _ = train_halves(
            encs,
            decs,
            lrs,
            train_kw["data"],
            minibatch_orders(data.shape[0], gens),
            train_kw.get("batch_size", 32),
            train_kw.get("loss", "l1"),
            persistent=train_kw.get("persistent", True),
        )
    children = []
    for c in range(n_cells):
        child = cls.from_halves(encs[c], decs[c], lrs[c])
        child.pruned = pruned[c]
        children.append(finish_cell(step, child, gens[c], gen, ngen, k, evaluate_now=False))
    for child, err in zip(children, aligned_errors(children, eval_kw["data"], metric), strict=True):
        child.fitness.values = (float(err),)
    return [replace(step, centre, child) for centre, child in zip(population, children, strict=True)]


@torch.no_grad()
def _neighbourhood_errors(population: list, nb: torch.Tensor, x: torch.Tensor, metric: str) -> torch.Tensor:
    """``errors[c, i, j]``: error of encoder ``nb[c, i]`` with decoder ``nb[c, j]`` on cell c's batch ``x[c]``.

    Members of the batched passes are the population's own halves (no parameter
    copies): encoder e encodes the batches of every cell whose neighbourhood
    holds e, and decoder d decodes every latent of those cells.
    """
    n_cells, k = nb.shape
    inv = [[] for _ in range(n_cells)]  # inv[d]: (cell, position of d in that cell's neighbourhood)
    for c in range(n_cells):
        for pos in range(k):
            inv[int(nb[c, pos])].append((c, pos))
    m = len(inv[0])
    if any(len(v) != m for v in inv):  # neighbourhoods not symmetric: fall back to gathering copies
        return _neighbourhood_errors_gather(population, nb, x, metric)
    cells = torch.tensor([[c for c, _ in v] for v in inv])  # (n, m)
    enc_spec, dec_spec = population[0].encoder.spec, population[0].decoder.spec
    b, dim = x.shape[1], x.shape[2]
    z = stacked_forward(
        enc_spec, *_halves_stack([p.encoder for p in population]), x[cells].reshape(n_cells, m * b, dim)
    ).view(n_cells, m, b, -1)
    # latent of (cell c, neighbour position i) = z[nb[c, i], slot of c in inv[nb[c, i]]]
    slot = torch.empty(n_cells, n_cells, dtype=torch.long)
    for d, v in enumerate(inv):
        for s_, (c, _) in enumerate(v):
            slot[d, c] = s_
    lat = z[nb, slot[nb, torch.arange(n_cells)[:, None]]]  # (n, k, B, L)
    # decoder d decodes all k latents of every cell c in inv[d]
    dec_in = lat[cells]  # (n, m, k, B, L)
    out = stacked_forward(
        dec_spec, *_halves_stack([p.decoder for p in population]), dec_in.reshape(n_cells, m * k * b, -1)
    ).view(n_cells, m, k, b, dim)
    target = x[cells][:, :, None].expand(n_cells, m, k, b, dim)
    err_d = LOSSES[metric](out.reshape(-1, b, dim), target.reshape(-1, b, dim)).view(n_cells, m, k)
    errors = torch.empty(n_cells, k, k)
    for d, v in enumerate(inv):
        for s_, (c, pos) in enumerate(v):
            errors[c, :, pos] = err_d[d, s_]
    return torch.nan_to_num(errors, nan=WORST, posinf=WORST)


@torch.no_grad()
def _neighbourhood_errors_gather(population: list, nb: torch.Tensor, x: torch.Tensor, metric: str) -> torch.Tensor:
    n_cells, k = nb.shape
    out = torch.empty(n_cells, k, k)
    for c in range(n_cells):
        hood = [population[int(j)] for j in nb[c]]
        out[c] = pairing_errors([h.encoder for h in hood], [h.decoder for h in hood], x[c], metric)
    return out


@torch.no_grad()
def aligned_errors(genomes: Sequence, data: torch.Tensor, metric: str = "l1", rows: int = 250) -> torch.Tensor:
    """Reconstruction error of each genome on ``data``, batched over genomes; NaN becomes ``inf``.

    Rows are processed in chunks so that intermediate outputs stay in cache.
    """
    check_choice("metric", metric, LOSSES)
    data = check_data(data, "evaluation data", dim=genomes[0].arch.input_dim)
    n = len(genomes)
    enc = _halves_stack([g.encoder for g in genomes])
    dec = _halves_stack([g.decoder for g in genomes])
    total = torch.zeros(n, dtype=torch.float64)
    for s in range(0, data.shape[0], rows):
        x = data[s : s + rows].unsqueeze(0).expand(n, -1, -1)
        y = stacked_forward(genomes[0].decoder.spec, *dec, stacked_forward(genomes[0].encoder.spec, *enc, x))
        total += _error_sum(y, x, metric)
    err = (total / (data.shape[0] * data.shape[1])).float()
    return torch.nan_to_num(err, nan=WORST, posinf=WORST)


def _error_sum(out: torch.Tensor, target: torch.Tensor, metric: str) -> torch.Tensor:
    """Per-member sum of elementwise errors, computed in place on ``out`` (no-grad evaluation only)."""
    if metric == "l1":
        return out.sub_(target).abs_().flatten(1).sum(1, dtype=torch.float64)
    if metric == "mse":
        return out.sub_(target).square_().flatten(1).sum(1, dtype=torch.float64)
    return LOSSES[metric](out, target).double() * out[0].numel()


def _halves_stack(halves: Sequence[Half]):
    return _stack(halves, "params"), _stack(halves, "masks")
