"""Selection operators for pruned genomes."""

from __future__ import annotations

from collections.abc import Sequence

from .util.validation import check_fraction

__all__ = ["selParsimony"]


def selParsimony(individuals: Sequence, k: int, tolerance: float = 0.01, fit_attr: str = "fitness") -> list:
    """Select ``k`` individuals by fitness with lexicographic parsimony pressure.

    Repeatedly: among the remaining individuals whose (first) fitness value is
    within a relative ``tolerance`` of the best remaining one, take the one
    with the fewest unpruned parameters (ties: better fitness).  With
    ``tolerance=0`` this is :func:`deap.tools.selBest` with sparsity breaking
    exact ties.  In a (1 + 1) loop a pruned child that is (almost) as good as
    its parent replaces it, so pruning is accepted while it costs nothing.

    Parameters
    ----------
    individuals
        Candidates (genomes with a fitness).
    k
        Number to select.
    tolerance
        Relative fitness tolerance within which the smaller genome wins (in [0, 1)).
    fit_attr
        Name of the fitness attribute.

    Returns
    -------
    list
        The ``k`` selected individuals, best first.
    """
    check_fraction("tolerance", tolerance)
    pool = list(individuals)
    if not 0 <= k <= len(pool):
        raise ValueError(f"cannot select k={k} from {len(pool)} individuals")
    chosen = []
    for _ in range(k):
        best = max(getattr(ind, fit_attr).wvalues[0] for ind in pool)
        bar = best - tolerance * abs(best)
        near = [i for i, ind in enumerate(pool) if getattr(ind, fit_attr).wvalues[0] >= bar]
        pick = min(near, key=lambda i: (pool[i].n_kept, -getattr(pool[i], fit_attr).wvalues[0]))
        chosen.append(pool.pop(pick))
    return chosen
