"""Study files that name a user model (``[run] model = "module:function"``), run through the command line."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
import torch

from evoprune.cli import main
from evoprune.data import binary_clustering, digits
from evoprune.runs import RunConfig, get_setting, run
from evoprune.study.studyfile import StudyError, load_study, parse_study
from evoprune.study.user_models import resolve_models
from evoprune.util.plugins import PluginError, model_function, split_model_entry, user_model

from .test_study import TINY

MODELS = '''
from torch import nn


def small_ae():
    """A dense autoencoder for 16-bit rows: 16 -> 8 -> 3 -> 8 -> 16."""
    encoder = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3), nn.Tanh())
    decoder = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 16), nn.Sigmoid())
    return encoder, decoder


def one_module():
    return nn.Linear(16, 16)


def with_conv():
    return nn.Sequential(nn.Conv1d(1, 2, 3)), nn.Sequential(nn.Linear(2, 16))


NOT_A_FUNCTION = 3
'''

STUDY = """
name = "user-model"
seed = 4
trials = 2
checkpoint_every = 2

[data]
name = "binary_clustering"
n_clusters = 3
dim = 16
samples_per_cluster = 10

[run]
setting = "canonical"
model = "{module}:small_ae"
generations = 3
batch_size = 10
device = "cpu"

[factors]
operator = ["none", "random"]
schedule = ["fixed"]
"""


def _study(tmp_path, module: str, text: str = STUDY, **replace) -> tuple:
    """A study file and a models module ``module`` next to it (each test its own module name)."""
    folder = tmp_path / "study"
    folder.mkdir(exist_ok=True)
    (folder / f"{module}.py").write_text(MODELS)
    text = text.format(module=module)
    for old, new in replace.items():
        text = text.replace(old, new)
    path = folder / "study.toml"
    path.write_text(text)
    return path


def test_study_with_user_model_runs_and_reports_from_the_cli(tmp_path, monkeypatch, capsys):
    path = _study(tmp_path, "umodels_cli")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the module is found next to the study file
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--no-report"]) == 0
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert runs == ["canonical__none__t00", "canonical__none__t01",
                    "canonical__random-fixed__t00", "canonical__random-fixed__t01"]
    config = json.loads((out / "runs" / runs[0] / "config.json").read_text())
    assert config["config"]["model"] == "umodels_cli:small_ae"
    results = [json.loads((out / "runs" / r / "result.json").read_text()) for r in runs]
    assert all(np.isfinite(r["test_l1"]) for r in results)
    assert results[0]["test_l1"] != results[1]["test_l1"]  # the trials start from different weights
    assert main(["report", str(out)]) == 0
    assert (out / "report" / "report.md").is_file()
    assert main(["status", str(out)]) == 0
    assert "4/4 runs finished" in capsys.readouterr().out


def test_user_model_weights_come_from_the_seed(tmp_path):
    path = _study(tmp_path, "umodels_seed")
    study = load_study(path)
    assert "umodels_seed" in study.imports and str(path.parent) in study.plugin_folders
    cfg = study.runs()[0].config
    data = binary_clustering(n_clusters=3, dim=16, samples_per_cluster=10, seed=0)
    canonical = get_setting("canonical")
    a, b, c = (canonical.population(cfg, data, seed)[0] for seed in (1, 1, 2))
    assert a.arch.encoder.sizes == (16, 8, 3) and a.arch.encoder.activations == ("relu", "tanh")
    assert a.arch.decoder.activations == ("relu", "sigmoid")
    assert all(torch.equal(x, y) for x, y in zip(a.encoder.params, b.encoder.params, strict=True))
    assert not torch.equal(a.encoder.params[0], c.encoder.params[0])
    encoder, _ = user_model("umodels_seed:small_ae")
    assert not torch.equal(a.encoder.params[0], encoder[0].weight.detach())
    grid = RunConfig(setting="grid", grid="ring:3", model=cfg.model)
    cells = get_setting("grid").population(grid, data, 1)
    assert len(cells) == 3 and all(c.arch == a.arch for c in cells)


def test_model_helpers(tmp_path):
    path = _study(tmp_path, "umodels_helpers")
    assert split_model_entry("pkg.mod:build") == ("pkg.mod", "build")
    func, folders = model_function("umodels_helpers:small_ae", [path.parent])
    assert callable(func) and folders == (str(path.parent.resolve()),)
    state = torch.get_rng_state()
    user_model("umodels_helpers:small_ae", [path.parent])
    assert torch.equal(torch.get_rng_state(), state)  # the modules' initialisation leaves torch's RNG alone
    unresolved = load_study(path, check_models=False)
    assert "umodels_helpers" not in unresolved.imports
    assert "umodels_helpers" in resolve_models(path, unresolved).imports


def test_model_as_a_factor_names_its_groups(tmp_path):
    path = _study(tmp_path, "umodels_factor", **{'model = "umodels_factor:small_ae"\n': "",
                                                 'schedule = ["fixed"]': 'schedule = ["fixed"]\n'
                                                 'model = ["umodels_factor:small_ae"]'})
    ids = [s.run_id for s in load_study(path).runs()]
    assert ids[0] == "canonical__none-modelumodels_factor.small_ae__t00"


@pytest.mark.parametrize("entry, needle", [
    ("umodels_err:nothing", "module 'umodels_err'"),  # the module's file is named too
    ("umodels_err:NOT_A_FUNCTION", "'NOT_A_FUNCTION' is a int, not a function"),
    ("no_such_module_xyz:small_ae", "cannot import module 'no_such_module_xyz'"),
    ("umodels_err:one_module", "did not return two modules (encoder, decoder); it returned a Linear"),
    ("umodels_err:with_conv", "returned modules evoprune cannot use"),
    ("umodels_err.small_ae", "is not of the form 'module:function'"),
])
def test_bad_model_entries_are_refused_at_load_time(tmp_path, entry, needle, capsys):
    path = _study(tmp_path, "umodels_err", **{'"umodels_err:small_ae"': f'"{entry}"'})
    with pytest.raises(StudyError) as e:
        load_study(path)
    msg = str(e.value)
    assert str(path) in msg and "run.model" in msg and entry in msg and needle in msg
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out)]) == 2  # refused before anything runs
    assert needle in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("extra", ["hidden = 8", "latent = 3", "hidden = 30"])
def test_model_and_hidden_latent_are_exclusive(tmp_path, extra):
    path = _study(tmp_path, "umodels_both", **{"generations = 3": f"generations = 3\n{extra}"})
    with pytest.raises(StudyError, match=f"and {extra.split()[0]} both given: a user model has its own layer sizes"):
        load_study(path)
    with pytest.raises(ValueError, match="both given"):
        RunConfig(model="umodels_both:small_ae", hidden=8)


def test_studies_without_a_model_keep_their_fingerprints():
    study = parse_study(TINY, "tiny.toml")
    assert study.fingerprint() == "51c75beefd9a602f"  # as before user models existed
    runs = study.runs()
    assert [(r.run_id, r.fingerprint(study.data)) for r in runs[:2]] == [
        ("canonical__none__t00", "eaed5b140398dafc"), ("canonical__none__t01", "532ae9bd1570c86b")]
    assert "model" not in runs[0].config.identity() and "model" not in runs[0].config.as_dict()
    assert RunConfig(model="m:f").identity()["model"] == "m:f"


def test_data_rows_must_fit_the_architecture():
    pytest.importorskip("sklearn.datasets")
    cfg = RunConfig(generations=1, hidden=4, latent=2, device="cpu")
    with pytest.raises(ValueError, match=r"digits data rows have shape \(1, 8, 8\) but the architecture "
                                         r"takes \(64,\)"):
        run(cfg, digits(images=True), seed=0)
    with pytest.raises(PluginError, match="not of the form"):
        user_model("nocolon")


def test_images_option_in_a_study_file():
    pytest.importorskip("sklearn.datasets")
    text = textwrap.dedent("""
        trials = 1
        [data]
        name = "digits"
        images = true
        """)
    study = parse_study(text, "digits.toml")
    assert study.load_data().shape == (1, 8, 8)
    with pytest.raises(StudyError, match="data.image: unknown argument"):
        parse_study(text.replace("images", "image"), "digits.toml")


CONV_MODELS = '''
from torch import nn


def conv_ae():
    encoder = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(64, 6))
    decoder = nn.Sequential(nn.Linear(6, 64), nn.ReLU(), nn.Unflatten(1, (4, 4, 4)),
                            nn.ConvTranspose2d(4, 1, 4, stride=2, padding=1), nn.Sigmoid())
    return encoder, decoder
'''

CONV_STUDY = """
name = "conv-model"
seed = 1
trials = 1

[data]
name = "digits"
images = true

[run]
model = "uconv_models:conv_ae"
generations = 2
batch_size = 64
device = "cpu"

[settings.grid]
grid = "ring:3"

[factors]
setting = ["canonical", "grid"]
operator = ["conjunctive", "magnitude"]
schedule = ["fixed"]
"""


def test_a_convolutional_user_model_runs_in_both_settings_and_reports(tmp_path, capsys):
    (tmp_path / "uconv_models.py").write_text(CONV_MODELS)
    path = tmp_path / "study.toml"
    path.write_text(CONV_STUDY)
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out)]) == 0
    results = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*/result.json"))]
    assert len(results) == 4 and all(np.isfinite(r["test_l1"]) and r["backend"] == "torch-layered" for r in results)
    assert (out / "report" / "masks_canonical.png").is_file() and (out / "report" / "masks_grid.png").is_file()
    path.write_text(CONV_STUDY.replace("images = true\n", ""))  # flat 64-pixel rows: refused, both shapes named
    assert main(["run", str(path), "--out", str(tmp_path / "flat"), "--no-report"]) == 2
    assert "digits data rows have shape (64,) but the architecture takes (1, 8, 8)" in capsys.readouterr().err
