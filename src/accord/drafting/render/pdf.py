"""WeasyPrint: HTML to PDF with no network, and field boxes read back from the layout.

Imported lazily by ``render.render`` so that checking sources does not load WeasyPrint.
The parsed print stylesheet, the font configuration and the URL fetcher are built once
per thread (WeasyPrint objects are not shared between threads) and reused.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any

from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

from accord.drafting.render.css import PRINT_CSS
from accord.drafting.render.errors import TemplateError
from accord.drafting.tags import FIELD_ID_PREFIX, TagRef

__all__ = ["PX_TO_PT", "DataOnlyFetcher", "FieldBox", "build", "layout", "resources", "warm"]

PX_TO_PT = 0.75  # CSS px are 1/96 in, PDF points 1/72 in
_FONT_FACE = re.compile(r"@font-face", re.IGNORECASE)

FieldBox = tuple[TagRef, int, float, float, float, float]   # ref, page, x, y, w, h (pt)


class DataOnlyFetcher(URLFetcher):  # type: ignore[misc]  # WeasyPrint is untyped
    """Refuses every URL but ``data:``: a template can embed an image, never fetch one."""

    def __init__(self) -> None:
        super().__init__(allowed_protocols=("data",), allow_redirects=False, timeout=1)
        self.refused: list[str] = []

    def fetch(self, url: str, headers: Any = None) -> Any:
        if url[:5].lower() != "data:":
            self.refused.append(url[:200])
            raise ValueError(f"Accord does not fetch {url[:80]!r}: embed it as a data: URL")
        return super().fetch(url, headers)


class _Resources(threading.local):
    def __init__(self) -> None:
        self.font_config = FontConfiguration()
        self.stylesheet = CSS(string=PRINT_CSS, font_config=self.font_config)
        self.fetcher = DataOnlyFetcher()


_RESOURCES = _Resources()


def resources() -> _Resources:
    """This thread's font configuration, parsed stylesheet and fetcher."""
    return _RESOURCES


def layout(html: str, refs: Sequence[TagRef],
           prefix: str = FIELD_ID_PREFIX) -> tuple[Any, list[FieldBox]]:
    """Lay out ``html`` (a WeasyPrint Document) and find each field box -- the element
    with id ``f"{prefix}{index}"`` -- on its page."""
    res = _RESOURCES
    # A document that declares its own fonts gets a fresh configuration, so its fonts
    # never leak into other documents rendered on this thread.
    font_config = FontConfiguration() if _FONT_FACE.search(html) else res.font_config
    document = HTML(string=html, url_fetcher=res.fetcher).render(
        stylesheets=[res.stylesheet], font_config=font_config)
    found: dict[int, tuple[int, tuple[float, float, float, float]]] = {}
    for number, page in enumerate(document.pages, 1):
        for anchor, rect in page.anchors.items():
            suffix = anchor[len(prefix):]
            if anchor.startswith(prefix) and suffix.isdigit():
                found.setdefault(int(suffix), (number, rect))
    boxes: list[FieldBox] = []
    for index, ref in enumerate(refs):
        if index not in found:
            raise TemplateError(f"the field tag {ref.text} does not appear on any page "
                                "(is it hidden?)", code="template_tag")
        number, (x1, y1, x2, y2) = found[index]
        boxes.append((ref, number, x1 * PX_TO_PT, y1 * PX_TO_PT,
                      (x2 - x1) * PX_TO_PT, (y2 - y1) * PX_TO_PT))
    return document, boxes


def build(html: str, refs: Sequence[TagRef], prefix: str
          ) -> tuple[str, Any]:
    """Lay out and write the PDF: the job ``render.render`` runs in the guarded subprocess
    (:mod:`accord.documents.render_guard`). ``("ok", (pdf, boxes, pages, refused_urls))``,
    or ``("template_error", (reason, code))`` for a layout the engine refuses."""
    refused = _RESOURCES.fetcher.refused
    before = len(refused)
    try:
        document, boxes = layout(html, refs, prefix)
    except TemplateError as exc:
        return "template_error", (exc.reason, exc.code)
    pdf: bytes = document.write_pdf()
    return "ok", (pdf, boxes, len(document.pages), refused[before:])


def warm() -> None:
    """Lay out a small document once, so that the render guard's helper process holds warm
    font caches that every forked child inherits."""
    html = ("<html><body><h1>Accord</h1><p>Warm <b>up</b> <i>fonts</i> "
            "<code>1234</code></p><table><tr><td>a</td></tr></table></body></html>")
    HTML(string=html).render(stylesheets=[_RESOURCES.stylesheet],
                             font_config=_RESOURCES.font_config).write_pdf()
