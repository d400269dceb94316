"""Evaluation math over stacks of genomes: forward passes, reconstruction errors, pairing error matrices.

Everything here runs on the device of the data it is given: genome halves
(kept on the CPU) are stacked into ``(N, ...)`` tensors and moved there once
per call.  A NaN or infinite error becomes :data:`WORST` (the worst fitness
when minimising), never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch.nn import functional as F

from .activations import ACTIVATIONS
from .fused import decoder_error_sums, fused_enabled
from .losses import LOSSES, METRICS
from .validation import check_choice

__all__ = ["WORST", "reconstruction_errors", "pairing_errors", "neighbourhood_errors"]

Half = HalfSpec = Any  # evoprune.genome's classes (kernels sit below genome; only their attributes are read)


#: Error given to a genome whose loss is NaN or infinite (worst for minimisation).
WORST = math.inf


def check_metric(metric: str) -> str:
    return check_choice("metric", metric, METRICS)


def stack_halves(halves: Sequence[Half], device: torch.device | str | None = None):
    """``(params, masks)``: each a list of ``(N, ...)`` tensors on ``device``."""
    params = [torch.stack(ts).to(device) for ts in zip(*(h.params for h in halves), strict=True)]
    masks = [torch.stack(ts).to(device) for ts in zip(*(h.masks for h in halves), strict=True)]
    return params, masks


def _read_stack(halves: Sequence[Half], device: torch.device):
    """:func:`stack_halves` for reading only: a stack of one is made of views (no copy)."""
    if len(halves) == 1:
        (h,) = halves
        return [t.unsqueeze(0).to(device) for t in h.params], [t.unsqueeze(0).to(device) for t in h.masks]
    return stack_halves(halves, device)


def stacked_forward(
    spec: HalfSpec,
    params: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor] | None,
    x: torch.Tensor,
    final_activation: bool = True,
    outputs: list | None = None,
) -> torch.Tensor:
    """Forward pass of N stacked halves: ``params[k]`` is ``(N, out, in)`` / ``(N, out)``, ``x`` is ``(N, B, in)``.

    ``masks=None`` skips masking (valid when pruned entries are already zero);
    ``outputs``, if given, receives every layer's output.
    A stack of one runs as plain ``linear`` calls (faster than a batch of one).
    A layered (non-dense) spec runs its own forward (``spec.stacked_forward``) on flat rows.
    """
    if not getattr(spec, "dense", True):
        if not final_activation:
            raise ValueError("final_activation=False needs a dense half")
        return spec.stacked_forward(params, masks, x, outputs)
    h = x
    last = spec.n_layers - 1
    for i, act in enumerate(spec.activations):
        w, b = params[2 * i], params[2 * i + 1]
        if masks is not None:
            w, b = w * masks[2 * i], b * masks[2 * i + 1]
        if h.shape[0] == 1:
            h = F.linear(h[0], w[0], b[0]).unsqueeze(0)
        else:
            h = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
        if i < last or final_activation:
            h = ACTIVATIONS[act].fn(h)
        if outputs is not None:
            outputs.append(h)
    return h


def layer_outputs(spec: HalfSpec, params, masks, x: torch.Tensor) -> list[torch.Tensor]:
    """Post-activation outputs of every layer of N stacked halves on ``x`` ``(N, B, in)``."""
    outs: list[torch.Tensor] = []
    stacked_forward(spec, params, masks, x, outputs=outs)
    return outs


def _error_sum(out: torch.Tensor, target: torch.Tensor, metric: str) -> torch.Tensor:
    """Per-member sum of elementwise errors, computed in place on ``out`` (no-grad evaluation only)."""
    if metric == "l1":
        return out.sub_(target).abs_().flatten(1).sum(1).double()
    if metric == "mse":
        return out.sub_(target).square_().flatten(1).sum(1).double()
    return LOSSES[metric].fn(out, target).double() * out[0].numel()


def _fused_decoder_errors(spec: HalfSpec, params, masks, z: torch.Tensor, target: torch.Tensor, index: torch.Tensor,
                          metric: str) -> torch.Tensor | None:
    """:func:`evoprune.fused.decoder_error_sums` (decoder + error sums, no output stored) where it runs (CPU,
    float32, ``EVOPRUNE_FUSED`` on, extension built, activations and metric supported), else ``None``."""
    if z.device.type != "cpu" or not getattr(spec, "dense", True):
        return None
    return decoder_error_sums(spec, params, masks, z, target, index, metric)


def _fused_allowed() -> bool:
    return fused_enabled()


def _finite(err: torch.Tensor) -> torch.Tensor:
    return torch.nan_to_num(err.float().cpu(), nan=WORST, posinf=WORST)


@torch.no_grad()
def reconstruction_errors(genomes: Sequence, data: torch.Tensor, metric: str = "l1", rows: int = 1000) -> torch.Tensor:
    """Mean reconstruction error of each genome on ``data`` (on ``data``'s device), shape ``(N,)`` on the CPU.

    On an accelerator the genomes run as one stack.  On a CPU every genome's
    first layer runs in one matrix product over the rows (the genomes' weight
    rows side by side: each output is summed as in a product of its own, so the
    errors equal those of genomes evaluated one at a time, bit for bit); the
    other layers run genome by genome, each one's weights staying in cache.
    Rows go in chunks of ``rows``.

    Parameters
    ----------
    genomes
        The genomes (anything with ``encoder`` and ``decoder`` halves).
    data
        Evaluation data, ``(samples, input_dim)``.
    metric
        A key of :data:`~evoprune.losses.METRICS`.
    rows
        Rows per chunk.
    """
    check_metric(metric)
    genomes = list(genomes)
    data = data.reshape(data.shape[0], -1)  # shaped rows (layered architectures) as flat rows
    groups: dict[tuple, list[int]] = {}  # genomes of one architecture go together
    for i, g in enumerate(genomes):
        groups.setdefault((g.encoder.spec, g.decoder.spec), []).append(i)
    out = torch.empty(len(genomes))
    for members in groups.values():
        out[members] = _errors_of_one_architecture([genomes[i] for i in members], data, metric, rows)
    return out


def _errors_of_one_architecture(genomes: list, data: torch.Tensor, metric: str, rows: int) -> torch.Tensor:
    n = len(genomes)
    enc_spec, dec_spec = genomes[0].encoder.spec, genomes[0].decoder.spec
    enc = _read_stack([g.encoder for g in genomes], data.device)
    dec = _read_stack([g.decoder for g in genomes], data.device)
    total = torch.zeros(n, dtype=torch.float64, device=data.device)
    if data.device.type != "cpu" or not getattr(enc_spec, "dense", True) or not getattr(dec_spec, "dense", True):
        for s in range(0, data.shape[0], rows):
            x = data[s : s + rows].unsqueeze(0).expand(n, -1, -1)
            total += _error_sum(stacked_forward(dec_spec, *dec, stacked_forward(enc_spec, *enc, x)), x, metric)
        return _finite(total / data.numel())
    ep = [p * m for p, m in zip(*enc, strict=True)]  # masked once: pruned entries are zero from here on
    w0 = ep[0].reshape(n * ep[0].shape[1], -1)
    b0 = ep[1].reshape(-1, 1)
    fused_dec = _fused_allowed()  # cleared if the fused kernel cannot run
    dec_masked = [p * m for p, m in zip(*dec, strict=True)] if fused_dec else None
    index = torch.zeros(n, 1, dtype=torch.long)
    for s in range(0, data.shape[0], rows):
        x = data[s : s + rows]
        # every genome's first layer at once, as (N * h1, B): the same sums as F.linear, and faster for few genomes
        first = torch.addmm(b0, w0, x.t()).view(n, -1, x.shape[0])
        z = []
        for i in range(n):
            h = ACTIVATIONS[enc_spec.activations[0]].fn(first[i].t().contiguous())
            rest = [t[i : i + 1] for t in ep[2:]]
            z.append(_forward_rest(enc_spec, rest, h.unsqueeze(0)) if rest else h.unsqueeze(0))
        z = torch.cat(z)  # (N, B, latent)
        if fused_dec:
            sums = _fused_decoder_errors(dec_spec, dec_masked, None, z[:, None, None], x.unsqueeze(0), index, metric)
            if sums is not None:
                total += sums.view(n)
                continue
            fused_dec = False
        for i in range(n):  # the torch path, genome by genome
            one = ([t[i : i + 1] for t in dec[0]], [t[i : i + 1] for t in dec[1]])
            total[i] += _error_sum(stacked_forward(dec_spec, *one, z[i : i + 1]), x.unsqueeze(0), metric)[0]
    return _finite(total / data.numel())


def _forward_rest(spec: HalfSpec, params: Sequence[torch.Tensor], h: torch.Tensor) -> torch.Tensor:
    """Layers 1.. of a half (masked ``params``, stack of one) on the first layer's output ``h`` ``(1, B, h1)``."""
    for i, act in enumerate(spec.activations[1:]):
        w, b = params[2 * i], params[2 * i + 1]
        h = ACTIVATIONS[act].fn(F.linear(h[0], w[0], b[0]).unsqueeze(0))
    return h


@torch.no_grad()
def pairing_errors(
    encoders: Sequence[Half], decoders: Sequence[Half], data: torch.Tensor, metric: str = "l1"
) -> torch.Tensor:
    """Error of every encoder×decoder pairing on ``data``: a ``(len(encoders), len(decoders))`` matrix (CPU).

    Parameters
    ----------
    encoders
        The encoder halves.
    decoders
        The decoder halves.
    data
        Evaluation data, ``(samples, input_dim)``.
    metric
        A key of :data:`~evoprune.losses.METRICS`.
    """
    check_metric(metric)
    data = data.reshape(data.shape[0], -1)
    ne, nd = len(encoders), len(decoders)
    x = data.unsqueeze(0).expand(ne, -1, -1)
    z = stacked_forward(encoders[0].spec, *stack_halves(encoders, data.device), x)  # (ne, B, latent)
    dp, dm = stack_halves(decoders, data.device)
    dp = [p.repeat(ne, *([1] * (p.dim() - 1))) for p in dp]
    dm = [m.repeat(ne, *([1] * (m.dim() - 1))) for m in dm]
    out = stacked_forward(decoders[0].spec, dp, dm, z.repeat_interleave(nd, 0))  # pairing (i, j) at row i*nd + j
    err = _error_sum(out, data.unsqueeze(0).expand(ne * nd, -1, -1), metric) / data.numel()
    return _finite(err).view(ne, nd)


@torch.no_grad()
def neighbourhood_errors(population: Sequence, nb: torch.Tensor, x: torch.Tensor, metric: str = "l1") -> torch.Tensor:
    """``errors[c, i, j]``: error of encoder ``nb[c, i]`` with decoder ``nb[c, j]`` on cell c's batch ``x[c]``.

    ``nb`` is ``(cells, k)`` (centre first); ``x`` is ``(cells, B, D)`` on the
    device to use.  Every encoder of the population runs once over the batches
    of the cells that see it, then every decoder over all the latents of those
    cells: two stacked passes, no copies of parameters.  Neighbourhoods of
    several disjoint grids (lockstep trials) can be concatenated with offset
    indices.  Returns ``(cells, k, k)`` on the CPU.

    Parameters
    ----------
    population
        The genomes of the grid (one per cell).
    nb
        Neighbourhoods, ``(cells, k)`` indices into ``population``, centre first.
    x
        One batch per cell, ``(cells, B, D)``, on the device to use.
    metric
        A key of :data:`~evoprune.losses.METRICS`.
    """
    n_cells, k = nb.shape
    inv: list[list[tuple[int, int]]] = [[] for _ in range(n_cells)]  # inv[d]: (cell, position of d there)
    for c, row in enumerate(nb.tolist()):
        for pos, d in enumerate(row):
            inv[d].append((c, pos))
    m = len(inv[0])
    if any(len(v) != m for v in inv):  # neighbourhoods not symmetric: score each cell on its own
        out = torch.empty(n_cells, k, k)
        for c, row in enumerate(nb.tolist()):
            out[c] = pairing_errors([population[j].encoder for j in row], [population[j].decoder for j in row], x[c],
                                    metric)
        return out
    dev = x.device
    cells = torch.tensor([[c for c, _ in v] for v in inv], device=dev)  # (n, m)
    b, dim = x.shape[1], x.shape[2]
    enc = stack_halves([p.encoder for p in population], dev)
    z = stacked_forward(population[0].encoder.spec, *enc, x[cells].reshape(n_cells, m * b, dim)).view(n_cells, m, b, -1)
    slot = torch.empty(n_cells, n_cells, dtype=torch.long)  # slot[d, c]: index of cell c in inv[d]
    for d, v in enumerate(inv):
        for s_, (c, _) in enumerate(v):
            slot[d, c] = s_
    nb_d, slot = nb.to(dev), slot.to(dev)
    lat = z[nb_d, slot[nb_d, torch.arange(n_cells, device=dev)[:, None]]]  # (n, k, B, L)
    dec = stack_halves([p.decoder for p in population], dev)
    dec_spec = population[0].decoder.spec
    sums = _fused_decoder_errors(dec_spec, *dec, lat[cells], x, cells, metric)  # targets x[cells] read in place
    if sums is None:
        out = stacked_forward(dec_spec, *dec, lat[cells].reshape(n_cells, m * k * b, -1))
        target = x[cells][:, :, None].expand(n_cells, m, k, b, dim).reshape(n_cells, m * k * b, dim)
        sums = _error_sum(out.view(n_cells * m * k, b, dim), target.reshape(-1, b, dim), metric)
    err_d = _finite(sums.reshape(-1) / (b * dim)).view(n_cells, m, k)
    errors = torch.empty(n_cells, k, k)
    for d, v in enumerate(inv):
        for s_, (c, pos) in enumerate(v):
            errors[c, :, pos] = err_d[d, s_]
    return errors
