"""Sphinx extension: the measured part of the reproduction page, computed from the study's pack at build time.

At ``builder-inited`` it reads the pack folder (``reproduction_pack`` in ``conf.py``, default ``results/paper``;
the environment variable ``EVOPRUNE_REPRODUCTION_PACK`` overrides it) with :func:`evoprune.study.load_results`
and :func:`~evoprune.study.store.load.load_logs`, runs :mod:`evoprune.report.reproduction` and the report's figures, and
writes ``docs/_generated/reproduction.inc`` (reST, included by ``reproduction.rst``) and its PNG figures.  No
study is rerun; every evoprune number on the page comes from the pack.  The *published* column holds the
paper's figures (read off its plots), the only numbers typed here.  Without a pack, or without finished runs
of a setting, the page says so.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
ENV = "EVOPRUNE_REPRODUCTION_PACK"
INCLUDE = "reproduction.inc"
#: Rows of each best-combination table (the rest are counted in the line under it).
TOP = 5

#: The paper's figures (Jorgensen et al., GECCO 2025; mean *training* L1 after 400 generations read off its
#: plots, ±0.005, and the median fraction kept), per setting and operator: not measurements of evoprune.
PUBLISHED = {
    "canonical": {"none": "0.268 / 1.00", "random": "≈0.50 / 0.79", "variance": "≈0.50 / 0.43",
                  "conjunctive": "0.271 / 0.75 (exponential)", "magnitude": "not in the paper"},
    "grid": {"none": "0.145 / 1.00", "random": "0.104 / 0.87 (exponential)",
             "variance": "0.157 / not given (population)", "conjunctive": "0.152 / 0.80 (final_n)",
             "magnitude": "not in the paper"},
}
#: The paper's answer to each claim (same source), by claim name.
PUBLISHED_CLAIMS = {
    "guided beats RANDOM": "yes: CONJUNCTIVE-exponential 0.271 against RANDOM ≈0.50 (train L1)",
    "RANDOM beats guided": "yes: RANDOM-exponential 0.104 against CONJUNCTIVE-final_n 0.152 and "
                           "VARIANCE-population 0.157 (train L1)",
}
TITLE = "What the pack holds"
SETTING_TITLES = {"canonical": "Canonical training", "grid": "Spatial coevolution (grid)"}


def fmt(x: Any) -> str:
    """How every measured number is written on the page (four significant digits)."""
    return f"{float(x):.4g}"


def fmt_p(p: Any) -> str:
    """How a p-value is written (two significant digits)."""
    return f"{float(p):.2g}"


def fmt_a12(a: Any) -> str:
    """How an A12 is written."""
    return f"{float(a):.2f}"


def fmt_ratio(x: Any) -> str:
    """How a ratio (a speed-up) is written (two decimals)."""
    return f"{float(x):.2f}"


def fmt_hours(seconds: Any) -> str:
    """Seconds, written as hours (three significant digits)."""
    return f"{float(seconds) / 3600:.3g}"


def _table(header: list[str], rows: list[list[str]], widths: list[int] | None = None, title: str = "") -> list[str]:
    out = [f".. list-table:: {title}".rstrip(), "   :header-rows: 1"]
    if widths:
        out.append(f"   :widths: {' '.join(map(str, widths))}")
    out.append("")
    for row in [header, *rows]:
        for i, cell in enumerate(row):
            lines = str(cell).splitlines() or [""]
            out.append(f"   {'*' if i == 0 else ' '} - {lines[0]}")
            out += [f"       {line}" for line in lines[1:]]
    return [*out, ""]


def _span(trials: list[int] | None) -> str:
    if not trials:
        return "all finished runs (not blocked)"
    if trials == list(range(trials[0], trials[-1] + 1)):
        return f"trials {trials[0]}–{trials[-1]}" if len(trials) > 1 else f"trial {trials[0]}"
    return "trials " + ", ".join(map(str, trials))


def _iqr(table: pd.DataFrame, i: int) -> str:
    r = table.iloc[i]
    return f"{fmt(r['median'])} [{fmt(r['q1'])}, {fmt(r['q3'])}]"


def _design(df: pd.DataFrame, study) -> list[str]:
    planned = pd.DataFrame([{"setting": s.config.setting, "group": s.group} for s in study.runs()])
    rows = []
    for setting, want in planned.groupby("setting", sort=False):
        sub = df[df["setting"] == setting]
        per = sub.groupby("group").size()
        shared = sub.pivot_table(index="trial", columns="group", values="seed", aggfunc="first").dropna() \
            if len(sub) else pd.DataFrame()
        rows.append([setting, f"{len(sub)} of {len(want)}", f"{len(per)} of {want['group'].nunique()}",
                     "–" if per.empty else str(per.min()) if per.min() == per.max() else f"{per.min()}–{per.max()}",
                     "–" if per.empty else str(len(shared))])
    return _table(["setting", "finished runs", "groups with runs", "trials per group",
                   "trials finished in every group with runs"], rows)


def _losses(setting: str, sdf: pd.DataFrame, best: pd.DataFrame, planned: list[str] = ()) -> list[str]:
    published = PUBLISHED.get(setting, {})
    rows = []
    base = sdf[sdf["operator"] == "none"]
    pruned = [] if best.empty else list(best["operator"])
    ops = ["none", *pruned] if len(base) else pruned
    for op in ops:
        g = base if op == "none" else sdf[sdf["group"] == best.set_index("operator").loc[op, "group"]]
        sched = "–" if op == "none" else str(g["schedule"].iloc[0])
        med = g[["test_l1", "fraction_kept", "kept_at_floor", "hypervolume"]].median()
        rows.append([op if op != "none" else "unpruned", published.get(op, "–"), sched, str(len(g)),
                     f"{fmt(med['test_l1'])} / {fmt(med['fraction_kept'])}", fmt(med["kept_at_floor"]),
                     fmt(med["hypervolume"])])
    rows += [[op if op != "none" else "unpruned", published.get(op, "–"), "no finished runs yet", "0", "–", "–", "–"]
             for op in planned if op not in ops]
    return _table(["operator", "published (train L1 / kept)", "evoprune best schedule (by HV)", "n",
                   "evoprune median test L1 / kept", "kept at the loss floor", "HV"], rows, [14, 20, 14, 5, 18, 12, 8])


def _ranking(label: str, higher: bool, r: dict) -> list[str]:
    table = r["table"]
    rows = [[str(i + 1), table["group"].iloc[i], str(table["n"].iloc[i]), _iqr(table, i),
             "–" if i == 0 else fmt_a12(table["a12"].iloc[i]), "–" if i == 0 else fmt_p(table["p_holm"].iloc[i])]
            for i in range(min(TOP, len(table)))]
    out = [f"**By {label}** ({'higher' if higher else 'lower'} is better):", ""]
    out += _table(["rank", "operator-schedule", "n", "median [IQR]", "A12 (best beats it)", "p (Holm)"], rows,
                  [6, 30, 5, 29, 15, 15])
    omnibus = (f"{r['test']} p = {fmt_p(r['pvalue'])} across the {r['groups']} groups"
               if r["test"] else f"{r['groups']} group(s), no omnibus test")
    sig = int(table["significant"].sum())
    out += [f"{omnibus}, over {_span(r['trials'])} (n = {r['n']} per group); the best is significantly "
            f"better than {sig} of the other {r['pairs']} ({r['pair_test'] or 'no pairwise test'}, Holm)."
            + (f" {len(table) - TOP} more groups not shown." if len(table) > TOP else ""), ""]
    return out


def _claims(rows: list[dict]) -> list[str]:
    out = []
    for row in rows:
        claim = row["claim"]
        published = PUBLISHED_CLAIMS.get(claim["name"], "–")
        if "missing" in row:
            out.append([claim["name"], claim["setting"], published, "–", "–", "–", "–", "–",
                        f"not testable yet: {row['missing']}"])
            continue
        med = row["medians"]
        comparison = "\n".join(f"{p['a']} vs {p['b']}" for p in row["pairs"])
        medians = "\n".join(f"{g}: {fmt(med.loc[g, 'test_l1'])} / {fmt(med.loc[g, 'fraction_kept'])} / "
                            f"{fmt(med.loc[g, 'hypervolume'])}" for g in med.index)
        ps = "\n".join(fmt_p(p["p_holm"]) for p in row["pairs"])
        a12 = "\n".join(fmt_a12(p["a12"]) for p in row["pairs"])
        out.append([claim["name"], claim["setting"], published, f"{comparison}\n({_span(row['trials'])})", medians,
                    f"{row['test']} on HV", f"{ps}", f"{a12}", row["verdict"]])
    return _table(["claim", "setting", "published", "comparison (each operator at its best schedule)",
                   "evoprune median test L1 / kept / HV", "test", "p (Holm)", "A12", "verdict"], out,
                  [10, 8, 18, 18, 20, 9, 6, 6, 14])


def _figure(name: str, alt: str, caption: str) -> list[str]:
    return [f".. figure:: /_generated/{name}", f"   :alt: {alt}", "   :width: 100%", "", f"   {caption}", ""]


def _figures(setting: str, sdf: pd.DataFrame, analysis: dict, pack: Path, folder: Path) -> list[str]:
    from evoprune.report import figures as fg
    from evoprune.report.masks import masks_figure
    from evoprune.study.store.load import load_logs, model_path
    from evoprune.study.store.shards import packs_of

    s = re.sub(r"[^A-Za-z0-9_.-]+", "_", setting)
    out: list[str] = []
    best = analysis["best"]
    keep = sdf[(sdf["operator"] == "none") | sdf["group"].isin(list(best["group"]))] if len(best) else sdf
    if fg.curves(setting, keep, load_logs(pack, keep["run_id"]), folder / f"repro_curves_{s}.png"):
        ops = ", ".join(best["group"]) if len(best) else "the unpruned baseline"
        out += _figure(f"repro_curves_{s}.png",
                       f"{setting}: median test L1 and fraction kept per generation with inter-quartile bands, one "
                       f"panel per operator at its best schedule ({ops})",
                       f"{setting}: median and inter-quartile band over trials per generation, each operator at its "
                       "best schedule by hypervolume (the unpruned baseline dotted grey).")
    ranked = analysis["ranked"]
    marks = {col: {(str(t["operator"].iloc[i]), str(t["schedule"].iloc[i])):
                   "★" if i == 0 else ("" if t["significant"].iloc[i] else "○") for i in range(len(t))}
             for col, r in ranked.items() if r.get("best") for t in [r["table"]]}
    trials = next((r["trials"] for r in ranked.values() if r.get("best")), None)
    shown = sdf if not trials else sdf[sdf["trial"].isin(trials)]
    if (shown["operator"] != "none").any():
        panels = [("test_l1", "test L1", "viridis_r"), ("kept_at_floor", "kept at the loss floor", "viridis_r"),
                  ("hypervolume", "hypervolume", "viridis")]
        fg.heatmap(setting, shown, folder / f"repro_heatmap_{s}.png", panels=panels, marks=marks)
        out += _figure(f"repro_heatmap_{s}.png",
                       f"{setting}: operator by schedule heatmaps of median test L1, fraction kept at the loss floor "
                       "and hypervolume, with significance marks",
                       f"{setting}: medians over {_span(trials)}. ★ the best group of the panel; ○ a group not "
                       "significantly worse than it (Holm-corrected pairwise tests); unmarked: significantly worse.")
    packs = packs_of(pack)
    drawn = masks_figure(setting, analysis["best_runs"], lambda run_id: model_path(pack, run_id, packs),
                         folder / f"repro_masks_{s}.png")
    if drawn:
        out += _figure(f"repro_masks_{s}.png",
                       f"{setting}: pruning masks of the best model of each operator ({', '.join(drawn)})",
                       f"{setting}: what pruning kept in the best run of each operator's best group (by hypervolume).")
    else:
        out += [f"No model files in the pack for {setting} (pack with ``--models report``): no mask figure.", ""]
    return out


GAINS_TITLE = "What pruning buys"


def _gains(pack: Path, df: pd.DataFrame, shown: str) -> list[str]:
    """The section on the size and speed of each operator's best model, from the measurements in the pack."""
    from evoprune.report.gains import gains_frame, measured_on

    out = [GAINS_TITLE, "-" * len(GAINS_TITLE), ""]
    frame = gains_frame(pack, df)
    if frame.empty:
        return out + [f"No measured models in ``{shown}``: pack the runs with ``--models report`` (each model is "
                      f"measured as it is packed), or run ``evoprune measure {shown}`` on models packed before.", ""]
    out += ["Each operator's best model per setting (the models of the mask figures), compacted (dead units "
            "removed, dense shapes; each Linear layer stored dense or as a CSR matrix, whichever was measured "
            "faster at the batch size), beside the same model at the architecture's unpruned shapes (the same "
            "weights, pruned entries stored as zeros: what an unpruned model of the architecture costs, computing "
            "on the same values). The numbers are "
            "measured when the models are packed (``evoprune pack --models report`` writes a measurement beside "
            "each model file; ``evoprune measure`` measures models packed before), not when the docs are built, so "
            f"the build stays fast and the numbers stay those of the machine that measured them: "
            f"{measured_on(frame)}. The file is the "
            "compact model's ``torch.export`` program (``evoprune export --compact``); the times run the rows one "
            f"batch after another.", ""]
    return out + gains_table(frame)


def gains_table(frame: pd.DataFrame) -> list[str]:
    """The list-table of a :func:`~evoprune.report.gains.gains_frame`."""
    from evoprune.models.measure import BATCHES

    rows = int(frame["rows"].iloc[0])
    table = [[r.setting, "unpruned" if r.operator == "none" else r.operator, f"``{r.run_id}``",
              f"{r.kept} of {r.params} ({fmt(r.fraction_kept)})", str(r.compact_params),
              f"{fmt(r.file_kB)} / {fmt(r.unpruned_file_kB)}",
              *(f"{fmt(getattr(r, f'ms_{b}'))} / {fmt(getattr(r, f'unpruned_ms_{b}'))} "
                f"({fmt_ratio(getattr(r, f'speedup_{b}'))}×)" for b in BATCHES)] for r in frame.itertuples(index=False)]
    return _table(["setting", "operator", "model", "entries kept", "parameters after compaction",
                   "file kB: compact / unpruned",
                   *(f"ms per {rows} rows at batch {b}: compact / unpruned (speed-up)" for b in BATCHES)],
                  table, [8, 10, 22, 14, 10, 10, 13, 13])


def _backends(df: pd.DataFrame) -> str:
    counts = df["backend"].dropna().value_counts() if "backend" in df else pd.Series(dtype=int)
    told = ", ".join(f"{name} {k}" for name, k in counts.items())
    rest = len(df) - int(counts.sum())
    return f" Runs per training backend: {told}{f', {rest} not recorded' if rest else ''}." if told else ""


def _walltime(times: pd.DataFrame, workers: int, machine: str, backends: str = "") -> list[str]:
    rows = [[t.setting, f"{t.runs} of {t.planned}", fmt_hours(t.seconds), fmt(t.mean),
             fmt_hours(t.projected), fmt_hours(t.projected / workers)] if t.runs else
            [t.setting, f"0 of {t.planned}", "–", "–", "–", "–"] for t in times.itertuples()]
    trials = int(times["trials"].iloc[0]) if len(times) else 0
    out = _table(["setting", "finished runs", "summed wall time (h)", "mean per run (s)",
                  f"projected at {trials} trials, one worker (h)", f"same with {workers} workers (h)"], rows)
    return out + [f"Measured on {machine}, the study run with ``--workers {workers}``. A run's wall time is its "
                  "share of the job it ran in (trials in lockstep share one job), so the sum is one worker's "
                  f"time; the projection scales each group's mean to {trials} trials (a group without runs yet: "
                  f"the setting's mean), then divides by {workers} workers side by side. The machine is shared: "
                  f"timings vary with its load.{backends}", ""]


def page(pack: Path, folder: Path, workers: int = 2, machine: str = "this machine",
         shown: str | None = None) -> str:
    """The reST of the measured part of the page; figures are written into ``folder``.

    Parameters
    ----------
    pack
        The pack folder (or a study output folder).
    folder
        Where the figures go (the page refers to them as ``/_generated/<name>``).
    workers
        The worker processes the study ran with (the pack does not record them).
    machine
        The machine the study ran on, in words.
    shown
        How the page names the pack folder (default: its path).
    """
    from evoprune.report import reproduction as rp
    from evoprune.report.analyse import best_per_operator, best_runs
    from evoprune.study import load_results
    from evoprune.study.store.shards import is_pack, read_pack

    shown = shown or str(pack)
    head = [".. This part of the page is generated at build time by docs/_ext/reproduction_page.py; do not edit.", ""]
    if not is_pack(pack):
        return "\n".join([*head, TITLE, "-" * len(TITLE), "", ".. note::", "",
                          f"   No results yet: ``{shown}`` holds no pack of the study, so this page has no "
                          "measured numbers. Pack the runs with ``evoprune pack OUT " + shown + "`` and rebuild the "
                          "docs.", ""])
    study = read_pack(pack).study
    df = load_results(pack)
    df = rp.add_kept_at_floor(df, rp.fronts(pack, df["run_id"]), rp.loss_floor(study))
    folder.mkdir(parents=True, exist_ok=True)
    out = [*head, TITLE, "-" * len(TITLE), "",
           f"Built from ``{shown}``: **{len(df)} finished runs** of the study's {len(study.runs())} "
           f"({study.trials} trials per group planned). Each comparison uses the trials finished in every "
           "group it compares; the tables say which.", ""]
    out += _design(df, study)
    floor = rp.loss_floor(study)
    if floor is not None:
        out += [f"The loss floor is {fmt(floor)} (the data's bit-flip probability: an ideal denoiser's L1); a run's "
                f"fraction kept at the floor is the smallest fraction kept on its validation front within "
                f"{fmt(100 * rp.FLOOR_TOLERANCE)}% of it (1 when it never got there).", ""]
    by_setting = {s: df[df["setting"] == s] for s in df["setting"].unique()}
    settings = list(dict.fromkeys([*study.factors.get("setting", []), *by_setting]))
    figures: list[str] = []
    for setting in settings:
        title = SETTING_TITLES.get(setting, setting)
        out += [title, "-" * len(title), ""]
        sdf = by_setting.get(setting)
        if sdf is None or sdf.empty:
            out += [f"No finished runs of the {setting} setting in the pack yet.", ""]
            continue
        best = best_per_operator(sdf)
        analysis = {"best": best, "best_runs": best_runs(sdf),
                    "ranked": {col: rp.rank_combinations(sdf, col, higher) for col, _, higher in rp.METRICS}}
        out += ["Each operator at its best schedule (highest median hypervolume), beside the paper:", ""]
        out += _losses(setting, sdf, best, list(study.factors.get("operator", [])))
        out += ["Best operator × schedule combinations:", ""]
        for col, label, higher in rp.METRICS:
            r = analysis["ranked"][col]
            out += _ranking(label, higher, r) if r.get("best") else [f"**By {label}:** no pruned runs yet.", ""]
        sub = f"Figures: {setting}"
        figures += [sub, "~" * len(sub), "", *_figures(setting, sdf, analysis, pack, folder)]
    out += ["The paper's claims", "-" * len("The paper's claims"), "",
            "Each claim on the trade-off hypervolume (higher is better: smaller models at comparable loss, the "
            "paper's sense of \"beats\"), each operator at its best schedule; A12 is "
            "the chance that a run of the claimed winner has the higher hypervolume. With so few trials the best "
            "schedules are chosen on the same runs the tests use.", ""]
    out += _claims(rp.claim_rows(by_setting))
    out += _gains(pack, df, shown)
    out += ["Figures", "-" * len("Figures"), "", *figures]
    out += ["Wall time", "-" * len("Wall time"), ""]
    out += _walltime(rp.wall_times(df, study), workers, machine, _backends(df))
    return "\n".join(out).rstrip() + "\n"


def pack_folder(configured: str) -> Path:
    """The pack folder to read: ``$EVOPRUNE_REPRODUCTION_PACK``, else ``configured`` (relative to the repository)."""
    path = Path(os.environ.get(ENV) or configured)
    return path if path.is_absolute() else ROOT / path


def write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` unless the file already holds it (Sphinx then sees no change)."""
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def generate(app) -> None:
    """``builder-inited``: write ``_generated/reproduction.inc`` and its figures from the pack."""
    from sphinx.util import logging

    from evoprune.study.checks import StudyError

    folder = Path(app.srcdir) / "_generated"
    configured = app.config.reproduction_pack
    pack = pack_folder(configured)
    shown = os.environ.get(ENV) or configured
    log: Callable = logging.getLogger(__name__).info
    log(f"reproduction page: reading {pack}")
    try:
        text = page(pack, folder, app.config.reproduction_workers, app.config.reproduction_machine, shown)
    except StudyError as exc:  # a corrupt pack: say it on the page, and fail a -W build
        logging.getLogger(__name__).warning("reproduction page: cannot read the pack %s: %s", pack, exc)
        text = f".. note::\n\n   The pack ``{shown}`` cannot be read: {exc}\n"
    write_if_changed(folder / INCLUDE, text)


def setup(app):
    app.add_config_value("reproduction_pack", "results/paper", "env")
    app.add_config_value("reproduction_workers", 2, "env")
    app.add_config_value("reproduction_machine", "this machine", "env")
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
