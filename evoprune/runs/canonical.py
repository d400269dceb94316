"""The canonical setting: one autoencoder (or μ of them) trained by gradient descent, pruned between epochs."""

from __future__ import annotations

from deap import base, creator, tools

from ..algorithms import muLambdaSteps
from ..evaluation import evaluate, evaluate_tradeoff
from ..selection import selParsimony
from .common import base_toolbox, ensure_creator, init_rng, register_pruning, run_architecture, run_stats, select_final
from .registry import Setting, register_setting

__all__ = ["Canonical", "canonical_toolbox"]


class Canonical(Setting):
    """(μ + λ) training (μ = λ = 1 by default) with parsimony, best or NSGA-II survivor selection, or (μ, λ)
    with ``selection = "always"``: every epoch's child is kept, as the published canonical training."""

    name = "canonical"
    record_keys = ("test_min", "kept_min")

    def toolbox(self, cfg, data) -> base.Toolbox:
        tb = base_toolbox(cfg, data)
        if cfg.selection == "nsga2":
            tb.register("evaluate", evaluate_tradeoff, data=data.train)
            tb.register("select", tools.selNSGA2)
        else:
            tb.register("evaluate", evaluate, data=data.train)
            if cfg.selection == "parsimony":
                tb.register("select", selParsimony, tolerance=cfg.tolerance)
            else:  # best; or always: the (1, 1) loop keeps the child whatever its fitness
                tb.register("select", tools.selBest)
        register_pruning(tb, cfg, data, last="T")
        return tb

    def population(self, cfg, data, seed: int) -> list:
        ensure_creator()
        arch = run_architecture(cfg, data)
        cls = creator.AETradeoffIndividual if cfg.selection == "nsga2" else creator.AEIndividual
        init = init_rng(seed)
        return [cls(arch, rng=init, lr=cfg.lr) for _ in range(cfg.mu)]

    def prune_first(self, cfg) -> bool:
        return True if cfg.prune_first is None else cfg.prune_first

    def stats(self, cfg, data):
        return run_stats(data)

    def steps(self, cfg, data, toolbox, population, rng, stats, checkpoint, resume_from):
        return muLambdaSteps(population, toolbox, cfg.mu, cfg.lambda_, cfg.generations,
                             plus=cfg.selection != "always", stats=stats, rng=rng, checkpoint=checkpoint,
                             resume_from=resume_from)

    def final(self, cfg, population, data):
        return population[0] if len(population) == 1 else select_final(population, data.validation, cfg.tolerance)


CANONICAL = register_setting(Canonical())


def canonical_toolbox(cfg, data) -> base.Toolbox:
    """The (μ + λ) canonical-training toolbox for ``cfg`` (selection: parsimony, best or NSGA-II)."""
    return CANONICAL.toolbox(cfg, data)
