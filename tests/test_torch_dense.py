"""The dense torch backend's hand-written step against autograd and torch.optim.Adam, beyond the contract."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from evoprune import activations
from evoprune.architecture import Architecture, HalfSpec
from evoprune.backends import Stack
from evoprune.backends.torch_dense import layout
from evoprune.genome import AutoencoderGenome
from evoprune.losses import LOSSES
from evoprune.pruning import mutPrune
from evoprune.training import minibatch_orders, train_halves

DEEP = Architecture(
    HalfSpec((40, 24, 16, 6), ("tanh", "leaky_relu", "identity")),
    HalfSpec((6, 16, 24, 40), ("elu", "gelu", "sigmoid")),
)
DEEP_TANH_OUT = Architecture(DEEP.encoder, HalfSpec((6, 16, 24, 40), ("relu", "identity", "tanh")))


def _orders(n_rows, n, seed=0):
    return minibatch_orders(n_rows, [np.random.default_rng([seed, k]) for k in range(n)])


def _train(inds, x, orders, batch_size=5, loss="l1"):
    return train_halves([i.encoder for i in inds], [i.decoder for i in inds], [i.lr for i in inds], x, orders,
                        batch_size, loss)


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
    specs = (small_arch.encoder, small_arch.decoder)
    st = Stack.from_halves([i.encoder for i in inds], [i.decoder for i in inds], [1e-3, 2e-3], transposed=layout(specs))
    assert [tuple(p.shape) for p in st.params[:2]] == [(2, 12, 40), (2, 1, 12)]  # wider dimension last
    assert tuple(st.params[-2].shape) == (2, 12, 40) and tuple(st.lr.shape) == (2,)
    for ind, (e, d) in zip(inds, st.members(), strict=True):
        for a, b in zip(ind.encoder.params + ind.decoder.params, e["params"] + d["params"], strict=True):
            assert torch.equal(a, b) and b.is_contiguous()
        assert all(m.dtype == torch.bool for m in e["masks"] + d["masks"])
        assert e["step"] == 0
    before = [p.clone() for p in inds[0].encoder.params]
    train_halves([i.encoder for i in inds], [i.decoder for i in inds], [1e-2, 1e-2], torch.rand(20, 40),
                 _orders(20, 2), batch_size=4)
    assert all(torch.equal(a, b) for a, b in zip(before, inds[0].encoder.params, strict=True))
    assert inds[0].encoder.step == 0 and inds[0].encoder.exp_avg is None
