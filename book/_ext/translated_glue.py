"""Glue roles inside translated paragraphs ({glue:text}`name:.3f` in a .po file's msgstr).

Sphinx translates a page by parsing each msgstr on its own, as a small separate document, and putting the
result in place of the English paragraph. myst-nb's glue roles look their values up in the notebook renderer
that it keeps on the page's document while parsing the notebook; the small document of a msgstr has none, so
every glued number in a translated paragraph would vanish with "No key ... found in glue data for this
document". This extension remembers the renderer of the page being read (when the page's own glue roles ask
for it) and lends it to the documents of its translated paragraphs, so a glued number in Chinese is the very
value of the same cell output as in English.

Words that a chapter glues ("lower in every seed") are translated by book/_ext/glue_i18n.py, whose look-up
this one wraps.
"""
from __future__ import annotations

_renderers: dict[str, object] = {}


def _patch():
    from myst_nb.ext.glue import directives, roles, utils

    if getattr(utils, "_translated_glue", False):
        return
    retrieve = utils.retrieve_glue_data

    def retrieve_in_page(document, key):
        env = getattr(document.settings, "env", None)
        if env is not None:
            if "nb_renderer" in document:
                # The page itself, parsed before its paragraphs are translated: every glue role of a msgstr
                # is also in its msgid, so the page's renderer is seen here before any translation needs it.
                _renderers[env.docname] = document["nb_renderer"]
            elif env.docname in _renderers:
                # A translated paragraph of that page: lend the renderer for this one look-up only (the small
                # document is pickled with the page, and a renderer cannot be).
                document["nb_renderer"] = _renderers[env.docname]
                try:
                    return retrieve(document, key)
                finally:
                    del document["nb_renderer"]
        return retrieve(document, key)

    utils.retrieve_glue_data = retrieve_in_page
    roles.retrieve_glue_data = retrieve_in_page
    directives.retrieve_glue_data = retrieve_in_page
    utils._translated_glue = True


def _forget(app, *args):
    docname = args[-1] if args and isinstance(args[-1], str) else app.env.docname
    _renderers.pop(docname, None)


def setup(app):
    _patch()
    # The renderer is only needed while its page is read; let it go before the next page.
    app.connect("doctree-read", _forget, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
