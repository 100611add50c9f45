"""Turning field requests into boxes on pages: by coordinates or by anchor text."""

from __future__ import annotations

from dataclasses import dataclass

from accord.documents.pdf import DocumentError, find_anchors
from accord.envelopes.domain import FieldKind
from accord.errors import InvalidInput

DEFAULT_SIZE: dict[FieldKind, tuple[float, float]] = {
    FieldKind.SIGNATURE: (160.0, 44.0),
    FieldKind.INITIALS: (60.0, 32.0),
    FieldKind.TEXT: (160.0, 20.0),
    FieldKind.DATE_SIGNED: (120.0, 20.0),
    FieldKind.CHECKBOX: (14.0, 14.0),
}


@dataclass(frozen=True)
class FieldRequest:
    """One field as a client asks for it. Coordinates are PDF points measured from the
    page's top-left corner (x to the right, y down), like the console shows pages."""

    recipient: int
    kind: FieldKind
    document: int = 0
    page: int | None = None
    x: float | None = None
    y: float | None = None
    width: float | None = None
    height: float | None = None
    anchor: str | None = None
    anchor_x_offset: float = 0.0
    anchor_y_offset: float = 0.0
    required: bool = True
    label: str = ""


@dataclass(frozen=True)
class Box:
    document: int
    page: int
    x: float
    y: float
    width: float
    height: float


def place(req: FieldRequest, index: int, pdf: bytes,
          page_sizes: list[tuple[float, float]]) -> list[Box]:
    """The boxes a field request produces (an anchor may occur several times)."""
    default_w, default_h = DEFAULT_SIZE[req.kind]
    w, h = req.width or default_w, req.height or default_h
    where = f"fields[{index}]"
    if w <= 0 or h <= 0:
        raise InvalidInput(f"{where}: width and height must be positive",
                           code="field_invalid_size")
    if req.anchor is not None:
        if not req.anchor.strip():
            raise InvalidInput(f"{where}: anchor text must not be blank",
                               code="field_blank_anchor")
        try:
            hits = find_anchors(pdf, req.anchor)
        except DocumentError as exc:  # document_too_complex: the search ran out of bounds
            raise InvalidInput(f"{where}: document {req.document}: {exc.message}",
                               code=exc.code) from exc
        if not hits:
            raise InvalidInput(f"{where}: anchor text {req.anchor!r} was not found in "
                               f"document {req.document}", code="anchor_not_found")
        boxes = []
        for hit in hits:
            _pw, ph = page_sizes[hit.page - 1]
            top = (ph - hit.y) - h + req.anchor_y_offset
            boxes.append(Box(req.document, hit.page, hit.x + req.anchor_x_offset, top, w, h))
        return [_inside(b, page_sizes, where) for b in boxes]
    if req.page is None or req.x is None or req.y is None:
        raise InvalidInput(f"{where}: give either anchor, or page with x and y",
                           code="field_no_position")
    return [_inside(Box(req.document, req.page, req.x, req.y, w, h), page_sizes, where)]


def _inside(box: Box, page_sizes: list[tuple[float, float]], where: str) -> Box:
    if not 1 <= box.page <= len(page_sizes):
        raise InvalidInput(f"{where}: page {box.page} does not exist (the document has "
                           f"{len(page_sizes)})", code="field_bad_page")
    pw, ph = page_sizes[box.page - 1]
    if box.x < 0 or box.y < 0 or box.x + box.width > pw + 0.5 or box.y + box.height > ph + 0.5:
        raise InvalidInput(f"{where}: the box falls outside page {box.page} "
                           f"({pw:.0f}x{ph:.0f} pt)", code="field_off_page")
    return box
