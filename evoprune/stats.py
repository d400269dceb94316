"""Statistics for comparing groups of independent trials.

The functions here compare groups of results (for example one value per
trial for each operator, schedule or setting) with non-parametric tests:
Kruskal-Wallis across all groups, pairwise Mann-Whitney U tests with
Holm-Bonferroni correction, and the Vargha-Delaney A12 effect size.
They work on any table of results given as a list of dicts, one per trial.

Groups are passed as a mapping from group name to a sequence of values,
e.g. ``{"uniform": [0.12, 0.10], "adaptive": [0.08, 0.09]}``.

Examples
--------
>>> rows = [{"operator": "a", "loss": 1.0}, {"operator": "a", "loss": 2.0},
...         {"operator": "b", "loss": 3.0}, {"operator": "b", "loss": 4.0}]
>>> result = compare(rows, "loss", by="operator")
>>> print(to_markdown(result["pairwise"], ["a", "b", "a12", "magnitude"]))
| a | b | a12 | magnitude |
| --- | --- | ---: | --- |
| a | b | 0 | large |
"""

from __future__ import annotations

import csv
import io
import math
import numbers
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np
from scipy import stats as _sps

__all__ = [
    "vargha_delaney_a12",
    "a12_magnitude",
    "holm",
    "kruskal_wallis",
    "pairwise_mannwhitney",
    "summarize",
    "compare",
    "best_by",
    "to_markdown",
    "to_latex",
    "to_csv",
]


# --------------------------------------------------------------------------- validation helpers


def _as_sample(values: Any, name: str = "sample") -> np.ndarray:
    """Convert ``values`` to a 1-D float array, rejecting empty samples and NaN."""
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError(f"group {name!r} has no values")
    if np.isnan(arr).any():
        raise ValueError(f"group {name!r} contains NaN values")
    return arr


def _as_groups(groups: Mapping[str, Sequence[float]], min_groups: int = 1) -> dict[str, np.ndarray]:
    """Validate a mapping of group name to values and convert the values to arrays."""
    if not isinstance(groups, Mapping):
        raise TypeError("groups must be a mapping of group name to a sequence of values")
    if len(groups) < min_groups:
        raise ValueError(f"need at least {min_groups} groups, got {len(groups)}: {list(groups)}")
    return {name: _as_sample(values, str(name)) for name, values in groups.items()}


def _keys(keys: str | Sequence[str]) -> list[str]:
    return [keys] if isinstance(keys, str) else list(keys)


def _row_value(row: Mapping[str, Any], key: str, index: int) -> Any:
    try:
        return row[key]
    except KeyError:
        raise KeyError(f"row {index} has no key {key!r}") from None


def _group_rows(table: Sequence[Mapping[str, Any]], value: str, by: list[str]) -> dict[tuple, list[float]]:
    """Collect ``value`` per tuple of ``by`` values, preserving first-seen order."""
    if not by:
        raise ValueError("at least one grouping key is required")
    out: dict[tuple, list[float]] = {}
    for i, row in enumerate(table):
        key = tuple(_row_value(row, k, i) for k in by)
        out.setdefault(key, []).append(float(_row_value(row, value, i)))
    return out


def _group_name(key: tuple) -> str:
    return "/".join(str(k) for k in key)


# --------------------------------------------------------------------------- effect size


def vargha_delaney_a12(x: Sequence[float], y: Sequence[float]) -> float:
    """Vargha-Delaney A12 effect size.

    Parameters
    ----------
    x, y : sequence of float
        The two samples.

    Returns
    -------
    float
        Probability that a value drawn at random from ``x`` is larger than one
        drawn from ``y``, ties counting one half. 0.5 means no effect; the
        result for ``(y, x)`` is one minus the result for ``(x, y)``.
    """
    a = _as_sample(x, "x")
    b = _as_sample(y, "y")
    m, n = a.size, b.size
    ranks = _sps.rankdata(np.concatenate([a, b]))
    r1 = ranks[:m].sum()
    return float((r1 / m - (m + 1) / 2.0) / n)


def a12_magnitude(a12: float) -> str:
    """Label an A12 value by its distance from 0.5.

    Parameters
    ----------
    a12 : float
        A Vargha-Delaney A12 value in [0, 1].

    Returns
    -------
    str
        ``"negligible"`` if the distance is below 0.06, ``"small"`` below 0.14,
        ``"medium"`` below 0.21 and ``"large"`` otherwise (A12 thresholds
        0.56, 0.64 and 0.71, symmetric around 0.5).
    """
    a12 = float(a12)
    if math.isnan(a12) or not 0.0 <= a12 <= 1.0:
        raise ValueError(f"A12 must lie in [0, 1], got {a12}")
    d = round(abs(a12 - 0.5), 12)  # rounding keeps the thresholds exact despite float error
    if d < 0.06:
        return "negligible"
    if d < 0.14:
        return "small"
    if d < 0.21:
        return "medium"
    return "large"


# --------------------------------------------------------------------------- tests


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values.

    Parameters
    ----------
    pvalues : sequence of float
        Raw p-values in [0, 1].

    Returns
    -------
    numpy.ndarray
        Step-down adjusted p-values in the same order as the input, made
        monotone and clipped to 1. Reject a hypothesis when its adjusted
        p-value is at most the family-wise significance level.
    """
    p = np.asarray(pvalues, dtype=float).ravel()
    if p.size == 0:
        return p.copy()
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError("p-values must lie in [0, 1] and not be NaN")
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = (m - np.arange(m)) * p[order]
    adjusted_sorted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return adjusted


def kruskal_wallis(groups: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    """Kruskal-Wallis H test across all groups.

    Parameters
    ----------
    groups : mapping of str to sequence of float
        At least two groups, each with at least one value and no NaN.

    Returns
    -------
    dict
        ``statistic`` (H), ``pvalue`` and ``groups`` (the group names in input
        order). If all values are identical the test is undefined and the
        result is statistic 0.0, p-value 1.0.

    Raises
    ------
    ValueError
        If there are fewer than two groups, or a group is empty or contains NaN.
    """
    data = _as_groups(groups, min_groups=2)
    names = list(data)
    pooled = np.concatenate(list(data.values()))
    if np.all(pooled == pooled[0]):
        return {"statistic": 0.0, "pvalue": 1.0, "groups": names}
    try:
        res = _sps.kruskal(*data.values())
    except ValueError:  # older scipy raises when all numbers are identical
        return {"statistic": 0.0, "pvalue": 1.0, "groups": names}
    stat, pval = float(res.statistic), float(res.pvalue)
    if math.isnan(stat) or math.isnan(pval):
        return {"statistic": 0.0, "pvalue": 1.0, "groups": names}
    return {"statistic": stat, "pvalue": pval, "groups": names}


def _mannwhitney(a: np.ndarray, b: np.ndarray, alternative: str) -> tuple[float, float]:
    pooled = np.concatenate([a, b])
    if np.all(pooled == pooled[0]):
        return a.size * b.size / 2.0, 1.0
    res = _sps.mannwhitneyu(a, b, alternative=alternative)
    pval = float(res.pvalue)
    return float(res.statistic), (1.0 if math.isnan(pval) else pval)


def pairwise_mannwhitney(groups: Mapping[str, Sequence[float]], alternative: str = "two-sided") -> list[dict[str, Any]]:
    """Mann-Whitney U tests between every pair of groups.

    Parameters
    ----------
    groups : mapping of str to sequence of float
        At least two groups, each with at least one value and no NaN.
    alternative : {"two-sided", "less", "greater"}
        Alternative hypothesis, for the first group of a pair versus the second.

    Returns
    -------
    list of dict
        One row per pair ``(a, b)`` with ``a`` before ``b`` in input order:
        ``a``, ``b``, ``U`` (scipy's statistic for ``a`` versus ``b``),
        ``pvalue``, ``pvalue_holm`` (Holm-corrected over all pairs), ``a12``
        (A12 of ``a`` versus ``b``), ``magnitude``, ``median_a`` and
        ``median_b``. Two samples made of one identical constant get p-value 1.0.

    Raises
    ------
    ValueError
        If there are fewer than two groups, or a group is empty or contains NaN.
    """
    if alternative not in ("two-sided", "less", "greater"):
        raise ValueError(f"alternative must be 'two-sided', 'less' or 'greater', got {alternative!r}")
    data = _as_groups(groups, min_groups=2)
    rows: list[dict[str, Any]] = []
    for name_a, name_b in combinations(data, 2):
        a, b = data[name_a], data[name_b]
        u, pval = _mannwhitney(a, b, alternative)
        a12 = u / (a.size * b.size)  # equals vargha_delaney_a12(a, b)
        rows.append(
            {
                "a": name_a,
                "b": name_b,
                "U": u,
                "pvalue": pval,
                "pvalue_holm": float("nan"),
                "a12": a12,
                "magnitude": a12_magnitude(a12),
                "median_a": float(np.median(a)),
                "median_b": float(np.median(b)),
            }
        )
    for row, adj in zip(rows, holm([r["pvalue"] for r in rows]), strict=True):
        row["pvalue_holm"] = float(adj)
    return rows


def summarize(groups: Mapping[str, Sequence[float]]) -> list[dict[str, Any]]:
    """Descriptive statistics per group.

    Parameters
    ----------
    groups : mapping of str to sequence of float
        Groups, each with at least one value and no NaN.

    Returns
    -------
    list of dict
        One row per group in input order: ``group``, ``n``, ``median``, ``q1``,
        ``q3``, ``iqr``, ``mean``, ``min`` and ``max``. Quartiles use numpy's
        linear percentile interpolation.
    """
    rows = []
    for name, arr in _as_groups(groups).items():
        q1, med, q3 = (float(v) for v in np.percentile(arr, [25, 50, 75]))
        rows.append(
            {
                "group": name,
                "n": int(arr.size),
                "median": med,
                "q1": q1,
                "q3": q3,
                "iqr": q3 - q1,
                "mean": float(arr.mean()),
                "min": float(arr.min()),
                "max": float(arr.max()),
            }
        )
    return rows


# --------------------------------------------------------------------------- tables


def compare(table: Sequence[Mapping[str, Any]], value: str, by: str | Sequence[str]) -> dict[str, Any]:
    """Compare a column of a results table between groups of rows.

    Parameters
    ----------
    table : sequence of dict
        Rows, e.g. one per trial with keys such as ``operator``, ``schedule``
        and ``test_l1``.
    value : str
        Key of the numeric column to compare.
    by : str or sequence of str
        Key or keys that define the groups. A group is named by its key values
        joined with ``"/"``, e.g. ``"mutation/linear"``.

    Returns
    -------
    dict
        ``value``, ``summary`` (see :func:`summarize`), ``kruskal`` (see
        :func:`kruskal_wallis`) and ``pairwise`` (see
        :func:`pairwise_mannwhitney`). Groups keep their first-seen order. With
        fewer than two groups ``kruskal`` and ``pairwise`` are None.
    """
    grouped = _group_rows(table, value, _keys(by))
    groups = {_group_name(k): v for k, v in grouped.items()}
    summary = summarize(groups)
    if len(groups) < 2:
        return {"value": value, "summary": summary, "kruskal": None, "pairwise": None}
    return {
        "value": value,
        "summary": summary,
        "kruskal": kruskal_wallis(groups),
        "pairwise": pairwise_mannwhitney(groups),
    }


def best_by(
    table: Sequence[Mapping[str, Any]],
    value: str,
    group_keys: str | Sequence[str],
    choose_key: str,
    lower_is_better: bool = True,
) -> list[dict[str, Any]]:
    """Pick, within each group, the choice with the best median value.

    Parameters
    ----------
    table : sequence of dict
        Rows, e.g. one per trial.
    value : str
        Key of the numeric column to optimise.
    group_keys : str or sequence of str
        Keys that define the groups, e.g. ``["setting", "operator"]``.
    choose_key : str
        Key whose values are compared within each group, e.g. ``"schedule"``.
    lower_is_better : bool
        Pick the lowest median if True, else the highest.

    Returns
    -------
    list of dict
        One row per group in first-seen order: the group key values,
        ``choose_key`` set to the best choice, ``median`` (its median value) and
        ``n`` (its number of rows). Ties go to the first-seen choice.
    """
    keys = _keys(group_keys)
    grouped = _group_rows(table, value, [*keys, choose_key])
    per_group: dict[tuple, list[tuple[Any, np.ndarray]]] = {}
    for key, values in grouped.items():
        arr = _as_sample(values, _group_name(key))
        per_group.setdefault(key[:-1], []).append((key[-1], arr))
    rows = []
    for gkey, choices in per_group.items():
        best, best_arr, best_med = None, None, None
        for choice, arr in choices:
            med = float(np.median(arr))
            if best_med is None or (med < best_med if lower_is_better else med > best_med):
                best, best_arr, best_med = choice, arr, med
        rows.append({**dict(zip(keys, gkey, strict=True)), choose_key: best, "median": best_med, "n": best_arr.size})
    return rows


# --------------------------------------------------------------------------- formatting


def _columns(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None) -> list[str]:
    if columns is not None:
        return list(columns)
    seen: dict[str, None] = {}
    for row in rows:
        for k in row:
            seen.setdefault(k, None)
    return list(seen)


def _fmt(v: Any, floatfmt: str) -> str:
    if v is None:
        return ""
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if isinstance(v, numbers.Real):
        return format(float(v), floatfmt)
    return str(v)


def _is_numeric_column(rows: Sequence[Mapping[str, Any]], col: str) -> bool:
    vals = [r.get(col) for r in rows if r.get(col) is not None]
    return bool(vals) and all(isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_) for v in vals)


def to_markdown(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, floatfmt: str = ".4g") -> str:
    """Format rows as a GitHub-flavoured Markdown table.

    Parameters
    ----------
    rows : sequence of dict
        Table rows; missing keys and None give empty cells.
    columns : sequence of str, optional
        Columns in order; by default every key in first-seen order.
    floatfmt : str
        Format spec for floats, e.g. ``".4g"`` or ``".3f"``.

    Returns
    -------
    str
        The table, numeric columns right-aligned, without a trailing newline.
    """
    cols = _columns(rows, columns)

    def cell(v: Any) -> str:
        return _fmt(v, floatfmt).replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(cell(c) for c in cols) + " |",
        "| " + " | ".join("---:" if _is_numeric_column(rows, c) else "---" for c in cols) + " |",
    ]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def to_latex(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, floatfmt: str = ".4g") -> str:
    """Format rows as a LaTeX ``tabular`` using booktabs rules.

    Parameters
    ----------
    rows : sequence of dict
        Table rows; missing keys and None give empty cells.
    columns : sequence of str, optional
        Columns in order; by default every key in first-seen order.
    floatfmt : str
        Format spec for floats.

    Returns
    -------
    str
        The ``tabular`` environment (needs ``\\usepackage{booktabs}``), with
        special characters such as ``_``, ``%`` and ``&`` escaped. Numeric
        columns are right-aligned.
    """
    cols = _columns(rows, columns)
    spec = "".join("r" if _is_numeric_column(rows, c) else "l" for c in cols)

    def line(cells: list[str]) -> str:
        return " & ".join(_latex_escape(c) for c in cells) + r" \\"

    out = [
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        line(list(cols)),
        r"\midrule",
        *(line([_fmt(r.get(c), floatfmt) for c in cols]) for r in rows),
        r"\bottomrule",
        r"\end{tabular}",
    ]
    return "\n".join(out)


def to_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Format rows as CSV text with a header line.

    Parameters
    ----------
    rows : sequence of dict
        Table rows; missing keys and None give empty cells, other keys are ignored.
    columns : sequence of str, optional
        Columns in order; by default every key in first-seen order.

    Returns
    -------
    str
        CSV text with ``\\n`` line endings; floats keep full precision.
    """
    cols = _columns(rows, columns)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({c: r.get(c) for c in cols})
    return buf.getvalue()
