"""The test command runs each chapter once: nbval's run is what the book build stores (conftest.py,
scripts/execute_chapters.py --executed). What must hold for that to be honest:

* a notebook whose every cell passed under nbval is written with the outputs its kernel produced (text, glue
  displays, figures), in a valid notebook with the kernel's language_info;
* a notebook with a failing cell, or only some of its cells run, is not written (the build then runs it itself
  and shows the failure);
* the build takes a written copy only if its code cells are exactly the chapter's current ones;
* xdist work units: a notebook stays on one worker, each Colab-like run is its own unit, the longest go first.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import execute_chapters  # noqa: E402

sys.path.insert(0, str(ROOT))
import conftest as course_conftest  # noqa: E402


def notebook(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# A chapter")] + [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


def run_nbval(tmp_path: Path, nb, *selection: str) -> tuple[subprocess.CompletedProcess, Path]:
    """pytest --nbval on one notebook in a folder of its own, with the course's conftest.py (and the venv's own
    kernel: the folder has no course package to install for conftest's)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "conftest.py", tmp_path / "conftest.py")
    nbformat.write(nb, tmp_path / "chapter.ipynb")
    out = tmp_path / "executed"
    target = "chapter.ipynb" + (f"::{selection[0]}" if selection else "")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", target,
                           "--nbval-kernel-name", "python3", "--nbval-save-executed", str(out)],
                          cwd=tmp_path, capture_output=True, text=True)
    return proc, out / "chapter.ipynb"


@pytest.mark.slow
def test_a_passing_notebook_is_written_with_its_outputs(tmp_path):
    nb = notebook("print('hello')",
                  "from IPython.display import display\n"
                  "display({'application/papermill.record/text/plain': '0.25'},\n"
                  "        metadata={'scrapbook': {'name': 'acc', 'mime_prefix': 'application/papermill.record/'}},"
                  " raw=True)",
                  "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()",
                  "6 * 7")
    proc, written = run_nbval(tmp_path, nb)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ran = nbformat.read(written, as_version=4)
    nbformat.validate(ran)
    code = [c for c in ran.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == [1, 2, 3, 4]
    assert code[0].outputs[0].text == "hello\n"
    glue = code[1].outputs[0]
    assert glue.metadata["scrapbook"]["name"] == "acc" and glue.data == {
        "application/papermill.record/text/plain": "0.25"}
    assert any("image/png" in o.get("data", {}) for o in code[2].outputs)
    assert code[3].outputs[0].output_type == "execute_result" and code[3].outputs[0].data["text/plain"] == "42"
    assert ran.metadata.language_info.name == "python" and "regcourse_nbval_seconds" in ran.metadata
    assert ran.cells[0].source == "# A chapter"


@pytest.mark.slow
def test_a_failing_or_partly_run_notebook_is_not_written(tmp_path):
    proc, written = run_nbval(tmp_path / "fails", notebook("x = 1", "assert x == 2, 'wrong'", "print(x)"))
    assert proc.returncode != 0 and not written.exists()
    proc, written = run_nbval(tmp_path / "partly", notebook("x = 1", "print(x)"), "Cell 0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not written.exists()


def test_the_build_takes_only_a_copy_of_the_current_code(tmp_path):
    chapter = ROOT / "book" / "dropout" / "02_train_vs_eval.ipynb"
    copy = tmp_path / "book" / "dropout" / chapter.name
    copy.parent.mkdir(parents=True)
    assert execute_chapters.executed_copy(chapter, tmp_path) is None  # nothing written
    assert execute_chapters.executed_copy(chapter, None) is None      # no folder given
    nb = nbformat.read(chapter, as_version=4)
    nbformat.write(nb, copy)
    assert execute_chapters.code_of(execute_chapters.executed_copy(chapter, tmp_path)) == execute_chapters.code_of(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    code[-1].source += "\n# edited after the test run"
    nbformat.write(nb, copy)
    assert execute_chapters.executed_copy(chapter, tmp_path) is None  # stale: the chapter changed since
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    code[-1].source = code[-1].source.removesuffix("\n# edited after the test run")
    markdown[0].source += "\n\nA sentence added."  # prose does not change what the code computes
    nbformat.write(nb, copy)
    assert execute_chapters.executed_copy(chapter, tmp_path) is not None


def test_work_units_keep_a_notebook_together_and_split_the_colab_runs():
    scope = course_conftest.course_scope
    assert scope("book/dropout/05_with_weight_decay.ipynb::Cell 3") == "book/dropout/05_with_weight_decay.ipynb"
    assert scope("tests/test_grading_pipeline.py::TestDropoutGrading::test_x") == \
        "tests/test_grading_pipeline.py::TestDropoutGrading"
    assert scope("tests/test_term.py::test_whole_term") == "tests/test_term.py"
    colab = course_conftest.LEARNER + "book/dropout/02_train_vs_eval]"
    assert scope(colab) == colab
    assert scope("tests/test_learner_notebooks.py::test_citations_read_as_author_year") == \
        "tests/test_learner_notebooks.py"
    pages = {scope(f"{course_conftest.BROWSER_PAGE}{name}.html]") for name in ("intro", "faq", "notation",
                                                                             "dropout/01_theory", "exercises")}
    assert pages == {f"tests/test_browser.py::pages-{k}" for k in range(course_conftest.BROWSER_GROUPS)}
    assert scope("tests/test_browser.py::test_search_finds_dropout") == "tests/test_browser.py"


@pytest.mark.slow
def test_every_timed_scope_exists():
    """A renamed test or notebook would silently lose its place at the front of the queue."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
                          cwd=ROOT, capture_output=True, text=True)
    scopes = {course_conftest.course_scope(line.strip()) for line in proc.stdout.splitlines() if "::" in line}
    missing = [s for s in course_conftest.SCOPE_SECONDS if s not in scopes]
    assert not missing, missing


def test_the_scheduler_is_registered_with_xdist_and_pytest_runs_without_it(pytestconfig):
    """With xdist loaded its hook is in place; `-p no:xdist` (which knows no such hook) still collects."""
    assert pytestconfig.pluginmanager.hasplugin("xdist")
    assert pytestconfig.pluginmanager.has_plugin("course-scheduler")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider",
                           "--collect-only", "-q", "tests/test_data.py"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
