"""The built book as readers meet it, in a real browser.

Headless Chromium (Debian's ``chromium``, background networking off) opens every page of the built site,
served from 127.0.0.1, and checks that

* the math is typeset by the site's own MathJax: no raw TeX left in the text, every ``.math`` element holds
  a MathJax container, no MathJax error boxes;
* every image loaded (``naturalWidth > 0``);
* there is no JavaScript exception, no console error, no failed or >= 400 request, and no request leaves
  the site (the book must work offline);
* every same-site link, script, stylesheet and image URL answers HTTP 200 (anchors ignored);
* notebook pages carry the Colab, Binder and download buttons;
* the search page finds "dropout".

The site is ``_build/html`` (``scripts/run_tests.sh`` builds it before pytest runs); ``BOOK_HTML`` points
the test at another build. Helper: ``tests/browser_cdp.py`` (standard library only).
"""
from __future__ import annotations

import os
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from browser_cdp import Browser, SiteServer

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html")).resolve()


def site_pages(site: Path) -> list[str]:
    """Every HTML page of the built site (not the copied static assets or sources)."""
    if not (site / "index.html").is_file():
        return []
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                  if not p.relative_to(site).parts[0].startswith("_"))


PAGES = site_pages(SITE)

INSPECT_JS = r"""(() => {
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
})()"""


def _browser_guess(text: str) -> bool:
    """Chromium asks for /favicon.ico on its own on a page without an icon link (the redirect index.html)."""
    return "/favicon.ico" in text


def page_problems(events: list[dict], host: str) -> list[str]:
    """Console errors, exceptions, failed requests and requests that leave the site."""
    problems, urls = [], {}
    for ev in events:
        method, p = ev.get("method"), ev.get("params", {})
        if _browser_guess(str(p.get("entry", {}).get("url", "")) + str(p.get("response", {}).get("url", ""))):
            continue
        if method == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            problems.append(f"JavaScript exception: {d.get('exception', {}).get('description') or d.get('text')}")
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            problems.append(f"console.{p['type']}: {args[:300]}")
        elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
            e = p["entry"]
            problems.append(f"console error ({e.get('source')}): {e.get('text')} {e.get('url', '')}".strip())
        elif method == "Network.requestWillBeSent":
            url = p["request"]["url"]
            urls[p["requestId"]] = url
            scheme, netloc = urllib.parse.urlsplit(url)[:2]
            if scheme in ("http", "https", "ws", "wss") and netloc != host:
                problems.append(f"request leaves the site (breaks offline reading): {url}")
        elif method == "Network.loadingFailed" and not p.get("canceled"):
            problems.append(f"request failed ({p.get('errorText')}): {urls.get(p['requestId'], '?')}")
        elif method == "Network.responseReceived" and p["response"]["status"] >= 400:
            problems.append(f"HTTP {p['response']['status']}: {p['response']['url']}")
    return problems


@pytest.fixture(scope="module")
def site():
    if not PAGES:
        pytest.fail(f"No built book at {SITE}: build it first with `bash scripts/build_book.sh` "
                    "(or `jupyter-book build .`); scripts/run_tests.sh does this before pytest.")
    with SiteServer(SITE) as server:
        yield server


@pytest.fixture(scope="module")
def browser(site):
    with Browser() as b:
        yield b


_status_cache: dict[str, int] = {}


def http_status(url: str) -> int:
    if url not in _status_cache:
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                _status_cache[url] = r.status
        except urllib.error.HTTPError as err:
            _status_cache[url] = err.code
    return _status_cache[url]


@pytest.mark.parametrize("page", PAGES or ["index.html"])
def test_page(page, site, browser):
    url = site.base + page
    events = browser.open(url)
    info = browser.evaluate(INSPECT_JS)
    host = urllib.parse.urlsplit(site.base).netloc
    problems = page_problems(events, host)
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
    if (SITE / "_sources" / page).with_suffix(".ipynb").is_file():  # a notebook page
        hrefs = info["hrefs"]
        for what, needle in [("Colab", "colab.research.google.com/github/"), ("Binder", "mybinder.org/v2/"),
                             ("download (.ipynb)", "_sources/" + str(Path(page).with_suffix(".ipynb")))]:
            if not any(needle in h for h in hrefs):
                problems.append(f"no {what} button")
    assert not problems, f"{page}:\n  " + "\n  ".join(problems)


def test_search_finds_dropout(site, browser):
    events = browser.open(site.base + "search.html?q=dropout")
    deadline, res = time.monotonic() + 60, None
    while time.monotonic() < deadline:
        res = browser.evaluate("""(() => {
            const summary = document.querySelector('#search-results .search-summary, #search-results p');
            const items = Array.from(document.querySelectorAll('#search-results li'));
            return {summary: summary ? summary.textContent : '', n: items.length,
                    text: items.map(li => li.textContent).join(' '),
                    links: items.map(li => (li.querySelector('a') || {}).href).filter(Boolean)};
        })()""")
        if res["n"] or "found" in res["summary"].lower() or "did not match" in res["summary"].lower():
            break
        time.sleep(0.25)
    problems = page_problems(events + browser.events(), urllib.parse.urlsplit(site.base).netloc)
    assert not problems, "search page:\n  " + "\n  ".join(problems)
    assert res["n"] > 0, f"searching 'dropout' found nothing: {res['summary']!r}"
    assert "dropout" in res["text"].lower(), res["text"][:500]
    for link in res["links"]:
        assert http_status(link.split("#")[0].split("?")[0]) == 200, link
