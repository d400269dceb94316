"""The published VARIANCE's activation store (``store = "training"``) against the published code written again.

The published canonical training (``canonical_ae_training.py``) appends each forward pass's layer outputs to
the halves' ``stores`` (forward hooks, ``ann.py``) and empties them only after a pruning event
(``reset_ae_activations``); ``get_activation_variance`` then takes, per unit, the standard deviation over the
stored passes at each minibatch position, summed over the positions.
"""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from evoprune.architecture import Architecture
from evoprune.backends import select_backend
from evoprune.backends.fused import Fused
from evoprune.data import binary_clustering
from evoprune.genome import AutoencoderGenome
from evoprune.models.files import genome_from_tensors, genome_tensors
from evoprune.pruning import VariancePublished, mutPrune
from evoprune.runs import RunConfig, run
from evoprune.runs.common import base_toolbox, training_record
from evoprune.training import mutTrain
from evoprune.util.moments import Moments

ARCH = Architecture.paper(40, 12, 4)


@pytest.fixture
def data():
    return binary_clustering(n_clusters=4, dim=40, samples_per_cluster=25, seed=3)


def _published_store(ind, x: torch.Tensor, rng: int, epochs: int, batch: int = 5):
    """Train copies of ``ind``'s halves as ``nn.Sequential`` with ``torch.optim.Adam``, storing every pass as the
    published hooks do (in-place ReLUs: hidden layers after their ReLU, the output layer before its Sigmoid);
    per half, per layer, the summed standard deviations of ``get_activation_variance``."""
    enc, dec = ind.encoder.to_sequential(), ind.decoder.to_sequential()
    halves = [nn.Sequential(*[nn.ReLU(inplace=True) if isinstance(m, nn.ReLU) else m for m in s]) for s in (enc, dec)]
    stores: list[list[list[torch.Tensor]]] = [[], []]
    current: list[list[torch.Tensor]] = [[], []]
    for h, seq in enumerate(halves):
        for m in seq:
            if isinstance(m, nn.Linear):
                m.register_forward_hook(lambda mod, i, o, h=h: current[h].append(o.detach()))
    opt = torch.optim.Adam([p for s in halves for p in s.parameters()], lr=ind.lr)
    g = np.random.default_rng(rng)  # mutTrain's minibatch orders, one permutation per epoch
    for _ in range(epochs):
        order = torch.from_numpy(g.permutation(x.shape[0]))
        for s in range(0, x.shape[0] - batch + 1, batch):
            xb = x[order[s : s + batch]]
            current[0].clear(), current[1].clear()
            out = halves[1](halves[0](xb))
            for h in (0, 1):
                stores[h].append([t.clone() for t in current[h]])  # copy.deepcopy(self.store) after the pass
            opt.zero_grad()
            nn.functional.l1_loss(out, xb).backward()
            opt.step()
    return [[np.sum(np.std(np.stack([p[k].numpy() for p in passes]).astype(np.float64), axis=0), axis=0)
             for k in range(len(passes[0]))] for passes in stores]


def test_training_store_is_the_published_store_across_generations(data):
    ind = AutoencoderGenome(ARCH, rng=2, lr=1e-3)
    ref = _published_store(copy.deepcopy(ind), data.train, rng=5, epochs=3)
    g = np.random.default_rng(5)
    for _ in range(3):  # three generations of one epoch: the store spans them (no pruning in between)
        mutTrain(ind, data.train, rng=g, batch_size=5, record="since_pruning")
    for h, half in enumerate(ind.halves):
        assert half.activity[0].count == 3 * 100 // 5
        for k, m in enumerate(half.activity):
            np.testing.assert_allclose(m.std().sum(0).numpy(), ref[h][k], rtol=1e-5, atol=1e-6)


def test_pruning_reads_the_store_and_empties_it(data):
    ind = AutoencoderGenome(ARCH, rng=4, lr=1e-3)
    mutTrain(ind, data.train, rng=1, batch_size=5, epochs=2, record="since_pruning")
    spreads = [[m.std().sum(0) for m in h.activity] for h in ind.halves]
    before = [[p.clone() for p in h.params] for h in ind.halves]
    mutPrune(ind, VariancePublished(store="training"), rng=7, masks="transient")
    g = np.random.default_rng(7)
    for h, half in enumerate(ind.halves):
        assert half.activity is None  # reset_ae_activations after every pruning
        for k, p in enumerate(half.params):
            s = spreads[h][k // 2].numpy()
            t = np.repeat(s[:, None], p.shape[1], 1) if k % 2 == 0 else s  # prune_ann: weight, then bias
            t_p = 1.0 - np.abs(t)
            t_p = (t_p - t_p.min()) / (t_p.max() - t_p.min())
            keep = t_p > g.random(t_p.shape)  # compute_mask
            np.testing.assert_array_equal(p.numpy(), np.where(keep, before[h][k].numpy(), 0.0))
    with pytest.raises(ValueError, match="store='training'"):
        mutPrune(ind, VariancePublished(store="training"), rng=8)  # no pass recorded since


def test_generation_record_keeps_one_call_and_none_keeps_nothing(data):
    ind = AutoencoderGenome(ARCH, rng=1, lr=1e-3)
    mutTrain(ind, data.train, rng=0, batch_size=5, record="since_pruning")
    mutTrain(ind, data.train, rng=1, batch_size=5, record="generation")
    assert ind.encoder.activity[0].count == 20
    clone = copy.deepcopy(ind)
    assert clone.encoder.activity[0].count == 20 and clone.encoder.activity[0].mean is not ind.encoder.activity[0].mean
    mutTrain(ind, data.train, rng=2, batch_size=5)
    assert ind.encoder.activity is None
    with pytest.raises(ValueError, match="unknown record 'always'"):
        mutTrain(ind, data.train, rng=2, record="always")


def test_recording_runs_on_the_torch_path_and_says_so(monkeypatch):
    monkeypatch.setattr(Fused, "claims", lambda self, specs, device, loss: None)  # as where the kernel is built
    specs = (ARCH.encoder, ARCH.decoder)
    assert select_backend(specs, "cpu", "l1").name == "fused"
    choice = select_backend(specs, "cpu", "l1", record=True)
    assert choice.name == "torch" and "record" in choice.reason
    layered = Architecture.from_modules(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten()),
                                        nn.Sequential(nn.Linear(8, 16), nn.Sigmoid(), nn.Unflatten(1, (1, 4, 4))),
                                        input_shape=(1, 4, 4))
    with pytest.raises(ValueError, match="dense halves"):
        select_backend((layered.encoder, layered.decoder), "cpu", "l1", record=True)


def test_a_study_run_records_what_its_setting_stores():
    cfg = RunConfig(operator="variance_published", pruning={"store": "training"})
    assert training_record(cfg) == "since_pruning"
    assert training_record(RunConfig(setting="grid", operator="variance_published",
                                     pruning={"store": "training"})) == "generation"
    assert training_record(RunConfig(operator="variance_published")) == "none"
    data = binary_clustering(n_clusters=2, dim=40, samples_per_cluster=10, seed=0)
    assert base_toolbox(cfg, data).train.keywords["record"] == "since_pruning"
    with pytest.raises(ValueError, match="store"):
        RunConfig(operator="variance_published", pruning={"store": "epoch"})


def test_moments_merge_as_one_stream():
    x = torch.randn(9, 3, 4, dtype=torch.float64)
    a, b = Moments.empty((3, 4)), Moments.empty((3, 4))
    for t in x[:4]:
        a.add(t)
    for t in x[4:]:
        b.add(t)
    m = a.merged(b)
    assert m.count == 9
    torch.testing.assert_close(m.mean, x.mean(0))
    torch.testing.assert_close(m.std(), x.std(0, unbiased=False))
    with pytest.raises(ValueError, match="no observations"):
        Moments.empty((2,)).std()


def test_a_checkpoint_keeps_the_store(data):
    ind = AutoencoderGenome(ARCH, rng=1, lr=1e-3)
    mutTrain(ind, data.train, rng=0, batch_size=5, record="since_pruning")
    back = genome_from_tensors(ARCH, genome_tensors(ind, moments=True), lr=ind.lr, steps=(ind.encoder.step,) * 2)
    for a, b in zip(ind.halves, back.halves, strict=True):
        for m, n in zip(a.activity, b.activity, strict=True):
            assert m.count == n.count and torch.equal(m.mean, n.mean) and torch.equal(m.m2, n.m2)
    assert genome_from_tensors(ARCH, genome_tensors(ind), lr=ind.lr).encoder.activity is None


@pytest.mark.parametrize("setting", ["canonical", "grid"])
def test_runs_with_the_published_store_record_and_prune(setting):
    data = binary_clustering(n_clusters=2, dim=40, samples_per_cluster=20, seed=0)
    extra = {"grid": "ring:3:1", "pairing": "same_index"} if setting == "grid" else {"selection": "always"}
    cfg = RunConfig(setting=setting, operator="variance_published", schedule="fixed", p=1.0, generations=3,
                    batch_size=5, hidden=8, latent=3, masks="transient", prune_first=False,
                    pruning={"store": "training"}, report_metric="published", **extra)
    result = run(cfg, data, seed=1)
    assert result.backend == "torch" and np.isfinite(result.test_l1) and result.published["published_kept"] < 1
    assert all(h.activity is None for ind in result.population for h in ind.halves)  # pruned after training
