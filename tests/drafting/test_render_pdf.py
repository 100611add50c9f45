"""Rendering to PDF: field boxes from the layout, running header/footer, no network."""

from __future__ import annotations

import base64
import http.server
import io
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from PIL import Image

from accord.drafting.render import (
    Rendered,
    RenderedField,
    TemplateError,
    fields_digest,
    render,
)
from accord.drafting.render.pdf import resources

FILLER = "<p>" + "The Provider shall deliver the support services described here. " * 12 + "</p>"
THREE_PAGES = f"""
<h1>Three Pages</h1>
<p>MARKERONE [[signature:customer]] after the box</p>
{FILLER * 2}
<div class="page-break"></div>
<p>Second page only.</p>
<div class="page-break"></div>
<p>MARKERTWO [[text:provider:po_number]]</p>
<p>Agree MARKERTHREE[[checkbox:customer:agree]] and initials [[initials:customer]]</p>
"""


def _png() -> str:
    out = io.BytesIO()
    Image.new("RGB", (2, 2), (200, 30, 30)).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


PIXEL_PNG = _png()


def page_texts(pdf: bytes) -> list[str]:
    doc = pdfium.PdfDocument(pdf)
    try:
        return [doc[i].get_textpage().get_text_range() for i in range(len(doc))]
    finally:
        doc.close()


def word_box(pdf: bytes, page: int, word: str) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of ``word`` on 1-based ``page``, top-left origin, points."""
    doc = pdfium.PdfDocument(pdf)
    try:
        pdf_page = doc[page - 1]
        height = pdf_page.get_height()
        text = pdf_page.get_textpage()
        found = text.search(word).get_next()
        assert found is not None, f"{word} not on page {page}"
        start, count = found
        boxes = [text.get_charbox(i) for i in range(start, start + count)]
        left, right = min(b[0] for b in boxes), max(b[2] for b in boxes)
        bottom, top = min(b[1] for b in boxes), max(b[3] for b in boxes)
        return left, height - top, right, height - bottom
    finally:
        doc.close()


@pytest.fixture(scope="module")
def three_pages() -> Rendered:
    return render(THREE_PAGES, "html", {}, {}, title="Field Placement Test",
                  envelope_id="env_123")


def test_fields_land_on_the_right_page_in_order(three_pages: Rendered) -> None:
    assert three_pages.page_count == 3
    summary = [(f.role, f.kind, f.name, f.page) for f in three_pages.fields]
    assert summary == [("customer", "signature", None, 1),
                       ("provider", "text", "po_number", 3),
                       ("customer", "checkbox", "agree", 3),
                       ("customer", "initials", None, 3)]
    sizes = [(f.width, f.height) for f in three_pages.fields]
    assert sizes == [(160.0, 44.0), (160.0, 20.0), (14.0, 14.0), (60.0, 32.0)]


@pytest.mark.parametrize(("index", "marker", "gap"), [
    (0, "MARKERONE", 8.0), (1, "MARKERTWO", 8.0), (2, "MARKERTHREE", 1.0)])
def test_each_box_sits_just_right_of_its_marker_on_the_baseline(
        three_pages: Rendered, index: int, marker: str, gap: float) -> None:
    field = three_pages.fields[index]
    left, _top, right, bottom = word_box(three_pages.pdf, field.page, marker)
    assert right - 0.5 <= field.x <= right + gap
    # inline boxes sit on the baseline: the box bottom is the bottom of the capitals
    assert field.y + field.height == pytest.approx(bottom, abs=1.5)
    assert left > 50 and field.x + field.width < 612 - 50


def test_the_text_inside_a_box_is_empty_and_the_tags_are_not_in_the_pdf(
        three_pages: Rendered) -> None:
    doc = pdfium.PdfDocument(three_pages.pdf)
    try:
        for field in three_pages.fields:
            page = doc[field.page - 1]
            height = page.get_height()
            inside = page.get_textpage().get_text_bounded(
                left=field.x + 1, bottom=height - field.y - field.height + 1,
                right=field.x + field.width - 1, top=height - field.y - 1)
            assert inside.strip() == ""
    finally:
        doc.close()
    text = "".join(page_texts(three_pages.pdf))
    assert "[[" not in text and "signature:" not in text and "po_number" not in text
    assert "after the box" in text


def test_running_header_and_footer_with_page_numbers(three_pages: Rendered) -> None:
    texts = page_texts(three_pages.pdf)
    for number, text in enumerate(texts, 1):
        assert "Field Placement Test" in text
        assert "Envelope env_123" in text
        assert f"Page {number} of 3" in text


def test_preview_footer_and_letter_pages() -> None:
    rendered = render("# Hello", "markdown", {}, {}, title="Preview Test")
    text = page_texts(rendered.pdf)[0]
    assert "Preview" in text and "Page 1 of 1" in text and "Hello" in text
    doc = pdfium.PdfDocument(rendered.pdf)
    try:
        assert doc[0].get_size() == (612, 792)
    finally:
        doc.close()
    assert rendered.fields == () and rendered.page_count == 1


def test_fields_sha256_is_the_canonical_digest_and_stable(three_pages: Rendered) -> None:
    assert three_pages.fields_sha256 == fields_digest(three_pages.fields)
    again = render(THREE_PAGES, "html", {}, {}, title="Field Placement Test",
                   envelope_id="env_other")
    assert again.fields == three_pages.fields
    assert again.fields_sha256 == three_pages.fields_sha256
    moved = (RenderedField("customer", "signature", None, 1, 0.0, 0.0, 1.0, 1.0),)
    assert fields_digest(moved) != three_pages.fields_sha256


def test_hostile_values_print_as_text() -> None:
    values = {"a": "<script>alert(1)</script>", "b": "{{7*7}}",
              "c": "[[signature:customer]]", "d": "**not bold**"}
    source = "Values: {{ a }} / {{ b }} / {{ c }} / {{ d }}\n\nSign [[initials:provider]]"
    rendered = render(source, "markdown", values, {}, title="T")
    text = page_texts(rendered.pdf)[0]
    for value in values.values():
        assert value in text
    assert "49" not in text
    assert [(f.role, f.kind) for f in rendered.fields] == [("provider", "initials")]


def test_a_hidden_tag_is_an_error() -> None:
    with pytest.raises(TemplateError) as caught:
        render('<div style="display: none">[[signature:customer]]</div>', "html", {}, {},
               title="T")
    assert caught.value.code == "template_tag"


def test_a_source_cannot_fake_a_field_box_with_its_own_id() -> None:
    spoof = ('<span id="accord-field-0" style="display: inline-block; width: 5px; '
             'height: 5px"></span>')
    source = f"<p>{spoof} Top of page one.</p>{FILLER * 3}<p>LATER [[signature:customer]]</p>"
    rendered = render(source, "html", {}, {}, title="T")
    _left, _top, right, _bottom = word_box(rendered.pdf, rendered.fields[0].page, "LATER")
    assert right <= rendered.fields[0].x <= right + 8
    assert rendered.fields[0].width == 160.0


def test_template_css_cannot_shrink_the_boxes() -> None:
    source = ("<style>span { width: 1px; height: 1px; display: inline }</style>"
              "<p>Sign [[signature:customer]]</p>")
    rendered = render(source, "html", {}, {}, title="T")
    assert (rendered.fields[0].width, rendered.fields[0].height) == (160.0, 44.0)


# ---------------------------------------------------------------- no network


class _Counter(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []  # noqa: RUF012 - shared on purpose: the test reads it

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()
        self.wfile.write(base64.b64decode(PIXEL_PNG))

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def local_server() -> Iterator[str]:
    _Counter.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_nothing_is_fetched_but_data_urls(local_server: str) -> None:
    source = f"""
<link rel="stylesheet" href="{local_server}/style.css">
<style>
  @import url("{local_server}/import.css");
  @font-face {{ font-family: Remote; src: url("{local_server}/font.ttf"); }}
  body {{ background: url("{local_server}/bg.png"); }}
</style>
<p>Remote <img src="{local_server}/logo.png" alt="remote"></p>
<p>Local file <img src="file:///etc/hostname" alt="file"></p>
<p>Embedded <img src="data:image/png;base64,{PIXEL_PNG}" alt="data" width="20"></p>
"""
    before = len(resources().fetcher.refused)
    rendered = render(source, "html", {}, {}, title="T")
    assert _Counter.hits == []
    refused = resources().fetcher.refused[before:]
    assert any(url.endswith("/logo.png") for url in refused)
    assert any(url.startswith("file:") for url in refused)
    doc = pdfium.PdfDocument(rendered.pdf)
    try:
        images = list(doc[0].get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]))
    finally:
        doc.close()
    assert len(images) == 1  # only the data: URL made it into the PDF


def test_the_server_in_the_test_does_answer(local_server: str) -> None:
    import urllib.request

    with urllib.request.urlopen(f"{local_server}/logo.png", timeout=5) as response:
        assert response.status == 200
    assert _Counter.hits == ["/logo.png"]


# ---------------------------------------------------------------- threads


def test_concurrent_renders_agree() -> None:
    source = "# Doc {{ n }}\n\n" + "Paragraph text. " * 40 + "\n\nSign [[signature:customer]]"

    def one(n: int) -> tuple[int, str, int]:
        rendered = render(source, "markdown", {"n": n}, {}, title=f"T{n}")
        assert f"Doc {n}" in page_texts(rendered.pdf)[0]
        return rendered.page_count, rendered.fields_sha256, len(rendered.fields)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(one, range(8)))
    assert len(set(results)) == 1
