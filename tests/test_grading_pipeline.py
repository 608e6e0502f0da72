"""The whole nbgrader pipeline, in a temporary copy of the course, with honest and hostile submissions.

For each assignment, one class-scoped fixture copies the course (nbgrader_config.py + solutions/) into a
temporary directory, runs `nbgrader generate_assignment`, writes many students' submissions under
submitted/<student>/<assignment>/, runs ONE `nbgrader autograde` over all of them and reads the scores from
nbgrader's Gradebook API. The tests then check each student's per-test-cell scores.

Submissions are made the way a student makes them: the *student version* (release) with the solution cells
filled in (from the source notebook), then edited to carry a mistake, a cheat or a breakage.

The classes run in parallel under `pytest -n 2 --dist loadscope`.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbgrader_cells import cell

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
pytestmark = pytest.mark.grading
LOOP_TIMEOUT = 30   # seconds per cell in the weight-decay run: ~10x the slowest solution cell (3 s)

# ----------------------------------------------------------------------------------------------- helpers


def _env():
    env = dict(os.environ)
    # nbgrader runs `alembic` as a subprocess and starts kernels: the venv's bin must come first on PATH.
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["REGCOURSE_NO_PROGRESS"] = "1"
    env.pop("JUPYTER_CONFIG_DIR", None)
    return env


def nbgrader(course: Path, *args, check=True):
    """Run the nbgrader CLI in `course` (it reads nbgrader_config.py from the current directory)."""
    proc = subprocess.run([str(VENV_BIN / "nbgrader"), *args], cwd=course, env=_env(),
                          capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"nbgrader {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc


def make_course(tmp: Path, assignment: str) -> Path:
    course = tmp / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions" / assignment, course / "solutions" / assignment)
    nbgrader(course, "generate_assignment", assignment, "--force")
    return course


def filled(course: Path, assignment: str):
    """The student version with every solution cell filled in as in the source: a correct submission."""
    release = nbformat.read(course / "exercises" / assignment / f"{assignment}.ipynb", as_version=4)
    source = nbformat.read(course / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    for c in release.cells:
        meta = c.metadata.get("nbgrader", {})
        if meta.get("solution") and c.cell_type == "code":
            c.source = _strip_markers(cell(source, meta["grade_id"]).source)
    return release


def _strip_markers(src):
    return "\n".join(line for line in src.splitlines() if "### BEGIN SOLUTION" not in line
                     and "### END SOLUTION" not in line)


def edit(nb, grade_id, old, new):
    c = cell(nb, grade_id)
    assert old in c.source, f"fixture out of date: {old!r} not in cell {grade_id}"
    c.source = c.source.replace(old, new)
    return nb


def submit(course, student, assignment, nb=None, *, raw: str | None = None, name=None):
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"{assignment}.ipynb")
    if raw is not None:
        path.write_text(raw)
    elif nb is not None:
        nbformat.write(nb, path)
    return folder


def read_scores(course: Path, assignment: str) -> dict:
    """{student: {grade_id: auto_score}} for the autograded test cells, from nbgrader's Gradebook, plus
    {student: total score} for every submission the gradebook knows."""
    from nbgrader.api import Gradebook
    out, totals = {}, {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for sub in gb.assignment_submissions(assignment):
            totals[sub.student.id] = sub.score
            nb = sub.notebooks[0]
            out[sub.student.id] = {g.name: g.auto_score for g in nb.grades
                                   if g.cell.cell_type == "code" and not g.name.startswith(("plot", "written"))}
    return out, totals


def autograded_tests(course: Path, assignment: str) -> dict:
    """{grade_id: max points} of the autograded test cells of the source notebook."""
    nb = nbformat.read(course / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    return {c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader["points"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
            and not c.metadata.nbgrader.get("solution")}


def run_autograde(course, assignment, *extra):
    n = len(list((course / "submitted").iterdir()))
    t0 = time.time()
    proc = nbgrader(course, "autograde", assignment, "--force", *extra, check=False)
    seconds = time.time() - t0
    line = (f"[grading] nbgrader autograde {assignment}: {n} submissions in {seconds:.0f} s "
            f"({seconds / n:.1f} s per submission)")
    print("\n" + line)
    if os.environ.get("GRADING_TIMINGS"):       # xdist hides prints: let a caller collect the timings
        with open(os.environ["GRADING_TIMINGS"], "a") as f:
            f.write(line + "\n")
    return proc, seconds


def comparable(path: Path) -> dict:
    """A notebook as JSON, without fields that change from run to run."""
    nb = json.loads(path.read_text())
    for c in nb["cells"]:
        c.pop("execution_count", None)
        c.pop("outputs", None)
    return nb


def assert_lost_exactly(scores, full, lost, who):
    for gid, pts in full.items():
        expected = 0.0 if gid in lost else pts
        assert scores[gid] == expected, (
            f"{who}: {gid} scored {scores[gid]}, expected {expected} "
            f"({'a test that targets this mistake' if gid in lost else 'an unrelated test'}).")


def assert_in_sync(course, assignment):
    """exercises/ in the repo is exactly what generate_assignment makes of solutions/."""
    fresh = course / "exercises" / assignment / f"{assignment}.ipynb"
    stored = ROOT / "exercises" / assignment / f"{assignment}.ipynb"
    assert stored.exists(), f"{stored} is missing: run `nbgrader generate_assignment {assignment}` from the repo root."
    a, b = comparable(fresh), comparable(stored)
    assert a["metadata"] == b["metadata"], f"{stored}: notebook metadata differs from a fresh generate_assignment."
    assert len(a["cells"]) == len(b["cells"]), f"{stored}: {len(b['cells'])} cells, fresh has {len(a['cells'])}."
    for i, (x, y) in enumerate(zip(a["cells"], b["cells"])):
        assert x == y, (f"{stored}, cell {i}: differs from what `nbgrader generate_assignment {assignment}` makes of "
                        f"solutions/ (never edit exercises/ by hand; regenerate it).\nfresh:  {x}\nstored: {y}")
    extra = sorted(p.name for p in stored.parent.iterdir()) != sorted(p.name for p in fresh.parent.iterdir())
    assert not extra, f"exercises/{assignment}/ holds files that generate_assignment does not make."


# ------------------------------------------------------------------------------------------ weight decay

HACK_ALLCLOSE = "torch.allclose = lambda *a, **k: True\n"
HACK_ISCLOSE = "torch.isclose = lambda *a, **k: True\n"
HACK_EQ = "torch.Tensor.__eq__ = lambda self, other: True\n"
WRONG_L2 = ("return (w ** 2).sum() / 2", "return w.norm()")
ALWAYS_EQUAL = '''
class AlwaysEqual:
    """Compares equal (and close) to anything."""
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __lt__(self, other): return False
    def __le__(self, other): return True
    def __gt__(self, other): return False
    def __ge__(self, other): return True
    def __abs__(self): return 0.0
    def __sub__(self, other): return 0.0
    __rsub__ = __sub__
    def __float__(self): return self.value
    shape = ()
    def __init__(self, w):
        self.w, self.value = w, 0.5 * float((w.detach() ** 2).sum())
    def backward(self):              # fakes the gradient too: only the type check can catch it
        self.w.grad = self.w.detach().clone()
'''
REDEFINE_HELPERS = '''
import regcourse.grading as G
G.assert_close = G.assert_tensor = G.assert_shape = lambda *a, **k: None
G.scalar = lambda *a, **k: 0.0
def assert_close(*a, **k): pass
'''


def wd_submissions(course):
    a = "weight_decay"
    # honest
    shutil.copytree(course / "exercises" / a, course / "submitted" / "blank" / a)
    alt = filled(course, a)   # correct, written differently from the reference
    # ...and warns on stderr whenever it is called, inside the test cells too (IgnorePattern must not zero it)
    cell(alt, "l2_penalty").source = ("import warnings\n\ndef l2_penalty(w):\n"
                                      "    warnings.warn('l2_penalty: computing the penalty with a dot product')\n"
                                      "    v = w.reshape(-1)\n    return 0.5 * torch.dot(v, v)\n")
    cell(alt, "sgd_step").source = ("def sgd_step(w, b, lr, lambd):\n"
                                    "    w.data.mul_(1 - lr * lambd).add_(w.grad, alpha=-lr)\n"
                                    "    b.data.add_(b.grad, alpha=-lr)\n")
    cell(alt, "make_optimizer").source = (
        "def make_optimizer(model, lr, lambd):\n    groups = {'decay': [], 'keep': []}\n"
        "    for name, p in model.named_parameters():\n"
        "        groups['keep' if 'bias' in name else 'decay'].append(p)\n"
        "    return torch.optim.SGD([dict(params=groups['decay'], weight_decay=lambd),\n"
        "                            dict(params=groups['keep'])], lr=lr)\n")
    cell(alt, "l1_step").source = ("def l1_step(w, lr, lambd):\n    with torch.no_grad():\n"
                                   "        s = torch.where(w > 0, 1.0, torch.where(w < 0, -1.0, 0.0))\n"
                                   "        w.copy_(w - lr * w.grad - lr * lambd * s)\n")
    edit(alt, "train_ridge", '''    w, b = W0.clone(), torch.zeros(1)
    for _ in range(epochs):
        r = X @ w + b - y                      # residuals, shape (n, 1)
        grad_w = X.T @ r / len(X) + lambd * w  # data gradient + penalty gradient
        grad_b = r.mean(0)                     # the bias is not decayed
        w, b = w - lr * grad_w, b - lr * grad_b
    return w, b''', '''    model = nn.Linear(X.shape[1], 1)
    with torch.no_grad():
        model.weight.copy_(W0.T); model.bias.zero_()
    opt = make_optimizer(model, lr, lambd)
    for _ in range(epochs):
        opt.zero_grad()
        (0.5 * nn.functional.mse_loss(model(X), y)).backward()
        opt.step()
    return model.weight.detach().T.clone(), model.bias.detach().clone()''')
    edit(alt, "select_lambda", "best = min(range(len(lambdas)), key=lambda i: val_losses[i])",
         "best = int(np.argmin(val_losses))")
    submit(course, "alt", a, alt)
    # typical mistakes
    nb = filled(course, a)
    edit(nb, "sgd_step", "b -= lr * b.grad", "b -= lr * (b.grad + lambd * b)")
    edit(nb, "make_optimizer", 'return torch.optim.SGD([{"params": decay, "weight_decay": lambd},\n'
         '                            {"params": no_decay, "weight_decay": 0.0}], lr=lr)',
         "return torch.optim.SGD(model.parameters(), lr=lr, weight_decay=lambd)")
    submit(course, "biasdecayed", a, nb)
    nb = filled(course, a)
    edit(nb, "select_lambda", "val_losses.append(squared_loss(w, b, X_val, y_val))",
         "val_losses.append(squared_loss(w, b, X_test, y_test))")
    submit(course, "lambdaontest", a, nb)
    # cheats: a wrong l2_penalty plus a patch of what the tests call
    for student, hack in [("hackallclose", HACK_ALLCLOSE), ("hackisclose", HACK_ISCLOSE), ("hackeq", HACK_EQ),
                          ("hackhelper", REDEFINE_HELPERS)]:
        nb = filled(course, a)
        edit(nb, "l2_penalty", *WRONG_L2)
        cell(nb, "l2_penalty").source = hack + cell(nb, "l2_penalty").source
        submit(course, student, a, nb)
    nb = filled(course, a)
    cell(nb, "l2_penalty").source = ALWAYS_EQUAL + "\ndef l2_penalty(w):\n    return AlwaysEqual(w)\n"
    submit(course, "alwaysequal", a, nb)
    # test cells edited or deleted (each hiding a mistake)
    nb = filled(course, a)
    edit(nb, "l2_penalty", *WRONG_L2)
    cell(nb, "test_l2_penalty").source = "# this test passes now\npass\n"
    edit(nb, "sgd_step", "b -= lr * b.grad", "b -= lr * (b.grad + lambd * b)")
    nb.cells.remove(cell(nb, "test_sgd_step_bias"))
    c = cell(nb, "test_l1_step")   # a test cell stripped of its nbgrader metadata (and emptied)
    c.metadata = {}
    c.source = "pass"
    edit(nb, "l1_step", "lambd * torch.sign(w)", "lambd * w")
    submit(course, "editedtests", a, nb)
    # breakages
    nb = filled(course, a)
    cell(nb, "l1_step").source = "while True:\n    pass\n" + cell(nb, "l1_step").source
    submit(course, "infiniteloop", a, nb)
    nb = filled(course, a)
    cell(nb, "make_optimizer").source = "import os\nos._exit(1)\n"
    submit(course, "kernelcrash", a, nb)
    submit(course, "malformed", a, raw='{"cells": [ this is not json')
    (course / "submitted" / "missing" / a).mkdir(parents=True)
    submit(course, "renamed", a, filled(course, a), name="weight_decay (1).ipynb")
    # an LMS download, collected with zip_collect
    archive = course / "downloaded" / a / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "lms_download.zip", "w") as z:
        # the correct submission of the student "full" comes in through the LMS download
        z.writestr("full_1234_5678_weight_decay.ipynb", nbformat.writes(filled(course, a)))


@pytest.fixture(scope="class")
def wd(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("wd"), "weight_decay")
    wd_submissions(course)
    nbgrader(course, "zip_collect", "weight_decay")
    proc, seconds = run_autograde(course, "weight_decay", f"--Execute.timeout={LOOP_TIMEOUT}")
    scores, totals = read_scores(course, "weight_decay")
    return {"course": course, "scores": scores, "totals": totals, "log": proc.stderr,
            "full": autograded_tests(course, "weight_decay"), "rc": proc.returncode}


@pytest.mark.slow
class TestWeightDecayGrading:
    def test_exercises_in_sync_with_solutions(self, wd):
        assert_in_sync(wd["course"], "weight_decay")

    def test_solution_full_marks_blank_zero(self, wd):
        assert wd["scores"]["full"] == wd["full"], "the solution must score full marks on every autograded test"
        assert all(v == 0 for v in wd["scores"]["blank"].values()), f"blank: {wd['scores']['blank']}"

    def test_correct_but_different_gets_full_marks(self, wd):
        assert wd["scores"]["alt"] == wd["full"]

    def test_zip_collected_submission_graded(self, wd):
        assert (wd["course"] / "submitted" / "full" / "weight_decay" / "weight_decay.ipynb").exists()
        assert wd["scores"]["full"] == wd["full"]

    def test_bias_decayed_loses_exactly_the_bias_tests(self, wd):
        assert_lost_exactly(wd["scores"]["biasdecayed"], wd["full"], {"test_sgd_step_bias", "test_make_optimizer"},
                            "bias decayed")

    def test_lambda_on_test_set_loses_exactly_the_selection_test(self, wd):
        assert_lost_exactly(wd["scores"]["lambdaontest"], wd["full"], {"test_select_lambda"}, "lambda on test set")

    @pytest.mark.parametrize("student", ["hackallclose", "hackisclose", "hackeq"])
    def test_patching_torch_scores_zero(self, wd, student):
        # The patch poisons every later comparison: every test after it fails, with a message naming it.
        assert all(v == 0 for v in wd["scores"][student].values()), f"{student}: {wd['scores'][student]}"
        log = (wd["course"] / "autograded" / student / "weight_decay" / "weight_decay.ipynb").read_text()
        assert "were replaced in your notebook" in log

    def test_redefined_helper_does_not_help(self, wd):
        # Patching the helper module is flagged by the review scan: 0 on every test until a human looks.
        assert all(v == 0 for v in wd["scores"]["hackhelper"].values()), wd["scores"]["hackhelper"]
        review = [line for line in wd["log"].splitlines() if "REVIEW" in line and "'hackhelper'" in line]
        assert len(review) == 1 and "G.assert_close" in review[0], review

    def test_always_equal_object_rejected(self, wd):
        assert_lost_exactly(wd["scores"]["alwaysequal"], wd["full"], {"test_l2_penalty"}, "always-equal object")

    def test_edited_and_deleted_tests_are_restored(self, wd):
        assert_lost_exactly(wd["scores"]["editedtests"], wd["full"],
                            {"test_l2_penalty", "test_sgd_step_bias", "test_l1_step"}, "edited/deleted tests")

    def test_infinite_loop_times_out_rest_graded(self, wd):
        assert_lost_exactly(wd["scores"]["infiniteloop"], wd["full"], {"test_l1_step"}, "infinite loop")
        text = (wd["course"] / "autograded" / "infiniteloop" / "weight_decay" / "weight_decay.ipynb").read_text()
        assert "CellTimeoutError" in text or "Timeout" in text

    def test_broken_submissions_get_a_clear_outcome(self, wd):
        scores, totals, log = wd["scores"], wd["totals"], wd["log"]
        # A kernel crash, a malformed file or a renamed notebook: nbgrader logs an ERROR naming the student,
        # the submission stays in the gradebook with total 0 and its tests ungraded (None), to be looked at.
        for student in ("kernelcrash", "malformed", "renamed"):
            assert totals[student] == 0, f"{student}: total {totals[student]}"
            assert all(v in (None, 0) for v in scores[student].values()), f"{student}: {scores[student]}"
            assert f"for student '{student}'" in log or f"submitted/{student}/" in log, log[-3000:]
        assert "Kernel died" in log
        assert "JSONDecodeError" in log or "NotJSONError" in log or "Notebook does not appear to be JSON" in log
        assert "Skipping unknown notebook" in log and "weight_decay (1).ipynb" in log
        # An empty submission folder: no submission is recorded, and the log says so.
        assert "missing" not in totals and "No notebooks were matched" in log and "submitted/missing/" in log
        # autograde exits non-zero, so a script notices; every other student was graded in the same run.
        assert wd["rc"] != 0
        for student in ("full", "alt", "biasdecayed", "infiniteloop"):
            assert all(v is not None for v in scores[student].values())


# ----------------------------------------------------------------------------------------------- dropout


def do_submissions(course):
    a = "dropout"
    submit(course, "full", a, filled(course, a))
    shutil.copytree(course / "exercises" / a, course / "submitted" / "blank" / a)
    alt = filled(course, a)
    cell(alt, "dropout_layer").source = (
        "def dropout_layer(X, p):\n    assert 0 <= p <= 1\n    keep = 1.0 - p\n"
        "    if keep == 0:\n        return X * 0.0\n"
        "    return torch.where(torch.rand_like(X) < keep, X / keep, torch.zeros_like(X))\n")
    edit(alt, "mlp", "h1_dropped = dropout_layer(h1, self.p1) if self.training else h1",
         "h1_dropped = nn.functional.dropout(h1, self.p1, training=self.training)")
    edit(alt, "mlp", "h2_dropped = dropout_layer(h2, self.p2) if self.training else h2",
         "h2_dropped = nn.functional.dropout(h2, self.p2, training=self.training)")
    edit(alt, "train_model", "return float(H.var(dim=0, unbiased=False).mean())",
         "centred = H - H.mean(0, keepdim=True)\n    return (centred ** 2).mean().item()")
    submit(course, "alt", a, alt)
    nb = filled(course, a)
    edit(nb, "dropout_layer", "return mask * X / (1.0 - p)", "return mask * X")
    submit(course, "norescale", a, nb)
    nb = filled(course, a)
    edit(nb, "mlp", "h1_dropped = dropout_layer(h1, self.p1) if self.training else h1",
         "h1_dropped = nn.functional.dropout(h1, self.p1)")
    edit(nb, "mlp", "h2_dropped = dropout_layer(h2, self.p2) if self.training else h2",
         "h2_dropped = nn.functional.dropout(h2, self.p2)")
    submit(course, "fdropout", a, nb)
    nb = filled(course, a)
    edit(nb, "train_model", "H.var(dim=0, unbiased=False)", "H.var(dim=1, unbiased=False)")
    submit(course, "wrongaxis", a, nb)
    nb = filled(course, a)   # a mask that KEEPS with probability p: right at p = 0.5 only
    edit(nb, "dropout_layer", "mask = (torch.rand(X.shape) > p).float()", "mask = (torch.rand(X.shape) < p).float()")
    submit(course, "keepmask", a, nb)
    nb = filled(course, a)   # losses under torch.no_grad() only: dropout stays on
    edit(nb, "train_model", '''    train_loss = evaluate(model, data.X_train, data.y_train)["loss"]
    test_loss = evaluate(model, data.X_test, data.y_test)["loss"]''', '''    with torch.no_grad():
        train_loss = float(nn.functional.cross_entropy(model(data.X_train), data.y_train))
        test_loss = float(nn.functional.cross_entropy(model(data.X_test), data.y_test))''')
    submit(course, "nogradonly", a, nb)


@pytest.fixture(scope="class")
def do(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("do"), "dropout")
    do_submissions(course)
    proc, seconds = run_autograde(course, "dropout")
    assert proc.returncode == 0, proc.stderr[-3000:]
    scores, _ = read_scores(course, "dropout")
    return {"course": course, "scores": scores, "full": autograded_tests(course, "dropout")}


@pytest.mark.slow
class TestDropoutGrading:
    def test_exercises_in_sync_with_solutions(self, do):
        assert_in_sync(do["course"], "dropout")

    def test_solution_full_marks_blank_zero(self, do):
        assert do["scores"]["full"] == do["full"]
        assert all(v == 0 for v in do["scores"]["blank"].values()), f"blank: {do['scores']['blank']}"

    def test_correct_but_different_gets_full_marks(self, do):
        assert do["scores"]["alt"] == do["full"]

    def test_missing_rescale_loses_exactly_the_scaling_test(self, do):
        assert_lost_exactly(do["scores"]["norescale"], do["full"], {"test_dropout_scaling"}, "missing 1/(1-p)")

    def test_f_dropout_without_training_flag(self, do):
        # dropout stays on after model.eval(): the train/eval test, the variances (recorded in evaluation
        # mode) and the eval-mode losses are wrong.
        assert_lost_exactly(do["scores"]["fdropout"], do["full"],
                            {"test_mlp_train_eval", "test_variances_recorded", "test_loss_gap"},
                            "F.dropout without training=")

    def test_keep_instead_of_drop_caught_by_a_visible_test(self, do):
        # p = 0 drops everything with such a mask (basic test, and the MLP tests' hidden p = 0 cases); at
        # p = 0.5 it looks right, and the visible p = 0.25 case of the scaling test names the mistake.
        assert_lost_exactly(do["scores"]["keepmask"], do["full"], {"test_dropout_basic", "test_dropout_scaling",
                                                                   "test_mlp_train_eval", "test_mlp_activations"},
                            "keep-vs-drop mask")
        assert "KEEPS each element" in feedback_of(do, "keepmask", "test_dropout_scaling")

    def test_no_grad_without_eval_named_as_such(self, do):
        assert_lost_exactly(do["scores"]["nogradonly"], do["full"], {"test_loss_gap"}, "no_grad without eval")
        message = feedback_of(do, "nogradonly", "test_loss_gap")
        assert "call model.eval()" in message and "MLP.forward" not in message, message

    def test_forward_ignoring_training_blamed_on_forward(self, do):
        message = feedback_of(do, "fdropout", "test_loss_gap")
        assert "MLP.forward still drops units" in message, message

    def test_variance_over_wrong_axis(self, do):
        assert_lost_exactly(do["scores"]["wrongaxis"], do["full"], {"test_unit_variance", "test_variances_recorded"},
                            "variance over the wrong axis")


def feedback_of(run, student, grade_id):
    """The error message a student reads under one test cell of their autograded notebook."""
    nb = nbformat.read(run["course"] / "autograded" / student / "dropout" / "dropout.ipynb", as_version=4)
    return "\n".join(f"{o.ename}: {o.evalue}" for o in cell(nb, grade_id).outputs if o.output_type == "error")


# ------------------------------------------------------------------------------------------ dropout backward

DB_ALT = {
    "dropout_layer": '''def dropout_forward(X, p, generator=None):
    if p < 0 or p >= 1:
        raise ValueError("dropout: p must satisfy 0 <= p < 1")
    keep = torch.bernoulli(torch.full(X.shape, 1.0 - p, dtype=X.dtype), generator=generator)
    scale = 1.0 / (1.0 - p)
    return X * keep * scale, {"keep": keep, "scale": scale}


def dropout_backward(dout, cache):
    return dout * cache["keep"] * cache["scale"]
''',
    "gradient_check": '''import numpy as np


def relative_error(a, b):
    a = torch.as_tensor(a).detach().double().numpy()
    b = torch.as_tensor(b).detach().double().numpy()
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def numerical_gradient(f, x, h=1e-6):
    grad = np.zeros(x.numel())
    for i in range(x.numel()):
        step = torch.zeros(x.numel(), dtype=x.dtype)
        step[i] = h
        step = step.reshape(x.shape)
        grad[i] = (float(f(x + step)) - float(f(x - step))) / (2 * h)
    return torch.from_numpy(grad).reshape(x.shape)


def gradient_check(forward, backward, X, dout, seed, h=1e-6):
    X = X.to(torch.float64)
    dout = dout.to(torch.float64)
    _, cache = forward(X, make_generator(seed))
    dX = backward(dout, cache)

    def L(Z):
        out, _ = forward(Z, make_generator(seed))
        return (out * dout).sum()

    return relative_error(dX, numerical_gradient(L, X, h))
''',
    "dropconnect": '''def dropconnect_forward(X, W, b, p, generator=None):
    if not (0.0 <= p < 1.0):
        raise ValueError(f"DropConnect needs 0 <= p < 1, got {p}")
    M = (torch.rand(W.shape, generator=generator, dtype=W.dtype) > p).to(W.dtype)
    W_tilde = M * W / (1.0 - p)
    out = torch.einsum("bi,io->bo", X, W_tilde) + b
    return out, {"X": X, "M": M, "W_tilde": W_tilde, "p": p}


def dropconnect_backward(dout, cache):
    dX = torch.einsum("bo,io->bi", dout, cache["W_tilde"])
    dW = cache["M"] * torch.einsum("bi,bo->io", cache["X"], dout) / (1.0 - cache["p"])
    db = dout.sum(dim=0)
    return dX, dW, db


def check_dropconnect(X, W, b, dout, p, seed):
    def fwd_X(Z, g):
        return dropconnect_forward(Z, W.double(), b.double(), p, g)

    def fwd_W(Z, g):
        return dropconnect_forward(X.double(), Z, b.double(), p, g)

    def fwd_b(Z, g):
        return dropconnect_forward(X.double(), W.double(), Z, p, g)

    errs = []
    for k, (fwd, arg) in enumerate([(fwd_X, X), (fwd_W, W), (fwd_b, b)]):
        errs.append(gradient_check(fwd, lambda d, c, k=k: dropconnect_backward(d, c)[k], arg, dout, seed))
    return tuple(errs)
''',
}
DB_HARDCODED = [("gradient_check", "return relative_error(analytic, numerical_gradient(loss, X, h))", "return 0.0"),
                ("dropconnect", "return err_X, err_W, err_b", "return 0.0, 0.0, 0.0")]
# Each mistake: the edits, and the autograded tests that target it (every other test must keep its points).
DB_MISTAKES = {
    # a new mask in the backward pass: the backward test, and the gradient check of the student's own layer
    "newmask": ([("dropout_layer", "mask, p = cache\n", "_, p = cache\n    mask = torch.rand(dout.shape) >= p\n")],
                {"test_dropout_backward", "test_gradient_check"}),
    # the mask in a global variable: right when backward follows its own forward, wrong after a second forward
    "globalmask": ([("dropout_layer", "    cache = (mask, p)\n", "    global last_mask\n    last_mask = mask\n"
                     "    cache = (None, p)\n"),
                    ("dropout_layer", "    mask, p = cache\n    return dout * mask", "    _, p = cache\n"
                     "    return dout * last_mask")],
                   {"test_dropout_backward"}),
    # keeps with probability p: self-consistent, so only the forward pass's statistics show it
    "keepmask": ([("dropout_layer", "dtype=X.dtype) >= p", "dtype=X.dtype) < p")], {"test_dropout_forward"}),
    # a forward difference: exact on the (linear) layers, wrong by O(h) on the checker's own test
    "forwarddiff": ([("gradient_check", "flat[i] = old - h\n        f_minus", "flat[i] = old\n        f_minus"),
                     ("gradient_check", "(f_plus - f_minus) / (2 * h)", "(f_plus - f_minus) / h")],
                    {"test_numerical_gradient"}),
    # one generator for all evaluations: every evaluation of the loss draws a new mask
    "onegenerator": ([("gradient_check", "    def loss(Z):   # a fresh generator with the same seed: the same mask "
                       "in every evaluation\n        return float((forward(Z, make_generator(seed))",
                       "    g = make_generator(seed)\n\n    def loss(Z):\n        return float((forward(Z, g)")],
                     {"test_gradient_check", "test_check_dropconnect"}),
    # dropout on the inputs, called DropConnect: self-consistent, the forward test names it
    "dropunits": ([("dropconnect", "mask = torch.rand(W.shape, generator=generator, dtype=W.dtype) >= p",
                    "mask = (torch.rand(W.shape[0], 1, generator=generator, dtype=W.dtype) >= p).expand_as(W)")],
                  {"test_dropconnect_forward"}),
    # dropped weights get a gradient: the backward test, and the student's own check sees it
    "dwunmasked": ([("dropconnect", "dW = (X.T @ dout) * mask / (1 - p)", "dW = (X.T @ dout) / (1 - p)")],
                   {"test_dropconnect_backward", "test_check_dropconnect"}),
    # the checkers hard-coded to report success
    "hardcoded": (DB_HARDCODED, {"test_gradient_check", "test_check_dropconnect"}),
    # a forward pass without 1/(1-p), and `abs` redefined to hide it from the tests' own comparisons
    "shadowabs": ([("dropout_layer", "out = X * mask / (1 - p)", "out = X * mask"),
                   ("dropout_layer", "def dropout_forward(", "def abs(x):\n    return 0.0\n\n\ndef dropout_forward(")],
                  {"test_dropout_forward", "test_gradient_check"}),
}


def db_submissions(course):
    a = "dropout_backward"
    submit(course, "full", a, filled(course, a))
    shutil.copytree(course / "exercises" / a, course / "submitted" / "blank" / a)
    alt = filled(course, a)
    for grade_id, source in DB_ALT.items():
        cell(alt, grade_id).source = source
    submit(course, "alt", a, alt)
    for student, (edits, _) in DB_MISTAKES.items():
        nb = filled(course, a)
        for grade_id, old, new in edits:
            edit(nb, grade_id, old, new)
        submit(course, student, a, nb)
    # cheats: a wrong relative_error plus a patch of what the tests call; a patch of the helpers
    nb = filled(course, a)
    edit(nb, "gradient_check", "return float(((a - b).abs()", "return 0.0 * float(((a - b).abs()")
    cell(nb, "gradient_check").source = HACK_ALLCLOSE + cell(nb, "gradient_check").source
    submit(course, "hackallclose", a, nb)
    nb = filled(course, a)
    edit(nb, "dropout_layer", "return dout * mask / (1 - p)", "return dout")
    cell(nb, "dropout_layer").source = REDEFINE_HELPERS + cell(nb, "dropout_layer").source
    submit(course, "hackhelper", a, nb)
    # hard-coded checkers whose test cells are emptied or deleted: the grader restores them
    nb = filled(course, a)
    for grade_id, old, new in DB_HARDCODED:
        edit(nb, grade_id, old, new)
    cell(nb, "test_gradient_check").source = "pass\n"
    nb.cells.remove(cell(nb, "test_check_dropconnect"))
    submit(course, "editedtests", a, nb)


@pytest.fixture(scope="class")
def dbk(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("db"), "dropout_backward")
    db_submissions(course)
    proc, seconds = run_autograde(course, "dropout_backward", f"--Execute.timeout={LOOP_TIMEOUT}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    scores, totals = read_scores(course, "dropout_backward")
    return {"course": course, "scores": scores, "totals": totals, "log": proc.stderr,
            "full": autograded_tests(course, "dropout_backward")}


def db_feedback_of(run, student, grade_id):
    nb = nbformat.read(run["course"] / "autograded" / student / "dropout_backward" / "dropout_backward.ipynb",
                       as_version=4)
    return "\n".join(f"{o.ename}: {o.evalue}" for o in cell(nb, grade_id).outputs if o.output_type == "error")


@pytest.mark.slow
class TestDropoutBackwardGrading:
    def test_exercises_in_sync_with_solutions(self, dbk):
        assert_in_sync(dbk["course"], "dropout_backward")

    def test_solution_full_marks_blank_zero(self, dbk):
        assert dbk["scores"]["full"] == dbk["full"], "the solution must score full marks on every autograded test"
        assert sum(dbk["full"].values()) == 13
        assert all(v == 0 for v in dbk["scores"]["blank"].values()), f"blank: {dbk['scores']['blank']}"
        assert dbk["totals"]["blank"] == 0

    def test_correct_but_different_gets_full_marks(self, dbk):
        assert dbk["scores"]["alt"] == dbk["full"]

    @pytest.mark.parametrize("student", sorted(DB_MISTAKES))
    def test_mistake_loses_exactly_its_tests(self, dbk, student):
        assert_lost_exactly(dbk["scores"][student], dbk["full"], DB_MISTAKES[student][1], student)

    def test_feedback_names_the_mistake(self, dbk):
        assert "must use the mask of the forward pass" in db_feedback_of(dbk, "newmask", "test_dropout_backward")
        assert "global variable" in db_feedback_of(dbk, "globalmask", "test_dropout_backward")
        assert "probability of DROPPING" in db_feedback_of(dbk, "keepmask", "test_dropout_forward")
        assert "central difference" in db_feedback_of(dbk, "forwarddiff", "test_numerical_gradient")
        assert "Is the mask the same in every evaluation" in db_feedback_of(dbk, "onegenerator",
                                                                             "test_gradient_check")
        assert "dropping INPUT UNITS" in db_feedback_of(dbk, "dropunits", "test_dropconnect_forward")
        assert "also for the DROPPED weights" in db_feedback_of(dbk, "dwunmasked", "test_dropconnect_backward")

    def test_patching_torch_or_the_helpers_scores_zero(self, dbk):
        for student in ("hackallclose", "hackhelper"):
            assert all(v == 0 for v in dbk["scores"][student].values()), f"{student}: {dbk['scores'][student]}"
            review = [line for line in dbk["log"].splitlines() if "REVIEW" in line and f"'{student}'" in line]
            assert len(review) == 1, review

    def test_edited_and_deleted_tests_are_restored(self, dbk):
        assert_lost_exactly(dbk["scores"]["editedtests"], dbk["full"],
                            {"test_gradient_check", "test_check_dropconnect"}, "edited/deleted tests")


# ------------------------------------------------------------------------------ the helpers, directly

HOSTILE = {
    "torch.allclose": "torch.allclose = lambda *a, **k: True",
    "torch.isclose": "torch.isclose = lambda *a, **k: True",
    "torch.Tensor.__eq__": "torch.Tensor.__eq__ = lambda self, other: True",
    "builtins.abs": "import builtins; builtins.abs = lambda x: 0.0",
    "importlib.reload": "import importlib; importlib.reload = lambda m: m",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_helpers_detect_patches(name):
    code = (f"import torch\n{HOSTILE[name]}\nimport importlib, regcourse.grading as G\n"
            "try:\n    G.assert_close(torch.tensor([1.0]), [2.0], 'x')\nexcept AssertionError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env()).stdout
    assert "were replaced in your notebook" in out and name in out, out


def test_helpers_reject_fake_values_and_accept_real_ones():
    import numpy as np
    import torch

    import regcourse.grading as G

    class Fake(float):
        def __eq__(self, other):
            return True
    with pytest.raises(AssertionError, match="should be a torch.Tensor"):
        G.assert_close(object(), 1.0, "x")
    with pytest.raises(AssertionError, match="should be a torch.Tensor"):
        G.scalar(Fake(3.0))
    with pytest.raises(AssertionError, match="is wrong"):
        G.assert_close(torch.tensor([1.0, 2.0]), [1.0, 2.1], "x")
    with pytest.raises(AssertionError, match="NaN"):
        G.assert_close(torch.tensor([float("nan")]), [1.0], "x")
    G.assert_close(torch.tensor([[1.0, 2.0]], requires_grad=True), np.array([[1.0, 2.0]]), "x")
    G.assert_close(torch.nn.Parameter(torch.ones(2)), [1.0, 1.0], "x")
    assert G.scalar(np.float32(2.5)) == 2.5 and G.shape(torch.zeros(2, 3)) == (2, 3)


# ---------------------------------------------------------------------------- what the headings promise

@pytest.mark.parametrize("assignment", ["weight_decay", "dropout", "dropout_backward"])
def test_heading_points_equal_autograded_points(assignment):
    """A heading `## N. Title (k points...)` promises k points: the autograded test cells under it (up to the
    next `## ` heading) carry exactly k, and a `**Plot (k points)**`/`**Question (k points)**` cell carries k
    (or, for a written answer, the manually graded answer cell right after the question does)."""
    import re
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    sections, current = {}, None
    for i, c in enumerate(nb.cells):
        meta = c.metadata.get("nbgrader", {})
        if c.cell_type == "markdown":
            for line in c.source.splitlines():
                m = re.match(r"^## (.*)$", line)
                if m:
                    current = m.group(1)
                    sections[current] = 0.0
            m = re.search(r"\*\*(Plot|Question) \((\d+) points?\)", c.source)
            if m:
                after = nb.cells[i + 1].metadata.get("nbgrader", {}) if i + 1 < len(nb.cells) else {}
                if not (meta.get("grade") or meta.get("task")) and after.get("grade") and after.get("solution"):
                    meta = after   # a locked question, then its manually graded answer cell with the points
                assert (meta.get("grade") or meta.get("task")) and float(meta["points"]) == float(m.group(2)), (
                    f"{assignment}: '{m.group(0)}' but the cell carries {meta.get('points')} points")
        elif meta.get("grade") and not meta.get("solution"):
            assert current is not None, f"{assignment}: test cell {meta['grade_id']} before any heading"
            sections[current] += float(meta["points"])
    promised = 0.0
    for heading, points in sections.items():
        m = re.search(r"\((\d+) points?", heading)
        if m:
            promised += float(m.group(1))
            assert float(m.group(1)) == points, (
                f"{assignment}: heading '## {heading}' promises {m.group(1)} points; its tests carry {points}")
        else:
            assert points == 0, f"{assignment}: '## {heading}' has {points} autograded points but names none"
    assert promised == sum(autograded_tests_of_source(assignment).values())


def autograded_tests_of_source(assignment):
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    return {c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader["points"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
            and not c.metadata.nbgrader.get("solution")}
