"""Notebooks are stored without outputs: what git holds is code and prose, never results, paths or data.

The rule is nbstripout's, run the way .pre-commit-config.yaml runs it (``--keep-id``: cell ids stay, so a
commit does not renumber every cell). The check is over every notebook git tracks, as it is in the work tree.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NBSTRIPOUT = [sys.executable, "-m", "nbstripout", "--keep-id"]


def tracked_notebooks() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z", "--", "*.ipynb"], cwd=ROOT, capture_output=True, check=True)
    return [ROOT / p for p in out.stdout.decode().split("\0") if p and (ROOT / p).is_file()]


def stored_results(path: Path) -> list[str]:
    """Outputs and execution counts left in a notebook, named by cell."""
    nb = nbformat.read(path, as_version=4)
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            kinds = sorted({o.get("output_type", "?") for o in cell.outputs})
            problems.append(f"cell {i}: {len(cell.outputs)} output(s) ({', '.join(kinds)})")
        if cell.get("execution_count") is not None:
            problems.append(f"cell {i}: execution count {cell.execution_count}")
    return problems


def nbstripout_would_change(paths: list[Path]) -> list[str]:
    """The notebooks nbstripout --verify would rewrite (outputs, counts, volatile metadata such as
    ExecuteTime or collapsed)."""
    proc = subprocess.run([*NBSTRIPOUT, "--verify", *map(str, paths)], capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"nbstripout failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return [line.removeprefix("Dry run: would have stripped ").strip()
            for line in proc.stdout.splitlines() if "would have stripped" in line]


def test_the_checks_catch_a_notebook_with_outputs(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("Prose."),
        nbformat.v4.new_code_cell("1 + 1", execution_count=3,
                                  outputs=[nbformat.v4.new_output("execute_result", {"text/plain": "2"},
                                                                  execution_count=3)]),
        nbformat.v4.new_code_cell("x = 1"),
    ])
    dirty, clean = tmp_path / "dirty.ipynb", tmp_path / "clean.ipynb"
    nbformat.write(nb, dirty)
    assert stored_results(dirty) == ["cell 1: 1 output(s) (execute_result)", "cell 1: execution count 3"]
    assert nbstripout_would_change([dirty]) == [str(dirty)]
    subprocess.run([*NBSTRIPOUT, str(dirty)], check=True)  # what the pre-commit hook does
    nb.cells[1].outputs, nb.cells[1].execution_count = [], None
    nbformat.write(nb, clean)
    assert stored_results(dirty) == [] and nbstripout_would_change([dirty, clean]) == []


def test_tracked_notebooks_have_no_outputs():
    notebooks = tracked_notebooks()
    assert len(notebooks) >= 10, f"expected the book's and the assignments' notebooks, found {notebooks}"
    problems = {str(p.relative_to(ROOT)): stored_results(p) for p in notebooks}
    problems = {k: v for k, v in problems.items() if v}
    assert not problems, ("notebooks stored with results (clear them: `pre-commit run nbstripout --all-files` "
                          f"or `nbstripout --keep-id FILE`): {problems}")


def test_tracked_notebooks_are_as_nbstripout_leaves_them():
    changed = nbstripout_would_change(tracked_notebooks())
    assert not changed, f"nbstripout would rewrite (run `nbstripout --keep-id` on them): {changed}"
