import numpy as np
import pytest
import torch

from evoprune.architecture import Architecture, HalfSpec
from evoprune.genome import AutoencoderGenome
from evoprune.pruning import (
    conjunctive_candidates,
    mutPrune,
    neuron_variance,
)


def _alive_counts(ind):
    return [int(m.sum()) for h in ind.halves for m in h.masks]


def test_random_prunes_amount_of_unpruned_entries_per_tensor(small_arch):
    ind = AutoencoderGenome(small_arch, rng=0)
    before = _alive_counts(ind)
    mutPrune(ind, "random", amount=0.2, rng=1)
    mid = _alive_counts(ind)
    assert mid == [b - round(0.2 * b) for b in before]
    mutPrune(ind, "random", amount=0.2, rng=2)  # counts only the still-unpruned entries
    assert _alive_counts(ind) == [m - round(0.2 * m) for m in mid]
    # zero weights where masked, and the choice depends on the rng
    assert all(torch.all(p[~m] == 0) for h in ind.halves for p, m in zip(h.params, h.masks, strict=True))
    a, b = AutoencoderGenome(small_arch, rng=0), AutoencoderGenome(small_arch, rng=0)
    mutPrune(a, "random", amount=0.2, rng=5)
    mutPrune(b, "random", amount=0.2, rng=6)
    assert not torch.equal(a.encoder.masks[0], b.encoder.masks[0])


def test_random_is_uniform_over_entries(small_arch):
    hits = torch.zeros(12, 40)
    for s in range(300):
        ind = AutoencoderGenome(small_arch, rng=0)
        mutPrune(ind, "random", amount=0.1, rng=s)
        hits += (~ind.encoder.masks[0]).float()
    rate = hits / 300
    assert abs(rate.mean().item() - 0.1) < 0.002
    assert rate.std().item() < 0.035  # binomial sd is sqrt(.1*.9/300) = 0.017


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan")])
def test_amount_out_of_range_raises(small_arch, bad):
    ind = AutoencoderGenome(small_arch, rng=0)
    for method in ("random", "magnitude"):
        with pytest.raises(ValueError, match="amount"):
            mutPrune(ind, method, amount=bad)


def test_magnitude_prunes_smallest_weights_globally(small_arch):
    ind = AutoencoderGenome(small_arch, rng=0)
    weights = torch.cat([h.params[k].view(-1) for h in ind.halves for k in (0, 2)])
    n = weights.numel()
    mutPrune(ind, "magnitude", amount=0.25)
    pruned = torch.cat([~h.masks[k].view(-1) for h in ind.halves for k in (0, 2)])
    assert int(pruned.sum()) == round(0.25 * n)
    cutoff = weights.abs().sort().values[round(0.25 * n) - 1]
    assert torch.all(weights.abs()[pruned] <= cutoff)
    assert torch.all(weights.abs()[~pruned] >= cutoff)
    assert all(bool(h.masks[k].all()) for h in ind.halves for k in (1, 3))  # biases untouched
    # second call ranks only the survivors
    mutPrune(ind, "magnitude", amount=0.25)
    assert int(torch.cat([~h.masks[k].view(-1) for h in ind.halves for k in (0, 2)]).sum()) == \
        round(0.25 * n) + round(0.25 * (n - round(0.25 * n)))


def test_magnitude_layer_scope(small_arch):
    ind = AutoencoderGenome(small_arch, rng=0)
    w = ind.encoder.params[0].clone()
    mutPrune(ind, "magnitude", amount=0.5, scope="layer")
    m = ind.encoder.masks[0]
    assert int((~m).sum()) == 240
    assert w.abs()[~m].max() <= w.abs()[m].min()
    with pytest.raises(ValueError, match="scope"):
        mutPrune(ind, "magnitude", amount=0.1, scope="row")


def _planted():
    """A 1-layer encoder 4→3: neuron 0 dead (always 0), neuron 1 lively, neuron 2 constant 1."""
    arch = Architecture(HalfSpec((4, 3), ("relu",)), HalfSpec((3, 4), ("sigmoid",)))
    ind = AutoencoderGenome(arch, rng=0)
    w, b = ind.encoder.params
    w.zero_()
    b.zero_()
    w[0] = -1.0  # inputs are >= 0: relu(-sum) = 0
    w[1] = torch.tensor([3.0, -3.0, 2.0, -2.0])
    b[2] = 1.0  # constant output, zero variance but active
    data = torch.rand(200, 4, generator=torch.Generator().manual_seed(0))
    return ind, data


def test_neuron_variance_normalised():
    v = neuron_variance(torch.tensor([[0.0, 1.0, 5.0], [0.0, 3.0, 5.0]]))
    assert torch.allclose(v, torch.tensor([0.0, 1.0, 0.0]))


def test_variance_prefers_low_variance_neurons_and_honours_amount():
    counts = torch.zeros(3)
    for s in range(200):
        ind, data = _planted()
        mutPrune(ind, "variance", data=data, amount=0.25, rng=s)
        m = ind.encoder.masks[0]
        assert int((~m).sum()) == 3  # round(0.25 * 12)
        counts += (~m).sum(dim=1).float()
    # lively neuron 1 has normalised variance 1 → weight `floor`; it should almost never be chosen
    assert counts[1] < 0.02 * counts.sum()
    assert counts[0] > 0.3 * counts.sum() and counts[2] > 0.3 * counts.sum()


def test_variance_counts_only_unpruned():
    ind, data = _planted()
    ind.encoder.prune_entries(0, [0, 1, 2, 3])
    mutPrune(ind, "variance", data=data, amount=0.5, rng=0)
    assert int((~ind.encoder.masks[0]).sum()) == 4 + 4


def test_conjunctive_prunes_dead_neuron_not_lively_one():
    ind, data = _planted()
    mutPrune(ind, "conjunctive", data=data, n_cases=50, rng=0)
    alive = ind.encoder.alive_neurons(0)
    assert alive.tolist() == [False, True, True]
    assert torch.all(ind.encoder.params[0][0] == 0) and ind.encoder.params[1][0] == 0


def test_conjunctive_candidates_lexicase_order():
    acts = torch.tensor([[0.0, 0.0, 0.05, 1.0], [0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0]])
    alive = torch.ones(4, dtype=torch.bool)
    # case 0 flags {0, 1, 2}; case 1 leaves {0, 2}; case 2 leaves {2}: stop with one candidate
    assert conjunctive_candidates(acts, alive, 0.1).tolist() == [2]
    # already-pruned neurons are never candidates, and a layer is never emptied
    assert conjunctive_candidates(acts, torch.tensor([True, False, False, False]), 0.1).tolist() == []
    assert conjunctive_candidates(torch.zeros(3, 4), alive, 0.1).numel() == 3


def test_conjunctive_threshold_and_cases_validation(small_arch, small_data):
    ind = AutoencoderGenome(small_arch, rng=0)
    with pytest.raises(ValueError, match="threshold"):
        mutPrune(ind, "conjunctive", data=small_data.train, threshold=1.5)
    with pytest.raises(ValueError, match="n_cases"):
        mutPrune(ind, "conjunctive", data=small_data.train, n_cases=0)
    with pytest.raises(ValueError, match="shape"):
        mutPrune(ind, "variance", data=torch.zeros(0, 40))
    for method in ("conjunctive", "variance", "random", "magnitude"):
        kw = {"data": small_data.train} if method in ("conjunctive", "variance") else {}
        out = mutPrune(ind, method, rng=np.random.default_rng(0), **kw)
        assert isinstance(out, tuple) and out[0] is ind
