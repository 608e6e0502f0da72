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
from pathlib import Path

import pytest

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
}


def threads_per_worker(cores: int | None, workers: int) -> int:
    return max(1, (cores or 1) // max(1, workers))


def pytest_configure(config):
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
