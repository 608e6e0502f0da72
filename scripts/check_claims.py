"""Execute every chapter of the book under other seeds and thread counts, and report one line per chapter
and setting. Every claim of the book is asserted in a hidden cell next to its numbers, so a chapter that
executes under a setting is a chapter whose sentences hold under it.

Settings: REGCOURSE_SEED_OFFSET = 0, 1, 2, 3, each kernel with the threads the book build gives it (the
machine's cores divided by --jobs; one thread with the default --jobs 2, as scripts/execute_chapters.py runs
the chapters), then offset 0 with the other thread count (all cores with --jobs 2; one thread with --jobs 1),
so that both one thread and several threads are checked. --jobs kernels run side by side (default 2: two
single-thread kernels use two cores better than one two-thread kernel). Usage (from the repository root, or
through scripts/check_claims.sh):

    python scripts/check_claims.py [--offsets 0 1 2 3] [--jobs 2] [--no-other-threads] [chapter.ipynb ...]
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

ROOT = Path(__file__).resolve().parent.parent


def chapters_in_toc() -> list[Path]:
    """The notebooks of _toc.yml, in reading order."""
    import yaml
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc.get("parts", []) for c in part.get("chapters", [])]
    return [ROOT / f"{f}.ipynb" for f in files if (ROOT / f"{f}.ipynb").exists()]


def run(path: Path, env: dict[str, str], timeout: int) -> tuple[bool, str]:
    """Execute ``path`` in a fresh kernel whose environment has ``env`` added; return (ok, message)."""
    nb = nbformat.read(path, as_version=4)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel is started from this process and inherits its environment
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        return True, "ok"
    except CellExecutionError as err:
        # The error's text holds the failing cell's source and the exception; keep its last line.
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))  # IPython colours its tracebacks
        lines = [ln for ln in text.strip().splitlines() if ln.strip()]
        failed = next((i for i, c in enumerate(nb.cells) if c.get("cell_type") == "code" and any(
            o.get("output_type") == "error" for o in c.get("outputs", []))), None)
        where = f"cell {failed}" if failed is not None else "a cell"
        return False, f"FAILED in {where}: {lines[-1][:160] if lines else err.__class__.__name__}"
    except CellTimeoutError:
        return False, f"FAILED: a cell ran longer than {timeout} s"
    except Exception as err:  # noqa: BLE001  (a dead kernel or a kernel that did not start: report, go on)
        return False, f"FAILED: {err.__class__.__name__}: {str(err)[:160]}"
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_one(path: Path, env: dict[str, str], timeout: int) -> tuple[bool, str, float]:
    t = time.time()
    ok, message = run(path, env, timeout)
    return ok, message, time.time() - t


def setting(offset: int, threads: int) -> tuple[str, dict[str, str]]:
    label = f"offset {offset}, {threads} thread{'s' if threads > 1 else ''}"
    return label, {"REGCOURSE_SEED_OFFSET": str(offset), "OMP_NUM_THREADS": str(threads),
                   "MKL_NUM_THREADS": str(threads)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapters", nargs="*", type=Path, help="notebooks (default: every chapter of _toc.yml)")
    parser.add_argument("--offsets", nargs="+", type=int, default=[0, 1, 2, 3])
    parser.add_argument("--jobs", type=int, default=2, help="kernels side by side (default 2)")
    parser.add_argument("--no-other-threads", action="store_true",
                        help="skip the offset-0 run with the other thread count")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    chapters = [p.resolve() for p in args.chapters] or chapters_in_toc()
    missing = [str(p) for p in chapters if not p.exists()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    cores = os.cpu_count() or 1
    threads = max(1, cores // args.jobs)
    batches = [(args.jobs, [setting(k, threads) for k in args.offsets])]
    if not args.no_other_threads:
        other = cores if threads == 1 else 1
        if other != threads:       # alone, so that a multi-thread kernel has the cores to itself
            batches.append((1 if other > 1 else args.jobs, [setting(0, other)]))
    os.environ.setdefault("REGCOURSE_NO_PROGRESS", "1")
    failures, start, n = 0, time.time(), 0
    for jobs, settings in batches:
        runs = [(label, env, path) for label, env in settings for path in chapters]
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(run_one, path, env, args.timeout) for _, env, path in runs]
            for (label, _, path), future in zip(runs, futures):
                ok, message, seconds = future.result()
                failures += not ok
                n += 1
                name = str(path.relative_to(ROOT).with_suffix(""))
                print(f"{name:<50} {label:<20} {message}  ({seconds:.0f} s)", flush=True)
    print(f"\n{n - failures} of {n} chapter runs passed in {time.time() - start:.0f} s.")
    return 1 if failures else 0

if __name__ == "__main__":
    sys.exit(main())
