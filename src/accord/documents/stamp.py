"""Stamping completed fields onto a document's pages.

Each stamped page gets one extra content stream drawn on top of the original (which is
wrapped in ``q``/``Q`` so its graphics state cannot leak into the overlay). Everything is
emitted as raw PDF operators with standard-14 fonts and image XObjects: no rendering engine
in the loop, so a typical document is stamped in a few milliseconds.
"""

from __future__ import annotations

import io
import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from pypdf import PdfReader, PdfWriter
from pypdf.errors import PyPdfError
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    NumberObject,
    PdfObject,
    StreamObject,
)

from accord.documents.drawing import (
    Font,
    PdfImage,
    draw_image,
    encode,
    fit_image,
    load_png,
    num,
    text_line,
    wrap,
)
from accord.documents.pdf import DocumentError, PageGeometry, ensure_within_limits, geometry

KINDS = frozenset({"signature", "initials", "text", "date_signed", "checkbox"})
MAX_FONT_SIZE = 12.0
MIN_FONT_SIZE = 5.0
LEADING = 1.18
CAP_HEIGHT = 0.72  # Helvetica cap height, as a fraction of the font size
INK = b"0.05 0.1 0.3"  # dark blue, like a pen


@dataclass(frozen=True)
class Stamp:
    page: int  # 1-based
    x: float  # points, page space (origin bottom-left of the page as displayed)
    y: float
    width: float
    height: float
    kind: str  # "signature" | "initials" | "text" | "date_signed" | "checkbox"
    text: str | None = None
    image_png: bytes | None = None
    checked: bool = False


class _Overlay:
    """The content stream and resources being built for one page."""

    def __init__(self, writer: PdfWriter, taken_names: set[str]) -> None:
        self.writer = writer
        self.ops: list[bytes] = []
        self.fonts: dict[Font, str] = {}
        self.images: dict[int, tuple[str, IndirectObject]] = {}
        self._taken = taken_names
        self._images_by_id: dict[int, PdfImage] = {}

    def _name(self, prefix: str) -> str:
        n = 1
        while f"{prefix}{n}" in self._taken:
            n += 1
        name = f"{prefix}{n}"
        self._taken.add(name)
        return name

    def font(self, font: Font) -> bytes:
        if font not in self.fonts:
            self.fonts[font] = self._name("AccF")
        return self.fonts[font].encode("ascii")

    def image(self, image: PdfImage, cache: dict[int, IndirectObject]) -> bytes:
        key = id(image)
        if key not in self.images:
            if key not in cache:
                cache[key] = _add_image(self.writer, image)
            self.images[key] = (self._name("AccI"), cache[key])
        return self.images[key][0].encode("ascii")


def _add_image(writer: PdfWriter, image: PdfImage) -> IndirectObject:
    stream = StreamObject()
    stream.update(
        {
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Image"),
            NameObject("/Width"): NumberObject(image.width),
            NameObject("/Height"): NumberObject(image.height),
            NameObject("/BitsPerComponent"): NumberObject(8),
            NameObject("/ColorSpace"): NameObject(image.colour_space.decode("ascii")),
            NameObject("/Filter"): NameObject("/FlateDecode"),
        }
    )
    stream.set_data(image.data)  # already Flate-encoded: StreamObject stores as-is
    if image.alpha is not None:
        mask = StreamObject()
        mask.update(
            {
                NameObject("/Type"): NameObject("/XObject"),
                NameObject("/Subtype"): NameObject("/Image"),
                NameObject("/Width"): NumberObject(image.width),
                NameObject("/Height"): NumberObject(image.height),
                NameObject("/BitsPerComponent"): NumberObject(8),
                NameObject("/ColorSpace"): NameObject("/DeviceGray"),
                NameObject("/Filter"): NameObject("/FlateDecode"),
            }
        )
        mask.set_data(image.alpha)
        stream[NameObject("/SMask")] = writer._add_object(mask)
    return writer._add_object(stream)


def _check(stamp: Stamp, page_count: int) -> None:
    problem = None
    if stamp.kind not in KINDS:
        problem = f"unknown stamp kind {stamp.kind!r}"
    elif not 1 <= stamp.page <= page_count:
        problem = f"page {stamp.page} does not exist (the document has {page_count})"
    elif not (stamp.width > 0 and stamp.height > 0):
        problem = "a stamp needs a positive width and height"
    elif stamp.kind in ("text", "date_signed") and stamp.text is None:
        problem = f"a {stamp.kind} stamp needs text"
    elif stamp.kind in ("signature", "initials") and not (stamp.image_png or stamp.text):
        problem = f"a {stamp.kind} stamp needs an image or text"
    if problem:
        raise DocumentError("document_bad_stamp", f"Cannot stamp the field: {problem}.")


def _text_ops(overlay: _Overlay, stamp: Stamp, text: str, font: Font) -> bytes:
    """Text fitted into the stamp's box: one line if it fits, else wrapped, else shrunk."""
    x, y, w, h = stamp.x, stamp.y, stamp.width, stamp.height
    pad = min(2.0, w * 0.05)
    inner_w = max(w - 2 * pad, 1.0)
    size = max(min(MAX_FONT_SIZE, h * 0.75), MIN_FONT_SIZE)
    line = encode(" ".join(text.split()))
    name = overlay.font(font)
    if font.width(line, size) > inner_w:
        single = size * inner_w / max(font.width(line, size), 0.01)
        if single >= max(size * 0.7, MIN_FONT_SIZE):
            size = single
        else:
            lines: list[bytes] = []
            while size >= MIN_FONT_SIZE:
                lines = wrap(text, font, size, inner_w)
                if len(lines) * size * LEADING <= h:
                    break
                size -= 0.5
            size = max(size, MIN_FONT_SIZE)
            top = y + h - size
            out = [b"q %s %s %s %s re W n %s rg\n" % (num(x), num(y), num(w), num(h), INK)]
            for i, part in enumerate(lines):
                out.append(text_line(name, size, x + pad, top - i * size * LEADING, part))
            out.append(b"Q\n")
            return b"".join(out)
    baseline = y + (h - size * CAP_HEIGHT) / 2
    return b"q %s %s %s %s re W n %s rg\n%sQ\n" % (
        num(x), num(y), num(w), num(h), INK, text_line(name, size, x + pad, baseline, line)
    )


def _checkbox_ops(stamp: Stamp) -> bytes:
    side = min(stamp.width, stamp.height)
    x = stamp.x + (stamp.width - side) / 2
    y = stamp.y + (stamp.height - side) / 2
    lw = max(side * 0.06, 0.5)
    ops = [b"q %s w 0 0 0 RG %s %s %s %s re S\n" % (
        num(lw), num(x + lw / 2), num(y + lw / 2), num(side - lw), num(side - lw)
    )]
    if stamp.checked:
        ops.append(
            b"%s RG %s w 1 J 1 j %s %s m %s %s l %s %s l S\n" % (
                INK, num(max(side * 0.12, 0.8)),
                num(x + side * 0.2), num(y + side * 0.52),
                num(x + side * 0.42), num(y + side * 0.25),
                num(x + side * 0.8), num(y + side * 0.78),
            )
        )
    ops.append(b"Q\n")
    return b"".join(ops)


def _stamp_ops(overlay: _Overlay, stamp: Stamp, image_cache: dict[int, IndirectObject]) -> bytes:
    if stamp.kind == "checkbox":
        return _checkbox_ops(stamp)
    if stamp.kind in ("signature", "initials"):
        if stamp.image_png:
            image = load_png(stamp.image_png)
            name = overlay.image(image, image_cache)
            return draw_image(name, fit_image(image, stamp.x, stamp.y, stamp.width, stamp.height))
        return _text_ops(overlay, stamp, stamp.text or "", Font.HELVETICA_OBLIQUE)
    return _text_ops(overlay, stamp, stamp.text or "", Font.HELVETICA)


def _inherited(page: DictionaryObject, key: str) -> PdfObject | None:
    """A page attribute, looked up the /Parent chain as PDF inheritance prescribes."""
    node: PdfObject | None = page
    for _depth in range(64):  # guards against /Parent loops
        if node is None:
            break
        node_dict = node.get_object()
        if not isinstance(node_dict, DictionaryObject):
            break
        if key in node_dict:
            return node_dict[key].get_object()
        node = node_dict.get("/Parent")
    return None


def _page_geometry(page: DictionaryObject) -> PageGeometry:
    box = _inherited(page, "/MediaBox")
    if not isinstance(box, ArrayObject) or len(box) != 4:
        raise DocumentError("document_bad_page", "A page of the PDF has no valid MediaBox.")
    x1, y1, x2, y2 = (float(v.get_object()) for v in box)
    return geometry((x1, y1, x2, y2), _inherited(page, "/Rotate") or 0)


def _resources(page: DictionaryObject) -> DictionaryObject:
    """The page's own /Resources dictionary, made direct-and-local if it was inherited."""
    found = _inherited(page, "/Resources")
    resources = DictionaryObject()
    if isinstance(found, DictionaryObject):
        resources.update(found)
    page[NameObject("/Resources")] = resources
    return resources


def _sub_dict(resources: DictionaryObject, key: str) -> DictionaryObject:
    existing = resources.get(key)
    sub = DictionaryObject()
    if existing is not None and isinstance(existing.get_object(), DictionaryObject):
        sub.update(existing.get_object())
    resources[NameObject(key)] = sub
    return sub


def _content_stream(writer: PdfWriter, data: bytes) -> IndirectObject:
    stream = StreamObject()
    stream[NameObject("/Filter")] = NameObject("/FlateDecode")
    stream.set_data(zlib.compress(data, 6))
    return writer._add_object(stream)


def stamp_pdf(data: bytes, stamps: Sequence[Stamp]) -> bytes:
    """Return a new PDF with every stamp drawn onto its page (the document is held to the
    document limits first: ``document_too_complex``)."""
    ensure_within_limits(data)
    try:
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data), strict=False))
        pages = list(writer.pages)
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DocumentError("document_not_pdf", f"The PDF could not be read: {exc}") from exc
    for stamp in stamps:
        _check(stamp, len(pages))
    by_page: dict[int, list[Stamp]] = defaultdict(list)
    for stamp in stamps:
        by_page[stamp.page].append(stamp)
    image_cache: dict[int, IndirectObject] = {}
    font_refs: dict[Font, IndirectObject] = {}
    opening: IndirectObject | None = None
    for page_no, page_stamps in sorted(by_page.items()):
        page = pages[page_no - 1]
        geo = _page_geometry(page)
        resources = _resources(page)
        fonts = _sub_dict(resources, "/Font")
        xobjects = _sub_dict(resources, "/XObject")
        taken = {str(k)[1:] for k in (*fonts.keys(), *xobjects.keys())}
        overlay = _Overlay(writer, taken)
        body = b"".join(_stamp_ops(overlay, s, image_cache) for s in page_stamps)
        for font, name in overlay.fonts.items():
            if font not in font_refs:
                font_refs[font] = _font_object(writer, font)
            fonts[NameObject("/" + name)] = font_refs[font]
        for name, ref in overlay.images.values():
            xobjects[NameObject("/" + name)] = ref
        matrix = b" ".join(num(v) for v in geo.matrix())
        overlay_ref = _content_stream(writer, b"Q q %s cm\n%sQ\n" % (matrix, body))
        if opening is None:
            opening = _content_stream(writer, b"q\n")
        contents = page.get("/Contents")
        existing: list[PdfObject] = []
        resolved = contents.get_object() if isinstance(contents, IndirectObject) else None
        if isinstance(resolved, ArrayObject):
            existing = list(resolved)
        elif isinstance(contents, ArrayObject):
            existing = list(contents)
        elif contents is not None:
            existing = [contents]
        page[NameObject("/Contents")] = ArrayObject([opening, *existing, overlay_ref])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _font_object(writer: PdfWriter, font: Font) -> IndirectObject:
    return writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/" + font.value),
                NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
            }
        )
    )
