"""Generated content stays as it was generated: text inside a ``{container} untranslated`` is neither extracted
into the translation catalogs nor translated.

book/performance.md includes benchmarks/results.md, which `benchmarks/run.py` rewrites with every measurement
(dates, machine names, seconds). Translating it would make every benchmark run leave the Chinese catalog out of
date; like a code cell's printed output, it is shown as generated, in both editions.
"""
from __future__ import annotations

from docutils import nodes
from sphinx.transforms import SphinxTransform

CLASS = "untranslated"


class MarkUntranslated(SphinxTransform):
    # Before Sphinx's Locale transform (priority 20), which translates, and the gettext builder's extraction.
    default_priority = 10

    def apply(self, **kwargs) -> None:
        for container in self.document.findall(nodes.Element):
            if CLASS in container.get("classes", []):
                for node in container.findall(nodes.TextElement):
                    node["translatable"] = False


def setup(app):
    app.add_transform(MarkUntranslated)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
