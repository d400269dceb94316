"""The backend seam: one choice of backend with its reason, and the contract every backend passes."""

import pytest
import torch

from evoprune.architecture import Architecture
from evoprune.backends import BACKENDS, TrainOptions, get_backend, select_backend
from evoprune.backends.fused import extension
from evoprune.backends.torch_dense import TorchDense
from evoprune.testing import check_backend
from evoprune.testing.pruning import conv_architecture

PAPER = Architecture.paper(40, 12, 4)


def _specs(arch):
    return (arch.encoder, arch.decoder)


@pytest.mark.parametrize("name", [b.name for b in BACKENDS])
def test_every_backend_passes_the_contract(name, monkeypatch):
    if name == "fused":
        monkeypatch.setenv("EVOPRUNE_FUSED", "1")
        if extension() is None:
            pytest.skip("the fused kernel is unavailable here")
    assert len(check_backend(get_backend(name))) == 9


def test_selection_says_why(monkeypatch):
    monkeypatch.setenv("EVOPRUNE_FUSED", "0")
    choice = select_backend(_specs(PAPER), "cpu", "l1")
    assert choice.name == "torch" and "EVOPRUNE_FUSED=0" in choice.reason
    conv = select_backend(_specs(conv_architecture()), "cpu", "l1")
    assert conv.name == "torch-layered" and "layered half" in conv.reason
    monkeypatch.setenv("EVOPRUNE_FUSED", "1")
    if extension() is not None:
        choice = select_backend(_specs(PAPER), "cpu", "l1")
        assert choice.name == "fused" and choice.reason.split()[0] in ("loaded", "built")
        meta = select_backend(_specs(PAPER), "meta", "l1")
        assert meta.name == "torch" and "runs on the CPU, not meta" in meta.reason
    with pytest.raises(ValueError, match="unknown backend 'cuda-graphs'"):
        get_backend("cuda-graphs")


def test_train_options_are_checked():
    with pytest.raises(ValueError, match="optimizer_reset"):
        TrainOptions(optimizer_reset="epoch")
    with pytest.raises(ValueError, match="betas"):
        TrainOptions(betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="loss"):
        TrainOptions(loss="hinge")
    assert TrainOptions(betas=(0.5, 0.999), optimizer_reset="minibatch").adam_betas == (0.0, 0.0)


class _IgnoresBetas(TorchDense):
    name = "ignores-betas"

    def train_epoch(self, stack, data, orders, batch_size, options):
        return super().train_epoch(stack, data, orders, batch_size, TrainOptions(options.loss))


class _NeverResets(TorchDense):
    name = "never-resets"

    def train_epoch(self, stack, data, orders, batch_size, options):
        return super().train_epoch(stack, data, orders, batch_size, TrainOptions(options.loss, options.betas))


class _UnmaskedErrors(TorchDense):
    name = "unmasked-errors"

    def errors(self, specs, enc, dec, data, metric, rows):
        ones = (enc[0], [torch.ones_like(m) for m in enc[1]])
        return super().errors(specs, ones, dec, data, metric, rows) * 1.001


class _LeaksMoments(TorchDense):
    name = "leaks-moments"

    def train_epoch(self, stack, data, orders, batch_size, options):
        out = super().train_epoch(stack, data, orders, batch_size, options)
        stack.exp_avg[0].add_(1e-3)
        return out


@pytest.mark.parametrize(("broken", "check"), [
    (_IgnoresBetas(), "Adam's betas"),
    (_NeverResets(), "a fresh Adam every minibatch"),
    (_UnmaskedErrors(), "reconstruction errors"),
    (_LeaksMoments(), "an epoch of Adam equals"),
])
def test_the_contract_catches_broken_backends(broken, check):
    with pytest.raises(AssertionError) as e:
        check_backend(broken)
    assert str(e.value).startswith(f"backend {broken.name!r} failed check") and check in str(e.value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (torch.cuda.is_available() is False)")
def test_cuda_training_matches_cpu(small_arch, small_data):
    import numpy as np

    from evoprune.genome import AutoencoderGenome
    from evoprune.pruning import mutPrune
    from evoprune.training import minibatch_orders, train_halves

    inds = [AutoencoderGenome(small_arch, rng=s, lr=lr) for s, lr in enumerate((1e-3, 3e-3))]
    mutPrune(inds[1], "random", amount=0.3, rng=0)
    orders = minibatch_orders(100, [np.random.default_rng(k) for k in range(2)])
    args = ([i.encoder for i in inds], [i.decoder for i in inds], [i.lr for i in inds])
    cpu = train_halves(*args, small_data.train, orders, batch_size=8, loss="bce")
    gpu = train_halves(*args, small_data.train.cuda(), orders, batch_size=8, loss="bce")
    assert gpu[2].device.type == "cpu"
    for a, b in zip(cpu[0] + cpu[1], gpu[0] + gpu[1], strict=True):
        assert a.step == b.step
        for p, q in zip(a.params + a.exp_avg_sq, b.params + b.exp_avg_sq, strict=True):
            assert q.device.type == "cpu" and torch.allclose(p, q, rtol=1e-4, atol=1e-5)
    assert torch.allclose(cpu[2], gpu[2], rtol=1e-4)
