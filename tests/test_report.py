import json
import os
import stat
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from deap import creator
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from evoprune.report.report import report, summary_text
from evoprune.study import load_results
from evoprune.study.store.load import SCHEMA

GENS = 8
# group -> (operator, schedule, centre of test L1, kept, hypervolume)
DESIGN = {
    "none": ("none", "-", 0.20, 1.0, 0.0),
    "random-exponential": ("random", "exponential", 0.21, 0.8, 0.05),
    "random-fixed": ("random", "fixed", 0.19, 0.9, 0.02),
    "magnitude-exponential": ("magnitude", "exponential", 0.22, 0.3, 0.30),  # best trade-off, worse L1
    "magnitude-fixed": ("magnitude", "fixed", 0.20, 0.5, 0.20),
    "conjunctive-exponential": ("conjunctive", "exponential", 0.21, 0.7, 0.10),
    "conjunctive-fixed": ("conjunctive", "fixed", 0.23, 0.6, 0.12),
}


def make_study(root: Path, trials: int = 8, blocked: bool = True, setting: str = "canonical") -> pd.DataFrame:
    """A fake study: trial t uses seed 100 + t in every group (blocked) or a seed of its own."""
    rng = np.random.default_rng(0)
    rows = []
    for k, (group, (op, sched, l1, kept, hv)) in enumerate(DESIGN.items()):
        for t in range(trials):
            run_id = f"{setting}__{group}__t{t:02d}"
            d = root / "runs" / run_id
            d.mkdir(parents=True)
            row = {"run_id": run_id, "setting": setting, "group": group, "operator": op, "schedule": sched,
                   "trial": t, "seed": 100 + t if blocked else 1000 * k + t, "test_l1": l1 + rng.normal(0, 0.003),
                   "fraction_kept": kept, "hypervolume": hv + (0 if op == "none" else rng.normal(0, 0.005)),
                   "l1_at_kept_0.5": 0.5 if kept > 0.5 else l1, "l1_at_kept_0.25": 0.5, "wall_time": 1.0,
                   "front": [[l1, kept]], "generations": GENS}
            (d / "result.json").write_text(json.dumps(row))
            log = [{"gen": g, "test_l1": 0.5 - (0.5 - l1) * g / (GENS - 1), "kept": 1 - (1 - kept) * g / (GENS - 1)}
                   for g in range(GENS)]
            (d / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
            rows.append(row)
    (root / "runs" / f"{setting}__random-exponential__t99").mkdir()  # unfinished: no result.json
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    truth = make_study(root)
    old = os.umask(0o022)
    try:
        path = report(root)
    finally:
        os.umask(old)
    return root, truth, path.read_text(), pd.read_csv(root / "report" / "pairwise.csv")


def test_load_results_is_one_row_per_finished_run_in_the_schema(study):
    root, truth, *_ = study
    df = load_results(root)
    assert list(df.columns[: len(SCHEMA)]) == list(SCHEMA)
    assert len(df) == len(truth) and "t99" not in " ".join(df["run_id"])
    assert "front" not in df  # lists stay in result.json
    assert df["test_l1"].dtype == "float64" and str(df["trial"].dtype) == "Int64"
    assert df["kept_encoder"].isna().all()  # a schema column no result file has
    assert list(df["group"]) == sorted(df["group"])
    merged = df.merge(truth, on="run_id", suffixes=("", "_truth"))
    assert np.allclose(merged["test_l1"], merged["test_l1_truth"])


def test_files_exist_and_are_world_readable(study):
    folder = study[0] / "report"
    names = {p.name for p in folder.iterdir()}
    for stem in ("heatmap", "curves", "box", "scatter", "a12"):
        assert f"{stem}_canonical.png" in names
    assert {"report.md", "results.csv", "groups.csv", "pairwise.csv", "tables.tex"} <= names
    assert "masks_canonical.png" not in names  # no model files: the figure is skipped
    for p in folder.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p.name


def test_blocked_design_uses_friedman_and_wilcoxon_with_holm(study):
    root, truth, md, pw = study
    assert "blocked (Friedman / Wilcoxon)" in md and "F p=" in md
    fam = pw[(pw["family"] == "operators, schedule exponential") & (pw["metric"] == "test_l1")
             & (pw["a"] == "random-exponential") & (pw["b"] == "magnitude-exponential")]
    assert set(pw["test"]) == {"Wilcoxon signed-rank"}
    a = truth[truth["group"] == "random-exponential"].sort_values("trial")["test_l1"]
    b = truth[truth["group"] == "magnitude-exponential"].sort_values("trial")["test_l1"]
    assert fam["pvalue"].iloc[0] == pytest.approx(sps.wilcoxon(a.to_numpy(), b.to_numpy()).pvalue)
    base = pw[(pw["family"] == "each pruned group vs none") & (pw["metric"] == "hypervolume")]
    assert np.allclose(base["pvalue_holm"], multipletests(base["pvalue"], method="holm")[1])


def test_only_the_study_question_is_compared(study):
    pw = study[3]
    op = {g: v[0] for g, v in DESIGN.items()}
    sched = {g: v[1] for g, v in DESIGN.items()}
    for r in pw.itertuples():
        if r.b != "none":
            assert op[r.a] == op[r.b] or sched[r.a] == sched[r.b], (r.a, r.b)
    # operators per schedule, schedules per operator, each pruned group against the baseline
    assert len(pw[pw["metric"] == "test_l1"]) == 2 * 3 + 3 + 6


def test_a_clear_difference_is_significant_and_best_is_on_hypervolume(study):
    _, _, md, pw = study
    hv = pw[(pw["family"] == "operators, schedule exponential") & (pw["metric"] == "hypervolume")
            & (pw["b"] == "magnitude-exponential")].iloc[0]
    assert hv["significant"] and hv["pvalue"] == pytest.approx(2 / 2**8)  # 8 of 8 trials agree
    line = next(x for x in md.splitlines() if x.startswith("- hypervolume (validation), operators, schedule exp"))
    assert "magnitude ≻ random" in line and "magnitude ≻ conjunctive" in line
    best = md.split("Best schedule per operator")[1].split("Comparisons")[0]
    row = next(line for line in best.splitlines() if line.startswith("| magnitude"))
    assert "exponential" in row  # highest HV, although magnitude-fixed has the lower test L1


def test_placeholder_metric_gets_one_line(study):
    md = study[2]
    assert "(`l1_at_kept_0.25`) is 0.5 in 56 of 56 runs" in md
    assert "l1_at_kept_0.25" not in set(study[3]["metric"])
    assert "val. L1 at kept ≤ 0.25 |" not in md  # no table column


def test_power_note_with_three_trials(tmp_path):
    make_study(tmp_path, trials=3)
    md = report(tmp_path, formats=("md",)).read_text()
    assert "**Power:**" in md and "smallest two-sided Wilcoxon signed-rank p is 0.25" in md
    assert "at least 6 trials per group" in md  # one pair: 2 / 2^6 <= 0.05
    assert not (tmp_path / "report" / "pairwise.csv").exists()


def test_unblocked_design_uses_kruskal_and_mann_whitney(tmp_path):
    truth = make_study(tmp_path, blocked=False)
    md = report(tmp_path).read_text()
    pw = pd.read_csv(tmp_path / "report" / "pairwise.csv")
    assert "KW p=" in md and "F p=" not in md and set(pw["test"]) == {"Mann–Whitney U"}
    row = pw[(pw["family"] == "schedules, operator random") & (pw["metric"] == "test_l1")].iloc[0]
    a, b = (truth.loc[truth["group"] == g, "test_l1"] for g in (row["a"], row["b"]))
    assert row["pvalue"] == pytest.approx(sps.mannwhitneyu(a, b).pvalue)


def test_summary_text(study):
    text = summary_text(study[0])
    assert "median hypervolume" in text and "magnitude-exponential" in text
    assert len(text.splitlines()) == 2 + len(DESIGN)


def test_corrupt_result_warns_and_is_skipped(tmp_path):
    make_study(tmp_path, trials=2)
    bad = tmp_path / "runs" / "canonical__none__t00" / "result.json"
    bad.write_text("{not json")
    with pytest.warns(RuntimeWarning, match=str(bad)):
        df = load_results(tmp_path)
    assert len(df) == 2 * len(DESIGN) - 1
    nan = tmp_path / "runs" / "canonical__none__t01" / "result.json"
    nan.write_text(json.dumps({"setting": "canonical", "group": "none", "test_l1": None, "fraction_kept": 1.0}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report(tmp_path, formats=("md",))
    assert any(str(nan) in str(w.message) for w in caught)


def test_missing_runs_dir_and_empty_study(tmp_path):
    with pytest.raises(FileNotFoundError, match="runs"):
        load_results(tmp_path)
    (tmp_path / "runs").mkdir()
    assert "No finished runs" in report(tmp_path).read_text()
    assert "No finished runs" in summary_text(tmp_path)
    with pytest.raises(ValueError, match="unknown report formats"):
        report(tmp_path, formats=("pdf",))


def test_masks_figure_from_saved_models(tmp_path, small_arch):
    from evoprune.models import save_model
    from evoprune.models.files import MODEL_FILE

    make_study(tmp_path, trials=2)
    genome = creator.Genome(small_arch, rng=0)
    genome.encoder.prune_neurons(0, [0, 1, 2])  # whole hidden units go
    for t in range(2):
        save_model(tmp_path / "runs" / f"canonical__magnitude-exponential__t{t:02d}" / MODEL_FILE, genome)
    (tmp_path / "runs" / "canonical__none__t00" / MODEL_FILE).write_bytes(b"broken")
    with pytest.warns(RuntimeWarning, match="cannot read the model"):
        md = report(tmp_path, formats=("md",)).read_text()
    assert (tmp_path / "report" / "masks_canonical.png").is_file() and "masks_canonical.png" in md


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_atomic_writes_follow_the_umask(tmp_path, umask, mode):
    from evoprune.util.io import atomic_write_text

    old = os.umask(umask)
    try:
        path = atomic_write_text(tmp_path / "f.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode
