"""Jobs: the trials of one configuration run in lockstep, each run keeping its own folder.

A job claims each of its runs (:mod:`evoprune.study.claims`), resumes each from its own last good checkpoint,
advances them together through :func:`evoprune.runs.run_trials`, and writes each run's files into its folder,
exactly as a run alone would.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..models.files import save_model, save_population
from ..runs import ensure_creator, get_setting, run_trials, single_thread
from ..util.io import atomic_write_text, logbook_records, write_jsonl
from ..util.plugins import import_plugins
from .checkpoint import CheckpointMismatch, checkpoints, latest_checkpoint, old_checkpoints, save_checkpoint
from .claims import try_claim
from .store import layout
from .studyfile import RunSpec, Study, StudyError

__all__ = ["JobTask", "TRIALS_PER_JOB", "make_jobs"]

#: Trials per job by device kind when neither the study nor the command line says (measured with
#: benchmarks/engine.py).
TRIALS_PER_JOB = {"cpu": 4, "cuda": 30, "mps": 10}

#: Between checkpoints, a run's ``log.jsonl`` is rewritten at most this often (seconds).
LOG_SECONDS = 5.0


def default_trials_per_job(device: str) -> int:
    kind = "cuda" if device.startswith("cuda") else device
    if kind == "auto":
        import torch

        kind = "cuda" if torch.cuda.is_available() else "cpu"
    return TRIALS_PER_JOB.get(kind, TRIALS_PER_JOB["cpu"])


def run_dir(out: str | Path, spec: RunSpec) -> Path:
    return layout.run_dir(out, spec.run_id)


def read_json(path: Path) -> Any:
    """A JSON file of the output folder; a broken one is named in the error."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:  # also UnicodeDecodeError
        raise StudyError(f"{path}: not a valid JSON file ({e}); delete it (or its run folder) to redo the run") from e


def check_same_config(d: Path, fingerprint: str) -> None:
    """Refuse to mix runs of different configurations in one output folder."""
    cfg = d / layout.CONFIG_FILE
    if cfg.is_file():
        saved = read_json(cfg)
        old = saved.get("fingerprint") if isinstance(saved, dict) else None
        if old != fingerprint:
            raise CheckpointMismatch(
                f"{d} holds a run of a different configuration (fingerprint {old}, this study: {fingerprint}); "
                "use a new --out folder for a changed study, or delete that run folder")


def normalise(records: list[dict], setting: str) -> list[dict]:
    """Add ``test_l1`` and ``kept`` (of the run's reported individual) to every record."""
    test_key, kept_key = get_setting(setting).record_keys
    for r in records:
        r["test_l1"], r["kept"] = r.get(test_key), r.get(kept_key)
    return records


def make_jobs(specs: Sequence[RunSpec], trials_per_job: int) -> list[list[RunSpec]]:
    """The runs as jobs of ``trials_per_job`` trials, every configuration's block ``b`` before any block ``b + 1``."""
    key = lambda s: (s.config.setting, s.group, s.config, s.trial // trials_per_job)  # noqa: E731
    jobs = [list(group) for _, group in groupby(specs, key=key)]
    return sorted(jobs, key=lambda job: job[0].trial // trials_per_job)  # stable: study order within a block


@dataclass
class JobTask:
    """A picklable job; one result row per run (None for a run another live runner holds)."""

    out: str
    study: Study
    progress: bool = False
    device: str | None = None

    def __call__(self, specs: Sequence[RunSpec]) -> list[dict[str, Any] | None]:
        import_plugins(self.study.imports, self.study.plugin_folders)  # a worker process registers them too
        single_thread()
        rows: dict[str, dict | None] = {}
        claims, todo = [], []
        try:
            for spec in specs:
                d = run_dir(self.out, spec)
                check_same_config(d, spec.fingerprint(self.study.data))
                done = d / layout.RESULT_FILE
                claim = None if done.is_file() else try_claim(d)
                if claim is None:
                    rows[spec.run_id] = read_json(done) if done.is_file() else None
                else:
                    claims.append(claim)
                    todo.append(spec)
            if todo:
                rows.update(self._run(todo))
        finally:
            for claim in claims:
                claim.release()
        return [rows[s.run_id] for s in specs]

    def _run(self, specs: list[RunSpec]) -> dict[str, dict]:
        cfg = specs[0].config
        fingerprints = [s.fingerprint(self.study.data) for s in specs]
        dirs = [run_dir(self.out, s) for s in specs]
        configs = [{"run_id": spec.run_id, "group": spec.group, "trial": spec.trial, "seed": spec.seed,
                    "fingerprint": fp, "config": spec.config.as_dict(), "data": self.study.data}
                   for spec, fp in zip(specs, fingerprints, strict=True)]
        for d, run_config in zip(dirs, configs, strict=True):
            atomic_write_text(d / layout.CONFIG_FILE, json.dumps(run_config, indent=1))
        data = self.study.load_data()
        ensure_creator()  # checkpoints name creator classes; a fresh worker process must have them first
        resumes = [latest_checkpoint(d, fp) for d, fp in zip(dirs, fingerprints, strict=True)]
        start = time.perf_counter()
        savers = [_Checkpointer(d, fp, cfg, self.study.checkpoint_every, len(specs), start, r)
                  for d, fp, r in zip(dirs, fingerprints, resumes, strict=True)]
        bar = None
        if self.progress:
            done = sum(0 if r is None else r.gen + 1 for r in resumes)
            bar = tqdm(total=len(specs) * (cfg.generations + 1), initial=done, unit="gen", leave=False,
                       desc=specs[0].run_id if len(specs) == 1 else f"{specs[0].group} ×{len(specs)}")
        try:
            results = run_trials(cfg, data, [s.seed for s in specs], device=self.device,
                                 on_generation=(lambda _k: bar.update(1)) if bar else None, checkpoints=savers,
                                 resumes=resumes)
        finally:
            if bar is not None:
                bar.close()
        return {spec.run_id: _finish(spec, d, result, run_config)
                for spec, d, result, run_config in zip(specs, dirs, results, configs, strict=True)}


@dataclass
class _Checkpointer:
    """A run's ``checkpoint(gen, population, logbook, rng)``: its log now and then, a checkpoint every few."""

    folder: Path
    fingerprint: str
    cfg: Any
    every: int
    trials: int
    start: float
    resume: Any
    last: float = field(default_factory=time.monotonic)

    def __call__(self, gen, population, logbook, rng) -> None:
        # The log is rewritten whole (atomically), so not every generation: at each checkpoint and at most every
        # LOG_SECONDS in between.
        due = gen % self.every == 0 or gen == self.cfg.generations
        if due or time.monotonic() - self.last >= LOG_SECONDS:
            write_jsonl(self.folder / layout.LOG_FILE, normalise(logbook_records(logbook), self.cfg.setting))
            self.last = time.monotonic()
        if due:
            before = 0.0 if self.resume is None else self.resume.wall_time
            wall = before + (time.perf_counter() - self.start) / self.trials
            save_checkpoint(self.folder, self.fingerprint, gen, population, logbook, rng, wall_time=wall)


def _finish(spec: RunSpec, d: Path, result, run_config: dict) -> dict:
    """Write a finished run's log, model files and result row (last: a run with a result has the rest)."""
    cfg = spec.config
    write_jsonl(d / layout.LOG_FILE, normalise(result.records, cfg.setting))
    save_model(d / layout.MODEL_FILE, result.best, run_id=spec.run_id, config=run_config,
               test_l1=result.test_l1, train_l1=result.train_l1)
    if get_setting(cfg.setting).saves_population:
        save_population(d / layout.POPULATION_FILE, result.population, run_id=spec.run_id, config=run_config)
    row = {"run_id": spec.run_id, "setting": cfg.setting, "operator": cfg.operator,
           "schedule": cfg.schedule_name if cfg.operator != "none" else "-",
           "p": cfg.probability if cfg.operator != "none" else 0.0, "amount": cfg.amount,
           "group": spec.group, "trial": spec.trial, "seed": spec.seed, "generations": cfg.generations,
           **{k: v for k, v in result.summary().items() if k not in ("label", "seed")}}
    atomic_write_text(d / layout.RESULT_FILE, json.dumps(row, indent=1, sort_keys=True))
    for ckpt in checkpoints(d) + old_checkpoints(d):  # finished: the result replaces the checkpoints
        ckpt.unlink(missing_ok=True)
    return row
