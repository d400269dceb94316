"""Sphinx configuration for the evoprune documentation.

``make docs`` (and ``make test``) build it with warnings as errors::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The tutorials are the scripts in ``examples/tutorials/``: sphinx-gallery executes each
one during the build and shows its printed output and figures under its code.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Import evoprune from the repository root (works without installing the package).
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE / "_ext"))

import evoprune  # noqa: E402

project = "evoprune"
author = "evoprune contributors"
copyright = "2025, evoprune contributors"
release = evoprune.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx.ext.intersphinx",
    "sphinx_gallery.gen_gallery",
    "sphinxarg.ext",
    "quoted_numbers",
    "no_leaks",
    "reproduction_page",
    "published_page",
    "floor_page",
]

# -- API reference -------------------------------------------------------------------

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "description"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
# Escape a trailing underscore (lambda_) so reST does not read the name as a link to "lambda".
strip_signature_backslash = True

nitpicky = True
# Names that have no page to link to (each with the reason).
# the layer classes' module_type values render by their defining module (torch documents them as torch.nn.X)
nitpick_ignore_regex = [("py:class", r"torch\.nn\.modules\..*")]

# -- Links to other projects (offline) -------------------------------------------------

# The build has no network: the inventories of the external names the docs reference are
# written from the table in _ext/inventories.py into the (git-ignored) build folder.
from inventories import write_inventories  # noqa: E402

intersphinx_mapping = write_inventories(HERE / "_build" / "inventories")
intersphinx_timeout = 1
intersphinx_cache_limit = 0  # re-read the local files at every build (cheap, never stale)

# -- Tutorials (sphinx-gallery) ------------------------------------------------------

# The tutorials run with the fused CPU kernel when it is built, as a user's script would.
os.environ.pop("EVOPRUNE_FUSED", None)
os.environ.setdefault("MPLBACKEND", "Agg")

sphinx_gallery_conf = {
    "examples_dirs": [str(HERE.parent / "examples" / "tutorials")],
    "gallery_dirs": ["tutorials"],
    "filename_pattern": r"\.py$",  # execute every tutorial, not only plot_*.py
    "within_subsection_order": "ordering.TutorialOrder",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "image_scrapers": ("matplotlib",),
    "image_srcset": ["2x"],  # figures also at twice the resolution, for zooming and dense screens
    "capture_repr": (),  # show what the code prints, not the repr of a block's last line
    "min_reported_time": 1,
    "write_computation_times": False,
    "show_memory": False,
    "show_signature": False,
    # after each tutorial: matplotlib's defaults, and no pruning method it registered
    "reset_modules": ("matplotlib", "no_leaks.forget_tutorial_methods"),
}

# -- Reproduction page (_ext/reproduction_page.py) -----------------------------------

# The measured part of reproduction.rst is computed at every build from this pack folder (relative to
# the repository; $EVOPRUNE_REPRODUCTION_PACK overrides it). The pack does not record how its runs
# were run: these say it (the page projects the study's wall time with them).
reproduction_pack = "results/paper"
reproduction_workers = 2
reproduction_machine = "the shared 2-core development machine"
published_pack = "results/published"
ablation_pack = "results/ablation"
published_store_pack = "results/published_store"
published_4000_pack = "results/published_4000"
baseline_pack = "results/baseline"
sparsest_pack = "results/sparsest"

# -- Pages ---------------------------------------------------------------------------

templates_path = ["_templates"]
exclude_patterns = ["_build", "_generated", "Thumbs.db", ".DS_Store", "tutorials/*.ipynb", "tutorials/*.py"]

html_theme = "furo"
html_title = f"evoprune {release}"
html_static_path = ["_static"]
html_css_files = ["wide.css"]
REPOSITORY = "https://github.com/evoprune/evoprune"
# The repository link under the project name, at the head of the side menu on every page.
html_sidebars = {"**": ["sidebar/brand.html", "sidebar/repository.html", "sidebar/search.html",
                        "sidebar/scroll-start.html", "sidebar/navigation.html", "sidebar/scroll-end.html"]}
html_theme_options = {
    # "view source" and "edit" buttons at the top of every page, and the repository in the footer
    "source_repository": f"{REPOSITORY}/",
    "source_branch": "main",
    "source_directory": "docs/",
    "footer_icons": [{"name": "GitHub", "url": REPOSITORY, "class": "",
                      "html": "GitHub repository"}],
}
pygments_style = "friendly"
# Option names such as --out stay as typed (no en dashes), in prose and in the CLI page.
smartquotes = False
