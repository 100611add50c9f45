"""Adopted signatures: a typed name rendered to an image, or a drawn PNG checked for sanity."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from accord.errors import InvalidInput

MAX_DRAWN_BYTES = 300_000
FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif-Italic.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Oblique.ttf"),
)


@dataclass(frozen=True)
class Adopted:
    kind: str  # "typed" or "drawn"
    png: bytes
    text: str | None = None


@lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in FONT_CANDIDATES:
        if path.exists():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


def render_typed(text: str, *, height: int = 120) -> bytes:
    text = " ".join(text.split())
    if not 1 <= len(text) <= 80:
        raise InvalidInput("type your name (1-80 characters) to adopt a signature",
                           code="signature_text_invalid")
    font = _font(int(height * 0.6))
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    left, top, right, bottom = probe.textbbox((0, 0), text, font=font)
    width = int(right - left) + 40
    img = Image.new("RGBA", (width, height), (255, 255, 255, 0))
    ImageDraw.Draw(img).text((20 - left, (height - (bottom - top)) / 2 - top), text,
                             font=font, fill=(16, 32, 96, 255))
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def parse_drawn(data_url: str) -> bytes:
    prefix = "data:image/png;base64,"
    if not data_url.startswith(prefix):
        raise InvalidInput("a drawn signature must be a PNG data URL",
                           code="signature_image_invalid")
    try:
        raw = base64.b64decode(data_url[len(prefix):], validate=True)
    except ValueError as exc:
        raise InvalidInput("the drawn signature is not valid base64",
                           code="signature_image_invalid") from exc
    if len(raw) > MAX_DRAWN_BYTES:
        raise InvalidInput("the drawn signature image is too large",
                           code="signature_image_too_large")
    try:
        with Image.open(io.BytesIO(raw)) as img:
            if img.format != "PNG" or not (10 <= img.width <= 2000 and 10 <= img.height <= 1000):
                raise InvalidInput("the drawn signature has an unusable size",
                                   code="signature_image_invalid")
            img.load()
            bbox = img.convert("RGBA").getchannel("A").getbbox()
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidInput("the drawn signature is not a PNG image",
                           code="signature_image_invalid") from exc
    if bbox is None:
        raise InvalidInput("the drawn signature is empty: draw your signature first",
                           code="signature_empty")
    return raw


def adopt(kind: str, *, text: str | None, drawn: str | None) -> Adopted:
    if kind == "typed":
        return Adopted("typed", render_typed(text or ""), text)
    if kind == "drawn":
        return Adopted("drawn", parse_drawn(drawn or ""))
    raise InvalidInput("signature_kind must be 'typed' or 'drawn'", code="signature_kind_invalid")


def initials_of(name: str) -> str:
    parts = [p for p in name.replace("-", " ").split() if p]
    return "".join(p[0].upper() for p in parts[:3]) or "X"
