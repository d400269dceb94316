"""The example scripts run, learn something, prune consistently with their logbook, and are quick."""

from __future__ import annotations

import os
import re
import subprocess
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


@pytest.mark.slow
def test_grid_tutorial_runs_as_a_script():
    # As the docs build runs it: a plain script, the fused kernel as the environment allows.
    env = {k: v for k, v in os.environ.items() if k != "EVOPRUNE_FUSED"}
    env["MPLBACKEND"] = "Agg"
    proc = subprocess.run(
        [sys.executable, str(TUTORIALS / "grid.py")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    first = re.search(r"^ +0 +0 +([\d.]+) +1\.000", out, re.M)
    best = re.search(r"best centre: cell \d+, test L1 ([\d.]+), fraction kept ([\d.]+)", out)
    rows = dict(re.findall(r"^(always|parsimony) +test L1 ([\d.]+)", out, re.M))
    kept = dict(re.findall(r"^(always|parsimony) .*fraction kept ([\d.]+)", out, re.M))
    assert first and best and set(rows) == {"always", "parsimony"}, out
    # untrained cells score like a constant 0.5 output; trained ones far below it
    assert float(first[1]) > 0.45
    assert float(best[1]) < 0.35 and float(rows["parsimony"]) < 0.35
    # RANDOM pruning fired and was kept
    assert float(best[2]) < 1.0
    # the page says: the first configured run repeats the hand-built run, and parsimony
    # replacement ends with the lower loss
    assert (rows["always"], kept["always"]) == (best[1], best[2])
    assert float(rows["parsimony"]) < float(rows["always"])
