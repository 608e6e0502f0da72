"""Write the Sphinx configuration of the book for the translation steps (scripts/i18n.sh), from _config.yml.

Jupyter Book 1.x turns _config.yml into a Sphinx conf.py with `jupyter-book config sphinx`. That command writes
conf.py next to the YAML file it reads, so we give it a copy of _config.yml inside _build/i18n/conf/ (a
conf.py in the repository root would be stale after the next edit of _config.yml, and `jupyter-book build`
would pick it up). We then append what the translated builds need:

- paths that Sphinx resolves against the configuration folder (static files, favicon, the local extensions),
  made absolute;
- `locale_dirs` (locales/<lang>/LC_MESSAGES/*.po) and `gettext_compact = False`: one catalog per page;
- the execution cache of the English build (`_build/.jupyter_cache`), so the Chinese edition shows the very
  outputs the English one shows and executes nothing itself.

    python scripts/i18n_conf.py            # prints the folder that holds conf.py
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = ROOT / "_build" / "i18n" / "conf"


def main() -> None:
    CONF_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "_config.yml", CONF_DIR / "_config.yml")
    jb = Path(sys.executable).with_name("jupyter-book")
    subprocess.run(
        [str(jb), "config", "sphinx", str(ROOT), "--config", str(CONF_DIR / "_config.yml")],
        check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
    )
    conf = CONF_DIR / "conf.py"
    text = conf.read_text(encoding="utf8")
    ns: dict = {}
    exec(text, ns)  # noqa: S102  (our own generated file: plain assignments)
    static = [str((ROOT / p).resolve()) for p in ns.get("html_static_path", [])]
    bibfiles = [str((ROOT / p).resolve()) for p in ns.get("bibtex_bibfiles", [])]
    favicon = str((ROOT / ns["html_favicon"]).resolve()) if ns.get("html_favicon") else ""
    extra = f"""
###############################################################################
# Appended by scripts/i18n_conf.py: absolute paths and the translation settings.
###############################################################################
import sys as _sys
project = html_title              # the catalogs' header names the book
_sys.path.insert(0, {str(ROOT / "book" / "_ext")!r})
html_static_path = {static!r}
html_favicon = {favicon!r}
bibtex_bibfiles = {bibfiles!r}
locale_dirs = [{str(ROOT / "locales")!r}]
gettext_compact = False          # one catalog per page: locales/<lang>/LC_MESSAGES/book/dropout/01_theory.po
gettext_uuid = False
gettext_location = True
# Chinese search: Sphinx splits Chinese text into words with jieba; the course's terms (权重衰减, 暂退法, ...) are
# added to its dictionary so that each is indexed as one word (and its parts, 权重 and 衰减, as well).
html_search_options = {{"dict": {str(ROOT / "locales" / "zh_CN" / "search_dict.txt")!r}}}
# The English build's execution cache: same outputs, same glued numbers, nothing executed twice.
nb_execution_cache_path = {str(ROOT / "_build" / ".jupyter_cache")!r}
extensions.append("execution_cache_only")   # a notebook missing from the cache is an error, not run again
extensions.append("translated_toc")         # the sidebar's part captions and the book title, translated
extensions.append("translated_glue")        # {{glue:text}}`x:.3f` in a msgstr shows the same value as in English
"""
    conf.write_text(text + extra, encoding="utf8")
    print(CONF_DIR)


if __name__ == "__main__":
    main()
