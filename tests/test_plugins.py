"""Plugins: a study's ``imports``, ``evoprune run --import`` and the ``evoprune.pruning`` entry points."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evoprune.cli import main
from evoprune.pruning import METHODS, unregister_method
from evoprune.runs import RunConfig
from evoprune.util import plugins

ROOT = Path(__file__).resolve().parent.parent

PLUGIN = '''
from evoprune.pruning import PruningMethod


class SmallestPow(PruningMethod):
    """Prune the weights of smallest |w| ** power."""

    name = "{name}"

    def __init__(self, amount=0.1, scope="layer", power=2.0):
        super().__init__(amount, scope)
        self.power = power

    def scores(self, stack, rngs):
        return [[p.abs().pow(self.power) for p in half] for half in stack.params]
'''

STUDY = """
name = "plug"
{imports}
trials = 1
checkpoint_every = 2

[data]
name = "binary_clustering"
n_clusters = 4
dim = 40
samples_per_cluster = 25

[run]
generations = 3
hidden = 12
latent = 4

[run.pruning.{name}]
power = 3.0

[factors]
operator = ["none", "{name}"]
schedule = ["fixed"]
p = [1.0]
"""


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "EVOPRUNE_FUSED": "0"}


def test_cli_runs_a_study_whose_method_is_defined_beside_it(tmp_path):
    studies, elsewhere = tmp_path / "studies", tmp_path / "elsewhere"
    studies.mkdir()
    elsewhere.mkdir()
    (studies / "my_pruning.py").write_text(PLUGIN.format(name="smallest_pow"))
    (studies / "study.toml").write_text(STUDY.format(imports='imports = ["my_pruning"]', name="smallest_pow"))
    proc = subprocess.run([sys.executable, "-m", "evoprune", "run", "../studies/study.toml", "--out", "../out",
                           "--workers", "2"], cwd=elsewhere, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "out" / "runs" / "canonical__smallest_pow-fixed-p1.0__t00"
    config = json.loads((run / "config.json").read_text())["config"]
    assert config["operator"] == "smallest_pow" and config["pruning"] == {"power": 3.0}
    assert (run / "result.json").is_file()
    assert "smallest_pow" in (tmp_path / "out" / "report" / "report.md").read_text()


def test_import_option_loads_a_module_from_the_current_folder(tmp_path, monkeypatch):
    (tmp_path / "cli_pruning.py").write_text(PLUGIN.format(name="cli_pow"))
    (tmp_path / "study.toml").write_text(STUDY.format(imports="", name="cli_pow"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    try:
        assert main(["run", "study.toml", "--out", "out", "--import", "cli_pruning", "--no-report"]) == 0
        assert (tmp_path / "out" / "runs" / "canonical__cli_pow-fixed-p1.0__t00" / "result.json").is_file()
    finally:
        unregister_method("cli_pow")
        sys.modules.pop("cli_pruning", None)


@pytest.mark.parametrize("how", ["key", "option"])
def test_unimportable_module_is_refused_by_name_and_nothing_is_written(tmp_path, capsys, how):
    imports = 'imports = ["no_such_pruning"]' if how == "key" else ""
    (tmp_path / "study.toml").write_text(STUDY.format(imports=imports, name="random"))
    extra = ["--import", "no_such_pruning"] if how == "option" else []
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "study.toml"), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'no_such_pruning'" in err
    assert not out.exists()


def test_module_that_fails_while_importing_is_named(tmp_path, capsys):
    (tmp_path / "broken_pruning.py").write_text("raise RuntimeError('boom')\n")
    (tmp_path / "study.toml").write_text(STUDY.format(imports='imports = ["broken_pruning"]', name="random"))
    assert main(["run", str(tmp_path / "study.toml"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "'broken_pruning'" in err and "boom" in err and not (tmp_path / "out").exists()


def test_entry_point_registers_a_method_on_first_use(tmp_path, monkeypatch):
    dist = tmp_path / "evoprune_extra-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: evoprune-extra\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{plugins.ENTRY_POINT_GROUP}]\nep_pow = ep_pruning\n")
    (tmp_path / "ep_pruning.py").write_text(PLUGIN.format(name="ep_pow"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(plugins, "_entry_points_loaded", False)
    try:
        assert "ep_pow" not in METHODS
        assert RunConfig(operator="ep_pow", pruning={"power": 1.5}).operator == "ep_pow"
        assert METHODS["ep_pow"].__module__ == "ep_pruning"
    finally:
        unregister_method("ep_pow")
        sys.modules.pop("ep_pruning", None)


def test_import_plugins_from_python(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "py_pruning.py").write_text(PLUGIN.format(name="py_pow"))
    try:
        assert plugins.import_plugins(["py_pruning"], [tmp_path]) == (str(tmp_path.resolve()),)
        assert "py_pow" in METHODS
    finally:
        unregister_method("py_pow")
        sys.modules.pop("py_pruning", None)
    with pytest.raises(plugins.PluginError, match="not a module name: 'my-pruning'"):
        plugins.import_plugins(["my-pruning"])
    assert plugins.load_entry_points() == []  # once per process: already loaded
