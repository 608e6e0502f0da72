"""One command per stage of a term: ``python -m regcourse.term <stage> ...`` from the course root.

    generate  <a>                      solutions/<a> -> exercises/<a> (built aside, swapped in only on success)
    roster    <roster.csv>             import the class list (id, first_name, last_name, email, lms_user_id)
    collect   <a> --zip Z [--due D]    an LMS download (Canvas or Moodle zip) or a folder -> submitted/
    autograde <a>                      grade what is new or changed; print the score table and what needs a human
    feedback  <a>                      feedback/ for every graded student, always regenerated
    export    <a> [--out F]            an LMS-importable CSV keyed by the LMS user id
    status    <a>                      the score table again, from the gradebook
    formgrader [--port P]              Jupyter with the formgrader, headless (for an SSH tunnel)

Every stage checks that it runs in the course root (the folder holding ``nbgrader_config.py`` and
``solutions/``), puts this environment's ``bin`` first on PATH for nbgrader's own subprocesses (``alembic``,
kernels), keeps nbgrader's full log in ``downloaded/logs/`` and prints only what an instructor acts on.
book/instructor_guide.md walks through a term with these commands.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

BIN = Path(sys.executable).parent


class TermError(SystemExit):
    """A stage that cannot run: the message names the cause (exit status 2)."""

    def __init__(self, message: str):
        super().__init__(2)
        self.message = message


# ============================================================================================== the course

def course_root(path: str | os.PathLike | None = None) -> Path:
    """The course root (``path`` or the current folder), or a TermError naming the folder expected."""
    root = Path(path or os.getcwd()).resolve()
    if (root / "nbgrader_config.py").is_file() and (root / "solutions").is_dir():
        return root
    expected = Path(__file__).resolve().parents[1]
    hint = expected if (expected / "nbgrader_config.py").is_file() else "the folder holding nbgrader_config.py"
    raise TermError(f"{root} is not the course root: it has no nbgrader_config.py and solutions/ folder. "
                    f"Run this from {hint} (or pass --course DIR). Nothing was changed.")


def _env() -> dict:
    env = dict(os.environ)
    # nbgrader runs `alembic` and kernels from PATH, the sandbox `bwrap`: the venv first, the system's after
    env["PATH"] = os.pathsep.join(p for p in [str(BIN), env.get("PATH", ""), os.defpath] if p)
    env.setdefault("REGCOURSE_NO_PROGRESS", "1")
    env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    return env


def _check_tools() -> None:
    for tool in ("nbgrader", "alembic"):
        if not (BIN / tool).exists():
            raise TermError(f"{BIN / tool} is missing: run `bash scripts/setup.sh` first. Nothing was changed.")


# nbgrader log lines that are expected in this course and carry nothing to act on; each is counted, not shown.
_QUIET = [
    (re.compile(r"Attribute 'checksum' for cell .* has changed"),
     "locked cells restored from the source (the student copy has no hidden tests or mark schemes: expected)"),
    (re.compile(r"SAWarning|sqlalchemy|relationship .* will copy column|warn_deprecated|^\s+(self|[a-z_]+)\."
                r"|\bwarnings\.warn\(|SADeprecationWarning"), "SQLAlchemy warnings from nbgrader's gradebook"),
    (re.compile(r"TCP without encryption|Message signing is disabled|--ip=|without encryption"),
     "Jupyter's note on local TCP connections"),
    (re.compile(r"Creating/updating assignment with ID"), "the due date, recorded (printed below)"),
    (re.compile(r"Gradebook backed up to"), "gradebook backups (downloaded/../backups/)"),
    (re.compile(r"Overwriting files with (the|different)|Converting notebook|Writing \d+ bytes|Sanitizing|"
                r"Autograding|Generating feedback|Copying |Removing existing|Loading config file|"
                r"Using late submission penalty method|Removing|Updating/creating|Making directory|"
                r"Setting destination file permissions"), "progress"),
    (re.compile(r"Config option `display_data_priority` not recognized"),
     "nbconvert's note that a feedback preprocessor ignores an exporter option"),
    (re.compile(r"Alternative text is missing on \d+ image"), "nbconvert's note on plots without alt text"),
    (re.compile(r"MissingIDFieldWarning"), "nbformat's note that a cell put back has no id"),
    (re.compile(r"\| INFO\]"), "INFO lines"),
    (re.compile(r"Late submission penalty: None"), "late penalties of 0 (penalty method none)"),
    (re.compile(r"^\s*$"), "blank"),
]


def _filter(lines, verbose: bool):
    shown, hidden, why = [], {}, None
    for line in lines:
        line = line.rstrip("\n")
        if why and line.startswith((" ", "\t")) and not verbose:
            continue           # the indented continuation (source line, traceback) of a hidden line
        why = None if verbose else next((w for pat, w in _QUIET if pat.search(line)), None)
        if why:
            hidden[why] = hidden.get(why, 0) + 1
        else:
            shown.append(line)
    return shown, hidden


def nbgrader(root: Path, *args, verbose=False, log_name=None, echo=True) -> subprocess.CompletedProcess:
    """Run the nbgrader CLI in the course root; its full log goes to downloaded/logs/, the rest is filtered."""
    _check_tools()
    proc = subprocess.run([str(BIN / "nbgrader"), *args], cwd=root, env=_env(), capture_output=True, text=True)
    logs = root / "downloaded" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    name = log_name or args[0]
    log = logs / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}.log"
    log.write_text(f"$ nbgrader {' '.join(args)}\n{proc.stdout}\n{proc.stderr}")
    if echo:
        shown, hidden = _filter((proc.stdout + proc.stderr).splitlines(), verbose)
        for line in shown:
            print("  " + line)
        if hidden:
            print("  (not shown: " + "; ".join(f"{n} × {w}" for w, n in hidden.items() if w != "blank")
                  + f"; full log: {log.relative_to(root)})")
    proc.log = log
    return proc


def _source_notebook(root: Path, assignment: str) -> Path:
    nbs = sorted((root / "solutions" / assignment).glob("*.ipynb"))
    if not nbs:
        known = ", ".join(sorted(p.name for p in (root / "solutions").iterdir() if p.is_dir()))
        raise TermError(f"no assignment {assignment!r}: solutions/{assignment}/ has no notebook (known: {known}).")
    if len(nbs) > 1:
        raise TermError(f"solutions/{assignment}/ has {len(nbs)} notebooks; these commands expect one per assignment.")
    return nbs[0]


def graded_cells(root: Path, assignment: str) -> list[dict]:
    """The graded cells of the source notebook in order: grade_id, points, kind (auto/answer/task)."""
    nb = json.loads(_source_notebook(root, assignment).read_text())
    out = []
    for c in nb["cells"]:
        m = c.get("metadata", {}).get("nbgrader", {})
        if m.get("task"):
            out.append({"id": m["grade_id"], "points": float(m.get("points", 0)), "kind": "task"})
        elif m.get("grade"):
            kind = "answer" if m.get("solution") else "auto"
            out.append({"id": m["grade_id"], "points": float(m.get("points", 0)), "kind": kind})
    return out


# ================================================================================================ generate

def generate(root: Path, assignment: str, verbose=False) -> None:
    """Build the student version aside; exercises/<a> is replaced only when nbgrader succeeded."""
    _source_notebook(root, assignment)
    with tempfile.TemporaryDirectory(prefix="release-", dir=root) as tmp:
        proc = nbgrader(root, "generate_assignment", assignment, "--force",
                        f"--CourseDirectory.release_directory={Path(tmp).name}", verbose=verbose)
        built = Path(tmp) / assignment
        if proc.returncode != 0 or not any(built.glob("*.ipynb")):
            raise TermError(f"nbgrader generate_assignment {assignment} failed (exit {proc.returncode}); "
                            f"exercises/{assignment}/ is unchanged. Log: {proc.log}")
        dest = root / "exercises" / assignment
        dest.parent.mkdir(exist_ok=True)
        old = root / "exercises" / f".{assignment}.old"
        if dest.exists():
            dest.rename(old)
        shutil.move(str(built), dest)
        shutil.rmtree(old, ignore_errors=True)
    print(f"exercises/{assignment}/ regenerated; the gradebook knows its {len(graded_cells(root, assignment))} "
          "graded cells.")


# ================================================================================================== roster

ROSTER_COLUMNS = ("id", "first_name", "last_name", "email", "lms_user_id")


def roster(root: Path, csv_path: str, verbose=False) -> None:
    rows = list(csv.DictReader(open(csv_path, newline="", encoding="utf-8-sig")))
    if not rows:
        raise TermError(f"{csv_path} has no rows.")
    missing = [c for c in ("id", "lms_user_id") if c not in rows[0]]
    if missing:
        raise TermError(f"{csv_path} lacks the column(s) {', '.join(missing)}; expected {', '.join(ROSTER_COLUMNS)}.")
    ids = [r["id"] for r in rows]
    bad = [i for i in ids if not re.fullmatch(r"[A-Za-z0-9_.-]+", i or "")]
    if bad:
        raise TermError(f"student ids must be letters, digits, _ . - (they become folder names): {bad[:5]}")
    uids = [r["lms_user_id"] for r in rows]
    dup = sorted({i for i in ids if ids.count(i) > 1} | {u for u in uids if uids.count(u) > 1})
    if dup:
        raise TermError(f"{csv_path}: duplicated id or lms_user_id: {', '.join(dup[:10])}. Nothing was imported.")
    proc = nbgrader(root, "db", "student", "import", str(Path(csv_path).resolve()), verbose=verbose)
    if proc.returncode != 0:
        raise TermError(f"nbgrader db student import failed; log: {proc.log}")
    print(f"{len(rows)} students in the gradebook.")


def _students(root: Path) -> dict:
    """{student id: {first_name, last_name, email, lms_user_id}} from the gradebook."""
    from nbgrader.api import Gradebook
    db = root / "gradebook.db"
    if not db.exists():
        return {}
    with Gradebook(f"sqlite:///{db}") as gb:
        return {s.id: {"first_name": s.first_name or "", "last_name": s.last_name or "", "email": s.email or "",
                       "lms_user_id": s.lms_user_id or ""} for s in gb.students}


# ================================================================================================= collect

# Canvas: <namesortable>_[LATE_]<user id>_<submission id>_<the student's file name>, where the file name of a
# resubmission carries -1, -2 ... before the extension. Group submissions and some exports leave out the
# submission id.
CANVAS = re.compile(r"^(?P<name>[a-z0-9]+?)_(?P<late>LATE_)?(?P<uid>\d+)_(?:(?P<sid>\d+)_)?(?P<file>.+)$")
# Moodle: <Full Name>_<participant id>_assignsubmission_file_<file> (a file, or a folder holding the file).
MOODLE = re.compile(r"^(?P<name>.+?)_(?P<uid>\d+)_assignsubmission_(?:file|onlinetext)_(?P<file>.*)$")
RESUBMISSION = re.compile(r"-(\d+)(?=\.[^.]+$)")


def parse_lms_name(path: str) -> dict | None:
    """LMS fields of one file of a download (None if it matches neither Canvas nor Moodle)."""
    parts = [p for p in path.replace("\\", "/").split("/") if p]
    for i in range(len(parts) - 1, -1, -1):     # Moodle puts the file in a folder named like the file
        m = MOODLE.match(parts[i])
        if m:
            file = m["file"] or parts[-1]
            if i < len(parts) - 1:
                file = parts[-1]
            return {"lms": "moodle", "name": m["name"], "uid": m["uid"], "sid": "", "late": False,
                    "file": file, "resubmission": 0}
    m = CANVAS.match(parts[-1])
    if m:
        r = RESUBMISSION.search(m["file"])
        return {"lms": "canvas", "name": m["name"], "uid": m["uid"], "sid": m["sid"] or "", "late": bool(m["late"]),
                "file": m["file"], "resubmission": int(r.group(1)) if r else 0}
    return None


def _slug(name: str) -> str:
    """A name as LMSs slug it: accents dropped, lower case, letters and digits only (José Núñez -> josenunez)."""
    import unicodedata
    return re.sub(r"[^a-z0-9]", "", unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower())


def _entries(zips, folder):
    """(path, bytes, mtime as UTC datetime) of every file of the zips / folder."""
    for z in zips:
        with zipfile.ZipFile(z) as zf:
            for info in zf.infolist():
                if info.is_dir() or "__MACOSX" in info.filename:
                    continue
                yield info.filename, zf.read(info), dt.datetime(*info.date_time, tzinfo=dt.timezone.utc)
    if folder:
        base = Path(folder)
        for p in sorted(base.rglob("*")):
            if p.is_file() and not p.is_symlink():
                yield str(p.relative_to(base)), p.read_bytes(), dt.datetime.fromtimestamp(p.stat().st_mtime,
                                                                                        dt.timezone.utc)


def _parse_due(due: str) -> dt.datetime:
    try:
        d = dt.datetime.fromisoformat(due.replace("Z", "+00:00"))
    except ValueError:
        raise TermError(f"--due {due!r}: give an ISO date and time, e.g. 2026-11-20T23:59+00:00") from None
    if d.tzinfo is None:
        raise TermError(f"--due {due!r} has no time zone: add one, e.g. {due}+00:00 (UTC) or {due}+01:00.")
    return d


def collect(root: Path, assignment: str, zips=(), folder=None, due=None, verbose=False) -> dict:
    """Files of an LMS download -> submitted/<student>/<a>/<notebook>.ipynb with timestamp.txt.

    Every file is accounted for in the printed report and in downloaded/<a>/collect_report.csv: collected,
    newer file of several (the others named), not a notebook, unknown student, not a valid notebook."""
    import nbformat
    notebook_name = _source_notebook(root, assignment).name
    if not zips and not folder:
        raise TermError("collect needs --zip FILE (repeatable) or --folder DIR.")
    for z in zips:
        if not zipfile.is_zipfile(z):
            raise TermError(f"{z} is not a zip file.")
    if due:
        due_dt = _parse_due(due)
        proc = nbgrader(root, "db", "assignment", "add", assignment, f"--duedate={due_dt.isoformat()}",
                        verbose=verbose)
        if proc.returncode != 0:
            raise TermError(f"could not record the due date; log: {proc.log}")
        print(f"due date of {assignment}: {due_dt.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M} UTC")
    students = _students(root)
    by_uid = {s["lms_user_id"]: sid for sid, s in students.items() if s["lms_user_id"]}
    by_name = {}
    for sid, s in students.items():
        by_name.setdefault(_slug(s["last_name"] + s["first_name"]), []).append(sid)
        by_name.setdefault(_slug(s["first_name"] + s["last_name"]), []).append(sid)

    report, candidates = [], {}
    for path, data, mtime in _entries(zips, folder):
        info = parse_lms_name(path)
        parts = Path(path).parts
        if info is None and folder and len(parts) >= 2:      # a plain folder: <student id>/<file>
            info = {"lms": "folder", "name": parts[0], "uid": "", "sid": "", "late": False, "file": parts[-1],
                    "resubmission": 0}
        row = {"file": path, "student": "", "lms_user_id": info["uid"] if info else "", "status": "", "note": "",
               "student_file": Path(info["file"]).name if info else ""}
        report.append(row)
        if info is None:
            row["status"], row["note"] = "skipped", "name matches neither Canvas nor Moodle naming"
            continue
        if not info["file"].lower().endswith(".ipynb"):
            row["status"], row["note"] = "skipped", "not a notebook"
            continue
        sid = None
        if info["lms"] == "moodle":
            # Moodle numbers files by a participant id of the assignment, not the user id: the name comes first
            hits = by_name.get(_slug(info["name"]), [])
            sid = hits[0] if len(set(hits)) == 1 else None
        if sid is None and info["uid"]:
            sid = by_uid.get(info["uid"])
        if sid is None and info["lms"] == "folder":
            sid = info["name"] if (info["name"] in students or not students) else None
        if sid is None and not students and info["uid"]:
            sid = info["uid"]      # no roster: the LMS user id is the student id
        if sid is None:
            row["status"] = "unknown student"
            row["note"] = f"LMS user id {info['uid'] or '-'} / name {info['name']!r} is not in the roster"
            continue
        try:
            nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        except Exception as err:
            row["student"], row["status"] = sid, "not a valid notebook"
            row["note"] = f"{type(err).__name__}: {str(err)[:120]}"
            continue
        row["student"] = sid
        candidates.setdefault(sid, []).append((info, mtime, data, nb, row))

    several = {}
    staging = Path(tempfile.mkdtemp(prefix="collect-", dir=root / "downloaded" if (root / "downloaded").is_dir()
                                    else root))
    try:
        chosen = {}
        for sid, items in candidates.items():
            # the newest: highest resubmission suffix, then latest time, then the highest submission id
            items.sort(key=lambda t: (t[0]["resubmission"], t[1], int(t[0]["sid"] or 0)))
            info, mtime, data, nb, row = items[-1]
            for other in items[:-1]:
                other[4]["status"] = "older file"
                other[4]["note"] = f"{sid} sent {len(items)} notebooks; {Path(info['file']).name} was kept"
            if len(items) > 1:
                several[sid] = [Path(t[0]["file"]).name for t in items]
            row["status"] = "collected"
            if Path(info["file"]).name != notebook_name:
                row["note"] = f"renamed to {notebook_name}"
            folder_ = staging / sid / assignment
            folder_.mkdir(parents=True)
            (folder_ / notebook_name).write_bytes(data)
            (folder_ / "timestamp.txt").write_text(mtime.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
            chosen[sid] = (info, mtime, row)
        # all staged: now replace, one student at a time, and keep what changed
        changed, unchanged = [], []
        for sid in sorted(chosen):
            dest = root / "submitted" / sid / assignment
            new = staging / sid / assignment
            if dest.exists() and (dest / notebook_name).exists() and \
                    (dest / notebook_name).read_bytes() == (new / notebook_name).read_bytes():
                unchanged.append(sid)
                chosen[sid][2]["note"] = (chosen[sid][2]["note"] + "; unchanged since the last collect").lstrip("; ")
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.exists():
                old = dest.with_name(f".{assignment}.old")
                shutil.rmtree(old, ignore_errors=True)
                dest.rename(old)
                shutil.move(str(new), dest)
                shutil.rmtree(old)
                chosen[sid][2]["note"] = (chosen[sid][2]["note"] + "; replaces the earlier collected file").lstrip("; ")
            else:
                shutil.move(str(new), dest)
            changed.append(sid)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    # the LMS's view of each student, for export: user id, late marker, submission id, original file name
    meta_path = root / "downloaded" / assignment / "submissions.json"
    meta_path.parent.mkdir(parents=True, exist_ok=True)
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    for sid, (info, mtime, row) in chosen.items():
        meta[sid] = {"lms": info["lms"], "lms_user_id": info["uid"], "submission_id": info["sid"],
                     "late_marker": info["late"], "file": row["file"], "timestamp": mtime.isoformat()}
    meta_path.write_text(json.dumps(meta, indent=1, sort_keys=True))
    with open(root / "downloaded" / assignment / "collect_report.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["file", "student", "lms_user_id", "student_file", "status", "note"])
        w.writeheader()
        w.writerows(report)

    missing = sorted(set(students) - set(chosen) - set(meta))
    _print_collect(report, chosen, several, missing, changed, unchanged, bool(students), assignment)
    return {"collected": sorted(chosen), "changed": changed, "unchanged": unchanged, "several": several,
            "missing": missing, "report": report}


def _print_collect(report, chosen, several, missing, changed, unchanged, has_roster, assignment):
    n_late = sum(1 for info, _, _ in chosen.values() if info["late"])
    print(f"collected {len(chosen)} students ({len(changed)} new or changed, {len(unchanged)} unchanged); "
          f"{n_late} carry the LMS's LATE marker.")
    for label, status in (("older files (a newer one was kept)", "older file"),
                          ("NOT COLLECTED: unknown student", "unknown student"),
                          ("NOT COLLECTED: not a valid notebook", "not a valid notebook"),
                          ("skipped", "skipped")):
        rows = [r for r in report if r["status"] == status]
        if rows:
            print(f"{label} ({len(rows)}):")
            for r in rows:
                print(f"  {r['file']}  {r['student']}  {r['note']}")
    renamed = [r for r in report if r["status"] == "collected" and "renamed" in r["note"]]
    if renamed:
        print(f"renamed notebooks filed under their assignment's name ({len(renamed)}): "
              + ", ".join(f"{r['student']} ({r['student_file']})" for r in renamed))
    if several:
        print(f"students with several notebooks ({len(several)}): "
              + "; ".join(f"{s}: {', '.join(f)}" for s, f in sorted(several.items())))
    if has_roster:
        print(f"students with no submission ({len(missing)}): " + (", ".join(missing) or "none"))
    else:
        print("no roster imported: students who submitted nothing cannot be listed "
              "(python -m regcourse.term roster roster.csv).")
    print(f"every file is listed in downloaded/{assignment}/collect_report.csv")


# =============================================================================================== autograde

def _stale(root: Path, assignment: str) -> tuple[list, list]:
    """(students whose submission is new or changed since their autograde, up-to-date students)."""
    stale, fresh = [], []
    for folder in sorted((root / "submitted").glob(f"*/{assignment}")):
        sid = folder.parent.name
        graded = root / "autograded" / sid / assignment
        newest = max((p.stat().st_mtime for p in folder.iterdir()), default=0)
        done = [p.stat().st_mtime for p in graded.glob("*.ipynb")] if graded.exists() else []
        (fresh if done and min(done) >= newest else stale).append(sid)
    return stale, fresh


def autograde(root: Path, assignment: str, student=None, everyone=False, verbose=False) -> int:
    if not (root / "gradebook.db").exists() or not _assignment_known(root, assignment):
        raise TermError(f"the gradebook does not know {assignment!r} yet: run "
                        f"`python -m regcourse.term generate {assignment}` first.")
    stale, fresh = _stale(root, assignment)
    if student:
        if student not in stale + fresh:
            raise TermError(f"no submission of {student!r} for {assignment} in submitted/.")
        stale, fresh = [student], [s for s in stale + fresh if s != student]
    elif everyone:
        stale, fresh = stale + fresh, []
    if not stale:
        print(f"nothing to autograde: all {len(fresh)} submissions are graded and unchanged (--all regrades).")
        print_table(root, assignment)
        return 0
    print(f"autograding {len(stale)} submissions of {assignment} ({len(fresh)} unchanged ones kept)...")
    args = ["autograde", assignment, "--force"]
    if fresh:
        args.append("--CourseDirectory.student_id_exclude=" + ",".join(fresh))
    t0 = time.time()
    proc = nbgrader(root, *args, verbose=verbose)
    print(f"autograde: {len(stale)} submissions in {time.time() - t0:.0f} s")
    print_table(root, assignment)
    return proc.returncode


def _assignment_known(root: Path, assignment: str) -> bool:
    from nbgrader.api import Gradebook, MissingEntry
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        try:
            gb.find_assignment(assignment)
            return True
        except MissingEntry:
            return False


def _answer_texts(root: Path, assignment: str, sid: str) -> dict:
    nbs = list((root / "autograded" / sid / assignment).glob("*.ipynb"))
    if not nbs:
        return {}
    nb = json.loads(nbs[0].read_text())
    out = {}
    for c in nb["cells"]:
        m = c.get("metadata", {}).get("nbgrader", {})
        if m.get("grade") and m.get("solution") and c["cell_type"] == "markdown":
            out[m["grade_id"]] = "".join(c["source"]).strip()
    return out


def table(root: Path, assignment: str) -> list[dict]:
    """One row per student of the roster or with a submission: scores per graded cell, totals, late, to do."""
    from nbgrader.api import Gradebook, MissingEntry
    cells = graded_cells(root, assignment)
    meta_path = root / "downloaded" / assignment / "submissions.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    rows = []
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        a = gb.find_assignment(assignment)
        for st in sorted(gb.students, key=lambda s: (s.last_name or "", s.first_name or "", s.id)):
            row = {"student_id": st.id, "lms_user_id": st.lms_user_id or meta.get(st.id, {}).get("lms_user_id", ""),
                   "last_name": st.last_name or "", "first_name": st.first_name or "", "email": st.email or "",
                   "submitted": False, "timestamp": "", "seconds_late": 0.0,
                   "late": bool(meta.get(st.id, {}).get("late_marker")), "cells": {}, "todo": [],
                   "raw_score": 0.0, "penalty": 0.0, "score": 0.0, "max_score": float(a.max_score)}
            try:
                sub = gb.find_submission(assignment, st.id)
            except MissingEntry:
                rows.append(row)
                continue
            row["submitted"] = True
            row["timestamp"] = sub.timestamp.isoformat() if sub.timestamp else ""
            row["seconds_late"] = float(sub.total_seconds_late or 0)
            row["late"] = row["late"] or row["seconds_late"] > 0
            texts = _answer_texts(root, assignment, st.id)
            for nb in sub.notebooks:
                for g in nb.grades:
                    ungraded = g.auto_score is None and g.manual_score is None
                    row["cells"][g.name] = None if ungraded else g.score   # empty in the export, not 0
                    kind = next((c["kind"] for c in cells if c["id"] == g.name), "?")
                    if kind == "auto" and g.auto_score is None and g.manual_score is None:
                        row["failed"] = True       # nbgrader could not run it: its ERROR lines say why
                    elif g.needs_manual_grade:
                        why = {"task": "plot/task", "answer": "written answer"}.get(kind, "check")
                        if kind == "answer" and g.name in texts and not texts[g.name]:
                            why = "written answer (BLANK)"
                        elif kind == "answer" and "was missing from the submission" in texts.get(g.name, ""):
                            why = "written answer (DELETED by the student; put back empty)"
                        if g.manual_score is not None:   # nbgrader re-flags graded cells on a regrade
                            why += f", graded {g.manual_score:g} before the resubmission: check again"
                        row["todo"].append(f"{g.name} ({why})")
                row["penalty"] += float(nb.late_submission_penalty or 0)
            if row.pop("failed", False):
                row["todo"] = ["NOT AUTOGRADED: nbgrader failed on this submission (its ERROR lines say why)"]
            row["raw_score"] = float(sub.score)
            row["score"] = max(0.0, float(sub.score) - row["penalty"])
            rows.append(row)
    return rows


def print_table(root: Path, assignment: str) -> list[dict]:
    rows = table(root, assignment)
    cells = graded_cells(root, assignment)
    auto = [c for c in cells if c["kind"] == "auto"]
    auto_max = sum(c["points"] for c in auto)
    if not rows:
        print(f"{assignment}: no students in the gradebook (import the roster, or collect).")
        return rows
    print(f"\n{assignment}: auto = autograded tests (/{auto_max:g}); total (/{rows[0]['max_score']:g}) counts the "
          "parts graded by hand once they are graded")
    head = f"{'student':<8} {'name':<24} {'LMS id':>8} {'late':>4} {'auto':>5} {'total':>5}  by hand"
    print(head)
    print("-" * len(head))
    for r in rows:
        name = f"{r['last_name']}, {r['first_name']}".strip(", ")[:24]
        if not r["submitted"]:
            print(f"{r['student_id']:<8} {name:<24} {r['lms_user_id']:>8} {'':>4} {'-':>5} {'-':>5}  NO SUBMISSION")
            continue
        a = sum(r["cells"].get(c["id"]) or 0 for c in auto)
        todo = "done" if not r["todo"] else r["todo"][0] if r["todo"][0].startswith("NOT") else \
            f"{len(r['todo'])} to grade"
        print(f"{r['student_id']:<8} {name:<24} {r['lms_user_id']:>8} {'LATE' if r['late'] else '':>4} {a:>5g} "
              f"{r['score']:>5g}  {todo}")
    todo = [(r["student_id"], t) for r in rows for t in r["todo"]]
    print(f"\nneeds manual grading ({len(todo)} cells, {len({s for s, _ in todo})} students):")
    for sid in sorted({s for s, _ in todo}):
        print(f"  {sid}: " + ", ".join(t for s, t in todo if s == sid))
    return rows


# ================================================================================================ feedback

def feedback(root: Path, assignment: str, verbose=False) -> int:
    """Regenerate every student's feedback (nbgrader skips existing feedback without --force: stale)."""
    graded = sorted(p.parent.name for p in (root / "autograded").glob(f"*/{assignment}"))
    if not graded:
        raise TermError(f"no autograded submissions of {assignment}: run autograde first.")
    rows = {r["student_id"]: r for r in table(root, assignment)}
    pending = [s for s in graded if rows.get(s, {}).get("todo")]
    proc = nbgrader(root, "generate_feedback", assignment, "--force", verbose=verbose)
    made = sorted(p.parent.name for p in (root / "feedback").glob(f"*/{assignment}"))
    offline = sum(offline_mathjax(root, html) for html in (root / "feedback").glob(f"*/{assignment}/*.html"))
    print(f"feedback/<student>/{assignment}/ written for {len(made)} of {len(graded)} graded students"
          + (" (math typeset with the course's own MathJax when opened here, from a CDN elsewhere)." if offline
             else "."))
    if pending:
        print(f"  {len(pending)} of them still have cells to grade by hand (their feedback shows those as "
              f"ungraded): {', '.join(pending)}")
    return proc.returncode


_MATHJAX2 = re.compile(r'<script src="https://cdnjs\.cloudflare\.com/ajax/libs/mathjax/[^"]*">\s*</script>.*?'
                       r'<!-- End of mathjax configuration -->', re.S)
_MATHJAX3 = """<script>
window.MathJax = {tex: {inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]], displayMath: [["$$", "$$"], ["\\\\[", "\\\\]"]],
                        processEscapes: true, tags: "ams"}};
(function () {  // the course's own MathJax 3 (offline) first, the CDN when the file is opened elsewhere
  var urls = [%s, "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"];
  function load(i) {
    var s = document.createElement("script");
    s.src = urls[i]; s.async = true;
    if (i + 1 < urls.length) { s.onerror = function () { load(i + 1); }; }
    document.head.appendChild(s);
  }
  load(0);
})();
</script>"""


_SUMMARY = re.compile(r'(<li><a href="#([^"]+)">)(Test cell|Coding free-response|Written response|Task)(</a>)')


def offline_mathjax(root: Path, html: Path) -> bool:
    """Polish one feedback file: name each entry of its summary by the cell's grade id ("Test cell
    test_l2_penalty", not "Test cell"), and point its MathJax (nbconvert loads MathJax 2 from a CDN) at the
    MathJax 3 that scripts/setup.sh puts in book/_static/mathjax/, by a relative path, with the CDN as fallback.
    True if the math is now offline."""
    local = root / "book" / "_static" / "mathjax" / "tex-chtml.js"
    text = _SUMMARY.sub(lambda m: f"{m[1]}{m[3]} <code>{m[2]}</code>{m[4]}", html.read_text(encoding="utf-8"))
    if "regcourse-mathjax" in text:      # made with regcourse/templates/base/mathjax.html.j2 already
        html.write_text(text, encoding="utf-8")
        return local.exists()
    offline = local.exists() and bool(_MATHJAX2.search(text))
    if offline:
        rel = os.path.relpath(local, html.parent).replace(os.sep, "/")
        text = _MATHJAX2.sub(lambda _: _MATHJAX3 % json.dumps(rel), text, count=1)
    html.write_text(text, encoding="utf-8")
    return offline


# ================================================================================================== export

def export(root: Path, assignment: str, out=None) -> Path:
    """CSV for the LMS gradebook: one row per student of the roster, keyed by the LMS user id."""
    rows = table(root, assignment)
    cells = graded_cells(root, assignment)
    out = Path(out or root / f"grades_{assignment}.csv")
    fields = (["lms_user_id", "student_id", "last_name", "first_name", "email", "submitted", "timestamp", "late",
               "seconds_late"] + [f"{c['id']} (/{c['points']:g})" for c in cells]
              + ["raw_score", "late_penalty", "score", "max_score", "ungraded_cells"])
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fields)
        for r in rows:
            w.writerow([r["lms_user_id"], r["student_id"], r["last_name"], r["first_name"], r["email"],
                        "yes" if r["submitted"] else "no", r["timestamp"], "yes" if r["late"] else "no",
                        f"{r['seconds_late']:.0f}"]
                       + ["" if r["cells"].get(c["id"]) is None else f"{r['cells'][c['id']]:g}" for c in cells]
                       + [f"{r['raw_score']:g}", f"{r['penalty']:g}", f"{r['score']:g}", f"{r['max_score']:g}",
                          len(r["todo"])])
    todo = sum(1 for r in rows if r["todo"])
    print(f"wrote {out} ({len(rows)} students; {sum(r['submitted'] for r in rows)} submitted; "
          f"{todo} with cells still to grade by hand" + (": their score is not final)" if todo else ")"))
    return out


# ============================================================================================== formgrader

def formgrader(root: Path, port: int = 8888, ip: str = "127.0.0.1") -> None:
    args = [str(BIN / "jupyter"), "lab", "--no-browser", f"--port={port}", f"--ip={ip}",
            f"--ServerApp.root_dir={root}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    print(f"formgrader: open http://localhost:{port}/formgrader (the token is printed below).\n"
          f"From another computer: ssh -N -L {port}:localhost:{port} <you>@<this machine>, then that address.")
    os.execve(args[0], args, _env())


# ==================================================================================================== main

def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m regcourse.term", description=__doc__.split("\n\n")[0])
    p.add_argument("--course", help="the course root (default: the current folder)")
    p.add_argument("-v", "--verbose", action="store_true", help="show nbgrader's whole log")
    sub = p.add_subparsers(dest="stage", required=True)
    s = sub.add_parser("generate", help="make exercises/<a> from solutions/<a>")
    s.add_argument("assignment")
    s = sub.add_parser("roster", help="import the class list (CSV: id,first_name,last_name,email,lms_user_id)")
    s.add_argument("csv")
    s = sub.add_parser("collect", help="file an LMS download (zip) or a folder under submitted/")
    s.add_argument("assignment")
    s.add_argument("--zip", action="append", default=[], help="a Canvas or Moodle download (repeatable)")
    s.add_argument("--folder", help="a folder of LMS-named files, or of <student id>/<notebook>.ipynb")
    s.add_argument("--due", help="due date with time zone, e.g. 2026-11-20T23:59+00:00")
    s = sub.add_parser("autograde", help="grade new or changed submissions; print the score table")
    s.add_argument("assignment")
    s.add_argument("--student", help="only this student (regraded even if unchanged)")
    s.add_argument("--all", action="store_true", help="regrade every submission")
    for name in ("feedback", "status"):
        s = sub.add_parser(name)
        s.add_argument("assignment")
    s = sub.add_parser("export", help="CSV for the LMS gradebook")
    s.add_argument("assignment")
    s.add_argument("--out")
    s = sub.add_parser("formgrader", help="start Jupyter Lab with the formgrader, headless")
    s.add_argument("--port", type=int, default=8888)
    s.add_argument("--ip", default="127.0.0.1")
    a = p.parse_args(argv)
    try:
        root = course_root(a.course)
        os.chdir(root)
        if a.stage == "generate":
            generate(root, a.assignment, a.verbose)
        elif a.stage == "roster":
            roster(root, a.csv, a.verbose)
        elif a.stage == "collect":
            collect(root, a.assignment, a.zip, a.folder, a.due, a.verbose)
        elif a.stage == "autograde":
            return autograde(root, a.assignment, a.student, a.all, a.verbose)
        elif a.stage == "feedback":
            return feedback(root, a.assignment, a.verbose)
        elif a.stage == "status":
            print_table(root, a.assignment)
        elif a.stage == "export":
            export(root, a.assignment, a.out)
        elif a.stage == "formgrader":
            formgrader(root, a.port, a.ip)
    except TermError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
