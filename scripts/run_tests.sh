#!/usr/bin/env bash
# The whole test suite, what CI runs (.ci/run calls exactly this):
#   1. set-up (idempotent);
#   2. ruff over the package, tests, scripts and notebooks (rules in pyproject.toml): any finding fails;
#   3. a clean strict build of both editions (scripts/build_book.sh; a chapter that fails to execute fails here);
#   4. pytest over everything: unit tests, stored notebooks stripped, every notebook of book/ and solutions/
#      under nbval, the grading pipeline and attacks, the tests of the built book, the browser test.
# Arguments go to pytest (e.g. `-m "not slow"`, `-x`, `--lf`). PYTEST_WORKERS sets the number of pytest-xdist
# workers (default 2; 0 runs sequentially). conftest.py gives each worker, and the kernels it starts, its share
# of the cores as torch threads: two single-thread workers beat one two-thread process on two cores (the
# course's small networks leave a second torch thread mostly idle).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS=0
bash scripts/setup.sh
echo "[tests] set-up took ${SECONDS} s"
export PATH="$(pwd)/.venv/bin:$PATH"
export REGCOURSE_NO_PROGRESS=1

t=$SECONDS
ruff --version
ruff check .
echo "[tests] ruff took $((SECONDS - t)) s"

# A broken chapter or reference must fail: both editions built from a clean _build by the README's book
# command (chapters executed two at a time, warnings as errors, every chapter's execution checked).
rm -rf _build
t=$SECONDS
REGCOURSE_SETUP_DONE=1 BOOK_BUILD_FLAGS="-W -n --keep-going" bash scripts/build_book.sh
echo "[tests] clean strict book build took $((SECONDS - t)) s"

workers=${PYTEST_WORKERS:-2}
xdist=()
if [ "$workers" != 0 ]; then xdist=(-n "$workers" --dist loadscope); fi
t=$SECONDS
pytest "${xdist[@]}" "$@"
echo "[tests] pytest took $((SECONDS - t)) s; total ${SECONDS} s"
