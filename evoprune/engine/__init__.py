"""The engine: one variation step over a stack of genomes, the ask/tell driver, and the trade-off records.

:mod:`~evoprune.engine.variation` holds :func:`~evoprune.engine.variation.vary` and
:func:`~evoprune.engine.variation.lockstep`; :mod:`~evoprune.engine.tradeoff` the (L1, fraction kept)
trade-off each run records.
"""
