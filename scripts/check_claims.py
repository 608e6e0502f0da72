"""Execute every chapter of the book under other seeds and thread counts, and report one line per chapter
and setting. Every claim of the book is asserted in a hidden cell next to its numbers, so a chapter that
executes under a setting is a chapter whose sentences hold under it.

Settings: REGCOURSE_SEED_OFFSET = 0, 1, 2, 3 (machine's default threads) and offset 0 with
OMP_NUM_THREADS=1. Usage (from the repository root, or through scripts/check_claims.sh):

    python scripts/check_claims.py [--offsets 0 1 2 3] [--no-single-thread] [chapter.ipynb ...]
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
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
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapters", nargs="*", type=Path, help="notebooks (default: every chapter of _toc.yml)")
    parser.add_argument("--offsets", nargs="+", type=int, default=[0, 1, 2, 3])
    parser.add_argument("--no-single-thread", action="store_true", help="skip the OMP_NUM_THREADS=1 run")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = parser.parse_args(argv)
    chapters = [p.resolve() for p in args.chapters] or chapters_in_toc()
    missing = [str(p) for p in chapters if not p.exists()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    settings = [(f"offset {k}", {"REGCOURSE_SEED_OFFSET": str(k)}) for k in args.offsets]
    if not args.no_single_thread:
        settings.append(("offset 0, 1 thread", {"REGCOURSE_SEED_OFFSET": "0", "OMP_NUM_THREADS": "1",
                                                 "MKL_NUM_THREADS": "1"}))
    os.environ.setdefault("REGCOURSE_NO_PROGRESS", "1")
    failures, start = 0, time.time()
    rows = []
    for label, env in settings:
        for path in chapters:
            t = time.time()
            ok, message = run(path, env, args.timeout)
            failures += not ok
            name = str(path.relative_to(ROOT).with_suffix(""))
            rows.append((name, label, message, time.time() - t))
            print(f"{name:<50} {label:<20} {message}  ({time.time() - t:.0f} s)", flush=True)
    print(f"\n{len(rows) - failures} of {len(rows)} chapter runs passed in {time.time() - start:.0f} s.")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
