"""A study file's ``model`` entries: user models resolved when the study is read, before any run starts."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..architecture import Architecture
from ..util.plugins import PluginError, model_function, user_model
from .checks import fail

__all__ = ["resolve_models"]


def _model_key(entry: str, settings: dict[str, dict], factors: dict[str, list]) -> str:
    """Where a study gives the model entry ``entry``."""
    if entry in factors.get("model", []):
        return "factors.model"
    return next((f"settings.{name}.model" for name, table in settings.items() if table.get("model") == entry),
                "run.model")


def resolve_models(path: Any, study: Any) -> Any:
    """``study`` with every ``model`` entry of its runs resolved now (a ``StudyError`` names one that does not),
    its modules added to the study's ``imports`` (and folders to ``plugin_folders``) for the workers."""
    here = [Path(str(path)).parent] if Path(str(path)).is_file() else []
    folders = [*here, Path.cwd()]
    modules, found = list(study.imports), list(study.plugin_folders)
    for entry in dict.fromkeys(s.config.model for s in study.runs() if s.config.model is not None):
        key = _model_key(entry, study.settings, study.factors)
        try:
            found += model_function(entry, folders)[1]
            Architecture.from_modules(*user_model(entry, folders))
        except PluginError as e:
            raise fail(path, key, str(e)) from e
        except (ValueError, TypeError) as e:  # modules that make no architecture
            raise fail(path, key, f"model {entry!r} returned modules evoprune cannot use: {e}") from e
        modules.append(entry.split(":")[0])
    return dataclasses.replace(study, imports=tuple(dict.fromkeys(modules)),
                               plugin_folders=tuple(dict.fromkeys(found)))
