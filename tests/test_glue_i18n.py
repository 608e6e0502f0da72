"""Glued English phrases in the Chinese edition (book/_ext/glue_i18n.py, catalog locales/zh_CN/glued.po).

The English the templates must cover is taken from the code that writes it, not copied here: `compare` is
executed from the chapters' own source (every outcome over 1-5 seeds), the breakdown note and the calibration
conclusion are evaluated from the expression inside their `glue(...)` call for each input they can get, the
class names come from regcourse.data.TEXT_LABELS and the benchmark strings from benchmarks/epoch_time.py. If
a chapter changes its wording, these tests fail until glued.po has the new template.
"""
from __future__ import annotations

import ast
import json
import re
import sys
import textwrap
from datetime import datetime, timezone
from itertools import product
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))

from glue_i18n import CatalogError, GlueCatalog, UntranslatedGlue, translate_bundle  # noqa: E402

PO = ROOT / "locales" / "zh_CN" / "glued.po"
GENERATOR_NOTEBOOKS = [ROOT / "book" / "dropout" / "04_experiments.ipynb",
                       ROOT / "book" / "dropout" / "05_with_weight_decay.ipynb"]
CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


@pytest.fixture(scope="module")
def catalog():
    return GlueCatalog.from_po(PO)


def numbers(text: str) -> list[str]:
    return sorted(re.findall(r"\d+(?:\.\d+)*", text))


def assert_chinese(english: str, chinese: str, keep=()):
    """Translated: Chinese text, the same numbers, no English word left except names it must keep."""
    assert CJK.search(chinese), f"{english!r} -> {chinese!r} has no Chinese"
    assert numbers(chinese) == numbers(english), f"numbers changed: {english!r} -> {chinese!r}"
    rest = chinese
    for name in keep:
        rest = rest.replace(name, "")
    assert not LATIN_WORD.search(rest.replace("ECE", "").replace("UTC", "")), \
        f"English left in {chinese!r} (from {english!r})"


# ----------------------------------------------------------------------------------- the generators' source


def code_cells(nb_path: Path):
    nb = json.loads(nb_path.read_text(encoding="utf8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def generator_sources() -> list[str]:
    """The code that may write glued text: the chapters' cells, and regcourse/chapters/ (code harvested from
    them), where a refactoring may move it."""
    sources = [cell for nb in GENERATOR_NOTEBOOKS for cell in code_cells(nb)]
    return sources + [p.read_text(encoding="utf8") for p in sorted((ROOT / "regcourse" / "chapters").glob("*.py"))]


def function_source(name: str) -> list[str]:
    """Every definition of function `name` in the generating code."""
    found = []
    for src in generator_sources():
        try:
            tree = ast.parse(textwrap.dedent(src.replace("%matplotlib inline", "")))
        except SyntaxError:
            continue
        found += [ast.get_source_segment(src, node) for node in ast.walk(tree)
                  if isinstance(node, ast.FunctionDef) and node.name == name]
    return found


def glued_expression(key: str):
    """The expression glued under `key` (the argument of Markdown(...) in `glue("key", Markdown(expr))`)."""
    for src in generator_sources():
        if f'"{key}"' not in src:
            continue
        for node in ast.walk(ast.parse(src)):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "glue" and node.args
                    and isinstance(node.args[0], ast.Constant) and node.args[0].value == key):
                value = node.args[1]
                if isinstance(value, ast.Call) and getattr(value.func, "id", None) == "Markdown":
                    value = value.args[0]
                return compile(ast.Expression(value), f"<glue {key}>", "eval"), \
                    {n.id for n in ast.walk(value) if isinstance(n, ast.Name)}
    raise AssertionError(f"glue({key!r}, ...) not found in the chapters' code: tell tests/test_glue_i18n.py where "
                         "it went")


def compare_outcomes():
    """Every string any version of compare() in the chapters returns, over 1 to 5 seeds, ties included."""
    defs = function_source("compare")
    assert defs, "compare() not found in the chapters: tell tests/test_glue_i18n.py where it went"
    out = set()
    for src in defs:
        ns: dict = {}
        exec(src, ns)  # noqa: S102  (the chapters' own function)
        for n in range(1, 6):
            for pattern in product((-1.0, 0.0, 1.0), repeat=n):     # a[i] below, equal to, above b[i]
                out.add(ns["compare"]([1.0 + d for d in pattern], [1.0] * n))
    return sorted(out)


# ------------------------------------------------------------------------------------------- the templates


def test_every_outcome_of_compare_translates(catalog):
    outcomes = compare_outcomes()
    assert len(outcomes) > 10, outcomes            # 2 unanimous verdicts and the mixed ones for 2..5 seeds
    for english in outcomes:
        chinese = catalog.translate(english)
        assert_chinese(english, chinese)
    assert catalog.translate("lower in 2 of 3 seeds and higher in 1: no consistent difference at this budget") \
        == "在 3 个随机种子中有 2 个更低、1 个更高：在这一训练预算下没有一致的差异"


def run_label_values():
    for src in generator_sources():
        m = re.search(r"^key = (\{.*\})$", src, re.M)
        if m:
            return list(ast.literal_eval(m.group(1)))
    raise AssertionError("the run labels (key = {...}) of 04_experiments were not found")


@pytest.mark.parametrize("n_broke", [0, 1, 2, 6])
def test_the_breakdown_note_translates_with_any_number_of_broken_runs(catalog, n_broke):
    code, names = glued_expression("breakdown_note")
    assert names <= {"broke", "len", "label", "seed"}, f"breakdown_note now depends on {names}: teach this test"
    labels = run_label_values()
    broke = [(labels[i % len(labels)], 10 * i + 3) for i in range(n_broke)]
    english = eval(code, {"broke": broke})  # noqa: S307  (the chapter's expression)
    chinese = catalog.translate(english)
    assert_chinese(english, chinese)
    for _, seed in broke:
        assert f"随机种子 {seed}" in chinese
    assert chinese.count("使用暂退法") == n_broke              # each run named, with dropout or without


@pytest.mark.parametrize("better_calibrated", [True, False])
def test_both_calibration_conclusions_translate(catalog, better_calibrated):
    code, names = glued_expression("calibration_conclusion")
    assert names == {"better_calibrated"}, f"calibration_conclusion now depends on {names}: teach this test"
    english = eval(code, {"better_calibrated": better_calibrated})  # noqa: S307
    chinese = catalog.translate(english)
    assert_chinese(english, chinese)
    assert ("并非" in chinese) == (not better_calibrated)


def test_every_class_name_translates(catalog):
    from regcourse.data import TEXT_LABELS

    translated = [catalog.translate(label) for label in TEXT_LABELS]
    for english, chinese in zip(TEXT_LABELS, translated):
        assert_chinese(english, chinese, keep=("T",))
    assert len(set(translated)) == len(TEXT_LABELS)


def benchmark_expression(field: str):
    src = (ROOT / "benchmarks" / "epoch_time.py").read_text(encoding="utf8")
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values):
                if isinstance(k, ast.Constant) and k.value == field:
                    return compile(ast.Expression(v), field, "eval")
    raise AssertionError(f"{field!r} not found in benchmarks/epoch_time.py")


@pytest.mark.parametrize("processor, machine, cpus, version, threads", [
    ("", "x86_64", 2, "2.14.1", 2),
    ("x86_64", "x86_64", 64, "2.5.0+cpu", 1),
    ("arm", "arm64", 10, "2.5.0a0+git1234", 8),
    ("Intel64 Family 6 Model 85 Stepping 7, GenuineIntel", "AMD64", 16, "2.4.1", 16),
])
def test_the_benchmark_machine_translates(catalog, processor, machine, cpus, version, threads):
    ns = {"platform": SimpleNamespace(processor=lambda: processor, machine=lambda: machine),
          "os": SimpleNamespace(cpu_count=lambda: cpus),
          "torch": SimpleNamespace(__version__=version, get_num_threads=lambda: threads)}
    english = eval(benchmark_expression("machine"), ns)  # noqa: S307  (the benchmark's own expression)
    chinese = catalog.translate(english)
    name, short_version = processor or machine, version.split("+")[0]
    assert_chinese(english, chinese, keep=(name, short_version, "CPU", "torch"))
    assert chinese.startswith(name) and f"{cpus} 个逻辑 CPU" in chinese and f"{threads} 个线程" in chinese


def test_the_benchmark_date_translates(catalog):
    english = eval(benchmark_expression("measured_at"), {"datetime": datetime, "timezone": timezone})  # noqa: S307
    chinese = catalog.translate(english)
    assert chinese.startswith(english[:16]) and "UTC" in chinese and numbers(chinese) == numbers(english)


# -------------------------------------------------------------------------------------- matching, by itself


TOY = [
    ("lower", "更低", None),
    ("{0} of {1} seeds, best {0}", "{1} 个中的 {0} 个，最好 {0}", None),
    ("above 0.6 in {0:run+}", "在 {0} 中高于 0.6", None),
    ("run {0} of {1:who}", "{1} 的第 {0} 次", "run"),
    ("dropout (0.2, 0.5)", "暂退法（0.2, 0.5）", "who"),
    ("plain", "普通", "who"),
    (", ", "；", "list separator"),
]


def test_numbers_are_put_back_character_for_character():
    cat = GlueCatalog(TOY)
    assert cat.translate("3 of 12 seeds, best 3") == "12 个中的 3 个，最好 3"
    assert cat.translate("-1.50e-03 of 1,000 seeds, best -1.50e-03") == "1,000 个中的 -1.50e-03 个，最好 -1.50e-03"
    assert cat.translate("  lower\n") == "  更低\n"                      # surrounding blanks kept


def test_a_repeated_placeholder_must_repeat_the_same_number():
    with pytest.raises(UntranslatedGlue):
        GlueCatalog(TOY).translate("3 of 12 seeds, best 4")


def test_lists_of_items_whose_labels_hold_commas():
    cat = GlueCatalog(TOY)
    english = "above 0.6 in run 1 of dropout (0.2, 0.5), run 2 of plain, run 3 of dropout (0.2, 0.5)"
    assert cat.translate(english) == ("在 暂退法（0.2, 0.5） 的第 1 次；普通 的第 2 次；暂退法（0.2, 0.5） 的第 3 次"
                                      " 中高于 0.6")


def test_an_unknown_phrase_is_an_error_not_english_shown_silently(catalog):
    for english in ("lower on average", "lower in every seed!", "lower in two of 3 seeds and higher in 1: "
                    "no consistent difference at this budget", "above 0.6 in run 1 of nobody"):
        with pytest.raises(UntranslatedGlue, match="no template"):
            (catalog if "seed" in english else GlueCatalog(TOY)).translate(english)


def test_text_without_latin_letters_needs_no_template(catalog):
    for text in ("0.123", "12 %", "2026-11-22", "已经是中文", "", "x86_64，2 个逻辑 CPU，torch 2.14.1"):
        assert catalog.translate(text) == text


@pytest.mark.parametrize("msgid, msgstr, problem", [
    ("lower in {0} of {1}", "{0} 中", "placeholders"),               # drops {1}
    ("lower in {0}", "{0} 中 {1}", "placeholders"),                  # invents {1}
    ("above 0.6 in {0}", "在 {0} 中更高", "number"),                 # drops a number written in the msgid
    ("in {0:nowhere}", "在 {0}", "names no msgctxt"),
    ("lower", "", "untranslated"),
])
def test_a_template_that_would_lose_a_number_is_rejected(msgid, msgstr, problem):
    with pytest.raises(CatalogError, match=problem):
        GlueCatalog([(msgid, msgstr, None)])


def test_the_catalog_file_is_clean():
    from babel.messages.pofile import read_po

    with open(PO, "rb") as f:
        po = read_po(f)
    entries = [m for m in po if m.id]
    assert entries and all(m.string and not m.fuzzy for m in entries)
    assert len(GlueCatalog.from_po(PO)) == len(entries) - 1          # all but the list separator are templates


def test_bundles_translate_text_and_leave_numbers_and_the_notebook_alone(catalog):
    data = {"text/markdown": "higher in every seed", "text/plain": "<IPython.core.display.Markdown object>"}
    new = translate_bundle(catalog, data)
    assert new["text/markdown"] == "在每个随机种子中都更高" and data["text/markdown"] == "higher in every seed"
    assert new["text/plain"] == data["text/plain"]
    assert translate_bundle(catalog, {"text/plain": "0.1234"}) == {"text/plain": "0.1234"}
    words = translate_bundle(catalog, {"text/plain": "'lower in every seed'"})
    assert words == {"text/plain": "'在每个随机种子中都更低'"}
    with pytest.raises(UntranslatedGlue):
        translate_bundle(catalog, {"text/plain": "'a new verdict'"})


# ------------------------------------------------------------------------ the values glued today (the cache)


def cached_text_glue():
    """(notebook, key, text) of every glued text value in the book's execution cache."""
    from jupyter_cache import get_cache

    cache = get_cache(ROOT / "_build" / ".jupyter_cache")
    out = []
    for record in cache.list_cache_records():
        nb = cache.get_cache_bundle(record.pk).nb
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                meta = output.get("metadata", {}).get("scrapbook")
                if not meta:
                    continue
                prefix = meta.get("mime_prefix", "")
                data = {k[len(prefix):]: v for k, v in output.get("data", {}).items()}
                out.append((Path(record.uri).name, meta["name"], data))
    return out


@pytest.mark.slow
@pytest.mark.built_book
def test_every_text_glued_in_the_execution_cache_translates(catalog):
    if not (ROOT / "_build" / ".jupyter_cache").is_dir():
        pytest.fail("No execution cache at _build/.jupyter_cache: build the English book first.")
    glued = cached_text_glue()
    texts = [(nb, key, data.get("text/markdown")) for nb, key, data in glued if "text/markdown" in data]
    assert len({key for _, key, _ in texts}) >= 30, texts
    problems = []
    for nb, key, data in glued:
        try:
            translate_bundle(catalog, data)
        except UntranslatedGlue as exc:
            problems.append(f"{nb} {key}: {exc}")
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------------- in a Sphinx build


NOTEBOOK_GLUE = {"verdict": "lower in every seed", "mixed": "lower in 2 of 3 seeds and higher in 1: no consistent "
                 "difference at this budget", "label": "ankle boot"}


def _tiny_book(tmp_path: Path, extra_glue: dict[str, str] | None = None) -> Path:
    import nbformat

    src = tmp_path / "src"
    (src / "locales" / "zh_CN").mkdir(parents=True)
    (src / "locales" / "zh_CN" / "glued.po").write_text(PO.read_text(encoding="utf8"), encoding="utf8")
    glue = {**NOTEBOOK_GLUE, **(extra_glue or {})}
    outputs = [nbformat.v4.new_output(
        "display_data", data={"application/papermill.record/text/markdown": text,
                              "application/papermill.record/text/plain": "<IPython.core.display.Markdown object>"},
        metadata={"scrapbook": {"name": key, "mime_prefix": "application/papermill.record/"}})
        for key, text in glue.items()]
    outputs.append(nbformat.v4.new_output(
        "display_data", data={"application/papermill.record/text/plain": "0.4321"},
        metadata={"scrapbook": {"name": "loss", "mime_prefix": "application/papermill.record/"}}))
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Page\n\n" + " ".join(f"[{k}: {{glue:md}}`{k}`]" for k in glue)
                                      + " [loss: {glue:text}`loss:.2f`]"),
        nbformat.v4.new_code_cell("glue(...)", outputs=outputs),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, src / "index.ipynb")
    (src / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'book' / '_ext')!r})\n"
        "extensions = ['myst_nb', 'glue_i18n']\nnb_execution_mode = 'off'\nlocale_dirs = ['locales']\n"
        "exclude_patterns = ['_build']\nshow_warning_types = True\n", encoding="utf8")
    return src


def _build(src: Path, language: str) -> tuple[str, str]:
    from io import StringIO

    from sphinx.application import Sphinx

    warnings = StringIO()
    out = src / "_build" / language
    app = Sphinx(str(src), str(src), str(out), str(src / "_build" / f".doctrees-{language}"), "html",
                 confoverrides={"language": language}, status=None, warning=warnings, freshenv=True)
    app.build()
    html = (out / "index.html").read_text(encoding="utf8")
    return html, warnings.getvalue()


def test_a_chinese_build_shows_the_translations_and_the_english_build_the_english(tmp_path):
    src = _tiny_book(tmp_path)
    zh, zh_warnings = _build(src, "zh_CN")
    assert "glue_i18n" not in zh_warnings, zh_warnings
    assert "[verdict: 在每个随机种子中都更低]" in zh
    assert "[mixed: 在 3 个随机种子中有 2 个更低、1 个更高：在这一训练预算下没有一致的差异]" in zh
    assert "[label: 短靴]" in zh and "0.43" in zh and "lower in every seed" not in zh
    en, en_warnings = _build(src, "en")
    assert "[verdict: lower in every seed]" in en and "[label: ankle boot]" in en, en_warnings


def test_a_glued_phrase_without_template_is_a_warning_naming_key_and_text(tmp_path):
    src = _tiny_book(tmp_path, {"novel": "lower in most seeds"})
    zh, warnings = _build(src, "zh_CN")
    assert "'novel'" in warnings and "lower in most seeds" in warnings and "glue_i18n.untranslated" in warnings, \
        warnings
    assert "[verdict: 在每个随机种子中都更低]" in zh                 # the others are still translated
