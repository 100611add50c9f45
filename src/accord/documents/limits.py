"""Bounds on what a PDF may cost: decoded sizes, object counts, image dimensions, time.

A PDF of a few megabytes can declare a content stream that inflates to gigabytes, an image
of 50000x50000 pixels or hundreds of thousands of objects. :func:`check_limits` measures
every stream *incrementally*: each filter of a stream's ``/Filter`` chain is decoded in
small chunks (FlateDecode with ``zlib.decompressobj`` and ``max_length``, LZW, RunLength,
ASCIIHex, ASCII85; PNG/TIFF predictors of ``/DecodeParms`` where a later filter needs the
real bytes), every intermediate output is held to the per-stream limit and the decoded
sizes are summed over the document, so a bomb is refused after at most
``max_stream_bytes`` of work -- never decoded in full and never held in memory (the check
keeps a chunk of at most 256 KiB per filter). Image codecs (DCT, JPX, CCITT, JBIG2) are not
decoded: an image's declared ``Width x Height x components x bits`` is held to the limits
instead. :func:`precheck` counts cross-reference entries in the raw bytes first, before
pypdf builds its table of them.

The decoders are in :mod:`accord.documents.decoders`. Inline images (``BI ... ID``) in
content streams are found in the decoded data as it streams by and held to the same
limits.

A refusal is a :class:`~accord.documents.pdf.DocumentError` with the code
``document_too_complex``. Rendering (PDFium) is guarded on top of this by
:mod:`accord.documents.render_guard` (a subprocess under ``RLIMIT_AS`` and a timeout).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pypdf import PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

from accord.documents.decoders import decode_stage, param_int, raw_chunks, resolve
from accord.documents.errors import DocumentError

if TYPE_CHECKING:
    from accord.config import Settings

__all__ = ["TOO_COMPLEX", "LimitReport", "PdfLimits", "check_limits", "default_limits",
           "precheck", "too_complex"]

TOO_COMPLEX = "document_too_complex"
MIB = 1024 * 1024


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


# ------------------------------------------------------------------ one stream

_ALIASES = {"/Fl": "/FlateDecode", "/LZW": "/LZWDecode", "/RL": "/RunLengthDecode",
            "/AHx": "/ASCIIHexDecode", "/A85": "/ASCII85Decode", "/DCT": "/DCTDecode",
            "/CCF": "/CCITTFaxDecode"}
_COMPONENTS = {"/DeviceGray": 1, "/CalGray": 1, "/G": 1, "/DeviceRGB": 3, "/CalRGB": 3,
               "/RGB": 3, "/Lab": 3, "/DeviceCMYK": 4, "/CMYK": 4, "/Indexed": 1, "/I": 1,
               "/Separation": 1}


def _as_list(value: Any) -> list[Any]:
    value = resolve(value)
    if value is None:
        return []
    if isinstance(value, ArrayObject):
        return [resolve(v) for v in value]
    return [value]


def _measure_stream(meter: _Meter, raw: bytes, filters: list[Any], parms: list[Any],
                    what: str, *, content: bool) -> None:
    names = [_ALIASES.get(str(f), str(f)) for f in filters]
    if len(names) > 8:
        raise too_complex(f"{what} has {len(names)} filters")
    chunks: Iterable[bytes] = raw_chunks(raw)
    meter.largest = max(meter.largest, len(raw))
    for i, name in enumerate(names):
        params = parms[i] if i < len(parms) else None
        decoded = decode_stage(chunks, name, params, later=i + 1 < len(names))
        if decoded is None:
            break  # an image codec: its raster is held to the limits by _check_image
        chunks = meter.bounded(decoded, what)
    chunks = meter.counted(chunks)
    if content:
        chunks = _inline_images(meter, chunks, what)
    for _ in chunks:
        pass


_ID = re.compile(rb"\sID\s")
_INLINE_DIM = re.compile(rb"/(W|Width|H|Height|BPC|BitsPerComponent)\s+(\d+)")
_INLINE_CS = re.compile(rb"/(?:CS|ColorSpace)\s*/(\w+)")
_INLINE_COMPONENTS = {b"RGB": 3, b"DeviceRGB": 3, b"CMYK": 4, b"DeviceCMYK": 4}
_WINDOW = 1024  # bytes of an inline image's dictionary looked at


_DELIMITERS = frozenset(b" \t\r\n\x0c\x00/[]<>(){}%")


def _inline_starts(buf: bytes, stop: int) -> Iterator[int]:
    """Where each ``BI`` operator before ``stop`` ends (bytes.find: memory speed)."""
    at = buf.find(b"BI", 0, stop + 2)
    while 0 <= at < stop:
        before = buf[at - 1] if at else 32
        after = buf[at + 2] if at + 2 < len(buf) else 32
        if before in _DELIMITERS and after in _DELIMITERS:
            yield at + 2
        at = buf.find(b"BI", at + 2, stop + 2)


def _inline_images(meter: _Meter, chunks: Iterable[bytes], what: str) -> Iterator[bytes]:
    """Pass decoded content through, holding each inline image to the image limits."""
    pending = b""
    for chunk in chunks:
        buf = pending + chunk
        cut = max(0, len(buf) - _WINDOW)
        for end in _inline_starts(buf, cut):
            _check_inline(meter, buf[end:end + _WINDOW], what)
        pending = buf[cut:]
        yield chunk
    for end in _inline_starts(pending, len(pending)):
        _check_inline(meter, pending[end:end + _WINDOW], what)


def _check_inline(meter: _Meter, head: bytes, what: str) -> None:
    end = _ID.search(head)
    head = head[:end.start()] if end else head
    dims = {key: int(value) for key, value in _INLINE_DIM.findall(head)}
    width, height = dims.get(b"W", dims.get(b"Width", 0)), dims.get(b"H", dims.get(b"Height", 0))
    if width * height > meter.limits.max_image_pixels:
        raise too_complex(f"{what} has an inline image of {width:,} x {height:,} pixels (the "
                          f"limit is {meter.limits.max_image_pixels:,} pixels)")
    space = _INLINE_CS.search(head)
    comps = _INLINE_COMPONENTS.get(space.group(1), 1) if space else 1
    bpc = max(1, dims.get(b"BPC", dims.get(b"BitsPerComponent", 8)))
    raster = (width * comps * bpc + 7) // 8 * height
    if raster > meter.limits.max_stream_bytes:
        raise too_complex(f"{what} has an inline image of {raster:,} bytes decoded (the "
                          f"limit is {meter.limits.max_stream_bytes:,})")


def _components(colour_space: Any) -> int:
    cs = resolve(colour_space)
    if isinstance(cs, ArrayObject) and len(cs) > 0:
        family = str(resolve(cs[0]))
        if family == "/ICCBased" and len(cs) > 1:
            return max(1, param_int(resolve(cs[1]), "/N", 3))
        if family == "/DeviceN" and len(cs) > 1:
            return max(1, len(_as_list(cs[1])))
        return _COMPONENTS.get(family, 3)
    return _COMPONENTS.get(str(cs), 3) if cs is not None else 3


def _check_image(meter: _Meter, obj: DictionaryObject, what: str) -> None:
    width, height = param_int(obj, "/Width", 0), param_int(obj, "/Height", 0)
    pixels = width * height
    if pixels > meter.limits.max_image_pixels:
        raise too_complex(f"{what} is an image of {width:,} x {height:,} pixels (the limit "
                          f"is {meter.limits.max_image_pixels:,} pixels)")
    mask = bool(resolve(obj.get("/ImageMask", False)))
    comps = 1 if mask else _components(obj.get("/ColorSpace"))
    bpc = 1 if mask else max(1, param_int(obj, "/BitsPerComponent", 8))
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
            image = resolve(obj.get("/Subtype")) == NameObject("/Image")
            if image:
                _check_image(meter, obj, what)
            _measure_stream(meter, raw, _as_list(obj.get("/Filter")),
                            _as_list(obj.get("/DecodeParms")), what, content=not image)
        except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError,
                RecursionError) as exc:
            raise too_complex(f"{what} could not be measured ({exc})") from exc
    reader.resolved_objects.clear()
    return LimitReport(objects=count, streams=streams, decoded_bytes=meter.total,
                       largest_stream=meter.largest)
