import csv
import io
import math

import numpy as np
import pytest
from scipy import stats as sps

from evoprune.stats import (
    a12_magnitude,
    best_by,
    compare,
    holm,
    kruskal_wallis,
    pairwise_mannwhitney,
    summarize,
    to_csv,
    to_latex,
    to_markdown,
    vargha_delaney_a12,
)

A = [0.31, 0.42, 0.28, 0.35, 0.39, 0.30, 0.44]
B = [0.25, 0.22, 0.29, 0.27, 0.31, 0.20]
C = [0.40, 0.51, 0.47, 0.45, 0.38, 0.50, 0.49, 0.43]
GROUPS = {"a": A, "b": B, "c": C}


# ------------------------------------------------------------------ A12


def test_a12_known_values():
    assert vargha_delaney_a12([1, 2, 3], [1, 2, 3]) == pytest.approx(0.5)
    assert vargha_delaney_a12([4, 5, 6], [1, 2, 3]) == pytest.approx(1.0)
    assert vargha_delaney_a12([1, 2, 3], [4, 5, 6]) == pytest.approx(0.0)
    assert vargha_delaney_a12([1, 2], [2, 3]) == pytest.approx(0.125)


def test_a12_matches_pairwise_count_and_is_antisymmetric():
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = rng.integers(0, 5, size=rng.integers(1, 12)).astype(float)
        y = rng.integers(0, 5, size=rng.integers(1, 12)).astype(float)
        direct = np.mean([(xi > yj) + 0.5 * (xi == yj) for xi in x for yj in y])
        a = vargha_delaney_a12(x, y)
        assert a == pytest.approx(direct)
        assert a + vargha_delaney_a12(y, x) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "a12, label",
    [
        (0.5, "negligible"),
        (0.55, "negligible"),
        (0.45, "negligible"),
        (0.56, "small"),
        (0.44, "small"),
        (0.63, "small"),
        (0.64, "medium"),
        (0.36, "medium"),
        (0.70, "medium"),
        (0.71, "large"),
        (0.29, "large"),
        (1.0, "large"),
        (0.0, "large"),
    ],
)
def test_a12_magnitude(a12, label):
    assert a12_magnitude(a12) == label


def test_a12_magnitude_rejects_out_of_range():
    with pytest.raises(ValueError):
        a12_magnitude(1.5)


# ------------------------------------------------------------------ Holm


def test_holm_hand_computed():
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])


def test_holm_clips_and_is_monotone():
    np.testing.assert_allclose(holm([0.5, 0.4, 0.01]), [0.8, 0.8, 0.03])  # monotone: 0.5 raised to 0.8
    np.testing.assert_allclose(holm([0.6, 0.5, 0.01]), [1.0, 1.0, 0.03])  # 2 * 0.5 clipped to 1
    assert holm([]).size == 0
    with pytest.raises(ValueError):
        holm([0.1, float("nan")])


# ------------------------------------------------------------------ tests vs scipy


def test_kruskal_matches_scipy():
    res = kruskal_wallis(GROUPS)
    ref = sps.kruskal(A, B, C)
    assert res["statistic"] == pytest.approx(ref.statistic)
    assert res["pvalue"] == pytest.approx(ref.pvalue)
    assert res["groups"] == ["a", "b", "c"]


def test_kruskal_identical_values():
    res = kruskal_wallis({"x": [1.0, 1.0], "y": [1.0, 1.0, 1.0]})
    assert res["statistic"] == 0.0
    assert res["pvalue"] == 1.0


def test_pairwise_matches_scipy():
    rows = pairwise_mannwhitney(GROUPS)
    assert [(r["a"], r["b"]) for r in rows] == [("a", "b"), ("a", "c"), ("b", "c")]
    raw = []
    for r in rows:
        x, y = GROUPS[r["a"]], GROUPS[r["b"]]
        ref = sps.mannwhitneyu(x, y, alternative="two-sided")
        assert r["U"] == pytest.approx(ref.statistic)
        assert r["pvalue"] == pytest.approx(ref.pvalue)
        assert r["a12"] == pytest.approx(vargha_delaney_a12(x, y))
        assert r["magnitude"] == a12_magnitude(r["a12"])
        assert r["median_a"] == pytest.approx(np.median(x))
        assert r["median_b"] == pytest.approx(np.median(y))
        raw.append(ref.pvalue)
    np.testing.assert_allclose([r["pvalue_holm"] for r in rows], holm(raw))


def test_pairwise_one_sided():
    rows = pairwise_mannwhitney({"b": B, "c": C}, alternative="less")
    assert rows[0]["pvalue"] == pytest.approx(sps.mannwhitneyu(B, C, alternative="less").pvalue)
    with pytest.raises(ValueError):
        pairwise_mannwhitney(GROUPS, alternative="bogus")


def test_pairwise_identical_constants():
    rows = pairwise_mannwhitney({"x": [2.0] * 4, "y": [2.0] * 3})
    assert rows[0]["pvalue"] == 1.0
    assert rows[0]["pvalue_holm"] == 1.0
    assert rows[0]["a12"] == 0.5
    assert rows[0]["magnitude"] == "negligible"


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("func", [kruskal_wallis, pairwise_mannwhitney])
def test_errors_name_the_group(func):
    with pytest.raises(ValueError, match="'bad'"):
        func({"ok": [1.0, 2.0], "bad": [1.0, float("nan")]})
    with pytest.raises(ValueError, match="'empty'"):
        func({"ok": [1.0, 2.0], "empty": []})
    with pytest.raises(ValueError, match="'only'"):
        func({"only": [1.0, 2.0]})


def test_summarize_rejects_nan():
    with pytest.raises(ValueError, match="'g'"):
        summarize({"g": [1.0, float("nan")]})


# ------------------------------------------------------------------ summaries and tables


def test_summarize_against_numpy():
    rows = summarize(GROUPS)
    assert [r["group"] for r in rows] == ["a", "b", "c"]
    for r in rows:
        x = np.asarray(GROUPS[r["group"]])
        q1, med, q3 = np.percentile(x, [25, 50, 75])
        assert r["n"] == x.size
        assert r["median"] == pytest.approx(med)
        assert r["q1"] == pytest.approx(q1)
        assert r["q3"] == pytest.approx(q3)
        assert r["iqr"] == pytest.approx(q3 - q1)
        assert r["mean"] == pytest.approx(x.mean())
        assert (r["min"], r["max"]) == (x.min(), x.max())


def _table():
    rows = []
    values = {
        ("mutation", "linear"): [0.30, 0.32, 0.31],
        ("mutation", "step"): [0.20, 0.22, 0.21],
        ("crossover", "linear"): [0.10, 0.12, 0.11],
        ("crossover", "step"): [0.40, 0.41, 0.42],
    }
    for trial in range(3):
        for (op, sched), vals in values.items():
            rows.append({"operator": op, "schedule": sched, "setting": "s1", "trial": trial, "test_l1": vals[trial]})
    return rows


def test_compare_groups_and_order():
    table = _table()
    res = compare(table, "test_l1", by="operator")
    assert res["value"] == "test_l1"
    assert [s["group"] for s in res["summary"]] == ["mutation", "crossover"]
    assert [s["n"] for s in res["summary"]] == [6, 6]
    assert res["kruskal"]["groups"] == ["mutation", "crossover"]
    assert len(res["pairwise"]) == 1

    res2 = compare(table, "test_l1", by=["operator", "schedule"])
    names = [s["group"] for s in res2["summary"]]
    assert names == ["mutation/linear", "mutation/step", "crossover/linear", "crossover/step"]
    assert len(res2["pairwise"]) == 6
    ref = sps.kruskal([0.30, 0.32, 0.31], [0.20, 0.22, 0.21], [0.10, 0.12, 0.11], [0.40, 0.41, 0.42])
    assert res2["kruskal"]["pvalue"] == pytest.approx(ref.pvalue)


def test_compare_single_group():
    res = compare(_table(), "test_l1", by="setting")
    assert res["kruskal"] is None and res["pairwise"] is None
    assert res["summary"][0]["group"] == "s1"
    assert res["summary"][0]["n"] == 12


def test_best_by():
    rows = best_by(_table(), "test_l1", ["setting", "operator"], "schedule")
    assert rows == [
        {"setting": "s1", "operator": "mutation", "schedule": "step", "median": pytest.approx(0.21), "n": 3},
        {"setting": "s1", "operator": "crossover", "schedule": "linear", "median": pytest.approx(0.11), "n": 3},
    ]
    high = best_by(_table(), "test_l1", "operator", "schedule", lower_is_better=False)
    assert [(r["operator"], r["schedule"]) for r in high] == [("mutation", "linear"), ("crossover", "step")]


ROWS = [
    {"group": "op_a", "median": 0.123456, "n": 10, "note": "5% & more"},
    {"group": "op|b", "median": 1.5, "n": 3, "note": None},
]


def test_to_markdown():
    md = to_markdown(ROWS)
    lines = md.splitlines()
    assert lines[0] == "| group | median | n | note |"
    assert lines[1] == "| --- | ---: | ---: | --- |"
    assert "| op_a | 0.1235 | 10 | 5% & more |" in lines
    assert "op\\|b" in md
    assert to_markdown(ROWS, ["n"]).splitlines()[0] == "| n |"


def test_to_latex():
    tex = to_latex(ROWS, floatfmt=".2f")
    assert tex.startswith("\\begin{tabular}{lrrl}")
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    assert "group & median & n & note \\\\" in tex
    assert "op\\_a & 0.12 & 10 & 5\\% \\& more \\\\" in tex
    assert tex.rstrip().endswith("\\end{tabular}")


def test_to_csv():
    text = to_csv(ROWS, columns=["group", "median", "note"])
    assert text.splitlines()[0] == "group,median,note"
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert parsed[0]["note"] == "5% & more"
    assert math.isclose(float(parsed[0]["median"]), 0.123456)
    assert parsed[1]["note"] == ""


def test_formatting_pairwise_output():
    rows = compare(_table(), "test_l1", by="operator")["pairwise"]
    assert to_markdown(rows).startswith("| a | b | U | pvalue | pvalue_holm | a12 | magnitude | median_a | median_b |")
