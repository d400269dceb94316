"""Sphinx extension: the tutorials leave no trace in the other pages.

sphinx-gallery runs every tutorial in the process that builds the API pages, as module
``__main__``. After each tutorial, :func:`forget_tutorial_methods` unregisters the pruning
methods it defined; when the build ends, every HTML page whose text names ``__main__`` is a
warning (an error under ``sphinx -W``). The one exception is the main-module guard itself
(``if __name__ == "__main__":``), which the pages on worker processes must show.

It also gives the gallery's thumbnails (sphinx-gallery leaves their alt text empty) alt text
naming the tutorial they come from.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)


def forget_tutorial_methods(gallery_conf, fname, when=None) -> None:
    """sphinx-gallery ``reset_modules`` hook: drop the pruning methods a tutorial registered."""
    from evoprune.pruning import METHODS, unregister_method

    for name, cls in list(METHODS.items()):
        if cls.__module__ == "__main__":
            unregister_method(name)


TAG = re.compile(r"<[^>]+>")
GUARD = re.compile(r"""__name__\s*==\s*["']__main__["']""")


def names_main(page: str) -> bool:
    """Whether the HTML ``page`` names ``__main__`` anywhere but in a main-module guard."""
    return "__main__" in GUARD.sub("", html.unescape(TAG.sub("", page)))


def pages_with(folder: Path) -> list[Path]:
    """The HTML pages under ``folder`` that name ``__main__`` (see :func:`names_main`)."""
    return sorted(p for p in folder.rglob("*.html") if names_main(p.read_text(encoding="utf-8", errors="replace")))


def _check(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    for page in pages_with(Path(app.outdir)):
        logger.warning("%s contains '__main__': state of a tutorial leaked into the page",
                       page.relative_to(app.outdir))


THUMB = re.compile(r"sphx_glr_(\w+?)_thumb\.\w+$")


def _thumbnail_alt(app, doctree, docname) -> None:
    for image in doctree.findall(nodes.image):
        m = THUMB.search(image.get("uri", ""))
        if m and not image.get("alt"):
            image["alt"] = f"first figure of the {m.group(1).replace('_', ' ')} tutorial"


def setup(app):
    app.connect("doctree-resolved", _thumbnail_alt)
    app.connect("build-finished", _check)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
