"""Compiled kernel backends: building and loading C++ extensions (:mod:`evoprune.backends.build`)."""
