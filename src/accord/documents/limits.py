"""Bounds on what a PDF may cost: decoded sizes, object counts, image dimensions, time.

A PDF of a few megabytes can declare a content stream that inflates to gigabytes, an image
of 50000x50000 pixels or hundreds of thousands of objects. :func:`check_limits` measures
every stream *incrementally*: each filter of a stream's ``/Filter`` chain is decoded in
small chunks (FlateDecode with ``zlib.decompressobj`` and ``max_length``, LZW, RunLength,
ASCIIHex, ASCII85; PNG/TIFF predictors of ``/DecodeParms`` where a later filter needs the
real bytes), every intermediate output is held to the per-stream limit and the decoded
sizes are summed over the document, so a bomb is refused after at most
``max_stream_bytes`` of work -- never decoded in full and never held in memory (the check
keeps a chunk of at most 256 KiB per filter). Image codecs (DCT, JPX, CCITT, JBIG2) are not decoded:
an image's declared ``Width x Height x components x bits`` is held to the limits instead.

A refusal is a :class:`~accord.documents.pdf.DocumentError` with the code
``document_too_complex``. Rendering (PDFium) is guarded on top of this by
:mod:`accord.documents.render_guard` (a subprocess under ``RLIMIT_AS`` and a timeout).
"""

from __future__ import annotations

import base64
import binascii
import re
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pypdf import PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

from accord.documents.errors import DocumentError

if TYPE_CHECKING:
    from accord.config import Settings

__all__ = ["TOO_COMPLEX", "LimitReport", "PdfLimits", "check_limits", "default_limits",
           "precheck", "too_complex"]

TOO_COMPLEX = "document_too_complex"
MIB = 1024 * 1024
CHUNK = 64 * 1024       # input read at a time
OUT_CHUNK = 256 * 1024  # output a decoder produces at a time


@dataclass(frozen=True)
class PdfLimits:
    """What one document may cost (``ACCORD_PDF_*`` settings, see config.py)."""

    max_stream_bytes: int = 128 * MIB      # decoded bytes of one stream (or image raster)
    max_decoded_bytes: int = 512 * MIB     # decoded bytes of all streams together
    max_objects: int = 50_000              # indirect objects in the cross-reference
    max_streams: int = 20_000
    max_image_pixels: int = 100_000_000    # width x height of one image
    check_timeout_s: float = 15.0          # wall clock of this check
    render_memory_bytes: int = 1024 * MIB  # RLIMIT_AS of a PDFium/WeasyPrint subprocess
    render_timeout_s: float = 30.0         # wall clock of one rendering subprocess

    @classmethod
    def from_settings(cls, s: Settings) -> PdfLimits:
        return cls(max_stream_bytes=s.pdf_max_stream_bytes,
                   max_decoded_bytes=s.pdf_max_decoded_bytes,
                   max_objects=s.pdf_max_objects, max_streams=s.pdf_max_streams,
                   max_image_pixels=s.pdf_max_image_pixels,
                   check_timeout_s=s.pdf_check_timeout_s,
                   render_memory_bytes=s.pdf_render_memory_bytes,
                   render_timeout_s=s.pdf_render_timeout_s)


@dataclass(frozen=True)
class LimitReport:
    objects: int
    streams: int
    decoded_bytes: int   # sum over the document of what was measured
    largest_stream: int


def default_limits() -> PdfLimits:
    """The limits of the ``ACCORD_PDF_*`` settings of this process."""
    from accord.config import get_settings

    return PdfLimits.from_settings(get_settings())


def too_complex(message: str) -> DocumentError:
    return DocumentError(TOO_COMPLEX, f"The document is too complex to process safely: "
                         f"{message}.")


class _Meter:
    def __init__(self, limits: PdfLimits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.check_timeout_s
        self.total = 0
        self.largest = 0

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise too_complex(f"checking it took longer than {self.limits.check_timeout_s:g} s")

    def bounded(self, chunks: Iterable[bytes], what: str) -> Iterator[bytes]:
        """Pass one filter's output through, refusing past the per-stream limit."""
        size = 0
        limit = self.limits.max_stream_bytes
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise too_complex(f"{what} decodes to more than {limit:,} bytes")
            self.tick()
            yield chunk
        self.largest = max(self.largest, size)

    def counted(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Pass a stream's decoded data through, refusing past the per-document sum."""
        for chunk in chunks:
            self.total += len(chunk)
            if self.total > self.limits.max_decoded_bytes:
                raise too_complex("its streams decode to more than "
                                  f"{self.limits.max_decoded_bytes:,} bytes in all")
            yield chunk


# ------------------------------------------------------------------ streaming decoders


def _flate(src: Iterable[bytes]) -> Iterator[bytes]:
    d = zlib.decompressobj()
    produced = False
    for chunk in src:
        buf = chunk
        while buf:
            try:
                out = d.decompress(buf, OUT_CHUNK)
            except zlib.error:
                if produced:
                    return  # corrupt data: readers stop here too
                d = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, no zlib header
                produced = True  # one retry only
                continue
            if out:
                produced = True
                yield out
            if d.eof:
                return
            if not out and d.unconsumed_tail == buf:
                return
            buf = d.unconsumed_tail
    tail = d.flush()
    if tail:
        yield tail


def _lzw_entry(table: list[bytes], prev: bytes, code: int) -> bytes | None:
    """The bytes of ``code`` (growing ``table``); None for a code that cannot occur."""
    if code < len(table):
        entry = table[code]
        if prev and len(table) < 4096:
            table.append(prev + entry[:1])
        return entry
    if prev and code == len(table) < 4096:
        table.append(prev + prev[:1])
        return table[-1]
    return None


def _lzw(src: Iterable[bytes], early: int) -> Iterator[bytes]:
    table: list[bytes] = [bytes([i]) for i in range(256)] + [b"", b""]
    width, bits, nbits, prev = 9, 0, 0, b""
    out = bytearray()
    for chunk in src:
        for byte in chunk:
            bits, nbits = (bits << 8) | byte, nbits + 8
            while nbits >= width:
                nbits -= width
                code = (bits >> nbits) & ((1 << width) - 1)
                bits &= (1 << nbits) - 1
                if code == 256:
                    table, width, prev = table[:258], 9, b""
                    continue
                entry = None if code == 257 else _lzw_entry(table, prev, code)
                if entry is None:  # end of data, or corrupt
                    yield bytes(out)
                    return
                out += entry
                prev = entry
                if len(table) + early >= (1 << width) and width < 12:
                    width += 1
                if len(out) >= OUT_CHUNK:
                    yield bytes(out)
                    out.clear()
    yield bytes(out)


def _run_length(src: Iterable[bytes]) -> Iterator[bytes]:
    carry = b""
    for chunk in src:
        buf, i, out = carry + chunk, 0, bytearray()
        while i < len(buf):
            n = buf[i]
            if n == 128:
                if out:
                    yield bytes(out)
                return
            if n < 128:
                if i + 1 + n + 1 > len(buf):
                    break
                out += buf[i + 1:i + 2 + n]
                i += n + 2
            else:
                if i + 1 >= len(buf):
                    break
                out += buf[i + 1:i + 2] * (257 - n)
                i += 2
            if len(out) >= CHUNK:
                yield bytes(out)
                out.clear()
        carry = buf[i:]
        if out:
            yield bytes(out)


_WHITESPACE = b"\x00\t\n\x0c\r "
_A85_GROUPS = re.compile(rb"(?:z|[!-u]{5})*")


def _ascii_hex(src: Iterable[bytes]) -> Iterator[bytes]:
    carry = b""
    for chunk in src:
        buf = carry + chunk.translate(None, _WHITESPACE)
        end = buf.find(b">")
        if end >= 0:
            buf = buf[:end] + (b"0" if end % 2 else b"")
        carry = buf[len(buf) - len(buf) % 2:]
        try:
            yield bytes.fromhex(buf[:len(buf) - len(carry)].decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            return
        if end >= 0:
            return


def _ascii85(src: Iterable[bytes]) -> Iterator[bytes]:
    carry = b""
    for chunk in src:
        buf = carry + chunk.translate(None, _WHITESPACE)
        end = buf.find(b"~")
        if end >= 0:
            buf = buf[:end]
        whole = _A85_GROUPS.match(buf)
        cut = whole.end() if whole else 0
        carry = buf[cut:]
        try:
            yield base64.a85decode(buf[:cut])
            if end >= 0 or len(carry) >= 5:  # the end, or a character that is not base-85
                if 1 < len(carry) < 5:
                    yield base64.a85decode(carry + b"u" * (5 - len(carry)))[:len(carry) - 1]
                return
        except (ValueError, binascii.Error):
            return


def _png_unpredict(src: Iterable[bytes], row: int, bpp: int) -> Iterator[bytes]:
    prior = bytearray(row)
    carry = b""
    for chunk in src:
        buf, i, out = carry + chunk, 0, bytearray()
        while i + row + 1 <= len(buf):
            kind, line = buf[i], bytearray(buf[i + 1:i + row + 1])
            i += row + 1
            if kind == 1:
                for k in range(bpp, row):
                    line[k] = (line[k] + line[k - bpp]) & 255
            elif kind == 2:
                line = bytearray((a + b) & 255 for a, b in zip(line, prior, strict=True))
            elif kind == 3:
                for k in range(row):
                    left = line[k - bpp] if k >= bpp else 0
                    line[k] = (line[k] + ((left + prior[k]) >> 1)) & 255
            elif kind == 4:
                for k in range(row):
                    a = line[k - bpp] if k >= bpp else 0
                    b, c = prior[k], prior[k - bpp] if k >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                    line[k] = (line[k] + pred) & 255
            out += line
            prior = line
        carry = buf[i:]
        yield bytes(out)


def _tiff_unpredict(src: Iterable[bytes], row: int, colours: int) -> Iterator[bytes]:
    carry = b""
    for chunk in src:
        buf, i, out = carry + chunk, 0, bytearray()
        while i + row <= len(buf):
            line = bytearray(buf[i:i + row])
            for k in range(colours, row):
                line[k] = (line[k] + line[k - colours]) & 255
            out += line
            i += row
        carry = buf[i:]
        yield bytes(out)


# ------------------------------------------------------------------ one stream

_ALIASES = {"/Fl": "/FlateDecode", "/LZW": "/LZWDecode", "/RL": "/RunLengthDecode",
            "/AHx": "/ASCIIHexDecode", "/A85": "/ASCII85Decode", "/DCT": "/DCTDecode",
            "/CCF": "/CCITTFaxDecode"}
_COMPONENTS = {"/DeviceGray": 1, "/CalGray": 1, "/G": 1, "/DeviceRGB": 3, "/CalRGB": 3,
               "/RGB": 3, "/Lab": 3, "/DeviceCMYK": 4, "/CMYK": 4, "/Indexed": 1, "/I": 1,
               "/Separation": 1}


def _resolve(value: Any) -> Any:
    return value.get_object() if isinstance(value, IndirectObject) else value


def _as_list(value: Any) -> list[Any]:
    value = _resolve(value)
    if value is None:
        return []
    if isinstance(value, ArrayObject):
        return [_resolve(v) for v in value]
    return [value]


def _int(params: Any, key: str, default: int) -> int:
    if not isinstance(params, DictionaryObject):
        return default
    value = _resolve(params.get(key, default))
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


_SIMPLE = {"/RunLengthDecode": _run_length, "/ASCIIHexDecode": _ascii_hex,
           "/ASCII85Decode": _ascii85}


def _decode_stage(chunks: Iterable[bytes], name: str, params: Any,
                  later: bool) -> Iterable[bytes] | None:
    """The output of one filter; None when the chain ends here (an image codec, an
    unknown filter)."""
    if name in _SIMPLE:
        return _SIMPLE[name](chunks)
    if name == "/Crypt":
        return chunks
    if name not in ("/FlateDecode", "/LZWDecode"):
        return None
    out = _flate(chunks) if name == "/FlateDecode" else \
        _lzw(chunks, _int(params, "/EarlyChange", 1))
    predictor = _int(params, "/Predictor", 1)
    if predictor < 2 or not later:
        return out  # a predictor never makes the data longer: only needed if decoded on
    colours = max(1, _int(params, "/Colors", 1))
    bpc = _int(params, "/BitsPerComponent", 8)
    columns = max(1, _int(params, "/Columns", 1))
    row = (colours * bpc * columns + 7) // 8
    if row > CHUNK * 16:
        raise too_complex(f"a predictor row of {row:,} bytes")
    if predictor >= 10:
        return _png_unpredict(out, row, max(1, colours * bpc // 8))
    if bpc != 8:
        raise too_complex("a TIFF predictor other than 8-bit before another filter")
    return _tiff_unpredict(out, row, colours)


def _raw_chunks(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(data), CHUNK):
        yield bytes(view[start:start + CHUNK])


def _measure_stream(meter: _Meter, raw: bytes, filters: list[Any], parms: list[Any],
                    what: str) -> None:
    names = [_ALIASES.get(str(f), str(f)) for f in filters]
    if len(names) > 8:
        raise too_complex(f"{what} has {len(names)} filters")
    chunks: Iterable[bytes] = _raw_chunks(raw)
    meter.largest = max(meter.largest, len(raw))
    for i, name in enumerate(names):
        params = parms[i] if i < len(parms) else None
        decoded = _decode_stage(chunks, name, params, later=i + 1 < len(names))
        if decoded is None:
            break  # an image codec: its raster is held to the limits by _check_image
        chunks = meter.bounded(decoded, what)
    for _ in meter.counted(chunks):
        pass


def _components(colour_space: Any) -> int:
    cs = _resolve(colour_space)
    if isinstance(cs, ArrayObject) and len(cs) > 0:
        family = str(_resolve(cs[0]))
        if family == "/ICCBased" and len(cs) > 1:
            return max(1, _int(_resolve(cs[1]), "/N", 3))
        if family == "/DeviceN" and len(cs) > 1:
            return max(1, len(_as_list(cs[1])))
        return _COMPONENTS.get(family, 3)
    return _COMPONENTS.get(str(cs), 3) if cs is not None else 3


def _check_image(meter: _Meter, obj: DictionaryObject, what: str) -> None:
    width, height = _int(obj, "/Width", 0), _int(obj, "/Height", 0)
    pixels = width * height
    if pixels > meter.limits.max_image_pixels:
        raise too_complex(f"{what} is an image of {width:,} x {height:,} pixels (the limit "
                          f"is {meter.limits.max_image_pixels:,} pixels)")
    mask = bool(_resolve(obj.get("/ImageMask", False)))
    comps = 1 if mask else _components(obj.get("/ColorSpace"))
    bpc = 1 if mask else max(1, _int(obj, "/BitsPerComponent", 8))
    raster = (width * comps * bpc + 7) // 8 * height
    if raster > meter.limits.max_stream_bytes:
        raise too_complex(f"{what} is an image of {raster:,} bytes decoded (the limit is "
                          f"{meter.limits.max_stream_bytes:,})")


# ------------------------------------------------------------------ the document

#: The ends of in-use entries of classic ``xref`` tables (``0000012345 00000 n`` and an
#: end of line of one or two bytes): disjoint patterns, counted at memory speed.
_TABLE_ENTRY_ENDS = (b" n\r", b" n \n", b" n \r", b" n\n")
_XREF_STREAM = re.compile(rb"/Type\s*/XRef\b")
_SIZE = re.compile(rb"/Size\s+(\d+)")
_INDEX = re.compile(rb"/Index\s*\[([^\]]*)\]")


def precheck(data: bytes, limits: PdfLimits) -> None:
    """Count cross-reference entries in the raw bytes, before a parser builds a table of
    them: classic ``xref`` lines, and the ``/Index`` (or ``/Size``) of cross-reference
    streams, whose 25 MiB can otherwise declare millions of objects."""
    count = sum(data.count(end) for end in _TABLE_ENTRY_ENDS)
    if count > limits.max_objects:
        raise too_complex(f"its cross-reference lists more than {limits.max_objects:,} "
                          "objects")
    for found in _XREF_STREAM.finditer(data):
        start = data.rfind(b"obj", max(0, found.start() - 4096), found.start())
        end = data.find(b"stream", found.end(), found.end() + 4096)
        head = data[max(start, found.start() - 4096):end if end >= 0 else found.end() + 4096]
        index = _INDEX.search(head)
        if index is not None:
            numbers = [int(n) for n in index.group(1).split() if n.isdigit()]
            count += sum(numbers[1::2])
        elif (size := _SIZE.search(head)) is not None:
            count += int(size.group(1))
        if count > limits.max_objects:
            raise too_complex(f"its cross-reference streams declare more than "
                              f"{limits.max_objects:,} objects")


def _in_use(reader: PdfReader) -> list[tuple[int, int]]:
    return [(num, gen) for gen, table in reader.xref.items() for num in table]


def check_limits(reader: PdfReader, limits: PdfLimits) -> LimitReport:
    """Measure every stream of the document ``reader`` reads; raise ``DocumentError``
    (``document_too_complex``) past a limit. Object streams are measured first, before
    anything resolves an object inside one."""
    meter = _Meter(limits)
    plain = _in_use(reader)
    compressed = reader.xref_objStm
    count = len(plain) + len(compressed)
    if count > limits.max_objects:
        raise too_complex(f"it has {count:,} objects (the limit is {limits.max_objects:,})")
    holders = {stm for stm, _idx in compressed.values()}
    order = sorted(plain, key=lambda ng: (ng[0] not in holders, ng[0]))
    streams = 0
    for n, (num, gen) in enumerate(order):
        if n % 256 == 0:
            meter.tick()
            reader.resolved_objects.clear()  # keep memory flat on documents of many objects
        try:
            obj = reader.get_object(IndirectObject(num, gen, reader))
        except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError,
                RecursionError, AssertionError):
            continue  # unreadable: no reader gets anything out of it
        raw = getattr(obj, "_data", None)
        if not isinstance(obj, DictionaryObject) or not isinstance(raw, bytes):
            continue
        streams += 1
        if streams > limits.max_streams:
            raise too_complex(f"it has more than {limits.max_streams:,} streams")
        what = f"object {num}"
        try:
            if _resolve(obj.get("/Subtype")) == NameObject("/Image"):
                _check_image(meter, obj, what)
            _measure_stream(meter, raw, _as_list(obj.get("/Filter")),
                            _as_list(obj.get("/DecodeParms")), what)
        except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError,
                RecursionError) as exc:
            raise too_complex(f"{what} could not be measured ({exc})") from exc
    reader.resolved_objects.clear()
    return LimitReport(objects=count, streams=streams, decoded_bytes=meter.total,
                       largest_stream=meter.largest)
