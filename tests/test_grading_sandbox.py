"""Fast checks of regcourse/sandbox.py: the static review, the verdict on a test cell, the file guards, the
feedback filter, and one notebook run in the real bwrap sandbox (what it can and cannot see)."""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import sqlite3
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.grading

_spec = importlib.util.spec_from_file_location("regcourse_sandbox_t", ROOT / "regcourse" / "sandbox.py")
S = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(S)


@pytest.fixture(scope="module")
def classes():
    return S._make_classes()


def test_scan_passes_the_reference_solutions():
    for a in ("weight_decay", "dropout"):
        nb = json.loads((ROOT / "solutions" / a / f"{a}.ipynb").read_text())
        for c in nb["cells"]:
            meta = c["metadata"].get("nbgrader", {})
            if c["cell_type"] == "code" and meta.get("solution"):
                assert S.scan_source("".join(c["source"])) == [], (a, meta.get("grade_id"))


@pytest.mark.parametrize("src, word", [
    ("get_ipython().input_transformers_cleanup.append(f)", "get_ipython"),
    ("import sys\nsys.settrace(t)", "settrace"),
    ("torch.allclose = lambda *a, **k: True", "torch.allclose"),
    ("np.array = list", "np.array"),
    ("setattr(torch, 'allclose', f)", "setattr"),
    ("from torch.overrides import TorchFunctionMode", "TorchFunctionMode"),
    ("x = getattr(__builtins__, 'ev' + 'al')", "getattr"),
    ("!cat /etc/passwd", "shell command"),
    ("import importlib._bootstrap as B\nB._exec = f", "_exec"),
    ("def print(*a):\n    pass", "print"),
])
def test_scan_flags_tampering(src, word):
    findings = S.scan_source(src)
    assert any(word in f for f in findings), findings


def test_scan_allows_ordinary_code():
    ok = ("import torch\nfrom tqdm import tqdm\nplt.rcParams['figure.dpi'] = 100\nmodel.weight.data.zero_()\n"
          "for m in model.modules():\n    pass\nlayers = [1, 2]\nlayers.remove(1)\nself.p = p\n")
    assert S.scan_source(ok) == []


def _test_cell(outputs, points=1):
    cell = nbformat.v4.new_code_cell("assert True")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": "t",
                                 "points": points}
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    return cell


def _grade(cell):
    from nbgrader.utils import determine_grade
    return determine_grade(cell)[0]


TOKEN = S.TOKEN_PREFIX + "abc"


@pytest.mark.parametrize("outputs, status, expected", [
    ([{"output_type": "stream", "name": "stdout", "text": TOKEN + "\n"}], "ok", 1),
    # tqdm's closing chunk and a warning on stderr do not zero a passed test
    ([{"output_type": "stream", "name": "stderr", "text": "\r   \n"},
      {"output_type": "stream", "name": "stderr", "text": "UserWarning: x\n"},
      {"output_type": "stream", "name": "stdout", "text": TOKEN + "\n"}], "ok", 1),
    # no evidence: the checks never reached the last line (blanked, swallowed error, ...)
    ([], "ok", 0),
    # an execute_result never gives points, with or without evidence of its own
    ([{"output_type": "execute_result", "data": {"text/plain": "1.0"}, "metadata": {}, "execution_count": 1}],
     "ok", 0),
    ([{"output_type": "error", "ename": "AssertionError", "evalue": "x", "traceback": []},
      {"output_type": "stream", "name": "stdout", "text": TOKEN + "\n"}], "error", 0),
    ([{"output_type": "stream", "name": "stdout", "text": TOKEN + "\n"}], "error", 0),
])
def test_verdict(classes, outputs, status, expected):
    SandboxedExecute, _ = classes
    ex = SandboxedExecute()
    cell = _test_cell(outputs)
    ex._judge(cell, TOKEN, True, status, None, [])
    assert _grade(cell) == expected, cell.outputs
    assert all(TOKEN not in json.dumps(o) for o in cell.outputs)
    assert all(o.output_type != "execute_result" for o in cell.outputs)


def test_flagged_submission_scores_zero_with_a_reason(classes):
    SandboxedExecute, _ = classes
    cell = _test_cell([{"output_type": "stream", "name": "stdout", "text": TOKEN + "\n"}])
    SandboxedExecute()._judge(cell, TOKEN, True, "ok", None, ["cell 3 (l2_penalty): uses `.settrace`"])
    assert _grade(cell) == 0 and "set aside" in cell.outputs[-1].evalue and "settrace" in cell.outputs[-1].evalue


def test_submission_guard(tmp_path):
    sub = tmp_path / "submitted" / "s" / "a"
    sub.mkdir(parents=True)
    good = sub / "a.ipynb"
    good.write_text("{}")
    S.check_submission_file(str(good), str(tmp_path / "submitted"))
    link = sub / "b.ipynb"
    link.symlink_to(tmp_path / "elsewhere.ipynb")
    with pytest.raises(ValueError, match="symbolic link"):
        S.check_submission_file(str(link), str(tmp_path / "submitted"))
    big = sub / "c.ipynb"
    big.write_bytes(b" " * (2 * 2 ** 20))
    with pytest.raises(ValueError, match="over the 1 MB limit"):
        S.check_submission_file(str(big), str(tmp_path / "submitted"), max_mb=1)


def test_gradebook_backup_is_a_consistent_copy(tmp_path):
    db = tmp_path / "gradebook.db"
    con = sqlite3.connect(db)
    con.execute("create table t (x)")
    con.execute("insert into t values (42)")
    con.commit()
    dest = S.backup_gradebook(str(db))
    assert sqlite3.connect(dest).execute("select x from t").fetchall() == [(42,)]
    assert S.backup_gradebook(str(tmp_path / "missing.db")) is None


def test_feedback_hides_hidden_tests_mark_schemes_and_test_tracebacks(classes):
    _, Hide = classes
    nb = nbformat.v4.new_notebook()
    md = nbformat.v4.new_markdown_cell("Q\n=== BEGIN MARK SCHEME ===\nsecret scheme\n=== END MARK SCHEME ===\nend")
    test = _test_cell([{"output_type": "error", "ename": "AssertionError", "evalue": "l2 is wrong",
                        "traceback": ["line 12: G.assert_close(secret_ref)"]}])
    test.source = "visible()\n### BEGIN HIDDEN TESTS\nsecret_ref()\n### END HIDDEN TESTS\n"
    nb.cells = [md, test]
    nb, _ = Hide().preprocess(nb, {})
    text = json.dumps(nb)
    assert "secret" not in text and "visible()" in text and "l2 is wrong" in text


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is installed by scripts/setup.sh")
def test_sandbox_sees_nothing_of_the_course(classes, tmp_path):
    """One real run: the kernel cannot see the course, HOME, the network; it runs unprivileged, read-only."""
    SandboxedExecute, _ = classes
    probe = r'''
import os, socket, pathlib
print("uid", os.getuid())
print("cwd", os.getcwd())
print("course", os.path.exists(COURSE))
print("home", os.path.expanduser("~"))
try:
    socket.create_connection(("1.1.1.1", 80), timeout=2); print("net yes")
except OSError:
    print("net no")
import regcourse.grading as G
try:
    open(G.__file__, "a"); print("pkg writable")
except OSError:
    print("pkg read-only")
print("env", sorted(k for k in os.environ if "SECRET" in k))
'''.replace("COURSE", repr(str(ROOT / "solutions")))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(probe)]
    os.environ["REGCOURSE_TEST_SECRET"] = "x"
    try:
        ex = SandboxedExecute(timeout=60, wall_timeout=120, log=logging.getLogger("t"))
        results, problem = ex._run(nb, {})
    finally:
        os.environ.pop("REGCOURSE_TEST_SECRET")
    assert problem is None, problem
    text = "".join(o.get("text", "") for o in results[0]["outputs"])
    assert "uid 0" not in text and "cwd /submission" in text and "course False" in text, text
    assert "net no" in text and "pkg read-only" in text and "env []" in text, text
    assert "/root" not in text.split("home", 1)[1].split("\n")[0], text


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is installed by scripts/setup.sh")
def test_cell_timeout_is_named_and_the_rest_runs(classes):
    SandboxedExecute, _ = classes
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("while True:\n    pass"), nbformat.v4.new_code_cell("print('after')")]
    ex = SandboxedExecute(timeout=5, wall_timeout=120, log=logging.getLogger("t"))
    results, problem = ex._run(nb, {})
    assert problem is None, problem
    assert any(o.get("ename") == "CellTimeoutError" for o in results[0]["outputs"]), results[0]
    assert "after" in "".join(o.get("text", "") for o in results[1]["outputs"]), results[1]
