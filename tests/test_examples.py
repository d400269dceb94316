"""The example scripts run, learn something, prune consistently with their logbook, and are quick."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

TUTORIALS = EXAMPLES / "tutorials"


def test_every_tutorial_is_in_the_reading_order():
    sys.path.insert(0, str(EXAMPLES.parent / "docs" / "_ext"))
    try:
        from ordering import ORDER
    finally:
        sys.path.pop(0)
    assert sorted(ORDER) == sorted(p.name for p in TUTORIALS.glob("*.py"))


def test_canonical_run_prunes_consistently_with_its_logbook():
    # What the toolbox tutorial plots, on a tiny problem: pruning is permanent, so in a
    # (1 + 1) loop the survivor's fraction kept never grows, and it drops only in a
    # generation whose offspring was pruned; the last record describes the survivor.
    from evoprune.data import binary_clustering
    from evoprune.runs import RunConfig, run

    data = binary_clustering(n_clusters=4, dim=64, samples_per_cluster=50, seed=0)
    r = run(RunConfig(operator="magnitude", generations=20, hidden=12, latent=4), data, seed=0)
    kept = [rec["kept_min"] for rec in r.records]
    npruned = [rec["npruned"] for rec in r.records]
    assert [rec["gen"] for rec in r.records] == list(range(21))
    assert kept[0] == 1.0
    for t in range(1, len(kept)):
        assert kept[t] <= kept[t - 1]
        if kept[t] < kept[t - 1]:
            assert npruned[t] == 1
    assert sum(npruned) > 0 and r.fraction_kept < 1.0
    assert kept[-1] == pytest.approx(r.fraction_kept)
    assert r.records[-1]["test_min"] == pytest.approx(r.test_l1)
    assert r.test_l1 < 0.35  # learned: an untrained network scores ~0.50
    module = r.best.to_module(prune_layout=True)
    n_mask = sum(int(buf.sum()) for name, buf in module.named_buffers() if name.endswith("_mask"))
    assert n_mask == r.best.n_kept


def test_grid_example_small(tmp_path):
    spec = importlib.util.spec_from_file_location("grid_coevolution", EXAMPLES / "grid_coevolution.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    res = mod.main(
        [
            "--generations",
            "12",
            "--dim",
            "40",
            "--clusters",
            "4",
            "--samples-per-cluster",
            "25",
            "--hidden",
            "12",
            "--latent",
            "4",
            "--grid",
            "ring:5",
            "--schedule",
            "fixed",
            "--out",
            str(tmp_path),
        ]
    )
    assert res["test_l1"] < res["records"][0]["best_test"] - 0.1  # it learned
    assert res["fraction_kept"] < 1.0  # RANDOM pruning fired (p = 0.5 every generation)
    assert len(res["cell_l1"]) == 5
    for name in ("curves.png", "cells.png", "logbook.jsonl"):
        assert (tmp_path / name).stat().st_size > 1000
