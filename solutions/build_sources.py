"""Write the nbgrader source notebooks solutions/<assignment>/<assignment>.ipynb from the cells below.

    .venv/bin/python solutions/build_sources.py            # then, from the repo root:
    nbgrader generate_assignment weight_decay --force && nbgrader generate_assignment dropout --force

Cells are built from strings with nbformat (no outputs, nbformat 4.5 with cell ids). Each cell is
(kind, source) or (kind, source, grade_id, points): kinds are
  md        plain markdown (read-only in the student version)
  answer    markdown the student overwrites with a written answer (plain, unlocked)
  code      read-only code given to the student
  solution  autograded answer: code with ### BEGIN/END SOLUTION regions
  free      code the student writes, not graded by itself (e.g. a plot); ### BEGIN SOLUTION regions
  test      autograded test cell (points), public part + ### BEGIN HIDDEN TESTS part
  task      manually graded task (points): the question, with the rubric in a mark-scheme region
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True  # no solutions/__pycache__: nbgrader would list it as an assignment

PRELUDE = "import importlib, regcourse.grading as G\nG = importlib.reload(G)  # a fresh copy: redefining or patching helpers does not help\n"


def _meta(**kw):
    base = {"grade": False, "solution": False, "locked": False, "schema_version": 3}
    base.update(kw)
    return {"nbgrader": base}


def build(cells, name):
    nb = new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    counter = 0
    for spec in cells:
        kind, src = spec[0], spec[1].strip("\n")
        counter += 1
        gid = spec[2] if len(spec) > 2 else f"{name}-{kind}-{counter:02d}"
        if kind == "md":
            cell = new_markdown_cell(src, metadata=_meta(locked=True, grade_id=gid))
        elif kind == "answer":
            cell = new_markdown_cell(src)
        elif kind == "code":
            cell = new_code_cell(src, metadata=_meta(locked=True, grade_id=gid))
        elif kind in ("solution", "free"):
            cell = new_code_cell(src, metadata=_meta(solution=True, grade_id=gid))
        elif kind == "test":
            cell = new_code_cell(PRELUDE + src, metadata=_meta(grade=True, locked=True, grade_id=gid,
                                                                points=spec[3]))
        elif kind == "task":
            cell = new_markdown_cell(src, metadata=_meta(task=True, locked=True, grade_id=gid,
                                                         points=spec[3]))
        else:
            raise ValueError(kind)
        nb.cells.append(cell)
    # Stable cell ids: regenerating gives identical files.
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{name.replace('_', '-')}-{i:02d}"
    nbformat.validate(nb)
    return nb


def main():
    from source_weight_decay import CELLS as WD
    from source_dropout import CELLS as DO
    for name, cells in (("weight_decay", WD), ("dropout", DO)):
        out = HERE / name / f"{name}.ipynb"
        out.parent.mkdir(exist_ok=True)
        nbformat.write(build(cells, name), out)
        print("wrote", out.relative_to(HERE.parent))


if __name__ == "__main__":
    main()
