"""A Jupyter kernel that sees the course package only as pip installs it: the environment of a learner edition
after its install cell.

The learner editions (notebooks/) start with a cell that pip-installs ``regcourse`` when it is missing, as on a
fresh Colab runtime. In this repository's venv the package is an *editable* install (a path hook to the working
tree), which hides mistakes an installed copy would show: a data file left out of the package, an import of a
module that is not shipped. The kernels made here run Python without site processing (``-S``), so the venv's
editable install is invisible, with a ``PYTHONPATH`` of

* optionally, a folder whose ``myst_nb.py`` raises ModuleNotFoundError (Colab has no myst-nb);
* a folder that ``pip install --target`` fills from a copy of pyproject.toml and regcourse/;
* the venv's site-packages (torch and the rest, as Colab has them preinstalled).

Two users:

* conftest.py runs every notebook under nbval in ``installed_kernel`` (with myst-nb, which the book's chapters
  import): the chapters' code is so tested against the package as pip installs it, the environment their
  learner editions run in after the install cell;
* tests/test_learner_notebooks.py runs learner editions, install cell included, in ``spec`` kernels with an
  empty target and myst-nb blocked.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "regcourse"
NAME = "regcourse-installed"        # the kernel nbval uses
BASE = ROOT / "_build" / "course_kernel"   # its spec and installs (one per source hash)
BLOCK_MYST_NB = 'raise ModuleNotFoundError("No module named \'myst_nb\' (as on Colab)", name="myst_nb")\n'


def copy_source(dest: Path, root: Path = ROOT) -> Path:
    """What pip installs from: pyproject.toml and the package, without caches."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(root / "pyproject.toml", dest)
    shutil.copytree(root / PACKAGE, dest / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    return dest


def pip_args(target: Path, source: Path) -> list[str]:
    """pip's arguments: no dependencies (they come from the venv, as on Colab), offline, into ``target``."""
    return ["--no-deps", "--no-build-isolation", "--target", str(target), str(source)]


def spec(base: Path, name: str, target: Path, *, block_myst_nb: bool, env: dict | None = None) -> Path:
    """Write the kernel spec ``name`` below ``base``; return the folder to put on JUPYTER_PATH."""
    path = [str(target), sysconfig.get_paths()["purelib"]]
    if block_myst_nb:
        blocker = base / "blocker"
        blocker.mkdir(parents=True, exist_ok=True)
        (blocker / "myst_nb.py").write_text(BLOCK_MYST_NB)
        path.insert(0, str(blocker))
    folder = base / "jupyter" / "kernels" / name
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps({
        "argv": [sys.executable, "-S", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python 3 ({name})", "language": "python",
        "env": {"PYTHONPATH": os.pathsep.join(path), **(env or {})}}, indent=1)
    partial = folder / f"kernel.json.{os.getpid()}"   # xdist workers write it at once: never a torn file
    partial.write_text(text)
    partial.replace(folder / "kernel.json")
    return base / "jupyter"


def source_hash(root: Path = ROOT) -> str:
    """Of pyproject.toml and every file of the package: a changed file means a new install."""
    h = hashlib.sha256()
    files = [root / "pyproject.toml"] + sorted(p for p in (root / PACKAGE).rglob("*")
                                               if p.is_file() and "__pycache__" not in p.parts)
    for p in files:
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def installed_kernel(base: Path = BASE, root: Path = ROOT) -> tuple[Path, Path]:
    """(JUPYTER_PATH folder, target) of the kernel ``NAME``; the spec is written, the install is left to
    :func:`ensure_installed` (seconds of pip, done when a kernel is first needed)."""
    target = base / source_hash(root) / "site"
    return spec(base, NAME, target, block_myst_nb=False), target


def ensure_installed(target: Path, root: Path = ROOT) -> None:
    """pip-install the package into ``target`` once: concurrent callers (pytest-xdist workers) wait for the
    first; a half-finished install is never used (it is renamed into place when complete)."""
    if (target / PACKAGE / "__init__.py").is_file():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / PACKAGE / "__init__.py").is_file():
            return
        partial = target.parent / "site.partial"
        shutil.rmtree(partial, ignore_errors=True)
        source = copy_source(target.parent / "source", root)
        proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", *pip_args(partial, source)],
                              capture_output=True, text=True,
                              env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INDEX": "1"})
        if proc.returncode != 0:
            raise RuntimeError(f"pip could not install {PACKAGE} from {source} for the notebooks' kernel:\n"
                               f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        partial.rename(target)
