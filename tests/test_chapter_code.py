"""The chapters' reusable code has one source: the notebook cells tagged ``chapter-code``.

scripts/harvest_chapter_code.py copies those cells into the generated modules regcourse/chapters/*.py, which
later chapters and the tests import. These tests check that the modules are in sync with the notebooks, that
they only define things (importing them trains nothing and needs no myst_nb), and that no chapter repeats a
definition another chapter's tagged cells already make.
"""
from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("harvest_chapter_code", ROOT / "scripts" / "harvest_chapter_code.py")
harvest = importlib.util.module_from_spec(spec)
spec.loader.exec_module(harvest)

NOTEBOOKS = harvest.chapter_notebooks()
MODULES = [harvest.module_name(p) for p in NOTEBOOKS]


def test_every_chapter_with_tagged_cells_has_a_module():
    assert {"weight_decay_from_scratch", "weight_decay_concise", "dropout_from_scratch",
            "dropout_experiments"} <= set(MODULES)


def test_generated_modules_are_in_sync_with_the_notebooks(tmp_path):
    harvest.write(tmp_path)                     # regenerate into a temporary folder and compare
    generated = {p.name: p.read_text(encoding="utf-8") for p in tmp_path.glob("*.py")}
    stored = {p.name: p.read_text(encoding="utf-8") for p in harvest.PACKAGE.glob("*.py") if p.name != "__init__.py"}
    stale = sorted(name for name in generated.keys() | stored.keys() if generated.get(name) != stored.get(name))
    assert not stale, (f"regcourse/chapters/ is out of date with the notebooks' chapter-code cells "
                       f"({', '.join(stale)}): run `{harvest.COMMAND}` and commit the result")


def test_sync_check_notices_an_edited_module(tmp_path):
    harvest.write(tmp_path)
    assert harvest.out_of_date(tmp_path) == []
    target = tmp_path / f"{MODULES[0]}.py"
    target.write_text(target.read_text(encoding="utf-8") + "x = 1\n", encoding="utf-8")
    (tmp_path / "stray.py").write_text("", encoding="utf-8")
    assert harvest.out_of_date(tmp_path) == sorted([target.name, "stray.py"])


def test_generated_module_says_where_it_comes_from():
    for notebook, name in zip(NOTEBOOKS, MODULES):
        text = (harvest.PACKAGE / f"{name}.py").read_text(encoding="utf-8")
        assert text.startswith(f'"""GENERATED from {notebook.relative_to(ROOT).as_posix()}')
        assert "do not edit" in text.splitlines()[0] and harvest.COMMAND in text


# ---------------------------------------------------------------------------------------------------------
# Definitions only

ALLOWED = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)


def statements_that_do_work(source: str) -> list[str]:
    """Top-level statements of a tagged cell other than imports, definitions and assignments of constants."""
    work = []
    for node in ast.parse(source).body:
        docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        if not isinstance(node, ALLOWED) and not docstring:
            work.append(ast.unparse(node).splitlines()[0])
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and any(
                isinstance(n, ast.Call) and getattr(n.func, "attr", getattr(n.func, "id", "")) not in CONSTRUCTORS
                for n in ast.walk(node)):
            work.append(ast.unparse(node).splitlines()[0])
    return work


CONSTRUCTORS = {"full", "tensor", "zeros", "ones"}         # building a constant tensor is a definition


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=MODULES)
def test_tagged_cells_only_define(notebook):
    for cell in harvest.tagged_cells(notebook):
        work = statements_that_do_work(cell.source)
        assert not work, (f"{notebook.name}, cell {cell.id} is tagged chapter-code but does work ({work}): move "
                          "that into an untagged cell so that importing the generated module only defines")


def test_definitions_check_rejects_a_cell_that_trains():
    assert statements_that_do_work("import torch\nx = torch.full((2,), 0.1)\ndef f():\n    return 1\n") == []
    assert statements_that_do_work("net = concise_net()\nfor epoch in range(3):\n    pass\nprint(1)\n") == [
        "net = concise_net()", "for epoch in range(3):", "print(1)"]


def test_modules_import_without_myst_nb_and_touch_no_random_state():
    code = ("import sys; sys.modules['myst_nb'] = None\n"         # any `import myst_nb` now fails
            "import importlib, torch\n"
            "state = torch.random.get_rng_state().clone()\n"
            f"for name in {MODULES!r}:\n"
            "    importlib.import_module('regcourse.chapters.' + name)\n"
            "assert torch.equal(state, torch.random.get_rng_state()), 'importing drew random numbers'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == "", f"importing the chapter modules printed: {result.stdout[:500]}"


# ---------------------------------------------------------------------------------------------------------
# Defined once

def definitions(source: str) -> dict[str, str]:
    """{name: normalized text} of the top-level functions and classes of some code."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    return {node.name: ast.dump(node) for node in ast.parse("\n".join(lines)).body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef))}


def copies(chapter_code: dict[str, dict[str, str]], cells: list[tuple[str, str]]) -> list[str]:
    """Definitions in ``cells`` ((where, source) pairs) identical to one in ``chapter_code`` ({module: defs})
    made elsewhere."""
    found = []
    for where, source in cells:
        for name, dump in definitions(source).items():
            for module, defs in chapter_code.items():
                if defs.get(name) == dump and not where.startswith(module + ":"):
                    found.append(f"{where} repeats {name} of regcourse.chapters.{module}")
    return found


def test_no_chapter_repeats_chapter_code():
    chapter_code = {name: definitions((harvest.PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
                    for name in MODULES}
    cells = []
    for notebook in sorted((ROOT / "book").glob("*/*.ipynb")):
        own = harvest.module_name(notebook) if notebook in NOTEBOOKS else notebook.name
        for cell in nbformat.read(notebook, as_version=4).cells:
            if cell.cell_type == "code" and "chapter-code" not in cell.metadata.get("tags", []):
                cells.append((f"{notebook.relative_to(ROOT).as_posix()} cell {cell.id}", cell.source))
            elif cell.cell_type == "code":                  # the module's own tagged cells define it
                cells.append((f"{own}: cell {cell.id}", cell.source))
    found = copies(chapter_code, cells)
    assert not found, "import these from regcourse.chapters instead: " + "; ".join(found)


def test_copy_check_finds_a_repeated_definition():
    defs = {"dropout_from_scratch": definitions("def init_weights(m):\n    return m\n")}
    assert copies(defs, [("dropout_from_scratch: cell a", "def init_weights(m):\n    return m\n")]) == []
    assert copies(defs, [("book/dropout/04 cell b", "def init_weights(m):\n    return m\n")]) == [
        "book/dropout/04 cell b repeats init_weights of regcourse.chapters.dropout_from_scratch"]


def test_a_plain_install_ships_the_chapter_modules():
    """Colab installs the package with pip (not editable): setuptools must be told about the subpackage."""
    import tomllib
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    packages = setuptools.get("packages", [])
    found = isinstance(packages, dict) and "find" in packages      # [tool.setuptools.packages.find] finds them
    assert found or "regcourse.chapters" in packages, (
        'pyproject.toml lists packages = ["regcourse"] only, so `pip install git+...` installs regcourse without '
        'regcourse.chapters and the chapters fail to import: use packages = ["regcourse", "regcourse.chapters"]')
