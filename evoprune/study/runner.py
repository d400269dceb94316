"""Run a study: every run is an independent task sent through a map; nothing finished is lost.

Each run writes its folder ``OUT/runs/<run_id>/`` (files: :mod:`evoprune.study.store.layout`).  Several runners
(processes, hosts) may share ``OUT``: each claims a run before starting it (:mod:`evoprune.study.claims`).
Re-running on an existing ``OUT`` skips finished runs and resumes unfinished ones from their last good
checkpoint, with the same final results as an uninterrupted run (wall-clock times aside).  Nothing is written in
``OUT`` before the study, its data and ``OUT`` (this study or none) are checked.  Runs packed into shards that
``OUT`` was continued from (``OUT/packs.json``) count as finished.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..util.io import atomic_write_text
from .checkpoint import CheckpointMismatch, checkpoints
from .claims import claim_state
from .dispatch import Deadline, dispatch, parse_duration
from .jobs import JobTask, check_same_config, default_trials_per_job, make_jobs, read_json, run_dir
from .sharing import finish_claimed
from .store import layout
from .store.shards import check_same_study, link_packs, linked_packs, read_pack
from .studyfile import RunSpec, Study, StudyError, load_study

__all__ = ["run_study", "study_status", "is_finished"]

#: Result fields that depend on the machine's clock, not on the seed.
TIMING_FIELDS = frozenset({"wall_time", "inference_time", "time"})


def is_finished(out: str | Path, spec: RunSpec) -> bool:
    """Whether the run ``spec`` of the study in ``out`` has its ``result.json``."""
    return layout.finished(run_dir(out, spec))


def _check_same_study(out: Path, study: Study) -> None:
    """Refuse to run a study into a folder that holds a different one (its ``study.toml``)."""
    saved = layout.study_file(out)
    if not saved.is_file():
        return
    try:  # the copy of an unnamed study is named after its original file, not "study"
        old = load_study(saved, default_name=study.name, check_models=False)
    except (StudyError, OSError) as e:
        raise StudyError(f"{out} holds an unreadable study.toml ({e}); use a new --out folder") from e
    if old.identity() != study.identity():
        diff = sorted(k for k, v in study.identity().items() if old.identity()[k] != v)
        raise CheckpointMismatch(
            f"{out} holds a different study ({', '.join(diff)} differ from {study.path}); "
            "use a new --out folder for a changed study")


def _study_copy(study: Study) -> str | None:
    """The text saved as ``OUT/study.toml``: the study file, its name added (a copy would be named ``study``)."""
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


def _packed(study: Study, specs: list[RunSpec], packs: Sequence[str | os.PathLike]) -> dict[str, dict]:
    """The packed result of each run of ``specs`` in ``packs``; a pack of another study is refused."""
    found: dict[str, dict] = {}
    by_id = {s.run_id: s for s in specs}
    for path in packs:
        pack = read_pack(path)
        check_same_study(pack, study)
        fps = pack.fingerprints()
        for row in pack.results(set(by_id)):
            spec = by_id[row["run_id"]]
            if fps[spec.run_id] != spec.fingerprint(study.data):
                raise StudyError(f"{pack.path}: run {spec.run_id} has fingerprint {fps[spec.run_id]}, this study's "
                                 f"is {spec.fingerprint(study.data)}; the pack is of another configuration")
            found.setdefault(spec.run_id, row)
    return found


def _check_trials(study: Study, trials: int | None) -> int:
    if trials is None:
        return study.trials
    if isinstance(trials, bool) or not isinstance(trials, int) or not 1 <= trials <= study.trials:
        raise StudyError(f"trials {trials!r}: expected an integer from 1 to the study's {study.trials} trials")
    return trials


def run_study(study: Study | str | Path, out: str | Path, map_: Callable | None = None,
              progress: bool = True, device: str | None = None, trials_per_job: int | None = None, *,
              trials: int | None = None, time_limit: str | float | None = None,
              packs: Sequence[str | os.PathLike] = (), clock: Callable[[], float] | None = None,
              ) -> list[dict[str, Any]]:
    """Run (or resume) ``study`` into ``out``; the finished runs' result rows, in study order.

    Jobs of ``trials_per_job`` trials of one configuration advance in lockstep, in trial-major order, through
    ``map_`` (default: serial; e.g. :class:`evoprune.parallel.ProcessMap`).  A ``time_limit`` starts no job that
    would not finish in time; running the same call again continues the study.
    """
    deadline = None if time_limit is None else Deadline(parse_duration(time_limit), clock)
    if not isinstance(study, Study):
        study = load_study(study)
    out = Path(out)
    specs, packed, trials_per_job = _prepare(study, out, trials, packs, device, trials_per_job)
    todo = [s for s in specs if s.run_id not in packed and not is_finished(out, s)]
    task = JobTask(str(out), study, progress=map_ is None and progress, device=device)

    def run_some(batch) -> bool:  # jobs go out in trial-major order; None rows: another runner holds the run
        return dispatch(task, make_jobs(batch, trials_per_job), map_,
                        lambda rows: bar.update(sum(row is not None for row in rows)), deadline)

    def waited(n) -> bool:
        bar.update(max(0, len(specs) - len(todo) + n - bar.n))
        return deadline is None or deadline.clock() < deadline.end

    with tqdm(total=len(specs), initial=len(specs) - len(todo), desc=f"study {study.name}", unit="run",
              disable=not progress) as bar:
        if run_some(todo):  # then wait for runs held by other runners; take over those whose runner died
            finish_claimed(todo, lambda s: run_dir(out, s), run_some, progress=waited)
    return [packed[s.run_id] if s.run_id in packed else read_json(run_dir(out, s) / layout.RESULT_FILE)
            for s in specs if s.run_id in packed or is_finished(out, s)]


def _prepare(study: Study, out: Path, trials, packs, device, trials_per_job):
    """Check everything, then write the study's copy and pack links; the runs, packed results, trials per job."""
    n_trials = _check_trials(study, trials)
    if out.exists() and not out.is_dir():
        raise StudyError(f"output folder {out} exists and is not a folder; use a new --out folder")
    try:
        study.load_data()
    except (ValueError, TypeError, OSError, ImportError) as e:  # a bad file, argument or missing extra
        raise StudyError(f"{study.path}: data: {e}") from e
    _check_same_study(out, study)
    specs = [s for s in study.runs() if s.trial < n_trials]
    for spec in specs:
        check_same_config(run_dir(out, spec), spec.fingerprint(study.data))
    packed = _packed(study, specs, [*linked_packs(out), *(Path(p) for p in packs)])
    if trials_per_job is None:
        trials_per_job = study.trials_per_job or default_trials_per_job(device or specs[0].config.device)
    if isinstance(trials_per_job, bool) or not isinstance(trials_per_job, int) or trials_per_job < 1:
        raise StudyError(f"trials_per_job must be an integer >= 1, got {trials_per_job!r}")
    copy = None if layout.study_file(out).is_file() else _study_copy(study)
    out.mkdir(parents=True, exist_ok=True)
    if copy is not None:
        atomic_write_text(layout.study_file(out), copy)
    if packs:
        link_packs(out, list(packs))
    return specs, packed, trials_per_job


def study_status(study: Study, out: str | Path) -> dict[str, list[str]]:
    """Run ids by state: ``finished`` (packed ones too), ``running``, ``started`` (a log or checkpoint), ``pending``."""
    state: dict[str, list[str]] = {"finished": [], "running": [], "started": [], "pending": []}
    specs = study.runs()
    packed = _packed(study, specs, linked_packs(out))
    for spec in specs:
        d = run_dir(out, spec)
        if layout.finished(d) or spec.run_id in packed:
            state["finished"].append(spec.run_id)
        elif (claim_state(d) or ("",))[0] == "held":
            state["running"].append(spec.run_id)
        elif (d / layout.LOG_FILE).is_file() or checkpoints(d):
            state["started"].append(spec.run_id)
        else:
            state["pending"].append(spec.run_id)
    return state
