"""The learner editions (notebooks/): in sync with the book, no raw MyST in what a reader sees, runnable alone.

notebooks/<part>/<chapter>.ipynb is made from book/<part>/<chapter>.ipynb by scripts/make_learner_notebooks.py
(see its docstring for the conversion). What is checked here:

* **In sync**: regenerating from book/, _toc.yml, _config.yml and references.bib gives exactly the files in
  notebooks/ (no missing, changed or stale file).
* **No raw roles in what a reader sees before running**: no Markdown cell of a learner edition contains a MyST
  role (``{name}`...```, e.g. ``{glue:text}``, ``{doc}``, ``{cite}``) or a directive fence (```` ```{name} ````,
  ``:::{name}``). The prose strings of the hidden ``show_markdown(...)`` cells contain glue roles only, and
  exactly the glue roles of the chapter (none lost, none added).
* **No raw roles in what a reader sees after running**, for the chapters run for real (RUN_LIKE_COLAB, those
  that train for seconds): executing the learner edition top to bottom, no output (stream text, and the
  text/plain, text/markdown and text/html of every display or result) contains ``{glue``, ``{doc}`` or
  ``{cite``, nor the gap show_markdown leaves for a value that was never glued (``[not computed: name]``, and
  its note on stderr); every ``show_markdown`` cell displays exactly one Markdown output.
* **Runnable with the documented install only**, for the same chapters: the execution runs in a fresh kernel
  that cannot import myst-nb (a stub module raises ModuleNotFoundError, as on Colab) nor regcourse (Python's site
  processing is off, so the venv's editable install of the course is invisible) until the notebook's own install
  cell runs pip. REGCOURSE_PIP_ARGS points that pip at a copy of this checkout (pyproject.toml and regcourse/
  only) instead of the repository URL, with ``--no-deps --target <empty folder on the kernel's path>``: torch
  and the rest come from the venv, as they come preinstalled on Colab. The install cells of all editions are the
  same code (checked), so these runs test every edition's install.
* **Every chapter's numbers in its learner edition**, without running the chapter a second time: a learner
  edition is the chapter's code cells (less ``from myst_nb import glue``; same ids, kept so by the sync test),
  an install cell, and prose cells. The test command's nbval run executes those code cells in a kernel that
  sees the package as pip installs it, the environment after the install cell (conftest.py,
  tests/test_course_kernel.py); the build stores that run. From its glue outputs, in cell order, each prose
  cell is shown as show_markdown would show it: a value glued only below the paragraph or never is an error
  naming it, and the text must hold no role. (Checked with the built book: ``built_book``.)

Execution of one short chapter (dropout/02) is in the default selection; the other runs are ``slow``.
"""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from IPython.display import Markdown

from regcourse.notebook import GLUE_ROLE, GlueError, format_plain_text, substitute

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import course_kernel  # noqa: E402
import execute_chapters  # noqa: E402
import learner_launch  # noqa: E402
import make_learner_notebooks as gen  # noqa: E402

ANY_ROLE = re.compile(r"\{[a-z][a-z0-9:_-]*\}`")
DIRECTIVE_FENCE = re.compile(r"^\s*(`{3,}|:{3,})\s*\{", re.M)
RAW_IN_OUTPUT = ("{glue", "{doc}", "{cite", "[not computed:", "never glued")
SHOW = re.compile(r"^show_markdown\(", re.M)
# Run for real in a Colab-like kernel: the chapters that train for seconds (unloaded, install ~4 s included:
# dropout/02 ~10 s, the others under 20 s). Every chapter's prose is checked against nbval's run of its code.
RUN_LIKE_COLAB = ("book/weight_decay/01_theory", "book/weight_decay/02_from_scratch", "book/weight_decay/03_concise",
                  "book/dropout/01_theory", "book/dropout/02_train_vs_eval")
FAST_CHAPTERS = ("book/dropout/02_train_vs_eval",)  # of those, in the default selection


def learner_editions() -> list[Path]:
    return [ROOT / gen.learner_path(doc) for doc in gen.chapters(ROOT)]


def prose_of(cell) -> str | None:
    """The Markdown text a show_markdown cell displays (its string argument), else None."""
    if cell.cell_type != "code" or not SHOW.search(cell.source):
        return None
    call = cell.source[SHOW.search(cell.source).start():]
    literal = call[len("show_markdown("):call.rindex(")")]
    import ast
    return ast.literal_eval(literal)


def raw_myst(nb) -> list[str]:
    """What a reader would see raw: roles or directive fences in Markdown cells, non-glue roles in prose cells."""
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for m in ANY_ROLE.finditer(cell.source):
                problems.append(f"cell {i} (markdown): {cell.source[m.start():m.start() + 40]!r}")
            for m in DIRECTIVE_FENCE.finditer(cell.source):
                problems.append(f"cell {i} (markdown): directive {cell.source[m.start():m.start() + 40]!r}")
        prose = prose_of(cell)
        if prose is not None:
            for m in ANY_ROLE.finditer(prose):
                if not m.group(0).startswith("{glue"):
                    problems.append(f"cell {i} (prose): {prose[m.start():m.start() + 40]!r}")
    return problems


# ---------------------------------------------------------------- in sync, nothing raw


def test_learner_editions_are_in_sync_with_the_book(tmp_path, capsys):
    """Regenerate into a temporary folder and compare file by file (and `--check` agrees)."""
    assert gen.main(["--out", str(tmp_path)]) == 0
    made = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / gen.OUT_DIR).rglob("*") if p.is_file())
    stored = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / gen.OUT_DIR).rglob("*")
                    if p.is_file() and ".ipynb_checkpoints" not in p.parts)
    assert made == stored, "notebooks/ has missing or stale files: run python scripts/make_learner_notebooks.py"
    changed = [p for p in made if (tmp_path / p).read_text() != (ROOT / p).read_text()]
    assert not changed, f"out of date (run python scripts/make_learner_notebooks.py): {changed}"
    assert gen.main(["--check"]) == 0
    assert len(learner_editions()) == len(gen.chapters(ROOT)) >= 11


def test_no_raw_roles_or_directives_in_the_learner_editions():
    for path in learner_editions():
        nb = nbformat.read(path, as_version=4)
        assert raw_myst(nb) == [], f"{path.relative_to(ROOT)}"


def test_every_glue_role_of_the_chapter_is_in_a_prose_cell():
    """None lost, none added: the glue roles of the book's Markdown, in order, are those of the prose cells."""
    for doc in gen.chapters(ROOT):
        book = nbformat.read(ROOT / f"{doc}.ipynb", as_version=4)
        learner = nbformat.read(ROOT / gen.learner_path(doc), as_version=4)
        expected = [m.group(0) for c in book.cells if c.cell_type == "markdown"
                    for m in re.finditer(r"\{glue[^}]*\}`[^`]*`", c.source)]
        found = [m.group(0) for c in learner.cells if prose_of(c) is not None
                 for m in re.finditer(r"\{glue[^}]*\}`[^`]*`", prose_of(c))]
        assert found == expected, doc


def test_the_check_finds_a_role_left_raw():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("Accuracy {glue:text}`acc:.3f`, see {doc}`faq`."),
        nbformat.v4.new_markdown_cell(":::{note}\nHi\n:::"),
        nbformat.v4.new_code_cell('show_markdown(r"""\nAs {cite:t}`x` showed, {glue:text}`acc:.3f`.\n""")'),
    ])
    problems = raw_myst(nb)
    # Both roles of the Markdown cell, the directive, and the cite (but not the glue role) of the prose cell.
    assert [p[:24] for p in problems] == ["cell 0 (markdown): '{glu", "cell 0 (markdown): '{doc",
                                         "cell 1 (markdown): direc", "cell 2 (prose): '{cite:t"], problems


def test_hidden_cells_are_hidden_in_jupyterlab_and_colab():
    for path in learner_editions():
        nb = nbformat.read(path, as_version=4)
        assert nb.cells[0].id == "learner-setup" and "pip" in nb.cells[0].source
        for cell in nb.cells:
            hidden = prose_of(cell) is not None or set(cell.metadata.get("tags", ())) & set(gen.HIDDEN_TAGS)
            if cell.cell_type == "code" and hidden:
                assert cell.metadata["jupyter"]["source_hidden"] is True, (path.name, cell.id)
                assert cell.metadata["cellView"] == "form" and cell.source.startswith("#@title "), (path.name, cell.id)
            if cell.cell_type == "code":
                assert "myst_nb" not in cell.source, (path.name, cell.id)
                assert not cell.outputs and cell.execution_count is None, (path.name, cell.id)


def test_the_install_cell_reads_the_one_repository_url(tmp_path):
    """The URL in every install cell is _config.yml's; changing it there and regenerating changes them all."""
    url, branch = gen.repository(ROOT)
    for path in learner_editions():
        assert f'"git+{url}@{branch}"' in nbformat.read(path, as_version=4).cells[0].source, path.name
    copy = tmp_path / "course"
    copy.mkdir()
    for name in ("_toc.yml", "references.bib"):
        shutil.copy(ROOT / name, copy / name)
    shutil.copytree(ROOT / "book", copy / "book", ignore=shutil.ignore_patterns("_static", "locales", "_build"))
    config = (ROOT / "_config.yml").read_text().replace(url, "https://github.com/someone/elsewhere")
    (copy / "_config.yml").write_text(config)
    files = gen.render_all(copy)
    installs = [json.loads(text)["cells"][0]["source"] for p, text in files.items() if p.endswith(".ipynb")]
    assert installs and all("git+https://github.com/someone/elsewhere@" in "".join(s) for s in installs)
    assert not any(url in "".join(s) for s in installs)


# ---------------------------------------------------------------- the conversion, piece by piece


def ctx(doc="book/dropout/04_experiments"):
    bib = {"one": {"author": "Bishop, Christopher M.", "year": "1995"},
           "two": {"author": "Krogh, Anders and Hertz, John A.", "year": "1992"},
           "many": {"author": "Hinton, Geoffrey E. and Srivastava, Nitish and Krizhevsky, Alex", "year": "2012"},
           "plain": {"author": "Diederik P. Kingma and Jimmy Ba", "year": "2015"}}
    return gen.Context(ROOT, doc, gen.chapters(ROOT), bib, "https://github.com/o/r", "main")


def test_citations_read_as_author_year():
    c = ctx()
    assert gen.rewrite_roles("{cite}`one`", c) == "(Bishop, 1995)"
    assert gen.rewrite_roles("{cite:p}`two,many`", c) == "(Krogh and Hertz, 1992; Hinton et al., 2012)"
    assert gen.rewrite_roles("{cite:t}`many` and {cite:t}`plain`", c) == "Hinton et al. (2012) and Kingma and Ba (2015)"
    with pytest.raises(gen.ConversionError, match="'nobody'"):
        gen.rewrite_roles("{cite}`nobody`", c)


def test_doc_links_open_the_learner_edition_or_the_repository_page():
    c = ctx()
    assert gen.rewrite_roles("{doc}`03_from_scratch`", c) == "[Dropout from scratch](03_from_scratch.ipynb)"
    assert gen.rewrite_roles("{doc}`the penalty <../weight_decay/01_theory>`", c) == \
        "[the penalty](../weight_decay/01_theory.ipynb)"
    assert gen.rewrite_roles("{doc}`../faq`", c).endswith("(https://github.com/o/r/blob/main/book/faq.md)")
    with pytest.raises(gen.ConversionError, match="missing_page"):
        gen.rewrite_roles("{doc}`missing_page`", c)


def test_admonitions_become_quoted_blocks_and_unknown_syntax_is_an_error():
    c = ctx()
    text = "Before.\n\n```{admonition} One rule\n:class: important\nThe penalty is {cite}`one`.\n```\n\nAfter."
    assert gen.rewrite_directives(gen.rewrite_roles(text, c), c) == \
        "Before.\n\n> **One rule**\n>\n> The penalty is (Bishop, 1995).\n\nAfter."
    assert gen.rewrite_directives(":::{warning}\nCareful.\n:::", c) == "> **Warning**\n>\n> Careful."
    assert gen.rewrite_directives("```python\nx = 1\n```", c) == "```python\nx = 1\n```"
    with pytest.raises(gen.ConversionError, match=r"\{numref\}"):
        gen.rewrite_roles("see {numref}`fig-1`", c)
    with pytest.raises(gen.ConversionError, match=r"\{figure\}"):
        gen.rewrite_directives("```{figure} a.png\n```", c)


def test_markdown_is_split_so_that_only_paragraphs_with_numbers_are_code():
    cell = nbformat.v4.new_markdown_cell("## Title\n\nPlain.\n\nIt is {glue:text}`a:.2f`.\n\n$$\nx\n\ny\n$$\n\nEnd.")
    cell.id = "abc"
    cells = gen.convert_markdown(cell, ctx())
    assert [c.cell_type for c in cells] == ["markdown", "code", "markdown"]
    assert [c.id for c in cells] == ["abc", "abc-1", "abc-2"]
    assert cells[0].source == "## Title\n\nPlain." and cells[2].source == "$$\nx\n\ny\n$$\n\nEnd."
    assert prose_of(cells[1]) == "\nIt is {glue:text}`a:.2f`.\n"


def test_a_list_item_is_not_split_from_its_indented_continuation():
    assert gen.blocks("- item {glue}`x`\n\n  more of the item\n\nNext.") == \
        ["- item {glue}`x`\n\n  more of the item", "Next."]


def test_prose_with_backslashes_and_quotes_survives_the_round_trip():
    for text in [r"$\lambda \mathbf w$ and {glue:text}`x`", 'a """ b {glue}`x`', "ends with \\"]:
        assert eval(gen.python_string(text)).strip("\n") == text


# ---------------------------------------------------------------- the runtime: glue and substitute


def test_substitute_formats_as_the_roles_say():
    values = {"acc": 0.87654, "share": 0.25, "small": 0.000123, "n": 20, "word": "lower",
              "verdict": Markdown("**lower** in every seed"), "label": Markdown("Sneaker")}
    assert substitute("{glue:text}`acc:.3f`", values) == "0.877"
    assert substitute("{glue:text}`share:.0%`", values) == "25%"
    assert substitute("{glue:text}`small:.1e`", values) == "1.2e-04"
    assert substitute("{glue:text}`n`, {glue:text}`n:.0f`", values) == "20, 20"
    assert substitute("{glue:text}`word`", values) == "lower"            # no quotes, as in the book
    assert substitute("{glue:md}`verdict`", values) == "**lower** in every seed"
    assert substitute("a {glue}`label` b", values) == "a Sneaker b"
    assert substitute("no roles, {braces} and `code`", values) == "no roles, {braces} and `code`"


def test_substitute_names_a_value_that_was_never_glued():
    with pytest.raises(GlueError, match=r"'test_acc'.*never glued") as err:
        substitute("Accuracy {glue:text}`test_acc:.3f`.", {"other": 1})
    assert "{glue:text}`test_acc:.3f`" in str(err.value)
    with pytest.raises(GlueError, match="no Markdown"):
        substitute("{glue:md}`x`", {"x": 1.5})
    # What show_markdown displays instead of stopping Run all: the gap is named, the rest is filled in.
    assert substitute("{glue:text}`a:.1f` and {glue:md}`b`", {"a": 2}, gaps=True) == "2.0 and **[not computed: b]**"


def test_show_markdown_names_the_missing_values_and_shows_the_rest(capsys, monkeypatch):
    import regcourse.notebook as runtime
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj.data))
    monkeypatch.setattr(runtime, "_VALUES", {})
    runtime.glue("acc", 0.91234, display=False)
    runtime.show_markdown("Accuracy {glue:text}`acc:.2f`, on {glue:md}`machine`.")
    assert shown == ["Accuracy 0.91, on **[not computed: machine]**."]
    assert "never glued (run the cells above this one first): machine" in capsys.readouterr().err


def test_format_plain_text_matches_myst_nb():
    from myst_nb.core.variables import format_plain_text as myst_format
    for text, spec in [("0.123456", ".3f"), ("0.5", ".0%"), ("'lower'", "s"), ("12", "d"), ("3.0", ""),
                       ("np.float64(0.5)", "s"), ("1e-05", ".0e")]:
        assert format_plain_text(text, spec) == myst_format(text, spec)


# ---------------------------------------------------------------- the book's launch buttons


def test_launch_buttons_open_the_learner_edition():
    page = "book/dropout/01_theory"
    context = {"pathto": lambda name, resource=0: f"../../{name}", "header_buttons": [
        {"type": "group", "buttons": [
            {"type": "link", "text": "Binder", "url": f"https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/{page}.ipynb"},
            {"type": "link", "text": "Colab", "url": f"https://colab.research.google.com/github/o/r/blob/main/{page}.ipynb"}]},
        {"type": "group", "buttons": [
            {"type": "link", "text": ".ipynb", "label": "download-source-button",
             "url": f"../../_sources/{page}.ipynb"}]}]}
    app = type("App", (), {"srcdir": ROOT})()
    learner_launch._point_launch_buttons(app, page, "page.html", context, None)
    launch, download = context["header_buttons"]
    assert [b["url"] for b in launch["buttons"]] == [
        "https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/notebooks/dropout/01_theory.ipynb",
        "https://colab.research.google.com/github/o/r/blob/main/notebooks/dropout/01_theory.ipynb"]
    assert [b["url"] for b in download["buttons"]] == [
        f"../../_sources/{page}.ipynb", "../../_downloads/learner/notebooks/dropout/01_theory.ipynb"]
    assert learner_launch.learner_edition(ROOT, "book/faq") is None  # a page without a learner edition


# ---------------------------------------------------------------- execution as on Colab


@pytest.fixture
def colab_like_kernel(tmp_path):
    """A kernel spec whose Python has neither myst-nb nor regcourse until the install cell has run."""
    base = tmp_path / "colab_like"
    target = base / "site"
    target.mkdir(parents=True)
    source = course_kernel.copy_source(base / "source")
    env = {"REGCOURSE_PIP_ARGS": " ".join(course_kernel.pip_args(target, source)),
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "REGCOURSE_NO_PROGRESS": "1",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INDEX": "1"}
    jupyter_path = course_kernel.spec(base, "colab-like", target, block_myst_nb=True, env=env)
    return {"jupyter_path": str(jupyter_path), "target": target, "base": base}


def run_like_colab(path: Path, kernel, workdir: Path):
    from nbclient import NotebookClient
    nb = nbformat.read(path, as_version=4)
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = kernel["jupyter_path"]
    try:
        client = NotebookClient(nb, kernel_name="colab-like", timeout=900,
                                resources={"metadata": {"path": str(workdir)}})
        client.execute()
    finally:
        if old is None:
            os.environ.pop("JUPYTER_PATH")
        else:
            os.environ["JUPYTER_PATH"] = old
    return nb


def raw_in_outputs(nb) -> list[str]:
    problems = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            texts = [out.get("text", "")] + [out.get("data", {}).get(m, "") for m in ("text/plain", "text/markdown",
                                                                                       "text/html")]
            for text in texts:
                text = "".join(text) if isinstance(text, list) else text
                problems += [f"cell {i}: {needle!r} in {text[:80]!r}" for needle in RAW_IN_OUTPUT if needle in text]
    return problems


CHAPTERS = gen.chapters(ROOT)


@pytest.mark.parametrize("doc", [pytest.param(d, marks=() if d in FAST_CHAPTERS else pytest.mark.slow, id=d)
                                 for d in RUN_LIKE_COLAB])
def test_a_learner_edition_runs_like_on_colab(doc, colab_like_kernel, tmp_path):
    # The kernel really lacks both packages before the install cell (else this test would prove nothing).
    probe = subprocess.run([sys.executable, "-S", "-c", "import importlib.util as u; "
                            "print(u.find_spec('regcourse') is None); import myst_nb"],
                           env={**os.environ, **json.loads((Path(colab_like_kernel["jupyter_path"]) / "kernels" /
                                                            "colab-like" / "kernel.json").read_text())["env"]},
                           cwd=tmp_path, capture_output=True, text=True)
    assert probe.stdout.strip() == "True" and "No module named 'myst_nb'" in probe.stderr, probe
    # A copy outside the repository, so that the working folder does not make regcourse importable.
    (tmp_path / "work").mkdir()
    path = tmp_path / "work" / Path(gen.learner_path(doc)).name
    shutil.copy(ROOT / gen.learner_path(doc), path)
    start = time.perf_counter()
    nb = run_like_colab(path, colab_like_kernel, path.parent)
    setup = nb.cells[0].metadata.get("execution", {})
    print(f"{doc}: executed in {time.perf_counter() - start:.1f} s (install cell: "
          f"{setup.get('iopub.status.idle', '?')} - {setup.get('iopub.status.busy', '?')})")
    assert (colab_like_kernel["target"] / "regcourse" / "notebook.py").is_file(), "the install cell did not install"
    assert raw_in_outputs(nb) == []
    for i, cell in enumerate(nb.cells):
        if prose_of(cell) is not None:
            shown = [o for o in cell.outputs if "text/markdown" in o.get("data", {})]
            assert len(shown) == 1 and not [o for o in cell.outputs if o.output_type == "error"], (i, cell.outputs)


# ---------------------------------------------------------------- every chapter, from nbval's run of its code

def test_every_install_cell_is_the_one_that_ran():
    """The install cells differ only in the comment naming their chapter, so the real runs above stand for all."""
    def without_name(source):
        return re.sub(r"^# Generated from \S+ by ", "# Generated from <chapter> by ", source, flags=re.M)
    installs = {without_name(nbformat.read(p, as_version=4).cells[0].source) for p in learner_editions()}
    assert len(installs) == 1, "the install cells differ beyond their chapter's name"


PREFIX = "application/papermill.record/"   # myst-nb's glue outputs: PREFIX + mime type, and scrapbook metadata


class Recorded:
    """A glued value as myst-nb stored it in the executed chapter: the representations show_markdown formats."""

    def __init__(self, data: dict):
        self.plain, self.markdown = data.get(PREFIX + "text/plain"), data.get(PREFIX + "text/markdown")
        if self.markdown is not None:
            self._repr_markdown_ = lambda: self.markdown

    def __repr__(self):
        return self.plain


def glued_values(outputs) -> dict:
    return {o.metadata["scrapbook"]["name"]: Recorded(o.data) for o in outputs
            if o.get("metadata", {}).get("scrapbook", {}).get("mime_prefix") == PREFIX}


def learner_prose_as_shown(doc: str, executed) -> list[tuple[str, str]]:
    """(cell id, Markdown) of every prose cell of the learner edition of ``doc``, shown with the values that the
    code cells above it glued in ``executed`` (the chapter as nbval ran it); a value glued only below, or never,
    raises GlueError naming it, as Run all would leave a gap there."""
    book = nbformat.read(ROOT / f"{doc}.ipynb", as_version=4)
    book_code = [c.id for c in book.cells if c.cell_type == "code"]
    ran = [c for c in executed.cells if c.cell_type == "code"]
    assert execute_chapters.code_of(executed) == execute_chapters.code_of(book), \
        f"{doc}: the executed copy is not of the chapter's current code"
    values, shown = {}, []
    for cell in nbformat.read(ROOT / gen.learner_path(doc), as_version=4).cells[1:]:
        if cell.cell_type != "code":
            continue
        prose = prose_of(cell)
        if prose is not None:
            shown.append((cell.id, substitute(prose, values)))
        else:    # the chapter's code cell of the same id (the generator keeps ids; the sync test keeps it so)
            values.update(glued_values(ran[book_code.index(cell.id)].outputs))
    return shown


@pytest.mark.built_book
@pytest.mark.slow
@pytest.mark.parametrize("doc", CHAPTERS)
def test_every_learner_edition_shows_the_numbers_its_chapter_computed(doc):
    """What each prose cell of a learner edition shows after *Run all*, from the chapter's run in the test
    command: nbval ran the chapter's code (the learner edition's code, less `from myst_nb import glue`) in a
    kernel with the package as pip installs it (conftest.py), and its outputs are the book's execution cache.
    show_markdown formats a value's text/plain and text/markdown, the representations myst-nb stored."""
    from jupyter_cache import get_cache
    from test_built_book import JUPYTER_CACHE

    cache = get_cache(JUPYTER_CACHE)
    record = cache.match_cache_notebook(nbformat.read(ROOT / f"{doc}.ipynb", as_version=4))
    shown = learner_prose_as_shown(doc, cache.get_cache_bundle(record.pk).nb)
    assert shown, f"{doc}: no prose cell with numbers"
    for cell_id, text in shown:
        assert not ANY_ROLE.search(text) and not any(n in text for n in RAW_IN_OUTPUT), (cell_id, text[:200])


def test_the_prose_check_finds_a_value_glued_too_late_or_never():
    doc = "book/dropout/02_train_vs_eval"
    book = nbformat.read(ROOT / f"{doc}.ipynb", as_version=4)
    prose = [p for c in nbformat.read(ROOT / gen.learner_path(doc), as_version=4).cells
             if (p := prose_of(c)) is not None]
    names = {m.group("content").split(":")[0] for p in prose for m in GLUE_ROLE.finditer(p)}
    name = GLUE_ROLE.search(prose[0]).group("content").split(":")[0]
    with pytest.raises(GlueError, match=name):            # the stored chapter has no outputs: nothing was glued
        learner_prose_as_shown(doc, book)
    executed = copy.deepcopy(book)
    for cell in executed.cells:                           # every value glued, but in the last code cell
        if cell.cell_type == "code":
            cell.outputs = []
    glued = [nbformat.v4.new_output("display_data", data={PREFIX + "text/plain": "0.5"},
                                    metadata={"scrapbook": {"name": n, "mime_prefix": PREFIX}})
             for n in names]
    [c for c in executed.cells if c.cell_type == "code"][-1].outputs = glued
    with pytest.raises(GlueError, match="never glued"):
        learner_prose_as_shown(doc, executed)
    [c for c in executed.cells if c.cell_type == "code"][0].outputs = glued   # glued first: all shown
    assert all("0.5" in text for _, text in learner_prose_as_shown(doc, executed))


def test_pages_that_write_the_repository_url_write_the_one_in_config():
    """A page may spell the install address out for students to copy (book/student_setup.md does: `pip install
    "regcourse @ git+<url>"`); it must then be _config.yml's, so that changing the URL there makes this test
    name the pages to update."""
    url, _ = gen.repository(ROOT)
    written = {}
    for page in sorted((ROOT / "book").rglob("*.md")):
        for found in re.findall(r"git\+(https://[\w./-]+)", page.read_text()):
            written.setdefault(found, []).append(page.relative_to(ROOT).as_posix())
    assert written.get(url), f"no page writes {url} (the test looks for it in book/*.md)"
    others = {u: pages for u, pages in written.items() if u != url}
    assert not others, f"pages write a repository URL other than _config.yml's {url}: {others}"
