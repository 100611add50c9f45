"""Reading PDFs: validation of uploads, anchor-text search and page previews.

Every PDF is held to :class:`~accord.documents.limits.PdfLimits` (decoded sizes, object
counts, image dimensions) before anything else reads it, and every call into PDFium runs in
a subprocess under a memory and time limit (:mod:`accord.documents.render_guard`): a
hostile document is refused with ``document_too_complex`` and costs the server nothing.

Coordinates: everything Accord places on a page (anchors found here, stamps drawn by
:mod:`accord.documents.stamp`) uses *page space*: points, origin at the bottom-left corner of
the page **as displayed** (the MediaBox after its /Rotate is applied). For the usual
unrotated page with a MediaBox at the origin this is plain PDF user space.
"""

from __future__ import annotations

import ctypes
import hashlib
import io
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from accord.documents.errors import DocumentError
from accord.documents.limits import PdfLimits, check_limits, default_limits, precheck
from accord.documents.render_guard import run_guarded

__all__ = ["AnchorHit", "DocumentError", "PageGeometry", "PdfInfo", "ensure_within_limits",
           "find_anchors", "geometry", "inspect_pdf", "render_page_png"]

# PDFium is not thread-safe; every call into it goes through this lock.
_PDFIUM_LOCK = threading.Lock()


@dataclass(frozen=True)
class PageGeometry:
    """Where a page sits in PDF user space and how it is turned for display."""

    llx: float
    lly: float
    width: float  # unrotated MediaBox width
    height: float  # unrotated MediaBox height
    rotate: int  # 0, 90, 180 or 270 (clockwise)

    @property
    def size(self) -> tuple[float, float]:
        """(width, height) of the page as displayed."""
        if self.rotate in (90, 270):
            return (self.height, self.width)
        return (self.width, self.height)

    def to_page_space(self, ux: float, uy: float) -> tuple[float, float]:
        """User-space point -> page-space point."""
        u, v = ux - self.llx, uy - self.lly
        if self.rotate == 90:
            return (v, self.width - u)
        if self.rotate == 180:
            return (self.width - u, self.height - v)
        if self.rotate == 270:
            return (self.height - v, u)
        return (u, v)

    def matrix(self) -> tuple[float, float, float, float, float, float]:
        """The ``cm`` matrix that maps page space onto user space."""
        w, h, x0, y0 = self.width, self.height, self.llx, self.lly
        if self.rotate == 90:
            return (0.0, 1.0, -1.0, 0.0, w + x0, y0)
        if self.rotate == 180:
            return (-1.0, 0.0, 0.0, -1.0, w + x0, h + y0)
        if self.rotate == 270:
            return (0.0, -1.0, 1.0, 0.0, x0, h + y0)
        return (1.0, 0.0, 0.0, 1.0, x0, y0)


def geometry(mediabox: tuple[float, float, float, float], rotate: object) -> PageGeometry:
    """Page geometry from a MediaBox (any corner order) and a raw /Rotate value."""
    x1, y1, x2, y2 = mediabox
    try:
        turn = int(rotate) % 360 if isinstance(rotate, int | float) else 0
    except (TypeError, ValueError):
        turn = 0
    if turn % 90:
        turn = 0
    return PageGeometry(
        llx=min(x1, x2), lly=min(y1, y2), width=abs(x2 - x1), height=abs(y2 - y1), rotate=turn
    )


@dataclass(frozen=True)
class PdfInfo:
    page_count: int
    page_sizes: list[tuple[float, float]]  # points, as displayed (after /Rotate)


@dataclass(frozen=True)
class AnchorHit:
    page: int  # 1-based
    x: float  # page-space points: where the anchor text's first glyph starts on its baseline
    y: float


def _read(data: bytes) -> PdfReader:
    if not data:
        raise DocumentError("document_empty", "The document is empty (0 bytes).")
    if not data.startswith(b"%PDF-"):
        raise DocumentError("document_not_pdf", "The document is not a PDF (no %PDF- header).")
    if b"%%EOF" not in data[-2048:]:
        raise DocumentError(
            "document_not_pdf", "The PDF is incomplete: it does not end with %%EOF (truncated?)."
        )
    try:
        return PdfReader(io.BytesIO(data), strict=True)
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError,
            RecursionError) as exc:
        raise DocumentError("document_not_pdf", f"The PDF could not be read: {exc}") from exc


_INSPECTED: OrderedDict[tuple[str, int, int, PdfLimits], PdfInfo] = OrderedDict()
_CHECKED: OrderedDict[tuple[str, PdfLimits], None] = OrderedDict()
_ANCHORS: OrderedDict[tuple[str, str, PdfLimits], list[AnchorHit]] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _remember(cache: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    with _CACHE_LOCK:
        cache[key] = value
        while len(cache) > 32:
            cache.popitem(last=False)


def inspect_pdf(data: bytes, *, max_bytes: int, max_pages: int,
                limits: PdfLimits | None = None) -> PdfInfo:
    """Validate an uploaded PDF and describe its pages; raise DocumentError if refused
    (``document_too_complex`` past ``limits``, by default the ``ACCORD_PDF_*`` settings).
    The last accepted documents are remembered by hash (bulk send makes many envelopes of
    one document)."""
    limits = limits or default_limits()
    digest = hashlib.sha256(data).hexdigest()
    key = (digest, max_bytes, max_pages, limits)
    with _CACHE_LOCK:
        hit = _INSPECTED.get(key)
    if hit is not None:
        return PdfInfo(hit.page_count, list(hit.page_sizes))
    info = _inspect_pdf(data, max_bytes=max_bytes, max_pages=max_pages, limits=limits)
    _remember(_INSPECTED, key, info)
    _remember(_CHECKED, (digest, limits), None)
    return PdfInfo(info.page_count, list(info.page_sizes))


def ensure_within_limits(data: bytes, limits: PdfLimits | None = None) -> None:
    """Hold a (possibly already accepted) document to ``limits`` before processing it:
    defence in depth for stamping, sealing and rendering. Cached by hash."""
    limits = limits or default_limits()
    key = (hashlib.sha256(data).hexdigest(), limits)
    with _CACHE_LOCK:
        if key in _CHECKED:
            return
    precheck(data, limits)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        encrypted = reader.is_encrypted
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError,
            RecursionError):
        return  # unreadable: the step that reads it next says so in its own words
    if not encrypted:
        check_limits(reader, limits)
    _remember(_CHECKED, key, None)


def _inspect_pdf(data: bytes, *, max_bytes: int, max_pages: int,
                 limits: PdfLimits) -> PdfInfo:
    if len(data) > max_bytes:
        raise DocumentError(
            "document_too_large",
            f"The document is {len(data):,} bytes; the limit is {max_bytes:,} bytes.",
        )
    precheck(data, limits)
    reader = _read(data)
    if reader.is_encrypted:
        raise DocumentError(
            "document_encrypted",
            "The PDF is encrypted or password-protected; upload an unprotected copy.",
        )
    check_limits(reader, limits)
    try:
        count = len(reader.pages)
        if count > max_pages:
            raise DocumentError(
                "document_too_many_pages",
                f"The document has {count} pages; the limit is {max_pages}.",
            )
        sizes: list[tuple[float, float]] = []
        for page in reader.pages:
            box = page.mediabox
            geo = geometry(
                (float(box.left), float(box.bottom), float(box.right), float(box.top)),
                page.get("/Rotate", 0),
            )
            if geo.width <= 0 or geo.height <= 0:
                raise DocumentError("document_bad_page", "A page of the PDF has no area.")
            sizes.append(geo.size)
    except DocumentError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError,
            RecursionError) as exc:
        raise DocumentError("document_not_pdf", f"The PDF could not be read: {exc}") from exc
    if count < 1:
        raise DocumentError("document_empty", "The PDF has no pages.")
    return PdfInfo(page_count=count, page_sizes=sizes)


@contextmanager
def _pdfium_document(data: bytes) -> Iterator[pdfium.PdfDocument]:
    with _PDFIUM_LOCK:
        try:
            doc = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            raise DocumentError("document_not_pdf", f"The PDF could not be opened: {exc}") from exc
        try:
            yield doc
        finally:
            doc.close()


def _page_geometry(page: pdfium.PdfPage) -> PageGeometry:
    return geometry(page.get_mediabox(), page.get_rotation())


def find_anchors(data: bytes, anchor: str, *, limits: PdfLimits | None = None
                 ) -> list[AnchorHit]:
    """Every occurrence of ``anchor`` (case-sensitive), in page order then reading order.

    Uses PDFium's text layer, which gives each character's origin exactly, however the
    producer split the text into runs (WeasyPrint included). The document is held to
    ``limits`` and PDFium runs in the guarded subprocess; results are cached by hash.
    """
    if not anchor.strip():
        raise ValueError("anchor text must not be blank")
    limits = limits or default_limits()
    key = (hashlib.sha256(data).hexdigest(), anchor, limits)
    with _CACHE_LOCK:
        cached = _ANCHORS.get(key)
    if cached is not None:
        return list(cached)
    ensure_within_limits(data, limits)
    hits: list[AnchorHit] = run_guarded(
        "accord.documents.pdf:_find_anchors", data, anchor,
        memory_bytes=limits.render_memory_bytes, timeout_s=limits.render_timeout_s).value
    _remember(_ANCHORS, key, hits)
    return list(hits)


def _find_anchors(data: bytes, anchor: str) -> list[AnchorHit]:
    """The job of :func:`find_anchors`, run in the guarded subprocess."""
    hits: list[AnchorHit] = []
    x, y = ctypes.c_double(), ctypes.c_double()
    with _pdfium_document(data) as doc:
        for index in range(len(doc)):
            page = doc[index]
            geo = _page_geometry(page)
            textpage = page.get_textpage()
            searcher = textpage.search(anchor, match_case=True)
            while (found := searcher.get_next()) is not None:
                char_index = found[0]
                if not pdfium_c.FPDFText_GetCharOrigin(
                    textpage, char_index, ctypes.byref(x), ctypes.byref(y)
                ):
                    left, bottom, _right, _top = textpage.get_charbox(char_index)
                    x.value, y.value = left, bottom
                px, py = geo.to_page_space(x.value, y.value)
                hits.append(AnchorHit(page=index + 1, x=round(px, 2), y=round(py, 2)))
    return hits


def render_page_png(data: bytes, page: int, *, width_px: int = 900,
                    limits: PdfLimits | None = None) -> bytes:
    """One page (1-based) as a PNG ``width_px`` wide, palette-reduced to stay small.
    The document is held to ``limits`` and rendered in the guarded subprocess."""
    if not 50 <= width_px <= 4000:
        raise ValueError("width_px must be between 50 and 4000")
    limits = limits or default_limits()
    ensure_within_limits(data, limits)
    png: bytes = run_guarded(
        "accord.documents.pdf:_render_page_png", data, page, width_px,
        memory_bytes=limits.render_memory_bytes, timeout_s=limits.render_timeout_s).value
    return png


def _render_page_png(data: bytes, page: int, width_px: int) -> bytes:
    """The job of :func:`render_page_png`, run in the guarded subprocess."""
    with _pdfium_document(data) as doc:
        if not 1 <= page <= len(doc):
            raise DocumentError(
                "document_bad_page", f"Page {page} does not exist (1-{len(doc)})."
            )
        pdf_page = doc[page - 1]
        width_pt, _height_pt = pdf_page.get_size()
        scale = width_px / max(width_pt, 1.0)
        bitmap = pdf_page.render(scale=scale, draw_annots=True, may_draw_forms=False)
        image = bitmap.to_pil().convert("RGB")
    small = image.quantize(colors=128, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=False, compress_level=9)
    return out.getvalue()
