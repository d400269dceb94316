"""Contract checks that any architecture must pass: ``check_architecture(arch)``.

It trains a stack of genomes and the same genomes one at a time, prunes them with every registered method
(not the published reproductions), exports them to modules and back, and raises AssertionError naming the
architecture's check that failed::

    def test_my_autoencoder():
        check_architecture(Architecture.from_modules(enc, dec, input_shape=(1, 8, 8)))
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable

import numpy as np
import torch

from ..architecture import Architecture
from ..evaluation import reconstruction_error, reconstruction_errors
from ..genome import AutoencoderGenome
from ..models.files import genome_from_tensors, genome_tensors
from ..pruning import METHODS, mutPrune
from ..training import mutTrain
from ..util import flat
from ..util.operator import Batch
from .pruning import masks_of, pre_prune

__all__ = ["check_architecture", "architecture_data"]

def architecture_data(arch: Architecture, n: int = 48, seed: int = 0) -> torch.Tensor:
    """``n`` rows shaped like ``arch``'s input, uniform in [0, 1), from a private generator.

    Parameters
    ----------
    arch
        The architecture.
    n
        Number of rows.
    seed
        Seed of the private generator.
    """
    return torch.rand(n, *arch.input_shape, generator=torch.Generator().manual_seed(seed))


class _Check:
    def __init__(self, arch: Architecture, data: torch.Tensor, name: str) -> None:
        self.arch, self.data, self.name, self.check = arch, data, name, ""

    def ensure(self, ok: bool, detail: str) -> None:
        if not ok:
            raise AssertionError(f"architecture {self.name!r} failed check {self.check!r}: {detail}")

    def genomes(self, k: int = 3) -> list[AutoencoderGenome]:
        out = [AutoencoderGenome(self.arch, rng=10 + i, lr=10 ** -(2 + i % 2)) for i in range(k)]
        pre_prune(out[-1], np.random.default_rng(1), 3)  # one member pre-pruned: entries and a whole neuron
        return out


def _tensors(g) -> list[torch.Tensor]:
    return [t for h in g.halves for t in h.params + (h.exp_avg or []) + (h.exp_avg_sq or [])]


def _zero_where_pruned(c: _Check, g, when: str) -> None:
    for hi, h in enumerate(g.halves):
        for k, m in enumerate(h.masks):
            for what, ts in (("weight", h.params), ("exp_avg", h.exp_avg), ("exp_avg_sq", h.exp_avg_sq)):
                if ts is not None:
                    c.ensure(bool(torch.all(ts[k][~m] == 0)), f"{when}: a pruned {what} is not 0 (half {hi}, "
                                                              f"tensor {k})")


def _check_stack(c: _Check) -> None:
    singles = c.genomes()
    stack = copy.deepcopy(singles)
    for i, g in enumerate(singles):
        mutTrain(g, c.data, rng=i, batch_size=16, epochs=2)
    rngs = [np.random.default_rng(i) for i in range(len(stack))]
    mutTrain(Batch(stack, rngs), c.data, batch_size=16, loss="l1", epochs=2)
    for i, (a, b) in enumerate(zip(singles, stack, strict=True)):
        for x, y in zip(_tensors(a), _tensors(b), strict=True):
            c.ensure(torch.allclose(x, y, rtol=1e-4, atol=1e-6),
                     f"member {i}: stacked training differs from single training by {(x - y).abs().max():.3g}")
        c.ensure(abs(a.train_loss - b.train_loss) <= 1e-5, f"member {i}: training losses differ")
    errors = reconstruction_errors(stack, c.data)
    for i, g in enumerate(stack):
        one = reconstruction_error(g, c.data)
        c.ensure(abs(float(errors[i]) - one) <= 1e-5, f"member {i}: stacked evaluation {float(errors[i])} != {one}")


def _check_masks(c: _Check) -> None:
    g = c.genomes()[-1]
    before = masks_of(g)
    mutTrain(g, c.data, rng=0, batch_size=8, epochs=2)
    after = masks_of(g)
    c.ensure(all(torch.equal(a, b) for a, b in zip(before, after, strict=True)), "training changed the masks")
    _zero_where_pruned(c, g, "after training")


def _check_pruning(c: _Check) -> None:
    for method in [name for name, cls in METHODS.items() if not cls.published]:
        g = c.genomes()[-1]
        mutTrain(g, c.data, rng=0, batch_size=16)
        for t in range(3):
            before = masks_of(g)
            mutPrune(g, method, data=c.data, rng=t)
            after = [m for h in g.halves for m in h.masks]
            c.ensure(all(bool(torch.all(a | ~b)) for a, b in zip(before, after, strict=True)),
                     f"{method}: a pruned entry came back")
            _zero_where_pruned(c, g, f"after {method} pruning")
            for hi, h in enumerate(g.halves):
                for layer in range(h.spec.n_layers):
                    c.ensure(bool(h.masks[flat.weight(layer)].any()),
                             f"{method}: layer {layer} of half {hi} lost every weight")
        c.ensure(g.n_kept < c.genomes()[-1].n_kept or method == "conjunctive", f"{method} pruned nothing")
        c.ensure(np.isfinite(reconstruction_error(g, c.data)), f"{method}: the pruned genome's error is not finite")


def _check_export(c: _Check) -> None:
    g = c.genomes()[-1]
    mutTrain(g, c.data, rng=0, batch_size=16)
    x = c.data[:5]
    want = g(x)
    with torch.no_grad():
        for layout in (False, True):
            got = g.to_module(prune_layout=layout)(x).reshape(want.shape)
            c.ensure(torch.allclose(got, want, atol=1e-5), f"to_module(prune_layout={layout}) gives other outputs")
        mod = g.to_module(prune_layout=True)
        back = AutoencoderGenome.from_modules(mod.encoder, mod.decoder, input_shape=c.arch.input_shape)
        c.ensure(back.arch == c.arch, f"from_modules read another architecture: {back.arch}")
        c.ensure(torch.allclose(back(x), want, atol=1e-5), "to_module -> from_modules gives other outputs")
        c.ensure(all(torch.equal(a, b) for ha, hb in zip(g.halves, back.halves, strict=True)
                     for a, b in zip(ha.masks, hb.masks, strict=True)), "to_module -> from_modules lost the masks")
        plain = g.to_module()
        fresh = type(plain)(*(copy.deepcopy(s) for s in (plain.encoder, plain.decoder)))
        for p in fresh.parameters():
            p.data.zero_()
        fresh.load_state_dict(plain.state_dict())
        c.ensure(torch.allclose(fresh(x).reshape(want.shape), want, atol=1e-5),
                 "load_state_dict into a fresh module gives other outputs")
    again = genome_from_tensors(c.arch, genome_tensors(g), g.lr)
    c.ensure(torch.allclose(again(x), want, atol=0), "the model file's tensors give another genome")
    # evoprune never unpickles: the genome must pickle, and deepcopy (pickle's protocol) must rebuild it
    c.ensure(len(pickle.dumps(g)) < 4 * 4 * g.n_params + 20_000, "the pickled genome is larger than its tensors")
    c.ensure(torch.equal(copy.deepcopy(g)(x), want), "deepcopy changed it")


def _check_shapes(c: _Check) -> None:
    g = AutoencoderGenome(c.arch, rng=0)
    bad = torch.zeros(4, c.arch.input_dim + 1)
    for what, fn in (("training", lambda: mutTrain(g, bad, rng=0)),
                     ("evaluation", lambda: reconstruction_error(g, bad)),
                     ("pruning", lambda: mutPrune(g, "variance", data=bad, rng=0))):
        try:
            fn()
        except ValueError as e:
            c.ensure(str(c.arch.input_shape) in str(e) or str(c.arch.input_dim) in str(e),
                     f"{what}: the error on data of the wrong shape does not name the input shape: {e}")
        else:
            c.ensure(False, f"{what} accepted data of shape {tuple(bad.shape)}")


#: The checks, by name, in the order they run.
CHECKS: dict[str, Callable[[_Check], None]] = {
    "stacked training and evaluation = one genome at a time": _check_stack,
    "masks and pruned moments stay zero through training": _check_masks,
    "every registered pruning method works": _check_pruning,
    "export to modules, model tensors, pickle round-trip": _check_export,
    "data of the wrong shape is refused by name": _check_shapes,
}


def check_architecture(arch: Architecture, data: torch.Tensor | None = None, name: str = "") -> list[str]:
    """Run every architecture check on ``arch``; AssertionError names the failed check.  Returns the checks run.

    Parameters
    ----------
    arch
        The architecture.
    data
        Rows shaped like its input (default :func:`architecture_data`); training and evaluation run on
        their device.
    name
        Name for messages (default: the architecture's repr).
    """
    c = _Check(arch, architecture_data(arch) if data is None else data, name or repr(arch))
    for check, fn in CHECKS.items():
        c.check = check
        fn(c)
    return list(CHECKS)
