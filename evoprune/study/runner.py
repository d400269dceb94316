"""Run a study: every run is an independent task sent through a map; nothing finished is lost.

Output layout::

    OUT/study.toml                 copy of the study file (with ``name = ...`` added if it has none)
    OUT/runs/<run_id>/config.json  the run's configuration, seed and fingerprint
    OUT/runs/<run_id>/log.jsonl    one record per generation, rewritten as the run goes
    OUT/runs/<run_id>/ckpt-*.pkl   checkpoints every ``checkpoint_every`` generations
    OUT/runs/<run_id>/result.json  final numbers; its presence marks the run finished

Re-running on an existing ``OUT`` skips finished runs and resumes unfinished
ones from their last good checkpoint, giving the same final results as an
uninterrupted run (all fields but wall-clock times).

Nothing is created or written in ``OUT`` before everything is checked: the
study, its data (loaded once), and that ``OUT`` holds this study or none (its
``study.toml``, and the fingerprint of every run folder already there).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..experiment import ensure_creator, run, single_thread
from ..io import atomic_write_text, logbook_records, write_jsonl
from .checkpoint import CheckpointMismatch, latest_checkpoint, save_checkpoint
from .config import RunSpec, Study, StudyError, load_study

#: Result fields that depend on the machine's clock, not on the seed.
TIMING_FIELDS = frozenset({"wall_time", "inference_time", "time"})


def run_dir(out: str | Path, spec: RunSpec) -> Path:
    return Path(out) / "runs" / spec.run_id


def is_finished(out: str | Path, spec: RunSpec) -> bool:
    return (run_dir(out, spec) / "result.json").is_file()


def _read_json(path: Path) -> Any:
    """A JSON file of the output folder; a broken one is named in the error."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:  # also UnicodeDecodeError
        raise StudyError(f"{path}: not a valid JSON file ({e}); delete it (or its run folder) to redo the run") from e


def _normalise(records: list[dict], setting: str) -> list[dict]:
    """Add ``test_l1`` and ``kept`` (of the run's reported individual) to every record."""
    for r in records:
        if setting == "grid":
            r["test_l1"], r["kept"] = r.get("best_test"), r.get("best_kept")
        else:
            r["test_l1"], r["kept"] = r.get("test_min"), r.get("kept_min")
    return records


@dataclass
class RunTask:
    """One run as a picklable task: loads the data, resumes if it can, checkpoints, writes its result."""

    out: str
    study: Study
    progress: bool = False

    def __call__(self, spec: RunSpec) -> dict[str, Any]:
        single_thread()
        d = run_dir(self.out, spec)
        done = d / "result.json"
        fingerprint = spec.fingerprint(self.study.data)
        _check_same_config(d, fingerprint)
        if done.is_file():
            return _read_json(done)
        atomic_write_text(d / "config.json", json.dumps(
            {"run_id": spec.run_id, "group": spec.group, "trial": spec.trial, "seed": spec.seed,
             "fingerprint": fingerprint, "config": spec.config.as_dict(), "data": self.study.data}, indent=1))
        data = self.study.load_data()
        ensure_creator()  # checkpoints hold creator classes; a fresh worker process must have them first
        resume = latest_checkpoint(d, fingerprint)
        if resume is not None:
            resume.restore_global_rngs()
        cfg = spec.config
        every = self.study.checkpoint_every

        def checkpoint(gen, population, logbook, rng):
            write_jsonl(d / "log.jsonl", _normalise(logbook_records(logbook), cfg.setting))
            if gen % every == 0 or gen == cfg.generations:
                save_checkpoint(d, fingerprint, gen, population, logbook, rng)

        bar = None
        if self.progress:
            bar = tqdm(total=cfg.generations + 1, initial=0 if resume is None else resume.gen + 1,
                       desc=spec.run_id, unit="gen", leave=False)
        try:
            result = run(cfg, data, spec.seed, on_generation=bar.update if bar else None,
                         checkpoint=checkpoint, resume=resume)
        finally:
            if bar is not None:
                bar.close()
        write_jsonl(d / "log.jsonl", _normalise(result.records, cfg.setting))
        row = {"run_id": spec.run_id, "setting": cfg.setting, "operator": cfg.operator,
               "schedule": cfg.schedule if cfg.operator != "none" else "-",
               "p": cfg.probability if cfg.operator != "none" else 0.0, "amount": cfg.amount,
               "group": spec.group, "trial": spec.trial, "seed": spec.seed, "generations": cfg.generations,
               **{k: v for k, v in result.summary().items() if k not in ("label", "seed")}}
        atomic_write_text(done, json.dumps(row, indent=1, sort_keys=True))
        for ckpt in d.glob("ckpt-*.pkl"):  # finished: the result replaces the checkpoints
            ckpt.unlink(missing_ok=True)
        return row


def _check_same_config(d: Path, fingerprint: str) -> None:
    """Refuse to mix runs of different configurations in one output folder."""
    cfg = d / "config.json"
    if cfg.is_file():
        saved = _read_json(cfg)
        old = saved.get("fingerprint") if isinstance(saved, dict) else None
        if old != fingerprint:
            raise CheckpointMismatch(
                f"{d} holds a run of a different configuration (fingerprint {old}, this study: {fingerprint}); "
                "use a new --out folder for a changed study, or delete that run folder")


def _check_same_study(out: Path, study: Study) -> None:
    """Refuse to run a study into a folder that holds a different one (its ``study.toml``)."""
    saved = out / "study.toml"
    if not saved.is_file():
        return
    try:  # the copy of an unnamed study is named after its original file, not "study"
        old = load_study(saved, default_name=study.name)
    except (StudyError, OSError) as e:
        raise StudyError(f"{out} holds an unreadable study.toml ({e}); use a new --out folder") from e
    if old.identity() != study.identity():
        diff = sorted(k for k, v in study.identity().items() if old.identity()[k] != v)
        raise CheckpointMismatch(
            f"{out} holds a different study ({', '.join(diff)} differ from {study.path}); "
            "use a new --out folder for a changed study")


def _study_copy(study: Study) -> str | None:
    """The text saved as ``OUT/study.toml``: the study file, with its name added if it has none.

    (Read back, an unnamed copy would be named after its own file, ``study``.)
    """
    path = Path(study.path)
    if not path.is_file():  # parsed from text: nothing to copy
        return None
    try:
        text = path.read_text(encoding="utf-8")
        named = "name" in tomllib.loads(text)
    except (ValueError, OSError) as e:  # changed or removed since it was read
        raise StudyError(f"{path}: cannot be read again to copy it into the output folder ({e})") from e
    if named:
        return text
    return f"name = {json.dumps(study.name, ensure_ascii=False)}  # added by evoprune: the study file has none\n{text}"


def run_study(study: Study | str | Path, out: str | Path, map_: Callable | None = None,
              progress: bool = True) -> list[dict[str, Any]]:
    """Run (or resume) every run of ``study`` into ``out``; returns the result rows.

    ``map_`` is any DEAP-compatible map (default: serial, with a per-generation bar);
    use :class:`evoprune.parallel.ProcessMap` or :func:`evoprune.parallel.dask_map` for more.
    """
    if not isinstance(study, Study):
        study = load_study(study)
    out = Path(out)
    # everything is checked before anything is written: the data loads, the folder holds this study or none
    if out.exists() and not out.is_dir():
        raise StudyError(f"output folder {out} exists and is not a folder; use a new --out folder")
    try:
        study.load_data()
    except (ValueError, TypeError, OSError, ImportError) as e:  # a bad file, argument or missing extra
        raise StudyError(f"{study.path}: data: {e}") from e
    _check_same_study(out, study)
    specs = study.runs()
    for spec in specs:
        _check_same_config(run_dir(out, spec), spec.fingerprint(study.data))
    copy = None if (out / "study.toml").is_file() else _study_copy(study)
    out.mkdir(parents=True, exist_ok=True)
    if copy is not None:
        atomic_write_text(out / "study.toml", copy)
    todo = [s for s in specs if not is_finished(out, s)]
    serial = map_ is None
    task = RunTask(str(out), study, progress=serial and progress)
    rows = []
    with tqdm(total=len(specs), initial=len(specs) - len(todo), desc=f"study {study.name}", unit="run",
              disable=not progress) as bar:
        if serial:
            for spec in todo:
                rows.append(task(spec))
                bar.update(1)
        else:  # a map's ``imap`` (ProcessMap, dask_map) reports runs as they finish
            for row in getattr(map_, "imap", map_)(task, todo):
                rows.append(row)
                bar.update(1)
    return [_read_json(run_dir(out, s) / "result.json") for s in specs]


def study_status(study: Study, out: str | Path) -> dict[str, list[str]]:
    """Run ids by state: ``finished``, ``started`` (has a log or checkpoint) and ``pending``."""
    state: dict[str, list[str]] = {"finished": [], "started": [], "pending": []}
    for spec in study.runs():
        d = run_dir(out, spec)
        if (d / "result.json").is_file():
            state["finished"].append(spec.run_id)
        elif (d / "log.jsonl").is_file() or any(d.glob("ckpt-*.pkl")):
            state["started"].append(spec.run_id)
        else:
            state["pending"].append(spec.run_id)
    return state
