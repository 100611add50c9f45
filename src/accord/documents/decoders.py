"""Streaming PDF stream decoders for measuring decoded sizes (see ``limits``).

Each decoder takes an iterable of byte chunks and yields its output in chunks of at most
``OUT_CHUNK`` bytes (LZW and RunLength may exceed it by one table entry or run), so a caller
can count and stop at any point without holding the output.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

from pypdf.generic import DictionaryObject, IndirectObject

__all__ = ["CHUNK", "OUT_CHUNK", "Unsupported", "decode_stage", "param_int", "raw_chunks",
           "resolve"]

CHUNK = 64 * 1024       # input read at a time
OUT_CHUNK = 256 * 1024  # output a decoder produces at a time


class Unsupported(ValueError):
    """A filter chain the measurement refuses to follow (the caller says too complex)."""




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
            if len(out) >= OUT_CHUNK:
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


def resolve(value: Any) -> Any:
    return value.get_object() if isinstance(value, IndirectObject) else value


def param_int(params: Any, key: str, default: int) -> int:
    if not isinstance(params, DictionaryObject):
        return default
    value = resolve(params.get(key, default))
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


_SIMPLE = {"/RunLengthDecode": _run_length, "/ASCIIHexDecode": _ascii_hex,
           "/ASCII85Decode": _ascii85}


def decode_stage(chunks: Iterable[bytes], name: str, params: Any,
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
        _lzw(chunks, param_int(params, "/EarlyChange", 1))
    predictor = param_int(params, "/Predictor", 1)
    if predictor < 2 or not later:
        return out  # a predictor never makes the data longer: only needed if decoded on
    colours = max(1, param_int(params, "/Colors", 1))
    bpc = param_int(params, "/BitsPerComponent", 8)
    columns = max(1, param_int(params, "/Columns", 1))
    row = (colours * bpc * columns + 7) // 8
    if row > CHUNK * 16:
        raise Unsupported(f"a predictor row of {row:,} bytes")
    if predictor >= 10:
        return _png_unpredict(out, row, max(1, colours * bpc // 8))
    if bpc != 8:
        raise Unsupported("a TIFF predictor other than 8-bit before another filter")
    return _tiff_unpredict(out, row, colours)


def raw_chunks(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(data), CHUNK):
        yield bytes(view[start:start + CHUNK])
