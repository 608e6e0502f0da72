"""The formgrader as an instructor meets it: started with `python -m regcourse.term formgrader`, opened in
headless Chromium, one written answer and one plot graded by hand, the gradebook checked.

A temporary course gets one collected and autograded submission (about a minute). The test then checks
that the server log has no CRITICAL line and no exchange error, that the page shows no exchange banner, that
the math of the notebook is typeset by the course's own MathJax 3 (no request leaves the machine), and that
the scores typed into the formgrader reach the gradebook.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_browser import CHROMIUM_ARGS, find_chromium
from test_term import DUE, ON_TIME, A, canvas_files, make_course, run_term, write_roster, write_zip

pytestmark = [pytest.mark.browser, pytest.mark.grading, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_formgrader_grades_answer_and_plot(tmp_path):
    mathjax = ROOT / "book" / "_static" / "mathjax"
    if not (mathjax / "tex-chtml.js").exists():
        pytest.fail("book/_static/mathjax/ is missing: run `bash scripts/setup.sh` (it fetches mathjax@3 from npm).")
    course = make_course(tmp_path)
    shutil.copytree(mathjax, course / "book" / "_static" / "mathjax")
    run_term(course, "generate", A)
    write_roster(tmp_path / "roster.csv")
    run_term(course, "roster", str(tmp_path / "roster.csv"))
    files = [f for f in canvas_files(course) if f[0] == f"lovelaceada_1001_101_{A}.ipynb"]
    assert len(files) == 1 and files[0][2] == ON_TIME
    write_zip(tmp_path / "one.zip", files)
    run_term(course, "collect", A, "--zip", str(tmp_path / "one.zip"), "--due", DUE)
    run_term(course, "autograde", A)

    from nbgrader.api import Gradebook
    db = f"sqlite:///{course / 'gradebook.db'}"
    with Gradebook(db) as gb:
        submission_id = gb.find_submission_notebook(A, A, "s01").id

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "JUPYTER_CONFIG_DIR"}
    env["PATH"] = ""        # the command must not need the venv on PATH
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    log = open(tmp_path / "server.log", "w+")
    server = subprocess.Popen([sys.executable, "-m", "regcourse.term", "formgrader", "--port", str(port)],
                              cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        token = None
        for _ in range(240):
            text = (tmp_path / "server.log").read_text()
            m = re.search(r"token=([0-9a-f]+)", text)
            if m:
                token = m.group(1)
                break
            assert server.poll() is None, f"the formgrader stopped:\n{text[-3000:]}"
            time.sleep(0.5)
        assert token, "the formgrader printed no address with a token within 120 s"

        from playwright.sync_api import sync_playwright
        outside = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=find_chromium(), headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.set_default_timeout(60_000)
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(
                (f"http://127.0.0.1:{port}", f"http://localhost:{port}", "data:", "blob:")) else None)
            page.goto(f"http://127.0.0.1:{port}/formgrader?token={token}")
            page.wait_for_load_state("networkidle")
            assert "exchange" not in page.inner_text("body").lower(), page.inner_text("body")[:2000]

            page.goto(f"http://127.0.0.1:{port}/formgrader/submissions/{submission_id}/")
            page.wait_for_selector("input#map_reading")
            # math typeset by MathJax 3 from the course's copy
            page.wait_for_selector("mjx-container", state="attached")
            assert page.locator("mjx-container").count() > 5
            for grade_id, points in (("map_reading", "2"), ("plot_lambda_sweep", "1")):
                box = page.locator(f"input#{grade_id}")
                box.fill(points)
                box.press("Tab")            # the formgrader saves a score when the field loses focus
            deadline = time.time() + 60
            while time.time() < deadline:
                with Gradebook(db) as gb:
                    got = {g: gb.find_grade(g, A, A, "s01").manual_score for g in ("map_reading", "plot_lambda_sweep")}
                if got == {"map_reading": 2, "plot_lambda_sweep": 1}:
                    break
                time.sleep(0.5)
            assert got == {"map_reading": 2, "plot_lambda_sweep": 1}, got
            browser.close()
        assert not outside, f"requests left the machine (math must be offline): {outside[:5]}"
        with Gradebook(db) as gb:
            sub = gb.find_submission(A, "s01")
            assert sub.score == 13 + 2 + 1, sub.score   # the autograded tests (13) and the two hand grades
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    text = (tmp_path / "server.log").read_text()
    # Jupyter logs its own address banner ("[C ... ServerApp]" then the URLs) and the stop we asked for
    # ("received signal 15") at CRITICAL level: neither is an error
    bad = [line for line in text.splitlines() if re.search(r"CRITICAL|\[C \d|exchange.*(not exist|missing)", line)
           and not re.search(r"\[C [\d\- :.]+ServerApp\]\s*(received signal 15, stopping)?$", line)]
    assert not bad, bad
