"""Helpers the grading tests share for editing nbgrader notebooks (not a test module)."""
from __future__ import annotations


def cell(nb, grade_id: str):
    """The cell of ``nb`` whose nbgrader metadata has ``grade_id``; KeyError names the id if there is none."""
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return c
    raise KeyError(grade_id)
