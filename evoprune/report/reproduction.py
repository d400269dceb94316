"""The answer to the published study from a (partial) pack: best combinations, the paper's two claims, wall time.

Everything here is computed from a study folder or a pack folder (:func:`~evoprune.study.load_results`):

* :func:`rank_combinations`: per setting and metric, the operator × schedule groups ranked by median over the
  trials finished in every group (the blocked design), with Friedman's test across them and Holm-corrected
  Wilcoxon signed-rank tests and A12 of the best against each other group
  (:func:`evoprune.report.stats.compare_groups`);
* :func:`claim_rows`: the paper's two claims (an activation-guided operator beats RANDOM in canonical training;
  RANDOM beats the guided ones in coevolution), each tested on the trade-off hypervolume of every operator at its
  best schedule, with a verdict at the number of trials there are;
* :func:`wall_times`: the runs' measured wall time per setting and its linear projection to the study's trials.

The *loss floor* is the L1 of an ideal denoiser on the binary-clustering data (it outputs the centroid): the
probability that a bit is flipped, ``flip`` in the study's ``[data]`` table.  A run's *fraction kept at the loss
floor* is the smallest fraction kept among the models of its (validation L1, kept) front within
:data:`FLOOR_TOLERANCE` of the floor; 1.0 when no model of the run got there.
"""

from __future__ import annotations

import inspect
import json
import os
from typing import Any

import numpy as np
import pandas as pd

from ..data import binary_clustering
from ..study.store.layout import RESULT_FILE, run_dir
from ..study.store.shards import packs_of
from ..study.studyfile import Study
from . import stats as st
from .analyse import ALPHA, BASELINE, best_per_operator, blocked_values, group_order

__all__ = ["FLOOR_TOLERANCE", "METRICS", "CLAIMS", "CLAIM_METRIC", "loss_floor", "fronts", "add_kept_at_floor",
           "rank_combinations", "claim_rows", "claim_test", "wall_times"]

#: Relative distance to the loss floor within which a model counts as at the floor.
FLOOR_TOLERANCE = 0.05
#: (column, label, higher is better) of the metrics the best combinations are chosen by.
METRICS = (
    ("test_l1", "final test L1", False),
    ("kept_at_floor", "fraction kept at the loss floor", False),
    ("hypervolume", "trade-off hypervolume", True),
)
#: The paper's two claims, each with its name, its setting, the operators that should win, those that should
#: lose, and whether one winner beating RANDOM suffices ("any") or every pair must go the claimed way ("all").
CLAIMS = (
    {"name": "guided beats RANDOM", "setting": "canonical", "winners": ("variance", "conjunctive"),
     "losers": ("random",), "needs": "any"},
    {"name": "RANDOM beats guided", "setting": "grid", "winners": ("random",),
     "losers": ("variance", "conjunctive"), "needs": "all"},
)
#: The metric the claims are tested on (higher is better).
CLAIM_METRIC = "hypervolume"


def loss_floor(study: Study) -> float | None:
    """The test L1 of an ideal denoiser on the study's data (its bit-flip probability); None for other data."""
    if study.data.get("name") != "binary_clustering":
        return None
    default = inspect.signature(binary_clustering).parameters["flip"].default
    return float(study.data.get("flip", default))


def fronts(out: str | os.PathLike, run_ids) -> dict[str, list]:
    """Each run's (validation L1, fraction kept) front from its ``result.json`` or its pack ([] if none)."""
    got: dict[str, list] = {}
    for r in map(str, run_ids):
        f = run_dir(out, r) / RESULT_FILE
        if f.is_file():
            got[r] = json.loads(f.read_text(encoding="utf-8")).get("front") or []
    rest = {str(r) for r in run_ids} - set(got)
    for pack in packs_of(out) if rest else []:
        for row in pack.results(rest):
            got.setdefault(str(row["run_id"]), row.get("front") or [])
    return {str(r): got.get(str(r), []) for r in run_ids}


def add_kept_at_floor(df: pd.DataFrame, run_fronts: dict[str, list], floor: float | None) -> pd.DataFrame:
    """``df`` with the column ``kept_at_floor`` (see the module docstring; NaN without a floor)."""
    df = df.copy()
    if floor is None:
        df["kept_at_floor"] = np.nan
        return df
    bar = floor * (1 + FLOOR_TOLERANCE)
    df["kept_at_floor"] = [min((float(k) for l1, k in run_fronts.get(str(r), []) if float(l1) <= bar), default=1.0)
                           for r in df["run_id"]]
    return df


def _better_a12(a12: float, higher: bool) -> float:
    """A12 of (a, b), turned into the probability that a run of a has the *better* value."""
    return a12 if higher else 1.0 - a12


def rank_combinations(df: pd.DataFrame, col: str, higher: bool) -> dict[str, Any]:
    """The pruned operator × schedule groups of one setting ranked by their median ``col``.

    The medians, the Friedman test (three groups or more) and the Wilcoxon signed-rank tests of the best group
    against each other one (Holm-corrected) use the trials finished in every group; with fewer than two such
    trials, every run, Kruskal–Wallis and Mann–Whitney U (see :mod:`evoprune.report.analyse`).
    """
    pruned = df[(df["operator"] != BASELINE) & df[col].notna()]
    groups = group_order(pruned)
    if not groups:
        return {"best": None, "groups": 0}
    values, blocked, trials = blocked_values(pruned, groups, col)
    meta = pruned.drop_duplicates("group").set_index("group")
    table = pd.DataFrame({"group": groups, "operator": [meta.loc[g, "operator"] for g in groups],
                          "schedule": [meta.loc[g, "schedule"] for g in groups],
                          "n": [len(values[g]) for g in groups],
                          "median": [float(np.median(values[g])) for g in groups],
                          "q1": [float(np.quantile(values[g], 0.25)) for g in groups],
                          "q3": [float(np.quantile(values[g], 0.75)) for g in groups]})
    res = st.compare_groups(values, blocked, higher_is_better=higher, alpha=ALPHA,
                            pairs=[]) if len(groups) > 1 else {"test": None, "pvalue": None, "ranks": {groups[0]: 1.0},
                                                               "pair_test": None}
    table["rank"] = [res["ranks"][g] for g in groups]
    table = table.sort_values(["median", "rank", "group"], ascending=[not higher, True, True]).reset_index(drop=True)
    best = str(table["group"].iloc[0])
    others = [g for g in table["group"] if g != best]
    pairs = st.compare_groups(values, blocked, higher_is_better=higher, alpha=ALPHA,
                              pairs=[(best, g) for g in others])["pairs"] if others else []
    by = {p["b"]: p for p in pairs}
    table["a12"] = [_better_a12(by[g]["a12"], higher) if g in by else np.nan for g in table["group"]]
    table["p_holm"] = [by[g]["pvalue_holm"] if g in by else np.nan for g in table["group"]]
    table["significant"] = [bool(by[g]["significant"]) if g in by else False for g in table["group"]]
    return {"best": best, "groups": len(groups), "blocked": blocked, "n": min(len(v) for v in values.values()),
            "trials": trials, "test": res["test"], "pvalue": res["pvalue"], "pair_test": res["pair_test"],
            "pairs": len(pairs), "table": table}


def _needed(pairs: int, blocked: bool) -> int:
    """Fewest trials per group with which the best of ``pairs`` Holm-corrected pairwise tests can reach α."""
    return st.trials_needed("wilcoxon" if blocked else "mannwhitney", pairs, ALPHA)


def _verdict(claim: dict, pairs: list[dict], n: int, blocked: bool) -> tuple[str, str]:
    won = [p for p in pairs if p["significant"] and p["better"] == p["claimed"]]
    lost = [p for p in pairs if p["significant"] and p["better"] != p["claimed"]]
    if claim["needs"] == "any":
        ok, against = bool(won), len(lost) == len(pairs)
    else:
        ok, against = len(won) == len(pairs), bool(lost)
    if ok:
        return "supported", f"supported at n = {n}"
    if against:
        return "contradicted", f"contradicted at n = {n} (significant the other way)"
    test = "wilcoxon" if blocked else "mannwhitney"
    if len(pairs) * st.min_pvalue(test, n) > ALPHA:
        return "undecided", (f"undecided: n = {n} trials cannot reach α = {ALPHA} with Holm over {len(pairs)} "
                             f"pair(s); needs n ≥ {_needed(len(pairs), blocked)}")
    return "not significant", f"not significant at n = {n}"


def claim_rows(by_setting: dict[str, pd.DataFrame]) -> list[dict[str, Any]]:
    """One row per claim of :data:`CLAIMS`, tested on :data:`CLAIM_METRIC` (higher is better).

    Each operator is taken at its best schedule (highest median hypervolume, as the report picks it); the pairs
    (winner, loser) are compared with the Wilcoxon signed-rank test over the trials finished in all the groups of
    the claim (Mann–Whitney U with fewer than two), Holm-corrected over the claim's pairs.
    """
    rows = []
    for claim in CLAIMS:
        df = by_setting.get(claim["setting"])
        ops = (*claim["winners"], *claim["losers"])
        best = best_per_operator(df) if df is not None and len(df) else pd.DataFrame()
        groups = {} if best.empty else dict(zip(best["operator"], best["group"], strict=True))
        lacking = [op for op in ops if op not in groups]
        if lacking:
            what = "no finished runs" if df is None or df.empty else f"no finished runs of {', '.join(lacking)}"
            rows.append({"claim": claim, "missing": f"{what} in {claim['setting']}"})
            continue
        rows.append({"claim": claim, "groups": groups, **claim_test(df, claim, groups)})
    return rows


def claim_test(df: pd.DataFrame, claim: dict, groups: dict[str, str], metric: str = CLAIM_METRIC,
               higher: bool = True) -> dict[str, Any]:
    """Test ``claim`` (one of :data:`CLAIMS`) on ``metric`` between the groups ``groups`` names per operator:
    Wilcoxon signed-rank over the trials finished in all of them (Mann–Whitney U with fewer than two),
    Holm-corrected over the claim's pairs; the medians, the pairs' p and A12, and the verdict with its kind
    (supported, contradicted, not significant, undecided)."""
    ops = (*claim["winners"], *claim["losers"])
    names = [groups[op] for op in ops]
    sub = df[df["group"].isin(names)]
    values, blocked, trials = blocked_values(sub, names, metric)
    pairs = [(groups[w], groups[lo]) for w in claim["winners"] for lo in claim["losers"]]
    res = st.compare_groups(values, blocked, higher_is_better=higher, pairs=pairs, alpha=ALPHA)
    out = []
    for p in res["pairs"]:
        claimed_better = p["a12"] > 0.5 if higher else p["a12"] < 0.5
        out.append({"a": p["a"], "b": p["b"], "claimed": p["a"], "better": p["a"] if claimed_better else p["b"],
                    "p_holm": p["pvalue_holm"], "a12": p["a12"] if higher else 1 - p["a12"],
                    "significant": p["significant"]})
    n = min(len(v) for v in values.values())
    kind, verdict = _verdict(claim, out, n, blocked)
    kept = sub if trials is None else sub[sub["trial"].isin(trials)]
    cols = [c for c in dict.fromkeys(["test_l1", "fraction_kept", "hypervolume", metric]) if c in kept]
    return {"medians": kept.groupby("group")[cols].median(), "n": n, "blocked": blocked, "trials": trials,
            "test": res["pair_test"], "pairs": out, "needed": _needed(len(out), blocked),
            "kind": kind, "verdict": verdict}


def wall_times(df: pd.DataFrame, study: Study) -> pd.DataFrame:
    """Per setting: runs finished, their summed wall time, and that sum projected linearly to the study's runs.

    A run's ``wall_time`` is its share of its job (trials in lockstep share one job's time), so the sum is the
    time one worker spends; the projection scales each group's mean to the study's trials, and a group with no
    finished run yet by the setting's mean per run.
    """
    planned = pd.DataFrame([{"setting": s.config.setting, "group": s.group} for s in study.runs()])
    rows = []
    for setting, want in planned.groupby("setting", sort=False):
        sub = df[(df["setting"] == setting) & df["wall_time"].notna()]
        per_group = sub.groupby("group")["wall_time"].mean()
        size = want.groupby("group").size()
        mean = float(sub["wall_time"].mean()) if len(sub) else float("nan")
        projected = float(sum(per_group.get(g, mean) * k for g, k in size.items())) if len(sub) else float("nan")
        rows.append({"setting": setting, "runs": len(sub), "planned": len(want), "groups": int(sub["group"].nunique()),
                     "planned_groups": len(size), "seconds": float(sub["wall_time"].sum()), "mean": mean,
                     "projected": projected, "trials": study.trials})
    return pd.DataFrame(rows)
