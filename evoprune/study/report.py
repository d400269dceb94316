"""Statistical report and figures for a finished (or partly finished) study.

A study output directory ``OUT`` holds one folder per run::

    OUT/runs/<run_id>/result.json   # present only when the run finished
    OUT/runs/<run_id>/log.jsonl     # one JSON object per generation

:func:`report` reads the finished runs and writes ``OUT/report/``: a Markdown
report (group summaries with medians and IQRs, Kruskal-Wallis, pairwise
Mann-Whitney U with Holm correction and Vargha-Delaney A12, best schedule per
operator), CSV tables, a LaTeX table of the group summaries and PNG figures per
setting. :func:`summary_text` gives a short Markdown table for the terminal.

Examples
--------
>>> from evoprune.study.report import report, summary_text  # doctest: +SKIP
>>> path = report("out/study")                                # doctest: +SKIP
>>> print(summary_text("out/study"))                          # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import stats as st
from ..io import atomic_write_text
from ..plots import plt, save_figure
from ..runs import SETTINGS
from ..tradeoff import LEVELS, level_key
from ..tradeoff import pareto_front as pareto_front

__all__ = ["load_results", "report", "summary_text", "pareto_front"]

#: keys a result.json must have (numbers where the statistics need them)
_REQUIRED = ("setting", "group", "test_l1", "fraction_kept")
_NUMERIC = ("test_l1", "fraction_kept")
#: preferred order of settings and operators; others follow alphabetically
_SETTING_ORDER = tuple(SETTINGS)
_OPERATOR_ORDER = ("none", "random", "variance", "conjunctive", "magnitude")
_OPERATOR_COLOURS = {
    "none": "black",
    "random": "tab:blue",
    "variance": "tab:orange",
    "conjunctive": "tab:green",
    "magnitude": "tab:red",
}
_RESULT_COLUMNS = (
    "run_id",
    "setting",
    "group",
    "operator",
    "schedule",
    "trial",
    "seed",
    "test_l1",
    "train_l1",
    "fraction_kept",
    "kept_encoder",
    "kept_decoder",
    "hypervolume",
    *(level_key(s) for s in LEVELS),
    "wall_time",
    "inference_time",
    "generations",
)
#: trade-off metrics compared when every run of a setting has them (higher hypervolume is better)
_TRADEOFF = ("hypervolume", *(level_key(s) for s in LEVELS))
_FORMATS = frozenset({"md", "csv", "tex"})
_PFMT = ".4g"  # format of statistics and p-values in report.md


# --------------------------------------------------------------------------- loading


def _runs_dir(out: str | os.PathLike) -> Path:
    runs = Path(out) / "runs"
    if not runs.is_dir():
        raise FileNotFoundError(
            f"no study runs found: {runs} does not exist (is {Path(out)} a study output directory?)"
        )
    return runs


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(float(v))


def _read_result(path: Path) -> dict | None:
    """Parse one result.json; warn and return None if it is corrupt."""
    try:
        row = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        warnings.warn(f"skipping corrupt result file {path}: {exc}", RuntimeWarning, stacklevel=3)
        return None
    if not isinstance(row, dict):
        warnings.warn(f"skipping corrupt result file {path}: not a JSON object", RuntimeWarning, stacklevel=3)
        return None
    missing = [k for k in _REQUIRED if k not in row]
    if missing:
        warnings.warn(f"skipping corrupt result file {path}: missing keys {missing}", RuntimeWarning, stacklevel=3)
        return None
    bad = [k for k in _NUMERIC if not _is_number(row[k])]
    if bad:
        warnings.warn(
            f"skipping corrupt result file {path}: non-finite or non-numeric {bad}", RuntimeWarning, stacklevel=3
        )
        return None
    row.setdefault("run_id", path.parent.name)
    row["setting"], row["group"] = str(row["setting"]), str(row["group"])
    row.setdefault("operator", row["group"].split("-", 1)[0])
    row.setdefault("schedule", "-")
    row["operator"], row["schedule"] = str(row["operator"]), str(row["schedule"])
    return row


def _read_log(path: Path) -> list[dict]:
    """Read a log.jsonl, skipping (with one warning) lines that are not JSON objects."""
    if not path.is_file():
        return []
    records, bad = [], 0
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        warnings.warn(f"cannot read log file {path}: {exc}", RuntimeWarning, stacklevel=3)
        return []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(rec, dict):
            records.append(rec)
        else:
            bad += 1
    if bad:
        warnings.warn(f"log file {path}: skipped {bad} malformed line(s)", RuntimeWarning, stacklevel=3)
    return records


def _trial_key(v: Any) -> tuple:
    return (0, float(v), "") if _is_number(v) else (1, 0.0, str(v))


def _scan(out: str | os.PathLike) -> tuple[list[dict], dict[str, list[dict]], list[str]]:
    runs = _runs_dir(out)
    rows: list[dict] = []
    logs: dict[str, list[dict]] = {}
    unfinished: list[str] = []
    for run_dir in sorted(p for p in runs.iterdir() if p.is_dir()):
        result = run_dir / "result.json"
        if not result.is_file():
            unfinished.append(run_dir.name)
            continue
        row = _read_result(result)
        if row is None:
            continue
        rows.append(row)
        logs[str(row["run_id"])] = _read_log(run_dir / "log.jsonl")
    rows.sort(key=lambda r: (r["setting"], r["group"], _trial_key(r.get("trial"))))
    return rows, logs, unfinished


def load_results(out: str | os.PathLike) -> tuple[list[dict], dict[str, list[dict]]]:
    """Read the finished runs of a study.

    Parameters
    ----------
    out : path
        The study output directory (it must contain ``runs/``).

    Returns
    -------
    rows : list of dict
        One ``result.json`` object per finished run, sorted by setting, group
        and trial. Runs without ``result.json`` (unfinished) are skipped; a
        corrupt ``result.json`` (not JSON, not an object, missing ``setting``,
        ``group``, ``test_l1`` or ``fraction_kept``, or a non-finite
        ``test_l1`` / ``fraction_kept``) raises a ``RuntimeWarning`` naming the
        file and is skipped.
    logs : dict of str to list of dict
        Each finished run's ``log.jsonl`` records keyed by ``run_id`` (an empty
        list if the run has no log).

    Raises
    ------
    FileNotFoundError
        If ``out/runs`` does not exist.
    """
    rows, logs, _ = _scan(out)
    return rows, logs


# --------------------------------------------------------------------------- grouping helpers


def _ordered(values: Iterable[str], preferred: Sequence[str]) -> list[str]:
    uniq = set(values)
    return [v for v in preferred if v in uniq] + sorted(uniq - set(preferred))


def _group_order(rows: Sequence[Mapping]) -> list[str]:
    """Groups with the unpruned baseline ("none") first, then alphabetical."""
    groups = {r["group"] for r in rows}
    first = sorted(g for g in groups if g == "none" or g.startswith("none-"))
    return first + sorted(groups - set(first))


def _by_group(rows: Sequence[Mapping]) -> dict[str, list[Mapping]]:
    out: dict[str, list[Mapping]] = {g: [] for g in _group_order(rows)}
    for r in rows:
        out[r["group"]].append(r)
    return out


def _median(rows: Sequence[Mapping], key: str) -> float | None:
    vals = [float(r[key]) for r in rows if _is_number(r.get(key))]
    return float(np.median(vals)) if vals else None


def _values(rows: Sequence[Mapping], key: str) -> str:
    vals = sorted({str(r.get(key, "")) for r in rows})
    return ",".join(vals)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "_"


def _tex_escape(text: str) -> str:
    return re.sub(r"([&%$#_{}])", r"\\\1", text)


def _fmt(v: Any, fmt: str = _PFMT) -> str:
    return "" if v is None else format(float(v), fmt)


# --------------------------------------------------------------------------- analysis


def _analyse(rows: Sequence[Mapping]) -> dict[str, Any]:
    """Statistics of one setting: group summaries, tests and best configurations."""
    groups = _by_group(rows)
    ordered = [r for g in groups for r in groups[g]]
    keys = ("test_l1", "fraction_kept", *(k for k in _TRADEOFF if all(_is_number(r.get(k)) for r in rows)))
    cmp = {key: st.compare(ordered, key, by="group") for key in keys}
    summ = {key: {s["group"]: s for s in c["summary"]} for key, c in cmp.items()}
    summary_rows = []
    for g, grows in groups.items():
        l1, kept = summ["test_l1"][g], summ["fraction_kept"][g]
        tradeoff = {}
        for key in keys[2:]:
            tradeoff.update({f"{key}_{q}": summ[key][g][q] for q in ("median", "q1", "q3")})
        summary_rows.append(
            {
                "group": g,
                "operator": _values(grows, "operator"),
                "schedule": _values(grows, "schedule"),
                "n": l1["n"],
                "test_l1_median": l1["median"],
                "test_l1_q1": l1["q1"],
                "test_l1_q3": l1["q3"],
                "test_l1_iqr": l1["iqr"],
                "test_l1_mean": l1["mean"],
                "fraction_kept_median": kept["median"],
                "fraction_kept_q1": kept["q1"],
                "fraction_kept_q3": kept["q3"],
                "fraction_kept_iqr": kept["iqr"],
                **tradeoff,
                "wall_time_median": _median(grows, "wall_time"),
                "inference_time_median": _median(grows, "inference_time"),
                "generations_median": _median(grows, "generations"),
            }
        )
    pruned = [r for r in ordered if r["operator"] != "none"]
    best = []
    if pruned:
        for b in st.best_by(pruned, "test_l1", "operator", "group"):
            grows = groups[b["group"]]
            best.append(
                {
                    "operator": b["operator"],
                    "schedule": _values(grows, "schedule"),
                    "group": b["group"],
                    "n": b["n"],
                    "test_l1_median": b["median"],
                    "fraction_kept_median": _median(grows, "fraction_kept"),
                }
            )
        order = {op: i for i, op in enumerate(_ordered([b["operator"] for b in best], _OPERATOR_ORDER))}
        best.sort(key=lambda b: order[b["operator"]])
    return {"groups": groups, "summary": summary_rows, "compare": cmp, "best": best}


# --------------------------------------------------------------------------- figures


def _colours(n: int) -> list:
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def _legend(ax, n: int) -> None:
    if n == 0:
        return
    if n <= 6:
        ax.legend(fontsize="small")
    else:
        ax.legend(
            fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0), ncol=1 if n <= 24 else 2, frameon=False
        )


def _curve(logs: Sequence[Sequence[Mapping]], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Median and quartiles of ``key`` per generation over runs, aligned by ``gen``."""
    per_gen: dict[float, list[float]] = {}
    for log in logs:
        for i, rec in enumerate(log):
            gen, val = rec.get("gen", i), rec.get(key)
            if _is_number(gen) and _is_number(val):
                per_gen.setdefault(float(gen), []).append(float(val))
    gens = np.array(sorted(per_gen))
    if gens.size == 0:
        empty = np.empty(0)
        return empty, empty, empty, empty
    q = np.array([np.percentile(per_gen[g], [25, 50, 75]) for g in gens])
    return gens, q[:, 1], q[:, 0], q[:, 2]


def _plot_curves(
    setting: str,
    groups: Mapping[str, Sequence[Mapping]],
    logs: Mapping[str, list[dict]],
    key: str,
    label: str,
    path: Path,
) -> bool:
    fig, ax = plt.subplots(figsize=(7, 4.2))
    drawn = 0
    for (g, grows), colour in zip(groups.items(), _colours(len(groups)), strict=True):
        gens, med, q1, q3 = _curve([logs.get(str(r["run_id"]), []) for r in grows], key)
        if gens.size == 0:
            continue
        ax.plot(gens, med, color=colour, lw=1.4, label=f"{g} (n={len(grows)})")
        ax.fill_between(gens, q1, q3, color=colour, alpha=0.18, lw=0)
        drawn += 1
    if not drawn:
        plt.close(fig)
        return False
    ax.set_xlabel("generation")
    ax.set_ylabel(label)
    ax.set_title(f"{setting}: {label} per generation (median, IQR band)")
    ax.grid(alpha=0.3)
    _legend(ax, drawn)
    save_figure(fig, path)
    return True


def _plot_box(setting: str, groups: Mapping[str, Sequence[Mapping]], path: Path) -> None:
    names = list(groups)
    data = [[float(r["test_l1"]) for r in groups[g]] for g in names]
    fig, ax = plt.subplots(figsize=(max(5.0, 0.55 * len(names) + 2.0), 4.5))
    ax.boxplot(data, positions=range(1, len(names) + 1), widths=0.6, showfliers=True)
    colours = [_OPERATOR_COLOURS.get(_values(groups[g], "operator"), "grey") for g in names]
    for i, (vals, colour) in enumerate(zip(data, colours, strict=True), start=1):
        jitter = np.linspace(-0.12, 0.12, len(vals)) if len(vals) > 1 else np.zeros(1)
        ax.scatter(i + jitter, vals, s=10, color=colour, alpha=0.6, zorder=3)
    ax.set_xticks(range(1, len(names) + 1))
    ax.set_xticklabels(
        names,
        rotation=45 if len(names) > 3 else 0,
        ha="right" if len(names) > 3 else "center",
        fontsize="small" if len(names) > 8 else "medium",
    )
    ax.set_ylabel("final test L1")
    ax.set_title(f"{setting}: final test L1 per group")
    ax.grid(alpha=0.3, axis="y")
    save_figure(fig, path)


def _plot_scatter(setting: str, rows: Sequence[Mapping], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    operators = _ordered([r["operator"] for r in rows], _OPERATOR_ORDER)
    extra = iter(_colours(len(operators) + 5)[5:])
    for op in operators:
        pts = [(float(r["fraction_kept"]), float(r["test_l1"])) for r in rows if r["operator"] == op]
        colour = _OPERATOR_COLOURS.get(op) or next(extra)
        ax.scatter(
            [p[0] for p in pts], [p[1] for p in pts], s=22, color=colour, alpha=0.75, label=op, edgecolors="none"
        )
    front = pareto_front([(r["fraction_kept"], r["test_l1"]) for r in rows])
    if front:
        ax.step(
            [p[0] for p in front],
            [p[1] for p in front],
            where="post",
            color="grey",
            ls="--",
            lw=1.2,
            label="Pareto front",
            zorder=1,
        )
    ax.set_xlabel("fraction of parameters kept")
    ax.set_ylabel("final test L1")
    ax.set_title(f"{setting}: test L1 vs fraction kept")
    ax.grid(alpha=0.3)
    _legend(ax, len(operators) + 1)
    save_figure(fig, path)


def _figures(
    setting: str, analysis: Mapping, rows: Sequence[Mapping], logs: Mapping[str, list[dict]], folder: Path
) -> list[tuple[str, str]]:
    """Draw the figures of one setting; return (caption, file name) pairs."""
    s = _safe_name(setting)
    groups = analysis["groups"]
    made = []
    if _plot_curves(setting, groups, logs, "test_l1", "test L1", folder / f"l1_{s}.png"):
        made.append(("test L1 per generation", f"l1_{s}.png"))
    if _plot_curves(setting, groups, logs, "kept", "fraction kept", folder / f"kept_{s}.png"):
        made.append(("fraction kept per generation", f"kept_{s}.png"))
    _plot_box(setting, groups, folder / f"box_l1_{s}.png")
    made.append(("final test L1 per group", f"box_l1_{s}.png"))
    _plot_scatter(setting, rows, folder / f"scatter_{s}.png")
    made.append(("final test L1 vs fraction kept (Pareto front dashed)", f"scatter_{s}.png"))
    return made


# --------------------------------------------------------------------------- markdown


def _md_group_table(summary: Sequence[Mapping]) -> str:
    table = [
        {
            "group": r["group"],
            "operator": r["operator"],
            "schedule": r["schedule"],
            "n": r["n"],
            "test L1 median": r["test_l1_median"],
            "test L1 IQR (q1–q3)": f"{_fmt(r['test_l1_q1'])}–{_fmt(r['test_l1_q3'])}",
            "kept median": r["fraction_kept_median"],
            "kept IQR (q1–q3)": f"{_fmt(r['fraction_kept_q1'])}–{_fmt(r['fraction_kept_q3'])}",
            **{f"{_METRIC_LABELS[k]} median": r[f"{k}_median"] for k in _TRADEOFF if f"{k}_median" in r},
            "wall time median (s)": r["wall_time_median"],
        }
        for r in summary
    ]
    return st.to_markdown(table, floatfmt=_PFMT)


_METRIC_LABELS = {
    "test_l1": "final test L1",
    "fraction_kept": "fraction kept",
    "hypervolume": "trade-off hypervolume",
    **{level_key(s): f"test L1 at kept ≤ {s:g}" for s in LEVELS},
}

_TRADEOFF_NOTE = (
    "Trade-off metrics: every generation records the population's non-dominated (test L1, fraction kept) "
    "points; a run's trade-off is the Pareto front of all of them. *Trade-off hypervolume* is the area that "
    "front dominates up to the reference point (L1 0.5, kept 1.0) — higher is better, an unpruned run scores "
    "0. *Test L1 at kept ≤ s* is the lowest test L1 the run reached with at most s of its parameters "
    "(0.5 if it never got that sparse) — lower is better."
)


def _md_setting(setting: str, rows: Sequence[Mapping], analysis: Mapping, figures: Sequence[tuple[str, str]]) -> str:
    lines = [f"## Setting: {setting}", "", f"{len(rows)} finished runs in {len(analysis['groups'])} groups.", ""]
    lines += ["### Groups", "", _md_group_table(analysis["summary"]), ""]
    singles = [r["group"] for r in analysis["summary"] if r["n"] < 2]
    if singles:
        lines += [f"Groups with a single trial (tests have little power): {', '.join(singles)}.", ""]

    if any(k in analysis["compare"] for k in _TRADEOFF):
        lines += [_TRADEOFF_NOTE, ""]
    lines += ["### Kruskal–Wallis across groups", ""]
    kw_rows = []
    for key, c in analysis["compare"].items():
        kw = c["kruskal"]
        if kw is None:
            kw_rows.append({"metric": _METRIC_LABELS[key], "H": "not enough groups", "p": ""})
        else:
            kw_rows.append({"metric": _METRIC_LABELS[key], "H": _fmt(kw["statistic"]), "p": _fmt(kw["pvalue"])})
    lines += [st.to_markdown(kw_rows, ["metric", "H", "p"]), ""]

    lines += ["### Pairwise Mann–Whitney U (two-sided, Holm-corrected) with Vargha–Delaney A12", ""]
    lines += [
        "A12 is the probability that a run of group a has a larger value than a run of group b "
        "(below 0.5: a tends to be lower).",
        "",
    ]
    for key, c in analysis["compare"].items():
        lines += [f"#### {_METRIC_LABELS[key]}", ""]
        if c["pairwise"] is None:
            lines += ["not enough groups", ""]
            continue
        table = [
            {
                "a": p["a"],
                "b": p["b"],
                "median a": p["median_a"],
                "median b": p["median_b"],
                "U": p["U"],
                "p": p["pvalue"],
                "p (Holm)": p["pvalue_holm"],
                "A12": p["a12"],
                "effect": p["magnitude"],
                "sig.": "*" if p["pvalue_holm"] < 0.05 else "",
            }
            for p in c["pairwise"]
        ]
        lines += [st.to_markdown(table, floatfmt=_PFMT), ""]

    lines += ["### Best schedule per operator (lowest median final test L1; unpruned baseline excluded)", ""]
    if analysis["best"]:
        lines += [
            st.to_markdown(
                [
                    {
                        "operator": b["operator"],
                        "schedule": b["schedule"],
                        "group": b["group"],
                        "n": b["n"],
                        "test L1 median": b["test_l1_median"],
                        "kept median": b["fraction_kept_median"],
                    }
                    for b in analysis["best"]
                ],
                floatfmt=_PFMT,
            ),
            "",
        ]
    else:
        lines += ["no pruned runs", ""]

    lines += ["### Figures", ""]
    for caption, name in figures:
        lines += [f"![{setting}: {caption}]({name})", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- report


def _settings(rows: Sequence[Mapping]) -> dict[str, list[Mapping]]:
    out: dict[str, list[Mapping]] = {s: [] for s in _ordered([r["setting"] for r in rows], _SETTING_ORDER)}
    for r in rows:
        out[r["setting"]].append(r)
    return out


def _result_columns(rows: Sequence[Mapping]) -> list[str]:
    extra: dict[str, None] = {}
    for r in rows:
        for k, v in r.items():
            if k not in _RESULT_COLUMNS and not isinstance(v, dict | list):
                extra.setdefault(k, None)
    return [c for c in _RESULT_COLUMNS if any(c in r for r in rows)] + list(extra)


def report(out: str | os.PathLike, formats: Sequence[str] = ("md", "csv", "tex")) -> Path:
    """Write the statistical report of a study into ``out/report/``.

    Parameters
    ----------
    out : path
        The study output directory (with ``runs/<run_id>/result.json`` and
        ``log.jsonl``); only finished runs are used (see :func:`load_results`).
    formats : sequence of {"md", "csv", "tex"}
        ``report.md`` and the PNG figures are always written; ``"csv"`` adds
        ``results.csv``, ``groups.csv`` and ``pairwise.csv``; ``"tex"`` adds
        ``tables.tex`` (booktabs tables of the group summaries).

    Returns
    -------
    pathlib.Path
        Path of ``report.md``.

    Notes
    -----
    Per setting, figures ``l1_<setting>.png`` and ``kept_<setting>.png``
    (median and IQR band per generation and group, runs aligned by ``gen``),
    ``box_l1_<setting>.png`` (final test L1 per group) and
    ``scatter_<setting>.png`` (final test L1 against fraction kept, colour per
    operator, Pareto front of both minimised as a step line). Statistics and
    p-values in ``report.md`` are formatted with ``.4g``. All files are
    written atomically.
    """
    formats = tuple(formats)
    unknown = set(formats) - _FORMATS
    if unknown:
        raise ValueError(f"unknown report formats {sorted(unknown)}; choose from {sorted(_FORMATS)}")
    rows, logs, unfinished = _scan(out)
    folder = Path(out) / "report"
    folder.mkdir(parents=True, exist_ok=True)
    settings = _settings(rows)

    md = [f"# Study report: {Path(out).resolve().name}", ""]
    if rows:
        md += [
            st.to_markdown(
                [
                    {"setting": s, "finished runs": len(r), "groups": len({x["group"] for x in r})}
                    for s, r in settings.items()
                ]
            ),
            "",
        ]
    else:
        md += ["No finished runs.", ""]
    if unfinished:
        md += [f"Unfinished runs (skipped): {len(unfinished)}.", ""]

    group_rows: list[dict] = []
    pairwise_rows: list[dict] = []
    tex: list[str] = []
    for setting, srows in settings.items():
        analysis = _analyse(srows)
        figures = _figures(setting, analysis, srows, logs, folder)
        md += [_md_setting(setting, srows, analysis, figures), ""]
        group_rows += [{"setting": setting, **r} for r in analysis["summary"]]
        for key, c in analysis["compare"].items():
            for p in c["pairwise"] or []:
                pairwise_rows.append({"setting": setting, "metric": key, **p})
        tex_table = [
            {
                "group": r["group"],
                "n": r["n"],
                "L1 median": r["test_l1_median"],
                "L1 q1": r["test_l1_q1"],
                "L1 q3": r["test_l1_q3"],
                "kept median": r["fraction_kept_median"],
                "kept q1": r["fraction_kept_q1"],
                "kept q3": r["fraction_kept_q3"],
            }
            for r in analysis["summary"]
        ]
        tex += [
            r"\begin{table}[ht]",
            r"\centering",
            st.to_latex(tex_table, floatfmt=".3f"),
            rf"\caption{{{_tex_escape(setting)}: final test L1 and fraction of parameters kept "
            rf"(median and quartiles over trials).}}",
            rf"\label{{tab:groups-{_safe_name(setting)}}}",
            r"\end{table}",
            "",
        ]

    if "csv" in formats:
        atomic_write_text(folder / "results.csv", st.to_csv(rows, _result_columns(rows)))
        group_cols = [
            "setting",
            "group",
            "operator",
            "schedule",
            "n",
            "test_l1_median",
            "test_l1_q1",
            "test_l1_q3",
            "test_l1_iqr",
            "test_l1_mean",
            "fraction_kept_median",
            "fraction_kept_q1",
            "fraction_kept_q3",
            "fraction_kept_iqr",
            *(f"{k}_{q}" for k in _TRADEOFF for q in ("median", "q1", "q3")),
            "wall_time_median",
            "inference_time_median",
            "generations_median",
        ]
        atomic_write_text(folder / "groups.csv", st.to_csv(group_rows, group_cols))
        pair_cols = [
            "setting",
            "metric",
            "a",
            "b",
            "U",
            "pvalue",
            "pvalue_holm",
            "a12",
            "magnitude",
            "median_a",
            "median_b",
        ]
        atomic_write_text(folder / "pairwise.csv", st.to_csv(pairwise_rows, pair_cols))
    if "tex" in formats:
        header = "% Group summaries; needs \\usepackage{booktabs}\n"
        atomic_write_text(folder / "tables.tex", header + "\n".join(tex))
    path = folder / "report.md"
    atomic_write_text(path, "\n".join(md).rstrip() + "\n")
    return path


def summary_text(out: str | os.PathLike) -> str:
    """A short Markdown table of the finished runs for the terminal.

    One row per setting and group: ``n``, median final test L1 and median
    fraction kept. Raises FileNotFoundError if ``out/runs`` does not exist.
    """
    rows, _ = load_results(out)
    if not rows:
        return f"No finished runs in {Path(out)}."
    table = []
    for setting, srows in _settings(rows).items():
        for g, grows in _by_group(srows).items():
            table.append(
                {
                    "setting": setting,
                    "group": g,
                    "n": len(grows),
                    "median test L1": _median(grows, "test_l1"),
                    "median fraction kept": _median(grows, "fraction_kept"),
                    **({"median hypervolume": _median(grows, "hypervolume")}
                       if all(_is_number(r.get("hypervolume")) for r in grows) else {}),
                }
            )
    return st.to_markdown(table, floatfmt=".4f")
