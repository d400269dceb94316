import copy
import pickle

import numpy as np
import pytest
import torch
from deap import creator, tools
from torch import nn
from torch.nn.utils import prune

from evoprune.architecture import Architecture, HalfSpec
from evoprune.genome import AutoencoderGenome
from evoprune.half import Half
from evoprune.pruning import mutPrune
from evoprune.training import mutTrain


def test_paper_network_has_61670_parameters():
    g = AutoencoderGenome(rng=0)
    assert g.arch.encoder.n_params == 30_340
    assert g.arch.decoder.n_params == 31_330
    assert g.n_params == g.n_kept == 61_670
    assert g.fraction_kept == 1.0
    assert [tuple(p.shape) for p in g.encoder.params] == [(30, 1000), (30,), (10, 30), (10,)]
    assert g.decoder.spec.activations == ("relu", "sigmoid")


def test_init_is_seeded_and_in_pytorch_bounds():
    a, b, c = AutoencoderGenome(rng=1), AutoencoderGenome(rng=1), AutoencoderGenome(rng=2)
    assert all(torch.equal(x, y) for x, y in zip(a.encoder.params, b.encoder.params, strict=True))
    assert not torch.equal(a.encoder.params[0], c.encoder.params[0])
    assert a.encoder.params[0].abs().max() <= 1 / np.sqrt(1000)
    assert a.decoder.params[0].abs().max() <= 1 / np.sqrt(10)


def test_bad_architectures_raise():
    with pytest.raises(ValueError, match="one activation per layer"):
        HalfSpec((4, 3, 2), ("relu",))
    with pytest.raises(ValueError, match="softplus"):
        HalfSpec((4, 2), ("softplus",))
    with pytest.raises(ValueError, match="decoder input width"):
        Architecture(HalfSpec((8, 4), ("relu",)), HalfSpec((3, 8), ("sigmoid",)))
    with pytest.raises(ValueError, match="lr"):
        AutoencoderGenome(rng=0, lr=-1.0)


def test_creator_individual_deepcopy_pickle_and_hall_of_fame(small_arch):
    ind = creator.Genome(small_arch, rng=0)
    mutPrune(ind, "random", amount=0.3, rng=1)
    ind.fitness.values = (0.25,)
    for other in (copy.deepcopy(ind), pickle.loads(pickle.dumps(ind))):
        assert type(other).__name__ == type(ind).__name__ and isinstance(other, AutoencoderGenome)
        assert other.fitness.values == (0.25,)
        assert other.n_kept == ind.n_kept
        for p, q, m, n in zip(ind.encoder.params, other.encoder.params, ind.encoder.masks, other.encoder.masks,
                              strict=True):
            assert torch.equal(p, q) and torch.equal(m, n)
            assert p.data_ptr() != q.data_ptr()  # independent storage
    clone = copy.deepcopy(ind)
    clone.encoder.params[0].add_(1.0)
    assert not torch.equal(clone.encoder.params[0], ind.encoder.params[0])
    hof = tools.HallOfFame(2)
    hof.update([ind])
    assert hof[0] is not ind and hof[0].n_kept == ind.n_kept
    # a pickle of a genome is about the size of its tensors, nothing more
    assert len(pickle.dumps(ind)) < 3 * 4 * ind.n_params + 8000


def test_masks_are_permanent_under_training(small_arch, small_data):
    ind = creator.Genome(small_arch, rng=0, lr=1e-2)
    mutTrain(ind, small_data.train, rng=0)  # create optimizer moments first
    mutPrune(ind, "random", amount=0.5, rng=2)
    masks = [m.clone() for h in ind.halves for m in h.masks]
    for epoch in range(5):
        mutTrain(ind, small_data.train, rng=epoch, batch_size=8)
        for m, p, orig in zip((m for h in ind.halves for m in h.masks), (p for h in ind.halves for p in h.params),
                              masks, strict=True):
            assert torch.equal(m, orig)
            assert torch.all(p[~m] == 0)
            assert torch.any(p[m] != 0)
    module = ind.to_module()
    assert all(torch.all(lin.weight[~m] == 0) for lin, m in
               zip([x for x in module.encoder if isinstance(x, nn.Linear)], ind.encoder.masks[::2], strict=True))


def test_counts_per_half_after_pruning(small_arch):
    ind = AutoencoderGenome(small_arch, rng=0)
    ind.encoder.prune_neurons(0, [0, 1])
    assert ind.encoder.n_kept == ind.encoder.n_params - 2 * (40 + 1)
    assert ind.decoder.n_kept == ind.decoder.n_params
    assert ind.sparsity["encoder"] == pytest.approx(82 / ind.encoder.n_params)
    assert ind.sparsity["decoder"] == 0
    assert ind.n_kept == ind.n_params - 82
    assert not bool(ind.encoder.alive_neurons(0)[0]) and bool(ind.encoder.alive_neurons(0)[2])


def test_to_module_matches_genome_and_prune_layout(small_arch, small_data):
    ind = AutoencoderGenome(small_arch, rng=0)
    mutPrune(ind, "random", amount=0.4, rng=1)
    x = small_data.test
    expect = ind.reconstruct(x)
    with torch.no_grad():
        assert torch.allclose(ind.to_module()(x), expect, atol=1e-6)
        pm = ind.to_module(prune_layout=True)
        assert torch.allclose(pm(x), expect, atol=1e-6)
    lin = pm.encoder[0]
    assert prune.is_pruned(pm)
    assert hasattr(lin, "weight_orig") and hasattr(lin, "weight_mask") and hasattr(lin, "bias_mask")
    assert torch.equal(lin.weight_mask.bool(), ind.encoder.masks[0])
    # round trip through modules keeps masks
    back = AutoencoderGenome.from_modules(pm.encoder, pm.decoder)
    assert back.n_kept == ind.n_kept
    assert torch.allclose(back.reconstruct(x), expect, atol=1e-6)
    prune.remove(lin, "weight")
    assert torch.all(lin.weight[~ind.encoder.masks[0]] == 0)


def test_user_architecture_from_modules():
    enc = nn.Sequential(nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3))
    dec = nn.Sequential(nn.Linear(3, 16), nn.Sigmoid())
    g = AutoencoderGenome.from_modules(enc, dec)
    assert g.arch.encoder.activations == ("tanh", "identity")
    assert g.n_params == sum(p.numel() for p in enc.parameters()) + sum(p.numel() for p in dec.parameters())
    x = torch.rand(5, 16)
    with torch.no_grad():
        assert torch.allclose(g.reconstruct(x), dec(enc(x)), atol=1e-6)
    with pytest.raises(ValueError, match="Conv1d"):
        AutoencoderGenome.from_modules(nn.Sequential(nn.Conv1d(1, 1, 3)), dec)


def test_halves_combine_across_genomes(small_arch):
    a, b = AutoencoderGenome(small_arch, rng=0), AutoencoderGenome(small_arch, rng=1)
    c = creator.Genome.from_halves(a.encoder.clone(), b.decoder.clone(), lr=5e-3)
    assert isinstance(c, creator.Genome) and not c.fitness.valid
    x = torch.rand(3, 40)
    assert torch.allclose(c.reconstruct(x), b.decoder.forward(a.encoder.forward(x)))
    other = Half.init(HalfSpec((40, 5), ("relu",)), 0)
    with pytest.raises(ValueError):
        AutoencoderGenome.from_halves(other, b.decoder)


def test_training_enforces_mask_invariant_on_hand_built_halves(small_arch, small_data):
    """A Half built by hand with non-zero weights under its mask is still trained as pruned."""
    ind = AutoencoderGenome(small_arch, rng=0)
    mask = ind.encoder.masks[0]
    mask[:, :10] = False  # pruned without zeroing the weights or touching the moments
    ind.encoder.exp_avg = [torch.ones_like(p) for p in ind.encoder.params]
    ind.encoder.exp_avg_sq = [torch.ones_like(p) for p in ind.encoder.params]
    reference = AutoencoderGenome(small_arch, rng=0)
    reference.encoder.prune_entries(0, torch.nonzero(~mask.view(-1)).view(-1))
    reference.encoder.exp_avg = [torch.ones_like(p) * m for p, m in
                                 zip(reference.encoder.params, reference.encoder.masks, strict=True)]
    reference.encoder.exp_avg_sq = [t.clone() for t in reference.encoder.exp_avg]
    for g in (ind, reference):
        mutTrain(g, small_data.train, rng=np.random.default_rng(1), batch_size=20)
    assert torch.all(ind.encoder.params[0][:, :10] == 0)
    for a, b in zip(ind.encoder.params + ind.decoder.params, reference.encoder.params + reference.decoder.params,
                    strict=True):
        assert torch.allclose(a, b, atol=1e-6)
