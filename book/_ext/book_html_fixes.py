"""Small fixes to the HTML the Jupyter Book 1.x stack writes (found by tests/test_browser.py).

Sphinx 7.4 adds every inline script registered after the builder started (sphinx-thebe's and
sphinx-togglebutton's configuration snippets) to each page twice: once as ``filename=None`` when the
extension registers it, once as ``filename=''`` in ``prepare_writing``. sphinx-thebe's snippet declares
``const THEBE_JS_URL``, so the second copy throws "Identifier 'THEBE_JS_URL' has already been declared"
on every page. We drop the repeated copy just before each page is written.
"""


def _drop_repeated_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        attrs = getattr(js, "attributes", {}) or {}
        key = (getattr(js, "filename", js) or "", tuple(sorted((k, str(v)) for k, v in attrs.items())))
        if key in seen:
            continue
        seen.add(key)
        kept.append(js)
    scripts[:] = kept


def setup(app):
    # Late, after sphinx.ext.mathjax and the themes have added their scripts for this page.
    app.connect("html-page-context", _drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
