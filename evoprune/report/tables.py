"""Tables of a study's results: group summaries (pandas groupby), comparisons, Markdown, LaTeX and CSV."""

from __future__ import annotations

import os

import pandas as pd

from .analyse import group_order

__all__: list[str] = []  # the report's building blocks; evoprune.report.report is the entry point

#: Columns summarised per group, each with its short label.
SUMMARY = {"test_l1": "test L1", "fraction_kept": "kept", "hypervolume": "HV"}
FLOAT = ".4g"


def _q1(s: pd.Series) -> float:
    return s.quantile(0.25)


def _q3(s: pd.Series) -> float:
    return s.quantile(0.75)


def group_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per setting and group: n, and median, q1 and q3 of each ``SUMMARY`` column (plus median wall time)."""
    cols = [c for c in SUMMARY if df[c].notna().all()]
    agg = {"n": ("run_id", "size")}
    for c in cols:
        agg.update({f"{c}_median": (c, "median"), f"{c}_q1": (c, _q1), f"{c}_q3": (c, _q3)})
    agg["wall_time_median"] = ("wall_time", "median")
    out = df.groupby(["setting", "group", "operator", "schedule"], observed=True, sort=False).agg(**agg)
    out = out.reset_index()
    order = {g: i for i, g in enumerate(group_order(df))}
    return out.sort_values(["setting", "group"], key=lambda s: s.map(order) if s.name == "group" else s,
                           kind="stable").reset_index(drop=True)


def markdown_groups(summary: pd.DataFrame) -> str:
    """Median [q1, q3] per group, one Markdown row per group."""
    table = summary[["operator", "schedule", "n"]].copy()
    for c, label in SUMMARY.items():
        if f"{c}_median" in summary:
            table[f"{label} median [IQR]"] = [f"{m:{FLOAT}} [{a:{FLOAT}}, {b:{FLOAT}}]" for m, a, b in
                                              summary[[f"{c}_median", f"{c}_q1", f"{c}_q3"]].itertuples(index=False)]
    return table.to_markdown(index=False)


def markdown_best(best: pd.DataFrame) -> str:
    """One Markdown row per operator: its best schedule and that group's medians."""
    cols = {"operator": "operator", "schedule": "best schedule", "n": "n", "hypervolume": "HV median",
            "test_l1": "test L1 median", "fraction_kept": "kept median"}
    return best[list(cols)].rename(columns=cols).to_markdown(index=False, floatfmt=FLOAT)


def _cell(r: dict) -> str:
    if r["test"] is not None:
        head = f"{'F' if r['test'] == 'Friedman' else 'KW'} p={r['pvalue']:.2g}"
    else:
        head = f"min p={min(p['pvalue_holm'] for p in r['pairs']):.2g}" if r["pairs"] else "–"
    sig = sum(p["significant"] for p in r["pairs"])
    return f"{head}; {sig}/{len(r['pairs'])} sig."


def markdown_comparisons(results: list[dict]) -> str:
    """One row per family, one cell per metric: the omnibus p (or the smallest Holm p) and significant pairs."""
    rows: dict[str, dict] = {}
    for r in results:
        rows.setdefault(r["family"], {"family": r["family"]})[r["label"]] = _cell(r)
    return pd.DataFrame(list(rows.values())).to_markdown(index=False)


def _shorten(names: list[str]) -> dict[str, str]:
    """Group names without the part all of them share (e.g. "-exponential" among the operators of a schedule)."""
    if len(names) < 2:
        return {n: n for n in names}
    pre = os.path.commonprefix(names)
    pre = pre[: pre.rfind("-") + 1]
    suf = os.path.commonprefix([n[::-1] for n in names])[::-1]
    suf = suf[suf.find("-"):] if "-" in suf else ""
    return {n: n[len(pre): len(n) - len(suf)] or n for n in names}


def significant_pairs(results: list[dict]) -> list[str]:
    """One line per family and metric with significant pairs (after Holm): better ≻ worse (Holm p, A12)."""
    lines = []
    for r in results:
        sig = [p for p in r["pairs"] if p["significant"]]
        if not sig:
            continue
        short = _shorten(list(r["ranks"]))
        parts = []
        for p in sig:
            a_better = (p["a12"] > 0.5) == r["higher_is_better"]
            better, worse = (p["a"], p["b"]) if a_better else (p["b"], p["a"])
            beats = p["a12"] if better == p["a"] else 1 - p["a12"]  # A12 of better vs worse, larger values
            beats = beats if r["higher_is_better"] else 1 - beats  # ... turned into "better values"
            parts.append(f"{short[better]} ≻ {short[worse]} ({p['pvalue_holm']:.2g}, {beats:.2f})")
        lines.append(f"- {r['label']}, {r['family']}: " + "; ".join(parts))
    return lines


def ranks_line(results: list[dict], metric: str) -> list[str]:
    """Average ranks (1 = best) of the operator families on ``metric``."""
    out = []
    for r in results:
        if r["metric"] == metric and r["family"].startswith("operators"):
            ranks = sorted(r["ranks"].items(), key=lambda kv: kv[1])
            out.append(f"- {r['family']}: " + ", ".join(f"{g} {v:.2f}" for g, v in ranks))
    return out


def pairwise_frame(setting: str, results: list[dict]) -> pd.DataFrame:
    """Every pairwise test of a setting, one row each (for pairwise.csv)."""
    rows = [{"setting": setting, "family": r["family"], "metric": r["metric"], "test": r["pair_test"],
             "blocked": r["blocked"], "n": r["n"],
             "trials": " ".join(map(str, r["trials"])) if r.get("trials") else "", **p}
            for r in results for p in r["pairs"]]
    return pd.DataFrame(rows)


def latex_groups(summary: pd.DataFrame, setting: str) -> str:
    """A booktabs table of one setting's group summaries (``Styler.to_latex``)."""
    cols = ["group", "n", *(f"{c}_{q}" for c in SUMMARY for q in ("median", "q1", "q3") if f"{c}_median" in summary)]
    table = summary.loc[summary["setting"] == setting, cols].rename(columns=lambda c: c.replace("_", " "))
    styler = table.style.hide(axis="index").format(precision=3).format_index(escape="latex", axis=1)
    styler = styler.format(escape="latex", subset=["group"], precision=3)
    caption = f"{setting}: final test L1, fraction kept and hypervolume (median and quartiles over trials)."
    return styler.to_latex(hrules=True, caption=caption.replace("_", r"\_"), position="ht",
                           label=f"tab:groups-{setting}")


def summary_table(df: pd.DataFrame) -> str:
    """The terminal summary: per setting and group, n and the medians of test L1, kept and hypervolume."""
    summary = group_summary(df)
    cols = {"setting": "setting", "group": "group", "n": "n", "test_l1_median": "median test L1",
            "fraction_kept_median": "median fraction kept", "hypervolume_median": "median hypervolume"}
    return summary[[c for c in cols if c in summary]].rename(columns=cols).to_markdown(index=False, floatfmt=".4f")
