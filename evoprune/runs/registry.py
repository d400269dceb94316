"""The registry of training settings: each setting is one small object, found by name."""

from __future__ import annotations

from typing import Any, ClassVar

from deap import base

from ..util.plugins import load_entry_points

#: Settings by name (``canonical``, ``grid``, ``gradual``; a user's own once registered).
SETTINGS: dict[str, Setting] = {}


class Setting:
    """One training setting: how a :class:`~evoprune.runs.RunConfig` becomes a toolbox, a population and a
    generator of variation requests.  Subclasses set ``name``; :func:`register_setting` makes them known by it."""

    name: ClassVar[str]
    #: Logbook fields holding the test L1 and fraction kept of the model the run reports.
    record_keys: ClassVar[tuple[str, str]] = ("test_min", "kept_min")
    #: Whether a finished run also saves its final population (``population.safetensors``).
    saves_population: ClassVar[bool] = False
    #: :class:`~evoprune.runs.RunConfig` fields only this setting reads, with their defaults: a run of another
    #: setting must leave them at the default (left out of a run's identity there, so fingerprints stay).
    fields: ClassVar[dict[str, Any]] = {}
    #: RunConfig fields this setting does not read (a study file leaves them out of its runs' configurations).
    ignores: ClassVar[tuple[str, ...]] = ()
    #: Which training passes a method reading them sees (:data:`~evoprune.training.RECORDS`).
    training_record: ClassVar[str] = "since_pruning"

    def check_field(self, name: str, value: Any) -> None:
        """Refuse a bad value of one of :attr:`fields` alone (a ValueError naming it); checked before any run.

        Parameters
        ----------
        name
            A key of :attr:`fields`.
        value
            Its value.
        """

    def check(self, cfg) -> None:
        """Refuse a configuration this setting cannot run (a ValueError naming the field).

        Parameters
        ----------
        cfg
            The run's :class:`~evoprune.runs.RunConfig`.
        """

    def schedule_name(self, cfg) -> str:
        """The run's schedule as results and group labels name it (default: ``cfg.schedule``).

        Parameters
        ----------
        cfg
            The run's :class:`~evoprune.runs.RunConfig`.
        """
        return cfg.schedule

    def toolbox(self, cfg, data) -> base.Toolbox:
        """The :class:`deap.base.Toolbox` with the run's operators.

        Parameters
        ----------
        cfg, data
            The run's :class:`~evoprune.runs.RunConfig` and :class:`~evoprune.data.Dataset`.
        """
        raise NotImplementedError

    def population(self, cfg, data, seed: int) -> list:
        """The initial population, drawn from ``seed``.

        Parameters
        ----------
        cfg, data
            The run's :class:`~evoprune.runs.RunConfig` and :class:`~evoprune.data.Dataset`.
        seed
            The run's seed.
        """
        raise NotImplementedError

    def prune_first(self, cfg) -> bool:
        """Whether offspring are pruned before training (default: ``cfg.prune_first``).

        Parameters
        ----------
        cfg
            The run's :class:`~evoprune.runs.RunConfig`.
        """
        return bool(cfg.prune_first)

    def stats(self, cfg, data):
        """The statistics recorded each generation.

        Parameters
        ----------
        cfg, data
            The run's :class:`~evoprune.runs.RunConfig` and :class:`~evoprune.data.Dataset`.
        """
        raise NotImplementedError

    def steps(self, cfg, data, toolbox, population: list, rng, stats, checkpoint, resume_from):
        """The ask/tell algorithm generator of the run (see :mod:`evoprune.engine.variation`).

        Parameters
        ----------
        cfg, data, toolbox, population, rng, stats
            The run's configuration, data, toolbox, initial (or restored) population, NumPy generator, statistics.
        checkpoint
            Checkpoint callback ``checkpoint(gen, population, logbook)``, or ``None``.
        resume_from
            ``(gen, logbook)`` to continue from, or ``None``.
        """
        raise NotImplementedError

    def final(self, cfg, population: list, data) -> Any:
        """The model the run reports.

        Parameters
        ----------
        cfg, data
            The run's :class:`~evoprune.runs.RunConfig` and :class:`~evoprune.data.Dataset`.
        population
            The final population.
        """
        raise NotImplementedError


def register_setting(setting: Setting) -> Setting:
    """Register ``setting`` under ``setting.name`` (replacing one of the same name).

    Parameters
    ----------
    setting
        An instance of a :class:`Setting` subclass.
    """
    SETTINGS[setting.name] = setting
    return setting


def get_setting(name: str) -> Setting:
    """The registered setting called ``name``; unknown names raise a ValueError listing the valid ones.

    Parameters
    ----------
    name
        A key of :data:`SETTINGS`.
    """
    if name not in SETTINGS:  # an installed package may register it through an entry point
        load_entry_points()
    if name not in SETTINGS:
        raise ValueError(f"unknown setting {name!r}; valid: {', '.join(SETTINGS)}")
    return SETTINGS[name]
