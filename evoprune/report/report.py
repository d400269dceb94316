"""The report of a finished (or partly finished) study: ``OUT/report/``.

:func:`report` reads the finished runs (:func:`~evoprune.study.load_results`),
compares what the study asks (:mod:`evoprune.report.analyse`) and writes
``report.md``, CSV and LaTeX tables (:mod:`evoprune.report.tables`) and PNG
figures per setting (:mod:`evoprune.report.figures`, :mod:`evoprune.report.masks`).
:func:`summary_text` is the short table ``evoprune run`` and ``evoprune report`` print.

Examples
--------
>>> from evoprune.report.report import report, summary_text  # doctest: +SKIP
>>> path = report("out/study")                                # doctest: +SKIP
>>> print(summary_text("out/study"))                          # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..runs import SETTINGS
from ..study.store.layout import study_file
from ..study.store.load import load_logs, load_results, model_path, scan
from ..study.store.shards import packs_of
from ..study.studyfile import load_study
from ..util.io import atomic_write_text
from . import figures as fg
from . import tables as tb
from .analyse import ALPHA, analyse, ordered
from .gains import gains_frame, gains_markdown, measured_on
from .masks import masks_figure

__all__ = ["report", "summary_text"]

_FORMATS = frozenset({"md", "csv", "tex"})

_DESIGN = (
    "**Tests.** Only what the study asks is compared: the operators within each schedule, the schedules "
    "within each operator, and each pruned group against the unpruned baseline. Trial t of every group uses "
    "the same seed, so where every group of a family has every trial the design is *blocked*: Friedman's test "
    "(F) across the family, Wilcoxon signed-rank tests between pairs and average ranks within trials. Otherwise "
    "Kruskal–Wallis (KW) and Mann–Whitney U. Pairwise p-values are Holm-corrected within each family "
    f"(α = {ALPHA}); A12 is the probability that a run of the first group has the larger value."
)
_GAINS = (
    "Each operator's best run per setting (the models of the masks figures): the entries its masks keep, the "
    "parameters of its compact model (dead units removed, dense shapes) and the size of that model's "
    "`torch.export` file, and the time to run the rows in batches of 1 and 256 through the compact model (each "
    "Linear layer dense or CSR, whichever was measured faster); in brackets the same at the architecture's "
    "unpruned shapes (the same weights, pruned entries stored as zeros: what an unpruned model of the "
    "architecture costs). The numbers are those of the measurement files beside the models (written when the "
    "models were packed, or by `evoprune measure`), {where}."
)
_TRADEOFF = (
    "**Trade-off.** Each generation records the population's non-dominated (validation L1, fraction kept) "
    "models; a run's *hypervolume* (HV) is the area its front dominates up to (L1 0.5, kept 1.0): higher is "
    "better, 0 for a run that never prunes. Fronts, hypervolume and the best schedule are chosen on validation "
    "data only; test L1 is reported, never used to select."
)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "_"


def _study_size(out: Path) -> int | None:
    """The number of runs of the study in ``out`` (its ``study.toml``); None without a readable one."""
    try:
        return len(load_study(study_file(out), check_models=False).runs())
    except (OSError, ValueError):
        return None


def _settings(df: pd.DataFrame) -> list[str]:
    return ordered(df["setting"].unique(), SETTINGS)


def _figures(setting: str, df: pd.DataFrame, analysis: dict, out: Path, folder: Path) -> list[tuple[str, str]]:
    s = _safe(setting)
    made = []
    fg.heatmap(setting, df, folder / f"heatmap_{s}.png")
    made.append(("operator × schedule heatmaps", f"heatmap_{s}.png"))
    if fg.curves(setting, df, load_logs(out, df["run_id"]), folder / f"curves_{s}.png"):
        made.append(("convergence, one panel per operator", f"curves_{s}.png"))
    fg.boxes(setting, df, folder / f"box_{s}.png")
    made.append(("final values per group", f"box_{s}.png"))
    fg.scatter(setting, df, folder / f"scatter_{s}.png")
    made.append(("test L1 vs kept with attainment fronts", f"scatter_{s}.png"))
    fg.a12_matrix(setting, df, folder / f"a12_{s}.png")
    made.append(("A12 matrix", f"a12_{s}.png"))
    packs = packs_of(out)
    if masks_figure(setting, analysis["best_runs"], lambda run_id: model_path(out, run_id, packs),
                    folder / f"masks_{s}.png"):
        made.append(("what pruning kept (each operator's best run)", f"masks_{s}.png"))
    return made


def _section(setting: str, df: pd.DataFrame, summary: pd.DataFrame, analysis: dict,
             figures: list[tuple[str, str]]) -> list[str]:
    design = ("" if not analysis["results"] else "; design blocked (Friedman / Wilcoxon)" if analysis["blocked"]
              else "; not every family is blocked (the test of each is in pairwise.csv)")
    md = [f"## {setting}", "", f"{len(df)} finished runs in {df['group'].nunique()} groups{design}.", "",
          tb.markdown_groups(summary[summary["setting"] == setting]), ""]
    if not analysis["best"].empty:
        md += ["Best schedule per operator (highest median HV; test L1 and kept beside it):", "",
               tb.markdown_best(analysis["best"]), ""]
    if analysis["results"]:
        md += ["Comparisons (omnibus p, or the smallest Holm p; significant pairs / pairs):", "",
               tb.markdown_comparisons(analysis["results"]), ""]
        sig = tb.significant_pairs(analysis["results"])
        md += ["Significant pairs after Holm: better ≻ worse (Holm p, A12: chance that a run of the better group "
               "beats one of the worse):", "",
               *(sig or ["- none"]), ""]
        metric = "hypervolume" if any(m[0] == "hypervolume" for m in analysis["metrics"]) else "test_l1"
        if ranks := tb.ranks_line(analysis["results"], metric):
            md += [f"Average ranks on {'HV' if metric == 'hypervolume' else 'test L1'} (1 = best):", "", *ranks, ""]
    md += [f"- **Partial study, blocks compared:** {line}" for line in analysis["partial"]]
    md += [f"- {line}" for line in analysis["constant"]]
    md += [f"- **Power:** {line}" for line in analysis["power"]]
    md += [""] if analysis["constant"] or analysis["power"] or analysis["partial"] else []
    md += [f"![{setting}: {caption}]({name})" for caption, name in figures] + [""]
    return md


def report(out: str | os.PathLike, formats: Sequence[str] = ("md", "csv", "tex")) -> Path:
    """Write the report of a study into ``out/report/`` and return the path of ``report.md``.

    ``report.md`` and the PNG figures are always written; ``"csv"`` adds
    ``results.csv`` (one row per run), ``groups.csv``, ``pairwise.csv``
    (every pairwise test) and, where the models were measured, ``gains.csv`` (what pruning buys each operator's
    best model: :func:`~evoprune.report.gains.gains_frame`); ``"tex"`` adds ``tables.tex`` (booktabs group
    summaries).  Per setting the figures are ``heatmap_<s>.png``,
    ``curves_<s>.png``, ``box_<s>.png``, ``scatter_<s>.png``, ``a12_<s>.png``
    and, for studies that saved models, ``masks_<s>.png``.  Files are written
    atomically and are readable by everyone the umask allows.
    """
    formats = tuple(formats)
    if unknown := set(formats) - _FORMATS:
        raise ValueError(f"unknown report formats {sorted(unknown)}; choose from {sorted(_FORMATS)}")
    df, unfinished = scan(out)
    out = Path(out)
    folder = out / "report"
    folder.mkdir(parents=True, exist_ok=True)
    md = [f"# Study report: {out.resolve().name}", ""]
    if df.empty:
        md += ["No finished runs.", ""]
    else:
        md += [_DESIGN, "", _TRADEOFF, ""]
    if unfinished:
        md += [f"Unfinished runs (skipped): {len(unfinished)}.", ""]
    total = _study_size(out)
    if total and 0 < len(df) < total:
        md += [f"**Partial study:** {len(df)} of its {total} runs finished; each family's blocked tests use "
               "the trials finished in every group it compares (named below where others are left out).", ""]
    summary = tb.group_summary(df) if len(df) else pd.DataFrame()
    pairwise, tex = [], []
    for setting in _settings(df):
        sdf = df[df["setting"] == setting]
        analysis = analyse(sdf)
        md += _section(setting, sdf, summary, analysis, _figures(setting, sdf, analysis, out, folder))
        pairwise.append(tb.pairwise_frame(setting, analysis["results"]))
        tex.append(tb.latex_groups(summary, setting))
    gains = gains_frame(out, df)
    if not gains.empty:
        md += ["## What pruning buys", "", _GAINS.format(where=measured_on(gains)), "", gains_markdown(gains), ""]
    if "csv" in formats:
        atomic_write_text(folder / "results.csv", df.to_csv(index=False))
        if not gains.empty:
            atomic_write_text(folder / "gains.csv", gains.to_csv(index=False))
        atomic_write_text(folder / "groups.csv", summary.to_csv(index=False))
        pw = pd.concat(pairwise, ignore_index=True) if pairwise else pd.DataFrame()
        atomic_write_text(folder / "pairwise.csv", pw.to_csv(index=False))
    if "tex" in formats:
        atomic_write_text(folder / "tables.tex", "% Group summaries; needs \\usepackage{booktabs}\n" + "\n".join(tex))
    path = folder / "report.md"
    atomic_write_text(path, "\n".join(md).rstrip() + "\n")
    return path


def summary_text(out: str | os.PathLike) -> str:
    """A short Markdown table of the finished runs for the terminal: per setting and group, ``n`` and the
    medians of test L1, fraction kept and hypervolume.  Raises FileNotFoundError if ``out/runs`` does not exist.
    """
    df = load_results(out)
    if df.empty:
        return f"No finished runs in {Path(out)}."
    df = pd.concat([df[df["setting"] == s] for s in _settings(df)])
    return tb.summary_table(df)
