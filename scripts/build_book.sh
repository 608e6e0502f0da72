#!/usr/bin/env bash
# Build the HTML book: set up everything, execute every chapter, print where index.html is.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS=0
[ "${REGCOURSE_SETUP_DONE:-0}" = 1 ] || bash scripts/setup.sh    # run_tests.sh has just run it
export PATH="$(pwd)/.venv/bin:$PATH"
# Execution results are cached by jupyter-cache, so a second build only re-runs changed chapters.
status=0
# Chapters whose code changed run first, two kernels at a time with one torch thread each (faster than
# jupyter-book's one at a time on two cores); the Sphinx build below then finds them all in the cache.
# BOOK_EXECUTED: a folder of chapters just run under `pytest --nbval --nbval-save-executed` (the test command
# sets it); a chapter found there with its current code is stored in the cache, not run again.
executed=()
[ -z "${BOOK_EXECUTED:-}" ] || executed=(--executed "$BOOK_EXECUTED")
t=$SECONDS
python scripts/execute_chapters.py --jobs "${BOOK_JOBS:-2}" "${executed[@]}" || status=1
echo "[book] chapters executed in $((SECONDS - t)) s"
t=$SECONDS
jupyter-book build . ${BOOK_BUILD_FLAGS:--W -n --keep-going} || status=$?
echo "[book] English edition built in $((SECONDS - t)) s"
# The Chinese edition (locales/zh_CN) into _build/html/zh_CN/, from the same execution cache: same outputs and
# numbers, nothing executed again (scripts/i18n.sh).
t=$SECONDS
I18N_BUILD_FLAGS=${BOOK_BUILD_FLAGS:--W -n --keep-going} bash scripts/i18n.sh html || status=1
echo "[book] Chinese edition built in $((SECONDS - t)) s"
# Sphinx skips unchanged sources, so a chapter that failed once would pass silently on the next build: ask
# the execution cache, on every build, whether each chapter's current code ran without error.
python scripts/check_execution.py || status=1
if [ "$status" != 0 ]; then
  echo "The book build FAILED (see the messages above); the pages in _build/html are not to be trusted." >&2
  exit 1
fi
echo
echo "The book is at: $(pwd)/_build/html/index.html  (built in ${SECONDS} s)"
echo "中文版 (Chinese edition): $(pwd)/_build/html/zh_CN/index.html"
