"""A study's results as a pandas DataFrame: one row per finished run, columns defined once in :data:`SCHEMA`.

Reads a study's output folder (one folder per run, :mod:`evoprune.study.store.layout`) and the packs it was
continued from, or a pack folder (:mod:`evoprune.study.store.shards`).
"""

from __future__ import annotations

import json
import math
import numbers
import os
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from ...engine.tradeoff import LEVELS, level_key
from . import layout
from .shards import is_pack, linked_packs, packs_of

__all__ = ["SCHEMA", "load_logs", "scan"]

#: Result columns by name, each ``(dtype, meaning)``; ``setting``, ``group``, ``test_l1`` and ``fraction_kept``
#: are required.
SCHEMA: dict[str, tuple[str, str]] = {
    "run_id": ("string", "run folder name"),
    "setting": ("string", "algorithm setting (canonical, grid, ...)"),
    "group": ("string", "operator-schedule group"),
    "operator": ("string", "pruning operator ('none': unpruned baseline)"),
    "schedule": ("string", "pruning schedule ('-' for the baseline)"),
    "trial": ("Int64", "trial index; trial t uses the same seed in every group of a study"),
    "seed": ("Int64", "the run's seed"),
    "test_l1": ("float64", "test L1 of the reported (final) model"),
    "train_l1": ("float64", "training L1 of the reported model"),
    "fraction_kept": ("float64", "fraction of parameters the reported model keeps"),
    "kept_encoder": ("float64", "fraction kept in the encoder"),
    "kept_decoder": ("float64", "fraction kept in the decoder"),
    "hypervolume": ("float64", "hypervolume of the run's (validation L1, kept) front; higher is better"),
    **{level_key(s): ("float64", f"lowest validation L1 with at most {s:g} kept (0.5: never that sparse)")
       for s in LEVELS},
    **{level_key(s, "test_"): ("float64", f"test L1 of the model chosen at kept <= {s:g} by validation L1")
       for s in LEVELS},
    "wall_time": ("float64", "seconds the run took"),
    "inference_time": ("float64", "seconds of one forward pass over the test set"),
    "generations": ("Int64", "generations run"),
}
_REQUIRED = ("setting", "group", "test_l1", "fraction_kept")
_NUMERIC = ("test_l1", "fraction_kept")


def _runs_dir(out: str | os.PathLike) -> Path:
    runs = layout.runs_dir(out)
    if not runs.is_dir():
        raise FileNotFoundError(
            f"no study runs found: {runs} does not exist (is {Path(out)} a study output directory?)")
    return runs


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(float(v))


def _read_result(path: Path) -> dict | None:
    """Parse one result.json; warn (naming the file) and return None if it is corrupt."""
    try:
        row = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        problem = str(exc)
    else:
        if not isinstance(row, dict):
            problem = "not a JSON object"
        elif missing := [k for k in _REQUIRED if k not in row]:
            problem = f"missing keys {missing}"
        elif bad := [k for k in _NUMERIC if not _is_number(row[k])]:
            problem = f"non-finite or non-numeric {bad}"
        else:
            row.setdefault("run_id", path.parent.name)
            row.setdefault("operator", str(row["group"]).split("-", 1)[0])
            row.setdefault("schedule", "-")
            return {k: v for k, v in row.items() if not isinstance(v, dict | list)}
    warnings.warn(f"skipping corrupt result file {path}: {problem}", RuntimeWarning, stacklevel=3)
    return None


def _read_log(path: Path) -> list[dict]:
    """A log.jsonl's records, skipping (with one warning) lines that are not JSON objects."""
    try:
        lines = path.read_text().splitlines() if path.is_file() else []
    except (OSError, UnicodeDecodeError) as exc:
        warnings.warn(f"cannot read log file {path}: {exc}", RuntimeWarning, stacklevel=3)
        return []
    records, bad = [], 0
    for line in filter(str.strip, lines):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            rec = None
        if isinstance(rec, dict):
            records.append(rec)
        else:
            bad += 1
    if bad:
        warnings.warn(f"log file {path}: skipped {bad} malformed line(s)", RuntimeWarning, stacklevel=3)
    return records


def _frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for col, (dtype, _) in SCHEMA.items():
        if col not in df:
            df[col] = pd.Series(pd.NA if dtype != "float64" else float("nan"), index=df.index)
        if dtype == "float64":
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
        elif dtype == "Int64":
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
        else:
            df[col] = df[col].astype("string")
    extra = [c for c in df.columns if c not in SCHEMA]
    df = df[[*SCHEMA, *extra]]
    return df.sort_values(["setting", "group", "trial", "run_id"], kind="stable").reset_index(drop=True)


def scan(out: str | os.PathLike) -> tuple[pd.DataFrame, list[str]]:
    """The finished runs' DataFrame (packed ones too; a run folder wins) and the names of unfinished runs."""
    rows, unfinished = [], []
    if not is_pack(out) and (layout.runs_dir(out).is_dir() or not linked_packs(out)):
        for run_dir in sorted(p for p in _runs_dir(out).iterdir() if p.is_dir()):
            result = run_dir / layout.RESULT_FILE
            if not result.is_file():
                unfinished.append(run_dir.name)
            elif (row := _read_result(result)) is not None:
                rows.append(row)
    have = {r["run_id"] for r in rows}
    for pack in packs_of(out):
        packed = [r for r in pack.results() if r["run_id"] not in have]
        rows += [{k: v for k, v in r.items() if not isinstance(v, dict | list)} for r in packed]
        have |= {r["run_id"] for r in packed}
    return _frame(rows), [u for u in unfinished if u not in have]


def load_results(out: str | os.PathLike) -> pd.DataFrame:
    """The finished runs of a study as a DataFrame, one row per run, sorted by setting, group and trial.

    Columns are those of :data:`~evoprune.study.store.load.SCHEMA` (missing values as NA), then any other
    scalar key of the result files.  A corrupt ``result.json`` is skipped with a ``RuntimeWarning`` naming it.

    Parameters
    ----------
    out
        The study's output folder, or a pack folder.
    """
    return scan(out)[0]


def load_logs(out: str | os.PathLike, run_ids) -> dict[str, list[dict]]:
    """Each run's ``log.jsonl`` records (a packed run's: its scalar statistics), keyed by run id."""
    run_ids = [str(r) for r in run_ids]
    local = set() if is_pack(out) else {r for r in run_ids if (layout.run_dir(out, r) / layout.LOG_FILE).is_file()}
    logs = {r: _read_log(layout.run_dir(out, r) / layout.LOG_FILE) for r in local}
    rest = [r for r in run_ids if r not in local]
    for pack in packs_of(out) if rest else []:
        logs.update(pack.logs(r for r in rest if r not in logs))
    return {r: logs.get(r, []) for r in run_ids}


def model_path(out: str | os.PathLike, run_id: str, packs: list | None = None) -> Path | None:
    """The model file of a run: in its run folder, else in a pack (``--models best``); None if neither."""

    p = layout.run_dir(out, run_id) / layout.MODEL_FILE
    if p.is_file():
        return p
    packs = packs_of(out) if packs is None else packs
    return next((m for pack in packs if (m := pack.model(run_id)) is not None), None)
