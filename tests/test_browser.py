"""Open every page of both built editions in headless Chromium, as a reader would.

A page fails if an image is missing or does not decode, an internal link or
anchor leads nowhere, JavaScript reports an error, a notebook's stored outputs
(figures, printed text, glued numbers) did not render, a formula is left as raw
TeX, a code cell or an output scrolls sideways in the 1280 px wide window, the page
itself scrolls sideways on a 390 px phone, or
the page requests anything that is not on localhost (the book must work with no
network: MathJax is served from the book itself). Such requests are aborted,
so the test never depends on the network, and counted as failures. A
screenshot of each page is saved to ``_build/screenshots/<edition>/`` for review.

Chromium is Debian's ``chromium`` package, driven by Playwright.
"""

import functools
import json
import os
import re
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

import pytest

from conftest import EDITIONS, ROOT, toc_files

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = ROOT / "_build" / "screenshots"
WIDTH = 1280  # a laptop's window; the article column is then about 750 px wide
PHONE = 390  # a phone held upright (CSS pixels); code may scroll in its box, the page may not

# Text a reader sees in the article that is not code and not typeset math, and
# what in it would be TeX that MathJax left untouched: \( \) \[ \] $$ or a
# macro such as \frac or \sigma.
RAW_TEX = r"""() => {
  const skip = "pre, code, script, style, mjx-container, .MathJax, .highlight, textarea";
  const walker = document.createTreeWalker(document.querySelector("main") || document.body,
                                           NodeFilter.SHOW_TEXT);
  const found = [];
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement.closest(skip)) continue;
    const text = node.textContent;
    if (/\\[()\[\]]|\$\$|\\[a-zA-Z]{2,}/.test(text)) found.push(text.trim().slice(0, 60));
  }
  return found;
}"""

# Code cells, their outputs and other code blocks that are wider than the
# column they sit in, so the reader has to scroll sideways.
OVERFLOWING = r"""() => Array.from(document.querySelectorAll(
    "main pre, main .cell_output, main .output, main div.highlight"))
  .filter(el => el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1
                && (el.innerText || "").trim() !== "")  // a folded cell shows nothing to scroll
  .map(el => {
    const line = (el.innerText || "").split("\n")
      .reduce((a, b) => (b.length > a.length ? b : a), "");
    const what = el.closest(".cell_output, .output") ? "an output" : "code";
    return `${what} ${el.scrollWidth} px wide in ${el.clientWidth} px: ${line.trim().slice(0, 70)}`;
  })"""


def chromium_path():
    """Debian's Chromium, installed by the test set-up on a clean machine if it is missing."""
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path) and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "chromium"]
        if subprocess.run(install, capture_output=True, env=env, timeout=900).returncode != 0:
            # A fresh machine may not have the package lists yet.
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=900)
            subprocess.run(install, capture_output=True, env=env, timeout=900)
    if not os.path.exists(path):
        pytest.fail("the browser test needs Chromium: install Debian's package with `apt-get install chromium`")
    return path


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def serve(folder):
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def expected_outputs(notebook):
    """How many figures and visible outputs a notebook's pages should show."""
    nb = json.loads(notebook.read_text())
    images = visible = 0
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            images += "image/png" in data
            visible += output["output_type"] == "stream" or any(not k.startswith("application/papermill") for k in data)
    return images, visible


# On a phone, the page itself wider than the screen (so the whole page pans sideways),
# with the innermost element that sticks out past the right edge. A code block or an
# output that scrolls inside its own box is fine there.
WIDER_THAN_THE_PAGE = r"""() => {
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= width + 1) return null;
  const scrolls = el => el.closest("pre, .cell_output, .output, div.highlight, .table-wrapper, mjx-container");
  const out = Array.from(document.querySelectorAll("main *")).filter(el => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.right > width + 1 && !scrolls(el.parentElement || el);
  });
  const inner = out.filter(el => !out.some(other => other !== el && el.contains(other)));
  const el = inner[0] || document.documentElement;
  return `${document.documentElement.scrollWidth} px wide, ${el.tagName.toLowerCase()}: `
    + (el.innerText || "").trim().slice(0, 60);
}"""


def check_site(browser, html_dir, pages, screenshots=None):
    """Open ``pages`` (paths without .html) of the site in ``html_dir``; return the problems found."""
    server = serve(html_dir)
    origin = f"http://127.0.0.1:{server.server_address[1]}/"
    problems, link_targets = [], {}
    context = browser.new_context(viewport={"width": WIDTH, "height": 900})
    outside = []  # every request that would leave localhost, aborted and reported
    context.route(re.compile(r"^(?!http://127\.0\.0\.1[:/])"),
                  lambda route: (outside.append(route.request.url), route.abort()))
    try:
        for name in pages:
            page = context.new_page()
            seen = []
            outside.clear()
            page.on("pageerror", lambda err, seen=seen: seen.append(f"JavaScript error: {err}"))
            page.on("console", lambda msg, seen=seen: seen.append(f"console error: {msg.text}")
                    if msg.type == "error" and msg.location.get("url", "").startswith(origin)
                    and "net::ERR_FAILED" not in msg.text else None)
            page.on("response", lambda r, seen=seen: seen.append(f"{r.status} for {r.url}")
                    if r.url.startswith(origin) and r.status >= 400 else None)
            url = urljoin(origin, f"{name}.html")
            response = page.goto(url, wait_until="load")
            if response is None or response.status != 200:
                problems.append(f"{name}: page not served ({response and response.status})")
                continue
            page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
            page.wait_for_load_state("networkidle")
            # Wait for MathJax (if the page loads it) to typeset every formula.
            page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise"
                          " ? MathJax.startup.promise.then(() => true) : false")
            seen.extend(f"raw TeX on the page: {text!r}" for text in page.evaluate(RAW_TEX))
            seen.extend(f"scrolls sideways at {WIDTH} px, {what}" for what in page.evaluate(OVERFLOWING))
            broken = page.evaluate(
                "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
                ".map(i => i.getAttribute('src'))")
            seen.extend(f"image did not load: {src}" for src in broken)
            for href in page.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"):
                target, fragment = urldefrag(href)
                if not target.startswith(origin):
                    continue
                if target not in link_targets:
                    answer = context.request.get(target)
                    link_targets[target] = answer.text() if answer.ok else None
                body = link_targets[target]
                if body is None:
                    seen.append(f"broken link: {href}")
                elif fragment and target.endswith(".html") and f'id="{fragment}"' not in body:
                    seen.append(f"link to a missing anchor: {href}")
            notebook = ROOT / f"{name}.ipynb"
            if notebook.exists():
                images, visible = expected_outputs(notebook)
                shown_images = page.locator(".cell_output img").count()
                shown = page.locator(".cell_output").count()
                if shown_images < images:
                    seen.append(f"{images} figures stored, {shown_images} rendered")
                if shown < min(visible, 1):
                    seen.append("no notebook output rendered")
                text = page.inner_text("main")
                if "{glue" in text or "papermill.record" in text:
                    seen.append("an unrendered glue reference")
            page.set_viewport_size({"width": PHONE, "height": 844})
            wide = page.evaluate(WIDER_THAN_THE_PAGE)
            if wide:
                seen.append(f"scrolls sideways on a {PHONE} px phone: {wide}")
            page.set_viewport_size({"width": WIDTH, "height": 900})
            if screenshots is not None:
                screenshots.mkdir(parents=True, exist_ok=True)
                page.evaluate("window.scrollTo(0, 0)")
                page.screenshot(path=str(screenshots / f"{name.replace('/', '__')}.png"), full_page=True)
            page.close()
            seen.extend(f"request that leaves localhost: {url}" for url in outside)
            problems.extend(f"{name}: {p}" for p in dict.fromkeys(seen))
    finally:
        context.close()
        server.shutdown()
    return problems


@pytest.mark.parametrize("edition", EDITIONS)
def test_every_page_renders_in_a_browser(built, browser, edition):
    pages = toc_files(EDITIONS[edition]) + ["genindex", "search"]
    problems = check_site(browser, built[edition], pages, screenshots=SCREENSHOTS / edition)
    assert not problems, "\n".join(problems)
    shots = list((SCREENSHOTS / edition).glob("*.png"))
    assert len(shots) >= len(pages)


def test_the_browser_check_catches_a_removed_image_and_a_broken_link(built, browser, tmp_path):
    site = tmp_path / "site"
    shutil.copytree(built["student"], site)
    chapter = site / "book" / "02_mnist_pca.html"
    html = chapter.read_text()
    image = re.search(r'src="\.\./(_images/[^"]+\.png)"', html).group(1)
    (site / image).unlink()
    chapter.write_text(html.replace("</article>", '<a href="no_such_page.html">gone</a></article>', 1))
    problems = check_site(browser, site, ["book/01_introduction", "book/02_mnist_pca"])
    assert any(image in p and p.startswith("book/02_mnist_pca") for p in problems), problems
    assert any("broken link" in p and "no_such_page.html" in p for p in problems), problems
    assert not any(p.startswith("book/01_introduction") for p in problems), problems


def test_the_browser_check_catches_raw_tex_a_request_off_localhost_and_a_wide_code_cell(built, browser, tmp_path):
    site = tmp_path / "site"
    shutil.copytree(built["student"], site)
    page = site / "book" / "index.html"
    wide = "x = " + " + ".join(["value"] * 40)
    page.write_text(page.read_text().replace("</article>", (
        r'<p>A formula left untypeset: \(z = \sigma(W x) </p>'  # no closing delimiter
        '<img src="https://cdn.example.org/logo.png" alt="">'
        f'<div class="highlight"><pre>{wide}</pre></div>'
        '<p><span style="display:inline-block;width:450px">a 450 px wide box</span></p></article>'), 1))
    problems = check_site(browser, site, ["book/index"])
    assert any(f"on a {PHONE} px phone" in p and "450 px wide box" in p for p in problems), problems
    assert any("raw TeX" in p and "sigma" in p for p in problems), problems
    assert any("leaves localhost: https://cdn.example.org/logo.png" in p for p in problems), problems
    assert any("scrolls sideways" in p and "value + value" in p for p in problems), problems
