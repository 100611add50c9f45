from __future__ import annotations

import asyncio
import copy
import hashlib
import io
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pypdf import PdfReader

from accord.audit import chain
from accord.documents.pki import Identity, generate_identity, identity_from_pkcs12
from accord.documents.seal import Sealer, SealError
from accord.documents.verify import VerifyReport, verify_audit_json, verify_pdf

from .conftest import (
    ENVELOPE_ID,
    T0,
    make_events,
    make_pkcs12,
    raw_trail_json,
    trail_json,
)

ALL_CHECKS = [
    "signature present", "seal intact", "covers entire file", "chains to trusted root",
    "timestamp valid", "audit trail embedded", "audit chain intact", "document hash matches",
]


def failed(report: VerifyReport) -> set[str]:
    return {check.name for check in report.checks if not check.ok}


def by_name(report: VerifyReport, name: str) -> str:
    return next(check.detail for check in report.checks if check.name == name)


@pytest.fixture(scope="module")
def other_identity() -> Identity:
    return generate_identity("Someone Else")


def test_sealed_pdf_verifies(sealed: bytes, identity: Identity, contract_pdf: bytes) -> None:
    report = verify_pdf(sealed, identity.trust_roots_pem)
    assert [c.name for c in report.checks] == ALL_CHECKS
    assert report.ok, report.checks
    assert report.envelope_id == ENVELOPE_ID
    assert report.signer == "Acme Support Ltd Document Seal"
    assert report.signed_at is not None
    assert report.signed_at.tzinfo is not None
    assert report.timestamp_at is not None
    assert report.timestamp_at.tzinfo is not None
    assert len(report.audit_events) == 12
    assert report.audit_events[-1]["tag"] == "envelope:completed"
    assert "Acme Support Ltd Accord Root CA" in by_name(report, "chains to trusted root")


def test_seal_is_one_incremental_update(sealed: bytes, contract_pdf: bytes) -> None:
    assert sealed[: len(contract_pdf)] == contract_pdf
    assert hashlib.sha256(sealed[: len(contract_pdf)]).digest() == hashlib.sha256(
        contract_pdf).digest()
    before = PdfFileReader(io.BytesIO(contract_pdf)).xrefs.total_revisions
    after = PdfFileReader(io.BytesIO(sealed)).xrefs.total_revisions
    assert after == before + 1


def test_seal_structure(sealed: bytes) -> None:
    reader = PdfFileReader(io.BytesIO(sealed))
    (sig,) = reader.embedded_signatures
    assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert sig.md_algorithm == "sha256"
    assert sig.sig_object["/Reason"] == "Sealed by Accord"
    dss = reader.root["/DSS"]
    assert len(dss["/Certs"]) == 3  # seal, TSA and root certificates for B-LT material
    attachments = PdfReader(io.BytesIO(sealed)).attachments
    trail = json.loads(attachments["audit-trail.json"][0])
    assert trail["format"] == "accord-audit-trail/1"
    spec = reader.root["/Names"]["/EmbeddedFiles"]["/Names"][1]
    assert spec["/EF"]["/F"]["/Subtype"] == "/application/json"


def test_verify_against_wrong_root_fails_chain(sealed: bytes, other_identity: Identity) -> None:
    report = verify_pdf(sealed, other_identity.trust_roots_pem)
    assert failed(report) == {"chains to trusted root", "timestamp valid"}
    assert not report.ok


def test_verify_without_roots_fails_chain(sealed: bytes) -> None:
    report = verify_pdf(sealed, [])
    assert failed(report) == {"chains to trusted root", "timestamp valid"}
    assert by_name(report, "chains to trusted root") == "no trust roots were given to check against"


def signed_positions(sealed: bytes) -> list[int]:
    sig = PdfFileReader(io.BytesIO(sealed)).embedded_signatures[-1]
    _a, len1, start2, len2 = (int(v) for v in sig.byte_range)
    trail_at = sealed.index(b"/EmbeddedFile")
    return [0, 9, 200, len1 // 3, len1 // 2, trail_at, len1 - 40, len1 - 1, start2,
            start2 + 3, start2 + len2 // 2, start2 + len2 - 8, start2 + len2 - 1]


def test_flipping_any_signed_byte_breaks_the_seal(
    sealed: bytes, identity: Identity
) -> None:
    positions = signed_positions(sealed)
    assert len(positions) == len(set(positions))
    for position in positions:
        tampered = bytearray(sealed)
        tampered[position] ^= 0x01
        report = verify_pdf(bytes(tampered), identity.trust_roots_pem)
        assert not report.ok, position
        assert failed(report) & {"signature present", "seal intact"}, (position, report.checks)


def test_garbage_never_raises(identity: Identity) -> None:
    for data in [b"", b"garbage", b"%PDF-1.7\n%%EOF", b"\x00" * 1000]:
        report = verify_pdf(data, identity.trust_roots_pem)
        assert not report.ok
        assert [c.name for c in report.checks] == ALL_CHECKS


def test_truncated_seal_never_raises(sealed: bytes, identity: Identity) -> None:
    for cut in (len(sealed) // 2, len(sealed) - 100, len(sealed) - 2):
        report = verify_pdf(sealed[:cut], identity.trust_roots_pem)
        assert not report.ok


def append_annotation(sealed: bytes) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(sealed))
    page_ref = writer.root["/Pages"]["/Kids"][0]
    annot = generic.DictionaryObject({
        generic.pdf_name("/Type"): generic.pdf_name("/Annot"),
        generic.pdf_name("/Subtype"): generic.pdf_name("/Text"),
        generic.pdf_name("/Rect"): generic.ArrayObject([generic.NumberObject(v)
                                                        for v in (10, 10, 30, 30)]),
        generic.pdf_name("/Contents"): generic.pdf_string("added after sealing"),
    })
    page = page_ref.get_object()
    page["/Annots"] = generic.ArrayObject([writer.add_object(annot)])
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_incremental_update_after_seal_fails_coverage(sealed: bytes, identity: Identity) -> None:
    updated = append_annotation(sealed)
    assert updated.startswith(sealed)
    report = verify_pdf(updated, identity.trust_roots_pem)
    assert failed(report) == {"covers entire file"}
    assert "added after the seal" in by_name(report, "covers entire file")


def test_info_only_update_after_seal_fails_coverage(sealed: bytes, identity: Identity) -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(sealed))
    writer.set_info(None)  # an "innocent" metadata-only revision
    writer.root["/Lang"] = generic.pdf_string("en")
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    report = verify_pdf(out.getvalue(), identity.trust_roots_pem)
    assert failed(report) == {"covers entire file"}


def test_trailing_bytes_fail_coverage(sealed: bytes, identity: Identity) -> None:
    report = verify_pdf(sealed + b"\n% trailing comment\n", identity.trust_roots_pem)
    assert "covers entire file" in failed(report)


def seal_with(sealer: Sealer, pdf: bytes, events: list[dict[str, Any]]) -> bytes:
    return sealer.seal(pdf, audit_json=raw_trail_json(events))


def test_edited_event_fails_chain(contract_pdf: bytes, sealer: Sealer, identity: Identity) -> None:
    events = make_events(contract_pdf)
    events[3]["actor"] = "mallory@example.com"
    report = verify_pdf(seal_with(sealer, contract_pdf, events), identity.trust_roots_pem)
    assert failed(report) == {"audit chain intact"}
    assert "seq 4" in by_name(report, "audit chain intact")


def test_deleted_event_fails_chain(contract_pdf: bytes, sealer: Sealer, identity: Identity) -> None:
    events = make_events(contract_pdf)
    del events[5]
    report = verify_pdf(seal_with(sealer, contract_pdf, events), identity.trust_roots_pem)
    assert failed(report) == {"audit chain intact"}
    assert "seq 7" in by_name(report, "audit chain intact")


def test_reordered_events_fail_chain(
    contract_pdf: bytes, sealer: Sealer, identity: Identity
) -> None:
    events = make_events(contract_pdf)
    events[2], events[3] = events[3], events[2]
    report = verify_pdf(seal_with(sealer, contract_pdf, events), identity.trust_roots_pem)
    assert failed(report) == {"audit chain intact"}


def test_renumbered_reorder_fails_chain(
    contract_pdf: bytes, sealer: Sealer, identity: Identity
) -> None:
    events = copy.deepcopy(make_events(contract_pdf))
    events[2], events[3] = events[3], events[2]
    events[2]["seq"], events[3]["seq"] = 3, 4  # hide the swap in the numbering
    report = verify_pdf(seal_with(sealer, contract_pdf, events), identity.trust_roots_pem)
    assert failed(report) == {"audit chain intact"}


def test_trail_cut_before_completion_fails_hash_check(
    contract_pdf: bytes, sealer: Sealer, identity: Identity
) -> None:
    events = make_events(contract_pdf)[:-1]  # a perfectly valid, shorter chain
    report = verify_pdf(sealer.seal(contract_pdf, audit_json=trail_json(events)),
                        identity.trust_roots_pem)
    assert failed(report) == {"document hash matches"}
    assert "envelope:completed" in by_name(report, "document hash matches")


def test_completion_for_another_document_fails_hash_check(
    contract_pdf: bytes, sealer: Sealer, identity: Identity
) -> None:
    events = make_events(contract_pdf[:-1] + b"X")
    report = verify_pdf(sealer.seal(contract_pdf, audit_json=trail_json(events)),
                        identity.trust_roots_pem)
    assert failed(report) == {"document hash matches"}


def test_missing_sealed_input_fails_hash_check(
    contract_pdf: bytes, sealer: Sealer, identity: Identity
) -> None:
    events = make_events(None)
    report = verify_pdf(sealer.seal(contract_pdf, audit_json=trail_json(events)),
                        identity.trust_roots_pem)
    assert failed(report) == {"document hash matches"}


def test_head_hash_lie_fails_chain(contract_pdf: bytes, sealer: Sealer, identity: Identity) -> None:
    document = chain.export_document(ENVELOPE_ID, make_events(contract_pdf))
    document["head_hash"] = "f" * 64
    report = verify_pdf(sealer.seal(contract_pdf, audit_json=json.dumps(document).encode()),
                        identity.trust_roots_pem)
    assert failed(report) == {"audit chain intact"}


def test_missing_trail_fails(contract_pdf: bytes, sealer: Sealer, identity: Identity) -> None:
    out = sealer.seal(contract_pdf, audit_json=b"{}", attachment_name="other.json")
    report = verify_pdf(out, identity.trust_roots_pem)
    assert failed(report) == {"audit trail embedded", "audit chain intact",
                              "document hash matches"}


def test_resealing_adds_a_second_field(sealed: bytes, sealer: Sealer, identity: Identity) -> None:
    again = sealer.seal(sealed, audit_json=trail_json(make_events(sealed)))
    report = verify_pdf(again, identity.trust_roots_pem)
    assert report.ok, report.checks
    names = [s.field_name for s in PdfFileReader(io.BytesIO(again)).embedded_signatures]
    assert names == ["AccordSeal", "AccordSeal2"]


def test_seal_refuses_garbage(sealer: Sealer) -> None:
    with pytest.raises(SealError) as info:
        sealer.seal(b"%PDF-1.7 not really", audit_json=b"{}")
    assert info.value.code == "seal_bad_pdf"


def test_pkcs12_identity_seals_and_verifies(contract_pdf: bytes) -> None:
    ident = identity_from_pkcs12(make_pkcs12(), b"pw")
    out = Sealer(ident).seal(contract_pdf, audit_json=trail_json(make_events(contract_pdf)))
    report = verify_pdf(out, ident.trust_roots_pem)
    assert report.ok, report.checks
    assert report.signer == "Operator Seal"
    assert "Operator Root" in by_name(report, "chains to trusted root")
    # the operator root alone does not vouch for the local TSA
    report = verify_pdf(out, [ident.root_cert_pem])
    assert failed(report) == {"timestamp valid"}


def _signed(identity: Identity, contract_pdf: bytes) -> dict[str, Any]:
    """A 12-event trail of a sent envelope as an organisation-signed export."""
    from accord.documents.audit_export import EnvelopeFacts, ExportSigner, signed_export

    events: list[dict[str, Any]] = []
    for i in range(12):
        events.append(chain.build_event(
            ENVELOPE_ID, events[-1] if events else None,
            tag="envelope:created" if i == 0 else "recipient:viewed", actor="system",
            occurred_at=(T0 + timedelta(minutes=i)).isoformat(), data={"step": i}))
    return signed_export(ExportSigner(identity), ENVELOPE_ID, events,
                         EnvelopeFacts("sent", None, ()), exported_at=datetime.now(UTC))


def test_verify_audit_json_ok(contract_pdf: bytes, identity: Identity) -> None:
    document = _signed(identity, contract_pdf)
    report = verify_audit_json(json.dumps(document).encode(), identity.trust_roots_pem)
    assert report.ok, report.checks
    assert report.envelope_id == ENVELOPE_ID
    assert len(report.audit_events) == 12


def test_unsigned_audit_json_is_refused(contract_pdf: bytes, identity: Identity) -> None:
    """The plain hash chain (what used to pass) proves nothing: anyone can recompute it."""
    report = verify_audit_json(trail_json(make_events(contract_pdf)), identity.trust_roots_pem)
    assert not report.ok
    assert "unsigned" in by_name(report, "signed")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["events"][0].update(tag="envelope:voided"),
        lambda d: d.update(head_hash="0" * 64),
        lambda d: d.update(count=99),
        lambda d: d["events"].pop(),
        lambda d: d.update(format="something-else/2"),
        lambda d: d.update(envelope_id="env_other"),
        lambda d: d["envelope"].update(status="completed"),
        lambda d: d.pop("signature"),
    ],
)
def test_verify_audit_json_detects_tampering(contract_pdf: bytes, identity: Identity,
                                             mutate: Any) -> None:
    document = _signed(identity, contract_pdf)
    mutate(document)
    report = verify_audit_json(json.dumps(document).encode(), identity.trust_roots_pem)
    assert not report.ok
    assert failed(report) & {"signed", "signature valid"}


@pytest.mark.parametrize("data", [b"", b"not json", b"[]", b"\xff\xfe", b'{"format": 1}'])
def test_verify_audit_json_never_raises(data: bytes) -> None:
    report = verify_audit_json(data)
    assert not report.ok
    assert report.checks


def test_short_reservation_is_retried(contract_pdf: bytes, identity: Identity) -> None:
    tight = Sealer(identity)
    tight._bytes_reserved = 600  # far too small for the CMS blob: forces the retry path
    out = tight.seal(contract_pdf, audit_json=trail_json(make_events(contract_pdf)))
    assert verify_pdf(out, identity.trust_roots_pem).ok


def test_seal_refuses_to_block_a_running_loop(contract_pdf: bytes, sealer: Sealer) -> None:
    async def inside() -> bytes:
        with pytest.raises(SealError) as info:
            sealer.seal(contract_pdf, audit_json=b"{}")
        assert info.value.code == "seal_in_event_loop"
        return await sealer.async_seal(contract_pdf, audit_json=b"{}")

    out = asyncio.run(inside())
    assert out.startswith(contract_pdf)


def test_concurrent_seals_from_threads(
    contract_pdf: bytes, sealer: Sealer, identity: Identity
) -> None:
    trail = trail_json(make_events(contract_pdf))
    with ThreadPoolExecutor(max_workers=4) as pool:
        outputs = list(pool.map(lambda _: sealer.seal(contract_pdf, audit_json=trail), range(6)))
    assert all(verify_pdf(out, identity.trust_roots_pem).ok for out in outputs)


def test_expired_seal_certificate_verifies_at_its_time_stamp(contract_pdf: bytes) -> None:
    issued = datetime.now(UTC) - timedelta(days=4 * 365)
    old = generate_identity("Old Org", now=issued)
    sealed_then = issued + timedelta(days=30)
    out = Sealer(old, clock=lambda: sealed_then).seal(
        contract_pdf, audit_json=trail_json(make_events(contract_pdf))
    )
    report = verify_pdf(out, old.trust_roots_pem)
    assert report.ok, report.checks
    assert "validated at the time stamp" in by_name(report, "chains to trusted root")
    assert report.timestamp_at is not None
    assert abs(report.timestamp_at - sealed_then) < timedelta(seconds=1)


def test_mismatched_identity_is_refused(identity: Identity, other_identity: Identity) -> None:
    broken = replace(identity, signing_key_der=other_identity.signing_key_der)
    with pytest.raises(SealError) as info:
        Sealer(broken)
    assert info.value.code == "seal_bad_identity"
    with pytest.raises(SealError):
        Sealer(replace(identity, signing_cert_pem="no certificate here"))
