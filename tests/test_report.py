import csv
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from evoprune.stats import holm
from evoprune.study.report import load_results, pareto_front, report, summary_text

GENS = 12
TRIALS = 5
# setting -> group -> (operator, schedule, centre of final test L1, final fraction kept)
DESIGN = {
    "canonical": {
        "none": ("none", "-", 0.27, 1.0),
        "random-exponential": ("random", "exponential", 0.15, 0.8),  # clearly best
        "random-fixed": ("random", "fixed", 0.40, 0.6),
    },
    "grid": {
        "none": ("none", "-", 0.20, 1.0),
        "conjunctive-final_n": ("conjunctive", "final_n", 0.30, 0.75),
        "conjunctive-increase": ("conjunctive", "increase", 0.12, 0.85),  # clearly best
    },
}


def _write_run(runs: Path, run_id: str, result: dict | None, finals: tuple[float, float], rng) -> None:
    d = runs / run_id
    d.mkdir(parents=True)
    l1_end, kept_end = finals
    lines = []
    for g in range(GENS):
        frac = (g + 1) / GENS
        rec = {
            "gen": g,
            "test_l1": 0.5 + (l1_end - 0.5) * frac + rng.normal(0, 0.005),
            "kept": 1.0 + (kept_end - 1.0) * frac,
            "time": 0.01,
        }
        lines.append(json.dumps(rec))
    (d / "log.jsonl").write_text("\n".join(lines) + "\n")
    if result is not None:
        (d / "result.json").write_text(json.dumps(result))


def make_study(root: Path) -> dict:
    """Fake study; returns {(setting, group): [test_l1 ...]} and kept values."""
    rng = np.random.default_rng(0)
    runs = root / "runs"
    values: dict = {}
    seed = 0
    for setting, groups in DESIGN.items():
        for group, (op, sched, centre, kept_centre) in groups.items():
            for trial in range(TRIALS):
                seed += 1
                l1 = float(centre + rng.normal(0, 0.01))
                kept = float(min(1.0, kept_centre + (0.0 if op == "none" else rng.normal(0, 0.02))))
                values.setdefault((setting, group), {"test_l1": [], "fraction_kept": []})
                values[(setting, group)]["test_l1"].append(l1)
                values[(setting, group)]["fraction_kept"].append(kept)
                run_id = f"{setting}-{group}-t{trial:02d}"
                result = {
                    "run_id": run_id,
                    "setting": setting,
                    "operator": op,
                    "schedule": sched,
                    "group": group,
                    "trial": trial,
                    "seed": seed,
                    "test_l1": l1,
                    "train_l1": l1 - 0.01,
                    "fraction_kept": kept,
                    "kept_encoder": kept,
                    "kept_decoder": kept,
                    "wall_time": 1.0 + trial,
                    "inference_time": 1e-4,
                    "generations": GENS,
                }
                _write_run(runs, run_id, result, (l1, kept), rng)
    # an unfinished run: log but no result, with a group name that must not appear
    _write_run(runs, "canonical-magnitude-fixed-t00", None, (0.01, 0.1), rng)
    return values


def _section(md: str, setting: str) -> str:
    part = md.split(f"## Setting: {setting}", 1)[1]
    return part.split("## Setting: ", 1)[0]


def _row(text: str, *first_cells: str) -> list[str]:
    prefix = "| " + " | ".join(first_cells) + " |"
    for line in text.splitlines():
        if line.startswith(prefix):
            return [c.strip() for c in line.strip().strip("|").split("|")]
    raise AssertionError(f"no row starting with {prefix!r}")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    values = make_study(root)
    path = report(root)
    return root, values, path


def test_files_exist(study):
    root, _, path = study
    folder = root / "report"
    assert path == folder / "report.md"
    for name in ("report.md", "results.csv", "groups.csv", "pairwise.csv", "tables.tex"):
        assert (folder / name).is_file(), name
    for setting in DESIGN:
        for stem in ("l1", "kept", "box_l1", "scatter"):
            png = folder / f"{stem}_{setting}.png"
            assert png.is_file(), png
            assert png.stat().st_size > 5000, png
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(folder.glob("*.tmp"))
    md = path.read_text()
    assert "## Figures" in md or "### Figures" in md
    assert "(l1_canonical.png)" in md and "(scatter_grid.png)" in md


def test_groups_and_medians(study):
    _, values, path = study
    md = path.read_text()
    for setting, groups in DESIGN.items():
        sec = _section(md, setting)
        for group in groups:
            cells = _row(sec, group)
            vals = values[(setting, group)]
            assert cells[3] == str(TRIALS)
            assert cells[4] == f"{np.median(vals['test_l1']):.4g}"
            q1, q3 = np.percentile(vals["test_l1"], [25, 75])
            assert cells[5] == f"{q1:.4g}–{q3:.4g}"
            assert cells[6] == f"{np.median(vals['fraction_kept']):.4g}"
    assert "magnitude-fixed" not in md  # unfinished run excluded
    assert "Unfinished runs (skipped): 1" in md


def test_kruskal_and_pairwise(study):
    _, values, path = study
    md = path.read_text()
    for setting, groups in DESIGN.items():
        sec = _section(md, setting)
        for metric, label in (("test_l1", "final test L1"), ("fraction_kept", "fraction kept")):
            samples = [values[(setting, g)][metric] for g in groups]
            kw = sps.kruskal(*samples)
            cells = _row(sec, label)
            assert cells[1] == f"{kw.statistic:.4g}"
            assert cells[2] == f"{kw.pvalue:.4g}"
        # pairwise test L1 table: two-sided Mann-Whitney, Holm over the 3 pairs
        l1_part = sec.split("#### final test L1", 1)[1].split("####", 1)[0]
        names = list(groups)  # "none" first, then alphabetical, as in the report
        pairs = [(names[0], names[1]), (names[0], names[2]), (names[1], names[2])]
        raw = [
            sps.mannwhitneyu(
                values[(setting, a)]["test_l1"], values[(setting, b)]["test_l1"], alternative="two-sided"
            ).pvalue
            for a, b in pairs
        ]
        adjusted = holm(raw)
        for (a, b), p, padj in zip(pairs, raw, adjusted, strict=True):
            cells = _row(l1_part, a, b)
            assert cells[5] == f"{p:.4g}"
            assert cells[6] == f"{padj:.4g}"
            assert float(cells[6]) >= float(cells[5])


def test_best_schedule_per_operator(study):
    _, _, path = study
    md = path.read_text()
    best = _section(md, "canonical").split("### Best schedule", 1)[1].split("###", 1)[0]
    assert _row(best, "random")[1] == "exponential"
    assert "| none |" not in best
    best = _section(md, "grid").split("### Best schedule", 1)[1].split("###", 1)[0]
    assert _row(best, "conjunctive")[1] == "increase"


def test_csv_outputs(study):
    root, values, _ = study
    folder = root / "report"
    with open(folder / "results.csv") as f:
        results = list(csv.DictReader(f))
    assert len(results) == 2 * 3 * TRIALS
    assert {r["group"] for r in results} == {g for groups in DESIGN.values() for g in groups}
    with open(folder / "groups.csv") as f:
        groups = list(csv.DictReader(f))
    assert len(groups) == 6
    row = next(r for r in groups if r["setting"] == "grid" and r["group"] == "conjunctive-increase")
    assert float(row["test_l1_median"]) == pytest.approx(np.median(values[("grid", "conjunctive-increase")]["test_l1"]))
    with open(folder / "pairwise.csv") as f:
        pairwise = list(csv.DictReader(f))
    assert len(pairwise) == 2 * 2 * 3  # settings x metrics x pairs
    tex = (folder / "tables.tex").read_text()
    assert r"\begin{tabular}" in tex and "random-exponential" in tex and r"final\_n" in tex


def test_load_results_sorted_with_logs(study):
    root, _, _ = study
    rows, logs = load_results(root)
    assert len(rows) == 30
    keys = [(r["setting"], r["group"], r["trial"]) for r in rows]
    assert keys == sorted(keys)
    assert set(logs) == {r["run_id"] for r in rows}
    assert all(len(v) == GENS for v in logs.values())
    assert "canonical-magnitude-fixed-t00" not in logs


def test_summary_text(study):
    root, values, _ = study
    text = summary_text(root)
    cells = _row(text, "grid", "conjunctive-increase")
    assert cells[2] == str(TRIALS)
    assert cells[3] == f"{np.median(values[('grid', 'conjunctive-increase')]['test_l1']):.4f}"


def test_corrupt_result_warns_and_is_skipped(tmp_path):
    make_study(tmp_path)
    bad = tmp_path / "runs" / "canonical-none-t00" / "result.json"
    bad.write_text('{"setting": "canonical", "gro')
    with pytest.warns(RuntimeWarning, match="result.json"):
        rows, logs = load_results(tmp_path)
    assert len(rows) == 29
    assert "canonical-none-t00" not in logs
    with pytest.warns(RuntimeWarning, match="canonical-none-t00"):
        path = report(tmp_path, formats=("md",))
    assert _row(_section(path.read_text(), "canonical"), "none")[3] == str(TRIALS - 1)
    assert not (tmp_path / "report" / "results.csv").exists()
    assert not (tmp_path / "report" / "tables.tex").exists()


def test_missing_runs_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="runs"):
        load_results(tmp_path)
    with pytest.raises(FileNotFoundError):
        report(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError):
        summary_text(tmp_path)


def test_not_enough_groups_and_single_trials(tmp_path):
    rng = np.random.default_rng(1)
    runs = tmp_path / "runs"
    for i, (group, op, sched) in enumerate([("random-fixed", "random", "fixed")] * 1):
        result = {
            "run_id": f"r{i}",
            "setting": "canonical",
            "operator": op,
            "schedule": sched,
            "group": group,
            "trial": 0,
            "seed": 0,
            "test_l1": 0.3,
            "train_l1": 0.3,
            "fraction_kept": 0.9,
            "kept_encoder": 0.9,
            "kept_decoder": 0.9,
            "wall_time": 1.0,
            "inference_time": 1e-4,
            "generations": GENS,
        }
        _write_run(runs, f"r{i}", result, (0.3, 0.9), rng)
    # second setting: two groups with one trial each
    for i, (group, op, sched) in enumerate([("none", "none", "-"), ("variance-population", "variance", "population")]):
        result = {
            "run_id": f"g{i}",
            "setting": "grid",
            "operator": op,
            "schedule": sched,
            "group": group,
            "trial": 0,
            "seed": i,
            "test_l1": 0.2 + 0.1 * i,
            "train_l1": 0.2,
            "fraction_kept": 1.0 - 0.1 * i,
            "kept_encoder": 1.0,
            "kept_decoder": 1.0,
            "wall_time": 1.0,
            "inference_time": 1e-4,
            "generations": GENS,
        }
        _write_run(runs, f"g{i}", result, (0.2 + 0.1 * i, 1.0 - 0.1 * i), rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        md = report(tmp_path).read_text()
    canonical = _section(md, "canonical")
    assert "not enough groups" in canonical
    assert _row(canonical, "random-fixed")[3] == "1"
    grid = _section(md, "grid")
    assert "single trial" in grid
    assert _row(grid, "none", "variance-population")  # pairwise row still present
    assert _row(grid.split("### Best schedule", 1)[1], "variance")[1] == "population"
    assert (tmp_path / "report" / "box_l1_canonical.png").is_file()


def test_pareto_front():
    pts = [(0.9, 0.1), (0.5, 0.3), (0.6, 0.2), (0.7, 0.25), (0.5, 0.35), (1.0, 0.1)]
    assert pareto_front(pts) == [(0.5, 0.3), (0.6, 0.2), (0.9, 0.1)]


def test_empty_study(tmp_path):
    (tmp_path / "runs").mkdir()
    md = report(tmp_path).read_text()
    assert "No finished runs" in md
    assert "No finished runs" in summary_text(tmp_path)
