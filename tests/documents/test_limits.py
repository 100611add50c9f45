"""Every PDF step runs with bounded memory and time: the limit check, the guarded renderer.

Memory is measured as the growth of this process's peak RSS (VmHWM, reset through
/proc/self/clear_refs) while a bomb is handled, and as the renderer child's own limits.
"""

from __future__ import annotations

import base64
import io
import resource
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from pypdf import PdfReader

from accord.documents import decoders
from accord.documents.limits import PdfLimits, check_limits
from accord.documents.pdf import (
    DocumentError,
    ensure_within_limits,
    find_anchors,
    inspect_pdf,
    render_page_png,
)
from accord.documents.render_guard import run_guarded
from accord.documents.stamp import Stamp, stamp_pdf
from accord.drafting.render import TemplateError, render
from tests.documents import bombs

MIB = 1024 * 1024
BOUND = 300 * MIB  # growth of this process allowed while refusing a bomb


def _status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError(key)


@contextmanager
def peak_growth() -> Iterator[list[int]]:
    """Yields a list that receives the growth of peak RSS (bytes) over the block."""
    out: list[int] = []
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
    except OSError:
        pytest.skip("cannot reset the peak RSS here")
    before = _status_kb("VmRSS")
    yield out
    out.append((_status_kb("VmHWM") - before) * 1024)


def _reader(data: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(data), strict=True)


def _measured(data: bytes, filters: bytes, parms: bytes = b"") -> int:
    """Decoded bytes the check counts for one stream of ``data`` with ``filters``."""
    extra = b"/Filter " + filters + (b" /DecodeParms " + parms if parms else b"")
    doc = bombs.build_pdf([bombs.page(4), bombs.stream(data, extra)])
    return check_limits(_reader(doc), PdfLimits()).decoded_bytes


# ------------------------------------------------------------------ the decoders


def test_the_incremental_decoders_measure_exactly() -> None:
    text = bytes(range(256)) * 400  # 102400 bytes
    assert _measured(zlib.compress(text), b"/FlateDecode") == len(text)
    raw_deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    assert _measured(raw_deflate.compress(text) + raw_deflate.flush(), b"/Fl") == len(text)
    twice = zlib.compress(zlib.compress(text))
    assert _measured(twice, b"[/FlateDecode /FlateDecode]") == len(text)
    hexed = zlib.compress(text).hex().encode() + b">"
    assert _measured(hexed, b"[/ASCIIHexDecode /FlateDecode]") == len(text)
    a85 = base64.a85encode(zlib.compress(text), wrapcol=70) + b"~>"
    assert _measured(a85, b"[/A85 /FlateDecode]") == len(text)
    zeros = b"\x00" * 5000
    assert _measured(base64.a85encode(zeros, foldspaces=False) + b"~>",
                     b"/ASCII85Decode") == 5000
    # RunLength: 128 copies of 'a' (code 129 -> 128), a literal run of 3, end of data
    assert _measured(b"\x81a\x02xyz\x80", b"/RunLengthDecode") == 131
    # LZW: the example of the PDF specification (7.4.4.2), 45 45 45 45 45 65 45 45 45 66
    assert _measured(bytes.fromhex("800B6050220C0C8501"), b"/LZWDecode") == 10
    # A PNG predictor before another filter is undone row by row (Up rows of 4 bytes)
    inner = zlib.compress(text)
    rows = [inner[i:i + 4].ljust(4, b"\x00") for i in range(0, len(inner), 4)]
    prior, up = bytes(4), b""
    for row in rows:
        up += b"\x02" + bytes((a - b) & 255 for a, b in zip(row, prior, strict=True))
        prior = row
    assert _measured(zlib.compress(up), b"[/FlateDecode /FlateDecode]",
                     b"[<< /Predictor 12 /Columns 4 >> null]") == len(text)


def test_lzw_decoder_output() -> None:
    out = b"".join(decoders._lzw([bytes.fromhex("800B6050220C0C8501")], 1))
    assert out == bytes([45, 45, 45, 45, 45, 65, 45, 45, 45, 66])


def test_ordinary_documents_pass(contract_pdf: bytes) -> None:
    for data in (contract_pdf, bombs.normal()):
        report = check_limits(_reader(data), PdfLimits())
        assert report.streams >= 1 and 0 < report.decoded_bytes < 10 * MIB
        assert inspect_pdf(data, max_bytes=25 * MIB, max_pages=500).page_count >= 1


# ------------------------------------------------------------------ bombs


BOMBS: dict[str, Callable[[], bytes]] = {
    "flate 1 GiB": bombs.flate_bomb,
    "flate of flate": bombs.nested_bomb,
    "predictor then flate": bombs.predictor_bomb,
    "50000x50000 image": bombs.image_bomb,
    "50000x50000 inline image": bombs.inline_image_bomb,
    "200k objects": bombs.many_streams,
    "xref stream of 5M entries": bombs.xref_stream_bomb,
}


def test_bombs_are_refused_fast_with_bounded_memory() -> None:
    for name, make in BOMBS.items():
        data = make()
        started = time.monotonic()
        with peak_growth() as growth, pytest.raises(DocumentError) as caught:
            inspect_pdf(data, max_bytes=25 * MIB, max_pages=500)
        elapsed = time.monotonic() - started
        assert caught.value.code == "document_too_complex", name
        assert growth[0] < BOUND, (name, growth)
        assert elapsed < 10, (name, elapsed)  # ~1 s each on an idle core


def test_each_limit_is_a_setting() -> None:
    doc = bombs.build_pdf([bombs.page(4), bombs.stream(zlib.compress(bytes(2 * MIB)),
                                                       b"/Filter /FlateDecode")])
    check_limits(_reader(doc), PdfLimits())
    refusals = {
        "max_stream_bytes": PdfLimits(max_stream_bytes=MIB),
        "max_decoded_bytes": PdfLimits(max_decoded_bytes=MIB),
        "max_objects": PdfLimits(max_objects=3),
        "max_streams": PdfLimits(max_streams=0),
        "check_timeout_s": PdfLimits(check_timeout_s=0.0),
    }
    for name, limits in refusals.items():
        with pytest.raises(DocumentError, match="too complex") as caught:
            check_limits(_reader(doc), limits)
        assert caught.value.code == "document_too_complex", name
    image = bombs.image_bomb(2000, 2000)
    check_limits(_reader(image), PdfLimits())
    with pytest.raises(DocumentError, match="pixels"):
        check_limits(_reader(image), PdfLimits(max_image_pixels=1_000_000))
    with pytest.raises(DocumentError, match="bytes decoded"):
        check_limits(_reader(image), PdfLimits(max_stream_bytes=4 * MIB))
    inline = bombs.inline_image_bomb(2000, 2000)
    check_limits(_reader(inline), PdfLimits())
    with pytest.raises(DocumentError, match="inline image of 2,000 x 2,000 pixels"):
        check_limits(_reader(inline), PdfLimits(max_image_pixels=1_000_000))


def test_stamping_and_sealing_hold_documents_to_the_limits(sealer: object) -> None:
    from accord.documents.seal import Sealer

    assert isinstance(sealer, Sealer)
    bomb = bombs.flate_bomb()
    with peak_growth() as growth:
        with pytest.raises(DocumentError, match="too complex"):
            stamp_pdf(bomb, [Stamp(page=1, x=10, y=10, width=50, height=20, kind="text",
                                   text="x")])
        with pytest.raises(DocumentError, match="too complex"):
            sealer.seal(bomb, audit_json=b"{}")
    assert growth[0] < BOUND
    ensure_within_limits(bombs.normal())  # an ordinary document goes through


# ------------------------------------------------------------------ the guarded renderer


def test_the_renderer_runs_limited_in_a_subprocess() -> None:
    limits = PdfLimits(render_memory_bytes=256 * MIB, render_timeout_s=10)
    soft, hard = run_guarded("resource:getrlimit", resource.RLIMIT_AS,
                             memory_bytes=limits.render_memory_bytes, timeout_s=5).value
    assert soft == hard == 256 * MIB
    normal = bombs.normal()
    png = render_page_png(normal, 1, width_px=300, limits=limits)
    assert png.startswith(b"\x89PNG")
    child = run_guarded("accord.documents.pdf:_render_page_png", normal, 1, 300,
                        memory_bytes=limits.render_memory_bytes, timeout_s=5)
    assert child.value == png
    assert 0 < child.peak_rss_bytes < child.memory_limit_bytes == 256 * MIB
    assert find_anchors(normal, "SIGHERE", limits=limits)[0].page == 1
    # Inside the decoded limits, yet PDFium would build a million rectangles: the
    # subprocess runs out of its address space and the answer is a refusal.
    ops = bombs.operator_bomb(16 * MIB)
    with peak_growth() as growth:
        for call in (lambda: render_page_png(ops, 1, limits=limits),
                     lambda: find_anchors(ops, "x", limits=limits)):
            with pytest.raises(DocumentError) as caught:
                call()
            assert caught.value.code == "document_too_complex"
    assert growth[0] < BOUND
    started = time.monotonic()
    with pytest.raises(DocumentError, match="too complex"):
        run_guarded("time:sleep", 30, memory_bytes=256 * MIB, timeout_s=0.5)
    assert time.monotonic() - started < 5


def test_template_rendering_is_bounded() -> None:
    limits = PdfLimits(render_memory_bytes=512 * MIB, render_timeout_s=3)
    loop = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    picture = base64.b64encode(bombs.png_zeros(10_000, 8_000)).decode()  # 240 MB decoded
    huge_image = f'<p><img src="data:image/png;base64,{picture}" style="width: 5cm"></p>'
    for source in (loop, huge_image):
        with peak_growth() as growth, pytest.raises(TemplateError) as caught:
            render(source, "html", {}, {}, title="T", limits=limits)
        assert caught.value.code == "document_too_complex"
        assert caught.value.status == 422
        assert growth[0] < BOUND
    ok = render("<p>Fine, {{ name }}.</p>", "html", {"name": "Ann"}, {}, title="T",
                limits=limits)
    assert ok.page_count == 1 and ok.pdf.startswith(b"%PDF-")
    with pytest.raises(TemplateError) as caught:
        render("{{ missing.x }}", "html", {}, {}, title="T", limits=limits)
    assert caught.value.code == "template_render" and caught.value.line == 1
