"""The grid setting: spatial coevolution of encoders and decoders on a toroidal grid."""

from __future__ import annotations

from deap import base, creator

from ..algorithms import best_centre, gridSteps
from ..evaluation import evaluate
from ..selection import selParsimony
from ..topology import Grid
from .common import base_toolbox, ensure_creator, init_rng, register_pruning, run_architecture, run_stats
from .registry import Setting, register_setting

__all__ = ["GridSetting", "grid_toolbox"]


class GridSetting(Setting):
    """:func:`~evoprune.algorithms.eaToroidalGrid` on ``cfg.grid``; the best centre on validation data is reported."""

    name = "grid"
    record_keys = ("best_test", "best_kept")
    saves_population = True
    training_record = "generation"  # the published cells clone their halves, emptying the store, every generation

    def toolbox(self, cfg, data) -> base.Toolbox:
        tb = base_toolbox(cfg, data)
        tb.register("evaluate", evaluate, data=data.train)
        if cfg.replacement == "parsimony":
            tb.register("select", selParsimony, tolerance=cfg.tolerance)
        register_pruning(tb, cfg, data, last="T-1")
        return tb

    def population(self, cfg, data, seed: int) -> list:
        ensure_creator()
        arch = run_architecture(cfg, data)
        init = init_rng(seed)
        return [creator.AEIndividual(arch, rng=init, lr=cfg.lr) for _ in range(Grid.from_string(cfg.grid).n_cells)]

    def stats(self, cfg, data):
        return run_stats(data, test_chapter=False)

    def steps(self, cfg, data, toolbox, population, rng, stats, checkpoint, resume_from):
        return gridSteps(population, toolbox, cfg.grid, cfg.generations, stats=stats, rng=rng, update=cfg.update,
                         concept=cfg.concept, eval_size=cfg.eval_rows, data=data.train, test_data=data.test,
                         checkpoint=checkpoint, resume_from=resume_from, pairing=cfg.pairing)

    def final(self, cfg, population, data):
        return best_centre(population, data.validation)


GRID = register_setting(GridSetting())


def grid_toolbox(cfg, data) -> base.Toolbox:
    """Toolbox for :func:`~evoprune.algorithms.eaToroidalGrid` from ``cfg``."""
    return GRID.toolbox(cfg, data)
