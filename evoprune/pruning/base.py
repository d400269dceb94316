"""The pruning abstraction: :class:`PruningMethod` (scores → masks), its registry and the DEAP operator.

In the spirit of :class:`torch.nn.utils.prune.BasePruningMethod`, a method
says how to *score* the entries (or whole neurons) of a stack of genomes; the
shared code here turns scores, ``amount`` and ``scope`` into new masks:

- low scores are pruned first, ``inf`` means "keep"; entries already pruned
  are never candidates, so masks only shrink;
- ``amount`` is the fraction of the candidates (unpruned, finite score) to
  prune, per tensor (entry methods) or per layer (neuron methods) with
  ``scope="layer"``, or over the whole genome with ``scope="global"``;
  ``amount=None`` prunes every candidate;
- ties at the cut-off are broken with the member's generator (or by position
  for a method with ``random_ties = False``);
- a layer is never emptied: its last unpruned weight (or neuron) stays.

Defining a subclass with a ``name`` registers it in :data:`METHODS`; its hyper-parameters are the keyword
arguments of its ``__init__``, stored as attributes of the same name (as scikit-learn estimators do).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from ..backends import stack_halves, stacked_forward
from ..layers import check_rows
from ..rng import RNGLike, as_generator
from ..util import flat
from ..util.plugins import load_entry_points
from ..util.validation import check_choice, check_fraction
from .prune_stack import PruneStack

#: Registered pruning methods by name, in definition order (the order of :func:`method_names`).
METHODS: dict[str, type[PruningMethod]] = {}

#: Default base probability of the pruning schedule for a method without a paper probability.
DEFAULT_P = 0.5

#: Valid ``scope`` values: prune a fraction of every tensor or layer, or of the whole genome.
SCOPES = ("layer", "global")

#: What pruning leaves: ``permanent`` masks (a pruned weight stays 0), or ``transient`` zeros that training
#: may regrow (no mask is kept; Adam's moments stay), as the published code's ``prune.remove``.
MASKS = ("permanent", "transient")


class PruningMethod:
    """Base class of pruning methods; subclasses set the class attributes and implement :meth:`scores`.

    ``class M(PruningMethod, register=False)`` is not registered.

    Parameters
    ----------
    amount
        Fraction of the candidates to prune (``None``: all of them).
    scope
        ``"layer"`` or ``"global"`` (see :data:`SCOPES`).
    """

    #: The name in study files.
    name: ClassVar[str] = ""
    #: ``"entry"`` (scores have the shape of the parameters) or ``"neuron"`` (one score per output neuron).
    unit: ClassVar[str] = "entry"
    #: Whether :meth:`scores` reads activations.
    needs_data: ClassVar[bool] = False
    #: Whether :meth:`scores` reads the training passes' activity (``Half.activity``), so training records it.
    reads_training: ClassVar[bool] = False
    #: The schedule's base probability in the paper (``None``: :data:`DEFAULT_P`).
    paper_p: ClassVar[float | None] = None
    #: Whether ties at the cut-off are drawn (else broken by position).
    random_ties: ClassVar[bool] = True
    #: Whether the output layer's activations are read before its activation (logits), as the published code's
    #: forward hooks on the decoder's last Linear layer read them (a dense decoder's; a layered one's after it).
    logits: ClassVar[bool] = False
    #: Whether a layer keeps its last unpruned weight or neuron (False only for a published method without
    #: that guard).
    keeps_layers: ClassVar[bool] = True
    #: Which rows a data method reads whatever a run's ``pruning_data`` says (``None``: the run's choice).
    reads: ClassVar[str | None] = None
    #: Whether the method reproduces the published code's behaviour, defects included (not one to choose).
    published: ClassVar[bool] = False

    def __init__(self, amount: float | None = 0.1, scope: str = "layer") -> None:
        self.amount = None if amount is None else check_fraction("amount", amount)
        self.scope = check_choice("pruning scope", scope, SCOPES)

    def __init_subclass__(cls, register: bool = True, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        check_choice(f"unit of pruning method {cls.__name__}", cls.unit, ("entry", "neuron"))
        if register and cls.__dict__.get("name"):
            register_method(cls)

    # -- hyper-parameters ---------------------------------------------------
    @classmethod
    def hyper_parameters(cls) -> dict[str, Any]:
        """The keyword arguments of ``__init__`` and their defaults (what a study file may set)."""
        sig = inspect.signature(cls.__init__)
        return {k: p.default for k, p in sig.parameters.items()
                if k != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}

    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters' values: each must be stored as an attribute of the same name."""
        missing = [k for k in self.hyper_parameters() if not hasattr(self, k)]
        if missing:
            raise AttributeError(f"pruning method {type(self).__name__}: store the parameter(s) {missing} "
                                 f"as attributes of the same name in __init__")
        return {k: getattr(self, k) for k in self.hyper_parameters()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.get_params() == self.get_params()

    def __hash__(self) -> int:
        return hash((type(self), tuple(self.get_params().items())))

    # -- what a subclass implements -----------------------------------------
    def scores(self, stack: PruneStack, rngs: Sequence[np.random.Generator]) -> list[list[torch.Tensor]]:
        """Scores per half: for ``unit="entry"`` one ``(N, ...)`` tensor per parameter tensor, for
        ``unit="neuron"`` one ``(N, out)`` tensor per layer.  Low is pruned first, ``inf`` is kept.

        Parameters
        ----------
        stack
            The genomes to score, stacked.
        rngs
            One NumPy generator per member (member i draws from ``rngs[i]`` only).
        """
        raise NotImplementedError

    # -- shared code ------------------------------------------------------------
    def prune(self, individuals: Sequence, rngs: Sequence[RNGLike], data: torch.Tensor | None = None,
              masks: str = "permanent") -> list:
        """Prune ``individuals`` in place, each with its own generator; returns ``[(ind,), ...]``.

        ``zeros_at_prune`` counts each half's exactly-zero parameters after it, ``[encoder, decoder]`` (the published
        code's ``n_pruned``; a grid's child takes each half's count with the half).

        Parameters
        ----------
        individuals
            Genomes to prune (modified in place).
        rngs
            One seed or generator per genome.
        data
            Training data (methods with ``needs_data``), else ``None``.
        masks
            ``"permanent"``, or ``"transient"`` (see :data:`MASKS`).
        """
        check_choice("masks", masks, MASKS)
        individuals = list(individuals)
        rngs = [as_generator(g) for g in rngs]
        if len(rngs) != len(individuals):
            raise ValueError(f"got {len(individuals)} individuals and {len(rngs)} generators")
        if not individuals:
            return []
        stack = self._stack(individuals, rngs, data)
        scores = self.scores(stack, rngs)
        for i, (ind, g) in enumerate(zip(individuals, rngs, strict=True)):
            member = [[s[i].detach().cpu().double() for s in half] for half in scores]
            self._apply(ind, member, g, masks == "permanent")
            ind.zeros_at_prune = [sum(int((p == 0).sum()) for p in h.params) for h in ind.halves]
            for h in ind.halves:  # the recorded passes are those since the last pruning (reset_ae_activations)
                h.activity = None
            if hasattr(ind, "fitness"):
                del ind.fitness.values
        return [(ind,) for ind in individuals]

    def _stack(self, individuals: list, rngs: list[np.random.Generator], data) -> PruneStack:
        if not self.needs_data:
            device = torch.device("cpu") if data is None else data.device
            enc = stack_halves([i.encoder for i in individuals], device)
            dec = stack_halves([i.decoder for i in individuals], device)
            return PruneStack(individuals, [enc[0], dec[0]], [enc[1], dec[1]], None, device)
        if data is None:
            raise ValueError(f"pruning method {self.name!r} needs data (training rows): "
                             f"pass data=... to mutPrune or register it on the toolbox")
        data = check_rows(data, individuals[0].arch.input_shape, f"pruning data of method {self.name!r}")
        rows = torch.from_numpy(np.stack([self.case_rows(g, data.shape[0]) for g in rngs]))
        x = data[rows.to(data.device)]  # (N, k, D), each member its own cases
        enc = stack_halves([i.encoder for i in individuals], data.device)
        dec = stack_halves([i.decoder for i in individuals], data.device)
        with torch.no_grad():
            acts_e: list[torch.Tensor] = []
            z = stacked_forward(individuals[0].encoder.spec, *enc, x, outputs=acts_e)
            acts_d: list[torch.Tensor] = []
            spec = individuals[0].decoder.spec
            stacked_forward(spec, *dec, z, final_activation=not (self.logits and spec.dense), outputs=acts_d)
        return PruneStack(individuals, [enc[0], dec[0]], [enc[1], dec[1]], [acts_e, acts_d], data.device)

    def case_rows(self, g: np.random.Generator, n_rows: int) -> np.ndarray:
        """The rows a member's activations are recorded on: ``n_cases`` (or all) of them, without replacement.

        Parameters
        ----------
        g
            The member's generator.
        n_rows
            Rows in the data.
        """
        k = min(int(getattr(self, "n_cases", n_rows)), n_rows)
        return g.choice(n_rows, size=k, replace=False)

    def _apply(self, ind, scores: list[list[torch.Tensor]], g: np.random.Generator, permanent: bool = True) -> None:
        """Turn one member's scores into pruned entries or neurons."""
        halves = ind.halves
        if self.unit == "entry":
            alive = [[m.reshape(-1) for m in h.masks] for h in halves]
        else:
            alive = [[h.alive_neurons(layer) for layer in range(h.spec.n_layers)] for h in halves]
        slots = [(hi, k) for hi in range(2) for k in range(len(alive[hi]))]
        by_slot = {s: scores[s[0]][s[1]].reshape(-1) for s in slots}
        cand = {s: torch.nonzero(alive[s[0]][s[1]] & torch.isfinite(by_slot[s])).view(-1) for s in slots}
        groups = [[s] for s in slots] if self.scope == "layer" else [slots]
        chosen: dict[tuple[int, int], torch.Tensor] = {}
        for group in groups:
            idx = torch.cat([cand[s] for s in group])
            owner = torch.cat([torch.full((cand[s].numel(),), j) for j, s in enumerate(group)])
            vals = torch.cat([by_slot[s].index_select(0, cand[s]) for s in group])
            n = idx.numel() if self.amount is None else int(round(self.amount * idx.numel()))
            n = min(n, idx.numel() - self._reserve(halves, alive, group, cand))
            if n <= 0:
                continue
            pick = self._lowest(vals, n, g)
            for j, s in enumerate(group):
                chosen[s] = idx[pick[owner[pick] == j]]
        self._keep_layers(halves, alive, by_slot, chosen)
        for (hi, k), which in chosen.items():
            if which.numel():
                (halves[hi].prune_entries if self.unit == "entry" else halves[hi].prune_neurons)(k, which, permanent)

    def _reserve(self, halves, alive, group, cand) -> int:
        """Candidates that must stay in a per-tensor/per-layer group so that its layer keeps a weight."""
        if len(group) != 1 or not self.keeps_layers:
            return 0
        hi, k = group[0]
        if self.unit == "entry" and flat.is_bias(k):  # biases may all go: the weights keep the layer connected
            return 0
        # the group holds the layer's last alive units: keep one
        return 1 if int(alive[hi][k].sum()) == cand[group[0]].numel() else 0

    def _keep_layers(self, halves, alive, by_slot, chosen) -> None:
        """After a global choice: give back, per emptied layer, its highest-scored chosen weight or neuron."""
        for hi, h in enumerate(halves):
            for layer in range(h.spec.n_layers):
                k = flat.weight(layer) if self.unit == "entry" else layer
                which = chosen.get((hi, k))
                if which is None or which.numel() < int(alive[hi][k].sum()):
                    continue
                chosen[(hi, k)] = which[which != which[torch.argmax(by_slot[(hi, k)][which])]]

    def _lowest(self, vals: torch.Tensor, n: int, g: np.random.Generator) -> torch.Tensor:
        """Positions of the ``n`` lowest ``vals``; ties at the cut-off broken by ``g`` (or by position)."""
        if self.amount is None:  # every candidate goes: nothing to draw
            return torch.arange(vals.numel())
        if not self.random_ties:
            return torch.argsort(vals, stable=True)[:n]
        if bool(vals.min() == vals.max()):  # all tied (e.g. RANDOM): the draw decides
            below, tied = torch.zeros(0, dtype=torch.long), np.arange(vals.numel())
        else:
            cut = torch.kthvalue(vals, n).values
            below = torch.nonzero(vals < cut).view(-1)
            tied = torch.nonzero(vals == cut).view(-1).numpy()
        drawn = torch.from_numpy(np.asarray(g.choice(tied, size=n - below.numel(), replace=False), dtype=np.int64))
        return torch.cat([below, drawn])


def register_method(cls: type[PruningMethod]) -> type[PruningMethod]:
    """Register ``cls`` under ``cls.name`` (done by defining a subclass); a name another class holds is an error.

    Parameters
    ----------
    cls
        The :class:`PruningMethod` subclass (with a ``name``).
    """
    name = cls.__dict__.get("name") or ""
    if not isinstance(name, str) or not name or name == "none":
        raise ValueError(f"pruning method {cls.__qualname__} needs a name other than 'none', got {name!r}")
    old = METHODS.get(name)
    if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"pruning method name {name!r} is taken by {old.__module__}.{old.__qualname__}")
    METHODS[name] = cls
    return cls


def unregister_method(name: str) -> None:
    """Remove a method from the registry (e.g. after a test).

    Parameters
    ----------
    name
        The method's name (absent names are ignored).
    """
    METHODS.pop(name, None)


def method_names() -> tuple[str, ...]:
    """Registered method names in definition order (built-ins first: random, variance, conjunctive, magnitude)."""
    return tuple(METHODS)


def get_method(method: str | PruningMethod | type[PruningMethod], **params: Any) -> PruningMethod:
    """A method instance from a name, a class or an instance (``params`` only with a name or a class).

    Parameters
    ----------
    method
        A registered name, a :class:`PruningMethod` subclass or an instance.
    params
        Hyper-parameters for a name or a class.
    """
    if isinstance(method, PruningMethod):
        if params:
            raise TypeError(f"got a method instance {method!r} and parameters {params}: give one or the other")
        return method
    if isinstance(method, str):
        if method not in METHODS:  # an installed package may register it through an entry point
            load_entry_points()
        check_choice("pruning method", method, METHODS)
        method = METHODS[method]
    if not (isinstance(method, type) and issubclass(method, PruningMethod)):
        raise TypeError(f"method must be a name, a PruningMethod subclass or instance, got {method!r}")
    valid = method.hyper_parameters()
    for k in params:
        if k not in valid:
            raise TypeError(f"pruning method {method.name!r} has no parameter {k!r}; valid: {', '.join(valid)}")
    return method(**params)


def paper_probability(name: str) -> float:
    """The schedule's base probability for method ``name``: its ``paper_p``, else :data:`DEFAULT_P`.

    Parameters
    ----------
    name
        A registered method name.
    """
    p = METHODS[name].paper_p
    return DEFAULT_P if p is None else float(p)
