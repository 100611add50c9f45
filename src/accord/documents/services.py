"""Sealing identities and the completion pipeline: stamp, certify, embed the audit trail,
seal, store encrypted, and send everyone the completed copy."""

from __future__ import annotations

import json
import threading
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.accounts.services import Principal, org_name
from accord.audit import services as audit
from accord.audit.chain import export_document
from accord.documents.audit_export import DONE_TAGS, EnvelopeFacts, ExportSigner, signed_export
from accord.documents.certificate import (
    CompletionSummary,
    DocumentSummary,
    RecipientSummary,
    assemble,
    certificate_pdf,
)
from accord.documents.models import SigningIdentity
from accord.documents.pki import (
    Identity,
    PkiError,
    generate_identity,
    identity_from_pkcs12,
)
from accord.documents.seal import Sealer
from accord.documents.stamp import Stamp, stamp_pdf
from accord.envelopes.domain import FieldKind
from accord.envelopes.models import Envelope, Field, Recipient
from accord.errors import Conflict
from accord.runtime import Runtime
from accord.signing.signature import initials_of, render_typed

_sealers: dict[tuple[str, str], Sealer] = {}
_export_signers: dict[tuple[str, str], ExportSigner] = {}
_lock = threading.Lock()


def ensure_identity(rt: Runtime, org_id: str) -> None:
    """Create the organisation's root CA, seal and TSA certificates (or load the operator's
    PKCS#12) if it has none yet."""
    with rt.db.uow() as uow:
        if uow.session.get(SigningIdentity, org_id) is not None:
            return
        s = rt.settings
        if s.signing_pkcs12 is not None:
            pw = s.signing_pkcs12_password.encode() if s.signing_pkcs12_password else None
            ident = identity_from_pkcs12(s.signing_pkcs12.read_bytes(), pw)
        else:
            ident = generate_identity(org_name(uow.session, org_id), now=rt.now())
        extra = "".join(ident.extra_roots_pem)
        uow.session.add(SigningIdentity(
            org_id=org_id, root_cert_pem=ident.root_cert_pem + extra,
            signing_cert_pem=ident.signing_cert_pem, tsa_cert_pem=ident.tsa_cert_pem,
            signing_key_blob=rt.blobs.put(ident.signing_key_der),
            tsa_key_blob=rt.blobs.put(ident.tsa_key_der),
            root_key_blob=rt.blobs.put(ident.root_key_der) if ident.root_key_der else None,
            source=ident.source, created_at=rt.now()))
        uow.commit()


def _load_identity(rt: Runtime, row: SigningIdentity) -> Identity:
    return Identity(root_cert_pem=row.root_cert_pem, signing_cert_pem=row.signing_cert_pem,
                    signing_key_der=rt.blobs.get(row.signing_key_blob),
                    tsa_cert_pem=row.tsa_cert_pem, tsa_key_der=rt.blobs.get(row.tsa_key_blob),
                    root_key_der=None, source=row.source)


def sealer_for(rt: Runtime, session: Session, org_id: str) -> Sealer:
    """The organisation's Sealer, built once per process (keys are loaded once)."""
    row = session.get(SigningIdentity, org_id)
    if row is None:
        raise Conflict("the organisation has no sealing certificate", code="no_identity")
    key = (org_id, row.signing_key_blob)
    with _lock:
        if key not in _sealers:
            _sealers[key] = Sealer(_load_identity(rt, row))
        return _sealers[key]


def trust_roots(rt: Runtime) -> list[str]:
    """Every organisation's root certificate (PEM) known to this instance."""
    with rt.db.uow() as uow:
        return list(uow.session.scalars(select(SigningIdentity.root_cert_pem)))


def root_pem(rt: Runtime, principal: Principal) -> str:
    with rt.db.uow() as uow:
        row = uow.session.get(SigningIdentity, principal.org_id)
        if row is None:
            raise Conflict("the organisation has no sealing certificate", code="no_identity")
        return row.root_cert_pem


def _stamp_for(f: Field, rec: Recipient, size: tuple[float, float], rt: Runtime) -> Stamp:
    _w, ph = size
    y = ph - f.y - f.height  # stored top-left; PDF space is bottom-left
    kind = FieldKind(f.kind)
    if kind is FieldKind.SIGNATURE and rec.signature_blob:
        return Stamp(f.page, f.x, y, f.width, f.height, kind.value,
                     image_png=rt.blobs.get(rec.signature_blob))
    if kind is FieldKind.INITIALS:
        return Stamp(f.page, f.x, y, f.width, f.height, kind.value,
                     image_png=render_typed(initials_of(rec.name)))
    if kind is FieldKind.CHECKBOX:
        return Stamp(f.page, f.x, y, f.width, f.height, kind.value, checked=f.value == "true")
    return Stamp(f.page, f.x, y, f.width, f.height, kind.value, text=f.value or "")


def _template_lines(env: Envelope) -> list[tuple[str, str]]:
    """Certificate lines naming the template version and pinned clauses, if any."""
    if not env.template_label:
        return []
    lines = [("Template", env.template_label),
             ("Template SHA-256", env.template_sha256 or "")]
    for key, pin in sorted((env.template_clauses or {}).items()):
        lines.append((f"Clause {key}", f"v{pin.get('version')} sha256 {pin.get('sha256')}"))
    return lines


def complete_envelope(rt: Runtime, session: Session, env: Envelope, *, now: datetime) -> None:
    """Produce, seal and store the final PDF, in the caller's transaction (which has just
    moved the envelope to completed), and queue the completed copy to every recipient."""
    from accord.delivery.mail import Attachment, Email
    from accord.delivery.services import send_email
    from accord.envelopes import services as envelopes
    from accord.signing.factors import certificate_line

    docs = envelopes.documents_of(session, env.id)
    recs = envelopes.recipients_of(session, env.id)
    by_id = {r.id: r for r in recs}
    fields = envelopes.fields_of(session, env.id)
    stamped, summaries = [], []
    for d in docs:
        original = rt.blobs.get(d.blob)
        stamps = [_stamp_for(f, by_id[f.recipient_id], tuple(d.page_sizes[f.page - 1]), rt)
                  for f in fields if f.document_id == d.id and f.value is not None]
        out = stamp_pdf(original, stamps) if stamps else original
        stamped.append(out)
        summaries.append(DocumentSummary(name=d.name, pages=d.page_count,
                                         sha256_original=d.sha256,
                                         sha256_stamped=rt.blobs.put(out)))
    env.completed_at = now
    cert = certificate_pdf(CompletionSummary(
        envelope_id=env.id, subject=env.subject,
        organisation=org_name(session, env.org_id), sent_at=env.sent_at,
        completed_at=now, documents=summaries,
        recipients=[RecipientSummary(
            name=r.name, email=r.email, role=r.role, routing_order=r.routing_order,
            status=r.status, auth_method=certificate_line(session, r), ip=r.ip,
            user_agent=r.user_agent,
            consented_at=r.consented_at, consent_version=r.consent_version,
            viewed_at=r.viewed_at, completed_at=r.completed_at,
            signature_png=rt.blobs.get(r.signature_blob) if r.signature_blob else None)
            for r in recs],
        audit_event_count=env.audit_count, audit_head_hash=env.audit_head or "",
        extra_lines=_template_lines(env)))
    final = assemble(stamped, cert)
    from accord.documents.blobs import sha256_hex

    audit.record(session, env, "envelope:completed", actor="system", now=now, data={
        "documents": [{"name": s.name, "sha256_original": s.sha256_original,
                       "sha256_stamped": s.sha256_stamped} for s in summaries],
        "sealed_input": {"sha256": sha256_hex(final), "length": len(final)}})
    session.flush()
    trail = export_document(env.id, audit.events(session, env.id))
    audit_json = json.dumps(trail, indent=2, ensure_ascii=False).encode()
    sealed = sealer_for(rt, session, env.org_id).seal(final, audit_json=audit_json)
    env.sealed_blob = rt.blobs.put(sealed)
    env.sealed_sha256 = env.sealed_blob
    audit.record(session, env, "document:sealed", actor="system", now=now,
                 data={"sha256": env.sealed_sha256, "bytes": len(sealed)})
    attachment = Attachment(filename=f"{env.id}.pdf", content_type="application/pdf",
                            blob=env.sealed_blob)
    for r in recs:
        send_email(session, Email(
            to=(r.email,), subject=f"Completed: {env.subject}",
            body=(f"Hello {r.name},\n\nAll parties have completed \"{env.subject}\". The "
                  f"sealed document with its certificate of completion is attached.\n\n"
                  f"Envelope: {env.id}\n"),
            attachments=(attachment,)), now=now, org_id=env.org_id)


def sealed_pdf(rt: Runtime, principal: Principal, envelope_id: str, *,
               actor: str, ip: str | None, user_agent: str | None) -> bytes:
    """The completed, sealed PDF; the download is audited."""
    from accord.accounts.domain import Permission
    from accord.envelopes import services as envelopes

    principal.require(Permission.ENVELOPE_READ)
    with rt.db.uow() as uow:
        env = envelopes.load(uow.session, principal, envelope_id, for_update=True)
        if env.sealed_blob is None:
            raise Conflict("the envelope is not completed yet", code="not_completed")
        data = rt.blobs.get(env.sealed_blob)
        audit.record(uow.session, env, "document:downloaded", actor=actor, now=rt.now(),
                     ip=ip, user_agent=user_agent, data={"sha256": env.sealed_sha256})
        envelopes.commit_or_conflict(uow.session)
        return data


def export_signer_for(rt: Runtime, session: Session, org_id: str) -> ExportSigner:
    """The organisation's audit-export signer (its seal key), built once per process."""
    row = session.get(SigningIdentity, org_id)
    if row is None:
        raise Conflict("the organisation has no sealing certificate", code="no_identity")
    key = (org_id, row.signing_key_blob)
    with _lock:
        if key not in _export_signers:
            try:
                _export_signers[key] = ExportSigner(_load_identity(rt, row))
            except PkiError as exc:
                raise Conflict(exc.message, code="seal_bad_identity") from exc
        return _export_signers[key]


def audit_trail(rt: Runtime, principal: Principal, envelope_id: str) -> dict[str, object]:
    """The envelope's audit trail as a signed export (see documents.audit_export)."""
    from accord.accounts.domain import Permission
    from accord.envelopes import services as envelopes

    principal.require(Permission.AUDIT_READ)
    with rt.db.uow() as uow:
        env = envelopes.load(uow.session, principal, envelope_id)
        recs = envelopes.recipients_of(uow.session, env.id)
        facts = EnvelopeFacts(
            status=env.status,
            sealed_pdf_sha256=env.sealed_sha256 if env.status == "completed" else None,
            recipients=tuple((r.id, r.role) for r in recs if r.role in DONE_TAGS))
        return signed_export(export_signer_for(rt, uow.session, env.org_id), env.id,
                             audit.events(uow.session, env.id), facts, exported_at=rt.now())
