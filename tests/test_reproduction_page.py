"""The reproduction page's generated part: computed from a pack, every number traceable, plain without one."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evoprune.architecture import Architecture
from evoprune.genome import AutoencoderGenome
from evoprune.models import save_model
from evoprune.models.measure import ModelMeasurement, measurement_path
from evoprune.report import reproduction as rp
from evoprune.report.analyse import ALPHA, best_per_operator
from evoprune.report.gains import gains_frame, measured_on
from evoprune.study import load_results
from evoprune.study.store.pack import pack
from evoprune.study.studyfile import load_study

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "docs" / "_ext"))
page_ext = pytest.importorskip("reproduction_page")

STUDY = """
name = "paper"
seed = 7
trials = 5

[data]
name = "binary_clustering"
n_clusters = 4
dim = 40
samples_per_cluster = 20
flip = 0.05

[run]
generations = 6

[settings.grid]
grid = "ring:4"

[factors]
setting = ["canonical", "grid"]
operator = ["none", "random", "variance", "conjunctive", "magnitude"]
schedule = ["exponential", "final_n"]
"""
# operator -> (test L1, kept, hypervolume) centres
CENTRES = {"none": (0.051, 1.0, 0.0), "random": (0.060, 0.8, 0.05), "variance": (0.055, 0.9, 0.03),
           "conjunctive": (0.052, 0.6, 0.15), "magnitude": (0.051, 0.3, 0.30)}
GENS = 5
NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:e-?\d+)?(?![\w])")


def _fake_study(root: Path, trials: dict[tuple[str, str], int]) -> Path:
    """A study output folder whose finished runs are ``trials[(setting, group)]`` first trials of each group."""
    out = root / "out"
    (out / "runs").mkdir(parents=True)
    (out / "study.toml").write_text(STUDY)
    rng = np.random.default_rng(1)
    for spec in load_study(out / "study.toml").runs():
        setting, op = spec.config.setting, spec.config.operator
        if spec.trial >= trials.get((setting, spec.group), 0):
            continue
        l1, kept, hv = CENTRES[op]
        l1, kept = l1 + rng.normal(0, 0.002), min(1.0, kept + (0 if op == "none" else rng.normal(0, 0.05)))
        d = out / "runs" / spec.run_id
        d.mkdir()
        front = [[l1, kept], [l1 * 1.5, kept / 2]]
        row = {"run_id": spec.run_id, "setting": setting, "group": spec.group, "operator": op,
               "schedule": spec.config.schedule if op != "none" else "-", "trial": spec.trial, "seed": spec.seed,
               "test_l1": l1, "train_l1": l1, "fraction_kept": kept, "front": front,
               "hypervolume": hv + (0 if op == "none" else rng.normal(0, 0.01)), "wall_time": 10 + rng.random(),
               "generations": GENS}
        (d / "result.json").write_text(json.dumps(row))
        (d / "config.json").write_text(json.dumps({"config": {"operator": op}, "fingerprint": spec.run_id}))
        keys = ("test_min", "kept_min") if setting == "canonical" else ("best_test", "best_kept")
        log = [{"gen": g, keys[0]: 0.5 - (0.5 - l1) * g / (GENS - 1), keys[1]: 1 - (1 - kept) * g / (GENS - 1)}
               for g in range(GENS)]
        (d / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    return out


@pytest.fixture(scope="module")
def partial(tmp_path_factory):
    """A partial pack: canonical trials 0-2 (one group only 0-1), no grid runs at all; and its page."""
    root = tmp_path_factory.mktemp("repro")
    groups = {s.group for s in load_study_text(root).runs()}
    trials = {("canonical", g): 3 for g in groups}
    trials[("canonical", "conjunctive-final_n")] = 2
    _, n = pack(_fake_study(root, trials), root / "pack")
    assert n == 3 * 9 - 1
    text = page_ext.page(root / "pack", root / "gen", workers=2, machine="a test machine", shown="results/paper")
    return root / "pack", root / "gen", text


def load_study_text(root: Path):
    (root / "s.toml").write_text(STUDY)
    return load_study(root / "s.toml")


def _cells(text: str) -> list[tuple[str, str]]:
    """(column header, cell text) of every list-table cell of ``text``."""
    cells = []
    for block in re.split(r"^\.\. list-table::.*$", text, flags=re.M)[1:]:
        rows: list[list[str]] = []
        for line in block.splitlines():
            if line.startswith("   * - "):
                rows.append([line[7:]])
            elif line.startswith("     - "):
                rows[-1].append(line[7:])
            elif line.startswith("       ") and rows:
                rows[-1][-1] += "\n" + line.strip()
            elif line.strip() and not line.startswith("   :"):
                break
        header, *body = rows
        cells += [(h, c) for row in body for h, c in zip(header, row, strict=True)]
    return cells


def _numbers(obj, out: set[str]) -> set[str]:
    """Every number in the analysis results, written as the page writes numbers."""
    if isinstance(obj, pd.DataFrame):
        for v in obj.to_numpy().ravel():
            _numbers(v, out)
    elif isinstance(obj, pd.Series):
        _numbers(obj.to_numpy(), out)
    elif isinstance(obj, dict):
        for v in obj.values():
            _numbers(v, out)
    elif isinstance(obj, list | tuple | np.ndarray):
        for v in obj:
            _numbers(v, out)
    elif isinstance(obj, int | float | np.integer | np.floating) and not isinstance(obj, bool) and np.isfinite(obj):
        out |= {page_ext.fmt(obj), page_ext.fmt_p(obj), page_ext.fmt_a12(obj), page_ext.fmt_hours(obj),
                page_ext.fmt_ratio(obj)}
        if float(obj).is_integer():
            out.add(str(int(obj)))
    return out


def test_every_number_on_the_page_comes_from_the_analysis(partial):
    path, _, text = partial
    study = load_study_text(path.parent)
    df = load_results(path)
    df = rp.add_kept_at_floor(df, rp.fronts(path, df["run_id"]), rp.loss_floor(study))
    by = {s: d for s, d in df.groupby("setting")}
    results = [rp.rank_combinations(d, col, hi) for d in by.values() for col, _, hi in rp.METRICS]
    medians = [best_per_operator(d) for d in by.values()]
    group_medians = [d.groupby("group")[["test_l1", "fraction_kept", "kept_at_floor", "hypervolume"]].median()
                     for d in by.values()]
    times = rp.wall_times(df, study)
    allowed = _numbers([results, medians, group_medians, rp.claim_rows(by), times, times["projected"] / 2,
                        rp.loss_floor(study), 100 * rp.FLOOR_TOLERANCE, ALPHA, len(df), len(study.runs()),
                        study.trials, list(range(page_ext.TOP + 1))], set())
    cells = _cells(text)
    assert len(cells) > 100
    published = {c for h, c in cells if "published" in h}
    assert any("0.271" in c for c in published)  # the paper's figures, in their own column
    prose = re.sub(r"^   :(widths|width|header-rows):.*$", "", text, flags=re.M)  # layout, not results
    for c in published:
        prose = prose.replace(c.split("\n")[0], "")
    found = NUMBER.findall(prose)
    assert found and [n for n in found if n not in allowed] == []
    assert [n for n in NUMBER.findall("a typed 0.1234 or 0.0501") if n not in allowed] == ["0.1234", "0.0501"]


def test_the_page_states_its_trial_count_and_the_shared_trials(partial):
    path, _, text = partial
    n = len(load_results(path))
    assert f"**{n} finished runs** of the study's 90 (5 trials per group planned)" in text
    assert "over trials 0–1 (n = 2 per group)" in text  # conjunctive-final_n has only trials 0-1
    cells = dict(_cells(text)[:5])
    assert cells["finished runs"] == f"{n} of 45" and cells["trials per group"] == "2–3"


def test_a_setting_without_runs_is_said_plainly(partial):
    _, folder, text = partial
    assert "No finished runs of the grid setting in the pack yet." in text
    assert "not testable yet: no finished runs in grid" in text
    assert "undecided: n = 2 trials" in text  # canonical claim: 2 shared trials cannot reach α
    assert sorted(p.name for p in folder.glob("*.png")) == ["repro_curves_canonical.png",
                                                            "repro_heatmap_canonical.png"]
    assert "no mask figure" in text  # the fake pack has no models


def test_a_missing_pack_gives_the_plain_message(tmp_path):
    text = page_ext.page(tmp_path / "nothing", tmp_path / "gen", shown="results/paper")
    assert "No results yet: ``results/paper`` holds no pack of the study" in text
    assert not NUMBER.search(text.split("\n", 1)[1]) and not (tmp_path / "gen").exists()


def test_one_trial_per_group_is_not_blocked_and_cannot_decide():
    rows = [{"run_id": f"g{op}{s}", "setting": "grid", "group": f"{op}-{s}", "operator": op, "schedule": s,
             "trial": 0, "seed": 3, "test_l1": 0.05 + i / 100, "fraction_kept": 0.5, "hypervolume": i / 10,
             "kept_at_floor": 0.5} for i, (op, s) in enumerate((o, s) for o in ("random", "variance", "conjunctive")
                                                              for s in ("exponential", "final_n"))]
    df = pd.DataFrame(rows)
    r = rp.rank_combinations(df, "hypervolume", True)
    assert not r["blocked"] and r["test"] == "Kruskal–Wallis" and r["best"] == "conjunctive-final_n"
    (claim,) = [c for c in rp.claim_rows({"grid": df}) if c["claim"]["setting"] == "grid"]
    assert claim["verdict"].startswith("undecided: n = 1") and claim["test"] == "Mann–Whitney U"
    assert claim["claim"] is rp.CLAIMS[1] and rp.CLAIM_METRIC in claim["medians"]
    assert set(page_ext.PUBLISHED_CLAIMS) == {c["name"] for c in rp.CLAIMS}  # the paper's answer to each claim


def test_a_setting_with_only_unpruned_runs(partial):
    path, folder, _ = partial
    df = load_results(path)
    df = rp.add_kept_at_floor(df[df["operator"] == "none"], {}, 0.05)
    lines = page_ext._losses("canonical", df, best_per_operator(df))
    assert "   * - unpruned" in lines and not rp.rank_combinations(df, "test_l1", False)["best"]
    assert [c["missing"] for c in rp.claim_rows({"canonical": df})] == [
        "no finished runs of variance, conjunctive, random in canonical", "no finished runs in grid"]


def test_the_pack_folder_is_configurable(monkeypatch, tmp_path):
    monkeypatch.delenv(page_ext.ENV, raising=False)
    assert page_ext.pack_folder("results/paper") == page_ext.ROOT / "results" / "paper"
    monkeypatch.setenv(page_ext.ENV, str(tmp_path))
    assert page_ext.pack_folder("results/paper") == tmp_path
    page_ext.write_if_changed(tmp_path / "a.inc", "x\n")
    before = (tmp_path / "a.inc").stat().st_mtime_ns
    page_ext.write_if_changed(tmp_path / "a.inc", "x\n")
    assert (tmp_path / "a.inc").stat().st_mtime_ns == before


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """A pack of both settings (trials 0-1) with the report's models, each with a measurement file; its page."""
    root = tmp_path_factory.mktemp("measured")
    groups = {s.group for s in load_study_text(root).runs()}
    out = _fake_study(root, {(setting, g): 2 for setting in ("canonical", "grid") for g in groups})
    arch = Architecture.paper(40, 12, 4)
    for d in (out / "runs").iterdir():
        save_model(d / "model.safetensors", AutoencoderGenome(arch, rng=0), run_id=d.name)
    pack(out, root / "pack", models="report", measure=False)
    rng = np.random.default_rng(5)
    for f in sorted((root / "pack" / "models").glob("*.safetensors")):
        kept = int(rng.integers(100, 1308))
        ModelMeasurement(run_id=f.stem, params=1308, kept=kept, compact_params=kept + int(rng.integers(0, 40)),
                         file_bytes=int(rng.integers(9000, 20000)), unpruned_params=1308, unpruned_file_bytes=21377,
                         seconds={1: rng.uniform(0.02, 0.05), 256: rng.uniform(5e-4, 2e-3)},
                         unpruned_seconds={1: rng.uniform(0.02, 0.05), 256: rng.uniform(5e-4, 2e-3)},
                         layouts={1: [], 256: ["decoder.2"]}, repeats=7, machine="A test CPU, 4 logical cores, Linux",
                         torch="9.9.9").save(measurement_path(f))
    text = page_ext.page(root / "pack", root / "gen", shown="results/paper")
    return root / "pack", text


def _section(text: str, title: str) -> str:
    start = text.index(f"{title}\n{'-' * len(title)}")
    end = text.find("\n---", start + 2 * len(title) + 2)
    return text[start:text.rfind("\n", 0, end) if end > 0 else len(text)]


def test_what_pruning_buys_is_built_from_the_measurement_files(measured):
    path, text = measured
    df = load_results(path)
    frame = gains_frame(path, df)
    assert len(frame) == 10 and set(frame["setting"]) == {"canonical", "grid"}  # each operator's best, per setting
    section = _section(text, page_ext.GAINS_TITLE)
    cells = _cells(section)
    rows = [dict(cells[i:i + 8]) for i in range(0, len(cells), 8)]
    assert len(rows) == 10
    for row, r in zip(rows, frame.itertuples(), strict=True):
        m = ModelMeasurement.load(path / "models" / f"{r.run_id}.json")
        assert row["model"] == f"``{m.run_id}``"
        assert row["entries kept"] == f"{m.kept} of {m.params} ({page_ext.fmt(m.kept / m.params)})"
        assert row["parameters after compaction"] == str(m.compact_params)
        assert row["file kB: compact / unpruned"] == (f"{page_ext.fmt(m.file_bytes / 1e3)} / "
                                                      f"{page_ext.fmt(m.unpruned_file_bytes / 1e3)}")
        for b in (1, 256):
            assert row[f"ms per 1000 rows at batch {b}: compact / unpruned (speed-up)"] == (
                f"{page_ext.fmt(1e3 * m.seconds[b])} / {page_ext.fmt(1e3 * m.unpruned_seconds[b])} "
                f"({page_ext.fmt_ratio(m.unpruned_seconds[b] / m.seconds[b])}×)")
    assert measured_on(frame) in section and "torch 9.9.9" in section
    prose = re.sub(r"^   :widths:.*$", "", section.replace(measured_on(frame), ""), flags=re.M)
    batches = sorted(ModelMeasurement.load(next((path / "models").glob("*.json"))).seconds)  # as measured
    allowed = _numbers([frame.drop(columns=["machine", "torch"]), batches], set())
    assert [n for n in NUMBER.findall(prose) if n not in allowed] == []


def test_without_measurements_the_section_says_how_to_get_them(partial):
    _, _, text = partial
    section = _section(text, page_ext.GAINS_TITLE)
    assert "No measured models in ``results/paper``" in section and "evoprune measure results/paper" in section
    assert not NUMBER.search(section)
