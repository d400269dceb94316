"""The sparsest model at the loss floor across studies: the paper's operators, the field's gradual magnitude
baseline and a recipe, side by side.

Each study's runs get ``kept_at_floor`` (:func:`~evoprune.report.reproduction.add_kept_at_floor`).  A study named
as the *operators'* study contributes each pruned operator of each setting at its schedule with the lowest median
fraction kept at the floor; every other study contributes every group.  The entries are then ranked on one metric
as the reproduction page ranks combinations (:func:`~evoprune.report.reproduction.rank_combinations`): blocked
tests (Friedman, Wilcoxon signed-rank, Holm) where trial t of every entry has the same seed, else Kruskal–Wallis
and Mann–Whitney U, with A12 of the best entry against each other one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..study import load_results
from ..study.store.shards import read_pack
from . import reproduction as rp
from .analyse import BASELINE

__all__ = ["FLOOR_COLUMNS", "floor_frame", "floor_summary", "floor_ranking"]

#: (column, label) of the per-entry medians :func:`floor_summary` gives.
FLOOR_COLUMNS = (("kept_at_floor", "fraction kept at the floor"), ("test_l1", "final test L1"),
                 ("fraction_kept", "final fraction kept"), ("wall_time", "wall time per run (s)"))


def _runs(folder: Path) -> pd.DataFrame:
    """A pack's runs with ``kept_at_floor``."""
    df = load_results(folder)
    return rp.add_kept_at_floor(df, rp.fronts(folder, df["run_id"]), rp.loss_floor(read_pack(folder).study))


def _best_schedules(df: pd.DataFrame) -> pd.DataFrame:
    """Per setting and pruned operator, the runs of its group with the lowest median ``kept_at_floor``."""
    pruned = df[df["operator"] != BASELINE]
    med = (pruned.groupby(["setting", "operator", "group"], observed=True)
           .agg(kept=("kept_at_floor", "median"), l1=("test_l1", "median")).reset_index()
           .sort_values(["kept", "l1"]).drop_duplicates(["setting", "operator"]))
    return pruned.merge(med[["setting", "group"]], on=["setting", "group"])

def floor_frame(packs: Mapping[str, str | os.PathLike], operators: str | None = None) -> pd.DataFrame:
    """The runs of every entry, one row per run, with ``study``, ``entry`` (``<study>: <setting> <group>``) and
    ``kept_at_floor``; ``packs`` maps a study's name on the page to its pack folder (missing folders are left out),
    and the study named ``operators`` gives only each operator's best schedule per setting."""
    frames = []
    for name, folder in packs.items():
        folder = Path(folder)
        if not folder.is_dir():
            continue
        df = _runs(folder)
        if name == operators:
            df = _best_schedules(df)
        df = df.assign(study=name, entry=[f"{name}: {s} {g}" for s, g in zip(df["setting"], df["group"],
                                                                             strict=True)])
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def floor_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per entry: ``n`` and the median, first and third quartile of each :data:`FLOOR_COLUMNS` column, sorted by
    the median fraction kept at the floor (then test L1)."""
    rows = []
    for entry, runs in frame.groupby("entry", sort=False):
        row = {"entry": entry, "study": runs["study"].iloc[0], "setting": runs["setting"].iloc[0],
               "group": runs["group"].iloc[0], "operator": runs["operator"].iloc[0], "n": len(runs),
               "at_floor": int((runs["kept_at_floor"] < 1).sum())}
        for col, _ in FLOOR_COLUMNS:
            v = runs[col].dropna().to_numpy(float)
            row[col], row[f"{col}_q1"], row[f"{col}_q3"] = ((np.median(v), *np.quantile(v, [0.25, 0.75]))
                                                          if len(v) else (np.nan,) * 3)
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["kept_at_floor", "test_l1"]).reset_index(drop=True)


def floor_ranking(frame: pd.DataFrame, col: str = "kept_at_floor", higher: bool = False) -> dict:
    """The pruned entries ranked on ``col`` (:func:`~evoprune.report.reproduction.rank_combinations`, the entry as
    the group)."""
    return rp.rank_combinations(frame.assign(group=frame["entry"]), col, higher)
