#!/usr/bin/env bash
# The whole test suite, what CI runs (.ci/run calls exactly this):
#   1. set-up (idempotent);
#   2. ruff over the package, tests, scripts and notebooks (rules in pyproject.toml): any finding fails;
#   3. pytest over everything that does not need the built book: unit tests, stored notebooks stripped, every
#      notebook of book/ and solutions/ under nbval (in a kernel with regcourse as pip installs it), the learner
#      editions of the short chapters run as on Colab, the grading pipeline, attacks and a whole term;
#   4. a clean strict build of both editions (scripts/build_book.sh), its chapters taken from step 3's nbval run;
#   5. the tests of the built book: HTML, execution records, the browser tests, the learner editions' prose.
# With arguments: a clean strict build, then pytest with them (e.g. `-m "not slow"`, `-x`, `--lf`).
# PYTEST_WORKERS sets the number of pytest-xdist workers (default 3; 0 runs sequentially). conftest.py gives
# each worker, and the kernels it starts, one torch thread (its share of the cores, at least one): the course's
# small networks leave a second thread mostly idle, and on two cores a third worker fills the time the others
# spend waiting for a kernel, nbgrader or the sandbox to start (2026-11-22, AMD EPYC, 2 cores: pytest without
# the built book took 777 s with three workers, 897 s with two; the CPUs were busy 94 % of the whole command
# with three).
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

workers=${PYTEST_WORKERS:-3}
xdist=()
if [ "$workers" != 0 ]; then xdist=(-n "$workers" --dist loadscope); fi
rm -rf _build
build() {  # both editions, strict (warnings are errors; every chapter's execution is checked)
  local t=$SECONDS rc=0
  REGCOURSE_SETUP_DONE=1 BOOK_BUILD_FLAGS="-W -n --keep-going" bash scripts/build_book.sh || rc=$?
  echo "[tests] clean strict book build took $((SECONDS - t)) s"
  return $rc
}

if [ $# -gt 0 ]; then
  # A selection of your own: build the book, then pytest with your arguments.
  build
  t=$SECONDS
  pytest "${xdist[@]}" "$@"
  echo "[tests] pytest took $((SECONDS - t)) s; total ${SECONDS} s"
  exit 0
fi

# Steps 3-5 of the header: each chapter executed once, by nbval, for both nbval and the book (nbval writes what
# it ran without error to _build/nbval_executed). A failing step does not stop the next ones; the exit status
# reports any failure.
status=0
t=$SECONDS
pytest "${xdist[@]}" -m "not built_book" --nbval-save-executed "$(pwd)/_build/nbval_executed" || status=1
echo "[tests] pytest of all but the built book took $((SECONDS - t)) s"
BOOK_EXECUTED="$(pwd)/_build/nbval_executed" build || status=1
t=$SECONDS
pytest "${xdist[@]}" -m built_book || status=1
echo "[tests] pytest of the built book took $((SECONDS - t)) s; total ${SECONDS} s"
exit $status
