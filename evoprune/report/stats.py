"""What no statistics library offers: A12, blocked/unblocked test glue and a power note.

Tests come from SciPy (:func:`~scipy.stats.friedmanchisquare`, :func:`~scipy.stats.wilcoxon`,
:func:`~scipy.stats.kruskal`, :func:`~scipy.stats.mannwhitneyu`; the exact signed-rank test with ties
computed faster, same numbers) and Holm's correction (:func:`holm`, statsmodels' numbers).  This module adds

* the Vargha–Delaney **A12** effect size and its magnitude labels;
* :func:`compare_groups`: one family of groups compared with the tests that
  fit the design.  When the groups are *blocked* (trial t of every group used
  the same seed) it uses Friedman's test, pairwise Wilcoxon signed-rank tests
  with Holm's correction and average ranks; otherwise Kruskal–Wallis and
  pairwise Mann–Whitney U tests with Holm's correction;
* :func:`min_pvalue` and :func:`trials_needed`: the smallest p-value a
  pairwise test can reach with n trials, and how many trials a family of m
  Holm-corrected comparisons needs before any of them can reach α.

Examples
--------
>>> vargha_delaney_a12([1, 2], [3, 4])
0.0
>>> round(min_pvalue("mannwhitney", 3), 3)
0.1
>>> trials_needed("mannwhitney", pairs=6)
5
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np
from scipy import stats as _sps

__all__ = ["vargha_delaney_a12", "a12_magnitude", "min_pvalue", "trials_needed", "compare_groups", "holm"]


def vargha_delaney_a12(x: Sequence[float], y: Sequence[float]) -> float:
    """Probability that a value drawn from ``x`` is larger than one drawn from ``y`` (ties count one half)."""
    a, b = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if a.size == 0 or b.size == 0:
        raise ValueError("A12 needs two non-empty samples")
    if np.isnan(a).any() or np.isnan(b).any():
        raise ValueError("A12 samples contain NaN values")
    ranks = _sps.rankdata(np.concatenate([a, b]))
    return float((ranks[: a.size].sum() / a.size - (a.size + 1) / 2.0) / b.size)


def a12_magnitude(a12: float) -> str:
    """``negligible`` (``|A12 − 0.5|`` < 0.06), ``small`` (< 0.14), ``medium`` (< 0.21) or ``large``."""
    a12 = float(a12)
    if math.isnan(a12) or not 0.0 <= a12 <= 1.0:
        raise ValueError(f"A12 must lie in [0, 1], got {a12}")
    d = round(abs(a12 - 0.5), 12)  # rounding keeps the thresholds exact despite float error
    return "negligible" if d < 0.06 else "small" if d < 0.14 else "medium" if d < 0.21 else "large"


def min_pvalue(test: str, n: int) -> float:
    """Smallest two-sided p-value of a pairwise test with ``n`` trials: 2 / C(2n, n) (Mann–Whitney), 2 / 2^n."""
    if n < 1:
        return 1.0
    if test == "mannwhitney":
        return min(1.0, 2.0 / math.comb(2 * n, n))
    if test == "wilcoxon":
        return min(1.0, 2.0 / 2**n)
    raise ValueError(f"unknown test {test!r}; choose 'mannwhitney' or 'wilcoxon'")


def trials_needed(test: str, pairs: int = 1, alpha: float = 0.05, limit: int = 1000) -> int:
    """Smallest n with ``pairs * min_pvalue(test, n) <= alpha``: a necessary condition, not a power calculation."""
    return next(n for n in range(1, limit + 1) if max(pairs, 1) * min_pvalue(test, n) <= alpha)


#: Most pairs whose signed-rank test with ties or zeros SciPy settles by enumerating every sign flip.
_ENUMERATED = 13


def _wilcoxon(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """SciPy's two-sided :func:`~scipy.stats.wilcoxon`, the same numbers faster (a vectorised exact test)."""
    d = a - b
    nonzero = d != 0
    absd = np.abs(d[nonzero])
    if d.size > _ENUMERATED or (nonzero.all() and np.unique(absd).size == absd.size):
        res = _sps.wilcoxon(a, b)
        return float(res.statistic), float(res.pvalue)
    # With ties or zeros SciPy calls its statistic once per sign flip (seconds per test); the same exact test
    # with a vectorised statistic, the rank sum of the positive differences (zeros have no rank, as "wilcox").
    ranks = np.zeros(d.size)
    ranks[nonzero] = _sps.rankdata(absd)

    def r_plus(x: np.ndarray, axis: int) -> np.ndarray:
        return ((x > 0) * ranks).sum(axis=axis)

    res = _sps.permutation_test((d,), r_plus, permutation_type="samples", vectorized=True, n_resamples=9999,
                                alternative="two-sided", axis=-1)
    return float(min(ranks[d > 0].sum(), ranks[d < 0].sum())), float(res.pvalue)


def holm(pvalues: Sequence[float], alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Holm's correction: which hypotheses are rejected at ``alpha``, and the adjusted p-values (statsmodels')."""
    # statsmodels' multipletests(method="holm") gives these numbers, but runs a full garbage collection per call
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p)
    ps, steps = p[order], np.arange(p.size, 0, -1)
    keep = ps > alpha / steps
    first = np.flatnonzero(keep)
    keep[first[0] if first.size else p.size:] = True
    adjusted, reject = np.empty(p.size), np.empty(p.size, dtype=bool)
    adjusted[order] = np.minimum(np.maximum.accumulate(ps * steps), 1.0)
    reject[order] = ~keep
    return reject, adjusted


def _pair_test(a: np.ndarray, b: np.ndarray, paired: bool) -> tuple[float, float]:
    if paired:
        if np.allclose(a, b, rtol=0, atol=1e-15):
            return 0.0, 1.0
        stat, p = _wilcoxon(a, b)
    else:
        pooled = np.concatenate([a, b])
        if np.all(pooled == pooled[0]):
            return a.size * b.size / 2.0, 1.0
        res = _sps.mannwhitneyu(a, b, alternative="two-sided")
        stat, p = float(res.statistic), float(res.pvalue)
    return stat, 1.0 if math.isnan(p) else p


def _omnibus(data: Mapping[str, np.ndarray], paired: bool) -> tuple[float, float]:
    values = list(data.values())
    pooled = np.concatenate(values)
    if np.all(pooled == pooled[0]):
        return 0.0, 1.0
    res = _sps.friedmanchisquare(*values) if paired else _sps.kruskal(*values)
    stat, p = float(res.statistic), float(res.pvalue)
    return (0.0, 1.0) if math.isnan(p) else (stat, p)


def compare_groups(groups: Mapping[str, Sequence[float]], blocked: bool, higher_is_better: bool = False,
                   pairs: Sequence[tuple[str, str]] | None = None, alpha: float = 0.05) -> dict[str, Any]:
    """Compare one family of groups with the tests that fit the design."""
    data = {str(k): np.asarray(v, dtype=float).ravel() for k, v in groups.items()}
    if any(v.size == 0 or np.isnan(v).any() for v in data.values()):
        raise ValueError("every group needs values and no NaN")
    if blocked and len({v.size for v in data.values()}) > 1:
        raise ValueError("blocked groups must have one value per block")
    names = list(data)
    sign = -1.0 if higher_is_better else 1.0
    if blocked:
        table = np.column_stack([sign * data[n] for n in names])
        ranks = dict(zip(names, _sps.rankdata(table, axis=1).mean(axis=0).tolist(), strict=True))
    else:
        pooled = _sps.rankdata(np.concatenate([sign * data[n] for n in names]))
        cuts = np.cumsum([0] + [data[n].size for n in names])
        ranks = {n: float(pooled[cuts[i]:cuts[i + 1]].mean()) for i, n in enumerate(names)}
    out: dict[str, Any] = {"test": None, "statistic": None, "pvalue": None, "ranks": ranks,
                           "pair_test": "Wilcoxon signed-rank" if blocked else "Mann–Whitney U", "pairs": []}
    if len(names) >= 3:
        out["test"] = "Friedman" if blocked else "Kruskal–Wallis"
        out["statistic"], out["pvalue"] = _omnibus(data, blocked)
    for a, b in (pairs if pairs is not None else combinations(names, 2)):
        stat, p = _pair_test(data[a], data[b], blocked)
        a12 = vargha_delaney_a12(data[a], data[b])
        out["pairs"].append({"a": a, "b": b, "statistic": stat, "pvalue": p, "a12": a12,
                             "magnitude": a12_magnitude(a12)})
    if out["pairs"]:
        reject, adjusted = holm([r["pvalue"] for r in out["pairs"]], alpha)
        for r, rej, adj in zip(out["pairs"], reject, adjusted, strict=True):
            r["pvalue_holm"], r["significant"] = float(adj), bool(rej)
    return out
