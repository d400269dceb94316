"""VARIANCE and CONJUNCTIVE as the published code runs them (``aes_lipi/anns/prune_ann.py``, commit 4099978).

They reproduce the published behaviour, defects included, so that a study can measure what each defect
decides; evoprune's own :class:`~evoprune.pruning.Variance` and :class:`~evoprune.pruning.Conjunctive`
are the methods as the paper describes them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ..util import flat
from ..util.validation import check_choice, check_positive_int, check_probability
from .base import PruneStack, PruningMethod

__all__ = ["ConjunctivePublished", "VARIANCE_STORES", "VariancePublished", "published_candidates"]

#: The passes the published VARIANCE's statistic is over (:class:`VariancePublished`).
VARIANCE_STORES = ("pass", "training")


class VariancePublished(PruningMethod):
    """VARIANCE as published (``ActivationPruningMethod.compute_mask``): prunes *high*-variance units.

    A unit's score is the standard deviation of its activation across the epoch's minibatches at each of the
    ``batch_size`` row positions, summed over the positions (``ann.py`` ``get_activation_variance``); hidden
    layers read after their ReLU, the decoder's output layer before its sigmoid.  Each weight and bias entry
    of unit u is then pruned independently with probability ``(s_u - min s) / (max s - min s)`` over the layer
    (with all scores equal: kept with probability ``1 - s``), so the most varied unit goes entirely and the
    least varied one stays.  ``amount`` is not taken, as the published code ignores it.

    ``store`` says which passes the statistic is over.  ``"training"`` is the published store: the training
    passes recorded in each half's ``activity`` since its last pruning (``mutTrain(record=...)``; a study run
    records them when this store is chosen), each with the weights of its own minibatch step.  ``"pass"``
    records one epoch of passes over every training row, in one random order cut into ``batch_size`` minibatches,
    with the weights at pruning time.

    Parameters
    ----------
    batch_size
        Rows per minibatch of the ``"pass"`` store (published: 5; the training store has the training's).
    store
        ``"pass"`` or ``"training"`` (:data:`VARIANCE_STORES`).
    """

    name = "variance_published"
    published = True
    needs_data = True
    paper_p = 0.1
    logits = True
    reads = "train"  # the statistic is over the epoch's training passes

    def __init__(self, batch_size: int = 5, store: str = "pass") -> None:
        super().__init__(amount=None, scope="layer")
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.store = check_choice("store", store, VARIANCE_STORES)
        self.needs_data = store == "pass"
        self.reads_training = store == "training"

    def case_rows(self, g: np.random.Generator, n_rows: int) -> np.ndarray:
        return g.permutation(n_rows)[: (n_rows // self.batch_size) * self.batch_size]

    def _spreads(self, stack: PruneStack) -> list[list[torch.Tensor]]:
        """Per half, per layer: each member's summed standard deviations, ``(N, units)``."""
        if self.reads_training:
            out = []
            for part in (0, 1):
                acts = [g.halves[part].activity for g in stack.genomes]
                if any(a is None for a in acts):
                    raise ValueError("variance_published with store='training' reads the training passes since "
                                     "the last pruning: train with mutTrain(record='since_pruning') first")
                out.append([torch.stack([a[k].std().sum(0) for a in acts]) for k in range(len(acts[0]))])
            return out
        spreads = []
        for acts in stack.activations:
            layers = []
            for a in acts:
                n, rows, units = a.shape
                s = a.double().reshape(n, rows // self.batch_size, self.batch_size, units).std(1, unbiased=False)
                layers.append(s.sum(1))
            spreads.append(layers)
        return spreads

    def scores(self, stack: PruneStack, rngs: Sequence[np.random.Generator]) -> list[list[torch.Tensor]]:
        keep_p = []  # per half, per layer: (N, units), the normalised score an entry's draw must stay below
        for spreads in self._spreads(stack):
            layers = []
            for s in spreads:
                lo, hi = s.amin(1, keepdim=True), s.amax(1, keepdim=True)
                spread = hi - lo
                keep = torch.where(spread > 0, (hi - s) / torch.where(spread > 0, spread, 1.0), 1.0 - s.abs())
                layers.append(keep.cpu())
            keep_p.append(layers)
        out: list[list[list[torch.Tensor]]] = [[[] for _ in half] for half in stack.params]
        for i, g in enumerate(rngs):
            for hi, half in enumerate(stack.params):
                for k, p in enumerate(half):
                    keep = stack.per_neuron(hi, k, keep_p[hi][flat.layer_of(k)][i])
                    u = torch.from_numpy(g.random(tuple(p.shape[1:])))
                    out[hi][k].append(torch.where(keep > u, math.inf, 0.0))  # compute_mask: t_p > rnd_values
        return [[torch.stack(ts).double() for ts in half] for half in out]


def published_candidates(acts: torch.Tensor, threshold: float = 0.1) -> torch.Tensor:
    """``lexicase_select_nodes`` as published: the units flagged (normalised activation below ``threshold``) on
    the first case, intersected with each case's flags while more than one is left; a case whose units all
    output the same value flags none.  The last candidate is pruned too (no guard).

    Parameters
    ----------
    acts
        One layer's outputs, ``(cases, units)``, in case order.
    threshold
        Normalised activation below which a unit is flagged.
    """
    flags = []
    for a in acts:
        lo, hi = a.min(), a.max()
        flags.append((a - lo) / (hi - lo) < threshold if hi > lo else torch.zeros_like(a, dtype=torch.bool))
    cand = flags[0].clone()
    for f in flags:
        if int(cand.sum()) <= 1:
            break
        cand &= f
    return torch.nonzero(cand).view(-1)


class ConjunctivePublished(PruningMethod):
    """CONJUNCTIVE as published (``prune_ae`` with ``lexicase_select_nodes``): whole units of every layer,
    the decoder's output units included, on ``n_cases`` rows drawn with replacement from rows 1..N-1 of the
    data it is given (published: the test rows, ``pruning_data = "test"``), the output layer read before its
    sigmoid, and no guard: a layer's last candidate is pruned too.  ``amount`` is not taken.

    Parameters
    ----------
    threshold
        Normalised activation below which a unit counts as inactive on a case.
    n_cases
        Rows drawn (with replacement).
    """

    name = "conjunctive_published"
    published = True
    unit = "neuron"
    needs_data = True
    paper_p = 0.5
    logits = True
    keeps_layers = False

    def __init__(self, threshold: float = 0.1, n_cases: int = 100) -> None:
        super().__init__(amount=None, scope="layer")
        self.threshold = check_probability("threshold", threshold)
        self.n_cases = check_positive_int("n_cases", n_cases)

    def case_rows(self, g: np.random.Generator, n_rows: int) -> np.ndarray:
        if n_rows < 2:
            return np.zeros(self.n_cases, dtype=np.int64)
        return g.integers(1, n_rows, size=self.n_cases)  # Python's random.randint(1, N - 1): row 0 never

    def scores(self, stack: PruneStack, rngs: Sequence[np.random.Generator]) -> list[list[torch.Tensor]]:
        out = []
        for acts in stack.activations:
            layers = []
            for a in acts:
                a = a.cpu()
                s = torch.full((a.shape[0], a.shape[2]), math.inf, dtype=torch.float64)
                for i in range(len(rngs)):
                    s[i, published_candidates(a[i], self.threshold)] = 0.0
                layers.append(s)
            out.append(layers)
        return out
