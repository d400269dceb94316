import math

import numpy as np
import pytest
import torch
from torch import nn

from evoprune.evaluation import evaluate, pairing_errors, reconstruction_error
from evoprune.genome import AutoencoderGenome
from evoprune.pruning import mutPrune
from evoprune.training import minibatch_orders, mutLearningRate, mutTrain, train_halves


def test_training_matches_torch_adam(small_arch, small_data):
    """One epoch of mutTrain == torch.optim.Adam on the exported module with the same batches."""
    ind = AutoencoderGenome(small_arch, rng=0, lr=3e-3)
    module = ind.to_module()
    opt = torch.optim.Adam(module.parameters(), lr=3e-3)
    x = small_data.train
    order = np.random.default_rng(7).permutation(x.shape[0])
    for s in range(0, x.shape[0], 16):
        xb = x[torch.from_numpy(order[s : s + 16])]
        opt.zero_grad()
        (module(xb) - xb).abs().mean().backward()
        opt.step()
    mutTrain(ind, x, rng=np.random.default_rng(7), batch_size=16, loss="l1")
    with torch.no_grad():
        assert torch.allclose(module(x), ind.reconstruct(x), atol=2e-5)


def test_adam_state_persists_across_epochs(small_arch, small_data):
    ind = AutoencoderGenome(small_arch, rng=0)
    mutTrain(ind, small_data.train, rng=0, batch_size=20)
    assert ind.encoder.step == 5 and ind.decoder.step == 5
    mutTrain(ind, small_data.train, rng=1, batch_size=20)
    assert ind.encoder.step == 10
    assert ind.encoder.exp_avg_sq[0].abs().sum() > 0


def test_batched_training_equals_training_each_alone(small_arch, small_data):
    inds = [AutoencoderGenome(small_arch, rng=s, lr=lr) for s, lr in zip(range(3), (1e-3, 3e-3, 1e-2), strict=True)]
    mutPrune(inds[1], "random", amount=0.3, rng=0)
    x = small_data.train
    orders = minibatch_orders(x.shape[0], [np.random.default_rng(s) for s in range(3)])
    encs, decs, losses = train_halves([i.encoder for i in inds], [i.decoder for i in inds],
                                      [i.lr for i in inds], x, orders, batch_size=16)
    for k, ind in enumerate(inds):
        (e,), (d,), loss = train_halves([ind.encoder], [ind.decoder], [ind.lr], x, orders[k:k + 1], batch_size=16)
        for a, b in zip(e.params + d.params, encs[k].params + decs[k].params, strict=True):
            assert torch.allclose(a, b, atol=1e-6)
        assert loss[0] == pytest.approx(float(losses[k]), rel=1e-5)
    assert torch.all(encs[1].params[0][~inds[1].encoder.masks[0]] == 0)


def test_training_reduces_loss_and_is_reproducible(small_arch, small_data):
    def run(seed):
        ind = AutoencoderGenome(small_arch, rng=0, lr=1e-2)
        for e in range(15):
            mutTrain(ind, small_data.train, rng=np.random.default_rng([seed, e]), batch_size=10, loss="bce")
        return ind

    start = reconstruction_error(AutoencoderGenome(small_arch, rng=0), small_data.test)
    a, b = run(1), run(1)
    assert reconstruction_error(a, small_data.test) < start - 0.15
    assert all(torch.equal(p, q) for p, q in zip(a.decoder.params, b.decoder.params, strict=True))


def test_bad_loss_and_batch_size(small_arch, small_data):
    ind = AutoencoderGenome(small_arch, rng=0)
    with pytest.raises(ValueError, match="hinge"):
        mutTrain(ind, small_data.train, loss="hinge")
    with pytest.raises(ValueError, match="batch_size"):
        mutTrain(ind, small_data.train, batch_size=0)


def test_nan_loss_gives_worst_fitness(small_arch, small_data):
    ind = AutoencoderGenome(small_arch, rng=0)
    ind.decoder.params[0][0, 0] = float("nan")
    assert evaluate(ind, small_data.train) == (math.inf,)
    mutTrain(ind, small_data.train)  # does not raise
    assert evaluate(ind, small_data.train) == (math.inf,)


def test_pairing_errors_matches_individual_evaluation(small_arch, small_data):
    inds = [AutoencoderGenome(small_arch, rng=s) for s in range(3)]
    mutPrune(inds[2], "random", amount=0.5, rng=0)
    m = pairing_errors([i.encoder for i in inds], [i.decoder for i in inds[:2]], small_data.test)
    assert m.shape == (3, 2)
    for i in range(3):
        for j in range(2):
            pair = AutoencoderGenome.from_halves(inds[i].encoder, inds[j].decoder)
            assert m[i, j].item() == pytest.approx(reconstruction_error(pair, small_data.test), rel=1e-5)


def test_learning_rate_mutation_log_scale_and_clipping(small_arch):
    ind = AutoencoderGenome(small_arch, rng=0, lr=1e-3)
    steps = []
    for s in range(400):
        before = ind.lr
        mutLearningRate(ind, sigma=0.2, low=1e-4, high=1e-2, rng=s)
        steps.append(math.log(ind.lr / before))
        assert 1e-4 <= ind.lr <= 1e-2
    inner = [st for st in steps if abs(st) > 0]
    assert 0.1 < np.std(inner) < 0.3
    with pytest.raises(ValueError, match="low"):
        mutLearningRate(ind, low=1e-2, high=1e-3)


def test_module_export_is_plain_module(small_arch):
    assert isinstance(AutoencoderGenome(small_arch, rng=0).to_module(), nn.Module)


def test_bad_data_is_rejected_with_clear_errors(small_arch, small_data):
    from evoprune.pruning import mutPrune

    ind = AutoencoderGenome(small_arch, rng=0)
    wide = torch.rand(10, 41)
    with pytest.raises(ValueError, match="expected 40 features, got 41"):
        mutTrain(ind, wide)
    with pytest.raises(ValueError, match="expected 40 features, got 41"):
        evaluate(ind, wide)
    with pytest.raises(ValueError, match="expected 40 features, got 41"):
        mutPrune(ind, "conjunctive", data=wide)
    bad = small_data.train.clone()
    bad[3, 5] = float("nan")
    with pytest.raises(ValueError, match="1 NaN"):
        mutTrain(ind, bad)
    with pytest.raises(ValueError, match="empty"):
        evaluate(ind, torch.zeros(0, 40))


def test_loss_schedule_switches_at_the_given_fraction_of_the_run():
    from evoprune.training import LossSchedule

    s = LossSchedule("bce>l1", switch=0.25)
    assert [s(t, 8) for t in range(1, 9)] == ["bce"] * 2 + ["l1"] * 6
    three = LossSchedule("mse>bce>l1", switch=(0.25, 0.5))
    assert [three(t, 4) for t in range(1, 5)] == ["mse", "bce", "l1", "l1"]
    assert LossSchedule("l1")(3, 10) == "l1"
    assert LossSchedule("bce>l1", switch=0.0)(1, 10) == "l1" and LossSchedule("bce>l1", switch=1.0)(10, 10) == "bce"


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"stages": "bce>huber"}, "unknown loss 'huber'"),
        ({"stages": "bce>l1", "switch": 1.5}, r"switch=1\.5"),
        ({"stages": "mse>bce>l1", "switch": 0.5}, "needs 2 switch"),
        ({"stages": "mse>bce>l1", "switch": (0.6, 0.2)}, "must not decrease"),
        ({"stages": 3}, "loss must be a string"),
    ],
)
def test_loss_schedule_rejects_bad_values(kw, match):
    from evoprune.training import LossSchedule

    with pytest.raises(ValueError, match=match):
        LossSchedule(**kw)


def test_mutTrain_refuses_a_loss_schedule_string_and_says_what_to_do(small_arch, small_data):
    with pytest.raises(ValueError, match="register a loss schedule"):
        mutTrain(AutoencoderGenome(small_arch, rng=0), small_data.train, rng=0, loss="bce>l1")


def test_l1_fine_tuning_after_bce_beats_either_loss_alone(small_arch, small_data):
    """BCE learns fast but optimises calibrated probabilities; a switch to L1 then lowers the L1 error."""
    from evoprune.training import LossSchedule

    schedule, epochs = LossSchedule("bce>l1", switch=0.6), 50
    results = {}
    for name in ("bce", "l1", "bce>l1"):
        ind, g = AutoencoderGenome(small_arch, rng=0, lr=1e-2), np.random.default_rng(0)
        for t in range(1, epochs + 1):
            mutTrain(ind, small_data.train, rng=g, batch_size=10, loss=schedule(t, epochs) if ">" in name else name)
        results[name] = reconstruction_error(ind, small_data.test)
    assert results["bce>l1"] < 0.8 * results["bce"], results
    assert results["bce>l1"] < results["l1"], results


def test_losses_are_declared_once_and_users_name_only_the_public_ones():
    import pytest

    from evoprune.losses import LOSSES, METRICS, Loss
    from evoprune.training import LossSchedule

    assert all(isinstance(loss, Loss) for loss in LOSSES.values())
    assert METRICS == ("l1", "mse", "bce") and not LOSSES["bce_logits"].public
    with pytest.raises(ValueError, match="unknown loss 'bce_logits'; valid: bce, l1, mse"):
        LossSchedule("bce_logits")
