"""The kernel nbval runs the notebooks in (scripts/course_kernel.py, set up by conftest.py): the course package as
pip installs it, not the venv's editable install of the working tree.

That is what lets tests/test_learner_notebooks.py take nbval's run of a chapter's code as the run of its learner
edition after the install cell: both see the same package files. The second test shows what an editable install
would hide: a file the package does not declare is not installed, so a chapter that reads it fails under nbval.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import course_kernel  # noqa: E402

pytestmark = pytest.mark.slow

PROBE = """
import importlib.resources, importlib.util, sys
import regcourse
print(regcourse.__file__)
print((importlib.resources.files("regcourse") / "measurements" / "epoch_time.json").is_file())
print(importlib.util.find_spec("myst_nb") is not None)
"""


def run_in_kernel(name: str, code: str) -> str:
    km, kc = start_new_kernel(kernel_name=name)
    try:
        out = []
        reply = kc.execute_interactive(code, timeout=60, output_hook=lambda msg: out.append(
            msg["content"].get("text", "") if msg["msg_type"] == "stream" else ""))
        assert reply["content"]["status"] == "ok", reply["content"]
        return "".join(out)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_nbval_runs_notebooks_with_the_package_as_pip_installs_it(pytestconfig):
    assert pytestconfig.option.nbval_kernel_name == course_kernel.NAME
    _, target = course_kernel.installed_kernel()
    course_kernel.ensure_installed(target)
    path, data_file, myst_nb = run_in_kernel(course_kernel.NAME, PROBE).split()
    assert Path(path).is_relative_to(target) and not Path(path).is_relative_to(ROOT / "regcourse"), path
    assert data_file == "True", "the package data the chapters read is not installed"
    assert myst_nb == "True", "the book's chapters import myst_nb"


def test_a_file_the_package_does_not_declare_is_not_installed(tmp_path):
    source = course_kernel.copy_source(tmp_path / "source")
    pyproject = source / "pyproject.toml"
    declared = '"measurements/*.json", '
    assert declared in pyproject.read_text()
    pyproject.write_text(pyproject.read_text().replace(declared, ""))
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *course_kernel.pip_args(target, source)],
                   check=True, env={"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PATH": ""})
    assert (target / "regcourse" / "notebook.py").is_file()
    assert not (target / "regcourse" / "measurements" / "epoch_time.json").exists()
