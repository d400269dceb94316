"""The fused C++ CPU kernel (evoprune.backends.fused) against the dense torch backend, beyond the contract."""

import numpy as np
import pytest
import torch

from evoprune.architecture import Architecture, HalfSpec
from evoprune.backends import Stack, TrainOptions, fused, get_backend, stack_halves, stacked_forward
from evoprune.backends.torch_dense import layout
from evoprune.evaluation import WORST, neighbourhood_errors, reconstruction_errors
from evoprune.genome import AutoencoderGenome

SMALL = Architecture.paper(input_dim=40, hidden=12, latent=4)  # relu, relu | relu, sigmoid
ACTS = Architecture(
    HalfSpec((40, 24, 16, 6), ("tanh", "leaky_relu", "identity")),
    HalfSpec((6, 16, 24, 40), ("elu", "relu", "sigmoid")),
)
TANH_OUT = Architecture(ACTS.encoder, HalfSpec((6, 16, 24, 40), ("relu", "identity", "tanh")))


@pytest.fixture
def fused_on(monkeypatch):
    """The fused kernel enabled (tests/conftest.py turns it off for every other test); skip if it cannot build."""
    monkeypatch.setenv("EVOPRUNE_FUSED", "1")
    if fused.extension() is None:
        pytest.skip("the fused C++ extension could not be built here (no working C++ toolchain?)")


def _stack(arch, n, seed=0):
    """N members with different lrs, masks (about 30% pruned) and step counters, and nonzero Adam moments."""
    inds = [AutoencoderGenome(arch, rng=seed + s, lr=10 ** (-3.3 + 0.4 * s)) for s in range(n)]
    st = _from(inds)
    g = torch.Generator().manual_seed(seed)
    for m in st.masks:
        m.mul_(torch.rand(m.shape, generator=g) > 0.3)
    for ts in (st.params, st.exp_avg, st.exp_avg_sq):
        for t, m in zip(ts, st.masks, strict=True):
            t.mul_(m)
    for m, v, k in zip(st.exp_avg, st.exp_avg_sq, st.masks, strict=True):
        m.copy_(torch.randn(m.shape, generator=g) * 1e-3 * k)
        v.copy_(torch.rand(m.shape, generator=g) * 1e-5 * k)
    st.steps[0].copy_(torch.arange(n, dtype=st.steps[0].dtype) * 7)
    st.steps[1].copy_(torch.arange(n, dtype=st.steps[1].dtype) * 3 + 1)
    return st


def _from(inds):
    specs = (inds[0].encoder.spec, inds[0].decoder.spec)
    return Stack.from_halves([i.encoder for i in inds], [i.decoder for i in inds], [i.lr for i in inds],
                             transposed=layout(specs))


def _clone(st):
    c = [[t.clone() for t in ts] for ts in (st.params, st.masks, st.exp_avg, st.exp_avg_sq)]
    return Stack(st.specs, *c, st.lr.clone(), tuple(t.clone() for t in st.steps), st.transposed)


def _epoch(name, st, x, orders, batch_size, loss):
    return get_backend(name).train_epoch(st, x, orders, batch_size, TrainOptions(loss))


def _data(dim, rows=60, seed=0):
    return (torch.rand(rows, dim, generator=torch.Generator().manual_seed(seed)) > 0.5).float()


def _orders(n, rows, samples, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randperm(rows, generator=g)[:samples] for _ in range(n)])


def _compare(monkeypatch, arch, loss, n=3, batch_size=5, samples=52, epochs=2, atol=1e-5):
    x = _data(arch.encoder.sizes[0])
    ref = _stack(arch, n)
    mine = _clone(ref)
    orders = _orders(n, x.shape[0], samples)
    ref_losses = [_epoch("torch", ref, x, orders, batch_size, loss) for _ in range(epochs)]
    assert get_backend("fused").claims(mine.specs, torch.device("cpu"), loss) is None
    my_losses = [_epoch("fused", mine, x, orders, batch_size, loss) for _ in range(epochs)]
    for a, b in zip(ref_losses, my_losses, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    for what in ("params", "exp_avg", "exp_avg_sq"):
        for k, (a, b) in enumerate(zip(getattr(ref, what), getattr(mine, what), strict=True)):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=atol, msg=lambda m, w=what, k=k: f"{w}[{k}]: {m}")
    for ts in (mine.params, mine.exp_avg, mine.exp_avg_sq):
        for t, m in zip(ts, mine.masks, strict=True):
            assert torch.equal(t[~m], torch.zeros_like(t[~m]))  # pruned entries exactly zero
    torch.testing.assert_close(mine.steps[0], ref.steps[0])
    return mine


@pytest.mark.parametrize("loss", ["l1", "mse", "bce"])  # bce on a sigmoid output: the kernel's bce_logits
def test_small_paper_architecture_matches_eager(fused_on, monkeypatch, loss):
    _compare(monkeypatch, SMALL, loss)


@pytest.mark.parametrize("loss", ["l1", "bce"])
def test_paper_architecture_matches_eager(fused_on, monkeypatch, loss):
    _compare(monkeypatch, Architecture.paper(), loss, n=2, samples=25, epochs=2)


@pytest.mark.parametrize(("arch", "loss"), [(ACTS, "l1"), (ACTS, "mse"), (ACTS, "bce"), (TANH_OUT, "mse"),
                                            (TANH_OUT, "bce")])  # TANH_OUT + bce: plain clamped bce
def test_every_supported_activation_and_loss(fused_on, monkeypatch, arch, loss):
    _compare(monkeypatch, arch, loss)


@pytest.mark.parametrize("batch_size", [1, 7, 13])  # row blocks of 6 plus a remainder; one full minibatch
def test_minibatch_sizes(fused_on, monkeypatch, batch_size):
    _compare(monkeypatch, SMALL, "l1", batch_size=batch_size, samples=3 * batch_size + 1)


def test_unsupported_activation_is_not_claimed(fused_on):
    arch = Architecture(ACTS.encoder, HalfSpec((6, 16, 24, 40), ("gelu", "relu", "sigmoid")))
    why = get_backend("fused").claims((arch.encoder, arch.decoder), torch.device("cpu"), "l1")
    assert why == "the fused kernel lacks the activation(s) gelu"


def test_environment_switch(monkeypatch):
    monkeypatch.setenv("EVOPRUNE_FUSED", "0")
    assert not fused.fused_enabled()
    monkeypatch.setenv("EVOPRUNE_FUSED", "1")
    assert fused.fused_enabled()
    monkeypatch.delenv("EVOPRUNE_FUSED")
    assert fused.fused_enabled()
    monkeypatch.setenv("EVOPRUNE_FUSED", "sometimes")
    with pytest.raises(ValueError, match="EVOPRUNE_FUSED"):
        fused.fused_enabled()


def test_disabled_fused_is_not_claimed(monkeypatch):
    monkeypatch.setenv("EVOPRUNE_FUSED", "0")
    why = get_backend("fused").claims((SMALL.encoder, SMALL.decoder), torch.device("cpu"), "l1")
    assert "turned off (EVOPRUNE_FUSED=0)" in why


def test_bad_row_index_raises_before_any_update(fused_on):
    st = _stack(SMALL, 2)
    before = [p.clone() for p in st.params]
    orders = _orders(2, 60, 20)
    orders[1, 17] = 60
    with pytest.raises(RuntimeError, match="row index"):
        _epoch("fused", st, _data(40), orders, 5, "l1")
    assert all(torch.equal(a, b) for a, b in zip(before, st.params, strict=True))


def test_trained_members_round_trip(fused_on):
    """Training through the fused path still hands back halves with Adam state and steps."""
    inds = [AutoencoderGenome(SMALL, rng=s, lr=1e-3) for s in range(2)]
    st = _from(inds)
    x = _data(40)
    losses = [_epoch("fused", st, x, _orders(2, 60, 60, seed=e), 5, "l1") for e in range(5)]
    assert np.all(np.isfinite(torch.stack(losses).numpy()))
    assert (losses[-1] < losses[0]).all()
    (enc, dec), (enc1, dec1) = st.members()
    assert enc["step"] == dec1["step"] == 60


# --- evaluation: fused decoder + error sums (fused.decoder_error_sums) against the dense torch backend ---

IDENTITY_OUT = Architecture(SMALL.encoder, HalfSpec((4, 12, 40), ("relu", "identity")))


def _genomes(arch, n, seed=0, prune=0.3):
    """N genomes with about ``prune`` of every tensor pruned (masks False, params exactly zero)."""
    gs = [AutoencoderGenome(arch, rng=seed + s) for s in range(n)]
    g = torch.Generator().manual_seed(seed)
    for ind in gs:
        for half in (ind.encoder, ind.decoder):
            for i, p in enumerate(half.params):
                half.prune_entries(i, torch.nonzero(torch.rand(p.numel(), generator=g) < prune).view(-1))
    return gs


def _both(monkeypatch, fn):
    monkeypatch.setenv("EVOPRUNE_FUSED", "0")
    ref = fn()
    monkeypatch.setenv("EVOPRUNE_FUSED", "1")
    return ref, fn()


@pytest.mark.parametrize("metric", ["l1", "mse", "bce"])
@pytest.mark.parametrize("arch", [SMALL, ACTS, TANH_OUT, IDENTITY_OUT], ids=["small", "acts", "tanh", "identity"])
def test_reconstruction_errors_fused_matches_torch(fused_on, monkeypatch, arch, metric):
    gs = _genomes(arch, 3)
    x = _data(arch.input_dim, rows=47)
    ref, mine = _both(monkeypatch, lambda: reconstruction_errors(gs, x, metric, rows=20))  # chunks 20, 20, 7
    assert torch.isfinite(ref).all()
    torch.testing.assert_close(mine, ref, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("metric", ["l1", "mse", "bce"])
def test_reconstruction_errors_fused_paper_size(fused_on, monkeypatch, metric):
    gs = _genomes(Architecture.paper(), 2, prune=0.5)
    x = _data(1000, rows=203)
    ref, mine = _both(monkeypatch, lambda: reconstruction_errors(gs, x, metric, rows=100))
    torch.testing.assert_close(mine, ref, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("metric", ["l1", "mse", "bce"])
@pytest.mark.parametrize(("arch", "grid", "batch"), [(SMALL, "ring:10", 7), (TANH_OUT, "3x3:moore", 5),
                                                     (Architecture.paper(), "ring:10", 13)],
                         ids=["small-ring", "tanh-moore", "paper-ring"])
def test_neighbourhood_errors_fused_matches_torch(fused_on, monkeypatch, arch, grid, batch, metric):
    from evoprune.topology import Grid

    gr = Grid.from_string(grid)
    nb = torch.tensor(gr.neighbourhoods())
    pop = _genomes(arch, gr.n_cells, seed=5)
    x = _data(arch.input_dim, rows=gr.n_cells * batch, seed=1).view(gr.n_cells, batch, -1)
    ref, mine = _both(monkeypatch, lambda: neighbourhood_errors(pop, nb, x, metric))
    assert torch.isfinite(ref).all()
    torch.testing.assert_close(mine, ref, rtol=1e-5, atol=1e-7)


def test_decoder_error_sums_groups_candidates_and_index(fused_on):
    """(N, G, K) sums with targets picked by index, against a plain torch computation (incl. odd widths)."""
    arch = Architecture(HalfSpec((37, 9, 3), ("relu", "relu")), HalfSpec((3, 9, 5, 37), ("relu", "elu", "sigmoid")))
    gs = _genomes(arch, 2)
    spec = arch.decoder
    params, masks = stack_halves([g.decoder for g in gs])
    gen = torch.Generator().manual_seed(3)
    z = torch.randn(2, 3, 4, 11, 3, generator=gen)
    target = torch.rand(5, 11, 37, generator=gen)
    index = torch.tensor([[4, 0, 2], [1, 1, 3]])
    for metric in ("l1", "mse", "bce"):
        got = fused.decoder_error_sums(spec, params, masks, z, target, index, metric)
        out = stacked_forward(spec, params, masks, z.view(2, -1, 3)).view(2, 3, 4, 11, 37)
        t = target[index][:, :, None].expand_as(out)
        if metric == "bce":
            want = torch.nn.functional.binary_cross_entropy(out.clamp(1e-7, 1 - 1e-7), t, reduction="none")
        else:
            want = (out - t).abs() if metric == "l1" else (out - t) ** 2
        torch.testing.assert_close(got, want.double().sum((-1, -2)), rtol=1e-5, atol=1e-6)
    bad = [p.clone() for p in params]
    bad[2][1, 0, 0] = float("nan")
    got = fused.decoder_error_sums(spec, bad, masks, z, target, index, "l1")
    assert got[0].isfinite().all() and got[1].isnan().all()
    with pytest.raises(RuntimeError, match="index out of range"):
        fused.decoder_error_sums(spec, params, masks, z, target, torch.tensor([[5, 0, 0], [0, 0, 0]]), "l1")


def test_evaluation_nan_genome_is_worst_and_unsupported_falls_back(fused_on, monkeypatch):
    from evoprune.topology import Grid

    gs = _genomes(SMALL, 2)
    gs[1].decoder.params[0].view(-1)[gs[1].decoder.masks[0].view(-1).nonzero()[0]] = float("nan")
    x = _data(40, rows=10)
    ref, mine = _both(monkeypatch, lambda: reconstruction_errors(gs, x))
    torch.testing.assert_close(mine, ref)
    assert mine[1] == WORST and np.isfinite(float(mine[0]))
    gelu = Architecture(SMALL.encoder, HalfSpec((4, 12, 40), ("gelu", "sigmoid")))
    assert fused.decoder_error_sums(gelu.decoder, *stack_halves_of(gelu), torch.zeros(1, 1, 1, 2, 4),
                                    torch.zeros(1, 2, 40), torch.zeros(1, 1, dtype=torch.long), "l1") is None
    gr = Grid.from_string("ring:5")
    pop = _genomes(gelu, 5)
    xb = _data(40, rows=15).view(5, 3, 40)
    ref, mine = _both(monkeypatch, lambda: neighbourhood_errors(pop, torch.tensor(gr.neighbourhoods()), xb, "mse"))
    torch.testing.assert_close(mine, ref)


def stack_halves_of(arch):
    return stack_halves([AutoencoderGenome(arch, rng=0).decoder])


def test_evaluation_disabled_runs_no_kernel(monkeypatch):
    monkeypatch.setenv("EVOPRUNE_FUSED", "0")
    params, masks = stack_halves_of(SMALL)
    assert fused.decoder_error_sums(SMALL.decoder, params, masks, torch.zeros(1, 1, 1, 2, 4), torch.zeros(1, 2, 40),
                                    torch.zeros(1, 1, dtype=torch.long), "l1") is None


def test_kernel_codes_come_from_the_tables_and_every_switch_covers_them():
    import re
    from pathlib import Path

    from evoprune.activations import ACTIVATIONS, kernel_codes
    from evoprune.losses import LOSSES

    cpp = (Path(fused.__file__).with_name("fused_kernel.cpp")).read_text()
    assert not re.search(r"\b[AL]_[A-Z_]+\s*=\s*\d", cpp)  # no hand-written codes in the C++ source
    header = fused.kernel_source().split("\n", 3)[:3]
    for name, code in kernel_codes().items():
        assert f"A_{name.upper()} = {code}" in header[1]
    for name, loss in LOSSES.items():
        assert (f"L_{name.upper()} = {loss.kernel}" in header[2]) == (loss.kernel is not None)
    switches = []
    for m in re.finditer(r"switch \(act\)\s*\{", cpp):  # each switch's body, to its matching brace
        depth, i = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(cpp[i], 0)
            i += 1
        switches.append(cpp[m.end() : i])
    assert len(switches) == 4
    for name in kernel_codes().keys() - {"identity"}:  # identity is every switch's default
        assert all(f"case A_{name.upper()}:" in body for body in switches), name
    assert set(kernel_codes()) < set(ACTIVATIONS)  # gelu: torch path only
