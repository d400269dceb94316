"""Logbook helpers shared by the algorithms."""

from __future__ import annotations

from deap import tools


def new_logbook(fields: list[str], stats) -> tools.Logbook:
    logbook = tools.Logbook()
    logbook.header = fields + (stats.fields if stats else [])
    for name in getattr(stats, "keys", lambda: [])():
        logbook.chapters[name].header = stats[name].fields
    return logbook


def record(logbook, stats, population, gen, nevals, extra, verbose) -> None:
    compiled = stats.compile(population) if stats is not None else {}
    logbook.record(gen=gen, nevals=nevals, **extra, **compiled)
    if verbose:
        print(logbook.stream)
