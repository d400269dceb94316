"""Packing a study: its finished runs as one compact, append-only shard of a pack folder.

:func:`pack` writes the finished runs of a study output folder that the pack folder does not hold
yet as a new shard (see :mod:`evoprune.study.store.shards` for the layout): configurations and results in
``runs.parquet``, the per-generation statistics in ``logs.parquet`` (float32, zstd).  What can be
recomputed is left out: the trade-off front repeated in every log record (the run's final front
stays in its result) and the log's ``test_l1`` / ``kept`` (copies of the setting's own keys).
Checkpoints, claims and models are not packed; ``models="best"`` copies the model of each group's
best run (highest hypervolume, then lowest trial, as the report picks) into ``DIR/models/``, and
``models="report"`` only those of each operator's best run per setting (what the report's masks figure draws).
Each packed model is then measured (:func:`~evoprune.models.measure.measure_model`: parameters and file size
after compaction, inference time beside the unpruned model) into ``DIR/models/<run_id>.json``;
:func:`measure_models` measures the models of a pack (or of a study's report) already there.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...models.measure import measure_folder
from ...report.analyse import best_runs
from ...util.io import atomic_write_bytes, atomic_write_text
from ..jobs import read_json
from ..studyfile import StudyError, load_study
from . import layout
from .load import load_logs, scan
from .shards import (
    FORMAT,
    LOGS_FILE,
    MANIFEST,
    MODELS_DIR,
    RUNS_FILE,
    SHARD_PREFIX,
    check_same_study,
    is_pack,
    packs_of,
    read_pack,
    read_study_text,
    sha256,
)

__all__ = ["measure_models", "pack"]

#: What ``models`` may be: no models, the model of each group's best run, or of each operator's best run
#: in each setting (the models the report's masks figure draws).
MODELS = ("none", "best", "report")
#: Log keys left out of a pack: recomputed on reading (test_l1, kept) or repeated in every record.
DROPPED_LOG_KEYS = ("test_l1", "kept", "tradeoff_front", "tradeoff_front_test")


def _runs_table(rows: list[dict[str, Any]], configs: dict[str, dict], fingerprints: dict[str, str]):
    """The runs table and the names of its JSON-encoded columns (lists and dicts)."""
    import pyarrow as pa

    df = pd.DataFrame(rows)
    df["fingerprint"] = [fingerprints[r] for r in df["run_id"]]
    df["config"] = [configs[r] for r in df["run_id"]]
    json_cols = [c for c in df.columns if df[c].map(lambda v: isinstance(v, list | dict)).any() or c == "config"]
    for c in json_cols:
        df[c] = [json.dumps(v, sort_keys=True) if isinstance(v, list | dict) else None for v in df[c]]
    return pa.Table.from_pandas(df, preserve_index=False), json_cols


def _logs_table(logs: dict[str, list[dict]]):
    """One row per run and generation: integer columns as int32, other numbers float32, text dictionary-encoded;
    lists and :data:`DROPPED_LOG_KEYS` left out."""
    import pyarrow as pa

    records = [rec for recs in logs.values() for rec in recs]
    keys = list(dict.fromkeys(k for rec in records for k in rec if k not in DROPPED_LOG_KEYS))
    columns = {"run_id": pa.array([r for r, recs in logs.items() for _ in recs]).dictionary_encode()}
    for key in keys:
        values = [rec.get(key) for rec in records]
        kinds = {type(v) for v in values if v is not None}
        if kinds <= {int} and kinds and max(abs(v) for v in values if v is not None) < 2**31:
            columns[key] = pa.array(values, type=pa.int32())
        elif kinds <= {int, float, bool} and kinds:
            columns[key] = pa.array(np.array([np.nan if v is None else v for v in values], dtype=np.float32),
                                    mask=np.array([v is None for v in values]), type=pa.float32())
        elif kinds <= {str} and kinds:
            columns[key] = pa.array(values, type=pa.string()).dictionary_encode()
    return pa.table(columns)


def _write_parquet(table, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    floats = [f.name for f in table.schema if pa.types.is_floating(f.type)]
    pq.write_table(table, path, compression="zstd", compression_level=9, use_byte_stream_split=floats or False)


def _best_per_group(df: pd.DataFrame) -> list[str]:
    """Each group's best run: highest hypervolume, then lowest trial (the report's choice)."""
    df = df.sort_values(["hypervolume", "trial"], ascending=[False, True], na_position="last")
    return df.drop_duplicates(["setting", "group"])["run_id"].astype(str).tolist()


def _report_runs(df: pd.DataFrame) -> list[str]:
    """Each operator's best run in each setting, as the report's masks figure picks them."""
    return [run_id for _, runs in df.groupby("setting", observed=True) for run_id in best_runs(runs).values()]


def _pack_models(out: Path, dest: Path, df: pd.DataFrame, packs, models: str) -> list[str]:
    """Copy into ``dest/models`` the models ``models`` names (``best``: each group's best run; ``report``:
    each operator's best run per setting) that it lacks; the run ids copied."""
    copied = []
    for run_id in _best_per_group(df) if models == "best" else _report_runs(df):
        target = dest / MODELS_DIR / f"{run_id}.safetensors"
        if target.is_file():
            continue
        source = layout.run_dir(out, run_id) / layout.MODEL_FILE
        if not source.is_file():
            source = next((m for p in packs if (m := p.model(run_id)) is not None), None)
        if source is None:
            continue
        atomic_write_bytes(target, Path(source).read_bytes())
        copied.append(run_id)
    return copied


def pack(out: str | os.PathLike, dest: str | os.PathLike, models: str = "none",
         measure: bool = True) -> tuple[Path | None, int]:
    """Pack the finished runs of the study in ``out`` that ``dest`` does not hold yet as one new shard.

    ``out`` is a study output folder (its own runs and those of the packs it was continued from) or a
    pack folder.  ``dest`` is created if needed; if it holds another study, nothing is written.
    Returns the new shard's folder (None when ``dest`` already held every finished run) and the
    number of runs packed.  ``models`` (``none``, ``best``: each group's best run, ``report``: each operator's best
    per setting) adds those models to ``dest/models``; ``measure`` measures each one there not measured yet.
    """
    if models not in MODELS:
        raise StudyError(f"models {models!r}: choose from {', '.join(MODELS)}")
    out, dest = Path(out), Path(dest)
    study_text, study = _source_study(out)
    held = _held(dest, study)
    df, _ = scan(out)
    packs = packs_of(out)
    new = df[~df["run_id"].isin(list(held))]
    if new.empty:
        if models != "none" and held:
            _pack_models(out, dest, df, packs, models)
            if measure:
                measure_folder(dest / MODELS_DIR, rows=_test_rows(study))
        return None, 0
    run_ids = new["run_id"].astype(str).tolist()
    rows, configs, fingerprints = _run_records(out, run_ids, packs)
    logs = load_logs(out, run_ids)
    runs_table, json_cols = _runs_table(rows, configs, fingerprints)
    logs_table = _logs_table(logs)
    dest.mkdir(parents=True, exist_ok=True)
    if not layout.study_file(dest).is_file():
        atomic_write_text(layout.study_file(dest), study_text)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    digest = hashlib.sha256("\n".join(sorted(run_ids)).encode()).hexdigest()[:8]
    shard = dest / f"{SHARD_PREFIX}{stamp}-{digest}"
    tmp = Path(tempfile.mkdtemp(dir=dest, prefix=f".{shard.name}.", suffix=".tmp"))
    try:
        _write_parquet(runs_table, tmp / RUNS_FILE)
        _write_parquet(logs_table, tmp / LOGS_FILE)
        manifest = {"format": FORMAT, "study": study.name, "study_fingerprint": study.fingerprint(),
                    "runs": sorted(run_ids), "log_rows": logs_table.num_rows, "json_columns": json_cols,
                    "files": {name: sha256(tmp / name) for name in (RUNS_FILE, LOGS_FILE)}}
        atomic_write_text(tmp / MANIFEST, json.dumps(manifest, indent=1) + "\n")
        os.chmod(tmp, 0o755)
        os.rename(tmp, shard)  # a shard appears whole or not at all
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if models != "none":
        _pack_models(out, dest, df, packs, models)
        if measure:
            measure_folder(dest / MODELS_DIR, rows=_test_rows(study))
    return shard, len(run_ids)


def _source_study(out: Path):
    """The study file's text and the study of a study output folder or a pack folder."""
    if is_pack(out):
        return read_study_text(out)
    if layout.study_file(out).is_file():
        return (layout.study_file(out).read_text(encoding="utf-8"),
                load_study(layout.study_file(out), check_models=False))
    raise StudyError(f"{out} is neither a study output folder (no study.toml) nor a pack folder")


def _held(dest: Path, study) -> dict[str, str]:
    """The fingerprints of the runs the pack folder ``dest`` holds (none for a new folder); refuses a folder
    that holds another study, or something else."""
    if dest.exists() and not dest.is_dir():
        raise StudyError(f"pack folder {dest} exists and is not a folder")
    if layout.study_file(dest).is_file():
        existing = read_pack(dest)  # checks every shard: a corrupt pack is not added to
        check_same_study(existing, study)
        return existing.fingerprints()
    if dest.is_dir() and any(dest.iterdir()):
        raise StudyError(f"{dest} is not empty and holds no pack (no study.toml); pack into a new folder")
    return {}


def _test_rows(study):
    """The study's test rows (what the models are timed on), or None where its data cannot be loaded here."""
    try:
        return study.load_data().test
    except (OSError, ValueError, TypeError):
        return None


def measure_models(folder: str | os.PathLike, repeats: int = 7, force: bool = False) -> list[Path]:
    """Measure the models of a pack (``folder/models``), of a study output folder (the model of each operator's
    best run per setting, as the report picks them, into ``runs/<run_id>/model.json``) or of a plain folder of
    model files, each that has no measurement yet (every one with ``force``); returns the files written.  The
    models are timed on the study's test rows (uniform random rows for a plain folder), ``repeats`` times each.
    """
    folder = Path(folder)
    if is_pack(folder):
        return measure_folder(folder / MODELS_DIR, repeats, force, rows=_test_rows(read_pack(folder).study))
    if layout.study_file(folder).is_file() and layout.runs_dir(folder).is_dir():
        df, _ = scan(folder)
        rows = _test_rows(load_study(layout.study_file(folder), check_models=False))
        written = []
        for run_id in _report_runs(df) if len(df) else []:
            written += measure_folder(layout.run_dir(folder, run_id), repeats, force, names=[layout.MODEL_FILE],
                                      rows=rows)
        return written
    if not folder.is_dir():
        raise StudyError(f"{folder}: no such folder")
    return measure_folder(folder, repeats, force)


def _run_records(out: Path, run_ids: list[str], packs) -> tuple[list[dict], dict[str, dict], dict[str, str]]:
    """Each run's full result (fronts included), its configuration and fingerprint: from its run folder,
    else from the pack that holds it."""
    rows, configs, fingerprints = [], {}, {}
    packed = {}
    for p in packs:
        for row, (run_id, fp, cfg) in zip(p.results(), p.runs[["run_id", "fingerprint", "config"]].itertuples(
                index=False), strict=True):
            packed[run_id] = (row, fp, cfg)
    for run_id in run_ids:
        d = layout.run_dir(out, run_id)
        if layout.finished(d):
            saved = read_json(d / layout.CONFIG_FILE)
            rows.append(read_json(d / layout.RESULT_FILE))
            configs[run_id], fingerprints[run_id] = saved["config"], saved["fingerprint"]
        else:
            row, fingerprints[run_id], configs[run_id] = packed[run_id]
            rows.append(row)
    return rows, configs, fingerprints
