"""Your own autoencoder: convolutional and other layered architectures, end to end."""

import copy
import pickle
import re

import numpy as np
import pytest
import torch
from deap import base, creator
from torch import nn
from torch.nn.utils import prune

from evoprune.algorithms import eaMuPlusLambda, eaToroidalGrid
from evoprune.architecture import Architecture, HalfSpec
from evoprune.evaluation import evaluate, reconstruction_error
from evoprune.genome import AutoencoderGenome
from evoprune.metrics import default_stats
from evoprune.models import export_model, load_model, save_model
from evoprune.pruning import mutPrune
from evoprune.schedules import Schedule
from evoprune.testing import check_architecture, check_pruning_method, contract_architectures, conv_architecture
from evoprune.training import mutLearningRate, mutTrain
from evoprune.util.operator import Batch

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]


def conv2d_modules():
    enc = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(128, 10))
    dec = nn.Sequential(nn.Linear(10, 128), nn.ReLU(), nn.Unflatten(1, (8, 4, 4)),
                        nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1), nn.Sigmoid())
    return enc, dec


def conv1d_modules():
    enc = nn.Sequential(nn.Conv1d(2, 4, 3, padding=1), nn.Tanh(), nn.AvgPool1d(2), nn.Conv1d(4, 6, 3, stride=2),
                        nn.ReLU(), nn.Flatten(), nn.Linear(18, 5))
    dec = nn.Sequential(nn.Linear(5, 32), nn.ELU(), nn.Unflatten(1, (4, 8)), nn.Upsample(scale_factor=2),
                        nn.ConvTranspose1d(4, 2, 3, stride=1, padding=1), nn.Sigmoid())
    return enc, dec


def conv2d_arch():
    return Architecture.from_modules(*conv2d_modules(), input_shape=(1, 8, 8))


def conv1d_arch():
    return Architecture.from_modules(*conv1d_modules(), input_shape=(2, 16))


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    return torch.tensor(load_digits().data[:120] / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)


ARCHS = {
    "paper": lambda: Architecture.paper(input_dim=24, hidden=10, latent=4),
    "3 hidden layers": lambda: contract_architectures()["3 hidden layers"],
    "conv2d": conv2d_arch,
    "conv1d": conv1d_arch,
    "conv2d pool/upsample": conv_architecture,
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", list(ARCHS))
def test_check_architecture(name, device):
    arch = ARCHS[name]()
    data = torch.rand(48, *arch.input_shape, generator=torch.Generator().manual_seed(0)).to(device)
    assert len(check_architecture(arch, data, name=name)) == 5


def test_architecture_shapes_and_from_modules():
    arch = conv2d_arch()
    assert arch.input_shape == (1, 8, 8) and arch.latent_shape == (10,) and arch.input_dim == 64
    assert not arch.encoder.dense and arch.encoder.shapes == [(8, 1, 3, 3), (8,), (10, 128), (10,)]
    assert arch.decoder.shapes[2:] == [(8, 1, 4, 4), (1,)]  # ConvTranspose: (in, out, k, k)
    assert arch.n_params == sum(p.numel() for m in conv2d_modules() for p in m.parameters())
    # a Linear + activation stack still gives a dense half (the fast paths)
    dense = Architecture.from_modules(nn.Sequential(nn.Linear(6, 3), nn.ReLU()), nn.Sequential(nn.Linear(3, 6)))
    assert dense.encoder == HalfSpec((6, 3), ("relu",)) and dense.encoder.dense


@pytest.mark.parametrize("module, where", [
    (nn.LSTM(4, 4), "encoder[1]: unsupported module LSTM"),
    (nn.Conv2d(8, 8, 3, bias=False), "encoder[1]: Conv2d without bias"),
    (nn.Conv2d(8, 8, 3, groups=2), "encoder[1]: Conv2d with groups=2"),
    (nn.Conv2d(8, 8, 3, dilation=2), "dilation"),
    (nn.Conv2d(8, 8, 3, padding="same"), "padding"),
    (nn.Upsample(scale_factor=2, mode="bilinear"), "nearest"),
])
def test_unsupported_modules_are_named_with_their_position(module, where):
    enc = nn.Sequential(nn.Conv2d(1, 8, 3), module)
    with pytest.raises(ValueError, match=re.escape(where)):
        Architecture.from_modules(enc, conv2d_modules()[1], input_shape=(1, 8, 8))


def test_shape_mismatches_name_both_shapes():
    enc, dec = conv2d_modules()
    with pytest.raises(ValueError, match=r"encoder output shape \(10,\) != decoder input shape \(12,\)"):
        Architecture.from_modules(enc, nn.Sequential(nn.Linear(12, 64)), input_shape=(1, 8, 8))
    with pytest.raises(ValueError, match=r"decoder output shape \(1, 8, 8\) != encoder input shape \(1, 16, 16\)"):
        Architecture.from_modules(nn.Sequential(nn.Conv2d(1, 8, 3, 4, 1), nn.Flatten(), nn.Linear(128, 10)), dec,
                                  input_shape=(1, 16, 16))
    assert Architecture.from_modules(enc, dec).input_shape == (1, 8, 8)  # what the decoder outputs
    unflat = nn.Sequential(nn.Unflatten(1, (10, 1, 1)), nn.ConvTranspose2d(10, 1, 8), nn.Sigmoid())
    with pytest.raises(ValueError, match="give input_shape"):
        Architecture.from_modules(enc, unflat)
    assert Architecture.from_modules(enc, unflat, input_shape=(1, 8, 8)).latent_shape == (10,)
    with pytest.raises(ValueError, match=r"encoder: Linear\(128, 10\) needs input shape \(128,\), got \(200,\)"):
        Architecture.from_modules(enc, dec, input_shape=(1, 10, 10))


def test_genome_from_modules_keeps_weights_and_prune_masks():
    torch.manual_seed(0)
    enc, dec = conv2d_modules()
    prune.random_unstructured(enc[0], "weight", 0.3)
    prune.l1_unstructured(dec[3], "bias", 0)
    prune.ln_structured(dec[3], "weight", 0.5, n=1, dim=1)
    g = AutoencoderGenome.from_modules(enc, dec, input_shape=(1, 8, 8))
    assert torch.equal(g.encoder.masks[0], enc[0].weight_mask.bool())
    assert torch.equal(g.decoder.masks[2], dec[3].weight_mask.bool())
    assert g.n_kept == g.n_params - int((enc[0].weight_mask == 0).sum()) - int((dec[3].weight_mask == 0).sum())
    x = torch.rand(7, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(g(x), dec(enc(x)), atol=1e-6)
        assert g(x).shape == x.shape
    assert len(pickle.dumps(g)) < 40_000 and copy.deepcopy(g).n_kept == g.n_kept


def test_default_init_follows_pytorch_bounds():
    g = AutoencoderGenome(conv2d_arch(), rng=0)
    w, b = g.encoder.params[:2]
    assert w.abs().max() <= 1 / 3 and b.abs().max() <= 1 / 3 and w.abs().max() > 0.3  # fan_in 1*3*3
    wt = g.decoder.params[2]
    assert wt.abs().max() <= 1 / 4 and wt.abs().max() > 0.2  # ConvTranspose: fan_in = out * k * k = 16
    again = AutoencoderGenome(conv2d_arch(), rng=0)
    assert all(torch.equal(p, q) for p, q in zip(g.encoder.params, again.encoder.params, strict=True))


def test_training_matches_torch_adam(digits):
    g = AutoencoderGenome(conv2d_arch(), rng=0, lr=3e-3)
    g.encoder.prune_neurons(0, [2])
    mod = g.to_module(prune_layout=True)
    opt = torch.optim.Adam([p for n, p in mod.named_parameters()], lr=3e-3)
    order = np.random.default_rng(0).permutation(len(digits))
    for s in range(0, len(digits), 16):
        x = digits[order[s : s + 16]]
        opt.zero_grad()
        (mod(x) - x).abs().mean().backward()
        opt.step()
    mutTrain(g, digits, rng=0, batch_size=16)
    with torch.no_grad():
        assert torch.allclose(g(digits), mod(digits), atol=1e-5)
    assert torch.all(g.encoder.params[0][2] == 0) and torch.all(g.encoder.exp_avg[0][2] == 0)


def test_channel_pruning_uses_the_output_channel_axis():
    g = AutoencoderGenome(conv2d_arch(), rng=0)
    g.decoder.prune_neurons(1, [0])  # ConvTranspose2d(8, 1): its only output channel is weight axis 1
    assert not g.decoder.masks[2][:, 0].any() and not g.decoder.masks[3][0]
    g.encoder.prune_neurons(0, [1, 5])
    assert g.encoder.alive_neurons(0).tolist() == [True, False, True, True, True, False, True, True]
    assert not g.encoder.masks[0][[1, 5]].any() and g.encoder.masks[0][[0, 2]].all()


def test_conjunctive_prunes_whole_channels(digits):
    g = AutoencoderGenome(conv2d_arch(), rng=1)
    mutTrain(g, digits, rng=0, batch_size=16)
    with torch.no_grad():
        g.encoder.params[1][3] = -100.0  # channel 3 never fires after its ReLU
    mutPrune(g, "conjunctive", data=digits, rng=0)
    assert not g.encoder.alive_neurons(0)[3]
    w = g.encoder.masks[0].reshape(8, -1)
    assert all(bool(row.all()) or not bool(row.any()) for row in w)  # whole channels only


@pytest.mark.parametrize("name", ["random", "magnitude", "variance", "conjunctive"])
def test_builtin_methods_pass_the_pruning_contract_on_conv(name):
    from evoprune.pruning import METHODS

    check_pruning_method(METHODS[name], architectures={"conv": conv_architecture()})
    check_pruning_method(METHODS[name], architectures={"conv1d": conv1d_arch()},
                         data=torch.rand(60, 2, 16, generator=torch.Generator().manual_seed(2)))


def test_wrong_data_shape_names_both_shapes(digits):
    g = AutoencoderGenome(conv2d_arch(), rng=0)
    with pytest.raises(ValueError, match=r"shape \(120, 1, 4, 16\), but the architecture's input is \(1, 8, 8\)"):
        mutTrain(g, digits.reshape(-1, 1, 4, 16), rng=0)
    with pytest.raises(ValueError, match=r"\(1, 8, 8\)"):
        evaluate(g, torch.rand(5, 65))
    assert evaluate(g, digits) == evaluate(g, digits.reshape(-1, 64))  # flat rows are accepted too


def test_model_file_load_and_export_into_the_users_module(tmp_path, digits):
    g = AutoencoderGenome(conv2d_arch(), rng=0)
    mutTrain(g, digits, rng=0)
    mutPrune(g, "random", amount=0.3, rng=0)
    mutPrune(g, "conjunctive", data=digits, rng=1)
    save_model(tmp_path / "model.safetensors", g, run_id="r")
    back = load_model(tmp_path)
    assert back.arch == g.arch and back.n_kept == g.n_kept
    assert torch.equal(back(digits), g(digits))
    for dense, suffix in ((True, ".safetensors"), (True, ".pt"), (False, ".pt")):
        out = export_model(tmp_path / "model.safetensors", tmp_path / f"e{int(dense)}{suffix}", dense=dense)
        if suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(out)
        else:
            state = torch.load(out, weights_only=True)
        enc, dec = conv2d_modules()  # the user's own modules
        if not dense:
            for m in (enc[0], enc[3], dec[0], dec[3]):
                prune.identity(m, "weight")
                prune.identity(m, "bias")
        user = nn.Module()
        user.encoder, user.decoder = enc, dec
        user.load_state_dict(state)
        with torch.no_grad():
            assert torch.allclose(user.decoder(user.encoder(digits)), g(digits), atol=1e-6)


def _toolbox(data):
    tb = base.Toolbox()
    tb.register("train", mutTrain, data=data, batch_size=20, loss="bce")
    tb.register("mutate", mutLearningRate, sigma=0.1)
    tb.register("evaluate", evaluate, data=data)
    tb.register("prune", mutPrune, method="variance", amount=0.1, data=data)
    tb.register("schedule", Schedule("fixed", 1.0))
    return tb


def test_canonical_algorithm_on_a_conv_autoencoder(digits):
    pop = [creator.Genome(conv2d_arch(), rng=i, lr=5e-3) for i in range(2)]
    pop, log = eaMuPlusLambda(pop, _toolbox(digits), 2, 2, 3, stats=default_stats(digits), rng=0)
    assert log.select("gen") == [0, 1, 2, 3]
    assert pop[0].fraction_kept < 1
    assert log.chapters["test"].select("min")[-1] < log.chapters["test"].select("min")[0]


def test_grid_algorithm_pairs_conv_encoders_and_decoders(digits):
    pop = [creator.Genome(conv2d_arch(), rng=i, lr=5e-3) for i in range(4)]
    pop, log = eaToroidalGrid(pop, _toolbox(digits), "ring:4", 2, stats=default_stats(digits), rng=0,
                              data=digits, test_data=digits, eval_size=16)
    assert len(pop) == 4 and all(ind.fitness.valid for ind in pop)
    assert np.isfinite(reconstruction_error(pop[0], digits))


def test_checkpoint_round_trip_of_conv_genomes(tmp_path, digits):
    from deap import tools

    from evoprune.study.checkpoint import read_checkpoint, save_checkpoint

    pop = [creator.Genome(conv2d_arch(), rng=i, lr=5e-3) for i in range(2)]
    mutTrain(Batch(pop, [np.random.default_rng(i) for i in range(2)]), digits)
    mutPrune(pop[1], "conjunctive", data=digits, rng=0)
    path = save_checkpoint(tmp_path, "fp", 3, pop, tools.Logbook(), np.random.default_rng(0))
    back = read_checkpoint(path, "fp").population
    for a, b in zip(pop, back, strict=True):
        assert b.arch == a.arch and b.encoder.step == a.encoder.step
        assert all(torch.equal(x, y) for ha, hb in zip(a.halves, b.halves, strict=True)
                   for x, y in zip(ha.params + ha.masks + ha.exp_avg, hb.params + hb.masks + hb.exp_avg, strict=True))


def test_cli_export_of_a_conv_model(tmp_path, digits):
    from evoprune.cli import main

    g = AutoencoderGenome(conv2d_arch(), rng=0)
    save_model(tmp_path / "model.safetensors", g)
    main(["export", str(tmp_path), "--out", str(tmp_path / "out.pt"), "--dense"])
    enc, dec = conv2d_modules()
    user = nn.Module()
    user.encoder, user.decoder = enc, dec
    user.load_state_dict(torch.load(tmp_path / "out.pt", weights_only=True))
    with torch.no_grad():
        assert torch.allclose(user.decoder(user.encoder(digits)), g(digits), atol=1e-6)


def test_a_dense_half_in_a_layered_architecture(digits):
    conv = conv2d_arch()
    mixed = Architecture(HalfSpec((64, 16, 10), ("relu", "relu")), conv.decoder)
    assert mixed.encoder.dense and not mixed.decoder.dense
    g = AutoencoderGenome(mixed, rng=0)
    x = digits.reshape(-1, 64)
    z = g.encoder.forward(x)
    assert torch.allclose(g.encoder.spec.stacked_forward([p[None] for p in g.encoder.params], None, x[None])[0], z,
                          atol=1e-6)
    check_architecture(mixed, digits.reshape(-1, 64)[:48], name="dense encoder, conv decoder")


class _BrokenTrain:
    """mutTrain with one fault injected: ``stack`` (a stacked member drifts) or ``mask`` (a pruned weight regrows)."""

    def __init__(self, fault: str) -> None:
        self.fault = fault

    def __call__(self, g, data, rng=None, batch_size=32, loss="l1", epochs=1):
        kw = {} if isinstance(g, Batch) else {"rng": rng}
        out = mutTrain(g, data, batch_size=batch_size, loss=loss, epochs=epochs, **kw)
        if isinstance(g, Batch):
            if self.fault == "stack":
                g.members[1].decoder.params[0].add_(1e-3)
        elif self.fault == "mask":
            w, m = g.encoder.params[0], g.encoder.masks[0]
            w[~m] = 0.5
        return out


def _drifting_genome_from_tensors(arch, tensors, lr):
    from evoprune.models.files import genome_from_tensors

    g = genome_from_tensors(arch, tensors, lr)
    g.decoder.params[-1].add_(1e-3)
    return g


@pytest.mark.parametrize("check, patch, needle", [
    ("stacked training and evaluation = one genome at a time", ("mutTrain", _BrokenTrain("stack")),
     "stacked training differs"),
    ("masks and pruned moments stay zero through training", ("mutTrain", _BrokenTrain("mask")),
     "a pruned weight is not 0"),
    ("every registered pruning method works", ("mutPrune", lambda g, *a, **k: (g,)), "pruned nothing"),
    ("export to modules, model tensors, pickle round-trip", ("genome_from_tensors", _drifting_genome_from_tensors),
     "the model file's tensors give another genome"),
    ("data of the wrong shape is refused by name", ("reconstruction_error", lambda g, x: 0.0),
     "evaluation accepted data of shape"),
])
def test_each_architecture_check_can_fail(monkeypatch, check, patch, needle):
    import evoprune.testing.architecture as contract

    monkeypatch.setattr(contract, *patch)
    c = contract._Check(conv_architecture(), contract.architecture_data(conv_architecture()), "broken")
    c.check = check
    with pytest.raises(AssertionError, match=f"failed check {re.escape(repr(check))}: .*{re.escape(needle)}"):
        contract.CHECKS[check](c)
