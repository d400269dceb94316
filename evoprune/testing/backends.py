"""Contract checks every backend must pass: each one against an independent torch reference.

``check_backend(backend)`` trains and evaluates small stacks on ``backend`` and compares them, member by member,
with what ``torch.nn.Sequential``, autograd and ``torch.optim.Adam`` give; AssertionError names the backend, the
check and the architecture.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..architecture import Architecture
from ..backends import Backend, Stack, TrainOptions, stack_halves
from ..genome import AutoencoderGenome
from ..losses import LOSSES
from ..pruning import mutPrune
from .pruning import contract_architectures, contract_data

__all__ = ["check_backend"]

_BATCH = 5
_STEPS = 4


def _members(arch: Architecture, n: int, seed: int = 0) -> list[AutoencoderGenome]:
    """N genomes with different learning rates, each with about 30% of its entries pruned."""
    inds = [AutoencoderGenome(arch, rng=seed + s, lr=10 ** (-3.2 + 0.3 * s)) for s in range(n)]
    for s, ind in enumerate(inds):
        mutPrune(ind, "random", amount=0.3, rng=seed + s)
    return inds


def _orders(n: int, rows: int, seed: int = 0) -> torch.Tensor:
    return torch.stack([torch.from_numpy(np.random.default_rng([seed, k]).permutation(rows)) for k in range(n)])


def _train(backend: Backend, inds, data, orders, options: TrainOptions, epochs: int = 1) -> tuple[Stack, list]:
    specs = (inds[0].encoder.spec, inds[0].decoder.spec)
    stack = Stack.from_halves([i.encoder for i in inds], [i.decoder for i in inds], [i.lr for i in inds],
                              data.device, backend.layout(specs))
    losses = [backend.train_epoch(stack, data, orders, _BATCH, options) for _ in range(epochs)]
    return stack, losses


def _reference(ind: AutoencoderGenome, data, order, options: TrainOptions):
    """One member alone: its module (masks as torch.nn.utils.prune keeps them), autograd, torch.optim.Adam."""
    module = ind.to_module(prune_layout=True)
    x = data.reshape(data.shape[0], *ind.arch.input_shape)
    params = [p for p in module.parameters()]
    fn = LOSSES[options.loss].fn

    def adam():
        return torch.optim.Adam(params, lr=ind.lr, betas=options.betas, eps=options.eps)

    opt = adam()
    losses = []
    for s in range(0, len(order), _BATCH):
        if options.optimizer_reset == "minibatch":
            opt = adam()
        xb = x[order[s : s + _BATCH]]
        opt.zero_grad()
        loss = fn(module(xb).flatten(1)[None], xb.flatten(1)[None]).sum()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()) * xb.shape[0])
    moments = [[opt.state[p][k] for p in params] for k in ("exp_avg", "exp_avg_sq")]
    return params, moments, sum(losses) / len(order)


class _Contract:
    def __init__(self, backend: Backend) -> None:
        self.b = backend
        self.check = ""

    def ensure(self, ok: bool, detail: str) -> None:
        if not ok:
            raise AssertionError(f"backend {self.b.name!r} failed check {self.check!r}: {detail}")

    def close(self, got: torch.Tensor, want: torch.Tensor, what: str, atol: float = 1e-6, rtol: float = 1e-5):
        got, want = got.detach().cpu().double(), want.detach().cpu().double()
        self.ensure(got.shape == want.shape, f"{what}: shape {tuple(got.shape)} != {tuple(want.shape)}")
        bad = ~torch.isclose(got, want, rtol=rtol, atol=atol)
        self.ensure(not bool(bad.any()), f"{what}: {int(bad.sum())} entries differ, worst by "
                                         f"{float((got - want).abs().max()):.3g}")


def _against_reference(c: _Contract, arch: Architecture, options: TrainOptions) -> None:
    data = contract_data()
    inds = _members(arch, 2)
    orders = _orders(2, data.shape[0])[:, : _STEPS * _BATCH]
    stack, (losses,) = _train(c.b, inds, data, orders, options)
    for i, (state, ind) in enumerate(zip(stack.members(), inds, strict=True)):
        params, moments, loss = _reference(ind, data, orders[i], options)
        mine = state[0]["params"] + state[1]["params"]
        for k, (p, q) in enumerate(zip(params, mine, strict=True)):
            c.close(q, p, f"member {i}, tensor {k} after {_STEPS} steps")
        if options.optimizer_reset == "never":  # (a fresh Adam's moments are its last minibatch's alone)
            for what, ref in zip(("exp_avg", "exp_avg_sq"), moments, strict=True):
                for k, (p, q) in enumerate(zip(ref, state[0][what] + state[1][what], strict=True)):
                    c.close(q, p, f"member {i}, {what}[{k}] after {_STEPS} steps", atol=1e-7)
        c.close(losses[i : i + 1], torch.tensor([loss]), f"member {i}'s mean training loss", atol=1e-6)


def _check_adam(c: _Contract, arch: Architecture) -> None:
    _against_reference(c, arch, TrainOptions("l1"))


def _check_losses(c: _Contract, arch: Architecture) -> None:
    for loss in ("mse", "bce"):
        _against_reference(c, arch, TrainOptions(loss))


def _check_betas(c: _Contract, arch: Architecture) -> None:
    _against_reference(c, arch, TrainOptions("l1", betas=(0.5, 0.999)))


def _check_reset(c: _Contract, arch: Architecture) -> None:
    _against_reference(c, arch, TrainOptions("l1", betas=(0.5, 0.999), optimizer_reset="minibatch"))


def _check_stack(c: _Contract, arch: Architecture) -> None:
    data = contract_data()
    inds = _members(arch, 3, seed=4)
    orders = _orders(3, data.shape[0], seed=1)[:, :23]  # a smaller last minibatch
    options = TrainOptions("mse")
    stack, (losses,) = _train(c.b, inds, data, orders, options, epochs=1)
    for i, ind in enumerate(inds):
        alone, (loss,) = _train(c.b, [ind], data, orders[i : i + 1], options)
        for what, a, b in (("params", alone.members()[0], stack.members()[i]),):
            for part in (0, 1):
                for k, (x, y) in enumerate(zip(a[part][what], b[part][what], strict=True)):
                    c.close(y, x, f"member {i}, half {part}, {what}[{k}]", atol=1e-7, rtol=1e-6)
        c.close(losses[i : i + 1], loss, f"member {i}'s loss", atol=1e-7)


def _check_zero(c: _Contract, arch: Architecture) -> None:
    data = contract_data()
    inds = _members(arch, 2, seed=7)
    stack, _ = _train(c.b, inds, data, _orders(2, data.shape[0])[:, :30], TrainOptions("l1"), epochs=2)
    for i, (state, ind) in enumerate(zip(stack.members(), inds, strict=True)):
        for part, half in enumerate(ind.halves):
            c.ensure(all(torch.equal(a, b) for a, b in zip(state[part]["masks"], half.masks, strict=True)),
                     f"member {i}: the masks changed")
            for what in ("params", "exp_avg", "exp_avg_sq"):
                for t, m in zip(state[part][what], half.masks, strict=True):
                    c.ensure(bool(torch.all(t[~m] == 0)), f"member {i}: a pruned entry of {what} is not 0")
        c.ensure(state[0]["step"] == state[1]["step"] == 12, f"member {i}: step counters {state[0]['step']}")


def _check_errors(c: _Contract, arch: Architecture) -> None:
    data = contract_data(37)
    inds = _members(arch, 3, seed=2)
    specs = (arch.encoder, arch.decoder)
    enc = stack_halves([i.encoder for i in inds])
    dec = stack_halves([i.decoder for i in inds])
    for metric in ("l1", "mse", "bce"):
        got = c.b.errors(specs, enc, dec, data, metric, rows=16) / data.numel()
        for i, ind in enumerate(inds):
            x = data.reshape(data.shape[0], *arch.input_shape)
            with torch.no_grad():
                want = LOSSES[metric].fn(ind.to_module()(x).flatten(1)[None], data[None])
            c.close(got[i : i + 1], want, f"member {i}'s {metric}", atol=1e-6)


def _check_decoder_errors(c: _Contract, arch: Architecture) -> None:
    inds = _members(arch, 2, seed=3)
    spec = arch.decoder
    params, masks = stack_halves([i.decoder for i in inds])
    gen = torch.Generator().manual_seed(3)
    z = torch.rand(2, 3, 2, 4, arch.encoder.out_features, generator=gen)
    target = contract_data(20).view(5, 4, -1)
    index = torch.tensor([[4, 0, 2], [1, 1, 3]])
    got = c.b.decoder_errors(spec, params, masks, z, target, index, "l1")
    for i, ind in enumerate(inds):
        dec = ind.decoder.to_sequential()
        for g in range(3):
            for k in range(2):
                with torch.no_grad():
                    out = dec(z[i, g, k].reshape(4, *arch.decoder.in_shape)).flatten(1)
                want = (out - target[index[i, g]]).abs().sum().double()
                c.close(got[i, g, k : k + 1], want.view(1), f"member {i}, group {g}, candidate {k}", atol=1e-5)


def _check_forward(c: _Contract, arch: Architecture) -> None:
    inds = _members(arch, 2, seed=5)
    data = contract_data(9)
    params, masks = stack_halves([i.encoder for i in inds])
    outputs: list[torch.Tensor] = []
    z = c.b.forward(arch.encoder, params, masks, data.expand(2, -1, -1), outputs)
    c.ensure(len(outputs) == arch.encoder.n_layers, f"{len(outputs)} activations for {arch.encoder.n_layers} layers")
    for i, ind in enumerate(inds):
        with torch.no_grad():
            want = ind.encoder.to_sequential()(data.reshape(9, *arch.input_shape)).flatten(1)
        c.close(z[i], want, f"member {i}'s code")
        c.close(outputs[-1][i], want, f"member {i}'s last layer's activation")


#: The checks, by name, in the order they run.
CHECKS: dict[str, Callable[[_Contract, Architecture], None]] = {
    "an epoch of Adam equals torch.optim.Adam on the module": _check_adam,
    "mse and bce equal their torch losses": _check_losses,
    "Adam's betas as torch.optim.Adam's": _check_betas,
    "a fresh Adam every minibatch (optimizer_reset)": _check_reset,
    "a stack of N = N members alone": _check_stack,
    "pruned entries and moments stay exactly 0": _check_zero,
    "reconstruction errors equal the module's": _check_errors,
    "decoder error sums": _check_decoder_errors,
    "forward pass and activations": _check_forward,
}


def check_backend(backend: Backend, architectures: dict[str, Architecture] | None = None) -> list[str]:
    """Run every contract check on ``backend`` for each architecture it claims on the CPU.

    Parameters
    ----------
    backend
        A :class:`~evoprune.backends.Backend`.
    architectures
        Architectures by name (default: :func:`~evoprune.testing.contract_architectures`).
    """
    c = _Contract(backend)
    archs = {name: a for name, a in (architectures or contract_architectures()).items()
             if backend.claims((a.encoder, a.decoder), torch.device("cpu"), "l1") is None}
    if not archs:
        raise AssertionError(f"backend {backend.name!r} claims none of the contract architectures")
    passed = []
    for check, fn in CHECKS.items():
        for arch_name, arch in archs.items():
            c.check = f"{check} [{arch_name}]"
            fn(c, arch)
        passed.append(check)
    return passed
