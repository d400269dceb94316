"""The command line: ``evoprune run | report | status | pack | export | compare | info``."""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
