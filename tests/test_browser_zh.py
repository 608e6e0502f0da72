"""The Chinese edition (``_build/html/zh_CN``) in a real browser, with tests/test_browser.py's set-up.

tests/test_browser.py opens every page under ``_build/html``, the Chinese pages included (typeset math,
images, no console error, no failed request, every same-site link answers), and writes their screenshots
(``_build/screenshots/zh_CN__book__...png``). This file adds what only the Chinese edition has to show:

* the search page finds 暂退法 and 权重衰减 (Sphinx indexes Chinese words with jieba; without jieba it indexes
  no Chinese at all, so this test also fails when jieba is missing);
* Chinese text renders with a real CJK font, not as empty boxes ("tofu"): a character drawn in the page's
  font differs from the glyph of an unassigned code point (Debian's fonts-noto-cjk; scripts/setup.sh);
* the language buttons lead from an English page to the same page in Chinese and back;
* the page is ``lang="zh-CN"`` and the theme's own strings are Chinese.
"""
from __future__ import annotations

import os
import time
import urllib.parse
from pathlib import Path

import pytest
from test_browser import SCREENSHOTS, SEARCH_JS, chromium_tab, evaluate, http_status, open_page, serve

pytestmark = [pytest.mark.browser, pytest.mark.built_book, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html")).resolve()
LANG = "zh_CN"
CHAPTER = "book/dropout/01_theory.html"


@pytest.fixture(scope="module")
def zh_tab():
    if not (SITE / LANG / "index.html").is_file():
        pytest.fail(f"No Chinese edition at {SITE / LANG}: build both editions with `bash scripts/build_book.sh`.")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with serve(SITE) as base, chromium_tab(base) as (page, watch):
        yield base, page, watch


def search(page, watch, url: str) -> dict:
    open_page(page, watch, url)
    deadline, res = time.monotonic() + 60, None
    while time.monotonic() < deadline:
        res = evaluate(page, SEARCH_JS)
        # Sphinx writes a summary when it is done (in Chinese here), with or without results.
        if res["n"] or res["summary"].strip():
            break
        page.wait_for_timeout(250)
    return res


@pytest.mark.parametrize("term", ["暂退法", "权重衰减"], ids=["zantuifa", "quanzhong_shuaijian"])
def test_chinese_search_finds_the_course_terms(zh_tab, term):
    base, page, watch = zh_tab
    res = search(page, watch, f"{base}{LANG}/search.html?q={urllib.parse.quote(term)}")
    page.screenshot(path=SCREENSHOTS / f"{LANG}__search-{urllib.parse.quote(term)}.png", full_page=True)
    problems = watch.take()
    assert not problems, "search page:\n  " + "\n  ".join(problems)
    assert res["n"] > 0, f"searching {term!r} in the Chinese edition found nothing: {res['summary']!r}"
    assert term in res["text"], f"no result shows {term!r}: {res['text'][:300]}"
    for link in res["links"]:
        assert f"/{LANG}/" in link, f"a Chinese search result leads out of the Chinese edition: {link}"
        assert http_status(link.split("#")[0].split("?")[0]) == 200, link


TOFU_JS = """() => {
  // Draw a Chinese word and an unassigned code point (always the missing-glyph box) in the font of the page's
  // text; with no CJK font, the word is drawn as boxes too.
  const p = document.querySelector('main p') || document.body;
  const style = getComputedStyle(p);
  const draw = (s) => {
    const c = document.createElement('canvas'); c.width = 200; c.height = 40;
    const g = c.getContext('2d'); g.font = `24px ${style.fontFamily}`; g.fillStyle = '#000';
    g.fillText(s, 2, 30); return c.toDataURL();
  };
  const box = draw('\\u{0378}\\u{0378}');  // U+0378: unassigned
  return {font: style.fontFamily, word: draw('权重'), box, same: draw('权重') === box,
          hasChinese: /[\\u4e00-\\u9fff]/.test(p.textContent), lang: document.documentElement.lang};
}"""


def test_chinese_text_renders_with_a_cjk_font(zh_tab):
    base, page, watch = zh_tab
    open_page(page, watch, f"{base}{LANG}/{CHAPTER}")
    res = evaluate(page, TOFU_JS)
    page.screenshot(path=SCREENSHOTS / f"{LANG}__font-check.png")
    assert res["lang"] == "zh-CN"
    assert res["hasChinese"], f"the first paragraph of {CHAPTER} in Chinese has no Chinese text"
    assert not res["same"], (f"Chinese is drawn as missing-glyph boxes in {res['font']}: install a CJK font "
                             "(Debian: fonts-noto-cjk; scripts/setup.sh does)")


def test_language_buttons_lead_to_the_same_page(zh_tab):
    base, page, watch = zh_tab
    open_page(page, watch, f"{base}{CHAPTER}")
    page.click('a.language-switch[hreflang="zh-CN"]')
    page.wait_for_load_state("load")
    assert page.url == f"{base}{LANG}/{CHAPTER}", page.url
    assert evaluate(page, "() => document.documentElement.lang") == "zh-CN"
    chrome = evaluate(page, "() => document.querySelector('.search-button-field, .search-button, "
                            "[aria-label]') ? Array.from(document.querySelectorAll('[aria-label], "
                            "[placeholder], button')).map(e => (e.getAttribute('aria-label') || '') + ' ' + "
                            "(e.getAttribute('placeholder') || '') + ' ' + e.textContent).join(' ') : ''")
    assert "搜索" in chrome, "the theme's strings are not Chinese on the Chinese page"
    page.click('a.language-switch[hreflang="en"]')
    page.wait_for_load_state("load")
    assert page.url == f"{base}{CHAPTER}", page.url
    problems = watch.take()
    assert not problems, "\n  ".join(problems)
