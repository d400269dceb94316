"""Copy each built tutorial page's code blocks, in order, into a script; run it; compare outputs.

Usage (after ``make docs``)::

    python docs/tools/check_tutorials.py docs/_build/html

This is what a reader does: the executed code blocks of ``tutorials/<name>.html`` (the
ones sphinx-gallery ran, not the illustrative snippets in the text) are concatenated
into one file and run in a fresh interpreter, in an empty folder; its printed output
must equal the output blocks shown on the page, line by line (spaces at either end and
blank lines aside). Exit status 1 on any difference.
"""

from __future__ import annotations

import argparse
import difflib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bs4 import BeautifulSoup


def page_blocks(html: Path) -> tuple[str, str]:
    """The page's executed code, joined, and its shown output, joined."""
    soup = BeautifulSoup(html.read_text(encoding="utf-8"), "html.parser")
    article = soup.find("article")
    code = [div.get_text() for div in article.select("div.highlight-Python pre")]
    out = [div.get_text() for div in article.select("div.sphx-glr-script-out pre")]
    return "\n".join(code), "\n".join(out)


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def check(html: Path, timeout: int) -> list[str]:
    code, shown = page_blocks(html)
    env = {k: v for k, v in os.environ.items() if k != "EVOPRUNE_FUSED"}
    env["MPLBACKEND"] = "Agg"
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / f"{html.stem}.py"
        script.write_text(code, encoding="utf-8")
        proc = subprocess.run([sys.executable, str(script)], cwd=tmp, env=env, capture_output=True, text=True,
                              timeout=timeout)
    if proc.returncode != 0:
        return [f"exit status {proc.returncode}", *proc.stderr.splitlines()[-5:]]
    return [d for d in difflib.unified_diff(lines(shown), lines(proc.stdout), "page", "script", lineterm="", n=0)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html", type=Path, help="the built HTML folder, e.g. docs/_build/html")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per tutorial (default 300)")
    args = ap.parse_args(argv)
    pages = [p for p in sorted((args.html / "tutorials").glob("*.html")) if p.name != "index.html"]
    if not pages:
        print(f"no tutorial pages under {args.html / 'tutorials'}: build the docs first")
        return 1
    bad = 0
    for page in pages:
        diff = check(page, args.timeout)
        bad += bool(diff)
        print(f"{page.name}: {'same output as the page' if not diff else 'DIFFERS'}")
        for line in diff[:20]:
            print(f"    {line}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
