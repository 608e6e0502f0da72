"""A link on every page to the same page in the book's other language (issue 13).

The English edition is built into ``_build/html/`` and the Chinese one, from the same sources and the same
executed notebooks, into ``_build/html/zh_CN/`` (scripts/build_book.sh, scripts/i18n.sh). So the page
``book/dropout/01_theory`` is ``<site>/book/dropout/01_theory.html`` in English and
``<site>/zh_CN/book/dropout/01_theory.html`` in Chinese; each links to the other with a relative URL, which
works on a web server and from the file system alike.

The link is a small button at the start of the article header (template ``templates/language-switch.html``,
before sphinx-book-theme's own buttons) plus a ``<link rel="alternate" hreflang>`` in the page head.
"""
from __future__ import annotations

import html
from pathlib import Path

# language code (Sphinx's `language`) -> (sub-folder of the site, name of the language in itself, BCP 47 tag)
EDITIONS = {"en": ("", "English", "en"), "zh_CN": ("zh_CN", "中文", "zh-CN")}
DEFAULT = "en"


def edition(language: str | None) -> str:
    return language if language in EDITIONS else DEFAULT


def other_page_url(pagename: str, language: str | None, target: str) -> str:
    """Relative URL, from page `pagename` of edition `language`, of the same page in edition `target`.

    >>> other_page_url("book/dropout/01_theory", "en", "zh_CN")
    '../../zh_CN/book/dropout/01_theory.html'
    >>> other_page_url("book/dropout/01_theory", "zh_CN", "en")
    '../../../book/dropout/01_theory.html'
    >>> other_page_url("search", "zh_CN", "en")
    '../search.html'
    """
    here = EDITIONS[edition(language)][0]
    there = EDITIONS[target][0]
    up = pagename.count("/") + (1 if here else 0)
    return "../" * up + (there + "/" if there else "") + pagename + ".html"


def _add_switch(app, pagename, templatename, context, doctree):
    current = edition(app.config.language)
    links = []
    for code, (_folder, name, tag) in EDITIONS.items():
        if code == current:
            continue
        url = other_page_url(pagename, current, code)
        links.append({"url": url, "name": name, "tag": tag})
        context["metatags"] = context.get("metatags", "") + (
            f'<link rel="alternate" hreflang="{tag}" href="{html.escape(url)}" />\n')
    context["language_switch_links"] = links


HERE = Path(__file__).resolve().parent


def _configure_theme(app, config):
    templates, static = str(HERE / "templates"), str(HERE / "static")
    if templates not in config.templates_path:
        config.templates_path.append(templates)
    if static not in config.html_static_path:
        config.html_static_path.append(static)
    app.add_css_file("language_switch.css")
    options = config.html_theme_options
    end = list(options.get("article_header_end") or ["article-header-buttons.html"])
    if "language-switch.html" not in end:
        options["article_header_end"] = ["language-switch.html", *end]


def setup(app):
    app.connect("config-inited", _configure_theme)
    app.connect("html-page-context", _add_switch)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
