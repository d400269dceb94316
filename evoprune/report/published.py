"""The published conditions measured: the published figures beside evoprune's runs under those conditions, and
the ablation that switches one condition group at a time (``studies/published.toml``, ``studies/ablation.toml``).

Both read packs (:func:`~evoprune.study.load_results`) whose runs record the published figures' numbers
(``report_metric = "published"``: ``published_train_l1``, ``published_kept``).  The figures themselves are the
caller's (they are typed on the page, with their sources); nothing here is typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from .reproduction import CLAIMS, claim_test

__all__ = ["ABLATION_METRICS", "Figure", "ablation_rows", "deciding_conditions", "figure_rows"]

#: The metrics an ablation's claims are tested on, ``(column, label, higher is better)``; the published figures'
#: training L1 (the paper's claims are about it) and the trade-off hypervolume (the reproduction page's).
ABLATION_METRICS = (
    ("published_train_l1", "training L1 as published (lower is better)", False),
    ("hypervolume", "trade-off hypervolume (higher is better)", True),
)


@dataclass(frozen=True)
class Figure:
    """One published figure: the group it is of, its training L1 and fraction kept (``None``: not given), and
    where it was read off."""

    setting: str
    group: str
    label: str
    train_l1: float
    kept: float | None
    source: str


def _within(value: float, q1: float, q3: float, median: float, tolerance: float) -> bool:
    return q1 <= value <= q3 or abs(value - median) <= tolerance


def figure_rows(df: pd.DataFrame, figures: list[Figure], l1_tolerance: float = 0.01,
                kept_tolerance: float = 0.05) -> list[dict[str, Any]]:
    """Each published figure beside the runs of its group: their median and inter-quartile range of the
    published numbers, and whether the figure is reproduced (inside that range, or within the tolerance of the
    median)."""
    rows = []
    for f in figures:
        g = df[(df["setting"] == f.setting) & (df["group"] == f.group)]
        row: dict[str, Any] = {"figure": f, "n": len(g)}
        for col, published, tol in (("published_train_l1", f.train_l1, l1_tolerance),
                                    ("published_kept", f.kept, kept_tolerance)):
            if g.empty or col not in g:
                continue
            q1, med, q3 = (float(g[col].quantile(q)) for q in (0.25, 0.5, 0.75))
            row[col] = {"median": med, "q1": q1, "q3": q3, "tolerance": tol,
                        "reproduced": None if published is None else _within(published, q1, q3, med, tol)}
        rows.append(row)
    return rows


def _groups_of(df: pd.DataFrame, setting: str, variant: str, baseline: str) -> dict[str, str] | None:
    """Per operator of the claims (random, variance, conjunctive), its group in ``variant``, else in the variant's
    baseline (a variant that switches one operator's definition runs that operator only)."""
    sub = df[df["setting"] == setting]
    out = {}
    for op in ("random", "variance", "conjunctive"):
        for v in (variant, baseline):
            hits = sub[(sub["group"].str.endswith(f"@{v}")) & (sub["operator"].str.split("_").str[0] == op)]
            if len(hits):
                out[op] = str(hits["group"].iloc[0])
                break
        else:
            return None
    return out


def ablation_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Per setting, variant and metric of :data:`ABLATION_METRICS`: the setting's claim tested (as on the
    reproduction page: each guided operator against RANDOM, Wilcoxon signed-rank, Holm, A12), with the variant's
    groups; where every run of those groups scores the same (a hypervolume of 0: no model under the reference
    point), the verdict says so.  Variants are read off the group labels ``<operator>-<schedule>@<variant>``:
    ``published`` and ``evoprune`` are the baselines, ``<baseline>-<condition>`` switches one condition group to the
    other side."""
    claims = {c["setting"]: c for c in CLAIMS}
    rows = []
    labelled = df[df["group"].str.contains("@", regex=False)]
    for setting, sdf in labelled.groupby("setting", sort=False):
        claim = claims.get(setting)
        if claim is None:
            continue
        variants = list(dict.fromkeys(sdf["group"].str.split("@").str[1]))
        for variant in sorted(variants, key=lambda v: (v.split("-")[0], "-" in v, v)):
            baseline = variant.split("-")[0]
            groups = _groups_of(sdf, setting, variant, baseline)
            if groups is None or (variant != baseline and not any(g.endswith(f"@{variant}") for g in groups.values())):
                continue
            for col, label, higher in ABLATION_METRICS:
                values = sdf[sdf["group"].isin(groups.values())].get(col)
                if values is None or values.isna().any():
                    continue
                test = claim_test(sdf, claim, groups, col, higher)
                if values.nunique() == 1:
                    test.update(kind="no difference", verdict=f"no difference: every run scores {values.iloc[0]:.3g}")
                rows.append({"setting": setting, "variant": variant, "baseline": baseline,
                             "switched": variant.partition("-")[2] or None, "metric": col, "label": label,
                             "groups": groups, **test})
    return rows


def deciding_conditions(rows: list[dict[str, Any]], metric: str = "published_train_l1") -> list[dict[str, Any]]:
    """Per setting and baseline of ``rows`` (from :func:`ablation_rows`) on ``metric``: the baseline's verdict,
    the switched conditions whose verdict is of another kind (supported, contradicted, not significant, no
    difference), those that leave it, and those with too few trials to decide (``undecided``)."""
    rows = [r for r in rows if r["metric"] == metric]
    out = []
    for r in rows:
        if r["switched"] is not None:
            continue
        others = [o for o in rows if o["setting"] == r["setting"] and o["baseline"] == r["baseline"]
                  and o["switched"] is not None]
        few = [o for o in others if o["kind"] == "undecided"]
        decided = [o for o in others if o["kind"] != "undecided"]
        out.append({"setting": r["setting"], "baseline": r["baseline"], "verdict": r["verdict"],
                    "changed": [(o["switched"], o["verdict"]) for o in decided
                                if o["kind"] != r["kind"]],
                    "same": [o["switched"] for o in decided if o["kind"] == r["kind"]],
                    "undecided": [(o["switched"], o["n"]) for o in few]})
    return out
