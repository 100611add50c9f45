"""Low-level PDF drawing shared by stamping and the certificate page.

Text is drawn with standard-14 fonts in WinAnsiEncoding (nothing to embed, so fast and
small); anything outside Windows-1252 becomes ``?``. Images become Flate-compressed image
XObjects, with an /SMask when the picture has transparency (drawn signatures).
"""

from __future__ import annotations

import functools
import io
import zlib
from dataclasses import dataclass
from enum import Enum

from PIL import Image, UnidentifiedImageError

from accord.documents._afm import COURIER_WIDTH, HELVETICA, HELVETICA_BOLD
from accord.documents.pdf import DocumentError

MAX_IMAGE_PIXELS = 4_000_000
_CONTROL = dict.fromkeys(range(32), " ") | {127: None}


class Font(Enum):
    """The standard-14 fonts Accord draws with; the value is the PDF /BaseFont."""

    HELVETICA = "Helvetica"
    HELVETICA_BOLD = "Helvetica-Bold"
    HELVETICA_OBLIQUE = "Helvetica-Oblique"
    COURIER = "Courier"

    def width(self, text: bytes, size: float) -> float:
        """Advance width in points of WinAnsi-encoded ``text`` at ``size``."""
        if self is Font.COURIER:
            return len(text) * COURIER_WIDTH * size / 1000.0
        table = HELVETICA_BOLD if self is Font.HELVETICA_BOLD else HELVETICA
        return sum(table[c - 32] for c in text if c >= 32) * size / 1000.0


def font_dict(font: Font) -> bytes:
    """The PDF dictionary of a standard-14 font, WinAnsi-encoded."""
    return b"<</Type/Font/Subtype/Type1/BaseFont/%s/Encoding/WinAnsiEncoding>>" % (
        font.value.encode("ascii")
    )


def encode(text: str) -> bytes:
    """``text`` in Windows-1252 (WinAnsi): control characters become spaces, others ``?``."""
    return text.translate(_CONTROL).encode("cp1252", errors="replace")


def literal(data: bytes) -> bytes:
    """A PDF literal string for already-encoded bytes."""
    escaped = data.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
    return b"(" + escaped + b")"


def num(value: float) -> bytes:
    """A compact PDF number."""
    if value == int(value):
        return b"%d" % int(value)
    text = b"%.3f" % value
    return text.rstrip(b"0").rstrip(b".") if b"." in text else text


def wrap(text: str, font: Font, size: float, max_width: float) -> list[bytes]:
    """Break ``text`` into encoded lines no wider than ``max_width`` (long words are split)."""
    lines: list[bytes] = []
    for paragraph in text.replace("\r\n", "\n").split("\n"):
        current = b""
        for word in encode(paragraph).split(b" "):
            if not word:
                continue
            candidate = current + b" " + word if current else word
            if font.width(candidate, size) <= max_width:
                current = candidate
                continue
            if current:
                lines.append(current)
                current = b""
            rest = word
            while font.width(rest, size) > max_width and len(rest) > 1:
                cut = _fit_prefix(rest, font, size, max_width)
                lines.append(rest[:cut])
                rest = rest[cut:]
            current = rest
        lines.append(current)
    return lines


def _fit_prefix(word: bytes, font: Font, size: float, max_width: float) -> int:
    width, cut = 0.0, 0
    for i in range(len(word)):
        width += font.width(word[i : i + 1], size)
        if width > max_width:
            break
        cut = i + 1
    return max(cut, 1)


@dataclass(frozen=True)
class PdfImage:
    """A decoded picture, ready to become an image XObject (data already Flate-encoded)."""

    width: int
    height: int
    gray: bool
    data: bytes
    alpha: bytes | None  # Flate-encoded 8-bit soft mask, None when fully opaque

    @property
    def colour_space(self) -> bytes:
        return b"/DeviceGray" if self.gray else b"/DeviceRGB"

    def xobject_dicts(self) -> tuple[bytes, bytes | None]:
        """The image's and its soft mask's stream dictionaries, minus /Length and /SMask."""
        base = b"/Type/XObject/Subtype/Image/Width %d/Height %d/BitsPerComponent 8" % (
            self.width,
            self.height,
        )
        image = base + b"/ColorSpace" + self.colour_space + b"/Filter/FlateDecode"
        mask = base + b"/ColorSpace/DeviceGray/Filter/FlateDecode" if self.alpha else None
        return image, mask


def load_png(png: bytes) -> PdfImage:
    """Decode a PNG (or any Pillow image) for embedding; cached, so reuse is free."""
    return _load_png(png)


@functools.lru_cache(maxsize=64)
def _load_png(png: bytes) -> PdfImage:
    try:
        with Image.open(io.BytesIO(png)) as img:
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise DocumentError("image_too_large", "The image has too many pixels.")
            img.load()
            picture = img.copy()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DocumentError("image_invalid", f"The image could not be read: {exc}") from exc
    has_alpha = picture.mode in ("RGBA", "LA", "PA") or (
        picture.mode == "P" and "transparency" in picture.info
    )
    gray = picture.mode in ("1", "L", "LA", "I", "I;16", "F")
    if has_alpha:
        picture = picture.convert("LA" if gray else "RGBA")
        alpha_band = picture.getchannel("A")
        colour = picture.convert("L" if gray else "RGB")
        lo, _hi = alpha_band.getextrema()
        alpha = None if lo == 255 else zlib.compress(alpha_band.tobytes(), 6)
    else:
        colour = picture.convert("L" if gray else "RGB")
        alpha = None
    return PdfImage(
        width=colour.width,
        height=colour.height,
        gray=gray,
        data=zlib.compress(colour.tobytes(), 6),
        alpha=alpha,
    )


def fit_image(image: PdfImage, x: float, y: float, w: float, h: float) -> tuple[float, ...]:
    """(x, y, w, h) of ``image`` scaled to fit the box, keeping its aspect ratio, centred."""
    scale = min(w / image.width, h / image.height)
    iw, ih = image.width * scale, image.height * scale
    return (x + (w - iw) / 2, y + (h - ih) / 2, iw, ih)


def draw_image(name: bytes, box: tuple[float, ...]) -> bytes:
    """Operators painting image XObject ``name`` into ``box`` (x, y, w, h)."""
    x, y, w, h = box
    return b"q %s 0 0 %s %s %s cm /%s Do Q\n" % (num(w), num(h), num(x), num(y), name)


def text_line(font_name: bytes, size: float, x: float, y: float, text: bytes) -> bytes:
    """Operators drawing one line of encoded text with its baseline starting at (x, y)."""
    return b"BT /%s %s Tf %s %s Td %s Tj ET\n" % (
        font_name,
        num(size),
        num(x),
        num(y),
        literal(text),
    )


class RawPdf:
    """A minimal PDF writer: numbered objects in, a classic xref-table PDF out."""

    def __init__(self) -> None:
        self._objects: list[bytes | None] = []

    def reserve(self) -> int:
        self._objects.append(None)
        return len(self._objects)

    def add(self, body: bytes) -> int:
        self._objects.append(body)
        return len(self._objects)

    def put(self, number: int, body: bytes) -> None:
        self._objects[number - 1] = body

    def add_stream(self, dictionary: bytes, data: bytes) -> int:
        return self.add(b"<<%s/Length %d>>stream\n%s\nendstream" % (dictionary, len(data), data))

    def add_image(self, image: PdfImage) -> int:
        """Add an image (and its soft mask); return the image's object number."""
        image_dict, mask_dict = image.xobject_dicts()
        if image.alpha is not None and mask_dict is not None:
            mask = self.add_stream(mask_dict, image.alpha)
            image_dict += b"/SMask %d 0 R" % mask
        return self.add_stream(image_dict, image.data)

    def to_bytes(self, root: int, info: int | None = None) -> bytes:
        out = io.BytesIO()
        out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets: list[int] = []
        for number, body in enumerate(self._objects, start=1):
            if body is None:
                raise ValueError(f"object {number} was reserved but never written")
            offsets.append(out.tell())
            out.write(b"%d 0 obj\n" % number)
            out.write(body)
            out.write(b"\nendobj\n")
        xref = out.tell()
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1))
        out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
        trailer = b"/Size %d/Root %d 0 R" % (len(offsets) + 1, root)
        if info is not None:
            trailer += b"/Info %d 0 R" % info
        out.write(b"trailer\n<<%s>>\nstartxref\n%d\n%%%%EOF\n" % (trailer, xref))
        return out.getvalue()
