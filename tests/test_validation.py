"""Bad input is refused when it is read, with an error naming the file and the bad key or value."""

import numpy as np
import pytest

from evoprune.cli import main
from evoprune.data import load_dataset
from evoprune.runs import RunConfig
from evoprune.study.checkpoint import CheckpointMismatch
from evoprune.study.runner import run_study
from evoprune.study.studyfile import StudyError, load_study

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
[settings.grid]
{grid}
[factors]
operator = ["none"]
{factors}
"""


def _study(tmp_path, run="", factors="", name="s.toml", grid=""):
    path = tmp_path / name
    path.write_text(STUDY.format(run=run, factors=factors, grid=grid))
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
    for where in ("run", "settings.grid", "factors"):
        if where == "run":
            path = _study(tmp_path, run=line)
        elif where == "settings.grid":
            path = _study(tmp_path, grid=line)
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
    bad_data.write_text(STUDY.format(run="", factors="", grid="").replace('name = "binary_clustering"\nn_clusters = 2\n'
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


def test_prune_first_must_be_written_true_or_false(tmp_path):
    path = _study(tmp_path, run="prune_first = 1")
    with pytest.raises(StudyError) as e:
        load_study(path)
    assert str(e.value) == f"{path}: run.prune_first: expected true or false, got int 1"
    assert load_study(_study(tmp_path, run="prune_first = true")).run["prune_first"] is True


@pytest.mark.parametrize("value", ["5", '""', "[1]"])
def test_data_name_must_be_a_string(tmp_path, value):
    path = tmp_path / "d.toml"
    path.write_text(f'trials = 1\n[data]\nname = {value}\n')
    with pytest.raises(StudyError, match=r"d\.toml: data\.name: expected a dataset name or a file path"):
        load_study(path)


def _tree(folder):
    return {p.relative_to(folder): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ('name = "binary_clustering"\ndim = 0', "dim must be an integer >= 1"),
        ('name = "binary_clustering"\nseed = "abc"', "data:"),  # numpy raises TypeError: no traceback either
        ('name = "{tmp}/corrupt.npz"', "corrupt.npz"),
        ('name = "{tmp}/folder.npy"', "folder.npy"),
    ],
)
def test_bad_data_is_found_before_anything_is_written(tmp_path, capsys, data, words):
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04" + bytes(40))
    (tmp_path / "folder.npy").mkdir()
    study = tmp_path / "s.toml"
    study.write_text(f"trials = 1\n[data]\n{data.format(tmp=tmp_path)}\n[run]\ngenerations = 2\n")
    out = tmp_path / "out"
    with pytest.raises(StudyError) as e:
        run_study(study, out, progress=False)
    assert str(e.value).startswith(f"{study}: data: ") and words in str(e.value), str(e.value)
    assert not out.exists()
    assert main(["run", str(study), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("evoprune: error:") and words in err and "Traceback" not in err
    assert not out.exists()


def test_bad_config_or_conflicting_run_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(_study(tmp_path, run="lr = nan")), "--out", str(out)]) == 2
    assert "run.lr" in capsys.readouterr().err and not out.exists()
    # a run folder of another configuration (no study.toml left to compare): refused, nothing added or changed
    good = _study(tmp_path)
    run_study(good, out, progress=False)
    (out / "study.toml").unlink()
    (next((out / "runs").iterdir()) / "result.json").unlink()
    before = _tree(out)
    with pytest.raises(CheckpointMismatch, match="different configuration"):
        run_study(_study(tmp_path, run="lr = 0.02", name="other.toml"), out, progress=False)
    assert _tree(out) == before


def test_same_study_resumes_even_unnamed_or_redescribed(tmp_path):
    text = STUDY.format(run="", factors="", grid="").replace('name = "v"\n', "")
    first = tmp_path / "first.toml"
    first.write_text(text)
    out = tmp_path / "out"
    rows = run_study(first, out, progress=False)
    assert load_study(out / "study.toml").name == "first"  # the copy is named after the original file
    # an unnamed study resumes into its folder, as does one with a new description or checkpoint interval
    assert run_study(first, out, progress=False) == rows
    again = tmp_path / "first-copy.toml"
    again.write_text('name = "first"\ndescription = "same runs"\ncheckpoint_every = 1\n' + text)
    assert run_study(again, out, progress=False) == rows
    renamed = tmp_path / "renamed.toml"
    renamed.write_text('name = "another"\n' + text)
    with pytest.raises(CheckpointMismatch, match=r"holds a different study \(name differ"):
        run_study(renamed, out, progress=False)
    saved = out / "study.toml"  # a folder written before copies were named: its study still resumes
    saved.write_text(saved.read_text().split("\n", 1)[1])
    assert run_study(first, out, progress=False) == rows


def test_broken_run_files_in_the_output_folder_are_named(tmp_path, capsys):
    out = tmp_path / "out"
    study = _study(tmp_path)
    run_study(study, out, progress=False)
    run = next((out / "runs").iterdir())
    (run / "result.json").write_text('{"run_id": ')
    with pytest.raises(StudyError, match=r"result\.json: not a valid JSON file"):
        run_study(study, out, progress=False)
    (run / "config.json").write_bytes(b"\xff\xfe garbage")
    assert main(["run", str(study), "--out", str(out), "--no-report"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("evoprune: error:") and str(run / "config.json") in err and "Traceback" not in err


def test_output_path_that_is_a_file_is_refused(tmp_path, capsys):
    blocked = tmp_path / "blocked"
    blocked.write_text("keep me")
    assert main(["run", str(_study(tmp_path)), "--out", str(blocked)]) == 2
    err = capsys.readouterr().err
    assert f"output folder {blocked} exists and is not a folder" in err and "Traceback" not in err
    assert blocked.read_text() == "keep me"


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["compare", "--workers", "0"], "--workers: expected an integer >= 1, got 0"),
        (["compare", "--generations", "0"], "--generations: expected an integer >= 1, got 0"),
        (["compare", "--generations", "-3"], "--generations: expected an integer >= 1, got -3"),
    ],
)
def test_compare_counts_below_one_are_refused(tmp_path, capsys, argv, words):
    with pytest.raises(SystemExit) as e:
        main([*argv, "--out", str(tmp_path / "demo")])
    assert e.value.code == 2 and words in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()


def test_workers_and_scheduler_together_are_refused(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["run", str(_study(tmp_path)), "--out", str(out), "--workers", "2", "--scheduler", "tcp://x:1"]) == 2
    assert "use either --workers or --scheduler" in capsys.readouterr().err and not out.exists()


def test_os_errors_while_writing_give_exit_1_and_no_traceback(tmp_path, capsys, monkeypatch):
    import evoprune.study.runner as runner

    def denied(path, text):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(runner, "atomic_write_text", denied)
    out = tmp_path / "o"
    assert main(["run", str(_study(tmp_path)), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("evoprune: error: [Errno 13] Permission denied:") and "study.toml" in err
    assert "Traceback" not in err


def test_unreadable_study_files_give_clean_errors(tmp_path, capsys):
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b"name = '\xe9t\xe9'\n")
    with pytest.raises(StudyError, match=r"latin\.toml: not a UTF-8 text file"):
        load_study(latin)
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    with pytest.raises(FileNotFoundError, match=r"folder\.toml \(it is a folder\)"):
        load_study(folder)
    broken = _study(tmp_path, run="lr = ")
    with pytest.raises(StudyError, match=r"s\.toml: not valid TOML"):
        load_study(broken)
    assert main(["status", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err == f"evoprune: error: {folder} has no study.toml: not a study output folder\n"
