"""The statistics of one setting: the comparisons the study asks for, with tests that fit its design.

The study's question is which pruning operator and schedule give the best
trade-off between error and size.  So, per setting, only these families of
groups are compared:

* the operators within each schedule;
* the schedules within each operator;
* each pruned group against the unpruned baseline.

Trial t of every group uses the same seed, so a family is usually *blocked*:
Friedman's test, pairwise Wilcoxon signed-rank tests and average ranks within
trials.  On a partly finished study a family's blocked tests use the trials
finished in every group it compares (the others are left out, and the report
says so).  Where a family is not blocked (fewer than two such trials, different
seeds) Kruskal–Wallis and Mann–Whitney U are used.  Holm's correction runs within a
family; A12 is given for every pair (see :func:`evoprune.report.stats.compare_groups`).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ..pruning import method_names
from . import stats as st

__all__ = ["blocked_values", "analyse", "compare"]

ALPHA = 0.05
#: (column, label, higher is better) of the metrics compared between groups
METRICS = (
    ("test_l1", "final test L1", False),
    ("fraction_kept", "fraction kept", False),
    ("hypervolume", "hypervolume (validation)", True),
    ("l1_at_kept_0.5", "val. L1 at kept ≤ 0.5", False),
    ("l1_at_kept_0.25", "val. L1 at kept ≤ 0.25", False),
)
BASELINE = "none"


def operator_order() -> tuple[str, ...]:
    """The unpruned baseline, then the registered pruning methods in registration order."""
    return (BASELINE, *method_names())


#: share of runs with one value above which a metric counts as constant (or a placeholder)
CONSTANT_SHARE = 0.9


def ordered(values: Iterable[str], preferred: Iterable[str] | None = None) -> list[str]:
    uniq, preferred = set(values), list(operator_order() if preferred is None else preferred)
    return [v for v in preferred if v in uniq] + sorted(uniq - set(preferred))


def group_order(df: pd.DataFrame) -> list[str]:
    """Groups by operator order, then schedule."""
    ops = {op: i for i, op in enumerate(ordered(df["operator"]))}
    pairs = df[["group", "operator", "schedule"]].drop_duplicates("group")
    return [g for g, *_ in sorted(pairs.itertuples(index=False), key=lambda r: (ops[r[1]], str(r[2]), r[0]))]


def informative_metrics(df: pd.DataFrame) -> tuple[list[tuple[str, str, bool]], list[str]]:
    """The metrics worth comparing, and one line for each constant (or placeholder) metric."""
    keep, notes = [], []
    for col, label, higher in METRICS:
        values = df[col].dropna()
        if values.empty or len(values) < len(df):
            continue
        top = values.round(12).value_counts()
        if top.iloc[0] >= CONSTANT_SHARE * len(values) and col not in ("test_l1", "fraction_kept"):
            notes.append(f"{label} (`{col}`) is {top.index[0]:.4g} in {top.iloc[0]} of {len(values)} runs "
                         "(constant or placeholder): not compared.")
        else:
            keep.append((col, label, higher))
    return keep, notes


def blocked_values(df: pd.DataFrame, groups: list[str],
                    col: str) -> tuple[dict[str, list[float]], bool, list[int] | None]:
    """Values per group, whether they are blocked (aligned by trial: only trials every group finished), the trials."""
    sub = df[df["group"].isin(groups)]
    seeds = sub.pivot_table(index="trial", columns="group", values="seed", aggfunc="first")
    counts = sub.groupby(["group", "trial"]).size()
    common = seeds.dropna()  # trials finished in every group
    blocked = (len(common) >= 2 and seeds.shape[1] == len(groups) and bool((counts == 1).all())
               and bool((seeds.nunique(axis=1) <= 1).all()))
    if blocked:
        table = sub.pivot_table(index="trial", columns="group", values=col, aggfunc="first").loc[common.index]
        return {g: table[g].tolist() for g in groups}, True, [int(t) for t in common.index]
    return {g: sub.loc[sub["group"] == g, col].tolist() for g in groups}, False, None


def families(df: pd.DataFrame) -> list[tuple[str, list[str], list[tuple[str, str]] | None]]:
    """(name, groups, pairs or None for all pairs) of the comparisons the study asks for."""
    out = []
    pruned = df[df["operator"] != BASELINE]
    groups = group_order(df)
    for sched in sorted(pruned["schedule"].unique()):
        gs = [g for g in groups if g in set(pruned.loc[pruned["schedule"] == sched, "group"])]
        if len(gs) > 1:
            out.append((f"operators, schedule {sched}", gs, None))
    for op in ordered(pruned["operator"]):
        gs = [g for g in groups if g in set(pruned.loc[pruned["operator"] == op, "group"])]
        if len(gs) > 1:
            out.append((f"schedules, operator {op}", gs, None))
    base = [g for g in groups if g in set(df.loc[df["operator"] == BASELINE, "group"])]
    if base and len(pruned):
        gs = [base[0], *(g for g in groups if g not in base)]
        out.append((f"each pruned group vs {base[0]}", gs, [(g, base[0]) for g in gs[1:]]))
    return out


def compare(df: pd.DataFrame, metrics: list[tuple[str, str, bool]]) -> list[dict]:
    """One result per (family, metric): see :func:`evoprune.report.stats.compare_groups`, plus family and metric."""
    results = []
    for name, groups, pairs in families(df):
        for col, label, higher in metrics:
            values, blocked, trials = blocked_values(df, groups, col)
            res = st.compare_groups(values, blocked, higher_is_better=higher, pairs=pairs, alpha=ALPHA)
            if pairs is not None:  # against the baseline: pairwise only
                res.update(test=None, statistic=None, pvalue=None)
            n = min(len(v) for v in values.values())
            left_out = int(df["group"].isin(groups).sum()) - n * len(groups) if blocked else 0
            results.append({"family": name, "metric": col, "label": label, "blocked": blocked, "n": n,
                            "trials": trials, "left_out": left_out, "higher_is_better": higher, **res})
    return results


def _span(trials: list[int]) -> str:
    if trials == list(range(trials[0], trials[-1] + 1)):
        return f"{trials[0]}–{trials[-1]}"
    return ", ".join(map(str, trials))


def partial_notes(results: list[dict]) -> list[str]:
    """One line per family of a partly finished study: the trials its blocked tests compare."""
    notes: dict[str, str] = {}
    for r in results:
        if r["blocked"] and r["left_out"] and r["family"] not in notes:
            notes[r["family"]] = (f"{r['family']}: trials {_span(r['trials'])} ({r['n']} finished in every group "
                                  f"compared; {r['left_out']} runs of other trials left out of its tests)")
    return list(notes.values())


def power_notes(results: list[dict]) -> list[str]:
    """One line per kind of family whose pairwise tests cannot reach α with the trials there are."""
    notes, seen = [], set()
    for r in results:
        test = "wilcoxon" if r["blocked"] else "mannwhitney"
        m, n = len(r["pairs"]), r["n"]
        key = (test, m, n)
        if key in seen or not m or m * st.min_pvalue(test, n) <= ALPHA:
            continue
        seen.add(key)
        p = st.min_pvalue(test, n)
        notes.append(f"With n = {n} trials per group the smallest two-sided {r['pair_test']} p is "
                     f"{p:.3g}; Holm over {m} pair(s) makes it {min(1, m * p):.3g}"
                     f" > α = {ALPHA}, so no pair of such a family (e.g. {r['family']}) can be significant. "
                     f"It needs at least {st.trials_needed(test, m, ALPHA)} trials per group.")
    return notes


def best_per_operator(df: pd.DataFrame) -> pd.DataFrame:
    """Per pruned operator, the schedule with the highest median hypervolume (ties: lower median test L1)."""
    pruned = df[df["operator"] != BASELINE]
    if pruned.empty or pruned["hypervolume"].isna().all():
        return pd.DataFrame()
    med = (pruned.groupby(["operator", "schedule", "group"], observed=True)
           .agg(n=("run_id", "size"), hypervolume=("hypervolume", "median"), test_l1=("test_l1", "median"),
                fraction_kept=("fraction_kept", "median")).reset_index())
    med = med.sort_values(["hypervolume", "test_l1"], ascending=[False, True])
    best = med.drop_duplicates("operator").set_index("operator")
    return best.loc[ordered(best.index)].reset_index()


def best_runs(df: pd.DataFrame) -> dict[str, str]:
    """Per operator, the run id with the highest hypervolume in its best group (ties: lowest trial)."""
    best = best_per_operator(df)
    out = {}
    for row in best.itertuples():
        runs = df[df["group"] == row.group].sort_values(["hypervolume", "trial"], ascending=[False, True])
        out[row.operator] = str(runs["run_id"].iloc[0])
    base = df[df["operator"] == BASELINE].sort_values("trial")
    if len(base):
        out = {BASELINE: str(base["run_id"].iloc[0]), **out}
    return out


def analyse(df: pd.DataFrame) -> dict:
    """Everything the report says about one setting's runs."""
    metrics, constant = informative_metrics(df)
    results = compare(df, metrics)
    return {"metrics": metrics, "constant": constant, "results": results, "power": power_notes(results),
            "partial": partial_notes(results),
            "best": best_per_operator(df), "best_runs": best_runs(df),
            "blocked": bool(results) and all(r["blocked"] for r in results)}
