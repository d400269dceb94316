"""Measure built HTML pages in headless Chromium: page overflow, side menus, code blocks, images.

Usage (after ``make docs``; needs Debian's ``chromium``)::

    python docs/tools/check_pages.py docs/_build/html --width 1280 --width 1400 --width 1920 --all
    python docs/tools/check_pages.py docs/_build/html --width 1400 --screenshots /tmp/shots

For each tutorial page (every page with ``--all``, and any page given with ``--page``), at
each width, it prints the page's width against the window's (a page wider than the window
scrolls sideways), the side menus cut off by the window's edge, the code blocks and how many
are clipped (wider than their box, so the reader must scroll), the images shown (loaded,
non-zero size) and those without alt text, and the output blocks. Exit status 1 if any page
overflows, any menu is cut, any code block is clipped, any image is missing or lacks alt text,
or a tutorial shows no image.
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
  const all = [...document.querySelectorAll("article img")];
  const imgs = all.filter(i => i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().width > 0);
  const win = document.documentElement.clientWidth;
  const cut = [...document.querySelectorAll(".sidebar-drawer, .toc-drawer")]
    .filter(d => getComputedStyle(d).display !== "none" && d.getBoundingClientRect().width > 0)
    .filter(d => d.getBoundingClientRect().right > win + 1 || d.getBoundingClientRect().left < -1)
    .filter(d => !(d.classList.contains("toc-drawer") && getComputedStyle(d).position === "fixed"))
    .map(d => d.className);
  const out = {
    page_width: document.documentElement.scrollWidth,
    window_width: win,
    menus_cut: cut,
    code_blocks: pres.length,
    clipped: clipped.map(p => p.textContent.split("\\n").find(l => l.length > 0).slice(0, 60)),
    images: imgs.length,
    broken_images: all.length - imgs.length,
    no_alt: all.filter(i => !(i.getAttribute("alt") || "").trim()).map(i => i.getAttribute("src")),
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
    ap.add_argument("--width", type=int, action="append", help="window width in pixels (repeatable; default 1400)")
    ap.add_argument("--all", action="store_true", help="measure every page, not only the tutorials")
    ap.add_argument("--page", action="append", default=[], help="another page to measure, relative to html")
    ap.add_argument("--screenshots", type=Path, help="folder for one PNG per page and width")
    ap.add_argument("-v", "--verbose", action="store_true", help="with --all, print every page, not only failures")
    ap.add_argument("--browser", default=shutil.which("chromium") or "chromium", help="the Chromium binary")
    args = ap.parse_args(argv)
    widths = args.width or [1400]
    if args.all:
        skip = ("_static", "_sources", "_images", "_downloads")
        pages = sorted(p for p in args.html.rglob("*.html")
                       if not p.name.startswith(".") and not set(p.relative_to(args.html).parts) & set(skip))
    else:
        tutorials = sorted((args.html / "tutorials").glob("*.html"))
        pages = [p for p in tutorials if p.name != "index.html"]
    pages += [args.html / p for p in args.page]
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    bad = 0
    for width in widths:
        wide = cut = clipped = no_alt = 0
        for page in pages:
            name = str(page.relative_to(args.html)).replace("/", "_").removesuffix(".html")
            shot = args.screenshots.resolve() / f"{name}-{width}.png" if args.screenshots else None
            m = measure(page, width, shot, args.browser)
            is_tutorial = page.parent.name == "tutorials" and page.name != "index.html"
            if "_modules" in page.parts:  # source listings scroll inside their box by design
                m["clipped"] = []
            ok = (not m["clipped"] and (m["images"] > 0 or not is_tutorial) and m["page_width"] <= m["window_width"]
                  and not m["menus_cut"] and not m["no_alt"] and not m["broken_images"])
            bad += not ok
            wide += m["page_width"] > m["window_width"]
            cut += bool(m["menus_cut"])
            clipped += len(m["clipped"])
            no_alt += len(m["no_alt"]) + m["broken_images"]
            if ok and args.all and not args.verbose:
                continue
            print(f"{width} px {page.relative_to(args.html)}: page {m['page_width']} px, {m['code_blocks']} code "
                  f"blocks, {len(m['clipped'])} clipped, {m['images']} images ({len(m['no_alt'])} without alt text, "
                  f"{m['broken_images']} not shown), {m['outputs']} outputs, content {m['content_width']} px"
                  f"{'' if not m['menus_cut'] else ', cut: ' + ' '.join(m['menus_cut'])}{'' if ok else '  <-- FAIL'}")
            for line in m["clipped"]:
                print(f"    clipped: {line}")
            for src in m["no_alt"]:
                print(f"    no alt text: {src}")
        print(f"{width} px: {len(pages)} pages, {wide} wider than the window, {cut} with a side menu cut, "
              f"{clipped} clipped code blocks, {no_alt} images missing or without alt text")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
