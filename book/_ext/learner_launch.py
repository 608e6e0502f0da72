"""Launch buttons that open the learner edition of a chapter (notebooks/), not the book's source.

sphinx-book-theme builds the Colab/Binder/JupyterHub links of a page from the repository and the page's own
source path (``book/dropout/01_theory.ipynb``). That notebook is written for Sphinx: its prose quotes numbers
with myst-nb roles, which Colab and JupyterLab show raw, and it imports myst-nb, which Colab lacks. Each
chapter therefore has a learner edition, ``notebooks/dropout/01_theory.ipynb``, made by
scripts/make_learner_notebooks.py. This extension points the launch links of every page that has one at it,
and adds a download entry for it next to the source download (which stays: it is the page's source).
"""
from __future__ import annotations

import posixpath
import shutil
from pathlib import Path

OUT_DIR = "notebooks"
BOOK_DIR = "book"


def learner_edition(srcdir: Path, pagename: str) -> str | None:
    """``book/dropout/01_theory`` -> ``notebooks/dropout/01_theory.ipynb`` if that file exists."""
    if not (pagename == BOOK_DIR or pagename.startswith(BOOK_DIR + "/")):
        return None
    rel = posixpath.join(OUT_DIR, posixpath.relpath(pagename, BOOK_DIR)) + ".ipynb"
    return rel if (Path(srcdir) / rel).is_file() else None


def _buttons(items):
    for item in items or []:
        yield item
        yield from _buttons(item.get("buttons"))


def _point_launch_buttons(app, pagename, templatename, context, doctree):
    rel = learner_edition(app.srcdir, pagename)
    if rel is None:
        return
    for group in _buttons(context.get("header_buttons")):
        buttons = group.get("buttons") if isinstance(group, dict) else None
        for i, button in enumerate(list(buttons or [])):
            if not isinstance(button, dict) or not button.get("url"):
                continue
            if button.get("text") in ("Colab", "Binder", "JupyterHub", "Deepnote", "JupyterLite"):
                button["url"] = button["url"].replace(f"{pagename}.ipynb", rel)
            elif button.get("label") in ("download-notebook-button", "download-source-button") \
                    and button["url"].endswith(".ipynb"):
                buttons.insert(i + 1, dict(
                    button, text=".ipynb (Jupyter, Colab)", label="download-learner-notebook-button",
                    tooltip="Download the learner edition (the numbers appear in the text when it runs)",
                    url=f"{context['pathto']('_downloads', 1)}/learner/{rel}"))


def _copy_learner_editions(app, exception):
    """Publish every learner edition as _downloads/learner/notebooks/<path>.ipynb (the download entry)."""
    if exception is not None or app.builder.format != "html":
        return
    source = Path(app.srcdir) / OUT_DIR
    for path in sorted(source.rglob("*.ipynb")) if source.is_dir() else []:
        if ".ipynb_checkpoints" in path.parts:
            continue
        target = Path(app.outdir) / "_downloads" / "learner" / path.relative_to(app.srcdir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def setup(app):
    # After sphinx-book-theme has added its header buttons (priority 501).
    app.connect("html-page-context", _point_launch_buttons, priority=600)
    app.connect("build-finished", _copy_learner_editions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
