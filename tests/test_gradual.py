"""The field's baseline: gradual magnitude pruning (Zhu and Gupta 2017) as the ``gradual`` setting."""

from __future__ import annotations

import pytest
import torch

from evoprune.runs import RunConfig, run
from evoprune.runs.gradual import prune_to_sparsity, sparsity_schedule, weight_sparsity
from evoprune.schedules import GradualSparsity
from evoprune.study.runner import run_study
from evoprune.study.store.shards import read_pack
from evoprune.study.studyfile import StudyError, load_study, parse_study

from .conftest import rng

# (s_i, s_f, t0, n, Δt)
CASES = [(0.0, 0.9, 1, 10, 1), (0.0, 0.8, 5, 7, 3), (0.2, 0.95, 20, 28, 10), (0.5, 0.6, 2, 1, 9), (0.0, 0.93, 1, 3, 2)]

STUDY = """
name = "gradual"
seed = 3
trials = 1

[data]
name = "binary_clustering"
n_clusters = 4
dim = 40
samples_per_cluster = 20

[run]
setting = "gradual"
generations = 8
hidden = 12
latent = 4
amount = 0.2              # read by other settings only: left out of the gradual runs

[settings.gradual]
prune_start = 2
prune_end = 6
prune_every = 2

[factors]
operator = ["none", "magnitude"]
target_sparsity = [0.5, 0.9]
"""


@pytest.mark.parametrize("s_i, s_f, t0, n, dt", CASES)
def test_the_schedule_is_the_formula_at_every_generation(s_i, s_f, t0, n, dt):
    end = t0 + n * dt
    s = GradualSparsity(s_f, s_i, t0, end, dt)
    assert list(s.steps) == [t0 + k * dt for k in range(n + 1)]
    for t in range(end + 2 * dt + 1):
        assert s.prunes_at(t) == (t0 <= t <= end and (t - t0) % dt == 0), t
        if t < t0:
            assert s(t) == 0.0
        elif t <= end:
            assert s(t) == s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt)) ** 3, t
        else:
            assert s(t) == s_f
    assert s(t0) == pytest.approx(s_i, abs=1e-15) and s(end) == s_f


def test_prune_to_sparsity_is_exact_and_global(small_arch):
    from evoprune.genome import AutoencoderGenome

    g = AutoencoderGenome(small_arch, rng=rng(1))
    n_weights = sum(m.numel() for h in g.halves for m in h.masks[0::2])
    before = [p.clone() for h in g.halves for p in h.params]
    assert prune_to_sparsity(g, 0.7) == round(0.7 * n_weights)
    assert weight_sparsity(g) == round(0.7 * n_weights) / n_weights
    assert all(bool(m.all()) for h in g.halves for m in h.masks[1::2])  # biases are never pruned
    weights = torch.cat([p.abs().flatten() for p in before[0::2]])
    kept = torch.cat([m.flatten() for h in g.halves for m in h.masks[0::2]])
    assert weights[~kept].max() <= weights[kept].min()  # the smallest magnitudes of both halves went
    assert prune_to_sparsity(g, 0.5) == 0  # already sparser: nothing happens


def test_a_short_run_reaches_the_target_sparsity_exactly(small_data):
    cfg = RunConfig(setting="gradual", operator="magnitude", target_sparsity=0.85, initial_sparsity=0.1,
                    prune_start=2, prune_end=8, prune_every=3, generations=9, hidden=12, latent=4)
    assert cfg.label == "magnitude-gradual"
    schedule = sparsity_schedule(cfg)
    result = run(cfg, small_data, seed=5)
    best = result.best
    n_weights = sum(m.numel() for h in best.halves for m in h.masks[0::2])
    kept_weights = sum(int(m.sum()) for h in best.halves for m in h.masks[0::2])
    assert abs(kept_weights - (1 - 0.85) * n_weights) <= 1
    n_biases = best.n_params - n_weights
    assert result.fraction_kept == (kept_weights + n_biases) / best.n_params
    for rec in result.records:  # pruned at the steps only, each to the schedule's sparsity (within one weight)
        gen = rec["gen"]
        assert rec["npruned"] == int(gen in (2, 5, 8))
        want = schedule(max(t for t in schedule.steps if t <= gen)) if gen >= 2 else 0.0  # held between steps
        assert abs(rec["sparsity"] - want) <= 1 / n_weights, gen
    pruned = [p[~m] for h in best.halves for p, m in zip(h.params, h.masks, strict=True)]
    assert all(bool((p == 0).all()) for p in pruned)  # permanent masks
    assert result.tradeoff["hypervolume"] > 0
    assert best.lr == cfg.lr  # ordinary training: no learning-rate mutation


@pytest.mark.parametrize("fields, needle", [
    ({"target_sparsity": 1.0}, "target_sparsity must be a number in (0, 1)"),
    ({"target_sparsity": 0.0}, "target_sparsity must be a number in (0, 1)"),
    ({"target_sparsity": -0.2}, "target_sparsity must be a number in (0, 1)"),
    ({"target_sparsity": 0.9, "initial_sparsity": 0.9}, "initial_sparsity must be below target_sparsity"),
    ({"target_sparsity": 0.9, "prune_start": 6, "prune_end": 6}, "prune_end must be after prune_start"),
    ({"target_sparsity": 0.9, "prune_start": 7, "prune_end": 4}, "prune_end must be after prune_start"),
    ({"target_sparsity": 0.9, "prune_start": 1, "prune_end": 8, "prune_every": 2}, "prune_every must divide"),
    ({"target_sparsity": 0.9, "prune_end": 11}, "prune_end must be a generation of the run"),
    ({"target_sparsity": 0.9, "prune_every": 0}, "prune_every must be an integer >= 1"),
    ({"target_sparsity": 0.9, "prune_start": 1.5}, "prune_start must be an integer"),
    ({}, "target_sparsity is required"),
    ({"operator": "random", "target_sparsity": 0.9}, "choose operator 'magnitude'"),
    ({"operator": "none", "target_sparsity": 0.9}, "target_sparsity given for operator 'none'"),
    ({"target_sparsity": 0.9, "masks": "transient"}, "permanent masks"),
    ({"setting": "canonical", "target_sparsity": 0.9}, "target_sparsity is a field of setting 'gradual'"),
])
def test_bad_values_are_refused_naming_the_field(fields, needle):
    kw = {"setting": "gradual", "operator": "magnitude", "generations": 10, **fields}
    with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        RunConfig(**kw)


@pytest.mark.parametrize("change, key", [
    (("prune_every = 2", "prune_every = 0"), "settings.gradual.prune_every"),
    (("target_sparsity = [0.5, 0.9]", "target_sparsity = [0.5, 1.2]"), "factors.target_sparsity"),
    (("prune_end = 6", "prune_end = 6.5"), "settings.gradual.prune_end"),
    (("prune_start = 2", "prune_start = 7"), "prune_end must be after prune_start"),
    (("prune_end = 6", "prune_end = 20"), "prune_end must be a generation"),
    (('setting = "gradual"', 'setting = "canonical"'), "target_sparsity is a field of setting 'gradual'"),
])
def test_bad_values_in_a_study_file_name_the_file_and_the_key(change, key):
    with pytest.raises(StudyError) as e:
        parse_study(STUDY.replace(*change), "studies/g.toml")
    assert str(e.value).startswith("studies/g.toml: ") and key in str(e.value)


def test_a_study_of_the_gradual_setting_runs_and_reports(tmp_path):
    from evoprune.report.report import report
    from evoprune.study.store.pack import pack

    (tmp_path / "g.toml").write_text(STUDY)
    study = load_study(tmp_path / "g.toml")
    specs = study.runs()
    assert [s.group for s in specs] == ["none", "magnitude-gradual-target_sparsity0.5",
                                        "magnitude-gradual-target_sparsity0.9"]
    assert specs[1].config.amount == RunConfig.amount and specs[1].config.lr_sigma == RunConfig.lr_sigma
    assert specs[0].config.target_sparsity is None  # the unpruned group takes none of the schedule's fields
    rows = {r["group"]: r for r in run_study(study, tmp_path / "out", progress=False)}
    assert rows["none"]["fraction_kept"] == 1.0
    for target in (0.5, 0.9):
        row = rows[f"magnitude-gradual-target_sparsity{target}"]
        assert row["setting"] == "gradual" and row["schedule"] == "gradual" and row["hypervolume"] > 0
        assert row["fraction_kept"] < 1 - target + 0.1
    _, n = pack(tmp_path / "out", tmp_path / "pack")
    assert n == 3 and len(read_pack(tmp_path / "pack").runs) == 3
    assert "## gradual" in report(tmp_path / "pack").read_text()


def test_settings_without_the_fields_keep_their_fingerprints():
    """Runs of the other settings leave the gradual fields out of their identity (a packed study still matches)."""
    for cfg in (RunConfig(), RunConfig(setting="grid", operator="random")):
        assert not {"target_sparsity", "initial_sparsity", "prune_start", "prune_end", "prune_every"} & set(
            cfg.identity()) and "prune_end" not in cfg.as_dict()
    gradual = RunConfig(setting="gradual", operator="magnitude", target_sparsity=0.9, prune_end=50)
    assert gradual.identity()["target_sparsity"] == 0.9 and "prune_start" not in gradual.identity()


def test_a_run_resumed_from_a_checkpoint_ends_as_an_uninterrupted_one(small_data):
    import copy
    import types

    cfg = RunConfig(setting="gradual", operator="magnitude", target_sparsity=0.8, prune_start=1, prune_end=7,
                    prune_every=2, generations=8, hidden=12, latent=4)
    saved = {}

    def checkpoint(gen, population, logbook, g):
        if gen == 4:
            saved.update(population=copy.deepcopy(population), rng_state=copy.deepcopy(g.bit_generator.state),
                         gen=gen, logbook=copy.deepcopy(logbook))

    whole = run(cfg, small_data, seed=2, checkpoint=checkpoint)
    resumed = run(cfg, small_data, seed=2, resume=types.SimpleNamespace(**saved))
    assert resumed.test_l1 == whole.test_l1 and resumed.fraction_kept == whole.fraction_kept
    assert [r["sparsity"] for r in resumed.records] == [r["sparsity"] for r in whole.records]
    for a, b in zip(resumed.best.halves, whole.best.halves, strict=True):
        assert all(torch.equal(x, y) for x, y in zip(a.params, b.params, strict=True))
