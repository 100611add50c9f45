from __future__ import annotations

import io

import pytest
from PIL import Image
from pypdf import PdfReader, PdfWriter
from pypdf.generic import NameObject, NumberObject

from accord.documents.pdf import (
    AnchorHit,
    DocumentError,
    find_anchors,
    geometry,
    inspect_pdf,
    render_page_png,
)

LIMITS = {"max_bytes": 5_000_000, "max_pages": 50}


def blank_pdf(pages: int, size: tuple[float, float] = (612, 792)) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(*size)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_inspect_reports_pages_and_sizes(contract_pdf: bytes) -> None:
    info = inspect_pdf(contract_pdf, **LIMITS)
    assert info.page_count == 3
    assert len(info.page_sizes) == 3
    width, height = info.page_sizes[0]
    assert width == pytest.approx(595.28, abs=0.1)
    assert height == pytest.approx(841.89, abs=0.1)


def test_inspect_swaps_sizes_of_rotated_pages() -> None:
    writer = PdfWriter()
    writer.add_blank_page(612, 792)
    writer.pages[0][NameObject("/Rotate")] = NumberObject(90)
    out = io.BytesIO()
    writer.write(out)
    assert inspect_pdf(out.getvalue(), **LIMITS).page_sizes == [(792.0, 612.0)]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "document_empty"),
        (b"hello, this is not a PDF", "document_not_pdf"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "document_not_pdf"),
        (b"%PDF-1.7\ngarbage garbage garbage\n%%EOF\n", "document_not_pdf"),
    ],
)
def test_inspect_refuses_non_pdfs(data: bytes, code: str) -> None:
    with pytest.raises(DocumentError) as info:
        inspect_pdf(data, **LIMITS)
    assert info.value.code == code
    assert info.value.message


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.95])
def test_inspect_refuses_truncated_pdfs(contract_pdf: bytes, fraction: float) -> None:
    with pytest.raises(DocumentError) as info:
        inspect_pdf(contract_pdf[: int(len(contract_pdf) * fraction)], **LIMITS)
    assert info.value.code == "document_not_pdf"


def test_inspect_refuses_encrypted_pdfs() -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(blank_pdf(1))))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(DocumentError) as info:
        inspect_pdf(out.getvalue(), **LIMITS)
    assert info.value.code == "document_encrypted"


def test_inspect_enforces_page_limit() -> None:
    with pytest.raises(DocumentError) as info:
        inspect_pdf(blank_pdf(4), max_bytes=5_000_000, max_pages=3)
    assert info.value.code == "document_too_many_pages"
    assert "4 pages" in info.value.message


def test_inspect_enforces_size_limit(contract_pdf: bytes) -> None:
    with pytest.raises(DocumentError) as info:
        inspect_pdf(contract_pdf, max_bytes=len(contract_pdf) - 1, max_pages=10)
    assert info.value.code == "document_too_large"


def test_inspect_refuses_pdf_without_pages() -> None:
    with pytest.raises(DocumentError) as info:
        inspect_pdf(blank_pdf(0), **LIMITS)
    assert info.value.code == "document_empty"


def test_find_anchors_on_weasyprint_pdf(contract_pdf: bytes) -> None:
    first = find_anchors(contract_pdf, "SIGHERE_1")
    assert len(first) == 1
    hit = first[0]
    assert hit.page == 2
    # 2 cm left margin = 56.7 pt; "Customer signature: " precedes the anchor
    assert 100 < hit.x < 300
    # pushed ~300 CSS px (225 pt) down from the top margin of an 842 pt page
    assert 400 < hit.y < 750

    second = find_anchors(contract_pdf, "SIGHERE_2")
    assert [h.page for h in second] == [3, 3]
    assert second[0].y == pytest.approx(second[1].y, abs=0.5)
    assert second[0].x < second[1].x
    assert find_anchors(contract_pdf, "NOT-THERE") == []
    assert find_anchors(contract_pdf, "sighere_1") == []  # case-sensitive


def test_anchor_origin_is_on_the_baseline(contract_pdf: bytes) -> None:
    hit = find_anchors(contract_pdf, "SIGHERE_1")[0]
    text = find_anchors(contract_pdf, "Customer signature")[0]
    assert hit.y == pytest.approx(text.y, abs=0.1)
    assert hit.x > text.x


def test_anchors_on_rotated_page_use_displayed_coordinates(contract_pdf: bytes) -> None:
    plain = find_anchors(contract_pdf, "SIGHERE_1")[0]
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(contract_pdf)))
    writer.pages[1][NameObject("/Rotate")] = NumberObject(90)
    out = io.BytesIO()
    writer.write(out)
    turned = find_anchors(out.getvalue(), "SIGHERE_1")[0]
    width = 595.275591
    assert turned == AnchorHit(page=2, x=pytest.approx(plain.y, abs=0.05),
                               y=pytest.approx(width - plain.x, abs=0.05))


def test_geometry_round_trips_every_rotation() -> None:
    for rotate in (0, 90, 180, 270):
        geo = geometry((10, 20, 610, 820), rotate)
        a, b, c, d, e, f = geo.matrix()
        for px, py in [(0.0, 0.0), (100.0, 50.0), (33.0, 700.0)]:
            ux, uy = a * px + c * py + e, b * px + d * py + f
            assert geo.to_page_space(ux, uy) == pytest.approx((px, py))


def test_blank_anchor_is_refused(contract_pdf: bytes) -> None:
    with pytest.raises(ValueError, match="blank"):
        find_anchors(contract_pdf, "  ")


def test_render_page_png(contract_pdf: bytes) -> None:
    png = render_page_png(contract_pdf, 2, width_px=600)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.width == 600
    assert image.height == pytest.approx(600 * 842 / 595, abs=2)
    assert len(png) < 150_000


def test_render_rejects_missing_page(contract_pdf: bytes) -> None:
    with pytest.raises(DocumentError) as info:
        render_page_png(contract_pdf, 4)
    assert info.value.code == "document_bad_page"


def test_render_rejects_garbage() -> None:
    with pytest.raises(DocumentError) as info:
        render_page_png(b"not a pdf at all", 1)
    assert info.value.code == "document_not_pdf"
