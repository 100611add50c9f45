from __future__ import annotations

import hashlib
import io
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from pypdf import PdfReader

from accord.documents.certificate import (
    CompletionSummary,
    DocumentSummary,
    RecipientSummary,
    assemble,
    certificate_pdf,
    format_time,
)
from accord.documents.pdf import DocumentError, inspect_pdf

from .conftest import T0, signature_png

LIMITS = {"max_bytes": 5_000_000, "max_pages": 50}
AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15 SomeVeryLongToken/" + "x" * 90
)


def recipient(n: int, **changes: object) -> RecipientSummary:
    base = RecipientSummary(
        name=f"Signer {n}", email=f"signer{n}@example.com", role="signer", routing_order=n,
        status="completed", auth_method="email + SMS code", ip=f"198.51.100.{n}",
        user_agent=AGENT, consented_at=T0, consent_version="esign-2024-01",
        viewed_at=T0 + timedelta(minutes=1), completed_at=T0 + timedelta(minutes=2),
        signature_png=signature_png(),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def summary(recipients: list[RecipientSummary]) -> CompletionSummary:
    return CompletionSummary(
        envelope_id="env_01HZX8Q4W5", subject="Support agreement – Acme / Globex",
        organisation="Acme Support Ltd", sent_at=T0 - timedelta(days=1),
        completed_at=T0 + timedelta(hours=1),
        documents=[
            DocumentSummary("Agreement.pdf", 3, hashlib.sha256(b"a").hexdigest(),
                            hashlib.sha256(b"b").hexdigest()),
            DocumentSummary("Schedule.pdf", 1, hashlib.sha256(b"c").hexdigest(),
                            hashlib.sha256(b"d").hexdigest()),
        ],
        recipients=recipients, audit_event_count=14, audit_head_hash="ab" * 32,
        extra_lines=[("Contract", "CT-2024-0042")],
    )


def all_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_certificate_contains_the_evidence() -> None:
    data = certificate_pdf(summary([recipient(1), recipient(2, role="approver",
                                                            signature_png=None)]))
    info = inspect_pdf(data, **LIMITS)
    assert info.page_count in (1, 2)
    text = all_text(data)
    for expected in [
        "Certificate of Completion", "env_01HZX8Q4W5", "Acme Support Ltd",
        "Support agreement – Acme / Globex", "Agreement.pdf", "Schedule.pdf",
        hashlib.sha256(b"a").hexdigest(), hashlib.sha256(b"b").hexdigest(),
        hashlib.sha256(b"d").hexdigest(), "Signer 1", "signer2@example.com", "Approver",
        "198.51.100.1", "email + SMS code", "esign-2024-01", "2024-05-01 09:30:00 UTC",
        "2024-05-01 09:32:00 UTC", "2024-04-30 09:30:00 UTC", "ab" * 32, "14",
        "CT-2024-0042", "audit-trail.json", f"page 1 of {info.page_count}",
    ]:
        assert expected in text, expected
    # the long user agent is wrapped, not lost
    assert "SomeVeryLongToken" in text
    assert "x" * 40 in text.replace("\n", "")


def test_signature_images_are_embedded_once_per_picture() -> None:
    data = certificate_pdf(summary([recipient(1), recipient(2)]))
    refs = set()
    for page in PdfReader(io.BytesIO(data)).pages:
        xobjects = page["/Resources"]["/XObject"]
        refs |= {xobjects.raw_get(name).idnum for name in xobjects}
        for name in xobjects:
            assert "/SMask" in xobjects[name]
    assert len(refs) == 1  # the same PNG twice -> one image object


def test_many_recipients_flow_onto_more_pages() -> None:
    data = certificate_pdf(summary([recipient(n) for n in range(1, 13)]))
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) >= 3
    text = all_text(data)
    assert "Signer 12" in text
    assert f"page {len(reader.pages)} of {len(reader.pages)}" in text


def test_non_latin_names_are_replaced_not_fatal() -> None:
    data = certificate_pdf(summary([recipient(1, name="王小明 Zoë", email="ω@example.com",
                                              ip=None, user_agent=None, consented_at=None,
                                              consent_version=None)]))
    text = all_text(data)
    assert "??? Zoë" in text
    assert "?@example.com" in text


def test_times_are_shown_in_utc() -> None:
    cest = timezone(timedelta(hours=2))
    assert format_time(datetime(2024, 5, 1, 11, 30, tzinfo=cest)) == "2024-05-01 09:30:00 UTC"
    assert format_time(None) == "-"
    with pytest.raises(DocumentError):
        format_time(datetime(2024, 5, 1, 11, 30))


def test_certificate_is_fast() -> None:
    s = summary([recipient(1), recipient(2)])
    certificate_pdf(s)
    start = time.perf_counter()
    for _ in range(20):
        certificate_pdf(s)
    assert (time.perf_counter() - start) / 20 < 0.02  # typically ~1 ms


def test_assemble_concatenates_documents_then_certificate(contract_pdf: bytes) -> None:
    cert = certificate_pdf(summary([recipient(1)]))
    out = assemble([contract_pdf, contract_pdf], cert)
    reader = PdfReader(io.BytesIO(out))
    assert len(reader.pages) == 7
    assert "SIGHERE_1" in reader.pages[1].extract_text()
    assert "SIGHERE_1" in reader.pages[4].extract_text()
    assert "Certificate of Completion" in reader.pages[6].extract_text()


def test_assemble_needs_documents() -> None:
    with pytest.raises(DocumentError) as info:
        assemble([], certificate_pdf(summary([recipient(1)])))
    assert info.value.code == "document_empty"


def test_assemble_refuses_garbage(contract_pdf: bytes) -> None:
    with pytest.raises(DocumentError):
        assemble([contract_pdf, b"%PDF-1.4 rubbish"], b"also rubbish")


def test_completed_at_must_be_aware() -> None:
    naive = replace(summary([recipient(1)]), completed_at=datetime(2024, 1, 1))
    with pytest.raises(DocumentError):
        certificate_pdf(naive)


def test_overlong_values_continue_on_the_next_page() -> None:
    huge = " ".join(f"token{i:04d}" for i in range(1500))
    data = certificate_pdf(replace(summary([recipient(1)]), extra_lines=[("Notes", huge)]))
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) >= 3
    text = all_text(data)
    assert "token0000" in text
    assert "token1499" in text
    for page in reader.pages:  # nothing is drawn below the bottom margin
        for line in page.get_contents().get_data().split(b"\n"):
            if line.startswith(b"BT ") and b"Certificate of Completion  -  page" not in line:
                y = float(line.split(b" Td")[0].split()[-1])
                assert y >= 40, line
