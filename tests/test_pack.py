"""A study that travels: stopped at a time limit, packed into shards, continued elsewhere from the pack."""

import itertools
import json
import shutil
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from evoprune.cli import main
from evoprune.models.measure import ModelMeasurement
from evoprune.report.report import report
from evoprune.study.runner import TIMING_FIELDS, run_study, study_status
from evoprune.study.store.load import load_logs, load_results
from evoprune.study.store.pack import DROPPED_LOG_KEYS, pack
from evoprune.study.store.shards import Pack, read_pack
from evoprune.study.studyfile import StudyError, load_study

from .test_study import TINY

STUDY = (TINY.replace('name = "tiny"', 'name = "travel"').replace("seed = 1", "seed = 4")
         .replace("trials = 2", "trials = 3").replace("checkpoint_every = 3", "checkpoint_every = 4")
         .replace("generations = 12", "generations = 8"))
N_RUNS = 12
K = 2  # trials per job


def _strip(rows):
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in rows]


def _frame(path):
    df = load_results(path)
    return df.drop(columns=[c for c in df.columns if c in TIMING_FIELDS])


def _ticks(step=1.0):
    counter = itertools.count()
    return lambda: step * next(counter)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("travel")
    path = root / "travel.toml"
    path.write_text(STUDY)
    # as the function-scoped fixtures of conftest.py do for the tests themselves
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EVOPRUNE_COMPILE", "0")
        mp.setenv("EVOPRUNE_FUSED", "0")
        torch.set_num_threads(1)
        try:
            rows = run_study(load_study(path), root / "ref", progress=False, trials_per_job=K)
        finally:
            torch.set_num_threads(threads)
    return root, path, rows


def test_stopped_packed_and_continued_study_equals_an_uninterrupted_one(base, tmp_path):
    root, path, ref_rows = base
    study = load_study(path)
    # machine A: stopped by the time limit (every look at the clock is one second later)
    partial = run_study(study, tmp_path / "a", progress=False, trials_per_job=K, time_limit=12, clock=_ticks())
    assert 0 < len(partial) < N_RUNS
    trials = {}
    for r in partial:
        trials.setdefault((r["setting"], r["group"]), []).append(r["trial"])
    assert all(sorted(t) == list(range(len(t))) for t in trials.values())  # trial-major: prefixes, no gaps
    assert len(trials) == 4 and max(map(len, trials.values())) - min(map(len, trials.values())) <= K
    md = report(tmp_path / "a", formats=("md",)).read_text()
    assert f"**Partial study:** {len(partial)} of its {N_RUNS} runs finished" in md
    shard, n = pack(tmp_path / "a", tmp_path / "pack")
    assert n == len(partial) and shard.parent == tmp_path / "pack"
    # machine B: a new folder, continued from the pack; the packed runs are not redone
    rows = run_study(study, tmp_path / "b", progress=False, trials_per_job=K, packs=[tmp_path / "pack"])
    assert _strip(rows) == _strip(ref_rows)
    assert len(list((tmp_path / "b" / "runs").iterdir())) == N_RUNS - n
    assert study_status(study, tmp_path / "b")["finished"] == [r["run_id"] for r in ref_rows]
    shard2, n2 = pack(tmp_path / "b", tmp_path / "pack")
    assert n2 == N_RUNS - n and shard2 != shard
    assert pack(tmp_path / "b", tmp_path / "pack") == (None, 0)  # nothing new: no shard
    assert len(list((tmp_path / "pack").glob("shard-*"))) == 2
    held = read_pack(tmp_path / "pack")
    assert isinstance(held, Pack) and len(held.shards) == 2
    ref = _frame(root / "ref")
    pd.testing.assert_frame_equal(_frame(tmp_path / "pack"), ref)
    pd.testing.assert_frame_equal(_frame(tmp_path / "b"), ref)  # its own runs and the pack's, once each
    # the logs: every scalar statistic of every generation, as float32
    packed = load_logs(tmp_path / "pack", ref["run_id"])
    for run_id in ref["run_id"]:
        lines = (root / "ref" / "runs" / run_id / "log.jsonl").read_text().splitlines()
        want = [json.loads(x) for x in lines]
        got = packed[run_id]
        assert [r["gen"] for r in got] == list(range(9))
        for w, g in zip(want, got, strict=True):
            keys = {k for k, v in w.items() if k not in DROPPED_LOG_KEYS[2:] and v is not None}
            assert set(g) == keys
            for k in keys - {"time"}:
                assert np.float32(g[k]) == np.float32(w[k]), (run_id, k)
    # continuing in the same way after a pack: the same command with the pack finishes nothing twice
    assert _strip(run_study(study, tmp_path / "b", progress=False)) == _strip(ref_rows)


def test_report_from_the_pack_alone(base, tmp_path, capsys):
    root, path, _ = base
    assert main(["pack", str(root / "ref"), str(tmp_path / "p"), "--models", "best", "--no-measure"]) == 0
    assert not list((tmp_path / "p" / "models").glob("*.json"))  # --no-measure: the models only
    alone = tmp_path / "elsewhere"
    shutil.copytree(tmp_path / "p", alone)  # no run folders anywhere near it
    assert not (alone / "runs").exists()
    assert main(["status", str(alone)]) == 0
    assert f"pack of study 'travel': {N_RUNS}/{N_RUNS} runs in 1 shards" in capsys.readouterr().out
    md = report(alone).read_text()
    ref_md = report(root / "ref").read_text()
    assert md.splitlines()[1:] == ref_md.splitlines()[1:]  # all but the title (the folder's name)
    for name in ("groups.csv", "pairwise.csv", "tables.tex"):
        assert (alone / "report" / name).read_text() == (root / "ref" / "report" / name).read_text(), name
    csv = [pd.read_csv(d / "report" / "results.csv").drop(columns=["wall_time", "inference_time"])
           for d in (alone, root / "ref")]
    pd.testing.assert_frame_equal(*csv)
    assert len(csv[0]) == N_RUNS
    for fig in ("curves_canonical.png", "masks_canonical.png", "masks_grid.png"):
        assert (alone / "report" / fig).is_file(), fig
    # --models best: one model per group, each group's run with the highest hypervolume (then lowest trial)
    df = load_results(root / "ref").sort_values(["hypervolume", "trial"], ascending=[False, True])
    best = df.drop_duplicates(["setting", "group"])["run_id"]
    assert sorted(p.stem for p in (alone / "models").iterdir()) == sorted(best)


def test_cli_time_limit_stops_with_one_line_and_the_same_command_continues(base, tmp_path, capsys):
    root, path, ref_rows = base
    out = tmp_path / "o"
    cmd = ["run", str(path), "--out", str(out), "--trials-per-job", str(K), "--time-limit", "25s", "--no-report"]
    fake = types.SimpleNamespace(monotonic=_ticks(10.0))  # 10 s per look: one job, then no time for another
    with pytest.MonkeyPatch.context() as mp:  # (monkeypatch.undo would also undo conftest's EVOPRUNE_FUSED=0)
        mp.setattr("evoprune.study.dispatch.time", fake)
        assert main(cmd) == 0
    assert capsys.readouterr().out == (f"stopped at the time limit: {K}/{N_RUNS} runs finished; run the same "
                                       "command to continue\n")
    assert main(["status", str(out)]) == 0
    assert f"{K}/{N_RUNS} runs finished" in capsys.readouterr().out
    assert main(cmd) == 0
    assert "stopped" not in capsys.readouterr().out
    assert _strip(run_study(load_study(path), out, progress=False)) == _strip(ref_rows)


def test_trials_runs_a_prefix_with_the_same_ids(base, tmp_path, capsys):
    root, path, ref_rows = base
    out = tmp_path / "o"
    assert main(["run", str(path), "--out", str(out), "--trials", "1", "--no-report"]) == 0
    prefix = [r for r in ref_rows if r["trial"] == 0]
    assert _strip(load_results(out).to_dict("records")) == _strip(_frame(root / "ref").query("trial == 0")
                                                                 .to_dict("records"))
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(r["run_id"] for r in prefix)
    with pytest.raises(SystemExit) as e:
        main(["run", str(path), "--out", str(tmp_path / "z"), "--trials", "0"])
    assert e.value.code == 2 and "--trials: expected an integer >= 1, got 0" in capsys.readouterr().err
    with pytest.raises(StudyError, match="trials 4: expected an integer from 1 to the study's 3"):
        run_study(load_study(path), tmp_path / "z", trials=4, progress=False)
    assert not (tmp_path / "z").exists()


def test_time_limit_that_does_not_parse_writes_nothing(base, tmp_path, capsys):
    _, path, _ = base
    assert main(["run", str(path), "--out", str(tmp_path / "z"), "--time-limit", "2x"]) == 2
    assert "time limit '2x' does not parse" in capsys.readouterr().err
    with pytest.raises(StudyError, match="time limit '90 minutes'"):
        run_study(load_study(path), tmp_path / "z", time_limit="90 minutes", progress=False)
    assert not (tmp_path / "z").exists()


def _tree(path: Path) -> dict:
    return {p.relative_to(path): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_a_pack_of_another_study_is_refused(base, tmp_path, capsys):
    root, path, _ = base
    other = tmp_path / "other.toml"
    other.write_text(STUDY.replace("lr = 0.005", "lr = 0.002").replace("trials = 3", "trials = 1")
                     .replace('setting = ["canonical", "grid"]', 'setting = ["canonical"]')
                     .replace('operator = ["none", "random"]', 'operator = ["none"]'))
    run_study(load_study(other), tmp_path / "o", progress=False)
    pack(tmp_path / "o", tmp_path / "other-pack")
    before = _tree(tmp_path / "other-pack")
    with pytest.raises(StudyError, match="is a pack of another study \\(factors, run, trials differ"):
        pack(root / "ref", tmp_path / "other-pack")
    assert _tree(tmp_path / "other-pack") == before
    assert main(["run", str(path), "--out", str(tmp_path / "new"), "--from", str(tmp_path / "other-pack")]) == 2
    assert f"{tmp_path / 'other-pack'} is a pack of another study" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    # a shard of another study copied into a pack folder
    pack(root / "ref", tmp_path / "mixed")
    shutil.copytree(next((tmp_path / "other-pack").glob("shard-*")), tmp_path / "mixed" / "shard-99999999")
    with pytest.raises(StudyError, match="shard-99999999: a shard of another study"):
        load_results(tmp_path / "mixed")


@pytest.mark.parametrize("damage", ["flip", "truncate", "manifest", "missing"])
def test_a_corrupt_or_truncated_pack_is_refused_naming_the_file(base, tmp_path, capsys, damage):
    root, path, _ = base
    bad = tmp_path / "bad"
    pack(root / "ref", bad)
    shard = next(bad.glob("shard-*"))
    logs = shard / "logs.parquet"
    if damage == "flip":
        data = bytearray(logs.read_bytes())
        data[len(data) // 2] ^= 0xFF
        logs.write_bytes(bytes(data))
        needle = f"{logs}: corrupt or truncated"
    elif damage == "truncate":
        logs.write_bytes(logs.read_bytes()[:-50])
        needle = f"{logs}: corrupt or truncated"
    elif damage == "manifest":
        (shard / "shard.json").write_text('{"format": 1, ')
        needle = f"{shard / 'shard.json'}: missing or not valid JSON"
    else:
        (shard / "runs.parquet").unlink()
        needle = f"{shard / 'runs.parquet'}: missing"
    before = _tree(bad)
    for call in (lambda: load_results(bad), lambda: report(bad), lambda: pack(root / "ref", bad),
                 lambda: run_study(load_study(path), tmp_path / "new", packs=[bad], progress=False)):
        with pytest.raises(StudyError, match="delete this shard") as e:
            call()
        assert needle in str(e.value)
    assert main(["run", str(path), "--out", str(tmp_path / "new"), "--from", str(bad)]) == 2
    assert needle in capsys.readouterr().err
    assert _tree(bad) == before and not (tmp_path / "new").exists()


def test_models_report_packs_what_the_masks_figure_draws(base, tmp_path):
    from evoprune.report.analyse import best_runs

    root, _, _ = base
    assert main(["pack", str(root / "ref"), str(tmp_path / "p"), "--models", "report"]) == 0
    df = load_results(root / "ref")
    want = {run_id for _, runs in df.groupby("setting") for run_id in best_runs(runs).values()}
    assert {p.stem for p in (tmp_path / "p" / "models").iterdir()} == want
    assert len(want) == df.groupby(["setting", "operator"]).ngroups  # one per operator and setting
    # each packed model is measured into <run_id>.json beside it
    assert {p.stem for p in (tmp_path / "p" / "models").glob("*.json")} == want
    report(tmp_path / "p")
    for fig in ("masks_canonical.png", "masks_grid.png"):
        assert (tmp_path / "p" / "report" / fig).is_file(), fig
    md = (tmp_path / "p" / "report" / "report.md").read_text()
    table = md[md.index("## What pruning buys"):].split("\n\n")[2].splitlines()[2:]
    assert sorted(line.split(" | ")[2] for line in table) == sorted(want)
    for line in table:
        m = ModelMeasurement.load(tmp_path / "p" / "models" / f"{line.split(' | ')[2]}.json")
        assert f" {m.kept} of {m.params} ({m.fraction_kept:.3f}) | {m.compact_params} | " in line
    gains = pd.read_csv(tmp_path / "p" / "report" / "gains.csv")
    assert set(gains["run_id"]) == want
