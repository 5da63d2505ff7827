"""Rendering an analytics report in headless Chromium and reading off what a person would
notice: JavaScript console errors, text cut off at the edge of its chart, elements wider
than their container, requests for anything outside the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Every SVG <text> must lie inside its <svg> (a clipped axis or bar label otherwise), every
# card and table box inside its section, and the page must not scroll sideways.
OVERFLOW_JS = """
() => {
  const out = [];
  const tol = 1.5;
  for (const svg of document.querySelectorAll('svg')) {
    const s = svg.getBoundingClientRect();
    for (const t of svg.querySelectorAll('text')) {
      const r = t.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (r.left < s.left - tol || r.right > s.right + tol || r.top < s.top - tol ||
          r.bottom > s.bottom + tol) {
        const title = svg.querySelector('title');
        out.push({kind: 'svg text', text: t.textContent.slice(0, 60),
                  chart: title ? title.textContent.slice(0, 60) : '',
                  over: [Math.round(s.left - r.left), Math.round(r.right - s.right),
                         Math.round(s.top - r.top), Math.round(r.bottom - s.bottom)]});
      }
    }
  }
  for (const el of document.querySelectorAll('section > *, .card, h1, h2, h3, .verdict')) {
    const parent = el.parentElement;
    if (!parent) continue;
    const p = parent.getBoundingClientRect();
    const r = el.getBoundingClientRect();
    if (r.right > p.right + tol || r.left < p.left - tol) {
      out.push({kind: 'box', tag: el.tagName + '.' + el.className,
                text: (el.textContent || '').slice(0, 60), over: Math.round(r.right - p.right)});
    }
  }
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth + 1) {
    out.push({kind: 'page', text: 'scrolls sideways', over: doc.scrollWidth - window.innerWidth});
  }
  return out;
}
"""


def check_page(browser: Any, html: str | Path, screenshot: str | Path) -> dict[str, Any]:
    """Open ``html`` (a file) at 1280 px wide, screenshot the full page, and return the
    console errors, page errors, outside requests and overflowing elements."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url)
            if not r.url.startswith(("file:", "data:", "about:")) else None)
    page.goto(Path(html).resolve().as_uri())
    page.wait_for_load_state("load")
    overflow = page.evaluate(OVERFLOW_JS)
    page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    return {"errors": errors, "requests": requests, "overflow": overflow}
