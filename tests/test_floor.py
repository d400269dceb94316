"""The sparsest model at the floor across studies: which entries, their medians and ranking, and the page section."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from evoprune.report.floor import floor_frame, floor_ranking, floor_summary
from evoprune.study.store.pack import pack
from evoprune.study.studyfile import load_study

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "docs" / "_ext"))
floor_page = pytest.importorskip("floor_page")

DATA = """
[data]
name = "binary_clustering"
n_clusters = 4
dim = 40
samples_per_cluster = 20
flip = 0.05
"""
PAPER = f"""
name = "paper"
seed = 7
trials = 4
{DATA}
[run]
generations = 6

[factors]
setting = ["canonical", "grid"]
operator = ["none", "random", "magnitude"]
schedule = ["exponential", "final_n"]
"""
RECIPE = f"""
name = "sparsest"
seed = 9
trials = 4
{DATA}
[run]
generations = 6
operator = "magnitude"
schedule = "increase"

[factors]
amount = [0.05, 0.1]
"""
# (setting, group) -> the kept centre of the front's model at the floor (test L1 0.051); None: never at the floor
KEPT = {("canonical", "random-exponential"): 0.7, ("canonical", "random-final_n"): 0.5,
        ("canonical", "magnitude-exponential"): 0.2, ("canonical", "magnitude-final_n"): 0.3,
        ("grid", "random-exponential"): 0.6, ("grid", "random-final_n"): None,
        ("grid", "magnitude-exponential"): 0.25, ("grid", "magnitude-final_n"): 0.15,
        ("canonical", "magnitude-increase-amount0.05"): 0.07, ("canonical", "magnitude-increase-amount0.1"): 0.12}


def _fake(root: Path, text: str) -> Path:
    """A pack of a study whose runs' fronts put the model at the floor near ``KEPT``."""
    out = root / "out"
    (out / "runs").mkdir(parents=True)
    (out / "study.toml").write_text(text)
    rng = np.random.default_rng(len(text))
    for spec in load_study(out / "study.toml").runs():
        op, centre = spec.config.operator, KEPT.get((spec.config.setting, spec.group), 1.0)
        kept = 1.0 if centre is None else min(1.0, centre + rng.uniform(-0.005, 0.005))
        front = [[0.051, kept], [0.08, kept / 2]] if centre is not None else [[0.07, 0.4]]
        final_l1 = 0.0515 if centre is not None and centre < 0.08 else 0.06
        d = out / "runs" / spec.run_id
        d.mkdir()
        row = {"run_id": spec.run_id, "setting": spec.config.setting, "group": spec.group, "operator": op,
               "schedule": spec.config.schedule if op != "none" else "-", "trial": spec.trial, "seed": spec.seed,
               "test_l1": final_l1, "train_l1": final_l1, "fraction_kept": kept, "front": front,
               "hypervolume": 1 - kept, "wall_time": 10.0 + spec.trial, "generations": 6}
        (d / "result.json").write_text(json.dumps(row))
        (d / "config.json").write_text(json.dumps({"config": {"operator": op}, "fingerprint": spec.run_id}))
        (d / "log.jsonl").write_text(json.dumps({"gen": 0}) + "\n")
    pack(out, root / "pack")
    return root / "pack"


@pytest.fixture(scope="module")
def packs(tmp_path_factory):
    return {"paper": _fake(tmp_path_factory.mktemp("paper"), PAPER),
            "sparsest": _fake(tmp_path_factory.mktemp("sparsest"), RECIPE)}


def test_the_operators_study_gives_each_operators_sparsest_schedule(packs):
    frame = floor_frame(packs, operators="paper")
    paper = frame[frame["study"] == "paper"]
    assert sorted(set(zip(paper["setting"], paper["group"], strict=True))) == [
        ("canonical", "magnitude-exponential"), ("canonical", "random-final_n"),
        ("grid", "magnitude-final_n"), ("grid", "random-exponential")]
    assert len(paper) == 4 * 4 and "none" not in set(paper["operator"])
    recipe = frame[frame["study"] == "sparsest"]
    assert set(recipe["entry"]) == {"sparsest: canonical magnitude-increase-amount0.05",
                                    "sparsest: canonical magnitude-increase-amount0.1"}


def test_a_run_never_at_the_floor_keeps_one_and_the_summary_sorts_by_kept(packs):
    frame = floor_frame(packs)  # no operators' study: every group
    never = frame[(frame["setting"] == "grid") & (frame["group"] == "random-final_n")]
    assert (never["kept_at_floor"] == 1.0).all()
    s = floor_summary(frame)
    assert s["entry"].iloc[0] == "sparsest: canonical magnitude-increase-amount0.05"
    assert s["kept_at_floor"].is_monotonic_increasing
    first = frame[frame["entry"] == s["entry"].iloc[0]]
    assert s["kept_at_floor"].iloc[0] == pytest.approx(np.median(first["kept_at_floor"]))
    assert s["at_floor"].iloc[0] == 4 and s.loc[s["entry"].str.endswith("random-final_n") & (s["setting"] == "grid"),
                                                 "at_floor"].item() == 0


def test_the_ranking_puts_the_sparsest_first_and_is_unblocked_across_seeds(packs):
    r = floor_ranking(floor_frame(packs, operators="paper"))
    assert r["best"] == "sparsest: canonical magnitude-increase-amount0.05"
    assert not r["blocked"] and r["test"] == "Kruskal–Wallis"  # the two studies' trials have other seeds
    assert r["groups"] == 6 and r["pairs"] == 5


def test_the_page_section_counts_the_target_and_names_a_missing_pack(packs, tmp_path):
    shown = {"paper": "results/paper", "baseline": "results/baseline", "sparsest": "results/sparsest"}
    text = floor_page.page({**packs, "baseline": tmp_path / "none"}, shown)
    assert "``results/baseline``: no pack yet" in text and "**24 runs**" in text
    row = text[text.index("   * - sparsest: canonical magnitude-increase-amount0.05"):].splitlines()[:8]
    assert row[6].strip() == "- 4"  # every run's final model at test L1 <= 0.052 and kept <= 0.08
    assert "Kruskal–Wallis p = " in text
    empty = floor_page.page({n: tmp_path / "none" for n in shown}, shown)
    assert "No pack yet" in empty
