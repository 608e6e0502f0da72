"""Make the learner editions: notebooks/ from the book's chapters, readable and runnable in Jupyter and Colab.

    python scripts/make_learner_notebooks.py            # (re)write notebooks/
    python scripts/make_learner_notebooks.py --check    # exit 1 if notebooks/ is out of date

The chapters (book/**/*.ipynb listed in _toc.yml) are written for the book: their prose quotes computed numbers
with myst-nb roles ({glue:text}`name:.3f`), links with {doc}, cites with {cite}, and they import myst-nb.
Sphinx renders all of that; JupyterLab and Colab show it raw, and Colab has neither myst-nb nor the course
package. The chapters themselves stay as they are (the book, its translation and the tests read them), and
each is converted into notebooks/<same path>.ipynb:

1. A first cell installs the course package when ``regcourse`` cannot be imported (a fresh Colab runtime),
   from the repository named ONCE, in _config.yml ``repository.url`` (``branch``); change it there and run
   this script again to update every install cell (the book's Colab/Binder buttons read it too).
   The environment variable REGCOURSE_PIP_ARGS replaces pip's arguments (the tests install a local checkout).
   That cell also imports ``glue`` and ``show_markdown`` from ``regcourse.notebook``.
2. ``from myst_nb import glue`` lines are dropped (``glue`` comes from the first cell and records values).
3. Markdown is split into blocks at blank lines. Roles that do not depend on computed values are rewritten
   here: {doc} becomes a link to the learner edition (or to the page in the repository), {cite} and {cite:t}
   become "(Author, year)" and "Author (year)" from references.bib, admonitions a quoted block with a bold
   title. Blocks that quote a glued value become a code cell with hidden input (JupyterLab:
   ``metadata.jupyter.source_hidden``; Colab: ``cellView: form`` and a ``#@title``) that displays the block
   as Markdown with the values filled in; the other blocks stay Markdown cells. A role or directive this
   script does not know is an error naming it, never silently left raw.
4. Code cells the book hides (tags ``remove-cell``: glue calls and the asserts behind the prose;
   ``hide-input``) keep their code, with hidden input and a Colab title.

Deterministic and idempotent: same inputs, same bytes. Stored without outputs. tests/test_learner_notebooks.py
checks that notebooks/ is in sync with book/ and executes editions in a kernel without myst-nb or regcourse.
"""
from __future__ import annotations

import argparse
import json
import posixpath
import re
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = "notebooks"
BOOK_DIR = "book"
GENERATOR = "scripts/make_learner_notebooks.py"

ROLE = re.compile(r"\{(?P<name>[a-z][a-z0-9:_-]*)\}`(?P<content>[^`]*)`")
FENCE_OPEN = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|:{3,})\s*(?P<info>\S.*)?$")
DIRECTIVE = re.compile(r"^\{(?P<name>[a-z][a-z0-9:_-]*)\}\s*(?P<arg>.*)$")
ADMONITIONS = {"note": "Note", "tip": "Tip", "hint": "Hint", "important": "Important", "warning": "Warning",
               "caution": "Caution", "attention": "Attention", "danger": "Danger", "error": "Error",
               "seealso": "See also"}
HIDDEN_TAGS = {"remove-cell": "Checks behind the text (hidden in the book)",
               "remove-input": "Code hidden in the book",
               "hide-input": "Code hidden in the book (click to show)"}


class ConversionError(ValueError):
    pass


# ---------------------------------------------------------------- configuration: the one repository URL


def repository(root: Path = ROOT) -> tuple[str, str]:
    """``repository.url`` and ``repository.branch`` from _config.yml: the one place the URL is written."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    repo = config.get("repository") or {}
    url = str(repo.get("url", "")).rstrip("/")
    if not url.startswith("https://"):
        raise ConversionError(f"_config.yml repository.url must be an https URL, got {url!r}")
    return url, str(repo.get("branch") or "main")


def chapters(root: Path = ROOT) -> list[str]:
    """The notebook chapters of _toc.yml in book order, as paths without suffix (``book/dropout/01_theory``)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    found = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                found.append(str(node["file"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(toc.get("parts", toc.get("chapters", [])))
    return [f for f in found if (root / f"{f}.ipynb").is_file()]


def learner_path(doc: str) -> str:
    """``book/dropout/01_theory`` -> ``notebooks/dropout/01_theory.ipynb``."""
    return posixpath.join(OUT_DIR, posixpath.relpath(doc, BOOK_DIR)) + ".ipynb"


# ---------------------------------------------------------------- references.bib


def read_bib(path: Path) -> dict[str, dict[str, str]]:
    """Key -> {"author": ..., "year": ...} from a BibTeX file (brace-delimited fields, as references.bib)."""
    entries = {}
    text = path.read_text() if path.is_file() else ""
    for m in re.finditer(r"@\w+\s*\{\s*([^,\s]+)\s*,(.*?)\n\}", text, re.S):
        fields = {k.lower(): v for k, v in re.findall(r"(\w+)\s*=\s*\{((?:[^{}]|\{[^{}]*\})*)\}", m.group(2))}
        entries[m.group(1)] = fields
    return entries


def surname(person: str) -> str:
    person = person.replace("{", "").replace("}", "").strip()
    return person.split(",")[0].strip() if "," in person else person.split()[-1]


def cite_names(entry: dict[str, str]) -> str:
    people = [surname(p) for p in re.split(r"\s+and\s+", entry.get("author", "")) if p.strip()]
    if not people:
        return "Anonymous"
    if len(people) == 1:
        return people[0]
    if len(people) == 2:
        return f"{people[0]} and {people[1]}"
    return f"{people[0]} et al."


# ---------------------------------------------------------------- the chapter being converted


class Context:
    def __init__(self, root: Path, doc: str, docs: list[str], bib: dict, repo_url: str, branch: str):
        self.root, self.doc, self.docs, self.bib = root, doc, set(docs), bib
        self.repo_url, self.branch = repo_url, branch
        self.where = doc

    def fail(self, message: str):
        raise ConversionError(f"{self.where}: {message}")

    def title_of(self, target: str) -> str:
        for suffix in (".ipynb", ".md"):
            path = self.root / f"{target}{suffix}"
            if path.is_file():
                text = path.read_text()
                if suffix == ".ipynb":
                    cells = json.loads(text)["cells"]
                    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
                m = re.search(r"^#\s+(.+?)\s*$", text, re.M)
                return m.group(1) if m else posixpath.basename(target)
        self.fail(f"{{doc}} names {target!r}, which is neither {target}.ipynb nor {target}.md")

    def doc_link(self, content: str) -> str:
        m = re.fullmatch(r"\s*(?P<text>.*?)\s*<(?P<target>[^>]+)>\s*", content)
        text, target = (m.group("text"), m.group("target")) if m else (None, content.strip())
        target = target.removesuffix(".ipynb").removesuffix(".md")
        if target.startswith("/"):
            resolved = posixpath.normpath(target.lstrip("/"))
        else:
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(self.doc), target))
        text = text or self.title_of(resolved)
        if resolved in self.docs:  # a chapter: its learner edition, next to this one
            href = posixpath.relpath(learner_path(resolved), posixpath.dirname(learner_path(self.doc)))
        else:  # a page without a learner edition (FAQ, notation, ...): the page in the repository
            href = f"{self.repo_url}/blob/{self.branch}/{resolved}.md"
        return f"[{text}]({href})"

    def cite(self, name: str, content: str) -> str:
        parts = []
        for key in (k.strip() for k in content.split(",")):
            if key not in self.bib:
                self.fail(f"{{{name}}} cites {key!r}, which is not in references.bib")
            names, year = cite_names(self.bib[key]), self.bib[key].get("year", "n.d.")
            parts.append(f"{names} ({year})" if name == "cite:t" else f"{names}, {year}")
        return "; ".join(parts) if name == "cite:t" else f"({'; '.join(parts)})"


def rewrite_roles(text: str, ctx: Context) -> str:
    """Rewrite the roles that do not depend on computed values; glue roles stay for the kernel."""
    def one(m: re.Match) -> str:
        name, content = m.group("name"), m.group("content")
        if name == "glue" or name.startswith("glue:"):
            return m.group(0)
        if name == "doc":
            return ctx.doc_link(content)
        if name in ("cite", "cite:p", "cite:t", "cite:ps", "cite:ts"):
            return ctx.cite("cite:t" if name.startswith("cite:t") else "cite", content)
        if name in ("math",):
            return f"${content}$"
        if name in ("sub", "sup", "abbr"):
            return content
        ctx.fail(f"the role {{{name}}} is not converted by {GENERATOR}: add it to rewrite_roles")
    return ROLE.sub(one, text)


def rewrite_directives(text: str, ctx: Context) -> str:
    """MyST directives (```{name} or :::{name} fences) -> plain Markdown; code fences are kept as they are."""
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        m = FENCE_OPEN.match(lines[i])
        if not m:
            if re.fullmatch(r"\s*\([\w.:-]+\)=\s*", lines[i]):  # a MyST target "(label)=": nothing to show
                i += 1
                continue
            out.append(lines[i])
            i += 1
            continue
        fence, info = m.group("fence"), (m.group("info") or "").strip()
        close = re.compile(rf"^\s{{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        body = lines[i + 1:j]
        d = DIRECTIVE.match(info)
        if not d:  # an ordinary code fence (```python): unchanged
            out.extend(lines[i:j + 1])
            i = j + 1
            continue
        name, arg = d.group("name"), d.group("arg").strip()
        while body and re.match(r"^:\w[\w-]*:", body[0]):  # directive options (:class: important)
            body = body[1:]
        if name == "admonition" or name in ADMONITIONS:
            title = arg if name == "admonition" else ADMONITIONS[name] + (f": {arg}" if arg else "")
            inner = rewrite_directives("\n".join(body).strip("\n"), ctx)
            out.append(f"> **{title}**")
            out.append(">")
            out.extend(f"> {line}".rstrip() for line in inner.split("\n"))
        elif name == "math":
            out.extend(["$$", *body, "$$"])
        else:
            ctx.fail(f"the directive {{{name}}} is not converted by {GENERATOR}: add it to rewrite_directives")
        i = j + 1
    return "\n".join(out)


def blocks(text: str) -> list[str]:
    """Split Markdown at blank lines that are outside fences and $$ math (a block is never cut in two)."""
    result, current, fence, math = [], [], None, False
    for line in text.split("\n"):
        stripped = line.strip()
        if fence is None and not math and stripped == "":
            if current:
                result.append("\n".join(current))
                current = []
            continue
        current.append(line)
        if fence is not None:
            if re.fullmatch(rf"{re.escape(fence[0])}{{{len(fence)},}}", stripped):
                fence = None
        elif m := re.match(r"^(`{3,}|~{3,}|:{3,})", stripped):
            fence = m.group(1)
        elif stripped.count("$$") % 2 == 1:
            math = not math
    if current:
        result.append("\n".join(current))
    merged = []  # an indented block continues the list item above it: never split the two apart
    for block in result:
        if merged and block[:1] in (" ", "\t"):
            merged[-1] += "\n\n" + block
        else:
            merged.append(block)
    return merged


def python_string(text: str) -> str:
    """``text`` as a Python literal that shows it as written: a raw triple-quoted string when possible."""
    if '"""' not in text and not text.endswith("\\") and "\r" not in text:
        return f'r"""\n{text}\n"""'
    return repr(text)


def colab_title(text: str, limit: int = 60) -> str:
    """A one-line title for Colab's form view: the first words of the paragraph, then what to do."""
    plain = re.sub(r"\{glue[^}]*\}`[^`]*`", "…", text)
    plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", plain)  # a link shows its text
    words = re.sub(r"[#*_>`$|]", "", plain).split()
    line = ""
    for word in words:
        if len(line) + len(word) + 1 > limit:
            line += " …"
            break
        line = f"{line} {word}".strip()
    return f"{line} (run to show the numbers)"


def hidden_code_cell(source: str, title: str, cell_id: str, tags=()) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(f"#@title {title}\n{source}")
    cell.id = cell_id
    cell.metadata = {"cellView": "form", "jupyter": {"source_hidden": True}}
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def convert_markdown(cell, ctx: Context) -> list[nbformat.NotebookNode]:
    text = rewrite_directives(rewrite_roles(cell.source, ctx), ctx)
    groups: list[tuple[bool, list[str]]] = []
    for block in blocks(text):
        dynamic = bool(re.search(r"\{glue(:[a-z]+)?\}`", block))
        if groups and groups[-1][0] == dynamic:
            groups[-1][1].append(block)
        else:
            groups.append((dynamic, [block]))
    out = []
    for k, (dynamic, parts) in enumerate(groups):
        body = "\n\n".join(parts)
        cell_id = cell.id if k == 0 else f"{cell.id}-{k}"
        if dynamic:
            source = f"show_markdown({python_string(body)})"
            if any(len(line) > 120 for line in source.split("\n")):
                source += "  # noqa: E501"  # prose keeps the book's line breaks
            out.append(hidden_code_cell(source, colab_title(body), cell_id))
        else:
            md = nbformat.v4.new_markdown_cell(body)
            md.id = cell_id
            out.append(md)
    return out


def convert_code(cell, ctx: Context) -> list[nbformat.NotebookNode]:
    lines, skip_blank = [], False
    for line in cell.source.split("\n"):
        if line.strip() == "from myst_nb import glue":  # glue comes from regcourse.notebook (first cell)
            skip_blank = not lines or not lines[-1].strip()  # do not leave two blank lines, or one at the top
            continue
        if skip_blank and not line.strip():
            skip_blank = False
            continue
        skip_blank = False
        lines.append(line)
    source = "\n".join(lines).strip("\n")
    if "myst_nb" in source:
        ctx.fail("a code cell uses myst_nb beyond `from myst_nb import glue`; the learner edition has no myst-nb")
    if not source:
        return []
    tags = cell.metadata.get("tags", [])
    for tag, title in HIDDEN_TAGS.items():
        if tag in tags:
            return [hidden_code_cell(source, title, cell.id, tags)]
    new = nbformat.v4.new_code_cell(source)
    new.id = cell.id
    new.metadata = {k: v for k, v in cell.metadata.items() if k in ("tags",)}
    return [new]


def setup_cell(doc: str, repo_url: str, branch: str) -> nbformat.NotebookNode:
    source = f'''#@title Set-up: install the course package if needed (Colab: run this cell first)
# Generated from {doc}.ipynb by {GENERATOR}:
# edit the chapter, not this file.
import importlib
import importlib.util
import os
import subprocess
import sys

# A fresh Colab runtime has PyTorch but not the course package `regcourse`: install it from the repository
# (its URL is set once, in the course's _config.yml). REGCOURSE_PIP_ARGS, if set, replaces pip's arguments.
if importlib.util.find_spec("regcourse") is None:
    pip_args = os.environ.get("REGCOURSE_PIP_ARGS", "git+{repo_url}@{branch}").split()
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *pip_args], check=True)
    importlib.invalidate_caches()

# glue() records a computed value; show_markdown() shows a paragraph of the text with those values in it.
from regcourse.notebook import glue, show_markdown  # noqa: E402, F401'''
    cell = nbformat.v4.new_code_cell(source)
    cell.id = "learner-setup"
    cell.metadata = {"cellView": "form"}
    return cell


def convert(root: Path, doc: str, docs: list[str], bib: dict, repo_url: str, branch: str) -> nbformat.NotebookNode:
    nb = nbformat.read(root / f"{doc}.ipynb", as_version=4)
    ctx = Context(root, doc, docs, bib, repo_url, branch)
    note = nbformat.v4.new_markdown_cell(
        f"> Learner edition of the chapter `{doc}.ipynb`, made for Jupyter and Colab. The paragraphs that quote "
        "numbers computed by the code are collapsed cells: run the notebook from the top (*Run all*) and each "
        "shows its paragraph with the numbers in it.")
    note.id = "learner-note"
    cells = [setup_cell(doc, repo_url, branch), note]
    for i, cell in enumerate(nb.cells):
        ctx.where = f"{doc}.ipynb cell {i} ({cell.get('id', '?')})"
        if cell.cell_type == "markdown":
            cells.extend(convert_markdown(cell, ctx))
        elif cell.cell_type == "code":
            cells.extend(convert_code(cell, ctx))
        else:
            cells.append(cell)
    new = nbformat.v4.new_notebook(cells=cells)
    new.nbformat_minor = max(5, nb.nbformat_minor)
    new.metadata = {
        "colab": {"provenance": [], "toc_visible": True},
        "kernelspec": nb.metadata.get("kernelspec", {"display_name": "Python 3", "language": "python",
                                                     "name": "python3"}),
        "language_info": {"name": "python"},
        "regcourse": {"generated_by": GENERATOR, "source": f"{doc}.ipynb",
                      "note": "Generated learner edition: do not edit; edit the source and run the generator."},
    }
    return new


README = """# Learner editions of the chapters (generated: do not edit)

Each notebook here is made from the chapter of the same name under `book/` by
`scripts/make_learner_notebooks.py`, for reading and running in JupyterLab, Jupyter Notebook or Google Colab
(the book's Colab and Binder buttons open these). Edit the chapter in `book/` and run
`python scripts/make_learner_notebooks.py`; `tests/test_learner_notebooks.py` fails while this folder is
out of date.

What differs from the chapter: a first cell installs the course package when it is missing (a fresh Colab
runtime), from the repository set in `_config.yml` (`repository.url`); paragraphs that quote computed numbers
are hidden code cells that show the paragraph with its numbers when run (run the notebook top to bottom);
links, citations and notes are plain Markdown; the checks the book hides are hidden cells here too.

Chapters:

"""


def render_all(root: Path = ROOT) -> dict[str, str]:
    """Relative path -> file content of everything under notebooks/."""
    repo_url, branch = repository(root)
    docs = chapters(root)
    bib = read_bib(root / "references.bib")
    files = {}
    listing = []
    for doc in docs:
        nb = convert(root, doc, docs, bib, repo_url, branch)
        nbformat.validate(nb)
        path = learner_path(doc)
        files[path] = nbformat.writes(nb) + "\n"
        title = next((re.sub(r"^#\s+", "", c.source.split("\n")[0]) for c in nb.cells
                      if c.cell_type == "markdown" and c.source.startswith("# ")), doc)
        listing.append(f"- [{title}]({posixpath.relpath(path, OUT_DIR)}) (from `{doc}.ipynb`)")
    files[f"{OUT_DIR}/README.md"] = README + "\n".join(listing) + "\n"
    return files


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if notebooks/ differs from what it would write")
    parser.add_argument("--root", type=Path, default=ROOT, help="the course repository (default: this one)")
    parser.add_argument("--out", type=Path, default=None, help="write here instead of <root> (for tests)")
    args = parser.parse_args(argv)
    files = render_all(args.root)
    out = args.out or args.root
    stale = sorted(p for p in (out / OUT_DIR).rglob("*") if p.is_file()
                   and p.relative_to(out).as_posix() not in files and ".ipynb_checkpoints" not in p.parts) \
        if (out / OUT_DIR).is_dir() else []
    changed = [p for p, text in files.items() if not (out / p).is_file() or (out / p).read_text() != text]
    if args.check:
        for p in changed + [s.relative_to(out).as_posix() for s in stale]:
            print(f"out of date: {p}")
        return 1 if changed or stale else 0
    for p in changed:
        (out / p).parent.mkdir(parents=True, exist_ok=True)
        (out / p).write_text(files[p])
    for s in stale:
        s.unlink()
    print(f"{len(files)} files in {out / OUT_DIR}, {len(changed)} written, {len(stale)} stale removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
