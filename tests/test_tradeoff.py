import copy
import dataclasses
import json

import numpy as np
import pytest
import torch
from deap import creator, tools

from evoprune.data import binary_clustering
from evoprune.engine.tradeoff import TradeoffStatistics, hypervolume, l1_at_kept, pareto_front, run_points, summarise
from evoprune.evaluation import reconstruction_error
from evoprune.report.report import report
from evoprune.runs import RunConfig, run, select_final
from evoprune.runs.canonical import canonical_toolbox

SMALL = {"hidden": 12, "latent": 4, "batch_size": 10}


@pytest.fixture(scope="module")
def data():
    return binary_clustering(n_clusters=4, dim=40, samples_per_cluster=25, seed=3)


def test_hypervolume_is_the_dominated_area_up_to_the_reference():
    assert hypervolume([(0.1, 0.5)]) == pytest.approx(0.4 * 0.5)
    # two steps: 0.4 x 0.5 + 0.3 x 0.3; dominated and outside points add nothing
    pts = [(0.1, 0.5), (0.2, 0.2), (0.3, 0.6), (0.6, 0.1), (0.05, 1.0)]
    assert hypervolume(pts) == pytest.approx(0.4 * 0.5 + 0.3 * 0.3)
    assert hypervolume([(0.1, 1.0)]) == 0.0 and hypervolume([]) == 0.0
    assert hypervolume([(0.1, 0.5)], ref=(1.0, 1.0)) == pytest.approx(0.9 * 0.5)


def test_pareto_front_and_l1_at_matched_sparsity():
    pts = [(0.1, 1.0), (0.12, 0.5), (0.3, 0.2), (0.2, 0.6), (0.25, 0.25)]
    assert pareto_front(pts) == [(0.1, 1.0), (0.12, 0.5), (0.25, 0.25), (0.3, 0.2)]
    assert l1_at_kept(pts, 0.5) == 0.12 and l1_at_kept(pts, 0.25) == 0.25
    assert l1_at_kept(pts, 0.1) == 0.5  # never that sparse: the reference L1
    s = summarise(pts)
    assert s["l1_at_kept_0.5"] == 0.12 and s["l1_at_kept_0.25"] == 0.25
    assert s["hypervolume"] == pytest.approx(hypervolume(pts)) and len(s["front"]) == 4
    records = [{"tradeoff_front": [[0.3, 0.2]]}, {"tradeoff_front": [[0.12, 0.5], [0.4, 0.1]]}, {}]
    assert run_points(records, final=(0.2, 0.3)) == [(0.12, 0.5), (0.2, 0.3), (0.3, 0.2), (0.4, 0.1)]


def test_test_errors_ride_along_but_do_not_choose():
    # (validation L1, kept, test L1): the front and the choice at each sparsity follow validation only
    records = [{"tradeoff_front": [[0.1, 1.0], [0.3, 0.4]], "tradeoff_front_test": [0.9, 0.05]},
               {"tradeoff_front": [[0.2, 0.4]], "tradeoff_front_test": [0.8]}]
    pts = run_points(records, final=(0.25, 0.2, 0.01))
    assert pts == [(0.1, 1.0, 0.9), (0.2, 0.4, 0.8), (0.25, 0.2, 0.01)]
    s = summarise(pts)
    assert s["front"] == [[0.1, 1.0], [0.2, 0.4], [0.25, 0.2]] and s["front_test"] == [0.9, 0.8, 0.01]
    assert s["l1_at_kept_0.5"] == 0.2 and s["test_l1_at_kept_0.5"] == 0.8  # not the test-best 0.05
    assert s["hypervolume"] == pytest.approx(hypervolume([(0.1, 1.0), (0.2, 0.4), (0.25, 0.2)]))
    # a log written before test errors were recorded: plain points
    assert run_points([{"tradeoff_front": [[0.1, 0.5]]}], final=(0.2, 0.3, 0.4)) == [(0.1, 0.5), (0.2, 0.3)]


def test_tradeoff_statistics_records_the_populations_front(small_arch, data):
    from evoprune.pruning import mutPrune

    pop = [creator.Genome(small_arch, rng=i) for i in range(3)]
    mutPrune(pop[1], "magnitude", amount=0.5)
    rec = TradeoffStatistics(data.validation, test=data.test).compile(pop)
    expected = pareto_front((reconstruction_error(i, data.validation), i.fraction_kept, k) for k, i in enumerate(pop))
    assert len(rec["front"]) == len(expected)
    for got, test, want in zip(rec["front"], rec["front_test"], expected, strict=True):
        assert got == pytest.approx(list(want[:2]), abs=1e-6)
        assert test == pytest.approx(reconstruction_error(pop[int(want[2])], data.test), abs=1e-6)
    assert any(p[1] < 0.6 for p in rec["front"])  # the pruned genome is on the front (it is the sparsest)


def test_runs_record_the_tradeoff_and_its_summary(data):
    none = run(RunConfig(operator="none", generations=8, **SMALL), data, 0)
    pruned = run(RunConfig(operator="magnitude", schedule="fixed", p=1.0, amount=0.3, generations=8,
                           selection="best", **SMALL), data, 0)
    assert none.summary()["hypervolume"] == 0.0 and none.summary()["l1_at_kept_0.5"] == 0.5
    s = pruned.summary()
    assert s["hypervolume"] > 0 and s["l1_at_kept_0.5"] < 0.5
    assert all("tradeoff_front" in r and "tradeoff_front_test" in r for r in pruned.records)
    val = reconstruction_error(pruned.best, data.validation)
    assert any(p[0] <= val + 1e-6 and p[1] <= s["fraction_kept"] + 1e-9 for p in s["front"])
    assert len(s["front_test"]) == len(s["front"]) and s["test_l1_at_kept_0.5"] in s["front_test"]
    json.dumps(s)  # result.json-ready


def test_no_quantity_that_selects_reads_test_data(data):
    """Replacing the test set changes the reported test errors, not the front, hypervolume or final model."""
    cfg = RunConfig(operator="magnitude", schedule="fixed", p=1.0, amount=0.3, generations=6, selection="nsga2",
                    mu=4, lambda_=4, **SMALL)
    noise = np.random.default_rng(9).random(tuple(data.test.shape)).astype("float32")
    other = dataclasses.replace(data, test=torch.from_numpy(noise))
    a, b = run(cfg, data, 0).summary(), run(cfg, other, 0).summary()
    for key in ("front", "hypervolume", "l1_at_kept_0.5", "fraction_kept", "train_l1"):
        assert a[key] == b[key], key
    assert a["front_test"] != b["front_test"] and a["test_l1"] != b["test_l1"]


def test_nsga2_selection_keeps_a_tradeoff_population(data):
    cfg = RunConfig(operator="magnitude", schedule="fixed", p=0.5, amount=0.2, generations=6, selection="nsga2",
                    mu=4, lambda_=4, **SMALL)
    tb = canonical_toolbox(cfg, data)
    assert tb.select.func is tools.selNSGA2
    res = run(cfg, data, 0)
    pop = res.population
    assert len(pop) == 4 and all(len(i.fitness.values) == 2 for i in pop)
    assert all(i.fitness.values[1] == pytest.approx(i.fraction_kept) for i in pop)
    # half the children are pruned; NSGA-II keeps models at several sparsities, not only the lowest-loss one
    assert len({round(i.fraction_kept, 6) for i in pop}) > 1
    assert res.fraction_kept == min(i.fraction_kept for i in pop if res.best is i) and res.best in pop


def test_select_final_takes_the_sparsest_model_within_tolerance(small_arch, data):
    from evoprune.pruning import mutPrune
    from evoprune.training import mutTrain

    dense = creator.Genome(small_arch, rng=0, lr=1e-2)
    mutTrain(dense, data.train, rng=0, batch_size=10, loss="bce", epochs=20)
    light, heavy = copy.deepcopy(dense), copy.deepcopy(dense)
    mutPrune(light, "magnitude", amount=0.01)
    mutPrune(heavy, "magnitude", amount=0.9)
    errs = {id(g): reconstruction_error(g, data.validation) for g in (dense, light, heavy)}
    assert errs[id(heavy)] > 1.01 * min(errs.values())  # heavy pruning of an untrained net changes its output
    assert select_final([dense, heavy, light], data.validation, tolerance=0.01) is light
    assert select_final([dense, heavy, light], data.validation, tolerance=10.0) is heavy


def test_report_compares_groups_on_hypervolume(tmp_path):
    rng = np.random.default_rng(0)
    for group, hv_centre in (("random-exponential", 0.05), ("magnitude-exponential", 0.2)):
        for t in range(6):
            d = tmp_path / "runs" / f"{group}-{t}"
            d.mkdir(parents=True)
            hv = hv_centre + rng.normal(0, 0.005)
            row = {"setting": "canonical", "group": group, "operator": group.split("-")[0], "trial": t,
                   "schedule": "exponential", "seed": t, "test_l1": 0.1 + rng.normal(0, 0.01),
                   "fraction_kept": 0.5, "hypervolume": hv, "l1_at_kept_0.5": 0.2 - hv / 2, "l1_at_kept_0.25": 0.5,
                   "front": [[0.1, 0.5]]}
            (d / "result.json").write_text(json.dumps(row))
    text = report(tmp_path).read_text()
    assert "hypervolume (validation)" in text and "val. L1 at kept ≤ 0.5" in text
    # 6 of 6 blocks agree: p = 2/64, and every magnitude run beats every random run
    assert "- hypervolume (validation), operators, schedule exponential: magnitude ≻ random (0.031, 1.00)" in text
    groups = (tmp_path / "report" / "groups.csv").read_text()
    assert "hypervolume_median" in groups.splitlines()[0]


def test_population_errors_measure_each_distinct_genome_once(small_arch, small_data, monkeypatch):
    from evoprune import metrics
    from evoprune.genome import AutoencoderGenome
    from evoprune.pruning import mutPrune

    calls = []
    real = metrics.reconstruction_errors
    monkeypatch.setattr(metrics, "reconstruction_errors", lambda gs, *a: calls.append(len(gs)) or real(gs, *a))
    errors = metrics.PopulationErrors(small_data.test)
    parent = AutoencoderGenome(small_arch, rng=0)
    first = errors([parent])
    errors.clear()
    survivor = copy.deepcopy(parent)  # another object, the same weights and masks: looked up, not measured
    assert errors([survivor]) == first and calls == [1, 0]
    errors.clear()
    child = copy.deepcopy(parent)
    mutPrune(child, method="random", amount=0.3, rng=1)  # changed in place: measured again
    both = errors([survivor, child])
    assert calls == [1, 0, 1] and both[0] == first[0] and both[1] != first[0]
    assert both[1] == real([child], small_data.test)[0].item()
