"""Compaction (evoprune.models.compaction): dead units removed, constants folded, sparse layouts, export."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from evoprune.architecture import Architecture, HalfSpec
from evoprune.cli import main
from evoprune.genome import AutoencoderGenome
from evoprune.models import load_model, save_model
from evoprune.models.compaction import (
    SPARSE,
    CompactAutoencoder,
    ConstantOutput,
    SelectInputs,
    SparseLinear,
    compact,
    export_compact,
)

ROOT = Path(__file__).resolve().parents[1]
PAPER_MODELS = sorted((ROOT / "results" / "paper" / "models").glob("*.safetensors"))


def rows(genome, n=16, seed=0) -> torch.Tensor:
    return torch.rand(n, *genome.arch.input_shape, generator=torch.Generator().manual_seed(seed))


def assert_same(genome, model, x, tol=1e-6) -> None:
    """The compact model's output equals the masked model's (``to_module`` and ``reconstruct``)."""
    with torch.no_grad():
        ref, out = genome.to_module()(x), model(x)
    assert out.shape == ref.shape
    assert float((out - ref).abs().max()) <= tol
    assert float((out - genome.reconstruct(x).reshape(out.shape)).abs().max()) <= tol


def weights(model) -> list[tuple[int, ...]]:
    return [tuple(m.weight.shape) for m in (*model.encoder, *model.decoder) if hasattr(m, "weight")]


def columns(shape, cols) -> list[int]:
    return [r * shape[1] + j for r in range(shape[0]) for j in cols]


def row(shape, r) -> list[int]:
    return [r * shape[1] + j for j in range(shape[1])]


def dense_genome() -> AutoencoderGenome:
    arch = Architecture(HalfSpec((6, 4, 3), ("relu", "relu")), HalfSpec((3, 4, 6), ("relu", "sigmoid")))
    return AutoencoderGenome(arch, rng=0)  # 28 + 15 + 16 + 30 = 89 parameters


def test_dead_inputs_hidden_and_latent_units_are_removed_and_constants_folded():
    g = dense_genome()
    enc, dec = g.encoder, g.decoder
    enc.prune_entries(0, columns((4, 6), [0, 5]))  # inputs 0 and 5 feed nothing
    enc.prune_entries(0, row((4, 6), 1))  # hidden 1: no weights, live bias: emits relu(0.8)
    enc.params[1][1] = 0.8
    enc.prune_entries(2, row((3, 4), 2))  # latent 2: emits relu(0.3)
    enc.params[3][2] = 0.3
    dec.prune_entries(0, columns((4, 3), [0]))  # latent 0 feeds nothing
    dec.prune_entries(2, columns((6, 4), [3]))  # decoder hidden 3 feeds nothing
    before = copy.deepcopy(g)
    c = g.compact()
    assert all(torch.equal(a, b) for h, k in zip(g.halves, before.halves, strict=True)
               for a, b in zip(h.params + h.masks, k.params + k.masks, strict=True))  # the genome is unchanged
    assert isinstance(c, CompactAutoencoder) and not c.training
    assert weights(c) == [(3, 4), (1, 3), (3, 1), (6, 3)]
    assert c.n_params == 15 + 4 + 6 + 24 == sum(p.numel() for p in c.parameters())
    assert isinstance(c.encoder[0], SelectInputs)
    assert c.inputs_read.tolist() == [1, 2, 3, 4] and c.code_index.tolist() == [1]
    w1, b1 = enc.params[2], enc.params[3]
    assert c.encoder[3].bias.item() == pytest.approx((b1[1] + 0.8 * w1[1, 1]).item(), abs=1e-7)
    w0, b0 = dec.params[0], dec.params[1]
    assert torch.allclose(c.decoder[0].bias, b0[:3] + 0.3 * w0[:3, 2], atol=1e-7)
    assert c.encoder(rows(g)).shape == (16, 1)
    for seed in range(3):
        assert_same(g, c, rows(g, seed=seed))


def test_removal_cascades_to_a_fixed_point():
    g = dense_genome()
    enc, dec = g.encoder, g.decoder
    dec.prune_entries(2, columns((6, 4), [3]))  # decoder hidden 3 feeds nothing ...
    dec.prune_entries(0, [r * 3 + 0 for r in (0, 1, 2)])  # ... and is all latent 0 feeds
    enc.prune_entries(2, [r * 4 + 1 for r in (1, 2)])  # hidden 1 feeds only latent 0
    enc.prune_entries(0, [r * 6 + 0 for r in (0, 2, 3)])  # input 0 feeds only hidden 1
    c = compact(g)
    assert weights(c) == [(3, 5), (2, 3), (3, 2), (6, 3)]
    assert c.inputs_read.tolist() == [1, 2, 3, 4, 5] and c.code_index.tolist() == [1, 2]
    assert_same(g, c, rows(g))


def test_a_latent_unit_fed_only_by_constants_becomes_a_constant_itself():
    g = dense_genome()
    g.encoder.prune_entries(0, row((4, 6), 2))  # hidden 2 emits relu(b), and is all latent 1 reads
    g.encoder.params[1][2] = 0.5
    g.encoder.prune_entries(2, [4 + j for j in (0, 1, 3)])
    c = g.compact()
    assert weights(c) == [(3, 6), (2, 3), (4, 2), (6, 4)]
    assert c.code_index.tolist() == [0, 2]
    assert_same(g, c, rows(g))


@pytest.mark.parametrize("half", ["encoder", "decoder"])
def test_a_half_whose_every_unit_is_dead_gives_a_constant_output(half):
    g = dense_genome()
    h = getattr(g, half)
    for k in range(h.spec.n_layers):  # every weight pruned, the biases stay
        h.prune_entries(2 * k, torch.arange(h.params[2 * k].numel()))
    c = g.compact()
    assert c.constant and isinstance(c.decoder[0], ConstantOutput)
    assert c.n_params == 6 and c.inputs_read.numel() == 0
    x = rows(g)
    assert c.encoder(x).shape == (16, 0)
    out = c(x)
    assert torch.equal(out, out[:1].expand_as(out))
    assert_same(g, c, x)
    assert not dense_genome().compact().constant


def tutorial_modules():
    enc = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(128, 10))
    dec = nn.Sequential(nn.Linear(10, 128), nn.ReLU(), nn.Unflatten(1, (8, 4, 4)),
                        nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1), nn.Sigmoid())
    return enc, dec


def test_conv_channels_are_removed_with_their_blocks_of_flattened_features():
    torch.manual_seed(0)
    g = AutoencoderGenome.from_modules(*tutorial_modules())
    assert g.compact().n_params == g.n_params == 2907
    g.encoder.prune_neurons(0, [1, 3])  # two conv channels: relu(0) = 0, read through padding: nothing to fold
    c = g.compact()
    assert weights(c) == [(6, 1, 3, 3), (10, 96), (128, 10), (8, 1, 4, 4)]
    assert c.n_params == 60 + 970 + 1408 + 129
    g.decoder.prune_neurons(0, list(range(16, 32)))  # the Linear units unflattened into channel 1
    c = g.compact()
    assert weights(c) == [(6, 1, 3, 3), (10, 96), (112, 10), (7, 1, 4, 4)]
    assert c.n_params == 60 + 970 + 1232 + 113
    assert c.decoder[2].unflattened_size == (7, 4, 4)
    assert_same(g, c, rows(g))
    g.decoder.prune_entries(0, torch.arange(80 * 10, 81 * 10))  # one unit of channel 5 only: the channel stays
    assert weights(g.compact())[2] == (112, 10)


@pytest.mark.parametrize("padding", [0, 1])
def test_a_constant_channel_is_folded_into_a_convolution_only_without_padding(padding):
    size = 8 if padding else 6
    enc = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.Tanh(), nn.Conv2d(3, 2, 3, padding=padding), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2 * (size // 2) ** 2, 4))
    dec = nn.Sequential(nn.Linear(4, 128), nn.Sigmoid(), nn.Unflatten(1, (2, 8, 8)))
    torch.manual_seed(1)
    g = AutoencoderGenome.from_modules(enc, dec, input_shape=(2, 8, 8))
    g.encoder.prune_entries(0, torch.arange(18, 36))  # channel 1 of the first conv emits tanh(0.5) everywhere
    g.encoder.params[1][1] = 0.5
    unused = torch.tensor([0, 2])[:, None] * 18 + torch.arange(9)  # input channel 0 feeds nothing
    g.encoder.prune_entries(0, unused.flatten())
    c = g.compact()
    assert isinstance(c.encoder[0], SelectInputs) and c.encoder[0].index.tolist() == [1]
    assert c.inputs_read.tolist() == list(range(64, 128))
    if padding:  # tanh(0.5) read through zero padding differs at the borders: the channel stays
        assert weights(c)[:2] == [(3, 1, 3, 3), (2, 3, 3, 3)]
    else:
        assert weights(c)[:2] == [(2, 1, 3, 3), (2, 2, 3, 3)]
        w, b = g.encoder.params[2], g.encoder.params[3]
        assert torch.allclose(c.encoder[3].bias, b + torch.tanh(torch.tensor(0.5)) * w[:, 1].sum((1, 2)), atol=1e-6)
    assert c.n_params == g.n_params - 3 * 9 - (0 if padding else 10 + 2 * 9)
    assert_same(g, c, rows(g))


def test_compaction_is_exact_in_float64_on_the_paper_models_with_random_and_real_rows():
    from evoprune.data import binary_clustering

    assert len(PAPER_MODELS) >= 10
    real = binary_clustering(seed=0).test[:100]
    random = torch.rand(100, 1000, generator=torch.Generator().manual_seed(0))
    for path in PAPER_MODELS:
        g = load_model(path)
        c, c64 = g.compact(), g.compact(dtype=torch.float64)
        m = g.to_module()
        m64 = copy.deepcopy(m).double()
        assert c.n_params <= g.n_params
        with torch.no_grad():
            for x in (real, random):
                exact = m64(x.double())
                assert float((c64(x.double()) - exact).abs().max()) <= 1e-9, path.name
                # in float32 both differ from exact arithmetic by rounding (summation order); the compact
                # model's rounding error stays of the masked model's size
                masked_err = float((m(x).double() - exact).abs().max())
                assert float((c(x).double() - exact).abs().max()) <= 3 * masked_err + 1e-7, path.name
    g = load_model(PAPER_MODELS[0].with_name("grid__magnitude-exponential__t02.safetensors"))
    assert g.compact().constant


def test_sparse_auto_records_its_measured_choice():
    g = load_model(ROOT / "results" / "paper" / "models" / "grid__random-increase__t06.safetensors")
    c = g.compact(sparse="auto", batch_size=32)
    linear = {f"{h}.{i}" for h in ("encoder", "decoder") for i, m in enumerate(getattr(c, h))
              if isinstance(m, nn.Linear | SparseLinear)}
    assert set(c.layouts) == linear and len(linear) == 4
    for name, entry in c.layouts.items():
        half, pos = name.split(".")
        assert entry["dense_s"] > 0 and entry["csr_s"] > 0 and 0 < entry["density"] <= 1
        assert entry["layout"] == ("csr" if entry["csr_s"] < entry["dense_s"] else "dense")
        assert isinstance(getattr(c, half)[int(pos)], SparseLinear) == (entry["layout"] == "csr")
    with torch.no_grad():
        x = rows(g)
        assert float((c(x) - g.compact()(x)).abs().max()) <= 1e-5
    assert all(e["layout"] == "dense" and "dense_s" not in e for e in g.compact().layouts.values())


def test_sparse_always_stores_csr_with_the_same_outputs():
    g = dense_genome()
    g.encoder.prune_entries(0, torch.arange(0, 24, 2))
    c = g.compact(sparse="always")
    layers = [m for m in (*c.encoder, *c.decoder) if isinstance(m, SparseLinear)]
    assert len(layers) == 4 and all(m.weight.layout == torch.sparse_csr for m in layers)
    assert layers[0].weight.values().numel() == 12
    assert {e["layout"] for e in c.layouts.values()} == {"csr"}
    assert_same(g, c, rows(g))
    assert all(isinstance(m, nn.Linear) for m in c.to_dense().encoder if hasattr(m, "weight"))
    assert_same(g, c.to_dense(), rows(g))


def test_an_unknown_sparse_value_is_refused_before_anything_is_done():
    assert SPARSE == ("never", "auto", "always")
    with pytest.raises(ValueError, match=r"unknown sparse='csr'; choose one of 'never', 'auto', 'always'"):
        compact(object(), sparse="csr")
    with pytest.raises(ValueError, match="'dense'"):
        dense_genome().compact(sparse="dense")


def pruned_conv_genome() -> AutoencoderGenome:
    torch.manual_seed(0)
    g = AutoencoderGenome.from_modules(*tutorial_modules())
    g.encoder.prune_neurons(0, [1, 3])
    g.decoder.prune_entries(0, torch.arange(0, 1280, 3))
    return g


@pytest.mark.slow
def test_the_exported_compact_model_runs_with_torch_alone(tmp_path):
    g = pruned_conv_genome()
    c = g.compact(sparse="always")  # CSR layers are exported dense
    path = export_compact(c, tmp_path / "model.pt2")
    assert path.stat().st_size > 0 and abs(c.file_size() - path.stat().st_size) < 1000
    x = rows(g, n=7)
    with torch.no_grad():
        torch.save({"x": x, "y": c(x)}, tmp_path / "io.pt")
    code = ("import sys, torch\n"
            "d = torch.load(sys.argv[2])\n"
            "model = torch.export.load(sys.argv[1]).module()\n"
            "assert 'evoprune' not in sys.modules\n"
            "print(float((model(d['x']) - d['y']).abs().max()), tuple(model(d['x'][:1]).shape))\n")
    r = subprocess.run([sys.executable, "-I", "-c", code, str(path), str(tmp_path / "io.pt")], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    diff, shape = r.stdout.split(maxsplit=1)
    assert float(diff) <= 1e-6 and shape.strip() == "(1, 1, 8, 8)"
    assert_same(g, c, x)


def test_onnx_export_runs_in_onnxruntime(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    g = pruned_conv_genome()
    c = g.compact()
    path = c.save(tmp_path / "model.onnx")
    session = ort.InferenceSession(str(path))
    x = rows(g, n=5)
    with torch.no_grad():
        y = c(x).numpy()
    out = session.run(None, {"x": x.numpy()})[0]
    assert out.shape == y.shape and abs(out - y).max() <= 1e-6


def test_onnx_export_without_onnx_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ValueError, match=r"ONNX export needs the onnx and onnxscript packages .*evoprune\[onnx\]"):
        export_compact(dense_genome().compact(), tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


def test_cli_export_compact_of_a_run_folder(tmp_path, capsys):
    g = load_model(ROOT / "results" / "paper" / "models" / "grid__random-increase__t06.safetensors")
    run = tmp_path / "runs" / "r0"
    save_model(run / "model.safetensors", g, run_id="r0", config={})
    out = tmp_path / "model.pt2"
    assert main(["export", str(run), "--compact", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and "torch.export.load" in printed
    x = rows(g)
    with torch.no_grad():
        y = torch.export.load(out).module()(x)
        assert float((y - g.compact()(x)).abs().max()) <= 1e-6
        assert float((y - g.to_module()(x)).abs().max()) <= 1e-5
    empty = tmp_path / "runs" / "r1"
    empty.mkdir()
    assert main(["export", str(empty), "--compact", "--out", str(tmp_path / "none.pt2")]) == 2
    err = capsys.readouterr().err
    assert str(empty) in err and "has no model.safetensors" in err
    assert main(["export", str(run), "--compact", "--dense", "--out", str(tmp_path / "none.pt2")]) == 2
    assert "not both" in capsys.readouterr().err
    assert not (tmp_path / "none.pt2").exists()
