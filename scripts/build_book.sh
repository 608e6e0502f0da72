#!/usr/bin/env bash
# Build the HTML book: set up everything, execute every chapter, print where index.html is.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS=0
bash scripts/setup.sh
export PATH="$(pwd)/.venv/bin:$PATH"
# Execution results are cached by jupyter-cache, so a second build only re-runs changed chapters.
jupyter-book build . ${BOOK_BUILD_FLAGS:--W -n --keep-going}
echo
echo "The book is at: $(pwd)/_build/html/index.html  (built in ${SECONDS} s)"
