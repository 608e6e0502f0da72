"""Read executed notebooks from the execution cache, never execute them (the translated editions).

The Chinese edition is built after the English one, from the same sources and the same jupyter-cache
(``_build/.jupyter_cache``), with ``nb_execution_mode = "cache"``: every chapter whose code the English build
ran is found there, so both editions show the same outputs and the same glued numbers. myst-nb's cache mode
executes a notebook it does not find in the cache, though: a chapter that failed in the English build would
run a second time, for minutes, and could even produce other numbers. This extension, loaded only by the
translated builds (scripts/i18n_conf.py), turns a cache miss into a warning (an error under ``-W``) that names
the notebook, and leaves the cache's records, including the English build's tracebacks, untouched.

myst-nb also writes the executed notebooks and their images to ``<outdir>/../jupyter_execute``: for the
Chinese site (``_build/html/zh_CN``) that would be a folder inside the English site. This extension sends
them to ``_build/i18n/<language>/jupyter_execute`` instead.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path


def _patch_cache_client():
    from jupyter_cache import get_cache
    from myst_nb.core.execute import cache as cache_client

    cls = cache_client.NotebookClientCache
    if getattr(cls, "_cache_only", False):
        return
    execute_or_read = cls.start_client

    def start_client(self):
        cache = get_cache(self.nb_config.execution_cache_path or ".jupyter_cache")
        try:
            cache.match_cache_notebook(self.notebook)
        except KeyError:
            self.logger.warning(
                f"{self.path}: no successful execution of this notebook's current code in "
                f"{self.nb_config.execution_cache_path}; the translated edition never executes a notebook "
                "(build the English edition first: scripts/build_book.sh)", subtype="exec")
            self.exec_metadata = {
                "mtime": datetime.now().timestamp(), "runtime": None,
                "method": self.nb_config.execution_mode, "succeeded": False,
                "error": "NotInExecutionCache", "traceback": None,
            }
            return
        execute_or_read(self)  # a cache hit: myst-nb merges the cached outputs into the notebook

    cls.start_client = start_client
    cls._cache_only = True


def _own_output_folder(app):
    config = app.env.mystnb_config
    language = app.config.language or "en"
    build = Path(config.execution_cache_path).parent  # _build (the cache is _build/.jupyter_cache)
    app.env.mystnb_config = config.copy(output_folder=str(build / "i18n" / language / "jupyter_execute"))


def setup(app):
    _patch_cache_client()
    app.connect("builder-inited", _own_output_folder, priority=900)  # after myst-nb sets its folder
    return {"parallel_read_safe": True, "parallel_write_safe": True}
