"""A whole term with `python -m regcourse.term`, for a generated class, from an LMS download to the LMS export.

The slow test (`grading`, `slow`) copies the course to a temporary folder and runs, with PATH emptied (the
stages must find nbgrader and alembic themselves): generate -> roster -> collect (a Canvas zip) -> autograde
-> a manual grade -> feedback -> a second download with two resubmissions -> collect -> autograde (only the
two changed ones) -> feedback -> export; it checks the collection report, the scores, the manual-grading list,
that feedback follows the regrade and the exported CSV. The seconds of every stage are printed (run with -s)
and appended to $GRADING_TIMINGS when set.

The class (18 on the roster, 16 submissions, weight_decay): correct work; a hyphenated name with an
apostrophe; accented names; two students both named Wei Li (the same Canvas name slug, told apart by their
user ids); one late (Canvas's LATE_ marker, submitted after the due date) and one a minute before it; a
resubmission (`-1` suffix) that fixes a mistake; notebooks renamed by the student ("Weight Decay.ipynb",
"weight_decay (1).ipynb"); an untouched student version; a blanked and a deleted written answer; a mistake
that costs one test; two students who submitted nothing; a file from a user id not on the roster; a PDF.
The fast tests check the name parsing (Canvas and Moodle), a Moodle collection, the refusals and that a
failing generate leaves exercises/ as it was.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbgrader_cells import cell

from regcourse import term

ROOT = Path(__file__).resolve().parents[1]
A = "weight_decay"
DUE = "2026-11-20T23:59:00+00:00"
pytestmark = pytest.mark.grading


def run_term(course: Path, *args, cwd=None, check=True):
    """The CLI as an instructor runs it, with an empty PATH (it must find nbgrader and alembic itself)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PATH", "JUPYTER_CONFIG_DIR")}
    env["PATH"] = ""
    env["REGCOURSE_NO_PROGRESS"] = "1"
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-m", "regcourse.term", *args], cwd=cwd or course, env=env,
                          capture_output=True, text=True)
    proc.seconds = time.time() - t0
    if check and proc.returncode != 0:
        raise AssertionError(f"term {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}")
    return proc


def make_course(tmp: Path) -> Path:
    course = tmp / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions" / A, course / "solutions" / A)
    return course


def filled(course: Path, answers=True):
    """The student version with the solution cells filled in from the source (and written answers)."""
    release = nbformat.read(course / "exercises" / A / f"{A}.ipynb", as_version=4)
    source = nbformat.read(course / "solutions" / A / f"{A}.ipynb", as_version=4)
    for c in release.cells:
        meta = c.metadata.get("nbgrader", {})
        if meta.get("solution") and (c.cell_type == "code" or answers):
            c.source = "\n".join(line for line in cell(source, meta["grade_id"]).source.splitlines()
                                 if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)
    return release


def edit(nb, grade_id, old, new):
    c = cell(nb, grade_id)
    assert old in c.source, f"fixture out of date: {old!r} not in cell {grade_id}"
    c.source = c.source.replace(old, new)
    return nb


# (id, first, last, LMS user id, Canvas name slug): a class of 18 (ids need not be consecutive)
ROSTER = [
    ("s01", "Ada", "Lovelace", "1001", "lovelaceada"),
    ("s02", "Mary-Jane", "O'Neil", "1002", "oneilmaryjane"),
    ("s03", "José", "Núñez", "1003", "nunezjose"),
    ("s04", "Wei", "Li", "1004", "liwei"),
    ("s05", "Wei", "Li", "1005", "liwei"),
    ("s06", "Grace", "Hopper", "1006", "hoppergrace"),
    ("s07", "Alan", "Turing", "1007", "turingalan"),
    ("s08", "Emmy", "Noether", "1008", "noetheremmy"),
    ("s09", "Kurt", "Gödel", "1009", "godelkurt"),
    ("s10", "Sofia", "Kovalevskaya-Ivanova", "1010", "kovalevskayaivanovasofia"),
    ("s11", "Blaise", "Pascal", "1011", "pascalblaise"),
    ("s12", "Marie", "Curie", "1012", "curiemarie"),
    ("s13", "Niels", "Bohr", "1013", "bohrniels"),
    ("s14", "Ibn", "al-Haytham", "1014", "alhaythamibn"),
    ("s15", "Hypatia", "of Alexandria", "1015", "ofalexandriahypatia"),
    ("s18", "Carl Friedrich", "Gauss", "1018", "gausscarlfriedrich"),
    ("s21", "Rosalind", "Franklin", "1021", "franklinrosalind"),   # submits nothing
    ("s22", "Paul", "Erdős", "1022", "erdospaul"),                  # submits nothing
]
SUBMITTING = [sid for sid, *_ in ROSTER if sid not in ("s21", "s22")]
LAMBDA_ON_TEST = ("val_losses.append(squared_loss(w, b, X_val, y_val))",
                  "val_losses.append(squared_loss(w, b, X_test, y_test))")
BIAS_DECAYED = ("b -= lr * b.grad", "b -= lr * (b.grad + lambd * b)")
ON_TIME = dt.datetime(2026, 11, 20, 18, 0)
LATE = dt.datetime(2026, 11, 21, 9, 30)
JUST_IN_TIME = dt.datetime(2026, 11, 20, 23, 58)


def write_roster(path: Path):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "first_name", "last_name", "email", "lms_user_id"])
        for sid, first, last, uid, _ in ROSTER:
            w.writerow([sid, first, last, f"{sid}@example.edu", uid])


def canvas_files(course: Path) -> list:
    """[(file name in the zip, bytes, time)] of the first Canvas download."""
    files, slug = [], {sid: (uid, s) for sid, _, _, uid, s in ROSTER}

    def add(sid, nb_or_bytes, when=ON_TIME, name=f"{A}.ipynb", late=False, sub="1"):
        uid, s = slug[sid]
        data = nb_or_bytes if isinstance(nb_or_bytes, bytes) else nbformat.writes(nb_or_bytes).encode()
        files.append((f"{s}_{'LATE_' if late else ''}{uid}_{sub}{uid[-2:]}_{name}", data, when))

    for sid in ("s01", "s02", "s03", "s04", "s15", "s18"):
        add(sid, filled(course))
    add("s05", edit(filled(course), "sgd_step", *BIAS_DECAYED))              # the other Wei Li: loses 1
    add("s06", filled(course), when=LATE, late=True)
    add("s07", filled(course), when=JUST_IN_TIME)
    add("s08", edit(filled(course), "select_lambda", *LAMBDA_ON_TEST), when=ON_TIME)
    add("s08", filled(course), when=ON_TIME + dt.timedelta(hours=2), name=f"{A}-1.ipynb")   # resubmission
    add("s09", filled(course), name="Weight Decay.ipynb")
    add("s10", filled(course), name=f"{A} (1).ipynb")
    add("s11", (course / "exercises" / A / f"{A}.ipynb").read_bytes())    # the untouched student version
    nb = filled(course)
    cell(nb, "reading_lambda_sweep").source = ""                             # blanked answer
    add("s12", nb)
    nb = filled(course)
    nb.cells.remove(cell(nb, "map_reading"))                                 # deleted answer cell
    add("s13", nb)
    add("s14", edit(filled(course), "select_lambda", *LAMBDA_ON_TEST))      # loses test_select_lambda
    add("s01", b"%PDF-1.4 not a notebook", name="notes.pdf")
    files.append((f"strangerdanger_9999_99999_{A}.ipynb", nbformat.writes(filled(course)).encode(), ON_TIME))
    return files


def write_zip(path: Path, files):
    with zipfile.ZipFile(path, "w") as z:
        for name, data, when in files:
            info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])
            z.writestr(info, data)


def scores(course: Path) -> dict:
    from nbgrader.api import Gradebook
    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for sub in gb.assignment_submissions(A):
            out[sub.student.id] = {g.name: g for g in sub.notebooks[0].grades}
            out[sub.student.id] = {n: (g.auto_score, g.manual_score, g.needs_manual_grade)
                                   for n, g in out[sub.student.id].items()}
    return out


def record(timings: dict, stage: str, seconds: float, n=None):
    line = f"[term] {stage}: {seconds:.1f} s" + (f" ({n} submissions, {seconds / n:.1f} s each)" if n else "")
    timings[stage] = seconds
    print(line)
    if os.environ.get("GRADING_TIMINGS"):
        with open(os.environ["GRADING_TIMINGS"], "a") as f:
            f.write(line + "\n")


# ------------------------------------------------------------------------------------------ the whole term

@pytest.mark.slow
def test_whole_term(tmp_path):
    course = make_course(tmp_path)
    timings = {}
    p = run_term(course, "generate", A)
    record(timings, "generate", p.seconds)
    cells = term.graded_cells(course, A)
    auto = {c["id"]: c["points"] for c in cells if c["kind"] == "auto"}
    answers = [c["id"] for c in cells if c["kind"] == "answer"]
    assert set(answers) == {"reading_lambda_sweep", "map_reading"} and "plot_lambda_sweep" in \
        [c["id"] for c in cells if c["kind"] == "task"]
    full = sum(auto.values())

    write_roster(tmp_path / "roster.csv")
    p = run_term(course, "roster", str(tmp_path / "roster.csv"))
    record(timings, "roster", p.seconds)
    assert f"{len(ROSTER)} students" in p.stdout

    write_zip(tmp_path / "canvas.zip", canvas_files(course))
    p = run_term(course, "collect", A, "--zip", str(tmp_path / "canvas.zip"), "--due", DUE)
    record(timings, "collect", p.seconds)
    out = p.stdout
    n = len(SUBMITTING)
    assert f"collected {n} students ({n} new or changed, 0 unchanged); 1 carry the LMS's LATE marker." in out, out
    assert "students with no submission (2): s21, s22" in out, out
    assert "unknown student (1)" in out and "strangerdanger_9999" in out, out
    assert "notes.pdf" in out and "not a notebook" in out, out
    assert f"s08: {A}.ipynb, {A}-1.ipynb" in out, out
    assert "s09 (Weight Decay.ipynb)" in out and f"s10 ({A} (1).ipynb)" in out, out
    assert (course / "submitted" / "s04" / A / f"{A}.ipynb").exists() and (course / "submitted" / "s05").exists()
    report = list(csv.DictReader(open(course / "downloaded" / A / "collect_report.csv")))
    assert len(report) == len(canvas_files(course)) and all(r["status"] for r in report)

    p = run_term(course, "autograde", A)
    record(timings, "autograde", p.seconds, n)
    print(p.stdout)
    s = scores(course)
    assert set(s) == set(SUBMITTING)
    got = {sid: sum(s[sid][g][0] or 0 for g in auto) for sid in s}
    expected = {sid: full for sid in s}
    expected.update({"s05": full - 1, "s11": 0, "s14": full - auto["test_select_lambda"]})
    assert got == expected, {k: (got[k], expected[k]) for k in got if got[k] != expected[k]}
    # written answers: given -> to grade by hand; untouched or deleted -> 0 "No response"; blanked -> flagged
    assert s["s01"]["map_reading"][2] and s["s01"]["map_reading"][0] is None
    assert s["s11"]["map_reading"][:1] == (0,) and not s["s11"]["map_reading"][2]
    assert s["s13"]["map_reading"][2], "a deleted answer cell is put back and flagged"
    assert all(s[sid]["plot_lambda_sweep"][2] for sid in s)
    table = p.stdout
    assert re.search(r"s21 .* NO SUBMISSION", table) and re.search(r"s06 .* 1006 +LATE", table), table
    assert not re.search(r"s07 .* 1007 +LATE", table), table
    assert "reading_lambda_sweep (written answer (BLANK))" in table.split("s12:")[1].splitlines()[0], table
    assert "map_reading (written answer (DELETED" in table.split("s13:")[1].splitlines()[0], table

    # the instructor grades s01's written answers (as the formgrader does), then feedback
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for name, points in (("map_reading", 3), ("reading_lambda_sweep", 1), ("plot_lambda_sweep", 1)):
            g = gb.find_grade(name, A, A, "s01")
            g.manual_score, g.needs_manual_grade = points, False
        gb.db.commit()
    p = run_term(course, "feedback", A)
    record(timings, "feedback", p.seconds, n)
    assert f"written for {n} of {n}" in p.stdout, p.stdout
    fb14 = course / "feedback" / "s14" / A / f"{A}.html"
    before = fb14.read_text()
    assert "BEGIN HIDDEN TESTS" not in before and "MARK SCHEME" not in before

    # a second download: s14 fixes the mistake, s01 rewrites an answer (each `-1`), everyone else unchanged
    files = canvas_files(course)
    nb = filled(course)
    cell(nb, "map_reading").source = "A rewritten answer: Gaussian likelihood, Gaussian prior, λ = σ²/(nτ²)."
    files.append((f"lovelaceada_1001_101_{A}-1.ipynb", nbformat.writes(nb).encode(), LATE - dt.timedelta(days=1)))
    files.append((f"alhaythamibn_1014_114_{A}-1.ipynb", nbformat.writes(filled(course)).encode(),
                  ON_TIME + dt.timedelta(hours=1)))
    write_zip(tmp_path / "canvas2.zip", files)
    p = run_term(course, "collect", A, "--zip", str(tmp_path / "canvas2.zip"))
    record(timings, "collect again", p.seconds)
    assert f"collected {n} students (2 new or changed, {n - 2} unchanged)" in p.stdout, p.stdout
    p = run_term(course, "autograde", A)
    record(timings, "autograde resubmissions", p.seconds, 2)
    assert "autograding 2 submissions" in p.stdout, p.stdout
    s = scores(course)
    assert sum(s["s14"][g][0] for g in auto) == full
    assert s["s01"]["map_reading"][2], "a resubmitted written answer must be flagged for grading again"
    assert "before the resubmission: check again" in p.stdout.split("\n  s01: ")[1].splitlines()[0], p.stdout
    p = run_term(course, "feedback", A)
    record(timings, "feedback again", p.seconds, n)
    after = fb14.read_text()
    assert after != before, "feedback must follow a regrade"
    assert re.search(rf"{full:g}(\.0)? */", after) or f"{full:g}" in after

    p = run_term(course, "export", A)
    record(timings, "export", p.seconds)
    rows = list(csv.DictReader(open(course / f"grades_{A}.csv", encoding="utf-8")))
    assert len(rows) == len(ROSTER)
    by = {r["lms_user_id"]: r for r in rows}
    assert set(by) == {uid for *_, uid, _ in ROSTER}
    assert by["1002"]["last_name"] == "O'Neil" and by["1003"]["first_name"] == "José"
    assert by["1006"]["late"] == "yes" and float(by["1006"]["seconds_late"]) > 0
    assert by["1007"]["late"] == "no" and by["1001"]["late"] == "no"
    assert by["1021"]["submitted"] == "no" and by["1021"]["score"] == "0"
    col = next(k for k in rows[0] if k.startswith("test_select_lambda"))
    assert by["1014"][col] == f"{auto['test_select_lambda']:g}" and by["1005"]["score"] == f"{full - 1:g}"
    assert all(k in rows[0] for k in ("map_reading (/3)", "reading_lambda_sweep (/1)", "plot_lambda_sweep (/1)"))
    assert float(by["1004"]["score"]) == full and float(by["1004"]["max_score"]) > full
    print("\n".join(f"[term] {k}: {v:.1f} s" for k, v in timings.items()))


# ------------------------------------------------------------------------------------------------ fast ones

@pytest.mark.parametrize("name, expected", [
    ("lovelaceada_1001_5551_weight_decay.ipynb", ("canvas", "1001", False, "weight_decay.ipynb", 0)),
    ("oneilmaryjane_LATE_1002_5552_weight_decay-1.ipynb", ("canvas", "1002", True, "weight_decay-1.ipynb", 1)),
    ("godelkurt_1009_5559_Weight Decay.ipynb", ("canvas", "1009", False, "Weight Decay.ipynb", 0)),
    ("liwei_1005_weight_decay-12.ipynb", ("canvas", "1005", False, "weight_decay-12.ipynb", 12)),
    ("Mary-Jane O'Neil_48213_assignsubmission_file_weight_decay.ipynb",
     ("moodle", "48213", False, "weight_decay.ipynb", 0)),
    ("José Núñez_48214_assignsubmission_file_/Weight Decay.ipynb", ("moodle", "48214", False, "Weight Decay.ipynb", 0)),
])
def test_lms_names(name, expected):
    info = term.parse_lms_name(name)
    assert (info["lms"], info["uid"], info["late"], info["file"], info["resubmission"]) == expected


def test_unknown_names():
    assert term.parse_lms_name("weight_decay.ipynb") is None
    assert term.parse_lms_name("notes/readme.txt") is None


def test_refuses_outside_course_root(tmp_path):
    p = run_term(tmp_path, "export", A, cwd=tmp_path, check=False)
    assert p.returncode == 2 and "is not the course root" in p.stderr and "Nothing was changed" in p.stderr
    assert not (tmp_path / "gradebook.db").exists() and not list(tmp_path.iterdir())


@pytest.mark.slow   # nbgrader runs: seconds each, minutes on a loaded machine
def test_failed_generate_keeps_exercises(tmp_path):
    course = make_course(tmp_path)
    run_term(course, "generate", A)
    stored = (course / "exercises" / A / f"{A}.ipynb").read_bytes()
    (course / "solutions" / A / f"{A}.ipynb").write_text('{"cells": [ broken')
    p = run_term(course, "generate", A, check=False)
    assert p.returncode == 2 and "is unchanged" in p.stderr, p.stderr
    assert (course / "exercises" / A / f"{A}.ipynb").read_bytes() == stored


@pytest.mark.slow
def test_moodle_collection(tmp_path):
    """A Moodle download (files and the folder layout) against a roster: ids matched, every file reported."""
    course = make_course(tmp_path)
    run_term(course, "generate", A)
    write_roster(tmp_path / "roster.csv")
    run_term(course, "roster", str(tmp_path / "roster.csv"))
    nb = nbformat.writes(filled(course)).encode()
    files = [("Ada Lovelace_1001_assignsubmission_file_weight_decay.ipynb", nb, ON_TIME),
             ("Mary-Jane O'Neil_1002_assignsubmission_file_/Weight Decay.ipynb", nb, ON_TIME),
             ("José Núñez_77777_assignsubmission_file_weight_decay.ipynb", nb, ON_TIME),   # matched by name
             ("Nobody Known_88888_assignsubmission_file_weight_decay.ipynb", nb, ON_TIME),
             ("Alan Turing_1007_assignsubmission_onlinetext_onlinetext.html", b"<p>hi</p>", ON_TIME)]
    write_zip(tmp_path / "moodle.zip", files)
    p = run_term(course, "collect", A, "--zip", str(tmp_path / "moodle.zip"), "--due", DUE)
    assert "collected 3 students" in p.stdout, p.stdout
    assert sorted(x.name for x in (course / "submitted").iterdir()) == ["s01", "s02", "s03"]
    assert "Nobody Known" in p.stdout and "onlinetext.html" in p.stdout
    assert f"students with no submission ({len(ROSTER) - 3})" in p.stdout
    ts = (course / "submitted" / "s02" / A / "timestamp.txt").read_text()
    assert ts.startswith("2026-11-20 18:00:00")
    meta = json.loads((course / "downloaded" / A / "submissions.json").read_text())
    assert meta["s02"]["lms"] == "moodle" and meta["s02"]["file"].endswith("Weight Decay.ipynb")


def test_feedback_polish(tmp_path):
    """Feedback: summary entries named by grade id; MathJax from the course's copy, the CDN as a fallback."""
    import jinja2
    from jupyter_core.paths import jupyter_path
    base = next(p for p in jupyter_path("nbconvert", "templates", "base") if os.path.exists(p))
    block = jinja2.Environment(loader=jinja2.FileSystemLoader(base)).from_string(
        "{% from 'mathjax.html.j2' import mathjax %}{{ mathjax() }}").render()
    assert "cdnjs.cloudflare.com" in block     # what nbconvert writes: MathJax 2 from a CDN
    html = tmp_path / "feedback" / "s01" / A / f"{A}.html"
    html.parent.mkdir(parents=True)
    page = (f"<html><head>{block}</head><body><ul><li><a href=\"#test_l2_penalty\">Test cell</a> (Score: 1.0 / 1.0)"
            "</li><li><a href=\"#map_reading\">Written response</a></li></ul>$x^2$</body></html>")
    html.write_text(page)
    assert not term.offline_mathjax(tmp_path, html)          # no local MathJax: names only, CDN kept
    assert "Test cell <code>test_l2_penalty</code>" in html.read_text() and "cdnjs" in html.read_text()
    (tmp_path / "book" / "_static" / "mathjax").mkdir(parents=True)
    (tmp_path / "book" / "_static" / "mathjax" / "tex-chtml.js").write_text("// MathJax")
    html.write_text(page)
    assert term.offline_mathjax(tmp_path, html)
    text = html.read_text()
    assert "cdnjs" not in text and '"../../../book/_static/mathjax/tex-chtml.js"' in text
    assert "Written response <code>map_reading</code>" in text and "cdn.jsdelivr.net/npm/mathjax@3" in text
