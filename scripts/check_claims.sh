#!/usr/bin/env bash
# Slow check, not part of CI: execute every chapter with seed offsets 0-3 and with one and two threads, one line per
# chapter and setting. A chapter's claims are asserted in hidden cells, so "ok" means its sentences hold.
# Arguments go to scripts/check_claims.py (e.g. --offsets 1 2, or a list of notebooks).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
export PATH="$(pwd)/.venv/bin:$PATH"
python scripts/check_claims.py "$@"
