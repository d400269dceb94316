"""Study files: a TOML description of operators × schedules × settings × trials.

Example (a smaller cousin of ``studies/quick.toml``)::

    name = "quick"
    imports = ["my_pruning"]    # modules that register methods: next to this file, then sys.path
    seed = 0
    trials = 3
    checkpoint_every = 10

    [data]                      # a dataset of evoprune.data and its arguments
    name = "binary_clustering"
    dim = 100

    [run]                       # RunConfig fields shared by every run
    generations = 30

    [run.pruning]               # pruning parameters: amount, scope, method parameters
    amount = 0.1
    scope = "layer"             # "layer" or "global"
    threshold = 0.2             # to every method that takes it
    [run.pruning.variance]      # for one method only
    floor = 0.01

    [settings.grid]             # RunConfig fields for one setting only
    batch_size = 5
    grid = "ring:10"

    [factors]                   # crossed: one group per combination
    setting = ["canonical", "grid"]
    operator = ["none", "random", "conjunctive"]
    schedule = ["exponential", "final_n"]

    [[groups]]                  # and groups listed one by one (not crossed), e.g. one more on a larger ring
    setting = "grid"
    operator = "random"
    schedule = "exponential"
    grid = "ring:20"
    variant = "ring20"          # optional: the group is labelled random-exponential@ring20

A ``[run]`` (or factor) ``model = "my_models:dense_ae"`` replaces the built-in network with the
``(encoder, decoder)`` the user's function returns.  Everything is checked before anything runs; errors name
the file and the key.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data import DATASETS, Dataset, load_dataset
from ..runs import SETTINGS, RunConfig
from ..util.plugins import PluginError, import_plugins
from .checks import (
    StudyError,
    check_data_table,
    check_factors,
    check_groups,
    check_run_table,
    check_settings,
    fail,
    merge_pruning,
    method_fields,
)
from .user_models import resolve_models

__all__ = ["Study", "RunSpec", "StudyError", "load_study", "parse_study"]

TOP_KEYS = {"name", "description", "imports", "seed", "trials", "checkpoint_every", "trials_per_job", "data", "run",
            "settings", "factors", "groups"}

_PRIMARY = ("setting", "operator", "schedule")


@dataclass(frozen=True)
class RunSpec:
    """One run of a study: its configuration, trial number and seed."""

    run_id: str
    group: str
    trial: int
    seed: int
    config: RunConfig

    def fingerprint(self, data: dict) -> str:
        """Short hash of what fixes the run's results: its configuration's identity, seed and data."""
        blob = json.dumps({"config": self.config.identity(), "seed": self.seed, "data": data}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Study:
    """A parsed, validated study file."""

    name: str
    path: str
    seed: int
    trials: int
    checkpoint_every: int
    data: dict[str, Any]
    run: dict[str, Any]
    settings: dict[str, dict[str, Any]]
    factors: dict[str, list]
    description: str = ""
    trials_per_job: int | None = None
    imports: tuple[str, ...] = ()
    plugin_folders: tuple[str, ...] = ()
    groups: tuple[dict[str, Any], ...] = ()

    def identity(self) -> dict[str, Any]:
        """What defines the study's runs (not its description, file path, checkpoint interval, jobs or device)."""
        def strip(table: dict) -> dict:
            return {k: v for k, v in table.items() if k != "device"}

        out = {"name": self.name, "seed": self.seed, "trials": self.trials, "data": self.data,
               "run": strip(self.run), "settings": {k: strip(v) for k, v in self.settings.items()},
               "factors": {k: v for k, v in self.factors.items() if k != "device"}}
        if self.groups:
            out["groups"] = [strip(g) for g in self.groups]
        return out

    def fingerprint(self) -> str:
        """Short hash of :meth:`identity`: equal for every copy (and every ``--trials`` prefix) of the study."""
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:16]

    def load_data(self) -> Dataset:
        """The ``[data]`` table's data set (a relative path beside the study file first, then here)."""
        kw = {k: v for k, v in self.data.items() if k != "name"}
        name = self.data["name"]
        beside = Path(self.path).parent / name
        if name not in DATASETS and not Path(name).is_absolute() and beside.exists():
            name = str(beside)
        return load_dataset(name, **kw)

    def runs(self) -> list[RunSpec]:
        """Every run, groups in factor order, trials innermost."""
        keys = list(self.factors)
        specs: list[RunSpec] = []
        seen: set[tuple] = set()
        crossed = [] if self.groups and not keys else [dict(zip(keys, combo, strict=True)) for combo
                                                        in itertools.product(*(self.factors[k] for k in keys))]
        for chosen in [*crossed, *(dict(g) for g in self.groups)]:
            variant = chosen.pop("variant", None)
            setting = chosen.get("setting", self.run.get("setting", RunConfig.setting))
            fields = {**self.run, **self.settings.get(setting, {})}
            table = merge_pruning(self.run.get("pruning", {}), self.settings.get(setting, {}).get("pruning", {}))
            fields = {**fields, **method_fields(table, chosen.get("operator", fields.get("operator", "none"))),
                      **chosen}
            if fields.get("model") is not None and {"hidden", "latent"} & fields.keys():
                given = " and ".join(k for k in ("hidden", "latent") if k in fields)
                raise ValueError(f"model {fields['model']!r} and {given} both given: a user model has its own "
                                 f"layer sizes; give either model or hidden/latent")
            owned = SETTINGS[setting].fields if setting in SETTINGS else {}
            if fields.get("operator", "none") == "none":  # schedule, p, amount and the like mean nothing unpruned
                for k in ("schedule", "p", "amount", "pruning", *owned):
                    fields.pop(k, None)
            for k in SETTINGS[setting].ignores if setting in SETTINGS else ():
                fields.pop(k, None)  # the setting does not read them: no part of its runs' identity
            fields.pop("variant", None)
            cfg = RunConfig(**fields)
            group = (group_label(cfg, {k: v for k, v in chosen.items() if k not in _PRIMARY}) if variant is None
                     else f"{cfg.label}@{variant}")
            if (setting, group) in seen:
                continue
            seen.add((setting, group))
            for t in range(self.trials):
                seed = int(np.random.SeedSequence([self.seed, t]).generate_state(1)[0])
                specs.append(RunSpec(f"{setting}__{group}__t{t:02d}", group, t, seed, cfg))
        return specs


def group_label(cfg: RunConfig, extra: dict[str, Any]) -> str:
    """Label of a group: the configuration's label and its varied fields (``p``, ``amount`` and the setting's own
    fields dropped for ``none``)."""
    if cfg.operator == "none":  # nor the fields of a setting's pruning (gradual's target_sparsity, ...)
        extra = {k: v for k, v in extra.items() if k not in ("p", "amount", *SETTINGS[cfg.setting].fields)}
    if "model" in extra:  # "module:function" as module.function (a folder name without a colon)
        extra = {**extra, "model": str(extra["model"]).replace(":", ".")}
    return cfg.label + "".join(f"-{k}{v}" for k, v in extra.items())


def _import_modules(path, raw: dict, extra: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Import ``extra`` (``--import``), then the study's ``imports``; the folders they were found in."""
    names = raw.get("imports", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise fail(path, "imports", f"expected a list of module names, got {names!r}")
    here = [Path(str(path)).parent] if Path(str(path)).is_file() else []
    try:
        folders = import_plugins(extra, [*here, Path.cwd()])
    except PluginError as e:
        raise StudyError(f"--import: {e}") from e
    try:
        folders += import_plugins(names, here)
    except PluginError as e:
        raise fail(path, "imports", str(e)) from e
    return tuple(dict.fromkeys([*names, *extra])), tuple(dict.fromkeys(folders))


def parse_study(text: str, path: str | Path = "<study>", default_name: str | None = None,
                imports: Sequence[str] = (), check_models: bool = True) -> Study:
    """Parse and validate a study from TOML text (unnamed: ``default_name``, else the file's stem)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise StudyError(f"{path}: not valid TOML: {e}") from e
    for k in raw:
        if k not in TOP_KEYS:
            raise fail(path, k, f"unknown key; valid: {', '.join(sorted(TOP_KEYS))}")
    modules, folders = _import_modules(path, raw, imports)  # they may register the methods named below
    for key, default in (("seed", 0), ("trials", 30), ("checkpoint_every", 10), ("trials_per_job", 1)):
        v = raw.get(key, default)
        if not isinstance(v, int) or isinstance(v, bool) or v < (0 if key == "seed" else 1):
            raise fail(path, key, f"expected an integer >= {0 if key == 'seed' else 1}, got {v!r}")
    run = check_run_table(path, "run", raw.get("run", {}))
    settings, factors, groups = check_settings(path, raw), check_factors(path, raw), check_groups(path, raw)
    study = Study(
        name=str(raw.get("name", default_name or Path(str(path)).stem)),
        path=str(path),
        seed=raw.get("seed", 0),
        trials=raw.get("trials", 30),
        checkpoint_every=raw.get("checkpoint_every", 10),
        data=check_data_table(path, raw.get("data", {"name": "binary_clustering"})),
        run=run,
        settings=settings,
        factors=factors,
        description=str(raw.get("description", "")),
        trials_per_job=raw.get("trials_per_job"),
        imports=modules,
        plugin_folders=folders,
        groups=tuple(groups),
    )
    try:
        study.runs()  # every combination must make a valid RunConfig
    except (ValueError, TypeError) as e:
        raise StudyError(f"{path}: {e}") from e
    return resolve_models(path, study) if check_models else study


def load_study(path: str | Path, default_name: str | None = None, imports: Sequence[str] = (),
               check_models: bool = True) -> Study:
    """Read and validate a study file (``default_name``, ``imports``, ``check_models``: see :func:`parse_study`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"study file not found: {path}" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise StudyError(f"{path}: not a UTF-8 text file ({e})") from e
    return parse_study(text, path, default_name, imports, check_models)
