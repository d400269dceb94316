"""The configuration of one run: every field a study file can set under ``[run]``."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ..algorithms import CONCEPTS, PAIRINGS
from ..backends import TrainOptions
from ..pruning import MASKS, METHODS, PruningMethod, get_method, method_names, paper_probability
from ..schedules import SCHEDULES
from ..topology import Grid
from ..training import LR_MUTATIONS, LossSchedule, lr_decay_factor
from ..util.device import check_device_name
from ..util.plugins import load_entry_points, split_model_entry
from ..util.validation import check_choice, check_fraction, check_positive_int, check_probability
from .registry import SETTINGS, get_setting

#: RunConfig fields that are passed to every pruning method that takes them.
METHOD_FIELDS = ("amount", "n_cases")


def operators(published: bool = True) -> tuple[str, ...]:
    """``"none"`` and every registered pruning method (a method defined after import included).

    Parameters
    ----------
    published
        Include the methods that reproduce the published code's defects (``variance_published``, ...).
    """
    return ("none", *(n for n in method_names() if published or not METHODS[n].published))
#: Survivor selections of the canonical setting (``always``: the child replaces its parent, as published).
SELECTIONS = ("parsimony", "best", "nsga2", "always")
#: The fields that reproduce the published code's conditions, with their (evoprune) defaults; a field at its
#: default is left out of a run's identity and config, so runs that do not set them keep their fingerprints.
PUBLISHED_FIELDS: dict[str, Any] = {
    "adam_betas": (0.9, 0.999), "optimizer_reset": "never", "lr_decay": "none", "lr_mutation": "log",
    "lr_bounds": (1e-5, 0.1), "masks": "permanent", "pruning_data": "train", "pairing": "independent",
    "eval_rows": 100, "schedule_clock": "evoprune", "report_metric": "evoprune",
}


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one run (besides the data and the seed); each field is described where it is
    declared."""

    #: Training setting, a name of :data:`~evoprune.runs.SETTINGS` (``canonical``, ``grid`` or ``gradual``).
    setting: str = "canonical"
    #: Pruning operator — ``none`` or a registered pruning method (see :func:`operators`).
    operator: str = "none"
    #: Pruning schedule, a name of :data:`~evoprune.schedules.SCHEDULES`.
    schedule: str = "exponential"
    #: Base probability of the schedule; ``None`` takes the method's ``paper_p``, else
    #: :data:`~evoprune.pruning.DEFAULT_P`.
    p: float | None = None
    #: Fraction pruned by one pruning mutation (methods that take it).
    amount: float = 0.1
    #: Number of generations (one epoch of training each).
    generations: int = 100
    #: Training minibatch size.
    batch_size: int = 32
    #: Training loss, or two joined by ``">"`` (e.g. ``"bce>l1"``).
    loss: str = "bce>l1"
    #: Fraction of the generations trained with the first stage of ``loss``.
    loss_switch: float = 0.5
    #: Initial learning rate.
    lr: float = 1e-3
    #: Step size of the learning-rate mutation (0 for none).
    lr_sigma: float = 0.1
    #: Relative fitness tolerance of parsimony selection.
    tolerance: float = 0.05
    #: Width of the hidden layers.
    hidden: int = 30
    #: Width of the code.
    latent: int = 10
    #: Rows of training data the data-driven pruning methods look at.
    n_cases: int = 100
    #: Grid of the ``grid`` setting, as :meth:`~evoprune.topology.Grid.from_string` reads it.
    grid: str = "ring:10"
    #: Grid update, ``synchronous`` or ``asynchronous``.
    update: str = "synchronous"
    #: Grid solution concept, a key of :data:`~evoprune.algorithms.CONCEPTS`.
    concept: str = "best"
    #: Grid replacement — ``always`` (the child replaces the centre) or ``parsimony``.
    replacement: str = "always"
    #: Prune before training (``None`` for the setting's default).
    prune_first: bool | None = None
    #: Survivor selection of the canonical setting — ``parsimony``, ``best`` or ``nsga2``.
    selection: str = "parsimony"
    #: Parents per generation (canonical).
    mu: int = 1
    #: Offspring per generation (canonical).
    lambda_: int = 1
    #: Torch device — ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto`` (not part of the run's identity).
    device: str = "auto"
    #: Further parameters of the operator's method, e.g. ``{"threshold": 0.2}``.
    pruning: dict = field(default_factory=dict)
    #: ``"module:function"`` returning ``(encoder, decoder)`` ``nn.Sequential`` stacks, instead of the built-in network
    #: (:func:`~evoprune.util.plugins.user_model`); initial weights still come from the run's seed.
    model: str | None = None
    #: Adam's betas (published ``(0.5, 0.999)`` in ``canonical_ae_training.py`` and ``lipi_ae_base.py``
    #: ``update_ann``).
    adam_betas: tuple[float, float] = (0.9, 0.999)
    #: ``never``, or ``minibatch`` — a fresh Adam per minibatch, as published (``lipi_ae_base.py`` ``update_ann``).
    optimizer_reset: str = "never"
    #: ``none``, or ``step:<every>:<gamma>`` (:func:`~evoprune.training.lr_decay_factor`); the published canonical
    #: training's ``StepLR(step_size=int(T/4), gamma=0.1)`` is ``step:0.25:0.1`` (``canonical_ae_training.py``).
    lr_decay: str = "none"
    #: ``log``, or ``additive`` — ``lr + N(0, lr_sigma)``, as the published ``update_learning_rate``
    #: (``lipi_ae_base.py``; with ``lr_sigma = 1e-5``, ``lr_bounds = [1e-9, 10]``).
    lr_mutation: str = "log"
    #: The learning rate's clip range under mutation.
    lr_bounds: tuple[float, float] = (1e-5, 0.1)
    #: ``permanent`` (a pruned weight stays 0), or ``transient`` — no mask is kept, so weights regrow, as the published
    #: ``prune.remove`` right after each pruning (``prune_ann.py`` ``prune_ann``).
    masks: str = "permanent"
    #: Rows the data-driven methods read — ``train``, or ``test`` as the published CONJUNCTIVE (``prune_ann.py``).
    pruning_data: str = "train"
    #: How a grid cell pairs halves — ``independent`` tournaments, or ``same_index`` (the decoder of the chosen
    #: encoder's neighbour), as published (``lipi_ae_update_only_selected.py`` ``select``).
    pairing: str = "independent"
    #: Rows a grid cell's pairings are scored on (published 5, one minibatch, ``lipi_ae_base.py``).
    eval_rows: int = 100
    #: ``evoprune`` (generations 1..T), or ``published`` — t counts from 0 and the schedules divide by T in the
    #: canonical setting and by T − 1 on the grid (``canonical_ae_training.py``,
    #: ``lipi_ae_update_only_selected.py``), so ``prune_after`` never fires in canonical training.
    schedule_clock: str = "evoprune"
    #: ``evoprune``, or ``published`` — the result also records the published figures' numbers, the training L1 averaged
    #: over every cell and the fraction kept counted right after each cell's last pruning, biases included
    #: (``published_train_l1``, ``published_kept``; ``paper_plots.ipynb``).
    report_metric: str = "evoprune"
    #: ``gradual`` setting — the final fraction of the weights pruned, ``s_f`` in (0, 1) (biases are not counted and
    #: never pruned); required with ``operator = "magnitude"``.
    target_sparsity: float | None = None
    #: ``gradual`` — the sparsity ``s_i`` of the first pruning step, in [0, ``target_sparsity``).
    initial_sparsity: float = 0.0
    #: ``gradual`` — the first pruning step ``t0`` (a generation).
    prune_start: int = 1
    #: ``gradual`` — the last pruning step ``t0 + nΔt`` (``None`` for the last generation).
    prune_end: int | None = None
    #: ``gradual`` — generations between pruning steps, ``Δt`` (it divides ``prune_end - prune_start``).
    prune_every: int = 1

    def __post_init__(self) -> None:
        setting = get_setting(self.setting)
        if self.operator not in operators():  # an installed package may register it through an entry point
            load_entry_points()
        check_choice("operator", self.operator, operators())
        self._check_pruning()
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("replacement", self.replacement, ("always", "parsimony"))
        check_choice("update", self.update, ("synchronous", "asynchronous"))
        check_choice("selection", self.selection, SELECTIONS)
        check_choice("solution concept", self.concept, CONCEPTS)
        Grid.from_string(self.grid)
        if self.p is not None:
            check_probability("p", self.p)
        check_fraction("amount", self.amount)
        check_fraction("tolerance", self.tolerance)
        check_probability("loss_switch", self.loss_switch)
        if isinstance(self.loss, str) and self.loss.count(">") > 1:
            raise ValueError(f"loss {self.loss!r}: a run configuration takes at most two stages (one loss_switch)")
        LossSchedule(self.loss, self.loss_switch)  # checks the loss names
        for name in ("generations", "batch_size", "hidden", "latent", "n_cases", "mu", "lambda_", "eval_rows"):
            check_positive_int(name, getattr(self, name))
        if isinstance(self.lr, bool) or not isinstance(self.lr, int | float) or not (0 < self.lr < math.inf):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        if isinstance(self.lr_sigma, bool) or not isinstance(self.lr_sigma, int | float) or not (
            0 <= self.lr_sigma < math.inf
        ):
            raise ValueError(f"lr_sigma must be a finite number >= 0, got {self.lr_sigma!r}")
        check_device_name(self.device)
        self._check_published()
        if self.prune_first is not None and not isinstance(self.prune_first, bool):
            raise ValueError(f"prune_first must be true or false, got {self.prune_first!r}")
        if self.model is not None:
            split_model_entry(self.model)
            if (self.hidden, self.latent) != (RunConfig.hidden, RunConfig.latent):
                raise ValueError(f"model {self.model!r} and hidden/latent both given: a user model has its own "
                                 "layer sizes; give either model or hidden/latent")
        for other in SETTINGS.values():
            for name, default in other.fields.items():
                value = getattr(self, name)
                if _same(value, default):
                    continue
                if other.name != self.setting:
                    raise ValueError(f"{name} is a field of setting {other.name!r}, not of {self.setting!r}")
                other.check_field(name, value)
        setting.check(self)

    def _check_published(self) -> None:
        for name in ("adam_betas", "lr_bounds"):
            v = getattr(self, name)
            if not (isinstance(v, list | tuple) and len(v) == 2 and all(_number(x) for x in v)):
                raise ValueError(f"{name} must be two numbers, got {v!r}")
            object.__setattr__(self, name, tuple(float(x) for x in v))
        TrainOptions(betas=self.adam_betas, optimizer_reset=self.optimizer_reset)  # checks both
        low, high = self.lr_bounds
        if not 0 < low <= high < math.inf:
            raise ValueError(f"lr_bounds must be 0 < low <= high, got {list(self.lr_bounds)}")
        lr_decay_factor(self.lr_decay, 1, 1)  # checks the string
        check_choice("lr_mutation", self.lr_mutation, LR_MUTATIONS)
        check_choice("masks", self.masks, MASKS)
        check_choice("pruning_data", self.pruning_data, ("train", "test"))
        check_choice("pairing", self.pairing, PAIRINGS)
        check_choice("schedule_clock", self.schedule_clock, ("evoprune", "published"))
        check_choice("report_metric", self.report_metric, ("evoprune", "published"))

    def _check_pruning(self) -> None:
        if not isinstance(self.pruning, dict):
            raise ValueError(f"pruning must be a table of method parameters, got {self.pruning!r}")
        if self.operator == "none":
            if self.pruning:
                raise ValueError(f"pruning parameters {sorted(self.pruning)} given for operator 'none'")
            return
        valid = [k for k in METHODS[self.operator].hyper_parameters() if k not in METHOD_FIELDS]
        for k in self.pruning:
            if k not in valid:
                raise ValueError(f"pruning method {self.operator!r} has no parameter {k!r} here; valid: "
                                 f"{', '.join(valid) or '(none)'} (amount and n_cases are run fields)")
        self.method()  # the method checks its values

    def method(self) -> PruningMethod | None:
        """The operator's pruning method with this run's parameters (``amount``, ``n_cases``, ``pruning``)."""
        if self.operator == "none":
            return None
        valid = METHODS[self.operator].hyper_parameters()
        params = {k: getattr(self, k) for k in METHOD_FIELDS if k in valid}
        return get_method(self.operator, **params, **self.pruning)

    @property
    def probability(self) -> float:
        """The schedule's base probability, ``p`` or else the method's ``paper_p`` or else ``DEFAULT_P``."""
        if self.operator == "none":
            return self.p or 0.0
        return paper_probability(self.operator) if self.p is None else self.p

    @property
    def schedule_name(self) -> str:
        """How results name the schedule (``schedule``, or what the setting calls it, e.g. ``gradual``)."""
        return get_setting(self.setting).schedule_name(self)

    @property
    def label(self) -> str:
        """``none``, or ``<operator>-<schedule>`` (the schedule as :attr:`schedule_name` gives it)."""
        return "none" if self.operator == "none" else f"{self.operator}-{self.schedule_name}"

    @property
    def loss_schedule(self) -> LossSchedule:
        """The training loss by generation, ``loss`` (e.g. ``"bce>l1"``) switching after ``loss_switch`` of the run."""
        return LossSchedule(self.loss, self.loss_switch)

    def as_dict(self) -> dict[str, Any]:
        """All fields as a dict (``model``, the published-condition fields and the settings' own fields only when
        set, so configurations without them read as before)."""
        out = asdict(self)
        if out["model"] is None:
            del out["model"]
        return _drop_defaults(out)

    def identity(self) -> dict[str, Any]:
        """What fixes the run's results: every field but ``device``.  ``pruning`` and ``model`` appear only
        when set, and the retired field ``extra`` stays ``{}``, so older runs keep their fingerprints."""
        out = {k: v for k, v in asdict(self).items() if k not in ("device", "pruning", "model")}
        out = _drop_defaults(out)
        out["extra"] = {}
        if self.pruning:
            out["pruning"] = dict(self.pruning)
        if self.model is not None:
            out["model"] = self.model
        return out


def _drop_defaults(d: dict[str, Any]) -> dict[str, Any]:
    """``d`` without the published-condition fields and the settings' own fields at their defaults (lists for
    tuples, as JSON has them)."""
    defaults = {**PUBLISHED_FIELDS, **{k: v for s in SETTINGS.values() for k, v in s.fields.items()}}
    out = {}
    for k, v in d.items():
        if k in defaults and _same(v, defaults[k]):
            continue
        out[k] = list(v) if isinstance(v, tuple) else v
    return out


def _same(a: Any, b: Any) -> bool:
    return list(a) == list(b) if isinstance(a, list | tuple) else a == b


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
