"""Measure built HTML pages in headless Chromium: clipped code blocks, images, outputs.

Usage (after ``make docs``; needs Debian's ``chromium``)::

    python docs/tools/check_pages.py docs/_build/html --width 1400 --screenshots /tmp/shots

For each tutorial page (and any page given with ``--page``) it prints the number of code
blocks and how many are clipped (wider than their box, so the reader must scroll), the
images shown (loaded, non-zero size) and the output blocks. Exit status 1 if any code
block is clipped or a tutorial shows no image.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PROBE = """
<script>
window.addEventListener("load", () => {
  const pres = [...document.querySelectorAll("article div.highlight pre")];
  const clipped = pres.filter(p => p.scrollWidth > p.clientWidth + 1);
  const imgs = [...document.querySelectorAll("article img")]
    .filter(i => i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().width > 0);
  const out = {
    code_blocks: pres.length,
    clipped: clipped.map(p => p.textContent.split("\\n").find(l => l.length > 0).slice(0, 60)),
    images: imgs.length,
    outputs: document.querySelectorAll("article .sphx-glr-script-out").length,
    content_width: Math.round(document.querySelector("article").getBoundingClientRect().width),
  };
  const el = document.createElement("pre");
  el.id = "page-metrics";
  el.textContent = JSON.stringify(out);
  document.body.appendChild(el);
});
</script>
"""

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--virtual-time-budget=10000"]


def measure(page: Path, width: int, shot: Path | None, browser: str) -> dict:
    page = page.resolve()
    probe = page.with_name(f".probe-{page.name}")
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    try:
        with tempfile.TemporaryDirectory() as profile:
            base = [browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},1000"]
            dom = subprocess.run([*base, "--dump-dom", probe.as_uri()], capture_output=True, text=True,
                                 timeout=120).stdout
            if shot is not None:
                subprocess.run([*base[:-1], f"--window-size={width},2400", f"--screenshot={shot}",
                                probe.as_uri()], capture_output=True, timeout=120)
    finally:
        probe.unlink()
    m = re.search(r'<pre id="page-metrics">(.*?)</pre>', dom, re.S)
    if not m:
        raise RuntimeError(f"{page}: no metrics in Chromium's DOM (did the page load?)")
    return json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html", type=Path, help="the built HTML folder, e.g. docs/_build/html")
    ap.add_argument("--width", type=int, default=1400, help="window width in pixels (default 1400)")
    ap.add_argument("--page", action="append", default=[], help="another page to measure, relative to html")
    ap.add_argument("--screenshots", type=Path, help="folder for one PNG per page")
    ap.add_argument("--browser", default=shutil.which("chromium") or "chromium", help="the Chromium binary")
    args = ap.parse_args(argv)
    tutorials = sorted((args.html / "tutorials").glob("*.html"))
    pages = [p for p in tutorials if p.name != "index.html"] + [args.html / p for p in args.page]
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    bad = 0
    for page in pages:
        name = str(page.relative_to(args.html)).replace("/", "_").removesuffix(".html")
        shot = args.screenshots.resolve() / f"{name}.png" if args.screenshots else None
        m = measure(page, args.width, shot, args.browser)
        is_tutorial = page.parent.name == "tutorials"
        ok = not m["clipped"] and (m["images"] > 0 or not is_tutorial)
        bad += not ok
        print(f"{page.relative_to(args.html)}: {m['code_blocks']} code blocks, {len(m['clipped'])} clipped, "
              f"{m['images']} images, {m['outputs']} outputs, content {m['content_width']} px"
              f"{'' if ok else '  <-- FAIL'}")
        for line in m["clipped"]:
            print(f"    clipped: {line}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
