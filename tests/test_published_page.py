"""The published conditions and the ablation on the reproduction page: figures beside runs, claims per variant."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evoprune.report.published import Figure, ablation_rows, deciding_conditions, figure_rows

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "docs" / "_ext"))
page_ext = pytest.importorskip("published_page")


def _runs(setting: str, group: str, operator: str, l1, kept=None, hv=None, trials=10) -> list[dict]:
    rng = np.random.default_rng(abs(hash((setting, group))) % 2**32)
    return [{"run_id": f"{setting}__{group}__t{t:02d}", "setting": setting, "group": group, "operator": operator,
             "schedule": "exponential", "trial": t, "seed": 100 + t,
             "published_train_l1": l1 + 0.002 * rng.standard_normal(), "published_kept": kept if kept else 1.0,
             "hypervolume": (hv if hv is not None else 0.1) + 0.01 * rng.standard_normal(),
             "test_l1": l1, "fraction_kept": 1.0} for t in range(trials)]


def test_figures_beside_their_runs_with_the_tolerance():
    df = pd.DataFrame(_runs("canonical", "none", "none", 0.268) + _runs("canonical", "random-exponential", "random",
                                                                          0.30, 0.79))
    rows = figure_rows(df, [Figure("canonical", "none", "unpruned", 0.268, 1.0, "fig a"),
                            Figure("canonical", "random-exponential", "RANDOM", 0.50, 0.79, "fig b"),
                            Figure("grid", "none", "unpruned", 0.145, None, "fig c")])
    assert rows[0]["published_train_l1"]["reproduced"] and rows[0]["published_kept"]["reproduced"]
    assert not rows[1]["published_train_l1"]["reproduced"]  # 0.50 against runs at 0.30
    assert rows[1]["published_kept"]["reproduced"]
    assert rows[2]["n"] == 0 and "published_train_l1" not in rows[2]
    assert rows[1]["published_train_l1"]["median"] == pytest.approx(0.30, abs=0.005)


def _ablation() -> pd.DataFrame:
    runs = []
    # canonical from the published conditions: CONJUNCTIVE trains (0.27), RANDOM and VARIANCE stay at 0.50 ...
    for op, name, l1 in (("random", "random", 0.50), ("variance", "variance_published", 0.50),
                         ("conjunctive", "conjunctive_published", 0.27)):
        runs += _runs("canonical", f"{name}-exponential@published", name, l1, hv=0.1)
        # ... and with the learning-rate regime switched every operator trains: RANDOM best
        runs += _runs("canonical", f"{name}-exponential@published-lr", name, {"random": 0.06}.get(op, 0.09),
                      hv={"random": 0.3}.get(op, 0.1))
    runs += _runs("canonical", "variance-exponential@published-variance", "variance", 0.50, hv=0.1)
    for op, l1 in (("random", 0.10), ("variance_published", 0.16), ("conjunctive_published", 0.15)):
        runs += _runs("grid", f"{op}-exponential@published", op, l1, hv=0.2)
    return pd.DataFrame(runs)


def test_ablation_tests_each_variant_with_its_baselines_groups():
    rows = ablation_rows(_ablation())
    by = {(r["setting"], r["variant"], r["metric"]): r for r in rows}
    base = by[("canonical", "published", "published_train_l1")]
    assert base["verdict"].startswith("supported")  # CONJUNCTIVE beats RANDOM on training L1
    lr = by[("canonical", "published-lr", "published_train_l1")]
    assert lr["switched"] == "lr" and lr["verdict"].startswith("contradicted")
    variance = by[("canonical", "published-variance", "published_train_l1")]
    assert variance["groups"]["random"] == "random-exponential@published"  # from the baseline
    assert variance["groups"]["variance"] == "variance-exponential@published-variance"
    grid = by[("grid", "published", "published_train_l1")]
    assert grid["verdict"].startswith("supported") and {p["a"] for p in grid["pairs"]} == {
        "random-exponential@published"}
    assert {r["metric"] for r in rows} == {"published_train_l1", "hypervolume"}
    for r in rows:
        assert all(0 <= p["a12"] <= 1 for p in r["pairs"]) and r["n"] == 10


def test_the_page_names_its_packs_and_links_every_measured_condition(tmp_path, monkeypatch):
    from evoprune.study.store import load, shards  # imported before is_pack is patched: load keeps the real one

    ab = _ablation()
    assert load.is_pack is shards.is_pack
    monkeypatch.setattr("evoprune.study.load_results", lambda path: ab if "abl" in str(path) else ab.iloc[:0])
    monkeypatch.setattr(shards, "is_pack", lambda path: True)
    text = page_ext.page(tmp_path / "pub", tmp_path / "abl", ("results/published", "results/ablation"))
    assert "The published conditions" in text and "Ablation: which condition decides each claim" in text
    assert ".. _ablation-lr:" in text and ":ref:`the ablation <ablation-lr>`" in text
    assert ":ref:`the ablation <ablation-masks>`" not in text  # not measured: no dangling link
    assert f"**{len(ab)} finished runs** of ``studies/ablation.toml``" in text


def test_a_metric_every_run_ties_on_says_so_instead_of_a_p_value():
    ab = _ablation()
    ab.loc[ab["group"].str.endswith("@published") & (ab["setting"] == "canonical"), "hypervolume"] = 0.0
    by = {(r["setting"], r["variant"], r["metric"]): r for r in ablation_rows(ab)}
    assert by[("canonical", "published", "hypervolume")]["verdict"] == "no difference: every run scores 0"
    assert not by[("canonical", "published-lr", "hypervolume")]["verdict"].startswith("no difference")


def test_each_pair_reads_claimed_winner_first(tmp_path, monkeypatch):
    from evoprune.study.store import shards

    ab = _ablation()
    monkeypatch.setattr("evoprune.study.load_results", lambda path: ab if "abl" in str(path) else ab.iloc[:0])
    monkeypatch.setattr(shards, "is_pack", lambda path: True)
    text = page_ext.page(tmp_path / "pub", tmp_path / "abl", ("results/published", "results/ablation"))
    rows = {row.split("\n")[0]: row for row in text.split("   * - ")[1:]}  # table rows by their first cell
    assert "conjunctive_published vs random: p" in rows["canonical"]  # the guided operator is claimed better
    assert "random vs conjunctive_published: p" in rows["grid"]  # in coevolution RANDOM is


def test_the_summary_names_the_conditions_that_change_a_verdict():
    rows = ablation_rows(_ablation())
    canonical = next(d for d in deciding_conditions(rows) if d["setting"] == "canonical")
    assert canonical["verdict"].startswith("supported")
    assert dict(canonical["changed"])["lr"].startswith("contradicted")
    assert "lr" not in canonical["same"]
    assert canonical["undecided"] == []
    few = _ablation()
    few = few[~((few["group"] == "random-exponential@published-lr") & (few["trial"] >= 4))]
    lr = next(d for d in deciding_conditions(ablation_rows(few)) if d["setting"] == "canonical")
    assert lr["undecided"] == [("lr", 4)] and "lr" not in dict(lr["changed"])
    grid = next(d for d in deciding_conditions(rows) if d["setting"] == "grid")
    assert grid["changed"] == [] and grid["same"] == []  # no grid variant ran
    hv = deciding_conditions(rows, "hypervolume")
    assert {d["setting"] for d in hv} == {"canonical", "grid"}


def test_the_published_store_pack_is_its_own_figure_row(tmp_path, monkeypatch):
    from evoprune.study.store import shards

    pub = pd.DataFrame(_runs("canonical", "variance_published-exponential", "variance_published", 0.5, 0.81))
    store = pd.DataFrame(_runs("canonical", "variance_published-exponential", "variance_published", 0.5, 0.43))
    assert page_ext.with_extras(pub, {"store": None}) is pub
    rows = {r["figure"].group: r for r in figure_rows(page_ext.with_extras(pub, {"store": store}), page_ext.figures())}
    assert rows["variance_published-exponential"]["published_kept"]["reproduced"] is False
    assert rows["variance_published-exponential@store"]["published_kept"]["reproduced"] is True
    assert rows["random-exponential@4000"]["n"] == 0
    monkeypatch.setattr("evoprune.study.load_results", lambda path: store if Path(path).name == "store" else pub)
    monkeypatch.setattr(shards, "is_pack", lambda path: Path(path).name != "abl")
    text = page_ext.page(tmp_path / "pub", tmp_path / "abl", ("results/published", "results/ablation"),
                         {"store": (tmp_path / "store", "results/published_store"),
                          "4000": (tmp_path / "abl", "results/published_4000")})
    assert "``results/published``, ``results/published_store``: **20 finished runs**" in text
    assert "VARIANCE, exponential, published store" in text and "the row *published store* runs that" in text


def test_a_4000_generation_row_says_how_its_400_generation_row_fares():
    pub = pd.DataFrame(_runs("canonical", "random-exponential", "random", 0.5, 0.79))
    long = pd.DataFrame(_runs("canonical", "random-exponential", "random", 0.5, 0.42))
    lines = page_ext._figures_part(page_ext.with_extras(pub, {"4000": long}), "``p``")
    note = next(s for s in lines if s.startswith("* canonical, RANDOM, exponential, 4000 generations"))
    assert "(row *RANDOM, exponential*) reproduces both numbers" in note
    worse = pub.assign(published_kept=0.3)
    lines = page_ext._figures_part(page_ext.with_extras(worse, {"4000": long}), "``p``")
    assert any("does not reproduce them either" in s for s in lines)
