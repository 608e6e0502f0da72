"""Fail when a chapter of the book did not execute, on every build and not only the first.

Sphinx re-reads only changed sources, so after a chapter fails once, the next `jupyter-book build` finds
nothing to do and says "build succeeded" over the broken page. This check asks jupyter-cache (the build's
execution cache, _build/.jupyter_cache) whether every executed notebook of the book, *as it is now on disk*,
has a successful execution record. A notebook without one failed (or was never executed): we name it, the
cell that raised and the error, and exit 1.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import yaml
from jupyter_cache import get_cache

ROOT = Path(__file__).resolve().parent.parent


def book_notebooks() -> list[Path]:
    """Every notebook the book executes: the .ipynb entries of _toc.yml."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    entries = [toc["root"]] + [c["file"] for part in toc.get("parts", []) for c in part.get("chapters", [])]
    return [ROOT / f"{e}.ipynb" for e in entries if (ROOT / f"{e}.ipynb").exists()]


def summarize(traceback: str, nb) -> str:
    """The failing cell (its index and first lines) and the error line, from nbclient's error text."""
    traceback = re.sub(r"\x1b\[[0-9;]*m", "", traceback)  # IPython colours its tracebacks
    cell = re.search(r"executing the following cell:\n-+\n(.*?)\n-+\n", traceback, re.S)
    source = cell.group(1).strip().splitlines() if cell else []
    errors = [ln.strip() for ln in traceback.splitlines() if re.match(r"^\s*\w*(Error|Exception)\b.*:", ln)]
    head = "\n".join(f"      | {ln}" for ln in source[:4]) + ("\n      | ..." if len(source) > 4 else "")
    index = next((i for i, c in enumerate(nb.cells) if source and c.source.strip().splitlines() == source), None)
    which = f"cell {index} (counting from 0, markdown included)" if index is not None else "the cell"
    return (f"    {which} raised:\n{head}\n" if source else "") + \
           (f"    error: {errors[-1]}" if errors else "    (no error text recorded)")


def main() -> int:
    cache_dir = ROOT / "_build" / ".jupyter_cache"
    if not cache_dir.exists():
        print(f"check_execution: no execution cache at {cache_dir}; build the book first.", file=sys.stderr)
        return 1
    cache = get_cache(str(cache_dir))
    tracebacks = {Path(r.uri).resolve(): r.traceback for r in cache.list_project_records() if r.traceback}
    failed = []
    for path in book_notebooks():
        nb = nbformat.read(path, as_version=4)
        try:
            cache.match_cache_notebook(nb)   # a successful execution of exactly this code
        except KeyError:
            failed.append(path)
    if not failed:
        print(f"check_execution: all {len(book_notebooks())} chapters executed without error.")
        return 0
    print(f"check_execution: {len(failed)} chapter(s) of the book did not execute; their pages show an error "
          "or blank numbers:", file=sys.stderr)
    for path in failed:
        tb = tracebacks.get(path.resolve())
        print(f"  {path.relative_to(ROOT)}", file=sys.stderr)
        detail = summarize(tb, nbformat.read(path, as_version=4)) if tb else \
            "    no successful run of its current code is recorded"
        print(detail, file=sys.stderr)
    print("Fix the cell, then build again (the chapter re-executes because its code changed; to re-run an "
          "unchanged chapter, delete _build/.jupyter_cache).", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
