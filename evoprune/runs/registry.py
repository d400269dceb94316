"""The registry of training settings: each setting is one small object, found by name."""

from __future__ import annotations

from typing import Any, ClassVar

from deap import base

#: Settings by name (``canonical``, ``grid``; a user's own once registered).
SETTINGS: dict[str, Setting] = {}


class Setting:
    """One training setting: how a :class:`~evoprune.runs.config.RunConfig` becomes a toolbox, a
    population and a generator of variation requests.

    Subclasses set ``name`` and are registered with :func:`register_setting`;
    studies, the runner and the report then find them by name.
    """

    name: ClassVar[str]
    #: Logbook fields holding the test L1 and fraction kept of the model the run reports.
    record_keys: ClassVar[tuple[str, str]] = ("test_min", "kept_min")

    def toolbox(self, cfg, data) -> base.Toolbox:
        raise NotImplementedError

    def population(self, cfg, data, seed: int) -> list:
        raise NotImplementedError

    def prune_first(self, cfg) -> bool:
        return bool(cfg.prune_first)

    def stats(self, cfg, data):
        raise NotImplementedError

    def steps(self, cfg, data, toolbox, population: list, rng, stats, checkpoint, resume_from):
        raise NotImplementedError

    def final(self, cfg, population: list, data) -> Any:
        """The model the run reports."""
        raise NotImplementedError


def register_setting(setting: Setting) -> Setting:
    SETTINGS[setting.name] = setting
    return setting


def get_setting(name: str) -> Setting:
    if name not in SETTINGS:
        raise ValueError(f"unknown setting {name!r}; valid: {', '.join(SETTINGS)}")
    return SETTINGS[name]
