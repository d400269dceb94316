"""Sphinx configuration for the evoprune documentation.

Build with ``make docs`` (warnings are errors)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

import os
import sys

# Import evoprune from the repository root (works without installing the package).
sys.path.insert(0, os.path.abspath(".."))

import evoprune

project = "evoprune"
author = "evoprune contributors"
copyright = "2025, evoprune contributors"
release = evoprune.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

# evoprune's runtime dependencies (torch, deap, numpy, scipy) are installed in the
# docs environment, so nothing needs to be mocked.
autodoc_mock_imports: list[str] = []
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "description"

# NumPy-style docstrings ("Parameters\n----------").
napoleon_google_docstring = False
napoleon_numpy_docstring = True

templates_path: list[str] = []
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

nitpicky = False

html_theme = "alabaster"
html_static_path: list[str] = []

