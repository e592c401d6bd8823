"""Check a page in a real headless browser: Debian's ``chromium`` driven by playwright-python.

:func:`check_page` opens an HTML file from disk with the network blocked and returns what is
wrong with it: a console error or uncaught exception, any request other than the file itself
(each one is aborted), an image that did not decode (``naturalWidth == 0``), a ``<math>``
element laid out with zero width or height, an in-page link (the table of contents and every
other ``href="#..."``) whose target is missing or is not scrolled into view by a click, a page
wider than the window, and a blank first screen.  The tests run it on both pages, and on broken
pages to show that it fails.

The browser is the system's (``/usr/bin/chromium`` or ``$SCRATCH_CHROMIUM``); nothing is
downloaded (never ``playwright install``).
"""

from __future__ import annotations

import io
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

#: Flags for a quiet, offline, throw-away headless chromium (playwright gives it a fresh profile).
CHROMIUM_ARGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # no name resolves: nothing can leave even past the route
)
#: A laptop screen, in CSS pixels.
LAPTOP = {"width": 1366, "height": 800}


def chromium_path() -> str:
    """The system chromium: ``$SCRATCH_CHROMIUM``, else ``chromium`` on the PATH, else ``/usr/bin/chromium``."""
    return os.environ.get("SCRATCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@contextmanager
def browser() -> Iterator[Any]:
    """A headless system chromium (playwright ``Browser``), closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), args=list(CHROMIUM_ARGS))
        try:
            yield b
        finally:
            b.close()


@dataclass
class PageCheck:
    """What :func:`check_page` found: ``problems`` (empty: the page is fine), counts of what it
    looked at, and the first screen's ``screenshot`` (PNG bytes)."""

    problems: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    screenshot: bytes = b""

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems


_INSPECT = """() => {
  const size = e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; };
  const images = [...document.images].map(i => ({src: i.getAttribute('src').slice(0, 80),
      ok: i.complete && i.naturalWidth > 0 && i.naturalHeight > 0}));
  const maths = [...document.querySelectorAll('math')].map((m, k) => ({k, size: size(m),
      text: (m.getAttribute('alttext') || m.textContent).slice(0, 60)}));
  const links = [...document.querySelectorAll('a[href^="#"]')].map(a => ({href: a.getAttribute('href'),
      toc: !!a.closest('nav')}));
  return {images, maths, links, width: document.documentElement.scrollWidth, window: window.innerWidth,
          text: document.body ? document.body.innerText.length : 0};
}"""

_LANDS = """(href) => {
  const id = decodeURIComponent(href.slice(1));
  const target = document.getElementById(id);
  if (!target) return 'missing';
  const a = [...document.querySelectorAll('a')].find(x => x.getAttribute('href') === href);
  window.scrollTo(0, 0);
  a.click();
  const r = target.getBoundingClientRect();
  if (r.width === 0 && r.height === 0) return 'zero size';
  return (r.top > -2 && r.top < window.innerHeight) ? 'ok' : `not in view (top ${Math.round(r.top)})`;
}"""

_WIDE = """(limit) => [...document.querySelectorAll('body *')].filter(e => {
    const r = e.getBoundingClientRect();
    return r.right > limit + 1 && r.width > 0; }).slice(0, 5).map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '')
      + ' ' + Math.round(e.getBoundingClientRect().right) + 'px')"""


def blank(png: bytes) -> bool:
    """True when a screenshot is (nearly) one colour: fewer than 1% of its pixels differ from the
    most common value by more than a few levels of grey."""
    import numpy as np
    from PIL import Image

    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.int16)
    mode = np.bincount(grey.ravel(), minlength=256).argmax()
    return float(np.mean(np.abs(grey - mode) > 8)) < 0.01


def check_page(b: Any, path: str | Path, *, viewport: dict[str, int] = LAPTOP, print_width: int | None = 700,
               screenshot: str | Path | None = None) -> PageCheck:
    """Open ``path`` in browser ``b`` (from :func:`browser`) with the network blocked and check it.

    Parameters
    ----------
    b : a playwright ``Browser``.
    path : the HTML file.
    viewport : the window, in CSS pixels (default: a laptop screen, 1366 x 800).
    print_width : also lay the page out with print styles at this width (CSS px; A4 minus the
        margins is about 700) and report what sticks out; None skips it.
    screenshot : also write the first screen's screenshot here (PNG).

    Returns
    -------
    PageCheck
    """
    url = Path(path).resolve().as_uri()
    out = PageCheck()
    ctx = b.new_context(viewport=viewport, java_script_enabled=True, service_workers="block")
    page = ctx.new_page()

    def route(r: Any) -> None:
        if r.request.url == url:
            r.continue_()
        else:
            r.abort()

    def on_request(req: Any) -> None:
        if req.url != url and not req.url.startswith("data:"):
            out.problems.append(f"request leaving the file: {req.url[:120]}")

    ctx.route("**/*", route)
    page.on("request", on_request)
    page.on("console", lambda m: m.type == "error" and out.problems.append(f"console error: {m.text[:200]}"))
    page.on("pageerror", lambda e: out.problems.append(f"uncaught exception: {str(e)[:200]}"))
    try:
        page.goto(url, wait_until="load")
        info = page.evaluate(_INSPECT)
        out.counts = {"images": len(info["images"]), "maths": len(info["maths"]), "links": len(info["links"]),
                      "toc_links": sum(x["toc"] for x in info["links"])}
        out.problems += [f"image not decoded: {i['src']}" for i in info["images"] if not i["ok"]]
        out.problems += [f"<math> #{m['k']} laid out at {m['size'][0]:.0f} x {m['size'][1]:.0f} px: {m['text']}"
                         for m in info["maths"] if not (m["size"][0] > 0 and m["size"][1] > 0)]
        if not info["links"] or not any(x["toc"] for x in info["links"]):
            out.problems.append("no table of contents: no in-page link inside a <nav>")
        for href in dict.fromkeys(x["href"] for x in info["links"]):
            verdict = page.evaluate(_LANDS, href)
            if verdict != "ok":
                out.problems.append(f"link {href}: target {verdict}")
        if info["width"] > info["window"] + 1:
            out.problems.append(f"page wider than the window: {info['width']} > {info['window']} px")
        page.evaluate("window.scrollTo(0, 0)")
        out.screenshot = page.screenshot()
        if screenshot:
            Path(screenshot).write_bytes(out.screenshot)
        if blank(out.screenshot):
            out.problems.append("the first screen is blank")
        if print_width:
            page.emulate_media(media="print")
            page.set_viewport_size({"width": print_width, "height": viewport["height"]})
            wide = page.evaluate(_WIDE, print_width)
            if wide:
                out.problems.append(f"printed at {print_width} px, wider than the paper: {', '.join(wide)}")
    finally:
        ctx.close()
    return out
