"""Figures of one setting: heatmaps, convergence curves, box plots, trade-off scatter, A12 matrix.

Every figure gives an operator the same colour and a schedule the same marker
(:func:`colour`, :func:`marker`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..engine.tradeoff import pareto_front
from ..pruning import method_names
from ..schedules import SCHEDULES
from .analyse import BASELINE, group_order, ordered
from .plots import plt, save_figure
from .stats import vargha_delaney_a12

__all__ = ["colour", "marker", "heatmap", "curves", "boxes", "scatter", "a12_matrix"]

_PALETTE = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive",
            "tab:cyan"]
_MARKERS = dict(zip(SCHEDULES, "os^DvPXh", strict=False))
_LINESTYLES = ["-", "--", ":", "-."]


def colour(operator: str) -> str:
    """The colour of ``operator`` in every figure: black for the baseline, then by registration order."""
    if operator == BASELINE:
        return "black"
    names = method_names()
    i = names.index(operator) if operator in names else sum(map(ord, operator))
    return _PALETTE[i % len(_PALETTE)]


def marker(schedule: str) -> str:
    """The marker of ``schedule`` in every figure ("*" for the unpruned baseline's "-")."""
    return "*" if schedule == "-" else _MARKERS.get(schedule, "p")


def _linestyle(schedule: str, schedules: list[str]) -> str:
    return _LINESTYLES[schedules.index(schedule) % len(_LINESTYLES)] if schedule in schedules else "-"


def _legend_handles(df: pd.DataFrame) -> list:
    """Operators (colour), then schedules (marker and line); the unpruned baseline as its own star."""
    ops = [o for o in ordered(df["operator"]) if o != BASELINE]
    schedules = sorted(s for s in df["schedule"].unique() if s != "-")
    hs = [plt.Line2D([], [], color=colour(o), marker="s", ls="", label=o) for o in ops]
    if (df["operator"] == BASELINE).any():
        hs.append(plt.Line2D([], [], color=colour(BASELINE), marker=marker("-"), ls=":",
                             label=f"{BASELINE} (unpruned)"))
    return hs + [plt.Line2D([], [], color="grey", marker=marker(s), ls=_linestyle(s, schedules), label=s)
                 for s in schedules]


#: The heatmap's panels by default: (column, title, colour map).
PANELS = (("test_l1", "test L1", "viridis_r"), ("fraction_kept", "fraction kept", "viridis_r"),
          ("hypervolume", "hypervolume", "viridis"))


def heatmap(setting: str, df: pd.DataFrame, path: Path, panels: Sequence[tuple[str, str, str]] = PANELS,
            marks: Mapping[str, Mapping[tuple[str, str], str]] | None = None) -> None:
    """Operator × schedule heatmaps of median test L1, median kept and median hypervolume, values written in."""
    pruned = df[df["operator"] != BASELINE]
    base = df[df["operator"] == BASELINE]
    ops, schedules = ordered(pruned["operator"]), sorted(pruned["schedule"].unique())
    panels = [p for p in panels if df[p[0]].notna().all()]
    marks = marks or {}
    # One row of panels sharing the operator axis; constrained layout keeps the title, the
    # colour bars and the labels apart at any number of operators and schedules.
    row = 0.8 if marks else 0.5  # a mark is a second line in the cell
    fig, axes = plt.subplots(1, len(panels), sharey=True, squeeze=False, layout="constrained",
                             figsize=((0.9 * len(schedules) + 1.2) * len(panels) + 1.2, row * len(ops) + 1.9))
    for ax, (col, title, cmap) in zip(axes[0], panels, strict=True):
        table = pruned.pivot_table(index="operator", columns="schedule", values=col, aggfunc="median")
        table = table.reindex(index=ops, columns=schedules)
        im = ax.imshow(table.to_numpy(dtype=float), cmap=cmap, aspect="auto")
        fig.colorbar(im, ax=ax, shrink=0.9, pad=0.02)
        for (i, j), v in np.ndenumerate(table.to_numpy(dtype=float)):
            if np.isfinite(v):
                r, g, b, _ = im.cmap(im.norm(v))
                mark = marks.get(col, {}).get((ops[i], schedules[j]), "")
                ax.text(j, i, f"{v:.3g}\n{mark}" if mark else f"{v:.3g}", ha="center", va="center", fontsize="x-large",
                        color="black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white")
        ax.set_xticks(range(len(schedules)), schedules, rotation=20 if len(schedules) > 3 else 0)
        ax.set_yticks(range(len(ops)), ops)
        for t in ax.get_yticklabels():
            t.set_color(colour(t.get_text()))
        ref = f"\nunpruned: {base[col].median():.3g}" if len(base) else ""
        ax.set_title(f"median {title}{ref}", fontsize="medium")
        ax.set_xlabel("schedule")
    fig.suptitle(f"{setting}: operator × schedule, median over trials (yellow is better)")
    save_figure(fig, path)


def _band(logs: list[list[dict]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Generations and the 25/50/75th percentiles of ``key`` over runs, aligned by ``gen``."""
    frame = pd.DataFrame([{"gen": r.get("gen", i), "v": r.get(key)} for log in logs for i, r in enumerate(log)])
    if frame.empty:
        return np.empty(0), np.empty((0, 3))
    frame = frame.apply(pd.to_numeric, errors="coerce").dropna()
    q = frame.groupby("gen")["v"].quantile([0.25, 0.5, 0.75]).unstack()
    return q.index.to_numpy(dtype=float), q.to_numpy(dtype=float)


def curves(setting: str, df: pd.DataFrame, logs: Mapping[str, list[dict]], path: Path) -> bool:
    """Median and IQR band per generation of test L1 and fraction kept, per operator and schedule."""
    ops = [o for o in ordered(df["operator"]) if o != BASELINE] or [BASELINE]
    schedules = sorted(s for s in df["schedule"].unique() if s != "-")
    keys = [("test_l1", "test L1"), ("kept", "fraction kept")]
    fig, axes = plt.subplots(len(keys), len(ops), figsize=(3.2 * len(ops) + 1, 5.5), sharex=True, sharey="row",
                             squeeze=False)
    drawn = False
    for j, op in enumerate(ops):
        for i, (key, label) in enumerate(keys):
            ax = axes[i, j]
            for (g, sched), grows in df[df["operator"].isin([op, BASELINE])].groupby(["group", "schedule"]):
                gens, q = _band([logs.get(r, []) for r in grows["run_id"]], key)
                if gens.size == 0:
                    continue
                base = sched == "-"
                c = "grey" if base and op != BASELINE else colour(op)
                ax.plot(gens, q[:, 1], color=c, ls=":" if base else _linestyle(sched, schedules), marker=marker(sched),
                        markevery=max(1, len(gens) // 6), ms=4, lw=1.3, label=f"{g} (n={len(grows)})")
                ax.fill_between(gens, q[:, 0], q[:, 2], color=c, alpha=0.15, lw=0)
                drawn = True
            ax.grid(alpha=0.3)
            if key == "test_l1":
                ax.set_yscale("log")
            if j == 0:
                ax.set_ylabel(label)
            if i == 0:
                ax.set_title(op, color=colour(op))
            if i == len(keys) - 1:
                ax.set_xlabel("generation")
    if not drawn:
        plt.close(fig)
        return False
    axes[0, -1].legend(handles=[*_legend_handles(df[df["operator"] != BASELINE]),
                                plt.Line2D([], [], color="grey", ls=":", marker="*", label="unpruned")],
                       fontsize="x-small", loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    fig.suptitle(f"{setting}: per generation, median and IQR band over trials")
    save_figure(fig, path)
    return True


def boxes(setting: str, df: pd.DataFrame, path: Path) -> None:
    """Box plots per group of test L1, fraction kept and hypervolume, every run drawn as a point."""
    groups = group_order(df)
    cols = [(c, label) for c, label in (("test_l1", "final test L1"), ("fraction_kept", "fraction kept"),
                                        ("hypervolume", "hypervolume")) if df[c].notna().all()]
    fig, axes = plt.subplots(1, len(cols), figsize=(4.2 * len(cols), 0.32 * len(groups) + 2.5), squeeze=False)
    for ax, (col, label) in zip(axes[0], cols, strict=True):
        data = [df.loc[df["group"] == g, col].to_numpy(dtype=float) for g in groups]
        kw = {"positions": range(len(groups)), "widths": 0.6, "showfliers": False, "medianprops": {"color": "k"}}
        try:
            ax.boxplot(data, orientation="horizontal", **kw)
        except TypeError:  # matplotlib < 3.10
            ax.boxplot(data, vert=False, **kw)
        for i, g in enumerate(groups):
            row = df[df["group"] == g].iloc[0]
            jitter = np.linspace(-0.15, 0.15, len(data[i])) if len(data[i]) > 1 else np.zeros(1)
            ax.scatter(data[i], i + jitter, color=colour(row["operator"]), marker=marker(row["schedule"]), s=22,
                       zorder=3, alpha=0.8)
        ax.set_yticks(range(len(groups)), groups if ax is axes[0, 0] else [""] * len(groups), fontsize="small")
        ax.invert_yaxis()
        ax.set_xlabel(label)
        ax.grid(alpha=0.3, axis="x")
    fig.suptitle(f"{setting}: final values per group (box: quartiles; points: runs)")
    save_figure(fig, path)


def scatter(setting: str, df: pd.DataFrame, path: Path) -> None:
    """Final (fraction kept, test L1) of every run; each group's attainment front as a step line."""
    schedules = sorted(s for s in df["schedule"].unique() if s != "-")
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    top = float(df["test_l1"].max())
    for g in group_order(df):
        grows = df[df["group"] == g]
        op, sched = grows["operator"].iloc[0], grows["schedule"].iloc[0]
        ax.scatter(grows["fraction_kept"], grows["test_l1"], color=colour(op), marker=marker(sched), s=30,
                   alpha=0.8, edgecolors="none")
        front = pareto_front(zip(grows["fraction_kept"], grows["test_l1"], strict=True))
        # the attainment front: the border of what the group's runs dominate, from the top down to the right edge
        xs, ys = [front[0][0], *(p[0] for p in front), 1.0], [top, *(p[1] for p in front), front[-1][1]]
        ax.step(xs, ys, where="post", color=colour(op), alpha=0.7, lw=1.1,
                ls=":" if sched == "-" else _linestyle(sched, schedules))
    ax.set_xlabel("fraction of parameters kept")
    ax.set_ylabel("final test L1")
    ax.set_title(f"{setting}: final models and each group's attainment front (lower left is better)")
    ax.grid(alpha=0.3)
    ax.legend(handles=_legend_handles(df), fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0),
              frameon=False)
    save_figure(fig, path)


def a12_matrix(setting: str, df: pd.DataFrame, path: Path) -> None:
    """A12 of row group versus column group, for test L1 and hypervolume (0.5: no effect)."""
    groups = group_order(df)
    cols = [(c, label) for c, label in (("test_l1", "test L1 (low is good)"),
                                        ("hypervolume", "hypervolume (high is good)")) if df[c].notna().all()]
    size = 0.45 * len(groups) + 2.5
    fig, axes = plt.subplots(1, len(cols), figsize=(size * len(cols) + 1, size), squeeze=False)
    for ax, (col, label) in zip(axes[0], cols, strict=True):
        vals = [df.loc[df["group"] == g, col].to_numpy(dtype=float) for g in groups]
        m = np.array([[vargha_delaney_a12(a, b) for b in vals] for a in vals])
        im = ax.imshow(m, cmap="coolwarm", vmin=0, vmax=1)
        for (i, j), v in np.ndenumerate(m):
            if i != j:
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6)
        ax.set_xticks(range(len(groups)), groups, rotation=90, fontsize="x-small")
        ax.set_yticks(range(len(groups)), groups, fontsize="x-small")
        for t in [*ax.get_xticklabels(), *ax.get_yticklabels()]:
            t.set_color(colour(df.loc[df["group"] == t.get_text(), "operator"].iloc[0]))
        ax.set_title(f"A12(row > column): {label}", fontsize="medium")
        fig.colorbar(im, ax=ax, shrink=0.7)
    fig.suptitle(f"{setting}: Vargha–Delaney A12 between groups")
    save_figure(fig, path)
