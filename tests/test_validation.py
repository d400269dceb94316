"""Bad input is refused when it is read, with an error naming the file and the bad key or value."""

import numpy as np
import pytest

from evoprune.cli import main
from evoprune.data import load_dataset
from evoprune.experiment import RunConfig
from evoprune.study.checkpoint import CheckpointMismatch
from evoprune.study.config import StudyError, load_study
from evoprune.study.runner import run_study

STUDY = """
name = "v"
trials = 1
[data]
name = "binary_clustering"
n_clusters = 2
dim = 12
samples_per_cluster = 6
[run]
generations = 2
hidden = 4
latent = 2
batch_size = 4
{run}
[factors]
operator = ["none"]
{factors}
"""


def _study(tmp_path, run="", factors="", name="s.toml"):
    path = tmp_path / name
    path.write_text(STUDY.format(run=run, factors=factors))
    return path


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('grid = "banana"', "grid"),
        ('grid = "ring:0"', "grid"),
        ('concept = "median"', "concept"),
        ("lr = -0.1", "lr"),
        ("lr = nan", "lr"),
        ("lr = inf", "lr"),
        ("lr_sigma = -1.0", "lr_sigma"),
        ("prune_first = 1", "prune_first"),
        ('prune_first = "yes"', "prune_first"),
        ('loss = "bce>huber"', "loss"),
        ("loss_switch = 1.5", "loss_switch"),
        ('selection = "roulette"', "selection"),
        ("mu = 0", "mu"),
    ],
)
def test_bad_run_values_are_refused_when_the_study_is_read(tmp_path, line, key):
    for where in ("run", "factors"):
        if where == "run":
            path = _study(tmp_path, run=line)
        else:
            k, v = line.split(" = ", 1)
            path = _study(tmp_path, factors=f"{k} = [{v}]")
        with pytest.raises(StudyError) as e:
            load_study(path)
        msg = str(e.value)
        assert str(path) in msg and f"{where}.{key}" in msg, msg


def test_runconfig_checks_values_itself():
    for kw in ({"lr": float("nan")}, {"lr_sigma": -0.5}, {"prune_first": "no"}, {"grid": "3x"}, {"concept": "x"}):
        with pytest.raises(ValueError):
            RunConfig(**kw)


def test_nothing_is_written_before_validation_passes(tmp_path):
    out = tmp_path / "out"
    bad_data = tmp_path / "s.toml"
    bad_data.write_text(STUDY.format(run="", factors="").replace('name = "binary_clustering"\nn_clusters = 2\n'
                                                                  'dim = 12\nsamples_per_cluster = 6',
                                                                  f'name = "{tmp_path / "missing.npy"}"'))
    with pytest.raises(StudyError, match="missing.npy"):
        run_study(bad_data, out, progress=False)
    assert not out.exists()
    assert main(["run", str(bad_data), "--out", str(out)]) == 2
    assert not out.exists()


def test_a_different_study_in_an_existing_folder_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    run_study(_study(tmp_path), out, progress=False)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    other = _study(tmp_path, run="lr = 0.01", name="other.toml")
    with pytest.raises(CheckpointMismatch, match="different study"):
        run_study(other, out, progress=False)
    assert main(["run", str(other), "--out", str(out), "--no-report"]) == 2
    err = capsys.readouterr().err
    assert "evoprune: error:" in err and "new --out" in err and "Traceback" not in err
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    run_study(_study(tmp_path), out, progress=False)  # the same study again: resumes (here: all finished)


@pytest.mark.parametrize("workers", ["0", "-2", "two"])
def test_workers_below_one_are_refused(tmp_path, capsys, workers):
    with pytest.raises(SystemExit) as e:
        main(["run", str(_study(tmp_path)), "--out", str(tmp_path / "o"), "--workers", workers])
    assert e.value.code == 2 and "integer >= 1" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_cli_gives_no_traceback_for_os_errors_and_bad_files(tmp_path, capsys):
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b"name = '\xe9t\xe9'\n")
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the output folder should be")
    cases = [
        (["run", str(latin), "--out", str(tmp_path / "o")], "latin.toml"),
        (["run", str(folder), "--out", str(tmp_path / "o")], "folder.toml"),
        (["run", str(_study(tmp_path)), "--out", str(blocked / "sub")], "blocked"),
        (["status", str(tmp_path / "nowhere")], "nowhere"),
        (["report", str(tmp_path / "nowhere")], "nowhere"),
    ]
    for argv, name in cases:
        code = main(argv)
        err = capsys.readouterr().err
        assert code in (1, 2), argv
        assert err.startswith("evoprune: error:") and name in err and "Traceback" not in err, (argv, err)


def test_broken_data_files_are_named_in_the_error(tmp_path):
    good = np.random.default_rng(0).random((20, 4))
    np.save(tmp_path / "good.npy", good)
    raw = (tmp_path / "good.npy").read_bytes()
    (tmp_path / "garbage.npy").write_bytes(b"not numpy at all")
    (tmp_path / "truncated.npy").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "header.npy").write_bytes(raw[:40])
    (tmp_path / "garbage.npz").write_bytes(b"PK not a zip")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "two.npz", x=good, y=good)
    for name, what in [("garbage.npy", "bad header"), ("truncated.npy", "cannot read"), ("header.npy", "cannot read"),
                       ("garbage.npz", "not a zip"), ("objects.npy", "cannot read"), ("two.npz", "key=")]:
        with pytest.raises(ValueError) as e:
            load_dataset(str(tmp_path / name))
        assert name in str(e.value) and what in str(e.value), str(e.value)
    assert load_dataset(str(tmp_path / "good.npy")).train.shape[1] == 4
