"""Reading packed studies: a folder of append-only shards that :mod:`evoprune.study.store.pack` writes.

A pack folder ``DIR`` holds::

    study.toml                      the study (its fingerprint is in every shard)
    shard-<time>-<hash>/shard.json  the shard's manifest: study fingerprint, run ids, file checksums
    shard-<time>-<hash>/runs.parquet  one row per run: fingerprint, configuration, result columns
    shard-<time>-<hash>/logs.parquet  one row per run and generation: the log's scalar statistics
    models/<run_id>.safetensors     models packed with ``--models best``

A study output folder continued from packs (``evoprune run --from DIR``) names them in
``OUT/packs.json``; their runs count as finished runs of that folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from ...runs import get_setting
from ...util.io import atomic_write_text
from ..studyfile import Study, StudyError, parse_study
from . import layout

__all__ = ["Pack", "is_pack", "read_pack"]

#: Version of the shard layout.
FORMAT = 1
SHARD_PREFIX = "shard-"
MANIFEST = layout.MANIFEST
RUNS_FILE = layout.RUNS_TABLE
LOGS_FILE = layout.LOGS_TABLE
MODELS_DIR = layout.MODELS_DIR
#: The file of a study output folder that names the packs it was continued from.
PACKS_FILE = layout.PACKS_FILE


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def shard_dirs(path: str | os.PathLike) -> list[Path]:
    """The shard folders of a pack folder, oldest first (their names start with the time they were packed)."""
    p = Path(path)
    return sorted(d for d in p.iterdir() if d.is_dir() and d.name.startswith(SHARD_PREFIX)) if p.is_dir() else []


def is_pack(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a pack folder: it holds shards and no ``runs`` folder of its own."""
    return not layout.runs_dir(path).is_dir() and bool(shard_dirs(path))


def _bad(path: Path, what: str) -> StudyError:
    return StudyError(f"{path}: {what}; delete this shard (and pack its runs again) or restore it")


def _read_manifest(shard: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((shard / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise _bad(shard / MANIFEST, f"missing or not valid JSON ({e})") from e
    keys = ("format", "study_fingerprint", "study", "runs", "files", "json_columns")
    if not isinstance(manifest, dict) or any(k not in manifest for k in keys):
        raise _bad(shard / MANIFEST, f"not a shard manifest (needs {', '.join(keys)})")
    if manifest["format"] != FORMAT:
        raise _bad(shard / MANIFEST, f"shard format {manifest['format']!r}, this evoprune reads {FORMAT}")
    for name, digest in manifest["files"].items():
        f = shard / name
        if not f.is_file():
            raise _bad(f, "missing")
        if sha256(f) != digest:
            raise _bad(f, "corrupt or truncated (its checksum differs from the manifest's)")
    return manifest


def _read_arrow(path: Path, n_rows: int | None = None):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as e:
        raise _bad(path, f"not a readable Parquet file ({e})") from e
    if n_rows is not None and table.num_rows != n_rows:
        raise _bad(path, f"{table.num_rows} rows, the manifest says {n_rows}")
    return table


def _read_table(path: Path, n_rows: int | None = None) -> pd.DataFrame:
    import pyarrow as pa

    ints = {t: pd.Int64Dtype() for t in (pa.int8(), pa.int16(), pa.int32(), pa.int64())}
    return _read_arrow(path, n_rows).to_pandas(types_mapper=ints.get)


def _present(value: Any) -> bool:
    return value is not None and value is not pd.NA and value == value


@dataclass
class Pack:
    """A pack folder, checked: every shard's manifest, checksums and study."""

    path: Path
    study: Study
    shards: list[tuple[Path, dict[str, Any]]]

    @cached_property
    def runs(self) -> pd.DataFrame:
        """The packed runs, one row each, with ``run_id``, ``fingerprint``, ``config`` (JSON) and the result's keys."""
        frames = []
        for shard, manifest in self.shards:
            df = _read_table(shard / RUNS_FILE, len(manifest["runs"]))
            if sorted(df["run_id"]) != sorted(manifest["runs"]):
                raise _bad(shard / RUNS_FILE, "its run ids differ from the manifest's")
            for col in manifest["json_columns"]:
                df[col] = [json.loads(v) if isinstance(v, str) else None for v in df[col]]
            frames.append(df)
        if not frames:
            return pd.DataFrame(columns=["run_id", "fingerprint", "config"])
        return pd.concat(frames, ignore_index=True)

    def fingerprints(self) -> dict[str, str]:
        """Each packed run's fingerprint by run id."""
        return dict(zip(self.runs["run_id"], self.runs["fingerprint"], strict=True))

    def results(self, run_ids: set[str] | None = None) -> list[dict[str, Any]]:
        """The runs' results as their ``result.json`` held them (keys without a value left out)."""
        df = self.runs if run_ids is None else self.runs[self.runs["run_id"].isin(run_ids)]
        df = df.drop(columns=["fingerprint", "config"])
        return [{k: v for k, v in row.items() if isinstance(v, list | dict) or _present(v)}
                for row in df.to_dict("records")]

    def logs(self, run_ids) -> dict[str, list[dict]]:
        """The packed log records of ``run_ids`` (those packed here), as in ``log.jsonl``."""
        import pyarrow as pa
        import pyarrow.compute as pc

        wanted = {str(r) for r in run_ids}
        setting = dict(zip(self.runs["run_id"], self.runs["setting"], strict=True))
        out: dict[str, list[dict]] = {}
        for shard, manifest in self.shards:
            if not wanted & set(manifest["runs"]):
                continue
            table = _read_arrow(shard / LOGS_FILE, manifest["log_rows"])
            ids = table.column("run_id").cast(pa.string())
            table = table.filter(pc.is_in(ids, value_set=pa.array(sorted(wanted), type=pa.string())))
            names = [n for n in table.column_names if n != "run_id"]
            columns = [table.column(n).to_pylist() for n in names]
            for run_id, *row in zip(table.column("run_id").to_pylist(), *columns, strict=True):
                out.setdefault(run_id, []).append({k: v for k, v in zip(names, row, strict=True) if v is not None})
        for run_id, records in out.items():
            test_key, kept_key = get_setting(setting[run_id]).record_keys
            for rec in records:
                rec["test_l1"], rec["kept"] = rec.get(test_key), rec.get(kept_key)
        return out

    def model(self, run_id: str) -> Path | None:
        """The packed model of ``run_id``, if it was packed."""
        p = self.path / MODELS_DIR / f"{run_id}.safetensors"
        return p if p.is_file() else None


def read_study_text(path: Path) -> tuple[str, Study]:
    """A pack folder's ``study.toml``: its text and the study."""
    f = layout.study_file(path)
    try:
        text = f.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise StudyError(f"{f}: the pack's study file is missing or unreadable ({e})") from e
    return text, parse_study(text, f, check_models=False)


def read_pack(path: str | os.PathLike) -> Pack:
    """Read and check a pack folder: its study and every shard (a ``StudyError`` names what is at fault)."""
    path = Path(path)
    if not path.is_dir():
        raise StudyError(f"pack folder {path} does not exist (or is not a folder)")
    _, study = read_study_text(path)
    fp = study.fingerprint()
    shards = []
    for shard in shard_dirs(path):
        manifest = _read_manifest(shard)
        if manifest["study_fingerprint"] != fp:
            raise StudyError(f"{shard}: a shard of another study ({manifest['study']!r}, fingerprint "
                             f"{manifest['study_fingerprint']}; {path / 'study.toml'} has {fp}); move it out of {path}")
        shards.append((shard, manifest))
    seen: dict[str, Path] = {}
    for shard, manifest in shards:
        for run_id in manifest["runs"]:
            if run_id in seen:
                raise StudyError(f"{shard}: run {run_id} is also in {seen[run_id]}; shards never repeat a run, "
                                 "so one of them was copied in by hand: delete one")
            seen[run_id] = shard
    return Pack(path, study, shards)


def check_same_study(pack: Pack, study: Study) -> None:
    """Refuse a pack of another study (naming both)."""
    if pack.study.fingerprint() != study.fingerprint():
        diff = sorted(k for k, v in study.identity().items() if pack.study.identity()[k] != v)
        raise StudyError(f"{pack.path} is a pack of another study ({', '.join(diff)} differ from {study.path}); "
                         "a study continues only from its own packs")


def linked_packs(out: str | os.PathLike) -> list[Path]:
    """The pack folders a study output folder was continued from (``OUT/packs.json``)."""
    f = Path(out) / PACKS_FILE
    if not f.is_file():
        return []
    try:
        paths = json.loads(f.read_text(encoding="utf-8"))["from"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise StudyError(f"{f}: not a valid list of packs ({e}); fix it or delete it") from e
    return [Path(p) for p in paths]


def link_packs(out: str | os.PathLike, packs: list[Path]) -> None:
    """Add ``packs`` to those ``OUT/packs.json`` names (absolute paths)."""
    old = linked_packs(out)
    new = old + [p for p in (Path(os.path.abspath(q)) for q in packs) if p not in old]
    if new != old:
        atomic_write_text(Path(out) / PACKS_FILE, json.dumps({"from": [str(p) for p in new]}, indent=1) + "\n")


def packs_of(out: str | os.PathLike) -> list[Pack]:
    """The packs of a pack folder (itself) or of a study output folder (those it was continued from)."""
    if is_pack(out):
        return [read_pack(out)]
    packs = []
    for p in linked_packs(out):
        if not p.is_dir():
            raise StudyError(f"{Path(out) / PACKS_FILE}: the pack folder {p} it was continued from is gone; "
                             "restore it there or edit that file")
        packs.append(read_pack(p))
    return packs
