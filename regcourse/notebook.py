"""The runtime of the learner editions (``notebooks/``): numbers in the prose outside the book.

The book's chapters put computed numbers into their prose with myst-nb: a code cell calls
``glue("test_acc", acc)`` and a Markdown cell says ``{glue:text}`test_acc:.3f```. Sphinx replaces the role
when the book is built; JupyterLab and Colab show it raw. The learner editions, made from the chapters by
``scripts/make_learner_notebooks.py``, therefore turn each paragraph that quotes a glued value into a
hidden code cell ``show_markdown(r\"\"\"...\"\"\")``; this module records the values (:func:`glue`, the same
call as myst-nb's) and, when that cell runs, displays the paragraph as Markdown with every glue role
replaced by the value formatted as the role says (:func:`substitute`), as the book does.
"""
from __future__ import annotations

import ast
import re
from typing import Any

__all__ = ["GLUE_ROLE", "GlueError", "glue", "glued", "show_markdown", "substitute"]

# {glue}`name`, {glue:text}`name:.3f`, {glue:md}`name` (myst-nb's inline roles).
GLUE_ROLE = re.compile(r"\{glue(?::(?P<kind>[a-z]+))?\}`(?P<content>[^`]+)`")

_VALUES: dict[str, Any] = {}


class GlueError(KeyError):
    """A role names a value that was never glued, or a value that cannot be shown as the role asks."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0])


def glue(name: str, variable: Any, display: bool = True) -> None:
    """Record ``variable`` under ``name`` for the prose (myst-nb's ``glue``, without myst-nb).

    As in myst-nb, ``display=True`` also shows the value as the cell's output.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"glue() needs a non-empty string name, got {name!r}")
    _VALUES[name] = variable
    if display:
        from IPython.display import display as ipython_display
        ipython_display(variable)


def glued() -> dict[str, Any]:
    """The values recorded so far in this kernel, by name (a copy)."""
    return dict(_VALUES)


def mime_bundle(value: Any) -> dict[str, str]:
    """The representations Jupyter would store for ``value`` (what myst-nb reads from a glue output)."""
    try:
        from IPython import get_ipython
        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is not None:
        data, _ = shell.display_formatter.format(value)
        return data
    data = {"text/plain": repr(value)}
    markdown = getattr(value, "_repr_markdown_", None)
    if callable(markdown):
        md = markdown()
        if isinstance(md, tuple):  # (data, metadata)
            md = md[0]
        if md is not None:
            data["text/markdown"] = md
    return data


def format_plain_text(text: str, fmt_spec: str) -> str:
    """Format a ``text/plain`` representation as myst-nb's ``{glue:text}`` does (myst_nb.core.variables)."""
    try:
        value = ast.literal_eval(text)  # drops the quotes around a string, reads a number
    except (SyntaxError, ValueError):
        value = text
    if fmt_spec == "":
        return str(value)
    type_char = fmt_spec[-1]
    if type_char == "s":
        value = str(value)
    elif type_char in ("b", "c", "d", "o", "x", "X"):
        value = int(value)
    elif type_char in ("e", "E", "f", "F", "g", "G", "n", "%"):
        value = float(value)
    return format(value, fmt_spec)


def _value(key: str, role: str, values: dict[str, Any]) -> Any:
    if key not in values:
        known = ", ".join(sorted(values)) or "none yet"
        raise GlueError(f"{role} names the value {key!r}, which was never glued. Run the cells above this "
                        f"one first (top to bottom); values glued so far: {known}.")
    return values[key]


MISSING_MARK = "[not computed: {key}]"


def _render(match: re.Match, values: dict[str, Any], gaps: bool = False) -> str:
    kind, content = match.group("kind") or "", match.group("content")
    role = match.group(0)
    key = content.rsplit(":", 1)[0] if ":" in content and kind != "" else content
    if gaps and key not in values:
        return f"**{MISSING_MARK.format(key=key)}**"
    if kind == "text":
        key, fmt_spec = content.rsplit(":", 1) if ":" in content else (content, "s")
        data = mime_bundle(_value(key, role, values))
        if "text/plain" not in data:
            raise GlueError(f"{role}: the value {key!r} has no text/plain representation")
        try:
            return format_plain_text(data["text/plain"], fmt_spec)
        except (TypeError, ValueError) as err:
            raise GlueError(f"{role}: cannot format {data['text/plain']!r} as {fmt_spec!r} ({err})") from err
    if kind == "md":
        key = content.rsplit(":", 1)[0] if ":" in content else content  # an optional :myst/:commonmark suffix
        data = mime_bundle(_value(key, role, values))
        if "text/markdown" not in data:
            raise GlueError(f"{role}: the value {key!r} has no Markdown representation "
                            "(glue an IPython.display.Markdown object)")
        return data["text/markdown"].strip()
    if kind in ("", "any"):
        data = mime_bundle(_value(content, role, values))
        if "text/markdown" in data:
            return data["text/markdown"].strip()
        return format_plain_text(data.get("text/plain", ""), "")
    raise GlueError(f"{role}: unknown glue role {{glue:{kind}}} (known: glue, glue:any, glue:text, glue:md)")


def substitute(text: str, values: dict[str, Any] | None = None, *, gaps: bool = False) -> str:
    """Replace every glue role in ``text`` by its value, formatted as the role says.

    ``{glue:text}`name:.3f``` formats the value's text as ``format(value, ".3f")`` (myst-nb's rule), without
    a format it is the plain text; ``{glue:md}`name``` pastes the value's Markdown; ``{glue}`name``` pastes
    Markdown if the value has it, else plain text. ``values`` defaults to what :func:`glue` recorded.
    Raises :class:`GlueError` naming the role if a value was never glued; with ``gaps=True`` such a value
    is shown as **[not computed: name]** instead.
    """
    values = _VALUES if values is None else values
    return GLUE_ROLE.sub(lambda m: _render(m, values, gaps), text)


def show_markdown(text: str) -> None:
    """Display ``text`` as Markdown, its glue roles replaced by the recorded values.

    A value that was never glued (cells run out of order, or a chapter that reads a file this machine does not
    have) does not stop *Run all*: the paragraph is shown with **[not computed: name]** in its place, and a
    line on stderr names the missing values. Other errors (a value that cannot be formatted) are raised.
    """
    import sys

    from IPython.display import Markdown, display
    missing = sorted({m.group("content").split(":")[0] for m in GLUE_ROLE.finditer(text)
                      if m.group("content").split(":")[0] not in _VALUES})
    if missing:
        print(f"show_markdown: never glued (run the cells above this one first): {', '.join(missing)}",
              file=sys.stderr)
    display(Markdown(substitute(text, gaps=True)))
