"""Every public name is on an API page; the less obvious public names are exercised here."""

import importlib
import json
import pkgutil
import re
import sys
import typing
from pathlib import Path

import numpy as np
import pytest
import torch
from deap import creator, tools

import evoprune

ROOT = Path(__file__).resolve().parent.parent
API = ROOT / "docs" / "api"


def _public_names():
    mods = [m.name for m in pkgutil.walk_packages(evoprune.__path__, "evoprune.") if not m.name.endswith("__main__")]
    for name in ["evoprune", *mods]:
        for public in getattr(importlib.import_module(name), "__all__", []):
            yield name, public


def _documented() -> tuple[set[str], set[str]]:
    """Modules whose public names an API page documents (``automodule`` with ``:members:``), and names the
    pages document one by one (``autofunction``, ``py:data``, ...)."""
    modules, names = set(), set()
    for page in API.glob("*.rst"):
        text = page.read_text()
        for m in re.finditer(r"^\.\. automodule:: (\S+)\n((?:   .*\n)*)", text, re.MULTILINE):
            if ":members:" in m.group(2):
                modules.add(m.group(1))
        current = re.findall(r"^\.\. py:currentmodule:: (\S+)", text, re.MULTILINE)
        for m in re.finditer(r"^\.\. (?:auto\w+|py:\w+):: (\S+)", text, re.MULTILINE):
            names.add(m.group(1) if "." in m.group(1) or not current else f"{current[0]}.{m.group(1)}")
    return modules, names


def test_every_public_name_is_on_an_api_page():
    modules, names = _documented()
    shown = {id(getattr(importlib.import_module(m), n)) for m in modules
             for n in getattr(importlib.import_module(m), "__all__", [])}  # a package page shows what it re-exports
    missing = []
    for mod, name in _public_names():
        obj = getattr(importlib.import_module(mod), name)
        if not (mod in modules or id(obj) in shown or f"{mod}.{name}" in names):
            missing.append(f"{mod}.{name}")
    assert missing == [], f"public names no API page documents: {missing}"


def test_the_check_finds_an_undocumented_module(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "API", tmp_path)
    (tmp_path / "x.rst").write_text(".. automodule:: evoprune.genome\n   :members:\n")
    with pytest.raises(AssertionError, match="evoprune.training.mutTrain"):
        test_every_public_name_is_on_an_api_page()


def test_ask_tell_steps_give_what_the_loops_give(small_arch, small_data):
    from evoprune.algorithms import CONCEPTS, eaMuPlusLambda, eaToroidalGrid, gridSteps, muLambdaSteps
    from evoprune.engine.variation import Operators, VaryRequest, run_steps

    from .test_algorithms import make_toolbox, strip

    assert set(CONCEPTS) == {"best", "worst", "mean"}

    def pop(n):
        return [creator.Genome(small_arch, rng=np.random.default_rng([5, i]), lr=5e-3) for i in range(n)]

    tb = make_toolbox(small_data)
    ref_pop, ref_log = eaMuPlusLambda(pop(2), tb, 2, 2, 3, rng=0)
    seen = []

    def steps():  # muLambdaSteps, watched: every request the engine serves is a VaryRequest
        gen = muLambdaSteps(pop(2), tb, 2, 2, 3, plus=True, rng=0)
        reply = None
        try:
            while True:
                request = gen.send(reply)
                seen.append(isinstance(request, VaryRequest))
                reply = yield request
        except StopIteration as stop:
            return stop.value

    got_pop, got_log = run_steps(steps(), Operators.from_toolbox(tb, True))
    assert seen and all(seen)
    assert [i.fitness.values for i in got_pop] == [i.fitness.values for i in ref_pop]
    assert strip(got_log) == strip(ref_log)

    tb = make_toolbox(small_data)
    tb.register("map", map)
    ref_pop, _ = eaToroidalGrid(pop(4), tb, "2x2", 2, rng=1, data=small_data.train)
    steps = gridSteps(pop(4), tb, "2x2", 2, rng=1, data=small_data.train)
    got_pop, _ = run_steps(steps, Operators.from_toolbox(tb, False))
    assert [i.fitness.values for i in got_pop] == [i.fitness.values for i in ref_pop]


def test_evaluations_and_statistics(small_arch, small_data):
    from evoprune.engine.variation import evaluate_all
    from evoprune.evaluation import evaluate_tradeoff
    from evoprune.genome import AutoencoderGenome
    from evoprune.layers.autoencoder import Autoencoder
    from evoprune.metrics import BatchStatistics, PopulationErrors, SharedStatistics, default_stats, inference_time

    inds = [creator.Genome(small_arch, rng=i) for i in range(3)]
    error, kept = evaluate_tradeoff(inds[0], small_data.test)
    assert kept == 1.0 and error == pytest.approx(evoprune.evaluation.reconstruction_error(inds[0], small_data.test))
    evaluate_all(inds, lambda ind: (ind.n_params,))
    assert [ind.fitness.values for ind in inds] == [(inds[0].n_params,)] * 3
    stats = default_stats(small_data.test)
    assert isinstance(stats, SharedStatistics) and isinstance(stats["test"], BatchStatistics)
    errors = PopulationErrors(small_data.test)
    assert len(errors(inds)) == 3
    module = AutoencoderGenome(small_arch, rng=0).to_module()
    assert isinstance(module, Autoencoder) and inference_time(module, small_data.test, repeats=2) > 0


def test_files_and_plots(tmp_path):
    from evoprune.report.plots import plot_curves, plt, save_figure
    from evoprune.util.io import atomic_write_bytes, logbook_records, write_jsonl

    log = tools.Logbook()
    log.record(gen=0, npruned=0)
    log.record(gen=1, npruned=1)
    write_jsonl(tmp_path / "log.jsonl", logbook_records(log))
    assert [json.loads(line)["npruned"] for line in (tmp_path / "log.jsonl").read_text().splitlines()] == [0, 1]
    assert atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    plot_curves({"run": {"test_l1": [0.5, 0.2], "kept": [1.0, 0.9]}}, tmp_path / "c.png")
    fig, _ = plt.subplots()
    save_figure(fig, tmp_path / "f.png")
    assert (tmp_path / "c.png").stat().st_size > 1000 and (tmp_path / "f.png").stat().st_size > 1000


def test_models_and_rng(small_arch):
    from evoprune.genome import AutoencoderGenome
    from evoprune.models import export_state_dict
    from evoprune.rng import RNGLike

    assert isinstance(0, typing.get_args(RNGLike)) and isinstance(np.random.default_rng(), typing.get_args(RNGLike))
    ind = AutoencoderGenome(small_arch, rng=0)
    evoprune.pruning.mutPrune(ind, "random", amount=0.5, rng=0)
    dense = export_state_dict(ind, dense=True)
    masked = export_state_dict(ind)
    assert "encoder.0.weight" in dense and "encoder.0.weight_mask" in masked
    assert torch.equal(dense["encoder.0.weight"] == 0, ~masked["encoder.0.weight_mask"].bool())


def test_pruning_registry_names(small_arch, small_data):
    from evoprune.pruning import (
        DEFAULT_P,
        Conjunctive,
        PruneStack,
        PruningMethod,
        get_method,
        paper_probability,
        register_method,
        unregister_method,
    )

    assert isinstance(get_method("conjunctive", threshold=0.2), Conjunctive)
    seen = []

    class Watch(PruningMethod, register=False):
        name = "watch_names"

        def scores(self, stack, rngs):
            seen.append(isinstance(stack, PruneStack))
            return [[p.abs() for p in half] for half in stack.params]

    assert "watch_names" not in evoprune.pruning.METHODS
    register_method(Watch)
    try:
        assert paper_probability("watch_names") == DEFAULT_P
        evoprune.pruning.mutPrune(creator.Genome(small_arch, rng=0), "watch_names")
        assert seen == [True]
    finally:
        unregister_method("watch_names")


def test_runs_registry_names(small_data):
    from evoprune.runs import (
        SELECTIONS,
        SETTINGS,
        RunConfig,
        RunResult,
        Setting,
        get_setting,
        run,
        single_thread,
    )
    from evoprune.runs.canonical import Canonical
    from evoprune.runs.grid import GridSetting

    assert set(SELECTIONS) == {"parsimony", "best", "nsga2", "always"}
    assert isinstance(get_setting("canonical"), Canonical) and isinstance(get_setting("grid"), GridSetting)
    assert all(isinstance(s, Setting) for s in SETTINGS.values())
    threads = torch.get_num_threads()
    try:
        single_thread()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    result = run(RunConfig(generations=2, hidden=8, latent=3), small_data, seed=0)
    assert isinstance(result, RunResult) and len(result.records) == 3


def test_tradeoff_constants():
    from evoprune.engine.tradeoff import LEVELS, REFERENCE, hypervolume, summarise

    assert hypervolume([REFERENCE]) == 0.0
    assert set(summarise([(0.1, 0.2)])) >= {f"l1_at_kept_{level}" for level in LEVELS}


def test_study_names(tmp_path):
    from evoprune.report.analyse import analyse
    from evoprune.report.figures import a12_matrix, boxes
    from evoprune.report.masks import masks_figure
    from evoprune.study.claims import Claim, try_claim
    from evoprune.study.jobs import TRIALS_PER_JOB, make_jobs
    from evoprune.study.runner import is_finished
    from evoprune.study.store.load import load_logs, scan
    from evoprune.study.studyfile import RunSpec, Study, parse_study

    from .test_report import make_study
    from .test_study import TINY

    study = parse_study(TINY)
    assert isinstance(study, Study) and all(isinstance(s, RunSpec) for s in study.runs())
    jobs = make_jobs(study.runs(), 2)
    assert sum(len(j) for j in jobs) == len(study.runs()) and all(len({s.group for s in j}) == 1 for j in jobs)
    assert TRIALS_PER_JOB["cpu"] >= 1 and not is_finished(tmp_path, study.runs()[0])
    with try_claim(tmp_path / "claimed") as claim:
        assert isinstance(claim, Claim)
    df = make_study(tmp_path / "fake", trials=4)
    found, unfinished = scan(tmp_path / "fake")
    assert len(found) == len(df) and len(unfinished) == 1
    logs = load_logs(tmp_path / "fake", [df["run_id"].iloc[0]])
    assert list(logs) == [df["run_id"].iloc[0]]
    assert isinstance(analyse(found), dict)
    boxes("canonical", df, tmp_path / "boxes.png")
    a12_matrix("canonical", df, tmp_path / "a12.png")
    assert (tmp_path / "boxes.png").is_file() and (tmp_path / "a12.png").is_file()
    # the fake runs saved no models: nothing to draw, and no file written
    assert masks_figure("canonical", {"random": df["run_id"].iloc[-1]}, lambda run_id: None,
                        tmp_path / "masks.png") == []
    assert not (tmp_path / "masks.png").exists()
