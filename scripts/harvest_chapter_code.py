"""Harvest the chapters' reusable code into the package, as D2L's ``#@save`` does.

A chapter defines the code that later chapters and the tests reuse in code cells tagged ``chapter-code``
(definitions and imports only: no training, no output). This script copies those cells, in order, into one
GENERATED module per notebook (regcourse/chapters/__init__.py is written by hand):

    book/<part>/<NN>_<name>.ipynb  ->  regcourse/chapters/<part>_<name>.py

e.g. book/dropout/03_from_scratch.ipynb -> regcourse/chapters/dropout_from_scratch.py. Later chapters import
from these modules (``from regcourse.chapters.dropout_from_scratch import concise_net``) instead of repeating
the code, and the tests import them instead of executing notebook cells. After changing a tagged cell:

    python scripts/harvest_chapter_code.py            # rewrite regcourse/chapters/*.py
    python scripts/harvest_chapter_code.py --check    # exit 1 if a module is out of date with its notebook
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
PACKAGE = ROOT / "regcourse" / "chapters"
TAG = "chapter-code"
COMMAND = "python scripts/harvest_chapter_code.py"


def module_name(notebook: Path) -> str:
    """book/dropout/03_from_scratch.ipynb -> dropout_from_scratch."""
    return f"{notebook.parent.name}_{re.sub(r'^[0-9]+_', '', notebook.stem)}"


def tagged_cells(notebook: Path) -> list:
    nb = nbformat.read(notebook, as_version=4)
    return [c for c in nb.cells if c.cell_type == "code" and TAG in c.metadata.get("tags", [])]


def chapter_notebooks() -> list[Path]:
    """The book's notebooks that have cells tagged chapter-code, in order."""
    return [p for p in sorted(BOOK.glob("*/*.ipynb")) if ".ipynb_checkpoints" not in p.parts and tagged_cells(p)]


def harvest(notebook: Path) -> str:
    """The text of the generated module for one notebook."""
    cells = tagged_cells(notebook)
    if not cells:
        raise ValueError(f"{notebook} has no code cell tagged {TAG!r}")
    where = notebook.relative_to(ROOT).as_posix()
    header = (f'"""GENERATED from {where} by {COMMAND}: do not edit.\n\n'
              f"The notebook's code cells tagged {TAG!r}, in order (each marked '# --- cell <id> ---'). To\n"
              f"change this code, edit the notebook, then run {COMMAND}.\n"
              '"""\n'
              "# ruff: noqa: E402, F401, I001  (imports stay in the cells that introduce them; later cells use them)\n")
    blocks = [f"# --- cell {c.get('id', '?')} ---\n{c.source.strip()}\n" for c in cells]
    return header + "\n\n" + "\n\n".join(blocks)


def expected_files() -> dict[str, str]:
    """{file name in regcourse/chapters: text} for every generated file."""
    return {module_name(notebook) + ".py": harvest(notebook) for notebook in chapter_notebooks()}


def generated_present(directory: Path) -> set[str]:
    """The generated modules in ``directory`` (every .py file but the hand-written __init__.py)."""
    return {p.name for p in directory.glob("*.py") if p.name != "__init__.py"} if directory.is_dir() else set()


def out_of_date(directory: Path = PACKAGE) -> list[str]:
    """Names of the generated files that are missing, stale or left over in ``directory``."""
    files = expected_files()
    present = generated_present(directory)
    stale = [name for name, text in files.items()
             if name not in present or (directory / name).read_text(encoding="utf-8") != text]
    return sorted(stale + sorted(present - set(files)))


def write(directory: Path = PACKAGE) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    files = expected_files()
    for leftover in generated_present(directory) - set(files):
        (directory / leftover).unlink()
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return sorted(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that regcourse/chapters is up to date")
    args = parser.parse_args(argv)
    if args.check:
        stale = out_of_date()
        if stale:
            print(f"regcourse/chapters is out of date with the notebooks ({', '.join(stale)}); run: {COMMAND}")
            return 1
        print("regcourse/chapters is up to date with the notebooks' chapter-code cells")
        return 0
    for name in write():
        print(f"wrote regcourse/chapters/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
