"""Sphinx extension: the tutorials leave no trace in the other pages.

sphinx-gallery runs every tutorial in the process that builds the API pages, as module
``__main__``. After each tutorial, :func:`forget_tutorial_methods` unregisters the pruning
methods it defined; when the build ends, every HTML page that contains ``__main__`` is a
warning (an error under ``sphinx -W``).
"""

from __future__ import annotations

from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)


def forget_tutorial_methods(gallery_conf, fname, when=None) -> None:
    """sphinx-gallery ``reset_modules`` hook: drop the pruning methods a tutorial registered."""
    from evoprune.pruning import METHODS, unregister_method

    for name, cls in list(METHODS.items()):
        if cls.__module__ == "__main__":
            unregister_method(name)


def pages_with(folder: Path, text: str = "__main__") -> list[Path]:
    """The HTML pages under ``folder`` that contain ``text``."""
    return sorted(p for p in folder.rglob("*.html") if text in p.read_text(encoding="utf-8", errors="replace"))


def _check(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    for page in pages_with(Path(app.outdir)):
        logger.warning("%s contains '__main__': state of a tutorial leaked into the page",
                       page.relative_to(app.outdir))


def setup(app):
    app.connect("build-finished", _check)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
