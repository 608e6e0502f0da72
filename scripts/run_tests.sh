#!/usr/bin/env bash
# The whole test suite: unit tests, every notebook under nbval, the grading pipeline, a clean strict book
# build and the browser test of the built site. .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS=0
bash scripts/setup.sh
echo "[tests] set-up took ${SECONDS} s"
export PATH="$(pwd)/.venv/bin:$PATH"
export REGCOURSE_NO_PROGRESS=1
# A broken chapter or reference must fail: build from a clean _build, warnings as errors.
rm -rf _build
t=$SECONDS
jupyter-book build . -W -n --keep-going
echo "[tests] clean strict book build took $((SECONDS - t)) s"
t=$SECONDS
pytest "$@"
echo "[tests] pytest took $((SECONDS - t)) s; total ${SECONDS} s"
