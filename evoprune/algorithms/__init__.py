"""Evolutionary algorithms in DEAP's style: ``eaX(population, toolbox, ...) -> (population, logbook)``.

The toolbox supplies the operators:

* ``train(ind, rng=...)`` — training as variation (e.g. :func:`evoprune.training.mutTrain`);
* ``mutate(ind, rng=...)`` — optional strategy mutation (e.g. :func:`evoprune.training.mutLearningRate`);
* ``prune(ind, rng=...)`` and ``schedule(t, T, n)`` — optional pruning mutation and its
  :class:`evoprune.schedules.Schedule`;
* ``loss(t, T)`` — optional loss schedule (e.g. :class:`evoprune.training.LossSchedule`);
* ``mate(ind1, ind2, rng=...)`` — optional crossover;
* ``evaluate(ind)`` — returns a fitness tuple;
* ``select(individuals, k)`` — survivor selection (default: best);
* ``map`` — chunks of the variation stack go through it, so a process pool or a
  dask client can be registered.

Each algorithm drives a generator of variation requests (``muLambdaSteps``, ``gridSteps``) through
:func:`evoprune.engine.variation.vary`.  Every random choice comes from the ``rng`` argument.
"""

from .grid import CONCEPTS, PAIRINGS, best_centre, eaToroidalGrid, gridSteps, select_pair, tournament
from .mulambda import eaMuCommaLambda, eaMuPlusLambda, muLambdaSteps

__all__ = [
    "CONCEPTS",
    "best_centre",
    "eaMuCommaLambda",
    "eaMuPlusLambda",
    "eaToroidalGrid",
    "gridSteps",
    "muLambdaSteps",
    "select_pair",
    "PAIRINGS",
    "tournament",
]
