#!/usr/bin/env bash
# Idempotent set-up: virtual environment, Python packages, Fashion-MNIST, offline MathJax, Chromium.
# Each step is skipped when it is already done, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="$ROOT/.venv"
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# 1. System packages (Debian/Ubuntu, as root): the data set, and Chromium for the browser test.
need_apt=()
[ -d /usr/share/datasets/fashion-mnist ] || need_apt+=(dataset-fashion-mnist)
if [ "${REGCOURSE_SKIP_BROWSER:-0}" != 1 ]; then command -v chromium >/dev/null || need_apt+=(chromium); fi
command -v npm >/dev/null || need_apt+=(npm)
# bubblewrap: `nbgrader autograde` runs each submission's kernel in a bwrap sandbox (regcourse/sandbox.py).
command -v bwrap >/dev/null || need_apt+=(bubblewrap)
# gettext: msgfmt checks the translation catalogs (locales/); fonts-noto-cjk: Chinese text in the browser
# test's screenshots of the Chinese edition and in figures with Chinese labels (regcourse/i18n.py).
command -v msgfmt >/dev/null || need_apt+=(gettext)
fc-list :lang=zh 2>/dev/null | grep -q . || need_apt+=(fonts-noto-cjk)
if [ ${#need_apt[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    say "apt-get install ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    say "not root or no apt-get: please install ${need_apt[*]} yourself (see README)."
  fi
fi

# 2. Python packages, re-installed only when requirements.txt or pyproject.toml change.
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
stamp="$VENV/.installed-$(cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  say "creating $VENV and installing requirements (a few minutes the first time)"
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  # pip warns about every missing local mirror folder; hide those lines only.
  "$VENV/bin/python" -m pip install -q -r requirements.txt 2>&1 | { grep -v "^WARNING: Location" || true; }
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi

# jsonschema imports its optional IRI-format checker, rfc3987-syntax (pulled in by jupyter-events' extra
# "format-nongpl"), whenever nbformat is imported: it compiles 38 grammars, ~1 s of CPU in every nbgrader
# command, test process and book build (0.14 s for nbformat without it). No course tool validates an IRI
# (nbformat's schema has none); without the package jsonschema leaves that one format unchecked.
if "$VENV/bin/python" -c "import importlib.util as u, sys; sys.exit(u.find_spec('rfc3987_syntax') is None)"; then
  "$VENV/bin/python" -m pip uninstall -q -y rfc3987-syntax
fi

# 3. Fashion-MNIST into torchvision's raw layout (fails with a message naming the three options).
"$VENV/bin/python" -c "from regcourse.data import load_fashion_mnist as l; d = l(); print('[setup] Fashion-MNIST ready:', tuple(d.X_train.shape), tuple(d.X_test.shape))"

# 4. MathJax 3 served from the built site, so the book's math renders without internet.
if [ ! -f book/_static/mathjax/tex-chtml.js ]; then
  if command -v npm >/dev/null; then
    say "fetching mathjax@3 from npm for offline math"
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent mathjax@3 >/dev/null && tar xzf mathjax-*.tgz)
    mkdir -p book/_static/mathjax
    cp -r "$tmp/package/es5/." book/_static/mathjax/
    rm -rf "$tmp"
  else
    say "npm not found: the book will load MathJax from its CDN instead."
  fi
fi
