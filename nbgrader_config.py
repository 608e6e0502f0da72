"""nbgrader course configuration. Run every nbgrader command from the repository root (the CLI reads this
file from the current directory only); book/instructor_guide.md lists the commands.

source  = solutions/<assignment>/<notebook>.ipynb   instructor versions with solutions and hidden tests
release = exercises/<assignment>/<notebook>.ipynb   student versions, made only by `nbgrader generate_assignment`
submitted/, autograded/, feedback/ and gradebook.db are the course's live state: they stay out of git.
"""
import importlib.util
import os
import sys

c = get_config()  # noqa: F821  (nbgrader provides get_config)

_ROOT = os.path.dirname(os.path.abspath(__file__))

# nbgrader starts `alembic` (gradebook migrations) and kernels from PATH: put this environment's bin first, so
# that `.venv/bin/nbgrader ...` works without `export PATH=...` (without it, generate_assignment --force deleted
# exercises/<a>/ and then failed on alembic).
_BIN = os.path.dirname(sys.executable)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = os.pathsep.join(p for p in (_BIN, os.environ.get("PATH", ""), os.defpath) if p)

c.CourseDirectory.root = _ROOT
c.CourseDirectory.course_id = "regcourse"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(_ROOT, "gradebook.db")
# The student versions are what nbgrader makes of the sources; never copy editor/cache litter along.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]

# Execution: every cell of a submission runs in a fresh kernel. The solutions take well under a minute on a
# CPU; 120 s per cell leaves room for a slow student while an infinite loop is still cut off, after which the
# rest of the notebook runs and is graded (interrupt_on_timeout).
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True

# nbgrader gives 0 to a test cell that writes anything to stderr. Warnings and progress bars are not errors:
# drop those stderr outputs before grading so they never zero a correct answer.
c.IgnorePattern.pattern = r"(?i)warning|warn\(|\d+%\||it/s\]"
c.IgnorePattern.enabled = True   # off by default in nbgrader 0.9

# A student who deletes or breaks a test cell gets it back, exactly as in the source, and it is graded.
c.OverwriteCells.add_missing_cells = True

# generate_assignment: students must not lose the tests by accident; solution regions become this stub.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.GenerateAssignment.create_assignment = True
# Written answers are manually graded answer cells (blank or deleted answers score 0 with "No response"; a changed
# resubmission is flagged for grading again); the question above each one is a locked cell that holds the mark
# scheme, which nbgrader removes from the student version and restores in the graded copy for the formgrader.
c.ClearMarkScheme.enforce_metadata = False

# Untrusted code: every submission runs in a bubblewrap sandbox, a test cell scores only with evidence that its
# checks ran and passed, suspicious submissions are flagged for review, the feedback holds no hidden tests or
# mark schemes, the gradebook is backed up before each autograde, and symlinked/oversized notebooks are refused.
# regcourse/sandbox.py is loaded by path so that nbgrader does not import torch; book/instructor_guide.md.
_spec = importlib.util.find_spec("regcourse")
if _spec is None or not _spec.submodule_search_locations:
    raise RuntimeError("regcourse is not installed in this environment: run `bash scripts/setup.sh`.")
_sandbox_spec = importlib.util.spec_from_file_location(
    "regcourse_sandbox", os.path.join(list(_spec.submodule_search_locations)[0], "sandbox.py"))
_sandbox = importlib.util.module_from_spec(_sandbox_spec)
_sandbox_spec.loader.exec_module(_sandbox)
_sandbox.install(c)
# Math in the formgrader and the feedback: MathJax 3 from book/_static/mathjax/ (offline), not MathJax 2 from a CDN.
# regcourse/templates/base/mathjax.html.j2 replaces nbconvert's macro; nbgrader's own templates come first.
import nbgrader  # noqa: E402

c.HTMLExporter.extra_template_basedirs = [
    os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader", "templates"),
    os.path.join(list(_spec.submodule_search_locations)[0], "templates")]
# Limits of one submission (the solutions run in about a minute; see the instructor guide).
c.SandboxedExecute.wall_timeout = 900      # seconds for the whole notebook, kernel start included
c.SandboxedExecute.memory_mb = 4096

# Autograde creates students on the fly (an LMS download or zip_collect brings their ids).
c.Autograde.create_student = True

# Late submissions: `python -m regcourse.term collect <a> --due <date>` records the due date and each submission's
# time; nbgrader's late-penalty plugin then computes the penalty. "none" keeps the score and reports lateness
# (the export flags it); "zero" gives a late submission 0.
c.LateSubmissionPlugin.penalty_method = "none"

# An LMS-only course: feedback goes back through the LMS, but nbgrader's formgrader and release_feedback expect an
# exchange folder. Give them one inside the course (downloaded/ stays out of git), so no banner, no CRITICAL lines.
c.Exchange.root = os.path.join(_ROOT, "downloaded", "exchange")
os.makedirs(c.Exchange.root, exist_ok=True)

# Collecting an LMS download: `python -m regcourse.term collect <a> --zip <download.zip>` (regcourse/term.py) reads
# Canvas and Moodle names, user ids, late markers and resubmissions. For nbgrader's own zip_collect, an LMS
# download (Canvas style) names each file
#   <student id>_<user number>_<submission number>_<notebook>.ipynb, e.g. doejane_1234_5678_weight_decay.ipynb
# put the zip(s) in downloaded/<assignment>/archive/ and run `nbgrader zip_collect <assignment>`.
c.FileNameCollectorPlugin.named_regexp = (
    r".*/(?P<student_id>[A-Za-z0-9]+)_[0-9]+_[0-9]+_(?P<file_id>[A-Za-z0-9_]+\.ipynb)$")
