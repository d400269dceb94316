"""The one description of an output folder and of a pack: every file name, and where it lies.

An output folder ``OUT`` (``evoprune run STUDY --out OUT``)::

    OUT/study.toml                 the study file as it was run
    OUT/packs.json                 the packs OUT continues from (``--from``)
    OUT/runs/<run_id>/config.json  the run's configuration
    OUT/runs/<run_id>/result.json  its results: present only when the run finished
    OUT/runs/<run_id>/log.jsonl    one JSON object per generation
    OUT/runs/<run_id>/model.safetensors       the reported model (grid runs: also population.safetensors)
    OUT/runs/<run_id>/model.json   what pruning buys it (``evoprune measure OUT``; the report's models only)
    OUT/runs/<run_id>/ckpt-<gen>.safetensors  checkpoints
    OUT/runs/<run_id>/claim.json, claims.log  who runs it (several runners may share OUT)
    OUT/report/                    the report

A pack folder (``evoprune pack OUT PACK``)::

    PACK/study.toml
    PACK/shard-<time>-<hash>/shard.json, runs.parquet, logs.parquet
    PACK/models/<run_id>.safetensors
    PACK/models/<run_id>.json      what pruning buys it (measured when packed, or by ``evoprune measure PACK``)

A measurement lies beside its model file, with the suffix ``.json``
(:func:`evoprune.models.measure.measurement_path`).
"""

from __future__ import annotations

import os
from pathlib import Path

from ...models.files import MODEL_FILE, POPULATION_FILE

__all__ = ["CLAIM_FILE", "CLAIMS_LOG", "CONFIG_FILE", "LOG_FILE", "LOGS_TABLE", "MANIFEST", "MODEL_FILE",
           "MODELS_DIR", "PACKS_FILE", "POPULATION_FILE", "REPORT_DIR", "RESULT_FILE", "RUNS_DIR", "RUNS_TABLE",
           "STUDY_FILE", "finished", "run_dir", "runs_dir", "study_file"]

STUDY_FILE = "study.toml"
PACKS_FILE = "packs.json"
RUNS_DIR = "runs"
CONFIG_FILE = "config.json"
RESULT_FILE = "result.json"
LOG_FILE = "log.jsonl"
CLAIM_FILE = "claim.json"
CLAIMS_LOG = "claims.log"
REPORT_DIR = "report"
MANIFEST = "shard.json"
RUNS_TABLE = "runs.parquet"
LOGS_TABLE = "logs.parquet"
MODELS_DIR = "models"


def runs_dir(out: str | os.PathLike) -> Path:
    """``OUT/runs``."""
    return Path(out) / RUNS_DIR


def run_dir(out: str | os.PathLike, run_id: str) -> Path:
    """``OUT/runs/<run_id>``."""
    return runs_dir(out) / run_id


def study_file(out: str | os.PathLike) -> Path:
    """``OUT/study.toml`` (also ``PACK/study.toml``)."""
    return Path(out) / STUDY_FILE


def finished(folder: str | os.PathLike) -> bool:
    """Whether the run folder holds its results (the run finished)."""
    return (Path(folder) / RESULT_FILE).is_file()
