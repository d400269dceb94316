"""Contract checks that every pruning method must pass, in the spirit of scikit-learn's ``check_estimator``.

``check_pruning_method(Random)`` runs every check on a method (a class or an
instance) and raises AssertionError naming the method and the failed check.
Run it over your own method in a test::

    def test_my_method():
        check_pruning_method(MyMethod(amount=0.2))
"""

from __future__ import annotations

import copy
import pickle
import random
from collections.abc import Callable
from functools import partial

import numpy as np
import torch

from ..architecture import Architecture, HalfSpec
from ..genome import AutoencoderGenome
from ..layers import Act, Conv, ConvTranspose, Flatten, Linear, Pool, Unflatten, Upsample
from ..pruning import PruningMethod, mutPrune
from ..training import mutTrain
from ..util import flat
from ..util.operator import Batch

__all__ = ["check_pruning_method", "contract_architectures", "conv_architecture"]

_DIM = 24


def contract_architectures() -> dict[str, Architecture]:
    """The paper's shape (small widths), a deeper dense one and a convolutional one, all on 24 features."""
    return {
        "paper": Architecture.paper(input_dim=_DIM, hidden=10, latent=4),
        "3 hidden layers": Architecture(HalfSpec((_DIM, 16, 12, 8, 3), ("relu", "tanh", "relu", "relu")),
                                        HalfSpec((3, 8, 12, 16, _DIM), ("relu", "relu", "tanh", "sigmoid"))),
        "conv": conv_architecture(),
    }


def conv_architecture() -> Architecture:
    """A small convolutional autoencoder on ``(1, 4, 6)`` images (see :func:`contract_architectures`)."""
    enc = HalfSpec(layers=(Conv(2, 1, 4, 3, 1, 1), Act("relu"), Pool("max", 2, 2, 2), Flatten(), Linear(24, 3),
                           Act("relu")), input_shape=(1, 4, 6))
    dec = HalfSpec(layers=(Linear(3, 24), Act("relu"), Unflatten(1, (4, 2, 3)), Upsample((2,)),
                           ConvTranspose(2, 4, 1, 3, 1, 1), Act("sigmoid")), input_shape=(3,))
    return Architecture(enc, dec)


def contract_data(n: int = 80, dim: int = _DIM) -> torch.Tensor:
    """Binary rows for the checks (drawn from a private generator)."""
    return (torch.rand(n, dim, generator=torch.Generator().manual_seed(0)) > 0.5).float()


class _Contract:
    def __init__(self, method: PruningMethod, data: torch.Tensor | None) -> None:
        self.m = method
        self.name = method.name or type(method).__name__
        self.data = contract_data() if data is None else data
        self.check = ""

    def fail(self, detail: str) -> AssertionError:
        return AssertionError(f"pruning method {self.name!r} ({self.m!r}) failed check {self.check!r}: {detail}")

    def ensure(self, ok: bool, detail: str) -> None:
        if not ok:
            raise self.fail(detail)

    def with_amount(self, amount: float) -> PruningMethod | None:
        params = self.m.get_params()
        if "amount" not in params:
            return None
        return type(self.m)(**{**params, "amount": amount})

    def prune(self, genomes: list, seeds: list[int], method: PruningMethod | None = None) -> None:
        m = self.m if method is None else method
        data = self.data if m.needs_data else None
        try:
            mutPrune(Batch(genomes, [np.random.default_rng(s) for s in seeds]), method=m, data=data)
        except Exception as e:  # noqa: BLE001 (any error is a failed check, reported with its name)
            raise self.fail(f"raised {type(e).__name__}: {e}") from e

    # -- genomes ------------------------------------------------------------
    @staticmethod
    def genome(arch: Architecture, seed: int = 0, pre_pruned: bool = False) -> AutoencoderGenome:
        g = AutoencoderGenome(arch, rng=seed)
        if pre_pruned:
            pre_prune(g, np.random.default_rng(seed + 100), 2)
        return g


def pre_prune(g: AutoencoderGenome, rng: np.random.Generator, every: int) -> None:
    """Prune ``1/every`` of every weight tensor's entries and the first layer's neuron 0 in each half of ``g``."""
    for h in g.halves:
        for k in range(0, len(h.params), 2):
            n = h.params[k].numel()
            h.prune_entries(k, rng.choice(n, size=n // every, replace=False))
        h.prune_neurons(0, [0])


def masks_of(g) -> list[torch.Tensor]:
    """Copies of every mask of ``g``, encoder's then decoder's."""
    return [m.clone() for h in g.halves for m in h.masks]


def _same(a, b) -> bool:
    return all(torch.equal(x, y) for ha, hb in zip(a.halves, b.halves, strict=True)
               for x, y in zip(ha.masks + ha.params, hb.masks + hb.params, strict=True))


def _zero_where_pruned(c: _Contract, g, when: str) -> None:
    for hi, h in enumerate(g.halves):
        for k, (p, m) in enumerate(zip(h.params, h.masks, strict=True)):
            c.ensure(bool(torch.all(p[~m] == 0)), f"{when}: a pruned weight is not 0 (half {hi}, tensor {k})")
            for what, st in (("exp_avg", h.exp_avg), ("exp_avg_sq", h.exp_avg_sq)):
                if st is not None:
                    c.ensure(bool(torch.all(st[k][~m] == 0)), f"{when}: Adam {what} of a pruned weight is not 0 "
                                                              f"(half {hi}, tensor {k})")


def _shrinks(c: _Contract, before: list[torch.Tensor], g) -> None:
    for k, (old, new) in enumerate(zip(before, masks_of(g), strict=True)):
        c.ensure(bool(torch.all(old | ~new)), f"a pruned entry came back (mask tensor {k})")


def _layers_alive(c: _Contract, g, when: str) -> None:
    for hi, h in enumerate(g.halves):
        for layer in range(h.spec.n_layers):
            c.ensure(bool(h.masks[flat.weight(layer)].any()),
                     f"{when}: layer {layer} of half {hi} lost all its weights")


def _check_needs_data(c: _Contract, arch: Architecture) -> None:
    g = c.genome(arch)
    if c.m.needs_data:
        try:
            mutPrune(g, c.m, data=None, rng=0)
        except (ValueError, TypeError) as e:
            c.ensure("data" in str(e), f"the error without data does not say so: {e}")
        else:
            raise c.fail("it needs data but ran without it")
    else:
        try:
            mutPrune(g, c.m, data=None, rng=0)
        except Exception as e:  # noqa: BLE001
            raise c.fail(f"needs_data is False but it failed without data: {type(e).__name__}: {e}") from e


def _check_shrink_and_training(c: _Contract, arch: Architecture) -> None:
    g = c.genome(arch, pre_pruned=True)
    mutTrain(g, c.data, rng=0, batch_size=16)  # Adam moments exist before pruning
    before = masks_of(g)
    c.prune([g], [1])
    _shrinks(c, before, g)
    _zero_where_pruned(c, g, "after pruning")
    after = masks_of(g)
    mutTrain(g, c.data, rng=1, batch_size=16, epochs=2)
    c.ensure(all(torch.equal(a, b) for a, b in zip(after, masks_of(g), strict=True)), "training changed the masks")
    _zero_where_pruned(c, g, "after training")


def _check_layers(c: _Contract, arch: Architecture) -> None:
    if not c.m.keeps_layers:  # a published method without the guard (stated by keeps_layers = False)
        return
    m = c.with_amount(0.9) or c.m
    for pre in (False, True):
        g = c.genome(arch, seed=3, pre_pruned=pre)
        for t in range(12):
            c.prune([g], [t], m)
            _layers_alive(c, g, f"after {t + 1} prunings")


def _check_already_pruned(c: _Contract, arch: Architecture) -> None:
    g = c.genome(arch, seed=5, pre_pruned=True)
    before = masks_of(g)
    c.prune([g], [2])
    _shrinks(c, before, g)
    _zero_where_pruned(c, g, "pruning a pruned genome")


def _groups(c: _Contract, g, m: PruningMethod) -> list[list[tuple[int, int]]]:
    n = [len(h.masks) if m.unit == "entry" else h.spec.n_layers for h in g.halves]
    slots = [(hi, k) for hi in range(2) for k in range(n[hi])]
    return [[s] for s in slots] if m.scope == "layer" else [slots]


def _alive(g, m: PruningMethod, s: tuple[int, int]) -> torch.Tensor:
    h = g.halves[s[0]]
    return h.masks[s[1]].reshape(-1) if m.unit == "entry" else h.alive_neurons(s[1])


def _check_amount(c: _Contract, arch: Architecture) -> None:
    zero, m = c.with_amount(0.0), c.with_amount(0.3)
    if m is None:
        return
    g = c.genome(arch, seed=7, pre_pruned=True)
    g0 = copy.deepcopy(g)
    c.prune([g0], [4], zero)
    c.ensure(_same(g, g0), "amount=0 changed the genome")
    # the candidates: unpruned, finite score (scores drawn with the seed the pruning will use)
    gen = np.random.default_rng(4)
    stack = m._stack([g], [gen], c.data if m.needs_data else None)
    scores = [[s[0].detach().cpu().reshape(-1) for s in half] for half in m.scores(stack, [gen])]
    before = copy.deepcopy(g)
    c.prune([g], [4], m)
    for group in _groups(c, g, m):
        cand = sum(int((_alive(before, m, s) & torch.isfinite(scores[s[0]][s[1]])).sum()) for s in group)
        pruned = sum(int((_alive(before, m, s) & ~_alive(g, m, s)).sum()) for s in group)
        want = int(round(0.3 * cand))
        slack = 1 if len(group) == 1 else sum(h.spec.n_layers for h in g.halves)  # a layer is never emptied
        where = f"tensor/layer {group[0]}" if len(group) == 1 else "the genome"
        c.ensure(want - slack <= pruned <= want,
                 f"amount=0.3 of {cand} candidate {m.unit}(s) in {where} should prune {want}, it pruned {pruned}")


def _rng_states():
    return np.random.get_state()[1].copy(), random.getstate(), torch.get_rng_state().clone()


def _check_seed_and_global_rng(c: _Contract, arch: Architecture) -> None:
    a, b = c.genome(arch, seed=9), c.genome(arch, seed=9)
    states = _rng_states()
    c.prune([a], [6])
    after = _rng_states()
    c.ensure(np.array_equal(states[0], after[0]), "it changed numpy's global random state (np.random)")
    c.ensure(states[1] == after[1], "it changed Python's global random state (random)")
    c.ensure(torch.equal(states[2], after[2]), "it changed torch's global random state")
    np_state, torch_state = np.random.get_state(), torch.get_rng_state()
    try:  # other global states must not matter either
        np.random.seed(12345)
        torch.manual_seed(12345)
        c.prune([b], [6])
    finally:
        np.random.set_state(np_state)
        torch.set_rng_state(torch_state)
    c.ensure(_same(a, b), "the same seed gave different masks")


def _check_stack(c: _Contract, arch: Architecture) -> None:
    singles = [c.genome(arch, seed=s, pre_pruned=s == 21) for s in (20, 21, 22)]
    stack = copy.deepcopy(singles)
    for g, s in zip(singles, (30, 31, 32), strict=True):
        c.prune([g], [s])
    c.prune(stack, [30, 31, 32])
    for i, (a, b) in enumerate(zip(singles, stack, strict=True)):
        c.ensure(_same(a, b), f"member {i} of a stack of 3 differs from a single call with its generator")


def _check_pickle(c: _Contract, arch: Architecture) -> None:
    # evoprune never unpickles (see tests/test_checkpoint.py): the method and its result must pickle, and
    # round-trip through deepcopy, which rebuilds them with pickle's own protocol (__reduce_ex__)
    a, b = c.genome(arch, seed=11), c.genome(arch, seed=11)
    c.prune([a], [8])
    for what, obj in (("method", c.m), ("operator", partial(mutPrune, method=c.m)), ("pruned genome", a)):
        try:
            pickle.dumps(obj)
        except Exception as e:  # noqa: BLE001
            raise c.fail(f"the {what} does not pickle: {type(e).__name__}: {e}") from e
    try:
        m2, op, a2 = copy.deepcopy((c.m, partial(mutPrune, method=c.m), a))
    except Exception as e:  # noqa: BLE001
        raise c.fail(f"it does not deepcopy: {type(e).__name__}: {e}") from e
    c.ensure(m2 == c.m, f"deepcopied method {m2!r} != {c.m!r}")
    c.ensure(_same(a, a2), "the pruned genome does not deepcopy to an equal one")
    op(b, data=c.data if c.m.needs_data else None, rng=np.random.default_rng(8))
    c.ensure(_same(a, b), "the deepcopied operator prunes differently")


#: The checks, by name, in the order they run.
CHECKS: dict[str, Callable[[_Contract, Architecture], None]] = {
    "needs data": _check_needs_data,
    "masks only shrink, pruned weights and Adam moments stay 0 through training": _check_shrink_and_training,
    "no layer emptied": _check_layers,
    "already pruned genome": _check_already_pruned,
    "amount honoured, amount 0 changes nothing": _check_amount,
    "seed reproduces the mask, no global RNG touched": _check_seed_and_global_rng,
    "stack of N = N single calls": _check_stack,
    "pickles and deepcopies": _check_pickle,
}


def check_pruning_method(method: PruningMethod | type[PruningMethod], data: torch.Tensor | None = None,
                         architectures: dict[str, Architecture] | None = None) -> list[str]:
    """Run every contract check on ``method``; AssertionError names the failed check.  Returns the checks passed.

    Parameters
    ----------
    method
        A :class:`~evoprune.pruning.PruningMethod` subclass or instance.
    data
        Rows for methods that need data (default: ``contract_data()``, 80 rows of planted clusters).
    architectures
        Architectures by name (default: :func:`contract_architectures`).
    """
    if isinstance(method, type):
        if not issubclass(method, PruningMethod):
            raise TypeError(f"expected a PruningMethod subclass or instance, got {method!r}")
        method = method()
    if not isinstance(method, PruningMethod):
        raise TypeError(f"expected a PruningMethod subclass or instance, got {method!r}")
    try:
        method.get_params()
    except AttributeError as e:
        raise AssertionError(f"pruning method {type(method).__name__} failed check 'parameters': {e}") from e
    c = _Contract(method, data)
    passed = []
    for check, fn in CHECKS.items():
        for arch_name, arch in (architectures or contract_architectures()).items():
            c.check = f"{check} [{arch_name}]"
            fn(c, arch)
        passed.append(check)
    return passed
