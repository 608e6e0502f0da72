"""Execute the book's chapters two at a time into the build's execution cache, before Sphinx reads them.

`jupyter-book build` executes the notebooks one after the other, each kernel with torch's default two threads.
The course's networks are small: a second torch thread in one kernel is mostly idle, while two single-thread
kernels side by side use both cores (benchmarks/results.md measures both ways). So this script runs every
chapter whose current code has no successful record in `_build/.jupyter_cache`, with `--jobs` kernels at a
time and one torch thread each, and stores each result in the cache exactly as myst-nb would. The Sphinx build
that follows finds every chapter cached and executes nothing.

With `--executed DIR` (the test command passes the folder its nbval run wrote, see conftest.py), a chapter whose
executed copy DIR/<path> has exactly the chapter's current code cells is stored from there instead of being run
a second time: nbval has just run it, cell by cell, in a fresh kernel with one torch thread.

A chapter that fails is recorded as failed (with its traceback) and the script goes on with the others; the
build then shows the error and `scripts/check_execution.py` names the notebook and the cell.

    python scripts/execute_chapters.py [--jobs 2] [--timeout 900] [--executed DIR]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from jupyter_cache.cache.db import NbProjectRecord

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_execution import ROOT, book_notebooks  # noqa: E402  (one definition of "the book's notebooks")

CACHE = ROOT / "_build" / ".jupyter_cache"


def execute(path: str, timeout: int, threads: int) -> tuple[str, dict, float, str | None]:
    """Run one notebook in a fresh kernel (in its own folder, as the build does); return it executed."""
    from jupyter_cache.executors.utils import single_nb_execution

    # The kernel inherits this worker's environment: one torch/OpenMP thread per kernel.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    nb = nbformat.read(path, as_version=4)
    result = single_nb_execution(nb, cwd=str(Path(path).parent), allow_errors=False, timeout=timeout,
                                 meta_override=True)
    return path, nb, result.time, (result.exc_string if result.err is not None else None)


def code_of(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code"]


def executed_copy(path: Path, folder: Path | None):
    """The notebook as nbval ran it (outputs in place) if that run was of the chapter's current code, else None."""
    if folder is None:
        return None
    copy = folder / path.resolve().relative_to(ROOT)
    if not copy.is_file():
        return None
    nb = nbformat.read(copy, as_version=4)
    if code_of(nb) != code_of(nbformat.read(path, as_version=4)):
        return None
    return nb


def record_run(cache, path, nb, seconds: float, error: str | None = None, **data) -> None:
    """Store one run of a chapter in the cache as myst-nb would: the executed notebook, or the traceback."""
    record = cache.add_nb_to_project(str(path))
    NbProjectRecord.remove_tracebacks([record.pk], cache.db)
    if error is None:
        cache.cache_notebook_bundle(CacheBundleIn(nb, record.uri, data={"execution_seconds": seconds, **data}),
                                    check_validity=False, overwrite=True)
    else:
        NbProjectRecord.set_traceback(record.uri, error, cache.db)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2, help="kernels at a time (default 2)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell (as _config.yml)")
    parser.add_argument("--executed", type=Path, default=None, metavar="DIR",
                        help="executed copies written by `pytest --nbval --nbval-save-executed DIR`")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    threads = max(1, (os.cpu_count() or 1) // args.jobs)

    CACHE.parent.mkdir(exist_ok=True)
    cache = get_cache(str(CACHE))
    todo = []
    for path in book_notebooks():
        try:
            cache.match_cache_notebook(nbformat.read(path, as_version=4))
        except KeyError:
            todo.append(path)
    reused = []
    for path in list(todo):
        nb = executed_copy(path, args.executed)
        if nb is not None:
            seconds = nb.metadata.pop("regcourse_nbval_seconds", 0)
            record_run(cache, path, nb, seconds, executed_by="pytest --nbval")
            todo.remove(path)
            reused.append(path)
    if reused:
        print(f"execute_chapters: {len(reused)} chapter(s) stored from the nbval run in {args.executed} "
              "(same code cells, run without error there)")
    if not todo:
        print("execute_chapters: every chapter's current code is in the cache.")
        return 0
    # Longest first (by the last recorded run, if any) so that two workers finish close together.
    last = {Path(r.uri).resolve(): r.data.get("execution_seconds", 0) for r in cache.list_cache_records()}
    todo.sort(key=lambda p: -last.get(p.resolve(), 0))
    print(f"execute_chapters: {len(todo)} chapter(s) to run, {args.jobs} at a time, {threads} thread(s) each",
          flush=True)

    start, failed = time.time(), []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(execute, str(p), args.timeout, threads) for p in todo]
        for future in as_completed(futures):
            path, nb, seconds, error = future.result()
            name = Path(path).relative_to(ROOT)
            record_run(cache, path, nb, seconds, error)
            if error is None:
                print(f"  {name}: {seconds:.0f} s", flush=True)
            else:
                failed.append(name)
                print(f"  {name}: FAILED after {seconds:.0f} s (the build will show where)", flush=True)
    print(f"execute_chapters: {len(todo) - len(failed)} of {len(todo)} ran without error in "
          f"{time.time() - start:.0f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
