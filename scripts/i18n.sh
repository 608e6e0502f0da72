#!/usr/bin/env bash
# The translated editions (issue 13), the ecosystem's way: Sphinx's gettext builder extracts the messages of
# every page, sphinx-intl keeps locales/<lang>/LC_MESSAGES/*.po in step with them, and a Sphinx build with
# `language = <lang>` writes the translated site into _build/html/<lang>/.
#
#   bash scripts/i18n.sh pot      # extract the messages: _build/gettext/**/*.pot (no notebook is executed)
#   bash scripts/i18n.sh update [PAGE ...]  # pot, then sphinx-intl update of all catalogs or those of PAGE
#                                 # (book/dropout/01_theory): new messages appear empty, changed ones fuzzy
#   bash scripts/i18n.sh html     # the Chinese site, from the English build's execution cache
#   bash scripts/i18n.sh check    # every catalog compiles, is 100 % translated, and matches the sources
#
# Flags for the html build: I18N_BUILD_FLAGS (default "-W -n --keep-going", as the English build).
# The language: I18N_LANG (default zh_CN).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(pwd)/.venv/bin:$PATH"
LANG_CODE=${I18N_LANG:-zh_CN}
POT_DIR=_build/gettext

conf() { python scripts/i18n_conf.py; }

pot() {
  local c; c=$(conf)
  # Execution off: the messages come from the Markdown; running the chapters would cost minutes of CPU.
  # -E: a fresh environment, so a page deleted from the book leaves no stale catalog behind.
  rm -rf "$POT_DIR"
  sphinx-build -q -E -b gettext -c "$c" -d _build/.doctrees-gettext -D nb_execution_mode=off . "$POT_DIR"
}

case "${1:-}" in
  pot) pot ;;
  update)
    # bash scripts/i18n.sh update [PAGE ...]: all catalogs, or only those of the pages named
    # (e.g. book/dropout/01_theory), so that each translator merges the pages they own.
    shift
    pot
    src=$POT_DIR
    if [ $# -gt 0 ]; then
      src=$(mktemp -d)
      for page in "$@"; do
        page=${page%.po}; page=${page%.pot}; page=${page#locales/$LANG_CODE/LC_MESSAGES/}
        [ -f "$POT_DIR/$page.pot" ] || { echo "no page $page in the book ($POT_DIR/$page.pot)" >&2; exit 2; }
        mkdir -p "$src/$(dirname "$page")" && cp "$POT_DIR/$page.pot" "$src/$page.pot"
      done
    fi
    sphinx-intl update -p "$src" -l "$LANG_CODE" -d locales
    [ "$src" = "$POT_DIR" ] || rm -rf "$src"
    # A new catalog's header comes marked fuzzy (a template to fill); ours is complete as written.
    python - "locales/$LANG_CODE/LC_MESSAGES" <<'PY'
import pathlib, sys
for po in pathlib.Path(sys.argv[1]).rglob("*.po"):
    text = po.read_text(encoding="utf8")
    if '#, fuzzy\nmsgid ""\nmsgstr ""\n' in text.split("\n\n", 1)[0] + "\n":
        po.write_text(text.replace('#, fuzzy\nmsgid ""\nmsgstr ""\n', 'msgid ""\nmsgstr ""\n', 1), encoding="utf8")
PY
    ;;
  html)
    c=$(conf)
    # The English build filled _build/.jupyter_cache; mode "cache" reads the outputs from there.
    # shellcheck disable=SC2086
    sphinx-build -b html -c "$c" -d "_build/.doctrees-$LANG_CODE" -D language="$LANG_CODE" \
      ${I18N_BUILD_FLAGS:--W -n --keep-going} . "_build/html/$LANG_CODE"
    ;;
  check)
    pot
    python -m pytest -q -p no:xdist -o addopts= tests/test_translation.py
    ;;
  *) echo "usage: bash scripts/i18n.sh pot|update|html|check" >&2; exit 2 ;;
esac
