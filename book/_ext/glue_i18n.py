"""Glued English phrases translated at build time, from a catalog of templates (locales/<lang>/glued.po).

Some glued values are words, not numbers: the chapters' code writes its verdicts in English ("lower in every
seed", "lower in 2 of 3 seeds and higher in 1: no consistent difference at this budget", the breakdown note,
the calibration conclusion, class names, the benchmark machine) and glues them as Markdown. The translated
edition uses the very same executed notebooks, so without this extension its pages would read
"使用暂退法时，它 lower in every seed。".

When the build's `language` has a catalog `locales/<language>/glued.po`, every glued value that is text
(`text/markdown`, or `text/plain` holding a Python string) is replaced by its translation before myst-nb
renders it. The catalog holds TEMPLATES, not values, so that every branch the code can produce is covered,
not only today's numbers:

    msgid "lower in {0} of {1} seeds and higher in {2}: no consistent difference at this budget"
    msgstr "在 {1} 个随机种子中有 {0} 个更低、{2} 个更高：在这一训练预算下没有一致的差异"

Placeholders in a msgid:

* ``{0}``        a number (``2``, ``0.6``, ``-1.5e-3``, ``2.14.1``, ``40%``): put back character for character;
* ``{0:token}``  one word without spaces that is a name, not prose (``x86_64``, ``2.5.0a0``): put back as it is;
* ``{0:name}``   a proper name that may have spaces (a processor's name): put back as it is;
* ``{0:ctx}``    one of the templates whose msgctxt is ``ctx`` (e.g. ``label``: "no dropout"), translated;
* ``{0:ctx+}``   one or more of them joined by ", ", each translated, joined by the msgstr of the entry
  ``msgctxt "list separator"`` / ``msgid ", "`` (default ", ").

Entries without msgctxt are the glued values themselves. A msgstr uses ``{0}``, ``{1}``, ... in any order, each
placeholder of its msgid at least once, and every number written in the msgid (e.g. "above 0.6") again: the
loader rejects a template that would drop or invent a number. Braces that are not placeholders are literal.

A glued value with Latin letters that no template matches is NOT shown silently in English: the build warns
(``glue_i18n.untranslated``, naming the page, the glue key and the text), so `-W` fails the translated build.
A value without Latin letters (a number, a date) or with Chinese characters (already translated, e.g. by
another step of the build) is shown as it is.
The English build (no catalog for language "en") is untouched.

The catalog lives outside LC_MESSAGES on purpose: Sphinx compiles every .po under LC_MESSAGES as a page's
catalog, and the page catalogs are checked one per page (tests/test_translation.py).
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

NUMBER = r"[-+−]?\d+(?:[.,]\d+)*(?:[eE][-+]?\d+)?%?"
TOKEN = r"[A-Za-z0-9_.+-]+"
NAME = r"[^\n]+?"
VERBATIM = {None: NUMBER, "token": TOKEN, "name": NAME}
PLACEHOLDER = re.compile(r"\{(\d+)(?::([A-Za-z_][A-Za-z0-9_ -]*?)(\+)?)?\}")
LIST_SEPARATOR_CONTEXT = "list separator"
MAX_DEPTH = 4
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


class CatalogError(ValueError):
    """A template catalog that cannot be used (a msgstr that drops a placeholder or a number, ...)."""


class UntranslatedGlue(LookupError):
    """A glued text that no template of the catalog matches."""


@dataclass
class Template:
    msgid: str
    msgstr: str
    context: str | None
    parts: list  # literal strings and (index, kind, is_list) tuples, in msgid order

    @property
    def n_placeholders(self) -> int:
        return sum(1 for p in self.parts if not isinstance(p, str))


def _parse(msgid: str) -> list:
    parts, pos = [], 0
    for m in PLACEHOLDER.finditer(msgid):
        if m.start() > pos:
            parts.append(msgid[pos:m.start()])
        parts.append((int(m.group(1)), m.group(2), bool(m.group(3))))
        pos = m.end()
    if pos < len(msgid):
        parts.append(msgid[pos:])
    return parts


def _literal_numbers(parts) -> list[str]:
    return sorted(n for p in parts if isinstance(p, str) for n in re.findall(r"\d+(?:[.,]\d+)*", p))


class GlueCatalog:
    """Templates by context; `translate(text)` finds the one that matches and fills in its placeholders."""

    def __init__(self, entries):
        """entries: (msgid, msgstr, msgctxt or None) triples."""
        self.templates: dict[str | None, list[Template]] = {}
        self.separators: dict[str | None, str] = {}
        for msgid, msgstr, context in entries:
            if not msgid:
                continue
            where = f"msgid {msgid!r}" + (f" (msgctxt {context!r})" if context else "")
            if not msgstr:
                raise CatalogError(f"untranslated template: {where}")
            if context == LIST_SEPARATOR_CONTEXT:
                self.separators[msgid] = msgstr
                continue
            parts = _parse(msgid)
            wanted = {p[0] for p in parts if not isinstance(p, str)}
            used = {int(i) for i in re.findall(r"\{(\d+)\}", msgstr)}
            if wanted != used:
                raise CatalogError(f"msgstr must use the placeholders {sorted(wanted)}, uses {sorted(used)}: {where}")
            if PLACEHOLDER.search(re.sub(r"\{\d+\}", "", msgstr)):
                raise CatalogError(f"msgstr placeholders are plain {{0}}, {{1}}, ... (no kind): {where}")
            missing = [n for n in _literal_numbers(parts) if n not in re.sub(r"\{\d+\}", "", msgstr)]
            if missing:
                raise CatalogError(f"msgstr drops the number(s) {missing} of the msgid: {where}")
            self.templates.setdefault(context, []).append(Template(msgid, msgstr, context, parts))
        for context, templates in self.templates.items():
            # The most literal template first: "lower in every seed" before a template with placeholders.
            templates.sort(key=lambda t: (t.n_placeholders, -len(t.msgid)))
            for t in templates:
                for p in t.parts:
                    if not isinstance(p, str) and p[1] not in VERBATIM and p[1] not in self.templates:
                        raise CatalogError(f"placeholder {{{p[0]}:{p[1]}}} names no msgctxt of the catalog: "
                                           f"msgid {t.msgid!r}")
        self._compiled: dict = {}

    @classmethod
    def from_po(cls, path) -> GlueCatalog:
        from babel.messages.pofile import read_po

        with open(path, "rb") as f:
            catalog = read_po(f)
        fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
        if fuzzy:
            raise CatalogError(f"{path}: fuzzy templates (Sphinx-style: not used): {fuzzy}")
        return cls((m.id, m.string, m.context) for m in catalog)

    def __len__(self) -> int:
        return sum(len(ts) for ts in self.templates.values())

    # ------------------------------------------------------------------------------------------------ regexes

    def _placeholder_regex(self, kind, is_list, depth) -> str:
        if kind in VERBATIM:
            one = VERBATIM[kind]
        else:
            if depth >= MAX_DEPTH:
                raise CatalogError(f"templates of msgctxt {kind!r} nest deeper than {MAX_DEPTH}")
            one = self._context_regex(kind, depth + 1)
        if is_list:
            sep = re.escape(", ")
            return f"(?:{one})(?:{sep}(?:{one}))*"
        return one

    def _template_regex(self, t: Template, depth: int, capture: bool) -> str:
        out = []
        for p in t.parts:
            if isinstance(p, str):
                out.append(re.escape(p))
            else:
                inner = self._placeholder_regex(p[1], p[2], depth)
                if not capture:
                    # Inside another template's regex: the item is matched again, capturing, when translated.
                    out.append(f"(?:{inner})")
                elif f"(?P<p{p[0]}>" in "".join(out):
                    out.append(f"(?P=p{p[0]})")     # the same placeholder twice: the same text twice
                else:
                    out.append(f"(?P<p{p[0]}>{inner})")
        return "".join(out)

    def _context_regex(self, context, depth=0) -> str:
        return "|".join(f"(?:{self._template_regex(t, depth, False)})" for t in self.templates[context])

    def _compiled_template(self, t: Template):
        if id(t) not in self._compiled:
            self._compiled[id(t)] = re.compile(self._template_regex(t, 0, True), re.DOTALL)
        return self._compiled[id(t)]

    # ------------------------------------------------------------------------------------------- translating

    def translate(self, text: str, context: str | None = None) -> str:
        """The translation of `text` (a whole glued value, or one item of msgctxt `context`).

        Raises UntranslatedGlue when no template matches a text that has Latin letters; a text without any
        (a number, a date) or with Chinese characters (translated already) is returned as it is.
        """
        stripped = text.strip()
        if context is None and CJK.search(stripped):
            return text         # written in Chinese already (by the chapter, or by another translating step)
        for t in self.templates.get(context, []):
            m = self._compiled_template(t).fullmatch(stripped)
            if m is None:
                continue
            values = {}
            for p in t.parts:
                if isinstance(p, str) or p[0] in values:
                    continue
                raw = m.group(f"p{p[0]}")
                values[p[0]] = self._fill(raw, p[1], p[2])
            out = re.sub(r"\{(\d+)\}", lambda g: values[int(g.group(1))], t.msgstr)
            return text[: len(text) - len(text.lstrip())] + out + text[len(text.rstrip()):]
        if context is None and not re.search(r"[A-Za-z]", text):
            return text
        where = f" (as msgctxt {context!r})" if context else ""
        raise UntranslatedGlue(f"no template of the catalog matches{where}: {text!r}")

    def _fill(self, raw: str, kind, is_list) -> str:
        if kind in VERBATIM:
            return raw
        if not is_list:
            return self.translate(raw, kind)
        items, rest = [], raw
        one = self._context_regex(kind, 1)
        split = re.compile(f"(?P<head>{one})(?:, (?P<rest>(?:{one})(?:, (?:{one}))*))?", re.DOTALL)
        while rest is not None:
            m = split.fullmatch(rest)
            items.append(self.translate(m.group("head"), kind))
            rest = m.group("rest")
        return self.separators.get(", ", ", ").join(items)


def translate_bundle(catalog: GlueCatalog, data: dict) -> dict:
    """A glue output's mime bundle with its text translated (a new dict; the notebook's data stay as they are).

    `text/markdown` is translated as it is; `text/plain` only when it is the repr of a Python string (numbers,
    arrays and object reprs are left alone: myst-nb formats numbers itself).
    """
    new = dict(data)
    if isinstance(data.get("text/markdown"), str):
        new["text/markdown"] = catalog.translate(data["text/markdown"])
    plain = data.get("text/plain")
    if isinstance(plain, str):
        try:
            value = ast.literal_eval(plain)
        except (SyntaxError, ValueError):
            value = None
        if isinstance(value, str) and "text/markdown" not in data:
            new["text/plain"] = repr(catalog.translate(value))
    return new


# ------------------------------------------------------------------------------------------------ Sphinx side

_state: dict = {"catalog": None, "warned": set()}


def catalog_path(app) -> Path | None:
    language = app.config.language or "en"
    for locale_dir in app.config.locale_dirs or []:
        path = Path(app.srcdir, locale_dir, language, "glued.po")
        if path.is_file():
            return path
    return None


def _patch():
    from myst_nb.core.variables import RetrievalError, VariableOutput
    from myst_nb.ext.glue import directives, roles, utils

    if getattr(utils, "_glue_i18n", False):
        return
    retrieve = utils.retrieve_glue_data

    def retrieve_translated(document, key):
        result = retrieve(document, key)
        catalog = _state["catalog"]
        if catalog is None:
            return result
        try:
            data = translate_bundle(catalog, result.data)
        except UntranslatedGlue as exc:
            env = getattr(document.settings, "env", None)
            docname = env.docname if env is not None else "?"
            if (docname, key) not in _state["warned"]:
                _state["warned"].add((docname, key))
                from sphinx.util import logging

                logging.getLogger(__name__).warning(
                    f"glued value {key!r} is English with no translation in {_state['path']}: {exc}",
                    location=docname, type="glue_i18n", subtype="untranslated")
            return result
        except CatalogError as exc:  # a bad list split cannot happen after a match; be loud if it does
            raise RetrievalError(str(exc)) from exc
        return VariableOutput(data=data, metadata=result.metadata, nb_renderer=result.nb_renderer,
                              vtype=result.vtype, index=result.index)

    utils.retrieve_glue_data = retrieve_translated
    roles.retrieve_glue_data = retrieve_translated
    directives.retrieve_glue_data = retrieve_translated
    utils._glue_i18n = True


def _load(app, config=None):
    path = catalog_path(app)
    _state["path"] = path
    _state["warned"] = set()
    _state["catalog"] = GlueCatalog.from_po(path) if path else None
    if path:
        from sphinx.util import logging

        logging.getLogger(__name__).info(f"glue_i18n: {len(_state['catalog'])} templates from {path}")


def setup(app):
    _patch()
    app.connect("builder-inited", _load)
    # The catalog is loaded before the reading processes fork; each one has its own copy.
    return {"parallel_read_safe": True, "parallel_write_safe": True}
