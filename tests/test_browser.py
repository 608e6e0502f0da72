"""The built book as readers meet it, in a real browser.

Playwright drives Debian's headless Chromium (``/usr/bin/chromium``; Playwright's own browser downloads are
never used), with background networking off. It opens every page of the built site, served from 127.0.0.1,
and checks that

* the math is typeset by the site's own MathJax: no raw TeX left in the text, every ``.math`` element holds
  a MathJax container, no MathJax error boxes;
* every image loaded (``naturalWidth > 0``);
* there is no JavaScript exception, no console error, no failed or >= 400 request, and no request leaves
  the site (the book must work offline; such requests are aborted and reported);
* every same-site link, script, stylesheet and image URL answers HTTP 200 (anchors ignored);
* notebook pages carry the Colab, Binder and download buttons;
* the search page finds "dropout".

A full-page screenshot of every page is written to ``_build/screenshots/`` (``BOOK_SCREENSHOTS`` changes the
folder) for a person to look through. The site is ``_build/html`` (``scripts/run_tests.sh`` builds it before
pytest runs); ``BOOK_HTML`` points the test at another build and ``CHROMIUM`` at another browser binary.
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import shutil
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.built_book, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html")).resolve()
SCREENSHOTS = Path(os.environ.get("BOOK_SCREENSHOTS", ROOT / "_build" / "screenshots")).resolve()

CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests run as root in CI, where Chromium's sandbox cannot start
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-quic", "--disable-dev-shm-usage", "--disable-gpu",
    "--disable-default-apps", "--disable-extensions", "--no-default-browser-check", "--mute-audio",
    "--hide-scrollbars",
]
VIEWPORT = {"width": 1280, "height": 900}
TIMEOUT_MS = 60_000


def find_chromium() -> str:
    for name in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return shutil.which(name)
    pytest.fail("Chromium not found: run `bash scripts/setup.sh` as root (it installs Debian's `chromium`) "
                "or set CHROMIUM=/path/to/chromium. Playwright's own browser download is not used.")


def site_pages(site: Path) -> list[str]:
    """Every HTML page of the built site (not the copied static assets or sources)."""
    if not (site / "index.html").is_file():
        return []
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                  if not any(part.startswith("_") for part in p.relative_to(site).parts))


PAGES = site_pages(SITE)

INSPECT_JS = r"""() => {
  const main = document.querySelector('main') || document.body;
  // Text a reader sees, minus code (where a backslash or $$ is legitimate) and typeset math.
  const clone = main.cloneNode(true);
  clone.querySelectorAll('pre, code, script, style, textarea, .highlight, mjx-container, mjx-assistive-mml')
       .forEach(e => e.remove());
  const text = clone.textContent;
  const rawTex = [];
  const re = /\\[()\[\]]|\$\$|\\(begin|end)\{|\\[a-zA-Z]{2,}/g;
  let m;
  while ((m = re.exec(text)) !== null && rawTex.length < 5) {
    rawTex.push(text.slice(Math.max(0, m.index - 30), m.index + 40).replace(/\s+/g, ' '));
  }
  const inCode = e => e.closest('pre, code, .highlight');
  const mathEls = Array.from(document.querySelectorAll('.math')).filter(e => !inCode(e));
  const untypeset = mathEls.filter(e => !e.querySelector('mjx-container'))
                           .map(e => e.textContent.trim().slice(0, 80));
  // TeX errors: MathJax's error boxes, and the red macro names its 'noundefined' extension leaves.
  const mathErrors = Array.from(document.querySelectorAll(
      'mjx-merror, [data-mjx-error], mjx-assistive-mml merror, mjx-assistive-mml mtext[mathcolor="red"]'))
      .map(e => (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 80));
  const brokenImages = Array.from(document.images)
      .filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src'));
  const urls = [];
  for (const a of document.querySelectorAll('a[href]')) urls.push(a.href);
  for (const e of document.querySelectorAll('link[href]')) urls.push(e.href);
  for (const e of document.querySelectorAll('script[src], img[src]')) urls.push(e.src);
  const sameSite = urls.filter(u => u.startsWith(location.origin + '/')).map(u => u.split('#')[0]);
  const hrefs = Array.from(document.querySelectorAll('a[href]')).map(a => a.href);
  return {
    title: document.title, rawTex, mathCount: mathEls.length, untypeset, mathErrors,
    mathjax: window.MathJax && MathJax.version ? MathJax.version : null,
    mathjaxContainers: document.querySelectorAll('mjx-container').length,
    images: document.images.length, brokenImages, sameSite: Array.from(new Set(sameSite)), hrefs,
  };
}"""

# MathJax typesets after the load event; its startup promise resolves when the first typeset is done.
SETTLE_JS = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  if (document.fonts) await document.fonts.ready;
  await Promise.all(Array.from(document.images).map(img => img.complete ? null :
      new Promise(r => { img.addEventListener('load', r); img.addEventListener('error', r); })));
  return true;
}"""


def _browser_guess(url: str) -> bool:
    """Chromium asks for /favicon.ico on its own on a page without an icon link (the redirect index.html)."""
    return urllib.parse.urlsplit(url).path == "/favicon.ico"


class PageWatch:
    """What one browser tab reports while it loads pages: exceptions, console errors, bad requests.

    Requests that would leave the site are aborted (the test never goes online) and reported.
    """

    def __init__(self, context, page, host: str):
        self.host, self.problems = host, []
        self._offsite: set[str] = set()
        context.route("**/*", self._route)
        page.on("pageerror", lambda err: self.problems.append(f"JavaScript exception: {err.name}: {err.message}"))
        page.on("console", self._console)
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def take(self) -> list[str]:
        """The problems seen since the last call, each once (Chromium may fetch an image twice)."""
        out, self.problems = list(dict.fromkeys(self.problems)), []
        return out

    def _route(self, route):
        url = route.request.url
        scheme, netloc = urllib.parse.urlsplit(url)[:2]
        if scheme in ("http", "https", "ws", "wss") and netloc != self.host:
            self._offsite.add(url)
            self.problems.append(f"request leaves the site (breaks offline reading): {url}")
            route.abort()
        else:
            route.continue_()

    def _console(self, msg):
        # Playwright reports console.error/assert calls and Chromium's own log entries (a failed resource,
        # a blocked script) alike, as console messages of type "error".
        where = msg.location.get("url", "")
        if msg.type in ("error", "assert") and not _browser_guess(where) and where not in self._offsite:
            self.problems.append(f"console.{msg.type}: {msg.text[:300]} {where}".strip())

    def _failed(self, request):
        if request.url in self._offsite or _browser_guess(request.url):
            return
        failure = request.failure or "?"
        if failure == "net::ERR_ABORTED":  # the browser cancelled it itself (navigated on): not a failure
            return
        self.problems.append(f"request failed ({failure}): {request.url}")

    def _response(self, response):
        if response.status >= 400 and not _browser_guess(response.url):
            self.problems.append(f"HTTP {response.status}: {response.url}")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # The browser closes connections it no longer needs (a page navigated away mid-download): not an error.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def serve(root: Path):
    """Serve a folder from 127.0.0.1 on a free port, in a background thread; yields the base URL."""
    httpd = _QuietServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextlib.contextmanager
def chromium_tab(base: str):
    """One tab of Debian's headless Chromium, and the watcher of its events for the site at `base`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_chromium(), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT, service_workers="block")
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            yield page, PageWatch(context, page, urllib.parse.urlsplit(base).netloc)
            context.close()
        finally:
            browser.close()


@pytest.fixture(scope="module")
def site():
    """The built site, served; yields its base URL."""
    if not PAGES:
        pytest.fail(f"No built book at {SITE}: build it first with `bash scripts/build_book.sh` "
                    "(or `jupyter-book build .`); scripts/run_tests.sh does this before pytest.")
    with serve(SITE) as base:
        yield base


@pytest.fixture(scope="module")
def tab(site):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with chromium_tab(site) as page_and_watch:
        yield page_and_watch


def evaluate(page, js: str):
    """page.evaluate; if the page navigates away meanwhile (the redirect index.html), the same on the page it
    lands on, once that has loaded and typeset."""
    from playwright.sync_api import Error

    for attempt in range(3):
        try:
            return page.evaluate(js)
        except Error as err:
            if "navigat" not in str(err) or attempt == 2:
                raise
            page.wait_for_load_state("load")
            if js is not SETTLE_JS:
                evaluate(page, SETTLE_JS)


META_REFRESH = re.compile(r"""<meta[^>]+http-equiv=["']?refresh["']?[^>]+url=([^"'>\s]+)""", re.I)


def open_page(page, watch: PageWatch, url: str) -> None:
    """Load `url`, wait for the load event, MathJax, fonts and images; leave late events time to arrive.
    A redirect page (the site's index.html is a meta refresh) is followed to the page it names."""
    watch.take()  # drop what belongs to the previous page
    try:  # read the page first: once Chromium has followed a redirect, the response body is gone
        with urllib.request.urlopen(url, timeout=30) as r:
            target = META_REFRESH.search(r.read().decode("utf8", errors="replace"))
    except urllib.error.HTTPError:
        target = None  # the browser sees the same error status and the page checks report it
    page.goto(url, wait_until="load")
    if target:
        page.wait_for_url(urllib.parse.urljoin(url, target.group(1)), wait_until="load")
    evaluate(page, SETTLE_JS)
    page.wait_for_timeout(200)


_status_cache: dict[str, int] = {}


def http_status(url: str) -> int:
    if url not in _status_cache:
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                _status_cache[url] = r.status
        except urllib.error.HTTPError as err:
            _status_cache[url] = err.code
    return _status_cache[url]


def screenshot_path(page_name: str) -> Path:
    return SCREENSHOTS / (page_name.removesuffix(".html").replace("/", "__") + ".png")


def check_page(page, watch: PageWatch, base: str, site: Path, page_name: str,
               screenshot: Path | None = None) -> list[str]:
    """Open one page of the site served at `base` from `site`; every problem a reader would meet."""
    open_page(page, watch, base + page_name)
    info = evaluate(page, INSPECT_JS)
    if screenshot is not None:
        page.screenshot(path=screenshot, full_page=True)
    problems = watch.take()
    if info["rawTex"]:
        problems.append(f"raw TeX left in the text: {info['rawTex']}")
    if info["mathCount"]:
        if not info["mathjax"]:
            problems.append(f"{info['mathCount']} math elements but MathJax did not load")
        if info["untypeset"]:
            problems.append(f"math not typeset: {info['untypeset'][:5]}")
    if info["mathErrors"]:
        problems.append(f"MathJax errors: {info['mathErrors'][:5]}")
    if info["brokenImages"]:
        problems.append(f"images that did not load: {info['brokenImages']}")
    for link in info["sameSite"]:
        status = http_status(link)
        if status != 200:
            problems.append(f"link answers HTTP {status}: {link}")
    # A notebook page (in either edition: a Chinese page's sources are under zh_CN/_sources/).
    edition, rest = (site / "zh_CN", Path(*Path(page_name).parts[1:])) if Path(page_name).parts[0] == "zh_CN" \
        else (site, Path(page_name))
    if (edition / "_sources" / rest).with_suffix(".ipynb").is_file():
        hrefs = info["hrefs"]
        for what, needle in [("Colab", "colab.research.google.com/github/"), ("Binder", "mybinder.org/v2/"),
                             ("download (.ipynb)", "_sources/" + str(rest.with_suffix(".ipynb")))]:
            if not any(needle in h for h in hrefs):
                problems.append(f"no {what} button")
    return problems


BROKEN_PAGE = r"""<!DOCTYPE html><html><head><title>broken</title>
<script>console.error("an error logged by the page");</script></head>
<body><main>
<p>Raw math \(x^2\) and a formula element: <span class="math notranslate nohighlight">\(w\)</span>.</p>
<img src="missing.png" alt="not there"> <img src="https://example.org/offsite.png" alt="off the site">
<a href="nowhere.html">a dead link</a>
<script>throw new Error("an uncaught exception");</script>
</main></body></html>"""


def test_the_checks_catch_a_broken_page(tmp_path):
    """The same checks on a crafted page that breaks each rule: every problem is reported."""
    (tmp_path / "_sources").mkdir()
    (tmp_path / "broken.html").write_text(BROKEN_PAGE)
    (tmp_path / "_sources" / "broken.ipynb").write_text("{}")  # a notebook page: launch buttons expected
    with serve(tmp_path) as base, chromium_tab(base) as (page, watch):
        problems = check_page(page, watch, base, tmp_path, "broken.html", tmp_path / "broken.png")
    report = "\n".join(problems)
    expected = ["console.error: an error logged by the page", "JavaScript exception: Error: an uncaught exception",
                "HTTP 404: " + base + "missing.png", "request leaves the site (breaks offline reading): "
                "https://example.org/offsite.png", "raw TeX left in the text", "math elements but MathJax did not load",
                "math not typeset", "images that did not load", "link answers HTTP 404: " + base + "nowhere.html",
                "no Colab button", "no Binder button", "no download (.ipynb) button"]
    missing = [e for e in expected if e not in report]
    assert not missing, f"not reported: {missing}\nreported:\n{report}"
    assert (tmp_path / "broken.png").stat().st_size > 1000


@pytest.mark.parametrize("page_name", PAGES or ["index.html"])
def test_page(page_name, site, tab):
    page, watch = tab
    problems = check_page(page, watch, site, SITE, page_name, screenshot_path(page_name))
    assert not problems, f"{page_name}:\n  " + "\n  ".join(problems)


SEARCH_JS = """() => {
  const summary = document.querySelector('#search-results .search-summary, #search-results p');
  const items = Array.from(document.querySelectorAll('#search-results li'));
  return {summary: summary ? summary.textContent : '', n: items.length,
          text: items.map(li => li.textContent).join(' '),
          links: items.map(li => (li.querySelector('a') || {}).href).filter(Boolean)};
}"""


def test_search_finds_dropout(site, tab):
    page, watch = tab
    open_page(page, watch, site + "search.html?q=dropout")
    deadline, res = time.monotonic() + 60, None
    while time.monotonic() < deadline:
        res = evaluate(page, SEARCH_JS)
        if res["n"] or "found" in res["summary"].lower() or "did not match" in res["summary"].lower():
            break
        page.wait_for_timeout(250)
    page.screenshot(path=screenshot_path("search-dropout"), full_page=True)
    problems = watch.take()
    assert not problems, "search page:\n  " + "\n  ".join(problems)
    assert res["n"] > 0, f"searching 'dropout' found nothing: {res['summary']!r}"
    assert "dropout" in res["text"].lower(), res["text"][:500]
    for link in res["links"]:
        assert http_status(link.split("#")[0].split("?")[0]) == 200, link
