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

from .evaluation import WORST, evaluate, pairing_errors
from .genome import Half
from .training import LOSSES, _stack, minibatch_orders, mutTrain, stacked_forward, train_halves
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

    def __call__(self, centre, neighbours: Sequence, seed: int, gen: int, ngen: int):
        g = np.random.default_rng(seed)
        encs = [n.encoder for n in neighbours]
        decs = [n.decoder for n in neighbours]
        batch = self.data[torch.from_numpy(draw_batch(g, self.data.shape[0], self.eval_size))]
        ei, di = select_pair(pairing_errors(encs, decs, batch), self.concept, self.tournsize, g)
        child = type(centre).from_halves(encs[ei].clone(), decs[di].clone(), centre.lr)
        self.train(child, rng=g)
        return finish_cell(self, child, g, gen, ngen, len(neighbours), evaluate_now=True)


def draw_batch(g: np.random.Generator, n: int, size: int) -> np.ndarray:
    return g.choice(n, size=min(size, n), replace=False)


def finish_cell(step, child, g, gen: int, ngen: int, n: int, evaluate_now: bool):
    """Learning-rate mutation, scheduled pruning and (optionally) evaluation of a trained child."""
    if step.mutate is not None:
        step.mutate(child, rng=g)
    child.pruned = False
    if step.prune is not None and g.random() < step.schedule(gen, ngen, n):
        step.prune(child, rng=g)
        child.pruned = True
    if evaluate_now:
        child.fitness.values = step.evaluate(child)
    return child


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
    orders = minibatch_orders(data.shape[0], gens)
    new_encs, new_decs, _ = train_halves(
        encs, decs, lrs, train_kw["data"], orders, train_kw.get("batch_size", 32), train_kw.get("loss", "l1"),
        persistent=train_kw.get("persistent", True),
    )
    cls = type(population[0])
    children = []
    for c in range(n_cells):
        child = cls.from_halves(new_encs[c], new_decs[c], lrs[c])
        children.append(finish_cell(step, child, gens[c], gen, ngen, k, evaluate_now=False))
    for child, err in zip(children, aligned_errors(children, eval_kw["data"], metric), strict=True):
        child.fitness.values = (float(err),)
    return children


@torch.no_grad()
def _neighbourhood_errors(population: list, nb: torch.Tensor, x: torch.Tensor, metric: str) -> torch.Tensor:
    """``errors[c, i, j]``: error of encoder ``nb[c, i]`` with decoder ``nb[c, j]`` on cell c's batch."""
    n_cells, k = nb.shape
    enc_spec, dec_spec = population[0].encoder.spec, population[0].decoder.spec
    ep, em = _stack([p.encoder for p in population], "params"), _stack([p.encoder for p in population], "masks")
    dp, dm = _stack([p.decoder for p in population], "params"), _stack([p.decoder for p in population], "masks")
    flat = nb.reshape(-1)  # member (c, i) -> encoder nb[c, i]
    z = stacked_forward(enc_spec, [t[flat] for t in ep], [m[flat] for m in em], x.repeat_interleave(k, 0))
    # pairing (c, i, j): latent of (c, i), decoder nb[c, j]
    z = z.view(n_cells, k, 1, *z.shape[1:]).expand(n_cells, k, k, *z.shape[1:]).reshape(-1, *z.shape[1:])
    dec_idx = nb[:, None, :].expand(n_cells, k, k).reshape(-1)
    out = stacked_forward(dec_spec, [t[dec_idx] for t in dp], [m[dec_idx] for m in dm], z)
    target = x[:, None, None].expand(n_cells, k, k, *x.shape[1:]).reshape(-1, *x.shape[1:])
    err = LOSSES[metric](out, target).view(n_cells, k, k)
    return torch.nan_to_num(err, nan=WORST, posinf=WORST)


@torch.no_grad()
def aligned_errors(genomes: Sequence, data: torch.Tensor, metric: str = "l1", chunk: int = 16) -> torch.Tensor:
    """Reconstruction error of each genome on ``data``, batched over genomes; NaN becomes ``inf``."""
    check_choice("metric", metric, LOSSES)
    out = []
    for s in range(0, len(genomes), chunk):
        part = genomes[s : s + chunk]
        x = data.unsqueeze(0).expand(len(part), -1, -1)
        z = stacked_forward(part[0].encoder.spec, *_halves_stack([p.encoder for p in part]), x)
        y = stacked_forward(part[0].decoder.spec, *_halves_stack([p.decoder for p in part]), z)
        out.append(LOSSES[metric](y, x))
    return torch.nan_to_num(torch.cat(out), nan=WORST, posinf=WORST)


def _halves_stack(halves: Sequence[Half]):
    return _stack(halves, "params"), _stack(halves, "masks")
