import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from evoprune.report.stats import a12_magnitude, compare_groups, min_pvalue, trials_needed, vargha_delaney_a12


def test_a12_known_values_and_antisymmetry():
    assert vargha_delaney_a12([3, 4], [1, 2]) == 1.0
    assert vargha_delaney_a12([1, 2], [3, 4]) == 0.0
    assert vargha_delaney_a12([1, 2], [1, 2]) == 0.5
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=7), rng.normal(0.5, size=5)
    count = sum((a > b) + 0.5 * (a == b) for a in x for b in y) / (len(x) * len(y))
    assert vargha_delaney_a12(x, y) == pytest.approx(count)
    assert vargha_delaney_a12(x, y) + vargha_delaney_a12(y, x) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        vargha_delaney_a12([], [1.0])
    with pytest.raises(ValueError):
        vargha_delaney_a12([math.nan], [1.0])


@pytest.mark.parametrize("a12, label", [(0.5, "negligible"), (0.559, "negligible"), (0.56, "small"),
                                        (0.37, "small"), (0.64, "medium"), (0.29, "large"), (1.0, "large")])
def test_a12_magnitude(a12, label):
    assert a12_magnitude(a12) == label


def test_a12_magnitude_rejects_out_of_range():
    with pytest.raises(ValueError):
        a12_magnitude(1.2)


@pytest.mark.parametrize("n", [2, 3, 4, 6])
def test_min_pvalue_is_what_scipy_gives_for_perfectly_separated_samples(n):
    a, b = np.arange(n, dtype=float), np.arange(n, dtype=float) + 100
    assert min_pvalue("mannwhitney", n) == pytest.approx(sps.mannwhitneyu(a, b, method="exact").pvalue)
    d = np.arange(1, n + 1, dtype=float)
    assert min_pvalue("wilcoxon", n) == pytest.approx(sps.wilcoxon(d, method="exact").pvalue)
    assert min_pvalue("mannwhitney", 3) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="unknown test"):
        min_pvalue("t", 3)


def test_trials_needed():
    assert trials_needed("mannwhitney") == 4  # 2 / C(8, 4) = 0.029
    assert trials_needed("wilcoxon") == 6  # 2 / 64 = 0.031
    n = trials_needed("wilcoxon", pairs=6)
    assert 6 * min_pvalue("wilcoxon", n) <= 0.05 < 6 * min_pvalue("wilcoxon", n - 1)


def _groups(seed=0, n=8):
    rng = np.random.default_rng(seed)
    return {"a": rng.normal(0, 1, n), "b": rng.normal(1, 1, n), "c": rng.normal(3, 1, n)}


def test_blocked_groups_use_friedman_wilcoxon_holm_and_ranks_within_blocks():
    g = _groups()
    res = compare_groups(g, blocked=True)
    assert res["test"] == "Friedman" and res["pair_test"] == "Wilcoxon signed-rank"
    assert res["pvalue"] == pytest.approx(sps.friedmanchisquare(*g.values()).pvalue)
    raw = [sps.wilcoxon(g[p["a"]], g[p["b"]]).pvalue for p in res["pairs"]]
    assert [p["pvalue"] for p in res["pairs"]] == pytest.approx(raw)
    assert [p["pvalue_holm"] for p in res["pairs"]] == pytest.approx(list(multipletests(raw, method="holm")[1]))
    ranks = sps.rankdata(np.column_stack(list(g.values())), axis=1).mean(axis=0)
    assert list(res["ranks"].values()) == pytest.approx(list(ranks))
    assert res["ranks"]["a"] < res["ranks"]["c"]  # lower is better by default
    assert compare_groups(g, blocked=True, higher_is_better=True)["ranks"]["c"] < 1.5


def test_unblocked_groups_use_kruskal_and_mann_whitney():
    g = _groups(n=6)
    g["c"] = g["c"][:4]  # unequal sizes are fine without blocks
    res = compare_groups(g, blocked=False)
    assert res["test"] == "Kruskal–Wallis" and res["pair_test"] == "Mann–Whitney U"
    assert res["pvalue"] == pytest.approx(sps.kruskal(*g.values()).pvalue)
    ac = next(p for p in res["pairs"] if (p["a"], p["b"]) == ("a", "c"))
    assert ac["pvalue"] == pytest.approx(sps.mannwhitneyu(g["a"], g["c"]).pvalue)
    assert ac["a12"] == pytest.approx(vargha_delaney_a12(g["a"], g["c"])) and ac["magnitude"] == "large"
    with pytest.raises(ValueError, match="one value per block"):
        compare_groups(g, blocked=True)


def test_given_pairs_two_groups_and_constants():
    g = _groups()
    res = compare_groups(g, blocked=True, pairs=[("b", "a"), ("c", "a")])
    assert [(p["a"], p["b"]) for p in res["pairs"]] == [("b", "a"), ("c", "a")]
    two = compare_groups({"x": [1.0, 2.0, 3.0], "y": [2.0, 3.0, 4.0]}, blocked=False)
    assert two["test"] is None and len(two["pairs"]) == 1
    same = compare_groups({"x": [1.0] * 4, "y": [1.0] * 4, "z": [1.0] * 4}, blocked=True)
    assert same["pvalue"] == 1.0 and all(p["pvalue"] == 1.0 and not p["significant"] for p in same["pairs"])
    with pytest.raises(ValueError, match="NaN"):
        compare_groups({"x": [math.nan], "y": [1.0]}, blocked=False)


def test_holm_marks_significance_at_alpha():
    sep = {"lo": np.arange(8.0), "hi": np.arange(8.0) + 10}
    res = compare_groups(sep, blocked=True)
    assert res["pairs"][0]["pvalue"] == pytest.approx(2 / 2**8) and res["pairs"][0]["significant"]
    res3 = compare_groups({k: v[:3] for k, v in sep.items()}, blocked=True)
    assert not res3["pairs"][0]["significant"]  # 3 trials: p = 0.25 at best


def test_signed_rank_test_with_ties_gives_scipys_numbers():
    """The vectorised exact test (ties or zeros, at most 13 pairs) and SciPy's agree exactly."""
    from evoprune.report.stats import _wilcoxon

    rng = np.random.default_rng(5)
    for n in (3, 6, 10, 13, 14):
        a = rng.integers(0, 4, n) * 0.1 + (rng.random(n) < 0.3) * rng.random(n)
        b = rng.integers(0, 4, n) * 0.1
        want = sps.wilcoxon(a, b)
        assert _wilcoxon(a, b) == (float(want.statistic), float(want.pvalue))


def test_holm_gives_statsmodels_numbers():
    from evoprune.report.stats import holm

    rng = np.random.default_rng(2)
    for m in (1, 2, 5, 12):
        for _ in range(20):
            p = np.round(rng.random(m) ** 3, 3)  # ties and small values
            reject, adjusted, _, _ = multipletests(p, alpha=0.05, method="holm")
            got = holm(p, 0.05)
            assert got[0].tolist() == reject.tolist() and got[1].tolist() == adjusted.tolist()
