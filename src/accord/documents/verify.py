"""Verifying a sealed Accord PDF, or an exported audit trail, offline.

:func:`verify_pdf` never raises on bad input: anything that cannot be parsed or checked
becomes a failed :class:`Check` with a human explanation.

Signer trust is first evaluated now; if that fails but the seal carries a valid, trusted
signature time stamp, the chain is evaluated again at the time-stamped moment (PAdES B-T:
the time stamp proves the seal existed while its certificate was valid), so seals stay
verifiable after the 3-year seal certificate expires.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pypdf import PdfReader

from accord.audit.chain import FORMAT, GENESIS, verify_chain
from accord.documents import audit_export as export
from accord.documents.seal import AUDIT_ATTACHMENT, load_certificates

COMPLETED_TAG = "envelope:completed"
# Operator-supplied seal certificates often carry digitalSignature only; ours carry both.
SEAL_KEY_USAGE = KeyUsageConstraints(key_usage={"digital_signature", "non_repudiation"})


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class VerifyReport:
    checks: list[Check]
    envelope_id: str | None
    signer: str | None
    signed_at: datetime | None
    timestamp_at: datetime | None
    audit_events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)


class _Run:
    """Collects checks; a check whose code raises fails with the exception's message."""

    def __init__(self) -> None:
        self.checks: list[Check] = []

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name=name, ok=ok, detail=detail))

    def run(self, name: str, fn: Callable[[], tuple[bool, str]]) -> bool:
        try:
            ok, detail = fn()
        except _CheckFailedError as exc:
            ok, detail = False, str(exc)
        except Exception as exc:  # a verifier reports what it cannot parse, it never crashes
            ok, detail = False, f"could not be checked: {type(exc).__name__}: {exc}"
        self.add(name, ok, detail)
        return ok


def _subject(cert: asn1_x509.Certificate) -> str:
    return str(cert.subject.human_friendly)


def _common_name(cert: asn1_x509.Certificate) -> str:
    native = cert.subject.native
    return str(native.get("common_name") or cert.subject.human_friendly)


def _context(
    roots: list[asn1_x509.Certificate], moment: datetime | None = None
) -> ValidationContext:
    return ValidationContext(
        trust_roots=roots,
        allow_fetching=False,
        revocation_mode="soft-fail",
        moment=moment,
    )


def _roots(trust_roots_pem: Sequence[str]) -> list[asn1_x509.Certificate]:
    # an empty list means "trust nothing" (None would mean the OS trust store)
    return [cert for pem_text in trust_roots_pem for cert in load_certificates(pem_text)]


def _validate(
    sig: EmbeddedPdfSignature, roots: list[asn1_x509.Certificate], moment: datetime | None
) -> PdfSignatureStatus:
    status: PdfSignatureStatus = validate_pdf_signature(
        sig,
        signer_validation_context=_context(roots, moment),
        ts_validation_context=_context(roots),
        key_usage_settings=SEAL_KEY_USAGE,
    )
    return status


def _read_trail(signed: bytes) -> dict[str, Any]:
    """The embedded audit trail, read from the revision the seal covers."""
    reader = PdfReader(io.BytesIO(signed), strict=False)
    attachments = reader.attachments
    if AUDIT_ATTACHMENT not in attachments or not attachments[AUDIT_ATTACHMENT]:
        names = ", ".join(sorted(attachments)) or "none"
        raise _CheckFailedError(f"no {AUDIT_ATTACHMENT} attachment (attachments: {names})")
    try:
        document = json.loads(attachments[AUDIT_ATTACHMENT][-1].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _CheckFailedError(f"{AUDIT_ATTACHMENT} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise _CheckFailedError("the audit trail is not a JSON object")
    return document


def _check_trail_document(document: Mapping[str, Any]) -> tuple[bool, str]:
    """Format and hash chain of an exported audit-trail document."""
    if document.get("format") != FORMAT:
        return False, f"unknown format {document.get('format')!r} (expected {FORMAT})"
    envelope_id = document.get("envelope_id")
    events = document.get("events")
    if not isinstance(envelope_id, str) or not isinstance(events, list):
        return False, "the audit trail lacks envelope_id or events"
    return verify_chain(envelope_id, events)


def _check_head_count(document: Mapping[str, Any]) -> tuple[bool, str]:
    """The document's declared count and head hash agree with its events."""
    events = document.get("events")
    if not isinstance(events, list):
        return False, "the audit trail has no event list"
    last = events[-1] if events else None
    head = last.get("hash") if isinstance(last, Mapping) else GENESIS
    if document.get("count") != len(events):
        return False, f"count says {document.get('count')!r} but there are {len(events)} events"
    if document.get("head_hash") != head:
        return False, f"head_hash {document.get('head_hash')!r} is not the last event's hash"
    return True, f"{len(events)} events, head {head}"


def _completion_record(events: list[Any]) -> tuple[int, str]:
    """(length, sha256) recorded by the trail's final envelope:completed event."""
    last = events[-1] if events else None
    if not isinstance(last, Mapping):
        raise _CheckFailedError("the audit trail has no events")
    if last.get("tag") != COMPLETED_TAG:
        raise _CheckFailedError(
            f"the last audit event is {last.get('tag')!r}, not {COMPLETED_TAG!r}: "
            "the trail is incomplete or was cut short"
        )
    data = last.get("data")
    sealed = data.get("sealed_input") if isinstance(data, Mapping) else None
    if not isinstance(sealed, Mapping):
        raise _CheckFailedError("the completion event does not record the sealed input")
    length, expected = sealed.get("length"), sealed.get("sha256")
    if not isinstance(length, int) or not isinstance(expected, str):
        raise _CheckFailedError("the completion event's sealed_input is malformed")
    return length, expected


class _CheckFailedError(Exception):
    """A check failed for a reason worth telling as-is."""


class _PdfVerification:
    """The state shared by the checks of one :func:`verify_pdf` call."""

    def __init__(self, data: bytes, trust_roots_pem: Sequence[str]) -> None:
        self.data = data
        self.trust_roots_pem = trust_roots_pem
        self.seal: EmbeddedPdfSignature | None = None
        self.status: PdfSignatureStatus | None = None
        self.roots: list[asn1_x509.Certificate] = []
        self.trail: dict[str, Any] | None = None
        self.signer: str | None = None
        self.signed_at: datetime | None = None
        self.timestamp_at: datetime | None = None
        self.envelope_id: str | None = None
        self.events: list[dict[str, Any]] = []

    def _seal(self) -> EmbeddedPdfSignature:
        if self.seal is None:
            raise _CheckFailedError("no seal to check")
        return self.seal

    def _status(self) -> PdfSignatureStatus:
        if self.status is None:
            raise _CheckFailedError("the seal could not be validated")
        return self.status

    def present(self) -> tuple[bool, str]:
        reader = PdfFileReader(io.BytesIO(self.data), strict=False)
        every = reader.embedded_signatures
        if not every:
            return False, "the PDF carries no signature"
        last = every[-1]
        if last.sig_object_type != "/Sig":
            return False, "the last signature is a document time stamp, not the seal"
        self.seal = last
        self.signer = _common_name(last.signer_cert)
        return True, (
            f"{len(every)} signature(s); checking the last one, field "
            f"{last.field_name!r}, sealed by {self.signer}"
        )

    def intact(self) -> tuple[bool, str]:
        seal = self._seal()
        self.roots = _roots(self.trust_roots_pem)
        status = self.status = _validate(seal, self.roots, None)
        self.signed_at = status.signer_reported_dt
        if status.intact and status.valid:
            return True, f"signature cryptographically valid ({status.md_algorithm})"
        if not status.intact:
            return False, "the signed bytes were altered: the digest does not match"
        return False, "the signature value does not verify against the seal certificate"

    def coverage(self) -> tuple[bool, str]:
        status = self._status()
        if status.coverage == SignatureCoverageLevel.ENTIRE_FILE:
            return True, f"the seal covers all {len(self.data):,} bytes"
        level = status.coverage.name if status.coverage else "unknown"
        extra = len(self.data) - _signed_end(self._seal())
        mod = status.modification_level.name if status.modification_level else "unknown"
        return False, (
            f"{extra:,} bytes were added after the seal (coverage {level}, "
            f"later changes rated {mod})"
        )

    def chain(self) -> tuple[bool, str]:
        status = self._status()
        if not self.roots:
            return False, "no trust roots were given to check against"
        if status.trusted and status.validation_path is not None:
            return True, f"chains to {_subject(status.validation_path[0])}"
        ts = status.timestamp_validity
        if ts is not None and ts.intact and ts.valid and ts.trusted:
            again = _validate(self._seal(), self.roots, ts.timestamp)
            if again.trusted and again.validation_path is not None:
                return True, (
                    f"chains to {_subject(again.validation_path[0])} "
                    f"(validated at the time stamp, {ts.timestamp.isoformat()})"
                )
        indication = status.trust_problem_indic
        problem = str(indication.standard_name) if indication is not None else "no path"
        return False, f"the seal certificate does not chain to a trusted root ({problem})"

    def timestamp(self) -> tuple[bool, str]:
        ts = self._status().timestamp_validity
        if ts is None:
            return False, "the seal carries no signature time stamp"
        self.timestamp_at = ts.timestamp
        if not (ts.intact and ts.valid):
            return False, "the time stamp token does not verify"
        if not ts.trusted or ts.validation_path is None:
            return False, "the time stamp authority does not chain to a trusted root"
        return True, (
            f"time stamp of {ts.timestamp.isoformat()} by {_common_name(ts.signing_cert)}, "
            f"chains to {_subject(ts.validation_path[0])}"
        )

    def embedded(self) -> tuple[bool, str]:
        if self.seal is None:
            return False, "no seal, so no sealed audit trail"
        trail = self.trail = _read_trail(self.data[: _signed_end(self.seal)])
        envelope_id, events = trail.get("envelope_id"), trail.get("events")
        self.envelope_id = envelope_id if isinstance(envelope_id, str) else None
        self.events = events if isinstance(events, list) else []
        return True, f"{AUDIT_ATTACHMENT} found ({len(self.events)} events)"

    def audit_chain(self) -> tuple[bool, str]:
        if self.trail is None:
            return False, "no audit trail to check"
        ok, detail = _check_trail_document(self.trail)
        if ok:
            ok, problem = _check_head_count(self.trail)
            detail = detail if ok else problem
        return ok, detail

    def document_hash(self) -> tuple[bool, str]:
        if self.trail is None or self.seal is None:
            return False, "no audit trail to check"
        try:
            length, expected = _completion_record(self.events)
        except _CheckFailedError as exc:
            return False, str(exc)
        seal_start = int(self.seal.byte_range[1])
        if not 0 < length <= seal_start:
            return False, f"sealed_input length {length} does not precede the seal"
        actual = hashlib.sha256(self.data[:length]).hexdigest()
        if actual != expected:
            return False, (
                f"SHA-256 of the first {length} bytes is {actual}, the trail says {expected}"
            )
        return True, f"SHA-256 of the first {length} bytes matches the trail: {actual}"

    def report(self, run: _Run) -> VerifyReport:
        return VerifyReport(
            checks=run.checks,
            envelope_id=self.envelope_id,
            signer=self.signer,
            signed_at=self.signed_at,
            timestamp_at=self.timestamp_at,
            audit_events=list(self.events),
        )


def verify_pdf(data: bytes, trust_roots_pem: Sequence[str]) -> VerifyReport:
    """Check a sealed Accord PDF end to end; see the module notes."""
    run = _Run()
    state = _PdfVerification(data, trust_roots_pem)
    run.run("signature present", state.present)
    run.run("seal intact", state.intact)
    run.run("covers entire file", state.coverage)
    run.run("chains to trusted root", state.chain)
    run.run("timestamp valid", state.timestamp)
    run.run("audit trail embedded", state.embedded)
    run.run("audit chain intact", state.audit_chain)
    run.run("document hash matches", state.document_hash)
    return state.report(run)


def _signed_end(sig: EmbeddedPdfSignature) -> int:
    _start1, _len1, start2, len2 = (int(v) for v in sig.byte_range)
    return start2 + len2


def verify_audit_json(data: bytes, trust_roots_pem: Sequence[str] = (), *,
                      pdf: bytes | None = None) -> VerifyReport:
    """Check a standalone, signed audit-trail export (see :mod:`.audit_export`): it is
    signed, the signature verifies, the signer chains to ``trust_roots_pem``, the chain is
    intact, complete and consistent with the stated status; with ``pdf``, the sealed PDF
    is the one the export names, verifies, and embeds the same events up to the seal."""
    run = _Run()
    documents: list[dict[str, Any]] = []

    def parse() -> tuple[bool, str]:
        loaded = json.loads(data.decode("utf-8"))
        if not isinstance(loaded, dict):
            return False, "not a JSON object"
        documents.append(loaded)
        if loaded.get("format") != FORMAT:
            return False, f"unknown format {loaded.get('format')!r} (expected {FORMAT})"
        return True, f"{FORMAT}, envelope {loaded.get('envelope_id')}"

    def on_document(check: Callable[[Mapping[str, Any]], tuple[bool, str]]) -> tuple[bool, str]:
        if not documents:
            return False, "no audit trail to check"
        try:
            return check(documents[0])
        except export.ExportProblemError as exc:
            raise _CheckFailedError(str(exc)) from exc

    run.run("audit trail readable", parse)
    run.run("signed", lambda: on_document(export.check_signed))
    run.run("signature valid", lambda: on_document(export.check_signature))
    run.run("signer anchored", lambda: on_document(
        lambda d: export.check_anchored(d, _roots(trust_roots_pem))))
    # future (issue 8): check the signed head hash against the transparency log here
    run.run("audit chain intact", lambda: on_document(_check_trail_document))
    run.run("head and count match", lambda: on_document(_check_head_count))
    run.run("trail complete", lambda: on_document(export.check_consistent))
    if pdf is not None:
        pdf_report = verify_pdf(pdf, trust_roots_pem)
        run.run("PDF is the sealed one", lambda: on_document(lambda d: _pdf_named(d, pdf)))
        run.run("PDF verifies", lambda: _pdf_verifies(pdf_report))
        run.run("PDF trail agrees", lambda: on_document(
            lambda d: _pdf_trail_agrees(d, pdf_report)))
    document = documents[0] if documents else {}
    envelope_id, events = document.get("envelope_id"), document.get("events")
    return VerifyReport(
        checks=run.checks,
        envelope_id=envelope_id if isinstance(envelope_id, str) else None,
        signer=None,
        signed_at=None,
        timestamp_at=None,
        audit_events=list(events) if isinstance(events, list) else [],
    )


def _pdf_named(document: Mapping[str, Any], pdf: bytes) -> tuple[bool, str]:
    facts = document.get("envelope")
    expected = facts.get("sealed_pdf_sha256") if isinstance(facts, Mapping) else None
    actual = hashlib.sha256(pdf).hexdigest()
    if not isinstance(expected, str):
        return False, "the export records no sealed PDF (the envelope is not completed)"
    if actual != expected:
        return False, f"the PDF's SHA-256 is {actual}, the export names {expected}: another PDF"
    return True, f"SHA-256 {actual} is the sealed PDF the export names"


def _pdf_verifies(report: VerifyReport) -> tuple[bool, str]:
    bad = [f"{c.name}: {c.detail}" for c in report.checks if not c.ok]
    if bad:
        return False, "the PDF does not verify: " + "; ".join(bad)
    return True, f"all {len(report.checks)} PDF checks pass (sealed by {report.signer})"


def _pdf_trail_agrees(document: Mapping[str, Any], report: VerifyReport) -> tuple[bool, str]:
    events = document.get("events")
    embedded = report.audit_events
    if not isinstance(events, list) or not embedded:
        return False, "no embedded audit trail to compare"
    if report.envelope_id != document.get("envelope_id"):
        return False, (f"the PDF belongs to envelope {report.envelope_id}, the export to "
                       f"{document.get('envelope_id')}")
    n = len(embedded)
    if events[:n] != embedded:
        differ = next((i for i, (a, b) in enumerate(zip(events, embedded, strict=False))
                       if a != b), min(n, len(events)))
        return False, f"the export and the PDF's audit trail differ at event #{differ + 1}"
    after = events[n] if len(events) > n else None
    if not isinstance(after, Mapping) or after.get("tag") != export.SEALED_TAG:
        return False, f"the export does not record {export.SEALED_TAG!r} right after the seal"
    return True, f"the export's first {n} events are the PDF's sealed audit trail"
