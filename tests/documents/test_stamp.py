from __future__ import annotations

import io
import time

import pytest
from PIL import Image
from pypdf import PdfReader, PdfWriter
from pypdf.generic import NameObject, NumberObject

from accord.documents.drawing import Font, RawPdf, encode, font_dict, load_png, wrap
from accord.documents.pdf import DocumentError, find_anchors, inspect_pdf, render_page_png
from accord.documents.stamp import Stamp, stamp_pdf

from .conftest import signature_png

LIMITS = {"max_bytes": 5_000_000, "max_pages": 50}


def page_text(data: bytes, page: int) -> str:
    return PdfReader(io.BytesIO(data)).pages[page - 1].extract_text()


def test_text_lands_on_the_right_page(contract_pdf: bytes) -> None:
    out = stamp_pdf(
        contract_pdf,
        [
            Stamp(page=2, x=300, y=500, width=200, height=16, kind="text", text="Casey Customer"),
            Stamp(page=3, x=60, y=100, width=100, height=14, kind="date_signed",
                  text="2024-05-01"),
        ],
    )
    assert inspect_pdf(out, **LIMITS).page_count == 3
    assert "Casey Customer" in page_text(out, 2)
    assert "Casey Customer" not in page_text(out, 1) + page_text(out, 3)
    assert "2024-05-01" in page_text(out, 3)
    # the original text survives
    assert "SIGHERE_1" in page_text(out, 2)


def test_stamp_at_an_anchor_is_found_there(contract_pdf: bytes) -> None:
    hit = find_anchors(contract_pdf, "SIGHERE_1")[0]
    out = stamp_pdf(contract_pdf, [Stamp(hit.page, hit.x, hit.y + 20, 150, 14, "text",
                                         text="MARKER-XYZ")])
    found = find_anchors(out, "MARKER-XYZ")
    assert len(found) == 1
    assert found[0].page == hit.page
    assert found[0].x == pytest.approx(hit.x + 2, abs=1.0)  # 2 pt inner padding
    assert hit.y + 20 < found[0].y < hit.y + 34


def test_stamps_follow_page_rotation(contract_pdf: bytes) -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(contract_pdf)))
    writer.pages[0][NameObject("/Rotate")] = NumberObject(270)
    buf = io.BytesIO()
    writer.write(buf)
    out = stamp_pdf(buf.getvalue(), [Stamp(1, 100, 200, 200, 14, "text", text="TURNED-OK")])
    hit = find_anchors(out, "TURNED-OK")[0]
    assert hit.x == pytest.approx(102, abs=1.0)
    assert 200 < hit.y < 214


def test_signature_image_with_alpha_becomes_xobject_with_smask(contract_pdf: bytes) -> None:
    png = signature_png()
    out = stamp_pdf(contract_pdf, [Stamp(2, 100, 100, 150, 50, "signature", image_png=png)])
    page = PdfReader(io.BytesIO(out)).pages[1]
    xobjects = page["/Resources"]["/XObject"]
    images = [xobjects[name].get_object() for name in xobjects]
    ours = [img for img in images if "/SMask" in img]
    assert len(ours) == 1
    image = ours[0]
    assert (image["/Width"], image["/Height"]) == (300, 100)
    assert image["/SMask"].get_object()["/ColorSpace"] == "/DeviceGray"
    content = page.get_contents().get_data()
    assert b" Do Q" in content
    # it really paints: the box region is no longer blank
    rendered = Image.open(io.BytesIO(render_page_png(out, 2, width_px=595))).convert("L")
    box = rendered.crop((100, 842 - 150, 250, 842 - 100))
    assert box.getextrema()[0] < 128


def test_opaque_image_has_no_smask(contract_pdf: bytes) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (40, 20), (200, 0, 0)).save(buf, format="PNG")
    out = stamp_pdf(contract_pdf, [Stamp(1, 50, 50, 40, 20, "initials", image_png=buf.getvalue())])
    xobjects = PdfReader(io.BytesIO(out)).pages[0]["/Resources"]["/XObject"]
    assert all("/SMask" not in xobjects[n].get_object() for n in xobjects)


def test_checkbox_draws_a_mark_only_when_checked(contract_pdf: bytes) -> None:
    out = stamp_pdf(
        contract_pdf,
        [Stamp(1, 50, 50, 12, 12, "checkbox", checked=True),
         Stamp(1, 80, 50, 12, 12, "checkbox", checked=False)],
    )
    content = PdfReader(io.BytesIO(out)).pages[0].get_contents().get_data()
    assert content.count(b" re S") == 2  # two boxes
    assert content.count(b" l S") == 1  # one check mark


def test_typed_signature_and_non_latin_text_do_not_crash(contract_pdf: bytes) -> None:
    out = stamp_pdf(contract_pdf, [
        Stamp(1, 50, 50, 200, 30, "signature", text="Zoë Straße"),
        Stamp(1, 50, 100, 200, 14, "text", text="王小明 Ωmega"),
    ])
    text = page_text(out, 1)
    assert "Zoë Straße" in text
    assert "??? ?mega" in text


def test_long_text_is_wrapped_inside_the_box(contract_pdf: bytes) -> None:
    long = "This is a long free-text answer that cannot possibly fit on a single line here"
    out = stamp_pdf(contract_pdf, [Stamp(1, 300, 300, 120, 60, "text", text=long)])
    content = PdfReader(io.BytesIO(out)).pages[0].get_contents().get_data()
    assert content.count(b" Tj ET") >= 3
    assert b"re W n" in content  # clipped to its box


def test_wrap_breaks_long_words() -> None:
    lines = wrap("a" * 200, Font.COURIER, 10, 100)
    assert all(Font.COURIER.width(line, 10) <= 100 for line in lines)
    assert b"".join(lines) == b"a" * 200
    assert encode("naïve – ok ✓") == b"na\xefve \x96 ok ?"


@pytest.mark.parametrize(
    "stamp",
    [
        Stamp(4, 0, 0, 10, 10, "text", text="x"),
        Stamp(0, 0, 0, 10, 10, "text", text="x"),
        Stamp(1, 0, 0, 0, 10, "text", text="x"),
        Stamp(1, 0, 0, 10, 10, "stamp-of-approval", text="x"),
        Stamp(1, 0, 0, 10, 10, "text"),
        Stamp(1, 0, 0, 10, 10, "signature"),
    ],
)
def test_bad_stamps_are_refused(contract_pdf: bytes, stamp: Stamp) -> None:
    with pytest.raises(DocumentError) as info:
        stamp_pdf(contract_pdf, [stamp])
    assert info.value.code == "document_bad_stamp"


def test_bad_image_is_refused(contract_pdf: bytes) -> None:
    with pytest.raises(DocumentError) as info:
        stamp_pdf(contract_pdf, [Stamp(1, 0, 0, 10, 10, "signature", image_png=b"nope")])
    assert info.value.code == "image_invalid"


def test_image_decoding_is_cached() -> None:
    png = signature_png((123, 45))
    assert load_png(png) is load_png(png)


def test_stamping_is_fast(contract_pdf: bytes) -> None:
    png = signature_png()
    stamps = [Stamp(p, 100, 100, 150, 50, "signature", image_png=png) for p in (1, 2, 3)] + [
        Stamp(p, 100, 60, 150, 14, "date_signed", text="2024-05-01") for p in (1, 2, 3)
    ]
    stamp_pdf(contract_pdf, stamps)
    start = time.perf_counter()
    for _ in range(10):
        stamp_pdf(contract_pdf, stamps)
    assert (time.perf_counter() - start) / 10 < 0.05  # typically ~4 ms


def inherited_resources_pdf() -> bytes:
    """Resources, MediaBox and Rotate on the /Pages node (inherited); /AccF1 already used."""
    pdf = RawPdf()
    font = pdf.add(font_dict(Font.COURIER))
    content = pdf.add_stream(b"", b"BT /AccF1 12 Tf 72 700 Td (Inherited hello) Tj ET")
    pages = pdf.reserve()
    page = pdf.add(b"<</Type/Page/Parent %d 0 R/Contents %d 0 R>>" % (pages, content))
    pdf.put(pages, b"<</Type/Pages/Count 1/Kids[%d 0 R]/MediaBox[0 0 612 792]/Rotate 90"
            b"/Resources<</Font<</AccF1 %d 0 R>>>>>>" % (page, font))
    return pdf.to_bytes(pdf.add(b"<</Type/Catalog/Pages %d 0 R>>" % pages))


def test_inherited_resources_and_name_clashes() -> None:
    original = inherited_resources_pdf()
    assert "Inherited hello" in page_text(original, 1)
    assert inspect_pdf(original, **LIMITS).page_sizes == [(792.0, 612.0)]
    out = stamp_pdf(original, [Stamp(1, 72, 600, 200, 16, "text", text="Stamped here")])
    text = page_text(out, 1)
    assert "Inherited hello" in text
    assert "Stamped here" in text
    fonts = PdfReader(io.BytesIO(out)).pages[0]["/Resources"]["/Font"]
    assert fonts["/AccF1"]["/BaseFont"] == "/Courier"
    assert fonts["/AccF2"]["/BaseFont"] == "/Helvetica"
    hit = find_anchors(out, "Stamped here")[0]  # drawn upright in the turned page's space
    assert hit.x == pytest.approx(74, abs=1.0)
    assert 600 < hit.y < 616
