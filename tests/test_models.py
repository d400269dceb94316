import json
from pathlib import Path

import numpy as np
import pytest
import torch

import evoprune
from evoprune.architecture import Architecture
from evoprune.cli import main
from evoprune.genome import AutoencoderGenome
from evoprune.models import load_population, model_metadata, save_population
from evoprune.models.files import MODEL_FILE, POPULATION_FILE, genome_tensors
from evoprune.study.runner import TIMING_FIELDS, run_study
from evoprune.study.studyfile import parse_study

from .test_study import TINY

STUDY = (TINY.replace('name = "tiny"', 'name = "models"').replace("seed = 1", "seed = 3")
         .replace("trials = 2", "trials = 1").replace("checkpoint_every = 3", "checkpoint_every = 4")
         .replace("generations = 12", "generations = 8"))


@pytest.fixture(scope="module")
def study_out(tmp_path_factory):
    study = parse_study(STUDY, "models.toml")
    out = tmp_path_factory.mktemp("models") / "out"
    rows = run_study(study, out, progress=False)
    return study, out, rows


def _module_l1(genome, x):
    with torch.no_grad():
        return float((genome.to_module()(x) - x).abs().mean())


def test_every_finished_run_has_its_model_and_grid_runs_their_population(study_out):
    _, out, rows = study_out
    assert len(rows) == 4
    for row in rows:
        d = out / "runs" / row["run_id"]
        assert (d / MODEL_FILE).is_file()
        assert (d / POPULATION_FILE).is_file() == (row["setting"] == "grid")
        assert not list(d.glob(".*.tmp")) and not list(d.glob("ckpt-*"))


def test_loaded_model_reproduces_the_reported_test_l1(study_out):
    study, out, rows = study_out
    x = study.load_data().test.cpu()
    for row in rows:
        d = out / "runs" / row["run_id"]
        result = json.loads((d / "result.json").read_text())
        for source in (d, d / MODEL_FILE, str(d)):
            genome = evoprune.load_model(source)
            assert type(genome) is AutoencoderGenome
            assert _module_l1(genome, x) == pytest.approx(result["test_l1"], abs=1e-6)
        assert genome.fraction_kept == pytest.approx(result["fraction_kept"], abs=1e-12)
        assert all(p.device.type == "cpu" for h in genome.halves for p in h.params + h.masks)


def test_model_file_layout_and_metadata(study_out):
    from safetensors.torch import load_file

    _, out, rows = study_out
    row = next(r for r in rows if r["operator"] == "random" and r["setting"] == "canonical")
    d = out / "runs" / row["run_id"]
    tensors = load_file(d / MODEL_FILE)
    genome = evoprune.load_model(d)
    pruned = genome.to_module(prune_layout=True)
    assert set(tensors) == set(pruned.state_dict())  # the names torch.nn.utils.prune gives
    assert {k for k in tensors if k.startswith("encoder.0.")} == {
        "encoder.0.weight_orig", "encoder.0.weight_mask", "encoder.0.bias_orig", "encoder.0.bias_mask"}
    assert tensors["encoder.0.weight_mask"].dtype == torch.bool
    assert not tensors["encoder.0.weight_mask"].all()  # pruned
    fresh = AutoencoderGenome(genome.arch, rng=0).to_module(prune_layout=True)
    fresh.load_state_dict(tensors)  # loads into a module of prune's layout
    x = torch.rand(5, 40)
    with torch.no_grad():
        assert torch.equal(fresh(x), genome.to_module()(x))
    meta = model_metadata(d)
    config = json.loads((d / "config.json").read_text())
    assert meta["format"] == "evoprune-model" and meta["run_id"] == row["run_id"] and meta["config"] == config
    assert meta["architecture"]["encoder"] == {"sizes": [40, 12, 4], "activations": ["relu", "relu"]}
    assert meta["lr"] == genome.lr and len(meta["fitness"]) == 1 and meta["test_l1"] == row["test_l1"]


def test_grid_population_file(study_out):
    _, out, rows = study_out
    for row in (r for r in rows if r["setting"] == "grid"):
        d = out / "runs" / row["run_id"]
        population = load_population(d)
        best = evoprune.load_model(d)
        assert len(population) == 4
        same = [all(torch.equal(a, b) for a, b in zip(genome_tensors(ind).values(), genome_tensors(best).values(),
                                                       strict=True)) for ind in population]
        assert any(same)  # the reported model is one of the cells


def test_paper_ring10_population_file_size(tmp_path):
    arch = Architecture.paper()
    assert arch.n_params == 61_670
    g = np.random.default_rng(0)
    population = [AutoencoderGenome(arch, rng=g) for _ in range(10)]
    path = save_population(tmp_path / POPULATION_FILE, population, run_id="x", config={})
    size = path.stat().st_size
    # float32 weights + bool masks: 5 bytes per parameter, plus the header
    assert 10 * 61_670 * 5 < size < 10 * 61_670 * 5 + 20_000
    back = load_population(path)
    assert all(torch.equal(a.encoder.params[0], b.encoder.params[0]) for a, b in zip(population, back, strict=True))


@pytest.mark.parametrize("name,dense", [("m.safetensors", False), ("m.safetensors", True), ("m.pt", False),
                                        ("m.pt", True)])
def test_export_loads_with_pytorch_alone(study_out, tmp_path, name, dense, capsys):
    study, out, rows = study_out
    row = next(r for r in rows if r["operator"] == "random" and r["setting"] == "grid")
    d = out / "runs" / row["run_id"]
    target = tmp_path / name
    assert main(["export", str(d), "--out", str(target)] + (["--dense"] if dense else [])) == 0
    assert str(target) in capsys.readouterr().out
    if name.endswith(".safetensors"):
        from safetensors.torch import load_file

        state = load_file(target)
    else:
        state = torch.load(target, weights_only=True)
    genome = evoprune.load_model(d)
    module = AutoencoderGenome(genome.arch, rng=0).to_module(prune_layout=not dense)
    module.load_state_dict(state)
    if dense:
        names = {f"{h}.{i}.{w}" for h in ("encoder", "decoder") for i in (0, 2) for w in ("weight", "bias")}
        assert set(state) == names
        assert (state["encoder.0.weight"] == 0).any()  # pruning applied
    x = study.load_data().test.cpu()
    with torch.no_grad():
        assert float((module(x) - x).abs().mean()) == pytest.approx(row["test_l1"], abs=1e-6)


def test_export_without_model_is_a_clear_error(study_out, tmp_path, capsys):
    _, out, rows = study_out
    empty = tmp_path / "run"
    empty.mkdir()
    assert main(["export", str(empty), "--out", str(tmp_path / "m.pt")]) == 2
    assert "has no model.safetensors: the run is not finished" in capsys.readouterr().err
    (empty / "result.json").write_text("{}")
    assert main(["export", str(empty), "--out", str(tmp_path / "m.pt")]) == 2
    assert "did not save models" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m.pt")]) == 2
    assert "no such model file or run folder" in capsys.readouterr().err
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x80\x05not a model")
    with pytest.raises(ValueError, match="not a safetensors file"):
        evoprune.load_model(bad)
    assert not (tmp_path / "m.pt").exists()


def test_studies_without_model_files_still_resume_and_report(study_out, tmp_path):
    import shutil

    from evoprune.report.report import report

    study, out, rows = study_out
    old = tmp_path / "old"
    shutil.copytree(out, old)
    for f in list(old.glob("runs/*/*.safetensors")):
        f.unlink()
    strip = lambda r: {k: v for k, v in r.items() if k not in TIMING_FIELDS}  # noqa: E731
    assert [strip(r) for r in run_study(study, old, progress=False)] == [strip(r) for r in rows]
    assert not list(old.glob("runs/*/*.safetensors"))  # finished runs are not redone
    assert Path(report(old, formats=("md",))).is_file()
