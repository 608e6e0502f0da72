"""Test selection and CPU sharing for the whole suite.

At the repository root so it applies however pytest is called (`pytest book/x.ipynb` too).

Markers (registered in pyproject.toml, enforced by --strict-markers) are applied here by where a test lives,
so that `pytest -m "not slow"` is the unit tests alone:

* every nbval cell (book/ and solutions/ notebooks) is `notebook` and `slow`;
* tests/test_grading_pipeline.py and test_grading_sandbox.py are `grading` and `slow` (nbgrader over temporary
  classes, sandboxed kernels), and single tests that take seconds are `slow` (TEST_MARKERS below);
* tests/test_browser.py and tests/test_built_book.py mark themselves (`browser`, `built_book`; both `slow`).

Under pytest-xdist (`-n N`, opt-in) each worker gets cores // N torch threads (at least one), through the
OpenMP/MKL variables that torch reads at import and that kernels and nbgrader subprocesses inherit: N
workers with the default thread count each would oversubscribe the cores. An explicit (non-empty)
OMP_NUM_THREADS wins.
"""
import os
import sys
import zlib
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent

# Progress bars are for people; keep test logs short.
os.environ.setdefault("REGCOURSE_NO_PROGRESS", "1")

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

# Test files whose every test carries these markers (for files that do not mark themselves).
FILE_MARKERS = {
    "test_grading_pipeline.py": ("grading", "slow"),
    "test_grading_sandbox.py": ("grading", "slow"),   # starts sandboxed kernels
}
# Single tests that train for minutes ("file::function"), until their file marks them itself.
TEST_MARKERS = {
    "test_dropout.py::test_reaches_d2l_test_accuracy": ("slow",),  # 2 x 10 Fashion-MNIST epochs
    # Seconds each (a Sphinx build, a kernel, a subprocess importing torch): `-m "not slow"` stays fast.
    "test_translation.py::test_catalogs_match_the_current_sources": ("slow",),
    "test_learner_notebooks.py::test_a_learner_edition_runs_like_on_colab": ("slow",),
    "test_dropout_experiments.py::test_mc_dropout_mean_approaches_the_average_of_the_thinned_networks": ("slow",),
    "test_stored_notebooks.py::test_the_checks_catch_a_notebook_with_outputs": ("slow",),
    "test_chapter_code.py::test_modules_import_without_myst_nb_and_touch_no_random_state": ("slow",),
    "test_term.py::test_refuses_outside_course_root": ("slow",),
    "test_run_once.py::test_the_scheduler_is_registered_with_xdist_and_pytest_runs_without_it": ("slow",),
}


def threads_per_worker(cores: int | None, workers: int) -> int:
    return max(1, (cores or 1) // max(1, workers))


def pytest_configure(config):
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(CourseScheduler(), "course-scheduler")
    use_installed_course_kernel(config)
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers and not os.environ.get("OMP_NUM_THREADS"):  # unset or empty
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        n = str(threads_per_worker(cores, int(workers)))
        for var in THREAD_VARS:
            os.environ[var] = n
        # If a plugin already imported torch, its pool is sized: resize it for the tests run in this process.
        torch = __import__("sys").modules.get("torch")
        if torch is not None:
            torch.set_num_threads(int(n))


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(str(item.fspath))
        if path.suffix == ".ipynb":
            item.add_marker(pytest.mark.notebook)
            item.add_marker(pytest.mark.slow)
        function = getattr(item, "originalname", item.name)  # without parameters (nbval cells have none)
        names = FILE_MARKERS.get(path.name, ()) + TEST_MARKERS.get(f"{path.name}::{function}", ())
        for name in names:
            item.add_marker(getattr(pytest.mark, name))
    # Longest scopes first (a stable sort: the order inside a scope, e.g. a notebook's cells, is kept).
    items.sort(key=lambda item: -SCOPE_SECONDS.get(course_scope(item.nodeid), 0))


# ------------------------------------------------------------------------- the kernel nbval runs notebooks in
# The package as pip installs it, not the venv's editable install: the environment of a learner edition after its
# install cell (scripts/course_kernel.py). A chapter that needs a file the package does not ship fails here, and
# tests/test_learner_notebooks.py can rely on nbval's run for what the learner editions execute.

def use_installed_course_kernel(config) -> None:
    option = config.option
    if not (getattr(option, "nbval", False) or getattr(option, "nbval_lax", False)):
        return
    if option.nbval_kernel_name or getattr(option, "current_env", False):
        return   # the caller chose a kernel
    sys.path.insert(0, str(ROOT / "scripts"))
    import course_kernel
    jupyter_dir, target = course_kernel.installed_kernel()
    os.environ["JUPYTER_PATH"] = os.pathsep.join([str(jupyter_dir)] + [
        p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p and p != str(jupyter_dir)])
    option.nbval_kernel_name = course_kernel.NAME
    config.stash[INSTALL_TARGET] = target


INSTALL_TARGET = pytest.StashKey[Path]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    target = item.config.stash.get(INSTALL_TARGET, None)
    if target is not None and _is_nbval_cell(item):
        import course_kernel
        course_kernel.ensure_installed(target)   # before nbval starts the notebook's kernel


# ------------------------------------------------------------------ one execution for nbval and the book build
# `pytest --nbval --nbval-save-executed DIR` writes every notebook whose cells all passed, with the outputs nbval
# received from its kernel, to DIR/<path of the notebook>. scripts/execute_chapters.py --executed DIR stores a
# chapter's copy in the book's execution cache instead of running it again, if its code cells are exactly the
# chapter's current ones. The test command (scripts/run_tests.sh) so runs each chapter once for both.

def pytest_addoption(parser):
    parser.addoption("--nbval-save-executed", metavar="DIR", default=None,
                     help="write each notebook that passed under nbval, with its outputs, below DIR")


def _is_nbval_cell(item) -> bool:
    return hasattr(item, "test_outputs") and hasattr(item, "cell") and Path(str(item.fspath)).suffix == ".ipynb"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not (_is_nbval_cell(item) and item.config.getoption("nbval_save_executed")):
        return
    notebook = item.parent
    if report.when == "call" and report.passed and item.test_outputs is not None:
        notebook._executed_cells = getattr(notebook, "_executed_cells", 0) + 1
        notebook._seconds = getattr(notebook, "_seconds", 0.0) + report.duration
        item.cell.outputs = [nbformat.from_dict(dict(o)) for o in item.test_outputs]
        item.cell.execution_count = notebook._executed_cells


@pytest.hookimpl(tryfirst=True)  # before pytest's own teardown stops the notebook's kernel
def pytest_runtest_teardown(item, nextitem):
    dest = item.config.getoption("nbval_save_executed", None)
    if not (dest and _is_nbval_cell(item)) or (nextitem is not None and nextitem.parent is item.parent):
        return
    notebook = item.parent  # the last cell of this notebook has run
    cells = [c for c in notebook.nb.cells if c.cell_type == "code"]
    if getattr(notebook, "_executed_cells", 0) != len(cells):
        return  # a cell failed, was skipped or not selected: the build runs this notebook itself
    try:  # the kernel's language_info, as nbclient records it (myst-nb picks the code lexer from it)
        reply = notebook.kernel.kc.kernel_info(reply=True, timeout=10)
        notebook.nb.metadata["language_info"] = reply["content"]["language_info"]
    except Exception as e:  # noqa: BLE001 (the outputs are what matters; say why the metadata is missing)
        item.config.get_terminal_writer().line(f"\n{item.fspath}: no language_info from the kernel ({e!r})")
    try:
        nbformat.validate(notebook.nb)
    except nbformat.ValidationError as e:
        item.config.get_terminal_writer().line(f"\n{item.fspath}: not saved for the build ({e.message})")
        return
    notebook.nb.metadata["regcourse_nbval_seconds"] = round(notebook._seconds, 1)  # read and removed by the build
    path = Path(str(item.fspath)).resolve()
    rel = path.relative_to(item.config.rootpath) if path.is_relative_to(item.config.rootpath) else path.name
    target = Path(dest) / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook.nb, target)


# ------------------------------------------------------------------------------- xdist: the longest work first
# `--dist loadscope` keeps each notebook (one kernel), test class and module (their fixtures) on one worker. Three
# refinements for this suite, where a handful of scopes take minutes and the rest seconds:
# * each Colab-like execution of a learner edition is its own scope (no shared fixture), so that they do not
#   queue on one worker;
# * the browser test's pages are split into BROWSER_GROUPS scopes, so that two browsers share the minute and a
#   half they take;
# * scopes start longest first (the estimates below; others after them, in collection order): a scope of minutes
#   left for the end would keep one worker busy while the other idles.
# Seconds per scope under `-n 2` (AMD EPYC, 2026-11-22); they order the work, nothing else.
LEARNER = "tests/test_learner_notebooks.py::test_a_learner_edition_runs_like_on_colab["
SCOPE_SECONDS = {
    "tests/test_term.py": 290,
    "book/dropout/05_with_weight_decay.ipynb": 170,
    "tests/test_grading_attacks.py": 155,
    "tests/test_grading_pipeline.py::TestWeightDecayGrading": 150,
    "tests/test_grading_pipeline.py::TestDropoutGrading": 110,
    "tests/test_grading_pipeline.py::TestDropoutBackwardGrading": 80,
    "book/dropout/04_experiments.ipynb": 70,
    "tests/test_formgrader_browser.py": 50,
    "tests/test_dropout.py": 35,
    "book/dropout/06_variants.ipynb": 32,
    "book/weight_decay/04_neural_network.ipynb": 27,
    "book/dropout/03_from_scratch.ipynb": 20,
}


BROWSER_PAGE, BROWSER_GROUPS = "tests/test_browser.py::test_page[", 2


def course_scope(nodeid: str) -> str:
    """The xdist work unit of a test: loadscope's (module, class or notebook), the test alone (LEARNER), or one
    of BROWSER_GROUPS shares of the built book's pages (each opens its own browser)."""
    if nodeid.startswith(LEARNER):
        return nodeid
    if nodeid.startswith(BROWSER_PAGE):
        return f"tests/test_browser.py::pages-{zlib.crc32(nodeid.encode()) % BROWSER_GROUPS}"
    return nodeid.rsplit("::", 1)[0]


class CourseScheduler:
    """The xdist hook, registered only when xdist is loaded (`-p no:xdist` knows no such hook and would fail)."""

    @staticmethod
    def pytest_xdist_make_scheduler(config, log):
        if config.getoption("dist", None) != "loadscope":
            return None
        from xdist.scheduler import LoadScopeScheduling

        class CourseScheduling(LoadScopeScheduling):
            def _split_scope(self, nodeid):
                return course_scope(nodeid)

        config.option.loadscopereorder = False  # keep the order pytest_collection_modifyitems gives (longest first)
        return CourseScheduling(config, log)
