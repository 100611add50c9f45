"""The Certificate of Completion, and assembly of the final PDF.

The certificate is written directly as PDF objects (standard-14 fonts, WinAnsi text, image
XObjects for signatures): it sits on the completion hot path, where a layout engine would
cost more than the rest of the pipeline together.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pypdf import PdfReader, PdfWriter
from pypdf.errors import PyPdfError

from accord.documents.drawing import (
    Font,
    PdfImage,
    RawPdf,
    draw_image,
    encode,
    fit_image,
    font_dict,
    load_png,
    num,
    text_line,
    wrap,
)
from accord.documents.pdf import DocumentError

PAGE_W, PAGE_H = 595.28, 841.89  # A4
MARGIN = 48.0
LABEL_W = 132.0
SIG_W, SIG_H = 150.0, 50.0
BODY = 9.0
MONO = 8.0
LEADING = 1.3
FONT_NAMES: dict[Font, bytes] = {
    Font.HELVETICA: b"F1",
    Font.HELVETICA_BOLD: b"F2",
    Font.COURIER: b"F3",
}
ROLE_LABELS = {"signer": "Signer", "approver": "Approver", "cc": "Copy recipient (cc)"}
GREY = b"0.35 g"
RULE = b"0.75 G"


@dataclass(frozen=True)
class DocumentSummary:
    name: str
    pages: int
    sha256_original: str
    sha256_stamped: str


@dataclass(frozen=True)
class RecipientSummary:
    name: str
    email: str
    role: str  # "signer" | "approver" | "cc"
    routing_order: int
    status: str
    auth_method: str
    ip: str | None
    user_agent: str | None
    consented_at: datetime | None
    consent_version: str | None
    viewed_at: datetime | None
    completed_at: datetime | None
    signature_png: bytes | None


@dataclass(frozen=True)
class CompletionSummary:
    envelope_id: str
    subject: str
    organisation: str
    sent_at: datetime | None
    completed_at: datetime
    documents: list[DocumentSummary]
    recipients: list[RecipientSummary]
    audit_event_count: int
    audit_head_hash: str
    extra_lines: list[tuple[str, str]] = field(default_factory=list)


def format_time(value: datetime | None) -> str:
    """UTC, ISO-like, to the second: ``2024-05-01 13:45:10 UTC``; an em dash when absent."""
    if value is None:
        return "-"
    if value.tzinfo is None or value.utcoffset() is None:
        raise DocumentError(
            "document_naive_datetime", "Certificate times must be timezone-aware."
        )
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class _Layout:
    """Flows blocks of text down A4 pages, starting a new page when a block does not fit."""

    def __init__(self, pdf: RawPdf) -> None:
        self.pdf = pdf
        self.pages: list[list[bytes]] = []
        self.images: list[dict[bytes, int]] = []
        self._image_numbers: dict[int, int] = {}
        self.y = 0.0
        self.new_page()

    @property
    def ops(self) -> list[bytes]:
        return self.pages[-1]

    def new_page(self) -> None:
        self.pages.append([])
        self.images.append({})
        self.y = PAGE_H - MARGIN

    def ensure(self, height: float) -> None:
        if self.y - height < MARGIN + 20 and self.ops:
            self.new_page()

    def text(self, font: Font, size: float, x: float, line: bytes, *, grey: bool = False,
             baseline: float | None = None) -> None:
        y = self.y - size if baseline is None else baseline
        op = text_line(FONT_NAMES[font], size, x, y, line)
        self.ops.append(GREY + b" " + op + b"0 g\n" if grey else op)

    def heading(self, title: str, size: float = 12.0) -> None:
        self.ensure(size * 3)
        self.y -= size * 0.6
        self.text(Font.HELVETICA_BOLD, size, MARGIN, encode(title))
        self.y -= size * 1.25
        self.rule()

    def rule(self) -> None:
        self.ops.append(
            b"%s 0.5 w %s %s m %s %s l S 0 G\n"
            % (RULE, num(MARGIN), num(self.y), num(PAGE_W - MARGIN), num(self.y))
        )
        self.y -= 6

    def field_lines(self, value: str, font: Font, width: float) -> list[bytes]:
        size = MONO if font is Font.COURIER else BODY
        return wrap(value, font, size, width) or [b""]

    def row_height(self, value: str, font: Font, width: float) -> float:
        size = MONO if font is Font.COURIER else BODY
        return max(len(self.field_lines(value, font, width)) * size * LEADING, BODY * LEADING) + 2

    def row(self, label: str, value: str, font: Font = Font.HELVETICA,
            width: float = PAGE_W - 2 * MARGIN - LABEL_W) -> None:
        """A label and its wrapped value; a value too long for the page continues overleaf."""
        lines = self.field_lines(value, font, width)
        size = MONO if font is Font.COURIER else BODY
        step = size * LEADING
        self.ensure(min(len(lines), 4) * step)
        top = self.y
        baseline = top - BODY
        self.text(Font.HELVETICA_BOLD, BODY, MARGIN, encode(label), grey=True, baseline=baseline)
        for line in lines:
            if baseline < MARGIN + 20:
                self.new_page()
                top = self.y
                baseline = top - BODY
            self.text(font, size, MARGIN + LABEL_W, line, baseline=baseline)
            baseline -= step
        self.y = min(baseline + BODY, top - BODY * LEADING) - 2

    def image(self, image: PdfImage, box: tuple[float, float, float, float]) -> None:
        key = id(image)
        if key not in self._image_numbers:
            self._image_numbers[key] = self.pdf.add_image(image)
        names = self.images[-1]
        name = b"Im%d" % (len(names) + 1)
        for existing, number in names.items():
            if number == self._image_numbers[key]:
                name = existing
        names[name] = self._image_numbers[key]
        x, y, w, h = box
        self.ops.append(b"%s 0.5 w %s %s %s %s re S 0 G\n" % (RULE, num(x), num(y), num(w), num(h)))
        self.ops.append(draw_image(name, fit_image(image, x + 3, y + 3, w - 6, h - 6)))


def _recipient(layout: _Layout, number: int, r: RecipientSummary) -> None:
    value_w = PAGE_W - 2 * MARGIN - LABEL_W - (SIG_W + 10 if r.signature_png else 0)
    rows: list[tuple[str, str, Font]] = [
        ("Email", r.email, Font.HELVETICA),
        ("Role", ROLE_LABELS.get(r.role, r.role), Font.HELVETICA),
        ("Routing order", str(r.routing_order), Font.HELVETICA),
        ("Status", r.status, Font.HELVETICA),
        ("Authentication", r.auth_method, Font.HELVETICA),
        ("IP address", r.ip or "-", Font.COURIER),
        ("User agent", r.user_agent or "-", Font.COURIER),
        (
            "Consent to e-sign",
            f"{format_time(r.consented_at)}"
            + (f" (disclosure version {r.consent_version})" if r.consent_version else ""),
            Font.HELVETICA,
        ),
        ("Viewed", format_time(r.viewed_at), Font.HELVETICA),
        ("Signed" if r.role == "signer" else "Completed", format_time(r.completed_at),
         Font.HELVETICA),
    ]
    height = 16 + sum(layout.row_height(v, f, value_w) for _l, v, f in rows)
    layout.ensure(max(height, SIG_H + 20))
    top = layout.y
    layout.text(Font.HELVETICA_BOLD, 10.5, MARGIN, encode(f"{number}. {r.name}"))
    layout.y -= 16
    page = len(layout.pages)
    sig_bottom = None
    if r.signature_png:  # drawn first, so it stays on the page where the block starts
        image = load_png(r.signature_png)
        box = (PAGE_W - MARGIN - SIG_W, top - 16 - SIG_H, SIG_W, SIG_H)
        layout.image(image, box)
        sig_bottom = box[1] - 4
    for label, value, font in rows:
        layout.row(label, value, font, value_w)
    if sig_bottom is not None and len(layout.pages) == page:
        layout.y = min(layout.y, sig_bottom)
    layout.y -= 6


def certificate_pdf(summary: CompletionSummary) -> bytes:
    """The Certificate of Completion for an envelope, as a standalone PDF (one or more pages)."""
    pdf = RawPdf()
    layout = _Layout(pdf)
    layout.text(Font.HELVETICA_BOLD, 20, MARGIN, b"Certificate of Completion")
    layout.y -= 30
    layout.text(Font.HELVETICA, 10, MARGIN, encode(summary.organisation), grey=True)
    layout.y -= 16

    layout.heading("Envelope")
    layout.row("Envelope ID", summary.envelope_id, Font.COURIER)
    layout.row("Subject", summary.subject)
    layout.row("Organisation", summary.organisation)
    layout.row("Sent", format_time(summary.sent_at))
    layout.row("Completed", format_time(summary.completed_at))
    for label, value in summary.extra_lines:
        layout.row(label, value)

    layout.heading("Documents")
    for i, doc in enumerate(summary.documents, start=1):
        layout.ensure(4 * BODY * LEADING + 8)
        layout.row(f"{i}. Document", doc.name)
        layout.row("Pages", str(doc.pages))
        layout.row("SHA-256 original", doc.sha256_original, Font.COURIER)
        layout.row("SHA-256 completed", doc.sha256_stamped, Font.COURIER)
        layout.y -= 4

    layout.heading("Recipients")
    ordered = sorted(summary.recipients, key=lambda r: r.routing_order)
    for i, recipient in enumerate(ordered, start=1):
        _recipient(layout, i, recipient)

    layout.heading("Audit trail")
    layout.row("Events", str(summary.audit_event_count))
    layout.row("Head hash", summary.audit_head_hash, Font.COURIER)
    layout.row(
        "Note",
        "The complete, hash-linked audit trail is embedded in this PDF as audit-trail.json; "
        "the PDF is sealed with the organisation's certificate and a time stamp.",
    )
    return _finish(pdf, layout, summary)


def _finish(pdf: RawPdf, layout: _Layout, summary: CompletionSummary) -> bytes:
    fonts = b"".join(
        b"/%s %d 0 R" % (name, pdf.add(font_dict(font))) for font, name in FONT_NAMES.items()
    )
    pages_ref = pdf.reserve()
    total = len(layout.pages)
    kids: list[int] = []
    footer_id = encode(f"Envelope {summary.envelope_id}")
    for index, (ops, images) in enumerate(zip(layout.pages, layout.images, strict=True)):
        footer = b"%s %s0 g\n" % (
            GREY,
            text_line(b"F1", 7.5, MARGIN, MARGIN - 14,
                      footer_id + encode(f"  -  Certificate of Completion  -  page "
                                         f"{index + 1} of {total}")),
        )
        content = pdf.add_stream(
            b"/Filter/FlateDecode", zlib.compress(b"".join(ops) + footer, 6)
        )
        xobjects = b"".join(b"/%s %d 0 R" % (name, number) for name, number in images.items())
        resources = b"<</Font<<%s>>/XObject<<%s>>/ProcSet[/PDF/Text/ImageC/ImageB]>>" % (
            fonts,
            xobjects,
        )
        kids.append(
            pdf.add(
                b"<</Type/Page/Parent %d 0 R/MediaBox[0 0 %s %s]/Resources%s/Contents %d 0 R>>"
                % (pages_ref, num(PAGE_W), num(PAGE_H), resources, content)
            )
        )
    pdf.put(
        pages_ref,
        b"<</Type/Pages/Count %d/Kids[%s]>>" % (total, b" ".join(b"%d 0 R" % k for k in kids)),
    )
    root = pdf.add(b"<</Type/Catalog/Pages %d 0 R>>" % pages_ref)
    info = pdf.add(b"<</Title(Certificate of Completion)/Producer(Accord)>>")
    return pdf.to_bytes(root, info)


def assemble(documents: Sequence[bytes], certificate: bytes) -> bytes:
    """One PDF: every (stamped) document's pages in order, then the certificate's pages."""
    if not documents:
        raise DocumentError("document_empty", "There are no documents to assemble.")
    writer = PdfWriter()
    try:
        for data in [*documents, certificate]:
            writer.append(PdfReader(io.BytesIO(data), strict=False))
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DocumentError("document_not_pdf", f"A document could not be read: {exc}") from exc
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
