"""The translated editions' book title and table-of-contents captions ("Weight decay", "Dropout", ...).

Sphinx translates a page's messages in its Locale transform (priority 20). sphinx-external-toc inserts the
toctrees of _toc.yml, with their part captions, later (priority 100), so Sphinx's gettext builder extracts the
captions into book/intro.po but the translated build never applies them: the sidebar would stay English.
The transform below, run right after the toctrees are inserted, translates their captions and titles from the
page's own catalog, exactly as Locale does for other toctrees. The book's title (``html_title``, shown above
the sidebar and in every window title) and the footer (``extra_footer``) come from ``locales/<lang>/site.po``,
the catalog of the site's texts that are in no page (else from the page catalogs: the root page's heading).

Loaded by the translated builds only (scripts/i18n_conf.py); in the English build it does nothing.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from sphinx import addnodes
from sphinx.locale import init as init_locale
from sphinx.transforms import SphinxTransform
from sphinx.util.i18n import docname_to_domain


def _translating(config) -> bool:
    return bool(config.language) and config.language != "en"


class TranslateTocCaptions(SphinxTransform):
    default_priority = 101  # after sphinx_external_toc's InsertToctrees (100)

    def apply(self, **kwargs):
        from sphinx.builders.gettext import MessageCatalogBuilder

        if not _translating(self.config) or isinstance(self.app.builder, MessageCatalogBuilder):
            return
        domain = docname_to_domain(self.env.docname, self.config.gettext_compact)
        dirs = [os.path.join(self.env.srcdir, d) for d in self.config.locale_dirs]
        catalog, has_catalog = init_locale(dirs, self.config.language, domain)
        if not has_catalog:
            return
        for node in self.document.findall(addnodes.toctree):
            if "rawcaption" not in node and "rawentries" not in node:
                node.preserve_original_messages()
            for message in node.extract_original_messages():
                translated = catalog.gettext(message)
                if translated and translated != message:
                    node.apply_translated_message(message, translated)


def translated_title(locale_dirs: list[str], language: str, title: str) -> str | None:
    """The msgstr of the message `title` in any catalog of `language` (not fuzzy, not empty); the case may
    differ ("Weight Decay and Dropout" in _config.yml, "Weight decay and dropout" as the root page's heading).

    >>> translated_title([], "zh_CN", "Weight Decay") is None
    True
    """
    from babel.messages.pofile import read_po

    for base in locale_dirs:
        for po in sorted(Path(base, language, "LC_MESSAGES").rglob("*.po")):
            with open(po, "rb") as f:
                catalog = read_po(f)
            for message in catalog:
                if (message.id and isinstance(message.id, str) and message.id.casefold() == title.casefold()
                        and message.string and not message.fuzzy):
                    return message.string
    return None


def site_catalog(locale_dirs: list[str], language: str) -> dict[str, str]:
    """msgid -> msgstr of ``<locale dir>/<language>/site.po`` (translated, not fuzzy entries)."""
    from babel.messages.pofile import read_po

    out = {}
    for base in locale_dirs:
        path = Path(base, language, "site.po")
        if path.is_file():
            with open(path, "rb") as f:
                out.update({m.id: m.string for m in read_po(f) if m.id and m.string and not m.fuzzy})
    return out


def _translate_title(app, config):
    if not _translating(config):
        return
    dirs = [os.path.join(app.confdir, d) for d in config.locale_dirs]
    site = site_catalog(dirs, config.language)
    if config.html_title:
        title = site.get(config.html_title) or translated_title(dirs, config.language, config.html_title)
        if title:
            config.html_title = title
    footer = config.html_theme_options.get("extra_footer") or ""
    text = re.sub(r"<[^>]+>", "", footer).strip()
    if text in site:
        config.html_theme_options["extra_footer"] = footer.replace(text, site[text])
    search = config.html_theme_options.get("search_bar_text")
    if search in site:  # a theme option, not a translatable string of the theme
        config.html_theme_options["search_bar_text"] = site[search]
    _add_fallback_catalog(site)


def _add_fallback_catalog(site: dict[str, str]) -> None:
    """Strings that Sphinx's and the themes' zh_CN catalogs leave in English ("Link to this heading",
    "Toggle primary sidebar", ...): site.po becomes a fallback of the catalogs "sphinx" and "booktheme", so a
    string they translate keeps their translation and the rest comes from site.po."""
    import gettext
    import io

    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo
    from sphinx.locale import translators

    catalog = Catalog()
    for msgid, msgstr in site.items():
        catalog.add(msgid, msgstr)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    fallback = gettext.GNUTranslations(buf)
    for key in (("general", "sphinx"), ("general", "booktheme")):
        translator = translators.get(key)
        if translator is not None:
            translator.add_fallback(fallback)


def setup(app):
    app.add_transform(TranslateTocCaptions)
    app.connect("config-inited", _translate_title)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
