"""The built book says what its notebooks computed, and nothing failed on the way.

The checks read the built site (``_build/html``, or ``BOOK_HTML``) and jupyter-cache's records
(``_build/.jupyter_cache``, or ``BOOK_JUPYTER_CACHE``). A page fails on

* a cell that raised: an error output in the HTML, an execution report in ``_build/html/reports/``, a failed
  execution recorded by jupyter-cache, or a chapter with no successful execution of its current code in the
  cache (the page then shows stale or missing outputs: Sphinx does not re-read an unchanged source, so a
  second build after a failure prints "build succeeded");
* a traceback anywhere in the page (an error printed by hand too);
* an empty glue: a ``{glue:text}`` role that rendered as nothing, or fewer rendered glue values than roles in
  the page's source (myst-nb drops a role whose key no notebook cell glued);
* pipe-table text in a paragraph (``| --- |``): a Markdown table that was not parsed as a table;
* a raw ``{glue`` role left in the text.

A cell tagged ``raises-exception`` may show its error: that is the lesson. Each checker is a function of the
parsed HTML, tested first on crafted snippets that must fail, then run over every page of the real site.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup, Tag

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html")).resolve()
JUPYTER_CACHE = Path(os.environ.get("BOOK_JUPYTER_CACHE", SITE.parent / ".jupyter_cache")).resolve()

ALLOWED_ERROR_TAG = "tag_raises-exception"  # myst-nb gives each cell container a class per tag
CODE = "pre, code, .highlight, script, style, textarea"
PIPE_TABLE_RULE = re.compile(r"\|\s*:?-{3,}:?\s*(\||$)", re.M)
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^-{20,}\s*\n\s*\w+(Error|Exception)\b", re.M)
GLUE_TEXT_ROLE = re.compile(r"(?<!`)\{glue:text\}`[^`]+`")


def parse(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def _main(soup: BeautifulSoup) -> Tag:
    return soup.find("main") or soup.body or soup


def _allowed_to_fail(el: Tag) -> bool:
    cell = el.find_parent(class_="cell")
    return cell is not None and ALLOWED_ERROR_TAG in (cell.get("class") or [])


def _snippet(text: str, n: int = 120) -> str:
    return " ".join(text.split())[:n]


def _reader_text(root: Tag, keep_code: bool = False) -> list[tuple[Tag, str]]:
    """(element, text) of each paragraph-like block a reader sees, code blocks left out unless asked."""
    out = []
    for el in root.find_all(["p", "li", "td", "th", "dd", "dt", "h1", "h2", "h3", "h4", "h5", "h6", "caption"]):
        if el.find_parent(["p", "li", "td", "th", "dd", "dt"]):  # counted with its enclosing block
            continue
        clone = parse(str(el))
        if not keep_code:
            for code in clone.select(CODE):
                code.decompose()
        out.append((el, clone.get_text(" ")))
    return out


# ---------------------------------------------------------------------------------------------- checkers


def error_outputs(soup: BeautifulSoup) -> list[str]:
    """Error outputs myst-nb rendered (a cell that raised while the notebook ran)."""
    return [f"cell raised: {_snippet(el.get_text(), 300)}"
            for el in _main(soup).select(".output.traceback, .output.error")
            if not _allowed_to_fail(el)]


def tracebacks(soup: BeautifulSoup) -> list[str]:
    """Python tracebacks anywhere in the page: error outputs, and ones printed to stdout or pasted in prose."""
    found = []
    for el in _main(soup).find_all(["pre", "p", "li", "div"]):
        if el.name == "div" and el.find(["pre", "p", "li", "div"]):
            continue  # look at the innermost blocks only, each once
        m = TRACEBACK.search(el.get_text())
        if m and not _allowed_to_fail(el):
            text = el.get_text()
            found.append(f"traceback: {_snippet(text[m.start():], 300)}")
    return found


def empty_glues(soup: BeautifulSoup, glue_text_roles: int | None = None) -> list[str]:
    """Glued values that rendered empty; with the number of {glue:text} roles in the page's source, also
    roles that rendered as nothing at all (a key no cell glued)."""
    problems = []
    spans = _main(soup).select(".pasted-text")
    for span in spans:
        if not span.get_text().strip():
            block = span.find_parent(["p", "li", "td", "th"]) or span.parent
            problems.append(f"empty glue in: {_snippet(block.get_text(), 200)!r}")
    if glue_text_roles is not None and len(spans) < glue_text_roles:
        problems.append(f"{glue_text_roles - len(spans)} of the page's {glue_text_roles} {{glue:text}} roles "
                        "rendered nothing (a key that no executed cell glued)")
    return problems


def pipe_tables_in_paragraphs(soup: BeautifulSoup) -> list[str]:
    """A Markdown table shown as text: its | --- | rule row inside a paragraph."""
    return [f"pipe table rendered as text: {_snippet(el.get_text(), 200)!r}"
            for el in _main(soup).find_all("p") if PIPE_TABLE_RULE.search(el.get_text())]


def raw_glue_roles(soup: BeautifulSoup) -> list[str]:
    """A {glue...} role that reached the reader as text (outside code, where showing the syntax is fine)."""
    return [f"raw glue role: {_snippet(text, 200)!r}"
            for _, text in _reader_text(_main(soup)) if "{glue" in text]


def glue_text_roles_in_source(source: Path) -> int:
    """How many {glue:text} roles the page's source (notebook markdown cells or a .md page) holds."""
    text = source.read_text(encoding="utf8")
    if source.suffix == ".ipynb":
        nb = json.loads(text)
        text = "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                         for c in nb["cells"] if c["cell_type"] == "markdown")
    text = re.sub(r"^(```|~~~).*?^\1", "", text, flags=re.S | re.M)  # fenced code shows syntax, not roles
    return len(GLUE_TEXT_ROLE.findall(text))


def page_problems(html: str, glue_text_roles: int | None = None) -> list[str]:
    soup = parse(html)
    return (error_outputs(soup) + tracebacks(soup) + empty_glues(soup, glue_text_roles)
            + pipe_tables_in_paragraphs(soup) + raw_glue_roles(soup))


def report_problems(site: Path) -> list[str]:
    """myst-nb writes reports/<page>.err.log for each notebook that failed to execute in this build."""
    reports = site / "reports"
    return [f"execution failed ({p.relative_to(reports)}): ...{_snippet(p.read_text(errors='replace')[-400:], 400)}"
            for p in sorted(reports.rglob("*.log"))] if reports.is_dir() else []


def cache_problems(cache_dir: Path, notebooks: list[Path]) -> list[str]:
    """Each executed notebook has a successful jupyter-cache record of its current code; no failure is
    recorded. (myst-nb caches only successful runs, keyed by a hash of the code cells.)"""
    import nbformat
    from jupyter_cache import get_cache

    if not cache_dir.is_dir():
        return [f"no execution cache at {cache_dir}: build the book first"]
    cache = get_cache(cache_dir)
    problems = []
    for record in cache.list_project_records():
        if record.traceback:
            problems.append(f"execution failed ({Path(record.uri).name}): "
                            f"...{_snippet(record.traceback[-400:], 400)}")
    for nb_path in notebooks:
        try:
            cache.match_cache_notebook(nbformat.read(nb_path, as_version=4))
        except KeyError:
            problems.append(f"{nb_path.relative_to(ROOT) if nb_path.is_relative_to(ROOT) else nb_path}: no "
                            "successful execution of its current code (it failed, or changed since the build)")
    return problems


def executed_notebooks() -> list[Path]:
    """The notebooks of the table of contents that the build executes (student versions are not run)."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    excluded = (config.get("execute") or {}).get("exclude_patterns") or []
    files, stack = [], [toc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "file" in node or "root" in node:
                files.append(node.get("file") or node.get("root"))
            stack.extend(v for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend(node)
    nbs = [ROOT / f"{f}.ipynb" for f in files if (ROOT / f"{f}.ipynb").is_file()]
    return sorted(p for p in nbs if not any(p.relative_to(ROOT).match(pat) for pat in excluded))


# ------------------------------------------------------------------------------- the checkers can fail

GOOD_PAGE = """<html><body><main>
<p>The test accuracy is <span class="pasted-text">0.842</span> after <span class="pasted-text">10</span> epochs.</p>
<table><tr><th>lr</th><th>acc</th></tr><tr><td>0.1</td><td>0.84</td></tr></table>
<p>Write <code>{glue:text}`acc:.3f`</code> to quote a number; a vertical bar | alone is fine.</p>
<div class="highlight"><pre>| lr | acc |\n| --- | ---: |</pre></div>
<div class="cell tag_raises-exception docutils container"><div class="cell_output docutils container">
<div class="output traceback highlight-ipythontb notranslate"><div class="highlight"><pre>
ValueError                                Traceback (most recent call last)
ValueError: p must be in [0, 1), got 1.5</pre></div></div></div></div>
</main></body></html>"""

FAILED_CELL = """<main><div class="cell docutils container"><div class="cell_output docutils container">
<div class="output traceback highlight-ipythontb notranslate"><div class="highlight"><pre>
---------------------------------------------------------------------------
AssertionError                            Traceback (most recent call last)
Cell In[7], line 3
AssertionError: </pre></div></div></div></div></main>"""

PRINTED_TRACEBACK = """<main><div class="cell_output docutils container"><div class="output stream highlight-myst-ansi">
<div class="highlight"><pre>Traceback (most recent call last):
  File "x.py", line 1, in &lt;module&gt;
ZeroDivisionError: division by zero</pre></div></div></div></main>"""

EMPTY_GLUE = """<main><p>The training loss goes from <span class="pasted-text"></span> after the first epoch
to <span class="pasted-text"> </span> after the last.</p></main>"""

PIPE_TABLE_AS_TEXT = """<main><p>| lr | λ | dropout | test acc |
| ---: | ---: | --- | ---: |
| 0.5 | 0.01 | yes | 0.768 |</p>
<p>|lr|acc|<br/>|---:|---:|<br/>|0.1|0.84|</p></main>"""

RAW_GLUE = """<main><p>Our network reaches a test accuracy of {glue:text}`scratch_test_acc:.3f`.</p></main>"""


def test_a_good_page_passes():
    assert page_problems(GOOD_PAGE, glue_text_roles=2) == []


def test_a_cell_that_raised_fails():
    soup = parse(FAILED_CELL)
    assert len(error_outputs(soup)) == 1 and "AssertionError" in error_outputs(soup)[0]
    assert tracebacks(soup)


def test_the_same_error_in_a_raises_exception_cell_passes():
    tagged = FAILED_CELL.replace('class="cell docutils', 'class="cell tag_raises-exception docutils')
    assert page_problems(tagged) == []


def test_a_printed_traceback_fails():
    soup = parse(PRINTED_TRACEBACK)
    assert error_outputs(soup) == []  # not an error output: only the traceback check sees it
    assert len(tracebacks(soup)) == 1 and "ZeroDivisionError" in tracebacks(soup)[0]


def test_an_empty_glue_fails():
    problems = empty_glues(parse(EMPTY_GLUE))
    assert len(problems) == 2 and "training loss goes from" in problems[0]


def test_a_glue_role_that_rendered_nothing_fails():
    # The page's source had three roles; one key was never glued, so myst-nb dropped it.
    problems = empty_glues(parse(GOOD_PAGE), glue_text_roles=3)
    assert len(problems) == 1 and "1 of the page's 3" in problems[0]


def test_pipe_table_text_in_a_paragraph_fails():
    problems = pipe_tables_in_paragraphs(parse(PIPE_TABLE_AS_TEXT))
    assert len(problems) == 2 and "| lr | λ |" in problems[0]


def test_a_raw_glue_role_fails():
    problems = raw_glue_roles(parse(RAW_GLUE))
    assert len(problems) == 1 and "scratch_test_acc" in problems[0]


def test_glue_roles_are_counted_in_markdown_cells_not_code(tmp_path):
    nb = {"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["Loss {glue:text}`a:.3f` and {glue:text}`b`.\n",
                                                               "```\n{glue:text}`shown_as_syntax`\n```\n"]},
        {"cell_type": "code", "metadata": {}, "source": "glue('a', 1.0)  # {glue:text}`not_prose`",
         "outputs": [], "execution_count": None},
        {"cell_type": "markdown", "metadata": {}, "source": "Quoted: ``{glue:text}`syntax` `` and {glue:md}`c`."},
    ], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "x.ipynb"
    path.write_text(json.dumps(nb))
    assert glue_text_roles_in_source(path) == 2


def test_reports_and_cache_failures_are_found(tmp_path):
    """A failed execution leaves reports/<page>.err.log; a notebook never run has no cache record."""
    import nbformat
    from jupyter_cache import get_cache

    site = tmp_path / "html"
    (site / "reports" / "book").mkdir(parents=True)
    assert report_problems(site) == []
    (site / "reports" / "book" / "ch.err.log").write_text("Traceback ...\nAssertionError: grad mismatch\n")
    assert len(report_problems(site)) == 1 and "grad mismatch" in report_problems(site)[0]

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "ch.ipynb"
    nbformat.write(nb, path)
    cache = get_cache(tmp_path / "cache")
    cache.list_cache_records()  # creates the (empty) cache
    assert cache_problems(tmp_path / "empty", [path]) == [f"no execution cache at {tmp_path / 'empty'}: "
                                                          "build the book first"]
    problems = cache_problems(tmp_path / "cache", [path])
    assert len(problems) == 1 and "no successful execution" in problems[0]  # never executed
    record = cache.add_nb_to_project(str(path))
    from jupyter_cache.cache.db import NbProjectRecord
    NbProjectRecord.set_traceback(record.uri, "Traceback ...\nAssertionError: boom", cache.db)
    problems = cache_problems(tmp_path / "cache", [path])
    assert len(problems) == 2 and "boom" in problems[0]


# ----------------------------------------------------------------------------------------- the real site


def site_pages(site: Path) -> list[str]:
    if not (site / "index.html").is_file():
        return []
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                  if not any(part.startswith("_") for part in p.relative_to(site).parts))


PAGES = site_pages(SITE)


def _need_site():
    if not PAGES:
        pytest.fail(f"No built book at {SITE}: build it first with `bash scripts/build_book.sh` "
                    "(scripts/run_tests.sh does this before pytest).")


@pytest.mark.slow
@pytest.mark.built_book
@pytest.mark.parametrize("page", PAGES or ["index.html"])
def test_built_page(page):
    _need_site()
    source = next((p for p in (SITE / "_sources" / Path(page).with_suffix(ext) for ext in (".ipynb", ".md"))
                   if p.is_file()), None)
    roles = glue_text_roles_in_source(source) if source else None
    problems = page_problems((SITE / page).read_text(encoding="utf8"), roles)
    assert not problems, f"{page}:\n  " + "\n  ".join(problems)


@pytest.mark.slow
@pytest.mark.built_book
def test_every_chapter_executed_without_error():
    _need_site()
    notebooks = executed_notebooks()
    assert notebooks, "no executed notebooks found through _toc.yml"
    problems = report_problems(SITE) + cache_problems(JUPYTER_CACHE, notebooks)
    assert not problems, "\n  ".join(["the built book's executions:"] + problems)
