"""Sphinx extension: the reproduction page's section on the field's baseline and the sparsest model at the floor.

At ``builder-inited`` it reads the packs of ``studies/paper.toml`` (``reproduction_pack``), ``studies/baseline.toml``
(``baseline_pack``) and ``studies/sparsest.toml`` (``sparsest_pack``), puts them side by side with
:mod:`evoprune.report.floor` and writes ``docs/_generated/floor.inc``.  Nothing is rerun; a missing pack is said.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from reproduction_page import ROOT, _span, _table, fmt, fmt_a12, fmt_p, gains_table, write_if_changed

INCLUDE = "floor.inc"
TITLE = "The field's baseline and the sparsest model at the floor"
#: The target of issue 26: the final model's test L1 and fraction of entries kept.
TARGET_L1, TARGET_KEPT = 0.052, 0.08
#: Rows of the ranking table.
TOP = 8


def _iqr(r, col: str) -> str:
    return f"{fmt(r[col])} [{fmt(r[f'{col}_q1'])}, {fmt(r[f'{col}_q3'])}]"


def _summary(frame: pd.DataFrame) -> list[str]:
    from evoprune.report.floor import floor_summary

    hits = (frame.assign(hit=(frame["test_l1"] <= TARGET_L1) & (frame["fraction_kept"] <= TARGET_KEPT))
            .groupby("entry")["hit"].sum())
    rows = [[r["entry"], str(r["n"]), str(r["at_floor"]), _iqr(r, "kept_at_floor"), _iqr(r, "test_l1"),
             fmt(r["fraction_kept"]), str(int(hits[r["entry"]])), fmt(r["wall_time"])]
            for _, r in floor_summary(frame).iterrows()]
    return _table(["entry", "n", "runs at the floor", "fraction kept at the floor: median [IQR]",
                   "final test L1: median [IQR]", "final fraction kept (median)",
                   f"final model at test L1 ≤ {TARGET_L1} and kept ≤ {TARGET_KEPT}", "wall time per run, s (median)"],
                  rows, [26, 4, 7, 17, 17, 9, 9, 9])


def _closest(frame: pd.DataFrame) -> list[str]:
    """Per study, its sparsest final model at test L1 <= TARGET_L1."""
    items = []
    for study, runs in frame.groupby("study", sort=False):
        ok = runs[runs["test_l1"] <= TARGET_L1].sort_values(["fraction_kept", "test_l1"])
        items.append(f"* ``{study}``: " + (f"``{ok['run_id'].iloc[0]}`` keeps {fmt(ok['fraction_kept'].iloc[0])} at "
                                          f"test L1 {fmt(ok['test_l1'].iloc[0])} ({len(ok)} of {len(runs)} runs "
                                          f"end at test L1 ≤ {TARGET_L1})" if len(ok) else
                                          f"no run ends at test L1 ≤ {TARGET_L1}"))
    return [f"The sparsest final model at test L1 ≤ {TARGET_L1} among each study's entries above (the target is "
            f"≤ {TARGET_KEPT} kept):", "", *items, ""]


def _ranking(frame: pd.DataFrame) -> list[str]:
    from evoprune.report.floor import floor_ranking

    r = floor_ranking(frame)
    if not r.get("best"):
        return ["No pruned entries to rank.", ""]
    t = r["table"]
    rows = [[str(i + 1), t["group"].iloc[i], str(t["n"].iloc[i]),
             f"{fmt(t['median'].iloc[i])} [{fmt(t['q1'].iloc[i])}, {fmt(t['q3'].iloc[i])}]",
             "–" if i == 0 else fmt_a12(t["a12"].iloc[i]), "–" if i == 0 else fmt_p(t["p_holm"].iloc[i])]
            for i in range(min(TOP, len(t)))]
    omnibus = f"{r['test']} p = {fmt_p(r['pvalue'])}" if r["test"] else "no omnibus test"
    return ["**Ranked by the fraction kept at the floor** (lower is better):", "",
            *_table(["rank", "entry", "n", "median [IQR]", "A12 (best beats it)", "p (Holm)"], rows,
                    [6, 34, 5, 25, 15, 15]),
            f"{omnibus} across the {r['groups']} pruned entries, over {_span(r['trials'])} (n = {r['n']} each; "
            f"blocked where trial t of every entry has the same seed); the best is significantly better than "
            f"{int(t['significant'].sum())} of the other {r['pairs']} ({r['pair_test'] or 'no pairwise test'}, "
            "Holm)." + (f" {len(t) - TOP} more entries not shown." if len(t) > TOP else ""), ""]


def _gains(packs: dict[str, Path], shown: dict[str, str]) -> list[str]:
    from evoprune.report.gains import gains_frame, measured_on
    from evoprune.study import load_results
    from evoprune.study.store.shards import is_pack

    out = []
    for name, folder in packs.items():
        frame = gains_frame(folder, load_results(folder)) if is_pack(folder) else pd.DataFrame()
        if not frame.empty:
            out += [f"The best models of ``{shown[name]}`` after compaction ({measured_on(frame)}):", "",
                    *gains_table(frame)]
    return out


def page(packs: dict[str, Path], shown: dict[str, str]) -> str:
    """The reST of the section from the ``paper``, ``baseline`` and ``sparsest`` packs."""
    from evoprune.report.floor import floor_frame
    from evoprune.study.store.shards import is_pack

    head = [".. This part of the page is generated at build time by docs/_ext/floor_page.py; do not edit.", "",
            TITLE, "-" * len(TITLE), ""]
    missing = [f"``{shown[n]}``" for n, f in packs.items() if not is_pack(f)]
    frame = floor_frame({n: f for n, f in packs.items() if is_pack(f)}, operators="paper")
    if frame.empty:
        return "\n".join([*head, f"No pack yet: {', '.join(missing)}.", ""])
    out = [*head, f"Built from {', '.join(f'``{shown[n]}``' for n, f in packs.items() if is_pack(f))}: "
           f"**{len(frame)} runs**" + (f" ({', '.join(missing)}: no pack yet)" if missing else "") + ". "
           "Each pruned operator of the paper study appears at its schedule with the lowest median fraction kept "
           "at the floor; the gradual baseline (``studies/baseline.toml``: one network, Adam, Zhu and Gupta's "
           "cubic sparsity schedule by global weight magnitude, no evolution) and the recipe "
           "(``studies/sparsest.toml``) with every group. The fraction kept at the floor is that of the "
           "reproduction page (the sparsest model of a run's validation front within 5% of the floor; 1 when "
           "none got there), so the numbers compare across studies. Wall times are per run on one core of "
           "the 2-core machine the studies ran on.", ""]
    out += _summary(frame)
    out += _closest(frame)
    out += _ranking(frame)
    out += _gains({n: f for n, f in packs.items() if n != "paper"}, shown)
    return "\n".join(out).rstrip() + "\n"


def _folder(configured: str) -> Path:
    path = Path(configured)
    return path if path.is_absolute() else ROOT / path


def generate(app) -> None:
    """``builder-inited``: write ``_generated/floor.inc`` from the packs."""
    shown = {"paper": app.config.reproduction_pack, "baseline": app.config.baseline_pack,
             "sparsest": app.config.sparsest_pack}
    text = page({n: _folder(s) for n, s in shown.items()}, shown)
    write_if_changed(Path(app.srcdir) / "_generated" / INCLUDE, text)


def setup(app):
    app.add_config_value("baseline_pack", "results/baseline", "env")
    app.add_config_value("sparsest_pack", "results/sparsest", "env")
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
