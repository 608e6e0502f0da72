"""The course's cost, measured in one run on one machine; writes benchmarks/results.md and prints it.

    .venv/bin/python benchmarks/run.py            # everything (about 15 minutes on 2 cores)
    .venv/bin/python benchmarks/run.py --only grading --class-sizes 5 20
    .venv/bin/python benchmarks/run.py --only test_command   # the test command on a fresh clone (~20 min)

Sections: training throughput (benchmarks/epoch_time.py), the whole course under nbval (sequential and
with pytest-xdist), grading with nbgrader autograde over a class of N submissions, the book build
(cold and cached), and the test command on a fresh clone of HEAD. Figures are wall-clock seconds on a shared
machine: compare the ratios, which are measured in the same run, rather than absolute times across machines.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
       "REGCOURSE_NO_PROGRESS": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}


def run(cmd, cwd=ROOT, check=True, env=None) -> float:
    """Run a command, return its wall time in seconds; on failure show its output and stop."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env={**ENV, **(env or {})}, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if check and proc.returncode != 0:
        sys.exit(f"benchmark step failed: {' '.join(map(str, cmd))}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed


def machine() -> str:
    import torch
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{cpu}, {os.cpu_count()} logical cores, {mem:.0f} GiB RAM, {platform.system()} "
            f"{platform.machine()}, Python {platform.python_version()}, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads)")


def section_throughput() -> str:
    script = ROOT / "benchmarks" / "epoch_time.py"
    if not script.exists():
        return "_benchmarks/epoch_time.py is missing._\n"
    proc = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=ENV, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"epoch_time.py failed:\n{proc.stderr[-3000:]}")
    return proc.stdout.strip() + "\n"


def _notebooks():
    return sorted(str(p.relative_to(ROOT)) for d in ("book", "solutions") for p in (ROOT / d).rglob("*.ipynb")
                  if ".ipynb_checkpoints" not in p.parts)


def section_course() -> str:
    nbs = _notebooks()
    base = [sys.executable, "-m", "pytest", "-q", "-o", "addopts=", "-p", "no:cacheprovider", "--nbval",
            "--nbval-cell-timeout=900"]
    seq = run(base + ["-p", "no:xdist"] + nbs)
    par = run(base + ["-n", "2", "--dist", "loadscope"] + nbs)
    rows = [f"| sequential (one kernel at a time, torch's default threads) | {seq:.0f} s | 1.00 |",
            f"| pytest-xdist `-n 2 --dist loadscope` (one torch thread per worker and kernel) | {par:.0f} s "
            f"| {seq / par:.2f} |"]
    return (f"Every notebook in `book/` and `solutions/` ({len(nbs)} notebooks) executed under "
            "`pytest --nbval`, one way after the other. Target: `-n 2` faster than sequential.\n\n"
            "| how | wall time | speed-up |\n| --- | ---: | ---: |\n" + "\n".join(rows) + "\n")


def _course_copy(tmp: Path) -> Path:
    course = tmp / "course"
    ignore = shutil.ignore_patterns(".venv", "_build", ".git", "submitted", "autograded", "feedback",
                                    "gradebook.db", "__pycache__", "node_modules", "mathjax")
    shutil.copytree(ROOT, course, ignore=ignore)
    return course


def _execute_time(nb: Path) -> float:
    code = ("import nbformat, sys; from nbclient import NotebookClient; nb = nbformat.read(sys.argv[1], 4); "
            "NotebookClient(nb, timeout=900, resources={'metadata': {'path': sys.argv[2]}}).execute()")
    return run([sys.executable, "-c", code, str(nb), str(nb.parent)])


def _check_full_marks(course: Path, assignment: str, students, mode: str) -> None:
    """A timing of submissions that failed to run would be meaningless: every (correct) submission must get
    every autograded point."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in students:
            sub = gb.find_submission(assignment, student)
            if abs(sub.code_score - sub.max_code_score) > 1e-9:
                sys.exit(f"benchmark: {assignment}/{student} (sandbox {mode}) scored {sub.code_score} of "
                         f"{sub.max_code_score} autograded points: the timing would not be of a graded run")


def section_grading(class_sizes, only_assignments=None) -> str:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        course = _course_copy(Path(tmp))
        assignments = sorted(p.name for p in (course / "solutions").iterdir() if p.is_dir()
                             and (not only_assignments or p.name in only_assignments))
        for a in assignments:
            run(["nbgrader", "generate_assignment", a, "--force"], cwd=course)
        for a in assignments:
            src = sorted((course / "solutions" / a).glob("*.ipynb"))
            plain = sum(_execute_time(nb) for nb in src)
            for n in class_sizes:
                per = {}
                # Unsandboxed first, then sandboxed, in the same run: the difference is the sandbox's cost.
                for mode, env in (("off", {"REGCOURSE_SANDBOX": "off"}), ("on", {})):
                    shutil.rmtree(course / "submitted", ignore_errors=True)
                    shutil.rmtree(course / "autograded", ignore_errors=True)
                    for i in range(n):
                        dst = course / "submitted" / f"student{i:03d}" / a
                        dst.mkdir(parents=True)
                        for nb in src:  # a class of perfect students: the instructor's solution
                            shutil.copy(nb, dst / nb.name)
                    per[mode] = run(["nbgrader", "autograde", a, "--force"], cwd=course, env=env) / n
                    _check_full_marks(course, a, [f"student{i:03d}" for i in range(n)], mode)
                rows.append(f"| {a} | {n} | {per['on']:.1f} s | {per['off']:.1f} s | {per['on'] - per['off']:+.1f} s "
                            f"| {plain:.1f} s | {per['on'] - plain:+.1f} s |")
    return ("`nbgrader autograde` over a class of N identical, correct submissions, with the sandbox (the "
            "course's setting) and without it (`REGCOURSE_SANDBOX=off`), one after the other. Targets: the "
            "sandbox costs ≤ 1 s per submission; autograde costs ≤ 3 s per submission more than simply "
            "executing the notebook, flat in N.\n\n"
            "| assignment | N | per submission, sandboxed | unsandboxed | sandbox cost | plain execution "
            "| autograde overhead |\n"
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n" + "\n".join(rows) + "\n")


def section_build() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["jupyter-book", "build", str(ROOT), "--path-output", tmp]
        cold = run(cmd)
        cached = run(cmd)
    return ("`jupyter-book build` into an empty output folder (cold: every chapter executed), then again "
            "(cached: jupyter-cache re-uses the executed notebooks).\n\n"
            f"| build | wall time |\n| --- | ---: |\n| cold | {cold:.0f} s |\n| cached | {cached:.0f} s |\n")


STEP = re.compile(r"^\[tests\] (?P<what>.+?) took (?P<s>\d+) s")


def section_test_command() -> str:
    """The README's test command on a fresh clone of HEAD: set-up (a new venv), then the timed steps."""
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "course"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True,
                              text=True, check=True).stdout.strip()
        env = {k: v for k, v in ENV.items() if k not in ("VIRTUAL_ENV",)}
        env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not p.startswith(str(VENV_BIN)))
        proc = subprocess.run(["bash", "scripts/run_tests.sh"], cwd=clone, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"the test command failed on a fresh clone:\n{proc.stdout[-5000:]}\n{proc.stderr[-3000:]}")
    steps = [(m["what"], int(m["s"])) for m in map(STEP.match, proc.stdout.splitlines()) if m]
    setup = next(s for what, s in steps if what == "set-up")
    total = int(re.search(r"total (\d+) s", proc.stdout).group(1))
    rows = "\n".join(f"| {what} | {s} s |" for what, s in steps)
    return (f"`bash scripts/run_tests.sh` (what CI runs) on a fresh clone of commit {head}, every step as the script "
            "prints it. Target: the command, set-up of the venv aside, within 12 min.\n\n"
            f"| step | wall time |\n| --- | ---: |\n{rows}\n| **all but the set-up** | **{total - setup} s "
            f"({(total - setup) / 60:.1f} min)** |\n| all | {total} s |\n")


SECTIONS = {"throughput": ("Training throughput", section_throughput),
            "course": ("The whole course", section_course),
            "grading": ("Grading", section_grading),
            "build": ("The book build", section_build),
            "test_command": ("The test command", section_test_command)}


def _read_sections(path: Path) -> dict:
    """{title: body} of the level-2 sections of a results file written by this script."""
    sections, title = {}, None
    for line in path.read_text().splitlines(keepends=True):
        if line.startswith("## "):
            title = line[3:].strip()
            sections[title] = ""
        elif title is not None:
            sections[title] += line
    return sections


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", choices=list(SECTIONS), help="run only these sections")
    ap.add_argument("--class-sizes", nargs="*", type=int, default=[5, 20], help="N for the grading section")
    ap.add_argument("--assignments", nargs="*", help="grade only these assignments (default: all)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results.md"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    # With --only, the other sections of an existing results file are kept; every section says when and on
    # what machine it was measured, so a partial update never passes old figures off as new.
    sections = _read_sections(out) if args.only and out.exists() else {}
    for key in args.only or list(SECTIONS):
        title, fn = SECTIONS[key]
        print(f"[benchmark] {title} ...", file=sys.stderr, flush=True)
        body = fn(args.class_sizes, args.assignments) if key == "grading" else fn()
        stamp = f"*Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}.*"
        sections[title] = f"{stamp}\n\n{body}"
    text = "\n".join(f"## {title}\n\n{sections[title].strip()}\n" for title, _ in SECTIONS.values()
                      if title in sections)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
