"""GenomeStack: hand-written stacked training against torch.optim.Adam and autograd references."""

import warnings

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from evoprune import activations, stack
from evoprune.architecture import Architecture, HalfSpec
from evoprune.genome import AutoencoderGenome
from evoprune.losses import LOSSES
from evoprune.pruning import mutPrune
from evoprune.stack import GenomeStack, compile_enabled
from evoprune.training import minibatch_orders, train_halves

DEEP = Architecture(
    HalfSpec((40, 24, 16, 6), ("tanh", "leaky_relu", "identity")),
    HalfSpec((6, 16, 24, 40), ("elu", "gelu", "sigmoid")),
)
DEEP_TANH_OUT = Architecture(DEEP.encoder, HalfSpec((6, 16, 24, 40), ("relu", "identity", "tanh")))


def _orders(n_rows, n, seed=0):
    return minibatch_orders(n_rows, [np.random.default_rng([seed, k]) for k in range(n)])


def _train(inds, x, orders, batch_size=5, loss="l1", device=None, compile=False, epochs=1):
    st = GenomeStack.from_halves([i.encoder for i in inds], [i.decoder for i in inds], [i.lr for i in inds], device)
    losses = [st.train_epoch(x, orders, batch_size, loss, compile=compile) for _ in range(epochs)]
    encs, decs = st.to_halves()
    return encs, decs, losses[-1]


def _reference(ind, x, order, batch_size, loss, steps=None):
    """Each member alone: its nn.Sequential export, autograd and torch.optim.Adam."""
    module = ind.to_module()
    opt = torch.optim.Adam(module.parameters(), lr=ind.lr)
    f = LOSSES[loss].fn
    for s in range(0, len(order) if steps is None else steps * batch_size, batch_size):
        xb = x[order[s : s + batch_size]]
        opt.zero_grad()
        f(module(xb)[None], xb[None]).sum().backward()
        opt.step()
    return module, opt


def _module_params(module):
    return [p.detach() for p in module.parameters()]


def test_single_member_matches_torch_adam(small_arch, small_data):
    ind = AutoencoderGenome(small_arch, rng=0, lr=3e-3)
    x = small_data.train
    orders = _orders(x.shape[0], 1)[:, :100]  # 20 minibatches of 5
    module, opt = _reference(ind, x, orders[0], 5, "l1")
    (enc,), (dec,), _ = _train([ind], x, orders)
    assert enc.step == dec.step == 20
    for p, mine, m1, m2 in zip(module.parameters(), enc.params + dec.params, enc.exp_avg + dec.exp_avg,
                               enc.exp_avg_sq + dec.exp_avg_sq, strict=True):
        assert torch.allclose(p.detach(), mine, rtol=1e-4, atol=1e-6)
        assert torch.allclose(opt.state[p]["exp_avg"], m1, rtol=1e-4, atol=1e-6)
        assert torch.allclose(opt.state[p]["exp_avg_sq"], m2, rtol=1e-4, atol=1e-9)


def test_stack_equals_members_trained_alone(small_arch, small_data):
    x = small_data.train
    inds = [AutoencoderGenome(small_arch, rng=s, lr=lr) for s, lr in enumerate((1e-3, 3e-3, 1e-2))]
    mutPrune(inds[1], "random", amount=0.4, rng=0)
    for k, ind in enumerate(inds[1:]):  # different Adam histories ...
        (ind.encoder,), (ind.decoder,), _ = train_halves([ind.encoder], [ind.decoder], [ind.lr], x,
                                                         _orders(100, 1, 9), 10 * (k + 1))
    inds[2].decoder = inds[0].decoder.clone()  # ... and an encoder and decoder with different step counts
    assert inds[2].encoder.step != inds[2].decoder.step
    orders = _orders(x.shape[0], 3, seed=1)
    encs, decs, losses = _train(inds, x, orders, batch_size=16)
    for k, ind in enumerate(inds):
        (e,), (d,), loss = _train([ind], x, orders[k : k + 1], batch_size=16)
        assert (e.step, d.step) == (encs[k].step, decs[k].step)
        for a, b in zip(e.params + e.exp_avg + d.params + d.exp_avg_sq, encs[k].params + encs[k].exp_avg
                        + decs[k].params + decs[k].exp_avg_sq, strict=True):
            assert torch.allclose(a, b, atol=1e-6)
        assert float(loss[0]) == pytest.approx(float(losses[k]), rel=1e-5)


def test_pruned_entries_and_moments_stay_exactly_zero(small_arch, small_data):
    inds = [AutoencoderGenome(small_arch, rng=s, lr=1e-2) for s in range(2)]
    for s, ind in enumerate(inds):
        mutPrune(ind, "random", amount=0.5, rng=s)
        ind.encoder.prune_neurons(0, [0, 3])
    inds[1].encoder.params[0][1, 1] = float("nan")  # an unpruned NaN poisons every gradient ...
    assert inds[1].encoder.masks[0][1, 1]
    masks = [[m.clone() for m in i.encoder.masks + i.decoder.masks] for i in inds]
    encs, decs, _ = _train(inds, small_data.train, _orders(100, 2), batch_size=8, epochs=3)
    for k in range(2):
        halves = (encs[k], decs[k])
        got = [m for h in halves for m in h.masks]
        assert all(torch.equal(a, b) for a, b in zip(got, masks[k], strict=True))
        for attr in ("params", "exp_avg", "exp_avg_sq"):  # ... but pruned entries stay 0
            for t, m in zip([t for h in halves for t in getattr(h, attr)], got, strict=True):
                assert torch.all(t[~m] == 0), attr
    assert encs[0].exp_avg_sq[0].abs().sum() > 0


@pytest.mark.parametrize(
    ("arch", "loss"),
    [
        (Architecture.paper(40, 12, 4), "l1"),
        (Architecture.paper(40, 12, 4), "mse"),
        (Architecture.paper(40, 12, 4), "bce"),  # from the logits of the final sigmoid
        (DEEP, "l1"),
        (DEEP, "bce"),
        (DEEP_TANH_OUT, "mse"),
        (DEEP_TANH_OUT, "bce"),  # clamped probabilities, no logits
    ],
)
def test_losses_and_architectures_match_autograd(arch, loss, small_data):
    x = small_data.train
    inds = [AutoencoderGenome(arch, rng=s, lr=lr) for s, lr in enumerate((2e-3, 5e-3))]
    orders = _orders(x.shape[0], 2)[:, :60]
    # one step: the first moment is 0.1 * gradient, compared tightly with autograd's gradient
    encs, decs, _ = _train(inds, x, orders[:, :6], batch_size=6, loss=loss)
    for k, ind in enumerate(inds):
        module, _ = _reference(ind, x, orders[k], 6, loss, steps=1)
        for p, m1 in zip(module.parameters(), encs[k].exp_avg + decs[k].exp_avg, strict=True):
            ref = 0.1 * p.grad  # summation order moves near-cancelling entries: atol scales with the tensor
            assert torch.allclose(ref, m1, rtol=1e-4, atol=1e-5 * float(ref.abs().max()) + 1e-10)
    # ten steps: Adam turns float noise in gradients near eps (1e-8) into a fraction of a step, hence atol ~ lr / 10
    encs, decs, losses = _train(inds, x, orders, batch_size=6, loss=loss)
    for k, ind in enumerate(inds):
        module, _ = _reference(ind, x, orders[k], 6, loss)
        for p, mine in zip(_module_params(module), encs[k].params + decs[k].params, strict=True):
            assert torch.allclose(p, mine, rtol=1e-4, atol=ind.lr / 10)
            assert (~torch.isclose(p, mine, rtol=1e-4, atol=1e-5)).sum() <= 2
    assert losses.shape == (2,) and losses.dtype == torch.float32 and torch.all(losses > 0)


def test_activation_without_hand_written_derivative_falls_back_to_autograd(monkeypatch, small_data):
    monkeypatch.setitem(activations.ACTIVATIONS, "softplus", activations.Activation(F.softplus, torch.nn.Softplus))
    arch = Architecture(HalfSpec((40, 12, 4), ("softplus", "tanh")), HalfSpec((4, 12, 40), ("softplus", "sigmoid")))
    ind = AutoencoderGenome(arch, rng=0, lr=3e-3)
    orders = _orders(100, 1)[:, :50]
    (enc,), (dec,), _ = _train([ind], small_data.train, orders, batch_size=10, loss="mse")
    module, _ = _reference(ind, small_data.train, orders[0], 10, "mse")
    for p, mine in zip(_module_params(module), enc.params + dec.params, strict=True):
        assert torch.allclose(p, mine, rtol=1e-4, atol=1e-6)


def test_halves_round_trip_and_inputs_untouched(small_arch):
    inds = [AutoencoderGenome(small_arch, rng=s) for s in range(2)]
    mutPrune(inds[0], "random", amount=0.3, rng=0)
    st = GenomeStack.from_halves([i.encoder for i in inds], [i.decoder for i in inds], [1e-3, 2e-3])
    assert [tuple(p.shape) for p in st.params[:2]] == [(2, 12, 40), (2, 1, 12)]  # wider dimension last
    assert tuple(st.params[-2].shape) == (2, 12, 40) and tuple(st.lr.shape) == (2, 1, 1)
    encs, decs = st.to_halves()
    for ind, e, d in zip(inds, encs, decs, strict=True):
        for a, b in zip(ind.encoder.params + ind.decoder.params, e.params + d.params, strict=True):
            assert torch.equal(a, b) and b.is_contiguous()
        assert all(m.dtype == torch.bool for m in e.masks + d.masks)
        assert e.exp_avg is not None and e.step == 0
    before = [p.clone() for p in inds[0].encoder.params]
    train_halves([i.encoder for i in inds], [i.decoder for i in inds], [1e-2, 1e-2], torch.rand(20, 40),
                 _orders(20, 2), batch_size=4)
    assert all(torch.equal(a, b) for a, b in zip(before, inds[0].encoder.params, strict=True))
    assert inds[0].encoder.step == 0 and inds[0].encoder.exp_avg is None


def test_compile_policy_from_environment(monkeypatch):
    monkeypatch.setenv("EVOPRUNE_COMPILE", "0")
    assert not compile_enabled("cpu")
    monkeypatch.setenv("EVOPRUNE_COMPILE", "1")
    assert compile_enabled("cpu")
    monkeypatch.setenv("EVOPRUNE_COMPILE", "sometimes")
    with pytest.raises(ValueError, match="EVOPRUNE_COMPILE"):
        compile_enabled("cpu")


def test_compiled_step_equals_eager(monkeypatch, small_arch, small_data):
    monkeypatch.delenv("EVOPRUNE_COMPILE")
    if not compile_enabled("cpu"):
        pytest.skip("no C++ compiler found: torch.compile cannot build CPU kernels here")
    x = small_data.train
    inds = [AutoencoderGenome(small_arch, rng=s, lr=lr) for s, lr in enumerate((1e-3, 3e-3))]
    mutPrune(inds[0], "random", amount=0.3, rng=0)
    orders = _orders(x.shape[0], 2)[:, :23]  # 4 compiled minibatches of 5, then an eager one of 3
    eager = _train(inds, x, orders, loss="bce")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compiled = _train(inds, x, orders, loss="bce", compile=True)
    if any("torch.compile failed" in str(w.message) for w in caught):
        pytest.skip(f"torch.compile failed here: {caught[0].message}")
    n_compiled = len(stack._COMPILED)
    again = _train(inds, x, orders, loss="bce", compile=True)  # cached: no second compile
    assert len(stack._COMPILED) == n_compiled
    for a, b, c in zip(eager[0] + eager[1], compiled[0] + compiled[1], again[0] + again[1], strict=True):
        for p, q, r in zip(a.params + a.exp_avg, b.params + b.exp_avg, c.params + c.exp_avg, strict=True):
            assert torch.allclose(p, q, rtol=1e-4, atol=1e-6) and torch.equal(q, r)
        assert all(torch.all(q[~m] == 0) for q, m in zip(b.params, b.masks, strict=True))
    assert torch.allclose(eager[2], compiled[2], rtol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (torch.cuda.is_available() is False)")
def test_cuda_training_matches_cpu(small_arch, small_data):
    inds = [AutoencoderGenome(small_arch, rng=s, lr=lr) for s, lr in enumerate((1e-3, 3e-3))]
    mutPrune(inds[1], "random", amount=0.3, rng=0)
    orders = _orders(100, 2)
    cpu = train_halves([i.encoder for i in inds], [i.decoder for i in inds], [i.lr for i in inds], small_data.train,
                       orders, batch_size=8, loss="bce")
    gpu = train_halves([i.encoder for i in inds], [i.decoder for i in inds], [i.lr for i in inds],
                       small_data.train.cuda(), orders, batch_size=8, loss="bce")
    assert gpu[2].device.type == "cpu"
    for a, b in zip(cpu[0] + cpu[1], gpu[0] + gpu[1], strict=True):
        assert a.step == b.step
        for p, q in zip(a.params + a.exp_avg_sq, b.params + b.exp_avg_sq, strict=True):
            assert q.device.type == "cpu" and torch.allclose(p, q, rtol=1e-4, atol=1e-5)
    assert torch.allclose(cpu[2], gpu[2], rtol=1e-4)
