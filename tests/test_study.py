import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evoprune.parallel import ProcessMap
from evoprune.study.checkpoint import CheckpointMismatch, checkpoints, latest_checkpoint
from evoprune.study.runner import TIMING_FIELDS, run_study, study_status
from evoprune.study.studyfile import StudyError, load_study, parse_study

ROOT = Path(__file__).resolve().parent.parent

TINY = """
name = "tiny"
seed = 1
trials = 2
checkpoint_every = 3

[data]
name = "binary_clustering"
n_clusters = 4
dim = 40
samples_per_cluster = 25

[run]
generations = 12
hidden = 12
latent = 4
lr = 0.005

[settings.grid]
batch_size = 10
grid = "ring:4"

[factors]
setting = ["canonical", "grid"]
operator = ["none", "random"]
schedule = ["fixed"]
p = [0.5]
"""


def _write(tmp_path, text=TINY, name="tiny.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _outputs(out):
    """Everything a run wrote, minus wall-clock fields."""
    res = {}
    for d in sorted((Path(out) / "runs").iterdir()):
        result = json.loads((d / "result.json").read_text())
        log = [json.loads(line) for line in (d / "log.jsonl").read_text().splitlines()]
        strip = lambda r: {k: v for k, v in r.items() if k not in TIMING_FIELDS}  # noqa: E731
        res[d.name] = (strip(result), [strip(r) for r in log])
    return res


def test_study_expands_groups_and_dedupes_unpruned(tmp_path):
    study = load_study(_write(tmp_path))
    runs = study.runs()
    assert [r.run_id for r in runs[:4]] == ["canonical__none__t00", "canonical__none__t01",
                                           "canonical__random-fixed-p0.5__t00", "canonical__random-fixed-p0.5__t01"]
    assert len(runs) == 8
    # trial t has the same seed in every group (common random numbers)
    assert runs[0].seed == runs[2].seed != runs[1].seed
    grid = [r for r in runs if r.config.setting == "grid"][0]
    assert grid.config.batch_size == 10 and grid.config.grid == "ring:4"
    assert [r for r in runs if r.config.setting == "canonical"][0].config.batch_size == 32


@pytest.mark.parametrize("old,new,needle", [
    ("trials = 2", "trialz = 2", "trialz: unknown key"),
    ("generations = 12", 'generations = "12"', "run.generations: expected int"),
    ("hidden = 12", "hiden = 12", "run.hiden: unknown key"),
    ('operator = ["none", "random"]', 'operator = ["none", "randum"]', "randum"),
    ('schedule = ["fixed"]', 'schedule = ["sometimes"]', "sometimes"),
    ("p = [0.5]", "p = [1.5]", "1.5"),
    ("trials = 2", "trials = 0", "trials: expected an integer >= 1"),
    ("n_clusters = 4", "n_cluster = 4", "data.n_cluster: unknown argument"),
    ('grid = "ring:4"', "grid = 4", "settings.grid.grid: expected str"),
    ("[settings.grid]", "[settings.gird]", "settings.gird: unknown setting"),
])
def test_bad_study_files_are_rejected_naming_file_and_key(tmp_path, old, new, needle):
    text = TINY.replace(old, new)
    assert text != TINY
    with pytest.raises(StudyError) as e:
        load_study(_write(tmp_path, text, "bad.toml"))
    assert "bad.toml" in str(e.value)
    assert needle in str(e.value)


def test_unknown_top_level_key_and_toml_syntax(tmp_path):
    with pytest.raises(StudyError, match="x.toml: colour: unknown key"):
        parse_study('colour = "red"\n' + TINY, "x.toml")
    with pytest.raises(StudyError, match="not valid TOML"):
        parse_study("name = ", "x.toml")


def test_shipped_studies_parse():
    sizes = {name: len(load_study(ROOT / "studies" / f"{name}.toml").runs()) for name in ("quick", "paper", "digits")}
    assert sizes["paper"] == 2 * (1 + 4 * 6) * 30
    assert sizes["quick"] < 100


def test_run_skip_finished_and_status(tmp_path, backend):
    study = load_study(_write(tmp_path))
    out = tmp_path / "out"
    rows = run_study(study, out, progress=False)
    assert len(rows) == 8 and all((out / "runs" / r["run_id"] / "result.json").is_file() for r in rows)
    assert {r["backend"] for r in rows} == {backend}  # each run records what trained it
    assert not list(out.glob("runs/*/ckpt-*"))  # finished runs drop their checkpoints
    assert study_status(study, out)["finished"] == [r["run_id"] for r in rows]
    before = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/result.json")}
    run_study(study, out, progress=False)
    assert before == {p: p.stat().st_mtime_ns for p in out.glob("runs/*/result.json")}
    by = {r["run_id"]: r for r in rows}
    assert by["canonical__none__t00"]["fraction_kept"] == 1.0
    assert by["canonical__random-fixed-p0.5__t00"]["fraction_kept"] < 1.0
    log = [json.loads(x) for x in (out / "runs" / "grid__none__t00" / "log.jsonl").read_text().splitlines()]
    assert [r["gen"] for r in log] == list(range(13)) and log[-1]["test_l1"] < log[0]["test_l1"]


@pytest.mark.slow
def test_workers_give_the_same_results_as_serial(tmp_path, backend):
    study = load_study(_write(tmp_path))
    run_study(study, tmp_path / "serial", progress=False)
    with ProcessMap(2) as pmap:
        run_study(study, tmp_path / "par", pmap, progress=False)
    assert _outputs(tmp_path / "serial") == _outputs(tmp_path / "par")


@pytest.mark.slow
def test_sigkill_and_resume_gives_identical_outputs(tmp_path, backend):
    path = _write(tmp_path, TINY.replace("generations = 12", "generations = 40"))
    ref = tmp_path / "ref"
    run_study(load_study(path), ref, progress=False)
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "evoprune", "run", str(path), "--out", str(out), "--no-report"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for wait_for in (1, 5):  # kill twice: once early, once after several runs finished
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline:
            finished = len(list(out.glob("runs/*/result.json")))
            mid_run = [d for d in out.glob("runs/*") if checkpoints(d) and not (d / "result.json").exists()]
            if finished >= wait_for - 1 and mid_run:
                break
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert len(list(out.glob("runs/*/result.json"))) < 8
    assert any(checkpoints(d) for d in out.glob("runs/*"))
    run_study(load_study(path), out, progress=False)
    assert _outputs(out) == _outputs(ref)


def test_corrupt_checkpoint_falls_back_and_mismatch_is_refused(tmp_path):
    path = _write(tmp_path, TINY.replace("trials = 2", "trials = 1").replace('operator = ["none", "random"]',
                                                                           'operator = ["random"]'))
    study = load_study(path)
    from evoprune.study.jobs import JobTask

    spec = study.runs()[0]
    out = tmp_path / "o"
    (ref,) = JobTask(str(tmp_path / "ref"), study)([spec])
    # leave checkpoints behind by running with a task that stops after generation 7
    task = JobTask(str(out), study)
    import evoprune.study.jobs as runner

    real = runner.save_checkpoint

    def save_then_stop(d, fp, gen, *a, **k):
        real(d, fp, gen, *a, **k)
        if gen >= 7:
            raise KeyboardInterrupt

    runner.save_checkpoint = save_then_stop
    try:
        with pytest.raises(KeyboardInterrupt):
            task([spec])
    finally:
        runner.save_checkpoint = real
    d = out / "runs" / spec.run_id
    files = checkpoints(d)
    # saved every 3, newest 2 kept
    assert [f.name for f in files] == ["ckpt-000006.safetensors", "ckpt-000009.safetensors"]
    newest = files[-1]
    newest.write_bytes(newest.read_bytes()[:-100])  # truncated
    with pytest.warns(UserWarning, match="truncated or corrupt"):
        ck = latest_checkpoint(d, spec.fingerprint(study.data))
    assert ck.gen == int(files[-2].stem.split("-")[1])
    with pytest.raises(CheckpointMismatch, match="different study configuration"), pytest.warns(UserWarning):
        latest_checkpoint(d, "0" * 16)
    with pytest.warns(UserWarning):
        (row,) = task([spec])
    strip = lambda r: {k: v for k, v in r.items() if k not in TIMING_FIELDS}  # noqa: E731
    assert strip(row) == strip(ref)


def test_changed_study_in_same_folder_is_refused(tmp_path, capsys):
    from evoprune.cli import main

    path = _write(tmp_path, TINY.replace("trials = 2", "trials = 1").replace('operator = ["none", "random"]',
                                                                           'operator = ["none"]'))
    out = tmp_path / "o"
    assert main(["run", str(path), "--out", str(out), "--no-report"]) == 0
    capsys.readouterr()
    _write(tmp_path, TINY.replace("trials = 2", "trials = 1").replace('operator = ["none", "random"]',
                                                                    'operator = ["none"]').replace("lr = 0.005",
                                                                                                   "lr = 0.002"))
    assert main(["run", str(path), "--out", str(out), "--no-report"]) == 2
    err = capsys.readouterr().err
    assert "holds a different study (run differ" in err and "new --out" in err
