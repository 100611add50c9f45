"""Hostile PDFs for the limit tests, built fast and small, each with a valid xref table.

A Flate stream of N zero bytes is assembled from one compressed 1 MiB block repeated
(``Z_FULL_FLUSH`` resets the compressor, so every block compresses to the same bytes):
a gigabyte of zeros costs ~1 MB and a few milliseconds, never a gigabyte of memory.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

GIB = 1024 ** 3
MIB = 1024 ** 2
_BLOCK = MIB


def flate_zeros(size: int) -> bytes:
    """zlib data inflating to ``size`` zero bytes."""
    whole, rest = divmod(size, _BLOCK)
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = c.compress(bytes(_BLOCK)) + c.flush(zlib.Z_FULL_FLUSH)
    end = c.compress(bytes(rest)) + c.flush()
    adler = ((size % 65521) << 16) | 1  # adler32 of zeros: a stays 1, b counts the bytes
    return b"\x78\xda" + block * whole + end + struct.pack(">I", adler)


def build_pdf(objects: Sequence[bytes], *, pages: Sequence[int] = (3,)) -> bytes:
    """A PDF of ``objects`` (object 3 onwards; 1 is the catalog, 2 the page tree whose
    kids are ``pages``), with a classic xref table."""
    kids = b" ".join(b"%d 0 R" % p for p in pages)
    body = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(pages)), *objects]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, obj in enumerate(body, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(body) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += (b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(body) + 1, xref))
    return bytes(out)


def stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s >>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def page(contents: int, resources: bytes = b"<< >>") -> bytes:
    return (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources %s "
            b"/Contents %d 0 R >>" % (resources, contents))


def text_content(text: bytes) -> bytes:
    return b"BT /F1 12 Tf 72 700 Td (" + text + b") Tj ET"


FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
FONT_RESOURCES = b"<< /Font << /F1 5 0 R >> >>"


def normal() -> bytes:
    """A small ordinary one-page document (Flate content, a font, a small image)."""
    content = zlib.compress(text_content(b"Sign here: SIGHERE") + b" q 100 0 0 100 72 500 cm "
                            b"/Im1 Do Q")
    image = zlib.compress(bytes(range(160)) * 160)  # 160 x 160 gray
    return build_pdf([
        page(4, b"<< /Font << /F1 5 0 R >> /XObject << /Im1 6 0 R >> >>"),
        stream(content, b"/Filter /FlateDecode"),
        FONT,
        stream(image, b"/Type /XObject /Subtype /Image /Width 160 /Height 160 "
               b"/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode"),
    ])


def flate_bomb(size: int = GIB) -> bytes:
    """One page whose content stream inflates to ``size`` bytes of zeros."""
    return build_pdf([page(4), stream(flate_zeros(size), b"/Filter /FlateDecode")])


def nested_bomb(size: int = GIB) -> bytes:
    """Flate of Flate: the outer layer is small, the inner one is the bomb."""
    inner = flate_zeros(size)
    return build_pdf([page(4), stream(zlib.compress(inner, 9),
                                      b"/Filter [/FlateDecode /FlateDecode]")])


def predictor_bomb(size: int = GIB) -> bytes:
    """Flate with a PNG predictor on the outer layer, then the Flate bomb: the predictor
    must be undone (streaming) to reach the bomb."""
    inner = flate_zeros(size)
    columns = 1000
    rows = [b"\x00" + inner[i:i + columns].ljust(columns, b"\x00")
            for i in range(0, len(inner), columns)]
    outer = zlib.compress(b"".join(rows), 9)
    return build_pdf([page(4), stream(
        outer, b"/Filter [/FlateDecode /FlateDecode] /DecodeParms "
        b"[<< /Predictor 12 /Columns %d >> null]" % columns)])


def image_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """An image declared ``width`` x ``height`` RGB (its data: a little Flate of zeros)."""
    return build_pdf([
        page(4, b"<< /XObject << /Im1 5 0 R >> >>"),
        stream(b"q 612 0 0 792 0 0 cm /Im1 Do Q"),
        stream(flate_zeros(MIB), b"/Type /XObject /Subtype /Image /Width %d /Height %d "
               b"/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode"
               % (width, height)),
    ])


def many_streams(count: int = 200_000) -> bytes:
    """``count`` tiny stream objects (a page, then the rest unreferenced)."""
    tiny = [stream(b"x")] * count
    return build_pdf([page(4), stream(text_content(b"tiny")), *tiny])


def operator_bomb(size: int = 64 * MIB) -> bytes:
    """A content stream of ``size`` bytes of real drawing operators: inside the decoded
    limits, but PDFium builds one object per rectangle (for the rendering guard)."""
    op = b"0 0 1 1 re f\n"
    data = op * (size // len(op))
    return build_pdf([page(4), stream(zlib.compress(data, 1), b"/Filter /FlateDecode")])


def png_zeros(width: int, height: int) -> bytes:
    """A black RGB PNG of ``width`` x ``height`` pixels, a few hundred KB for 100 MP."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", flate_zeros((width * 3 + 1) * height)) + chunk(b"IEND", b""))


def xref_stream_bomb(entries: int = 5_000_000) -> bytes:
    """A cross-reference stream of ``entries`` entries (all naming one real object): a few
    KB of Flate that a parser would turn into a table of millions of objects."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref_at = len(out)
    rows = [b"\x00" + struct.pack(">I", 0) + b"\xff"]
    rows += [b"\x01" + struct.pack(">I", o) + b"\x00" for o in offsets]
    rows.append(b"\x01" + struct.pack(">I", xref_at) + b"\x00")
    filler = b"\x01" + struct.pack(">I", offsets[2]) + b"\x00"
    c = zlib.compressobj(9)
    data = c.compress(b"".join(rows))
    left = entries - len(rows)
    block = filler * 100_000
    while left > 0:
        take = min(left, 100_000)
        data += c.compress(block if take == 100_000 else filler * take)
        left -= take
    data += c.flush()
    out += (b"4 0 obj\n<< /Type /XRef /Size %d /W [1 4 1] /Root 1 0 R /Filter /FlateDecode "
            b"/Length %d >>\nstream\n" % (entries, len(data)) + data + b"\nendstream\nendobj\n")
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


def inline_image_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """An inline image (``BI ... ID ... EI``) declared ``width`` x ``height`` RGB, Flate of
    zeros, inside a Flate content stream."""
    content = (b"q 612 0 0 792 0 0 cm BI /W %d /H %d /CS /RGB /BPC 8 /F /Fl ID\n"
               % (width, height) + flate_zeros(MIB) + b"\nEI Q")
    return build_pdf([page(4), stream(zlib.compress(content), b"/Filter /FlateDecode")])
