"""Runs of a configuration: the settings registry, :class:`RunConfig`, :func:`run` and :func:`run_trials`.

Importing this package registers the built-in settings, ``canonical``, ``grid`` and ``gradual``.
"""

from . import canonical, gradual, grid  # noqa: F401  (registers the settings)
from .common import RunResult, ensure_creator, select_final, single_thread
from .config import SELECTIONS, RunConfig, operators
from .registry import SETTINGS, Setting, get_setting, register_setting
from .trials import run, run_trials

__all__ = [
    "SELECTIONS",
    "SETTINGS",
    "RunConfig",
    "RunResult",
    "Setting",
    "ensure_creator",
    "get_setting",
    "operators",
    "register_setting",
    "run",
    "run_trials",
    "select_final",
    "single_thread",
]
